//! How long each kind of wait took last time, so the next one can ask when the change is
//! due instead of all along the way.
//!
//! A wait that polls often notices a state change early but spends API calls (and EC2's
//! request buckets); one that polls rarely notices late. Knowing roughly when the change
//! will come removes the trade-off: [`super::poll::until_learned`] asks around that time
//! and records, for next time, the window the change fell in — after the last "not yet"
//! and by the first "done". Images of the same recipe are rebuilt again and again (nightly
//! patches, promotions), so this is the common case; a first bake polls on its phase's
//! cold schedule.
//!
//! Kept as JSON next to the run journals (`<state dir>/timings.json`) and, with
//! `bake --history ssm`, also in the account ([`account`]: one SSM parameter per recipe), so
//! a fresh CI runner waits as warm as a laptop. It is only a hint: a missing or unreadable
//! history means cold schedules, never an error.

pub mod account;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The window a state change fell in, in seconds since the wait began: after `lo`, by `hi`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub lo: f64,
    pub hi: f64,
}

/// The stored form, in the file and in the account.
#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    waits: BTreeMap<String, Window>,
}

const VERSION: u32 = 1;

/// The wait history of one process: read at the start, written back at the end.
#[derive(Debug, Default)]
pub struct History {
    path: Option<PathBuf>,
    waits: Mutex<BTreeMap<String, Window>>,
    /// What this process learned (only these are written back, so concurrent processes
    /// do not undo each other's news).
    learned: Mutex<BTreeMap<String, Window>>,
}

impl History {
    /// A history that is never read or written (tests).
    pub fn in_memory() -> History {
        History::default()
    }

    /// Reads `path`; anything unreadable counts as no history.
    pub fn load(path: PathBuf) -> History {
        let waits = read(&path).unwrap_or_default();
        History {
            path: Some(path),
            waits: Mutex::new(waits),
            learned: Mutex::default(),
        }
    }

    /// The window of the last wait of this kind.
    pub fn get(&self, key: &str) -> Option<Window> {
        self.waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    /// Adds what another store holds (the account's parameter); it wins over the file.
    pub fn merge(&self, waits: &BTreeMap<String, Window>) {
        self.waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(waits.iter().map(|(k, w)| (k.clone(), *w)));
    }

    /// What this process learned so far.
    pub fn learned(&self) -> BTreeMap<String, Window> {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn put(&self, key: &str, window: Window) {
        self.waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), window);
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), window);
    }

    /// Writes what this process learned over the file's current content (atomically: a
    /// temporary file renamed into place).
    pub async fn save(&self) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let learned = self.learned();
        if learned.is_empty() {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || {
            let mut waits = read(&path).unwrap_or_default();
            waits.extend(learned);
            let text = serde_json::to_string_pretty(&File {
                version: VERSION,
                waits,
            })
            .map_err(std::io::Error::other)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

fn read(path: &PathBuf) -> Option<BTreeMap<String, Window>> {
    decode(&std::fs::read_to_string(path).ok()?)
}

/// The waits of a stored history; `None` when it is not one this version wrote (another
/// version's, or not JSON at all).
fn decode(text: &str) -> Option<BTreeMap<String, Window>> {
    let file: File = serde_json::from_str(text).ok()?;
    (file.version == VERSION).then_some(file.waits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saves_what_it_learned_over_what_others_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timings.json");
        let ours = History::load(path.clone());
        assert_eq!(ours.get("image:us-east-1"), None);

        let theirs = History::load(path.clone());
        theirs.put("copy:us-east-1:eu-west-1", Window { lo: 7.5, hi: 8.0 });
        theirs.save().await.unwrap();

        ours.put("image:us-east-1", Window { lo: 5.9, hi: 6.0 });
        ours.save().await.unwrap();

        let again = History::load(path.clone());
        assert_eq!(
            again.get("image:us-east-1"),
            Some(Window { lo: 5.9, hi: 6.0 })
        );
        assert_eq!(
            again.get("copy:us-east-1:eu-west-1"),
            Some(Window { lo: 7.5, hi: 8.0 })
        );
    }

    #[test]
    fn an_unreadable_file_is_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timings.json");
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(History::load(path).get("anything"), None);
    }
}
