//! `amibake sweep`: removes what interrupted runs left behind.
//!
//! A run that was killed (SIGKILL, a lost CI runner, a power cut) never reached its own
//! cleanup. Everything it created carries `amibake:created-by=amibake` and its
//! `amibake:run-id` from the moment of creation, so sweep finds it by tag: instances,
//! temporary security groups, AMIs never marked `amibake:complete`, and their snapshots.
//! A run is left alone when its journal on this machine ends `clean`, or when it is
//! younger than `--older-than` (it may still be running somewhere). A run's age comes
//! from its id, which starts with its UTC start time. What is left goes through the
//! image layer's teardown, the same as a bake's cleanup.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::aws::ec2::{self, ImageInfo, Tagged};
use crate::aws::poll::{self, PollError, Schedule};
use crate::aws::{Aws, AwsError};
use crate::event::FromAws;
use crate::image::{CallFailed, ResourceKind, Teardown};
use crate::report::Reporter;
use crate::{journal, run, tags};

mod event;
pub use event::SweepEvent;

/// What sweep fails with: an AWS call (exit 1).
pub type SweepError = CallFailed;

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
    pub kind: ResourceKind,
    pub region: String,
    pub id: String,
    pub run_id: String,
    pub age: Duration,
}

/// Sweeps `region`: reports what stale runs left (`leftover`, or `done` when nothing) and,
/// unless a dry run, removes it; returns what was found.
pub async fn sweep(
    aws: &Aws,
    region: &str,
    journals: &Path,
    options: &SweepOptions,
    reporter: &Reporter,
) -> Result<Vec<Leftover>, SweepError> {
    let ec2 = aws.ec2(region).map_err(SweepError::aws("inventory"))?;
    let inventory = Inventory::find(&ec2)
        .await
        .map_err(SweepError::aws("inventory"))?;
    let clean_runs = inventory.clean_runs(journals).await;
    let now = SystemTime::now();
    let stale = |t: &BTreeMap<String, String>| -> Option<(String, Duration)> {
        let run_id = t.get(tags::RUN_ID)?.clone();
        let age = run_age(&run_id, now)?;
        (age >= options.older_than && !clean_runs.contains(&run_id)).then_some((run_id, age))
    };
    let found = inventory.leftovers(region, stale);
    for l in &found {
        reporter.emit(SweepEvent::leftover(l, options.dry_run));
    }
    if !options.dry_run {
        remove(&ec2, &found, options, reporter)
            .await
            .map_err(SweepError::aws("remove"))?;
    }
    if found.is_empty() {
        reporter.emit(SweepEvent::Done {
            found: 0,
            region: region.to_string(),
        });
    }
    Ok(found)
}

/// What amibake tagged in a region.
struct Inventory {
    instances: Vec<Tagged>,
    groups: Vec<Tagged>,
    images: Vec<ImageInfo>,
    snapshots: Vec<Tagged>,
}

impl Inventory {
    async fn find(ec2: &aws_sdk_ec2::Client) -> Result<Inventory, AwsError> {
        let by_amibake = [(tags::CREATED_BY, tags::CREATED_BY_VALUE)];
        Ok(Inventory {
            instances: poll::retry(|| ec2::instances_tagged(ec2, &by_amibake)).await?,
            groups: poll::retry(|| ec2::security_groups_tagged(ec2, &by_amibake)).await?,
            images: poll::retry(|| ec2::images_tagged(ec2, &by_amibake)).await?,
            snapshots: poll::retry(|| ec2::snapshots_tagged(ec2, &by_amibake)).await?,
        })
    }

    /// The runs whose journal here ends `clean`: they left nothing behind on purpose.
    async fn clean_runs(&self, journals: &Path) -> HashSet<String> {
        let run_ids: HashSet<&String> = self
            .instances
            .iter()
            .chain(&self.groups)
            .chain(&self.snapshots)
            .map(|r| &r.tags)
            .chain(self.images.iter().map(|i| &i.tags))
            .filter_map(|t| t.get(tags::RUN_ID))
            .collect();
        let mut clean = HashSet::new();
        for run_id in run_ids {
            if journal::ends_clean(journals, run_id).await {
                clean.insert(run_id.clone());
            }
        }
        clean
    }

    /// What `stale` says is left of a stale run (its id and age). Complete images are
    /// products, whatever their run's journal says; so are their snapshots.
    fn leftovers(
        &self,
        region: &str,
        stale: impl Fn(&BTreeMap<String, String>) -> Option<(String, Duration)>,
    ) -> Vec<Leftover> {
        let complete = |t: &BTreeMap<String, String>| t.contains_key(tags::COMPLETE);
        let kept_snapshots: HashSet<&String> = self
            .images
            .iter()
            .filter(|img| complete(&img.tags) || stale(&img.tags).is_none())
            .flat_map(|img| &img.snapshot_ids)
            .collect();
        let instances = self
            .instances
            .iter()
            .map(|i| (ResourceKind::Instance, &i.id, &i.tags));
        let groups = self
            .groups
            .iter()
            .map(|g| (ResourceKind::SecurityGroup, &g.id, &g.tags));
        let images = self
            .images
            .iter()
            .filter(|i| !complete(&i.tags))
            .map(|i| (ResourceKind::Image, &i.id, &i.tags));
        let snapshots = self
            .snapshots
            .iter()
            .filter(|s| !kept_snapshots.contains(&s.id) && !complete(&s.tags))
            .map(|s| (ResourceKind::Snapshot, &s.id, &s.tags));
        let candidates = instances.chain(groups).chain(images).chain(snapshots);
        candidates
            .filter_map(|(kind, id, tags)| {
                let (run_id, age) = stale(tags)?;
                let (region, id) = (region.to_string(), id.clone());
                Some(Leftover {
                    kind,
                    region,
                    id,
                    run_id,
                    age,
                })
            })
            .collect()
    }
}

/// Removes in dependency order: instances (and waits for them), then groups, images,
/// snapshots.
async fn remove(
    ec2: &aws_sdk_ec2::Client,
    found: &[Leftover],
    options: &SweepOptions,
    reporter: &Reporter,
) -> Result<(), AwsError> {
    let teardown = Teardown::new(ec2, Schedule::INSTANCE.scaled(options.poll_scale));
    let of = |kind: ResourceKind| found.iter().filter(move |l| l.kind == kind);
    for i in of(ResourceKind::Instance) {
        teardown.terminate(&i.id).await?;
    }
    for i in of(ResourceKind::Instance) {
        teardown.wait_terminated(&i.id).await.map_err(|e| match e {
            PollError::Aws(a) => a,
            PollError::Timeout(_) => AwsError::local(
                "ec2:DescribeInstances",
                None,
                format!("{} did not terminate", i.id),
            ),
        })?;
    }
    for g in of(ResourceKind::SecurityGroup) {
        teardown.delete_security_group(&g.id).await?;
    }
    for img in of(ResourceKind::Image) {
        teardown.deregister(&img.id).await?;
    }
    for snap in of(ResourceKind::Snapshot) {
        teardown.delete_snapshot(&snap.id).await?;
    }
    if !found.is_empty() {
        reporter.say(&format!("removed {} leftover resource(s)", found.len()));
    }
    Ok(())
}

/// A run's age from its id (`20261123-070528-3fa2c1` starts at 2026-11-23 07:05:28 UTC).
pub fn run_age(run_id: &str, now: SystemTime) -> Option<Duration> {
    let started = run::started(run_id)?;
    Some(now.duration_since(started).unwrap_or_default())
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
        let journal_is_clean = journal::ends_clean;
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
