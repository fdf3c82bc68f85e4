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
//!
//! Both stores are untrusted input (anyone who can write the state directory or the
//! account's parameter): a window no wait of amibake could have taken — negative,
//! inverted, not finite, past the longest wait — is dropped when read, with a warning,
//! so a poll never computes an instant from it; a file over [`MAX_FILE_BYTES`] is not
//! read at all.

pub mod account;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The window a state change fell in, in seconds since the wait began: after `lo`, by `hi`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub lo: f64,
    pub hi: f64,
}

impl Window {
    /// Whether a wait of amibake could have taken this window: `0 <= lo <= hi`, both
    /// finite, `hi` no later than the longest wait ([`MAX_WINDOW_SECS`]).
    pub fn is_plausible(&self) -> bool {
        self.lo.is_finite()
            && self.hi.is_finite()
            && 0.0 <= self.lo
            && self.lo <= self.hi
            && self.hi <= MAX_WINDOW_SECS
    }
}

/// The latest a wait of amibake ends, in seconds: the longest command (a step's
/// timeout, at most 48 h) and its grace, with room to spare. Every other wait is shorter.
pub const MAX_WINDOW_SECS: f64 = crate::recipe::types::MAX_TIMEOUT_SECS as f64 + 3600.0;

/// The largest history file read: a real one is a few kilobytes (the account's copy is at
/// most 4 KB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

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
    /// What the file held that was ignored, for a warning.
    ignored: Option<String>,
}

impl History {
    /// A history that is never read or written (tests).
    pub fn in_memory() -> History {
        History::default()
    }

    /// Reads `path`; anything unreadable counts as no history, and windows no wait could
    /// take are left out ([`History::ignored`] says which).
    pub fn load(path: PathBuf) -> History {
        let (waits, ignored) = read(&path);
        History {
            path: Some(path),
            waits: Mutex::new(waits),
            learned: Mutex::default(),
            ignored,
        }
    }

    /// What the file held that [`History::load`] ignored (too large, or implausible
    /// windows), as a sentence for a warning.
    pub fn ignored(&self) -> Option<&str> {
        self.ignored.as_deref()
    }

    /// The window of the last wait of this kind (only a plausible one, whatever was put).
    pub fn get(&self, key: &str) -> Option<Window> {
        self.waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
            .filter(Window::is_plausible)
    }

    /// Adds what another store holds (the account's parameter); it wins over the file.
    /// Implausible windows are left out.
    pub fn merge(&self, waits: &BTreeMap<String, Window>) {
        self.waits.lock().unwrap_or_else(|e| e.into_inner()).extend(
            waits
                .iter()
                .filter(|(_, w)| w.is_plausible())
                .map(|(k, w)| (k.clone(), *w)),
        );
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
            let (mut waits, _) = read(&path);
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

/// The usable waits of the history file at `path`, and what was ignored in it (for a
/// warning). A missing or unreadable file is no history, silently.
fn read(path: &Path) -> (BTreeMap<String, Window>, Option<String>) {
    let mut text = String::new();
    let read = std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text));
    if read.is_err() {
        return (BTreeMap::new(), None);
    }
    if text.len() as u64 > MAX_FILE_BYTES {
        let why = format!(
            "the file is larger than {} KiB (a history is a few): ignored",
            MAX_FILE_BYTES / 1024
        );
        return (BTreeMap::new(), Some(why));
    }
    match decode(&text) {
        Some(decoded) => (decoded.waits, ignored_windows(&decoded.ignored)),
        None => (BTreeMap::new(), None),
    }
}

/// A stored history as this version reads it.
#[derive(Debug, Clone, PartialEq)]
struct Decoded {
    /// The plausible windows.
    waits: BTreeMap<String, Window>,
    /// The keys of the windows left out as implausible.
    ignored: Vec<String>,
}

/// The waits of a stored history, implausible windows left out; `None` when it is not one
/// this version wrote (another version's, or not JSON at all).
fn decode(text: &str) -> Option<Decoded> {
    let file: File = serde_json::from_str(text).ok()?;
    if file.version != VERSION {
        return None;
    }
    let (waits, bad): (BTreeMap<_, _>, BTreeMap<_, _>) =
        file.waits.into_iter().partition(|(_, w)| w.is_plausible());
    Some(Decoded {
        waits,
        ignored: bad.into_keys().collect(),
    })
}

