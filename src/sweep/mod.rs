//! `amibake sweep`: removes what interrupted runs left behind.
//!
//! A run that was killed (SIGKILL, a lost CI runner, a power cut) never reached its own
//! cleanup. Everything it created carries `amibake:created-by=amibake` and its
//! `amibake:run-id` from the moment of creation, so sweep finds it by tag: instances,
//! temporary security groups, AMIs never marked `amibake:complete`, and their snapshots.
//! A run is left alone when its journal on this machine ends `clean`, or when it is
//! younger than `--older-than` (it may still be running somewhere). A run's age comes
//! from its id, which starts with its UTC start time.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};
mod event;
pub use event::SweepEvent;

use serde_json::json;

use crate::aws::ec2;
use crate::aws::poll::{self, Schedule};
use crate::aws::{Aws, AwsError};
use crate::report::Reporter;
use crate::tags;

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub older_than: Duration,
    pub dry_run: bool,
    /// Multiplies poll intervals (see `bake`).
    pub poll_scale: f64,
}

/// One leftover resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub kind: &'static str,
    pub region: String,
    pub id: String,
    pub run_id: String,
    pub age: Duration,
}

/// Sweeps `region`; returns what was found (and, unless a dry run, removed).
pub async fn sweep(
    aws: &Aws,
    region: &str,
    journals: &Path,
    options: &SweepOptions,
    reporter: &Reporter,
) -> Result<Vec<Leftover>, AwsError> {
    let ec2 = aws.ec2(region)?;
    let by_amibake = [(tags::CREATED_BY, tags::CREATED_BY_VALUE)];
    let instances = poll::retry(|| ec2::instances_tagged(&ec2, &by_amibake)).await?;
    let groups = poll::retry(|| ec2::security_groups_tagged(&ec2, &by_amibake)).await?;
    let images = poll::retry(|| ec2::images_tagged(&ec2, &by_amibake)).await?;
    let snapshots = poll::retry(|| ec2::snapshots_tagged(&ec2, &by_amibake)).await?;

    // Runs whose journal here ends `clean` left nothing behind on purpose.
    let mut clean_runs = HashSet::new();
    let run_ids: HashSet<&String> = instances
        .iter()
        .chain(&groups)
        .chain(&snapshots)
        .map(|r| &r.tags)
        .chain(images.iter().map(|i| &i.tags))
        .filter_map(|t| t.get(tags::RUN_ID))
        .collect();
    for run_id in run_ids {
        if journal_is_clean(journals, run_id).await {
            clean_runs.insert(run_id.clone());
        }
    }
    let now = SystemTime::now();
    let stale = |t: &BTreeMap<String, String>| -> Option<(String, Duration)> {
        let run_id = t.get(tags::RUN_ID)?.clone();
        let age = run_age(&run_id, now)?;
        (age >= options.older_than && !clean_runs.contains(&run_id)).then_some((run_id, age))
    };
    let mut found = Vec::new();
    let mut push = |kind: &'static str, id: &str, (run_id, age): (String, Duration)| {
        found.push(Leftover {
            kind,
            region: region.to_string(),
            id: id.to_string(),
            run_id,
            age,
        })
    };
    for i in &instances {
        if let Some(s) = stale(&i.tags) {
            push("instance", &i.id, s);
        }
    }
    for g in &groups {
        if let Some(s) = stale(&g.tags) {
            push("security_group", &g.id, s);
        }
    }
    // Complete images are products, whatever their run's journal says; so are their
    // snapshots.
    let mut kept_snapshots = HashSet::new();
    for img in &images {
        match stale(&img.tags) {
            Some(s) if !img.tags.contains_key(tags::COMPLETE) => push("image", &img.id, s),
            _ => kept_snapshots.extend(img.snapshot_ids.iter().cloned()),
        }
    }
    for snap in &snapshots {
        if kept_snapshots.contains(&snap.id) || snap.tags.contains_key(tags::COMPLETE) {
            continue;
        }
        if let Some(s) = stale(&snap.tags) {
            push("snapshot", &snap.id, s);
        }
    }

    for l in &found {
        reporter.event(
            "leftover",
            json!({ "kind": l.kind, "region": l.region, "id": l.id, "run_id": l.run_id, "age_seconds": l.age.as_secs(), "dry_run": options.dry_run }),
            &format!(
                "{} {} {} in {} from run {} ({} old)",
                if options.dry_run { "would remove" } else { "removing" },
                l.kind.replace('_', " "),
                l.id,
                l.region,
                l.run_id,
                crate::recipe::types::Duration::from_secs(l.age.as_secs().max(1))
            ),
        );
    }
    if options.dry_run {
        return Ok(found);
    }
    remove(&ec2, &found, options, reporter).await?;
    Ok(found)
}

