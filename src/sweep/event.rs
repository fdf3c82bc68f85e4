//! What `sweep` tells its user: one variant per kind of event (the JSON `event` field).

use std::fmt;

use serde::Serialize;

use crate::event::Said;
use crate::image::ResourceKind;

use std::collections::BTreeSet;

use super::{Leftover, Verdict};

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
    /// A run whose resources stay, and why: `lease` (a live bake renews it until
    /// `lease_until`) or `young` (younger than `--older-than`).
    Kept {
        run_id: String,
        reason: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        lease_until: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        age_seconds: Option<u64>,
        regions: Vec<String>,
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

    /// A run kept by its lease or its youth (`verdict` says which).
    pub fn kept(run_id: &str, verdict: Verdict, regions: &BTreeSet<&String>) -> SweepEvent {
        let regions = regions.iter().map(|r| r.to_string()).collect();
        let (reason, lease_until, age_seconds) = match verdict {
            Verdict::Leased(until) => ("lease", Some(crate::run::rfc3339(until)), None),
            Verdict::Young(age) => ("young", None, Some(age.as_secs())),
            _ => ("clean", None, None),
        };
        SweepEvent::Kept {
            run_id: run_id.to_string(),
            reason,
            lease_until,
            age_seconds,
            regions,
        }
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
            SweepEvent::Kept {
                run_id,
                reason,
                lease_until,
                age_seconds,
                regions,
            } => {
                write!(f, "kept run {run_id} in {}: ", regions.join(", "))?;
                match (*reason, lease_until, age_seconds) {
                    ("lease", Some(until), _) => {
                        write!(f, "lease until {until}, renewed by a live bake")
                    }
                    (_, _, Some(age)) => write!(
                        f,
                        "younger than --older-than ({} old)",
                        crate::recipe::types::Duration::from_secs((*age).max(1))
                    ),
                    _ => write!(f, "{reason}"),
                }
            }
            SweepEvent::Done { found: 0, region } => write!(f, "nothing to sweep in {region}"),
            SweepEvent::Done { found, region } => {
                write!(f, "{found} leftover resource(s) in {region}")
            }
        }
    }
}

/// No spinner.
impl Said for SweepEvent {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

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
        let until = std::time::SystemTime::from(time::macros::datetime!(2026-11-23 07:15:28 UTC));
        let region = "af-south-1".to_string();
        let kept = SweepEvent::kept(
            &l.run_id,
            Verdict::Leased(until),
            &BTreeSet::from([&region]),
        );
        assert_eq!(
            kept.to_string(),
            "kept run 20261123-070528-3fa2c1 in af-south-1: lease until 2026-11-23T07:15:28Z, renewed by a live bake"
        );
    }
}
