//! The lease a live bake holds on what it creates, so that `sweep` from another machine
//! never removes it, whatever its `--older-than`.
//!
//! Every resource a bake creates carries `amibake:lease-until` (now + [`PERIOD`]) from its
//! creation; while the bake runs, [`renewing`] pushes the lease forward every third of the
//! period on what the bake still holds. A run whose lease is in the future is live. When
//! the process dies, renewals stop and the lease runs out within [`PERIOD`]. A renewal that
//! fails is a warning, never a bake failure: the next one tries again, and a lease has
//! two renewals of slack.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::aws::acting::acting;
use crate::aws::{Aws, ec2};
use crate::report::Reporter;
use crate::tags;

/// How long a lease runs from its last renewal.
pub const PERIOD: Duration = Duration::from_secs(10 * 60);

/// How far apart the clocks of the baking and the sweeping machine may be: a lease counts
/// as live until this long after the time it names.
pub const CLOCK_SKEW: Duration = Duration::from_secs(2 * 60);

/// The lease tag's value for a lease taken or renewed at `now`.
pub fn until(now: SystemTime) -> String {
    crate::run::rfc3339(now + PERIOD)
}

/// `tags` with a lease from now: what a create call tags its resource with.
pub fn stamped(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags = tags.clone();
    tags.insert(tags::LEASE_UNTIL.to_string(), until(SystemTime::now()));
    tags
}

/// The time a lease tag names; `None` when it is not an RFC 3339 time.
pub fn parse(value: &str) -> Option<SystemTime> {
    let t =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::from(t))
}

/// Whether a lease that runs until `until` still holds at `now` (allowing [`CLOCK_SKEW`]).
pub fn holds(until: SystemTime, now: SystemTime) -> bool {
    until + CLOCK_SKEW > now
}

/// What a renewal's requests name instead of a plan action (it runs beside the walk, in
/// no action; see [`crate::aws::acting`]).
pub const RENEWAL: &str = "lease-renewal";

/// Runs `work` while renewing the lease on `held()` — (region, id) pairs of what the run
/// still holds — every third of [`PERIOD`]; returns what `work` returns. The first
/// renewal comes a third of the period in: a short bake makes no renewal call.
pub async fn renewing<T>(
    work: impl Future<Output = T>,
    aws: &Aws,
    held: impl Fn() -> Vec<(String, String)>,
    reporter: &Reporter,
) -> T {
    let renew = async {
        loop {
            tokio::time::sleep(PERIOD / 3).await;
            acting(RENEWAL.into(), renew(aws, &held(), reporter)).await;
        }
    };
    tokio::select! {
        out = work => out,
        never = renew => never,
    }
}

/// One renewal: a CreateTags per region, each bounded by a third of the period; a
/// failure is a warning.
async fn renew(aws: &Aws, held: &[(String, String)], reporter: &Reporter) {
    let mut by_region: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (region, id) in held {
        by_region.entry(region).or_default().push(id.clone());
    }
    let lease = BTreeMap::from([(tags::LEASE_UNTIL.to_string(), until(SystemTime::now()))]);
    for (region, ids) in by_region {
        let call = async {
            let ec2 = aws.ec2(region)?;
            ec2::create_tags(&ec2, &ids, &lease).await
        };
        let failed = match tokio::time::timeout(PERIOD / 3, call).await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.chain(),
            Err(_) => format!("no answer within {}s", (PERIOD / 3).as_secs()),
        };
        reporter.say(&format!(
            "warning: could not renew the lease on {} in {region} ({failed}); the bake goes on, and `amibake sweep` elsewhere may treat the run as dead once the lease runs out",
            ids.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_an_rfc3339_time_a_period_ahead() {
        let now = SystemTime::from(time::macros::datetime!(2026-11-23 07:05:28 UTC));
        assert_eq!(until(now), "2026-11-23T07:15:28Z");
        assert_eq!(parse(&until(now)), Some(now + PERIOD));
        assert_eq!(parse("tomorrow"), None);
    }

    #[test]
    fn a_lease_holds_until_its_time_plus_the_clock_skew() {
        let t = SystemTime::from(time::macros::datetime!(2026-11-23 07:05:28 UTC));
        assert!(holds(t, t - Duration::from_secs(600)));
        assert!(holds(t, t + Duration::from_secs(60)));
        assert!(!holds(t, t + CLOCK_SKEW));
    }

    #[test]
    fn stamping_adds_only_the_lease() {
        let tags = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let stamped = stamped(&tags);
        assert_eq!(stamped.len(), 2);
        assert!(parse(&stamped[tags::LEASE_UNTIL]).is_some());
    }
}
