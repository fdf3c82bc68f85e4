//! What a command tells its user, as typed values.
//!
//! Every command speaks through one [`Event`]: the [`Reporter`](crate::report::Reporter)
//! renders it as a timestamped line, as progress bars or as one JSON object (its serde
//! form, tagged by `event`), or keeps it in memory for a test to assert on. Each command
//! owns its event kinds (`bake::BakeEvent`, …) and makes them [`Said`]; this module
//! knows none of them. The ones every command shares live here: a `message`, and the
//! `error` that ends a failed command (made by [`Failure`](crate::error::Failure)).
//!
//! The JSON field names are part of the contract (docs/commands.md: `--json`;
//! docs/bake.md: "Progress"): a kind's serde form is exactly what `--json` prints, plus
//! `at` and, for one of several bakes, `bake`.

use std::fmt;

use serde::Serialize;

/// What a command can tell its user: its serde form is the JSON event (tagged by
/// `event`), its `Display` the line, and [`Said::progress`] what a live view shows
/// besides. Each command implements it for its own event types, next to the command.
pub trait Said: Serialize + fmt::Display {
    /// What a live view shows besides the line.
    fn progress(&self) -> Option<Progress> {
        None
    }
}

/// One thing a command tells its user, in each form a [`Reporter`](crate::report::Reporter)
/// may show it: made from any [`Said`] value.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    json: serde_json::Value,
    line: String,
    progress: Option<Progress>,
}

impl<T: Said> From<T> for Event {
    fn from(said: T) -> Event {
        Event {
            json: serde_json::to_value(&said).unwrap_or_default(),
            line: said.to_string(),
            progress: said.progress(),
        }
    }
}

/// A human-only line; in JSON a `message` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename = "message")]
pub struct Message {
    pub text: String,
}

/// A failed command, as its last event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename = "error")]
pub struct ErrorEvent {
    pub error: String,
    pub exit_code: u8,
    /// What the failure carries for a script (`resources`, `reason`, `command`, …).
    #[serde(flatten)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

/// Where a live view shows an event besides its line: a spinner or bar that an event
/// starts or updates, or one it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Show (or update) the spinner `label` with `message`.
    Show { label: String, message: String },
    /// Remove the spinner `label`.
    Clear { label: String },
}

impl Event {
    /// The `event` field of the JSON form.
    pub fn kind(&self) -> String {
        self.json
            .get("event")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// The JSON form (without `at` and `bake`, which the reporter adds).
    pub fn to_json(&self) -> serde_json::Value {
        self.json.clone()
    }

    /// What a live view shows besides the line.
    pub fn progress(&self) -> Option<Progress> {
        self.progress.clone()
    }
}

/// The line.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl Said for Message {}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Said for ErrorEvent {}

impl fmt::Display for ErrorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.error)
    }
}

/// The events of one command, in the order it emitted them, each with the masked JSON
/// and text a user would have seen (a test's view of the output).
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub events: Vec<Event>,
    pub json: Vec<serde_json::Value>,
    pub text: Vec<String>,
}

impl Recorded {
    /// The JSON forms of the events of this kind.
    pub fn of_kind(&self, kind: &str) -> Vec<&serde_json::Value> {
        self.json
            .iter()
            .filter(|v| v.get("event").and_then(|k| k.as_str()) == Some(kind))
            .collect()
    }

    /// The kinds, in order.
    pub fn kinds(&self) -> Vec<String> {
        self.events.iter().map(Event::kind).collect()
    }
}
