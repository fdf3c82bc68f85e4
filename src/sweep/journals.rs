//! What the journals in this state directory tell sweep about runs: the regions each used,
//! and whether its process is gone (a run killed on this machine is dead, whatever its
//! lease says). Reads the journal format of [`crate::journal`], writes nothing.

use std::collections::BTreeSet;
use std::path::Path;

/// One run's journal here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journaled {
    pub run_id: String,
    /// Every region its lines name: the home region and each region it created in.
    pub regions: BTreeSet<String>,
    /// The process that ran it.
    pub pid: Option<u32>,
}

impl Journaled {
    /// Reads one journal's text.
    pub fn parse(run_id: &str, text: &str) -> Journaled {
        let mut run = Journaled {
            run_id: run_id.to_string(),
            ..Journaled::default()
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(region) = v["region"].as_str().filter(|r| !r.is_empty()) {
                run.regions.insert(region.to_string());
            }
            if let Some(pid) = v["pid"].as_u64().and_then(|p| u32::try_from(p).ok()) {
                run.pid = Some(pid);
            }
        }
        run
    }

    /// Whether its process is known to be gone: `Some(false)` only where this machine can
    /// tell (Linux's /proc); a reused pid counts as alive, which only keeps the run longer.
    pub fn process_alive(&self) -> Option<bool> {
        let pid = self.pid?;
        let proc = Path::new("/proc");
        if !proc.join("self").exists() {
            return None;
        }
        Some(proc.join(pid.to_string()).exists())
    }
}

/// Every run journaled under the state directory `dir` that did not end clean.
pub async fn unfinished(dir: &Path) -> Vec<Journaled> {
    let mut found = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir.join("runs")).await else {
        return found;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        let Some(run_id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jsonl"))
        else {
            continue;
        };
        if crate::journal::ends_clean(dir, run_id).await {
            continue;
        }
        if let Ok(text) = tokio::fs::read_to_string(&path).await {
            found.push(Journaled::parse(run_id, &text));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_names_its_regions_and_process() {
        let text = concat!(
            "{\"event\":\"start\",\"run_id\":\"r\",\"region\":\"eu-west-1\",\"pid\":4242}\n",
            "{\"event\":\"intent\",\"kind\":\"image\",\"region\":\"us-west-2\",\"token\":\"t\"}\n",
            "torn line\n"
        );
        let run = Journaled::parse("r", text);
        assert_eq!(
            run.regions.iter().map(String::as_str).collect::<Vec<_>>(),
            ["eu-west-1", "us-west-2"]
        );
        assert_eq!(run.pid, Some(4242));
    }

    #[tokio::test]
    async fn only_unfinished_journals_count() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("runs")).unwrap();
        std::fs::write(
            dir.path().join("runs/a.jsonl"),
            "{\"event\":\"start\",\"region\":\"eu-west-1\"}\n{\"event\":\"clean\"}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("runs/b.jsonl"),
            "{\"event\":\"start\",\"region\":\"us-east-2\",\"pid\":1}\n",
        )
        .unwrap();
        let runs = unfinished(dir.path()).await;
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run_id, "b");
    }

    #[test]
    fn this_process_is_alive() {
        let me = Journaled {
            pid: Some(std::process::id()),
            ..Journaled::default()
        };
        assert_ne!(me.process_alive(), Some(false));
    }
}
