//! What `prune` tells its user: one variant per kind of event (the JSON `event` field).

use std::fmt;

use serde::Serialize;

use crate::event::{Event, Progress};

/// An event of `prune`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PruneEvent {}

impl PruneEvent {
    /// The spinner or bar this event starts, updates or ends on a terminal.
    pub fn progress(&self) -> Option<Progress> {
        match *self {}
    }
}

impl fmt::Display for PruneEvent {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl From<PruneEvent> for Event {
    fn from(e: PruneEvent) -> Event {
        Event::Prune(e)
    }
}
