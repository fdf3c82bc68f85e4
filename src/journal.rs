//! The run journal: an append-only record of every resource a run creates, written
//! *before* the call that creates it returns, so that an interrupted or killed run can
//! be cleaned up (`amibake sweep`) even when the process never got to its own cleanup.
//!
//! One JSON-lines file per run under the state directory:
//! `$AMIBAKE_STATE_DIR`, else `$XDG_STATE_HOME/amibake`, else `~/.local/state/amibake`.
//! The last line is `{"event":"clean"}` when the run left nothing behind — which it can
//! only say once every `intent` is resolved: created (and then removed or kept), or
//! `not_created`. A create whose outcome is unknown (a RunInstances that timed out may
//! have launched an instance) keeps the journal dirty, so `sweep` looks for it.

use std::path::{Path, PathBuf};
use std::sync::Mutex as StdMutex;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// Where journals live.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AMIBAKE_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("amibake");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/amibake"),
        None => PathBuf::from(".amibake-state"),
    }
}

/// The journal of the run `run_id` under the state directory `dir`.
pub fn path(dir: &Path, run_id: &str) -> PathBuf {
    dir.join("runs").join(format!("{run_id}.jsonl"))
}

/// Whether the journal of `run_id` under `dir` ends `clean` (no journal: not clean).
pub async fn ends_clean(dir: &Path, run_id: &str) -> bool {
    let Ok(text) = tokio::fs::read_to_string(path(dir, run_id)).await else {
        return false;
    };
    text.lines()
        .last()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .is_some_and(|last| last["event"] == "clean")
}

/// One line of a journal.
#[derive(Debug, Clone, Serialize)]
pub struct Entry<'a> {
    /// `intent` (about to create), `created`, `not_created` (the create was refused: the
    /// intent is resolved), `deleted`, `kept`, `clean`.
    pub event: &'a str,
    /// `instance`, `security_group`, `image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// The idempotency token of the create call (finds the resource if the id never
    /// arrived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
}

/// A create the journal announced and has not seen resolved (by the token of its call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub kind: String,
    pub region: String,
    pub token: String,
}

/// The journal of one run.
pub struct Journal {
    path: PathBuf,
    file: Mutex<tokio::fs::File>,
    /// Intents not resolved yet, in the order they were journaled.
    pending: StdMutex<Vec<Intent>>,
}

impl Journal {
    /// Creates `<dir>/runs/<run_id>.jsonl` and records the run's start.
    pub async fn create(
        dir: &Path,
        run_id: &str,
        recipe: &str,
        region: &str,
    ) -> std::io::Result<Journal> {
        let path = path(dir, run_id);
        if let Some(runs) = path.parent() {
            tokio::fs::create_dir_all(runs).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        let journal = Journal {
            path,
            file: Mutex::new(file),
            pending: StdMutex::default(),
        };
        journal
            .write_value(serde_json::json!({
                "event": "start", "run_id": run_id, "recipe": recipe, "region": region,
                "pid": std::process::id(),
            }))
            .await?;
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry and flushes it to disk before returning. An `intent` with a token
    /// is pending until a `created` or `not_created` entry of the same kind, region and
    /// token resolves it.
    pub async fn record(&self, entry: Entry<'_>) -> std::io::Result<()> {
        self.write_value(serde_json::to_value(&entry).unwrap_or_default())
            .await?;
        if let (Some(kind), Some(region), Some(token)) = (entry.kind, entry.region, entry.token) {
            let intent = Intent {
                kind: kind.to_string(),
                region: region.to_string(),
                token: token.to_string(),
            };
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            match entry.event {
                "intent" => pending.push(intent),
                "created" | "not_created" => pending.retain(|p| *p != intent),
                _ => {}
            }
        }
        Ok(())
    }

    /// The creates whose outcome is not known: journaled as intents, never resolved.
    pub fn unresolved(&self) -> Vec<Intent> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the run clean — nothing it created is left (or what is left was kept on
    /// purpose) — when every intent is resolved; returns whether it did. With a create of
    /// unknown outcome the journal stays dirty.
    pub async fn mark_clean(&self) -> std::io::Result<bool> {
        if !self.unresolved().is_empty() {
            return Ok(false);
        }
        self.record(Entry {
            event: "clean",
            kind: None,
            region: None,
            id: None,
            token: None,
        })
        .await?;
        Ok(true)
    }

    async fn write_value(&self, value: serde_json::Value) -> std::io::Result<()> {
        let mut line = value.to_string();
        line.push('\n');
        let mut file = self.file.lock().await;
        file.write_all(line.as_bytes()).await?;
        file.sync_data().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(event: &'a str, id: Option<&'a str>, token: &'a str) -> Entry<'a> {
        Entry {
            event,
            kind: Some("instance"),
            region: Some("us-east-1"),
            id,
            token: Some(token),
        }
    }

    /// What is measured: each line is in the file (another reader sees it) when `record`
    /// returns, not in a buffer a crash would lose. That the fsync reached the disk needs
    /// a power cut to observe, and is not tested here.
    #[tokio::test]
    async fn each_line_is_in_the_file_when_record_returns_and_the_journal_ends_clean() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), "r1", "web", "us-east-1")
            .await
            .unwrap();
        let lines_on_disk = || std::fs::read_to_string(j.path()).unwrap().lines().count();
        assert_eq!(lines_on_disk(), 1, "the header");
        for n in 0..50 {
            j.record(entry("intent", None, &format!("tok{n}")))
                .await
                .unwrap();
            assert_eq!(
                lines_on_disk(),
                2 + 2 * n,
                "intent {n} is in the file on return"
            );
            j.record(entry("not_created", None, &format!("tok{n}")))
                .await
                .unwrap();
        }
        let j = Journal::create(dir.path(), "r1b", "web", "us-east-1")
            .await
            .unwrap();
        j.record(entry("intent", None, "tok")).await.unwrap();
        j.record(entry("created", Some("i-1"), "tok"))
            .await
            .unwrap();
        assert!(j.mark_clean().await.unwrap());
        let text = std::fs::read_to_string(j.path()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1]["token"], "tok");
        assert_eq!(lines[3]["event"], "clean");
        assert!(ends_clean(dir.path(), "r1b").await);
        assert_eq!(j.path(), path(dir.path(), "r1b"));
    }

    #[tokio::test]
    async fn an_intent_of_unknown_outcome_keeps_the_journal_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), "r2", "web", "us-east-1")
            .await
            .unwrap();
        j.record(entry("intent", None, "launched?")).await.unwrap();
        j.record(entry("intent", None, "refused")).await.unwrap();
        j.record(entry("not_created", None, "refused"))
            .await
            .unwrap();
        assert!(!j.mark_clean().await.unwrap());
        assert!(!ends_clean(dir.path(), "r2").await);
        let left = j.unresolved();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].token, "launched?");
        j.record(entry("created", Some("i-2"), "launched?"))
            .await
            .unwrap();
        assert!(j.mark_clean().await.unwrap());
        assert!(ends_clean(dir.path(), "r2").await);
    }
}
