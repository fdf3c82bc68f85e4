//! What a command tells its user, as typed values.
//!
//! Every command speaks through one [`Event`]: the [`Reporter`](crate::report::Reporter)
//! renders it as a timestamped line, as progress bars or as one JSON object (its serde
//! form, tagged by `event`), or keeps it in memory for a test to assert on. The event
//! kinds of each command live next to the command (`bake::BakeEvent`, …); the ones every
//! command shares live here, with [`Failure`], the trait every command's error implements.
//!
//! The JSON field names are part of the contract (docs/commands.md: `--json`;
//! docs/bake.md: "Progress"): a variant's serde form is exactly what `--json` prints, plus `at` and, for one of several bakes,
//! `bake`.

use std::fmt;

use serde::Serialize;

use crate::bake::BakeEvent;
use crate::image::ImageEvent;
use crate::preflight::PreflightEvent;
use crate::promote::PromoteEvent;
use crate::prune::PruneEvent;
use crate::roll::RollEvent;
use crate::sweep::SweepEvent;

/// One thing a command tells its user.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// A human line: a warning, a hint, a note (`message`).
    Message(Message),
    /// The command failed (`error`): the message, the exit code and what a script needs
    /// to act on the failure.
    Error(ErrorEvent),
    Bake(BakeEvent),
    /// Copies, shares and removals, the same in every command.
    Image(ImageEvent),
    /// A preflight check of the image name, copies, shares and keys (`preflight`).
    Preflight(PreflightEvent),
    Roll(RollEvent),
    Promote(PromoteEvent),
    Prune(PruneEvent),
    Sweep(SweepEvent),
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
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("event").and_then(|k| k.as_str()).map(String::from))
            .unwrap_or_default()
    }

    /// The JSON form (without `at` and `bake`, which the reporter adds).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// What a live view shows besides the line.
    pub fn progress(&self) -> Option<Progress> {
        match self {
            Event::Bake(e) => e.progress(),
            Event::Image(e) => e.progress(),
            Event::Promote(e) => e.progress(),
            Event::Roll(e) => e.progress(),
            Event::Prune(e) => e.progress(),
            Event::Sweep(e) => e.progress(),
            Event::Message(_) | Event::Error(_) | Event::Preflight(_) => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Message(m) => f.write_str(&m.text),
            Event::Error(e) => write!(f, "error: {}", e.error),
            Event::Bake(e) => e.fmt(f),
            Event::Image(e) => e.fmt(f),
            Event::Preflight(e) => e.fmt(f),
            Event::Roll(e) => e.fmt(f),
            Event::Promote(e) => e.fmt(f),
            Event::Prune(e) => e.fmt(f),
            Event::Sweep(e) => e.fmt(f),
        }
    }
}

impl From<Message> for Event {
    fn from(m: Message) -> Event {
        Event::Message(m)
    }
}

impl From<ErrorEvent> for Event {
    fn from(e: ErrorEvent) -> Event {
        Event::Error(e)
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

/// What every command's error tells the command line: the exit code (docs/commands.md's
/// contract: 2 bad input, 130 interrupted, 1 otherwise) and, for `--json`, the fields a
/// script acts on.
pub trait Failure: std::error::Error {
    fn exit_code(&self) -> u8;

    /// Fields of the JSON `error` event beyond `error` and `exit_code`.
    fn detail(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }

    /// The `error` event of this failure.
    fn event(&self) -> Event {
        Event::Error(ErrorEvent {
            error: self.to_string(),
            exit_code: self.exit_code(),
            detail: self.detail(),
        })
    }
}

/// An error type with a variant for a failed AWS call in a named phase.
pub trait FromAws: Sized {
    fn from_aws(phase: &'static str, source: crate::aws::AwsError) -> Self;

    /// `map_err(E::aws("launch"))`: the AWS error as the source of this phase's error.
    fn aws(phase: &'static str) -> impl Fn(crate::aws::AwsError) -> Self {
        move |source| Self::from_aws(phase, source)
    }
}
