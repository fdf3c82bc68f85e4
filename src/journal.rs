//! The run journal: an append-only record of every resource a run creates, written
//! *before* the call that creates it returns, so that an interrupted or killed run can
//! be cleaned up (`amibake sweep`) even when the process never got to its own cleanup.
//!
//! One JSON-lines file per run under the state directory:
//! `$AMIBAKE_STATE_DIR`, else `$XDG_STATE_HOME/amibake`, else `~/.local/state/amibake`.
//! The last line is `{"event":"clean"}` when the run left nothing behind.

use std::path::{Path, PathBuf};

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
    /// `intent` (about to create), `created`, `deleted`, `kept`, `clean`.
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

/// The journal of one run.
pub struct Journal {
    path: PathBuf,
    file: Mutex<tokio::fs::File>,
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

    /// Appends an entry and flushes it to disk before returning.
    pub async fn record(&self, entry: Entry<'_>) -> std::io::Result<()> {
        self.write_value(serde_json::to_value(entry).unwrap_or_default())
            .await
    }

    /// Marks the run clean: nothing it created is left (or what is left was kept on purpose).
    pub async fn mark_clean(&self) -> std::io::Result<()> {
        self.record(Entry {
            event: "clean",
            kind: None,
            region: None,
            id: None,
            token: None,
        })
        .await
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

    #[tokio::test]
    async fn records_each_line_durably_and_ends_clean() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), "r1", "web", "us-east-1")
            .await
            .unwrap();
        j.record(Entry {
            event: "intent",
            kind: Some("instance"),
            region: Some("us-east-1"),
            id: None,
            token: Some("tok"),
        })
        .await
        .unwrap();
        j.mark_clean().await.unwrap();
        let text = std::fs::read_to_string(j.path()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["token"], "tok");
        assert_eq!(lines[2]["event"], "clean");
        assert!(ends_clean(dir.path(), "r1").await);
        assert_eq!(j.path(), path(dir.path(), "r1"));
    }
}
