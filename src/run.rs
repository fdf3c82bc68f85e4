//! Identity of one run: its id and the built-in template values derived from the clock.

use std::collections::BTreeMap;
use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::StaticFormatDescription;
use time::macros::format_description;

use crate::recipe::Builtins;

/// A new run id: UTC time plus 24 random bits, e.g. `20261123-070528-3fa2c1`. It sorts by
/// time and is unique enough to key tags, journals and ClientTokens, and to name images:
/// two runs started in the same second get different ids (the shipped recipes name their
/// images `{{ recipe }}-{{ run_id }}` for that reason; `timestamp` alone would collide).
pub fn new_run_id(now: OffsetDateTime) -> String {
    format!("{}-{:06x}", timestamp(now), fastrand::u32(..0x100_0000))
}

/// The timestamp a run id starts with.
const STAMP: StaticFormatDescription =
    format_description!("[year][month][day]-[hour][minute][second]");

/// `20261123-070528`: sortable, and legal in AMI names and tag values.
pub fn timestamp(now: OffsetDateTime) -> String {
    now.format(STAMP).unwrap_or_default()
}

/// When a run started, from its id (`20261123-070528-3fa2c1` started at 2026-11-23
/// 07:05:28 UTC); `None` for an id that is not a run id.
pub fn started(run_id: &str) -> Option<SystemTime> {
    let stamp = run_id.get(..15)?;
    let started = time::PrimitiveDateTime::parse(stamp, STAMP).ok()?;
    Some(SystemTime::from(started.assume_utc()))
}

/// The built-ins for a run starting now in `region`.
///
/// `env` holds the process environment, but a recipe reads only the names it declares
/// (`env: [NAME]`): rendering puts nothing else in the template context, refuses
/// `get_env`, and masks the values it read in every error.
pub fn builtins(region: &str) -> Builtins {
    let now = OffsetDateTime::now_utc();
    Builtins {
        timestamp: timestamp(now),
        date: now
            .format(format_description!("[year]-[month]-[day]"))
            .unwrap_or_default(),
        region: region.to_string(),
        run_id: new_run_id(now),
        env: std::env::vars().collect::<BTreeMap<_, _>>(),
    }
}

/// `2026-11-23T07:05:28Z`: how amibake writes a time (manifests, events, tags).
pub fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