/// The warning about windows left out, naming a few (escaped and cut: a key is untrusted
/// text); `None` when there were none.
pub fn ignored_windows(keys: &[String]) -> Option<String> {
    const SHOWN: usize = 3;
    if keys.is_empty() {
        return None;
    }
    let mut named: Vec<String> = keys
        .iter()
        .take(SHOWN)
        .map(|k| {
            let escaped: String = k.escape_default().take(60).collect();
            format!("`{escaped}`")
        })
        .collect();
    if keys.len() > SHOWN {
        named.push(format!("{} more", keys.len() - SHOWN));
    }
    Some(format!(
        "ignored {} window(s) no wait could take ({}): a window is 0 <= lo <= hi <= {}s",
        keys.len(),
        named.join(", "),
        MAX_WINDOW_SECS
    ))
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
    fn implausible_windows_are_left_out_and_named() {
        let text = r#"{"version": 1, "waits": {
            "ok": {"lo": 1.0, "hi": 2.0},
            "huge": {"lo": 0.0, "hi": 1e300},
            "negative": {"lo": -2.0, "hi": -1.0},
            "inverted": {"lo": 3.0, "hi": 2.0},
            "past the longest wait": {"lo": 0.0, "hi": 180000.0},
            "escape\u001b[31m": {"lo": 0.0, "hi": 1e20}
        }}"#;
        let decoded = decode(text).unwrap();
        assert_eq!(decoded.waits.keys().collect::<Vec<_>>(), ["ok"]);
        assert_eq!(decoded.ignored.len(), 5);
        let said = ignored_windows(&decoded.ignored).unwrap();
        assert!(said.starts_with("ignored 5 window(s)"), "{said}");
        assert!(said.contains("2 more"), "{said}");
        assert!(
            !said.contains('\u{1b}'),
            "an untrusted key is escaped: {said}"
        );
        assert_eq!(ignored_windows(&[]), None);
    }

    #[test]
    fn neither_get_nor_merge_passes_an_implausible_window_on() {
        let history = History::in_memory();
        let bad = Window {
            lo: 0.0,
            hi: f64::MAX,
        };
        history.merge(&BTreeMap::from([("a".to_string(), bad)]));
        assert_eq!(history.get("a"), None);
        history.put(
            "b",
            Window {
                lo: f64::NAN,
                hi: 1.0,
            },
        );
        assert_eq!(history.get("b"), None);
    }

    #[test]
    fn a_poisoned_file_loads_its_good_windows_and_is_rewritten_without_the_bad() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timings.json");
        std::fs::write(
            &path,
            r#"{"version": 1, "waits": {"ok": {"lo": 1.0, "hi": 2.0}, "bad": {"lo": 0.0, "hi": 1e300}}}"#,
        )
        .unwrap();
        let history = History::load(path.clone());
        assert_eq!(history.get("ok"), Some(Window { lo: 1.0, hi: 2.0 }));
        assert_eq!(history.get("bad"), None);
        assert!(history.ignored().unwrap().contains("`bad`"));
        history.put("new", Window { lo: 1.0, hi: 1.5 });
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(history.save())
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("bad"), "{text}");
        assert!(text.contains("new") && text.contains("ok"), "{text}");
    }

    #[test]
    fn an_oversized_file_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timings.json");
        let pad = " ".repeat(MAX_FILE_BYTES as usize);
        std::fs::write(
            &path,
            format!(r#"{{"version": 1, "waits": {{"ok": {{"lo": 1.0, "hi": 2.0}}}}}}{pad}"#),
        )
        .unwrap();
        let history = History::load(path);
        assert_eq!(history.get("ok"), None);
        assert!(history.ignored().unwrap().contains("larger than 1024 KiB"));
    }

    #[test]
    fn an_unreadable_file_is_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timings.json");
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(History::load(path).get("anything"), None);
    }
}
