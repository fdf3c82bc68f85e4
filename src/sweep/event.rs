//! What `sweep` tells its user: one variant per kind of event (the JSON `event` field).

use std::fmt;

use serde::Serialize;

use crate::event::{Event, Progress};

/// An event of `sweep`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SweepEvent {}

impl SweepEvent {
    /// The spinner or bar this event starts, updates or ends on a terminal.
    pub fn progress(&self) -> Option<Progress> {
        match *self {}
    }
}

impl fmt::Display for SweepEvent {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl From<SweepEvent> for Event {
    fn from(e: SweepEvent) -> Event {
        Event::Sweep(e)
    }
}
