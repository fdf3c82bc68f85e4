//! What `sweep` tells its user: one variant per kind of event (the JSON `event` field).

use std::fmt;

use serde::Serialize;

use crate::event::{Event, Progress};
use crate::image::ResourceKind;

use super::Leftover;

/// An event of `sweep`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SweepEvent {
    /// A resource a stale run left, about to go (or that would, in a dry run).
    Leftover {
        kind: ResourceKind,
        region: String,
        id: String,
        run_id: String,
        age_seconds: u64,
        dry_run: bool,
    },
    /// Nothing was left to sweep in the region (`found` is 0).
    Done { found: usize, region: String },
}

impl SweepEvent {
    pub fn leftover(l: &Leftover, dry_run: bool) -> SweepEvent {
        SweepEvent::Leftover {
            kind: l.kind,
            region: l.region.clone(),
            id: l.id.clone(),
            run_id: l.run_id.clone(),
            age_seconds: l.age.as_secs(),
            dry_run,
        }
    }

    /// No spinner.
    pub fn progress(&self) -> Option<Progress> {
        None
    }
}

impl fmt::Display for SweepEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SweepEvent::Leftover {
                kind,
                region,
                id,
                run_id,
                age_seconds,
                dry_run,
            } => write!(
                f,
                "{} {} {id} in {region} from run {run_id} ({} old)",
                if *dry_run { "would remove" } else { "removing" },
                kind.noun(),
                crate::recipe::types::Duration::from_secs((*age_seconds).max(1))
            ),
            SweepEvent::Done { found: 0, region } => write!(f, "nothing to sweep in {region}"),
            SweepEvent::Done { found, region } => {
                write!(f, "{found} leftover resource(s) in {region}")
            }
        }
    }
}

impl From<SweepEvent> for Event {
    fn from(e: SweepEvent) -> Event {
        Event::Sweep(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_keeps_its_json_and_line() {
        let l = Leftover {
            kind: ResourceKind::SecurityGroup,
            region: "af-south-1".into(),
            id: "sg-1".into(),
            run_id: "20261123-070528-3fa2c1".into(),
            age: std::time::Duration::from_secs(7200),
        };
        let e = Event::from(SweepEvent::leftover(&l, true));
        assert_eq!(
            e.to_json(),
            serde_json::json!({
                "event": "leftover", "kind": "security_group", "region": "af-south-1",
                "id": "sg-1", "run_id": l.run_id, "age_seconds": 7200, "dry_run": true,
            })
        );
        assert_eq!(
            e.to_string(),
            "would remove security group sg-1 in af-south-1 from run 20261123-070528-3fa2c1 (2h old)"
        );
        let done = SweepEvent::Done {
            found: 0,
            region: "af-south-1".into(),
        };
        assert_eq!(done.to_string(), "nothing to sweep in af-south-1");
    }
}