/// Removes in dependency order: instances (and waits for them), then groups, images,
/// snapshots.
async fn remove(
    ec2: &aws_sdk_ec2::Client,
    found: &[Leftover],
    options: &SweepOptions,
    reporter: &Reporter,
) -> Result<(), AwsError> {
    let of = |kind: &'static str| found.iter().filter(move |l| l.kind == kind);
    for i in of("instance") {
        poll::retry(|| ec2::terminate_instance(ec2, &i.id)).await?;
    }
    for i in of("instance") {
        poll::until(
            Schedule::INSTANCE.scaled(options.poll_scale),
            Duration::from_secs(600),
            || async {
                Ok(match ec2::instance_state(ec2, &i.id).await? {
                    Some(s) if s != "terminated" => None,
                    _ => Some(()),
                })
            },
        )
        .await
        .map_err(|e| match e {
            poll::PollError::Aws(a) => a,
            poll::PollError::Timeout(_) => AwsError::local(
                "ec2:DescribeInstances",
                None,
                format!("{} did not terminate", i.id),
            ),
        })?;
    }
    for g in of("security_group") {
        poll::while_in_use(
            Schedule::INSTANCE.scaled(options.poll_scale),
            Duration::from_secs(300),
            "DependencyViolation",
            "ec2:DeleteSecurityGroup",
            &format!("security group {}", g.id),
            || ec2::delete_security_group(ec2, &g.id),
        )
        .await?;
    }
    for img in of("image") {
        if let Some(info) = poll::retry(|| ec2::describe_image(ec2, &img.id)).await? {
            poll::retry(|| ec2::delete_image(ec2, &info)).await?;
        }
    }
    for snap in of("snapshot") {
        poll::retry(|| ec2::delete_snapshot(ec2, &snap.id)).await?;
    }
    if !found.is_empty() {
        reporter.say(&format!("removed {} leftover resource(s)", found.len()));
    }
    Ok(())
}

/// A run's age from its id (`20261123-070528-3fa2c1` starts at 2026-11-23 07:05:28 UTC).
pub fn run_age(run_id: &str, now: SystemTime) -> Option<Duration> {
    let stamp = run_id.get(..15)?;
    let format = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let started = time::PrimitiveDateTime::parse(stamp, format)
        .ok()?
        .assume_utc();
    let started = SystemTime::from(started);
    Some(now.duration_since(started).unwrap_or_default())
}

/// Whether this machine's journal of the run ends `clean`.
async fn journal_is_clean(dir: &Path, run_id: &str) -> bool {
    let path = dir.join("runs").join(format!("{run_id}.jsonl"));
    tokio::fs::read_to_string(path)
        .await
        .ok()
        .and_then(|text| {
            text.lines()
                .last()
                .map(|l| l.contains("\"event\":\"clean\""))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_age_comes_from_its_id() {
        let started = SystemTime::from(time::macros::datetime!(2026-11-23 07:05:28 UTC));
        let now = started + Duration::from_secs(3600);
        assert_eq!(
            run_age("20261123-070528-3fa2c1", now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(run_age("not-a-run-id", now), None);
    }

    #[tokio::test]
    async fn only_a_journal_ending_clean_protects_a_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("runs")).unwrap();
        std::fs::write(
            dir.path().join("runs/a.jsonl"),
            "{\"event\":\"start\"}\n{\"event\":\"clean\"}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("runs/b.jsonl"), "{\"event\":\"start\"}\n").unwrap();
        assert!(journal_is_clean(dir.path(), "a").await);
        assert!(!journal_is_clean(dir.path(), "b").await);
        assert!(!journal_is_clean(dir.path(), "missing").await);
    }
}
