//! `amibake sweep`: removes what interrupted runs left behind.
//!
//! A run that was killed (SIGKILL, a lost CI runner, a power cut) never reached its own
//! cleanup. Everything it created carries `amibake:created-by=amibake` and its
//! `amibake:run-id` from the moment of creation, so sweep finds it by tag: instances,
//! temporary security groups, AMIs never marked `amibake:complete`, and their snapshots.
//!
//! What decides is the run, not the resource: a run is left alone when its journal on
//! this machine ends `clean`; when its lease (`amibake:lease-until`, which a live bake
//! keeps renewing on what it holds, [`crate::lease`]) is in the future on any of its
//! resources in any region swept — unless its journal here shows its process is gone; or
//! when it is younger than `--older-than` (a run's age comes from its id, which starts
//! with its UTC start time). A run without a lease (an older amibake) is judged by age
//! alone. Sweep covers the home region, every region a run journaled here used,
//! `--also-region`, and with `--all-regions` every enabled region. What is left goes
//! through the image layer's teardown, the same as a bake's cleanup.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::aws::ec2::{self, ImageInfo, Tagged};
use crate::aws::poll::{self, PollError, Schedule};
use crate::aws::{Aws, AwsError, calls};
use crate::error::FromAws;
use crate::image::{CallFailed, ResourceKind, Teardown};
use crate::report::Reporter;
use crate::{lease, run, tags};

mod event;
mod journals;
pub use event::SweepEvent;
pub use journals::Journaled;

/// What sweep fails with: an AWS call (exit 1).
pub type SweepError = CallFailed;

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub older_than: Duration,
    pub dry_run: bool,
    /// Multiplies poll intervals (see `bake`).
    pub poll_scale: f64,
    /// Regions to sweep besides the home region and the journaled ones.
    pub also_regions: Vec<String>,
    /// Sweep every region enabled for the account.
    pub all_regions: bool,
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

/// Why a run's resources stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its journal here ends clean: what is left was kept on purpose.
    Clean,
    /// Its lease runs until then: a live bake renews it.
    Leased(SystemTime),
    /// Younger than `--older-than`.
    Young(Duration),
    /// Stale: swept.
    Stale(Duration),
}

/// What is known of a run before its verdict.
#[derive(Debug, Clone, Default)]
struct RunFacts {
    /// The latest lease on any of its resources, in any region swept.
    lease: Option<SystemTime>,
    /// Its journal here ends clean.
    clean: bool,
    /// Its journal here shows its process is gone.
    dead_here: bool,
}

/// The verdict on `run_id` at `now`.
fn verdict(
    run_id: &str,
    facts: &RunFacts,
    older_than: Duration,
    now: SystemTime,
) -> Option<Verdict> {
    if facts.clean {
        return Some(Verdict::Clean);
    }
    let age = run_age(run_id, now)?;
    if let Some(until) = facts
        .lease
        .filter(|u| !facts.dead_here && lease::holds(*u, now))
    {
        return Some(Verdict::Leased(until));
    }
    Some(if age >= older_than {
        Verdict::Stale(age)
    } else {
        Verdict::Young(age)
    })
}

/// Sweeps the home `region` and every other region a run may have used: reports what
/// stale runs left (`leftover`), which runs stay and why (`kept`), `done` for each region
/// with nothing to sweep; unless a dry run, removes what is stale; returns what was found.
pub async fn sweep(
    aws: &Aws,
    region: &str,
    journals: &Path,
    options: &SweepOptions,
    reporter: &Reporter,
) -> Result<Vec<Leftover>, SweepError> {
    let journaled = journals::unfinished(journals).await;
    let regions = regions(aws, region, &journaled, options).await?;
    let mut inventories = Vec::new();
    for r in &regions {
        let ec2 = aws.ec2(r).map_err(SweepError::aws("inventory"))?;
        let inventory = Inventory::find(&ec2)
            .await
            .map_err(SweepError::aws("inventory"))?;
        inventories.push((r.clone(), ec2, inventory));
    }
    let facts = run_facts(&inventories, journals, &journaled).await;
    let now = SystemTime::now();
    let verdicts: HashMap<&String, Verdict> = facts
        .iter()
        .filter_map(|(id, f)| Some((id, verdict(id, f, options.older_than, now)?)))
        .collect();
    let stale = |t: &BTreeMap<String, String>| -> Option<(String, Duration)> {
        let run_id = t.get(tags::RUN_ID)?;
        match verdicts.get(run_id)? {
            Verdict::Stale(age) => Some((run_id.clone(), *age)),
            _ => None,
        }
    };
    let mut kept_runs: BTreeMap<&String, (Verdict, BTreeSet<&String>)> = BTreeMap::new();
    for (r, _, inventory) in &inventories {
        for run_id in inventory.debris_runs() {
            if let Some(v @ (Verdict::Leased(_) | Verdict::Young(_))) = verdicts.get(run_id) {
                kept_runs
                    .entry(run_id)
                    .or_insert((*v, BTreeSet::new()))
                    .1
                    .insert(r);
            }
        }
    }
    for (run_id, (v, in_regions)) in &kept_runs {
        reporter.emit(SweepEvent::kept(run_id, *v, in_regions));
    }
    let mut all_found = Vec::new();
    for (r, ec2, inventory) in &inventories {
        let found = inventory.leftovers(r, &stale);
        for l in &found {
            reporter.emit(SweepEvent::leftover(l, options.dry_run));
        }
        if !options.dry_run {
            remove(ec2, &found, options, reporter)
                .await
                .map_err(SweepError::aws("remove"))?;
        }
        if found.is_empty() {
            reporter.emit(SweepEvent::Done {
                found: 0,
                region: r.clone(),
            });
        }
        all_found.extend(found);
    }
    Ok(all_found)
}

/// The regions to sweep: home first, then every region an unfinished run journaled here
/// used, `--also-region`, and with `--all-regions` every enabled region.
async fn regions(
    aws: &Aws,
    home: &str,
    journaled: &[Journaled],
    options: &SweepOptions,
) -> Result<Vec<String>, SweepError> {
    let mut more: BTreeSet<String> = journaled
        .iter()
        .flat_map(|j| j.regions.iter().cloned())
        .chain(options.also_regions.iter().cloned())
        .collect();
    if options.all_regions {
        let ec2 = aws.ec2(home).map_err(SweepError::aws("regions"))?;
        let enabled = poll::retry(|| ec2::enabled_regions(&ec2))
            .await
            .map_err(SweepError::aws("regions"))?;
        more.extend(enabled);
    }
    more.remove(home);
    Ok(std::iter::once(home.to_string()).chain(more).collect())
}

/// Every run with a resource in the inventories: its latest lease, and what its journal
/// here says.
async fn run_facts(
    inventories: &[(String, aws_sdk_ec2::Client, Inventory)],
    journals: &Path,
    journaled: &[Journaled],
) -> HashMap<String, RunFacts> {
    let mut facts: HashMap<String, RunFacts> = HashMap::new();
    for (_, _, inventory) in inventories {
        for t in inventory.all_tags() {
            let Some(run_id) = t.get(tags::RUN_ID) else {
                continue;
            };
            let f = facts.entry(run_id.clone()).or_default();
            if let Some(until) = t.get(tags::LEASE_UNTIL).and_then(|v| lease::parse(v)) {
                f.lease = f.lease.max(Some(until));
            }
        }
    }
    let dead: HashSet<&str> = journaled
        .iter()
        .filter(|j| j.process_alive() == Some(false))
        .map(|j| j.run_id.as_str())
        .collect();
    for (run_id, f) in facts.iter_mut() {
        f.clean = crate::journal::ends_clean(journals, run_id).await;
        f.dead_here = dead.contains(run_id.as_str());
    }
    facts
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

    /// The tags of everything found.
    fn all_tags(&self) -> impl Iterator<Item = &BTreeMap<String, String>> {
        self.instances
            .iter()
            .chain(&self.groups)
            .chain(&self.snapshots)
            .map(|r| &r.tags)
            .chain(self.images.iter().map(|i| &i.tags))
    }

    /// The runs that left something sweep would remove were they stale (anything but
    /// complete images and their snapshots).
    fn debris_runs(&self) -> BTreeSet<&String> {
        self.all_tags()
            .filter(|t| !t.contains_key(tags::COMPLETE))
            .filter_map(|t| t.get(tags::RUN_ID))
            .collect()
    }

    /// What `stale` says is left of a stale run (its id and age). Complete images are
    /// products, whatever their run's journal says; so are their snapshots.
    fn leftovers(
        &self,
        region: &str,
        stale: &impl Fn(&BTreeMap<String, String>) -> Option<(String, Duration)>,
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
                calls::EC2_DESCRIBE_INSTANCES,
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

    #[test]
    fn a_live_lease_keeps_a_run_whatever_its_age_unless_its_process_is_gone_here() {
        let run = "20261123-070528-3fa2c1";
        let started = SystemTime::from(time::macros::datetime!(2026-11-23 07:05:28 UTC));
        let now = started + Duration::from_secs(3 * 3600);
        let leased = RunFacts {
            lease: Some(now + Duration::from_secs(300)),
            ..RunFacts::default()
        };
        let zero = Duration::ZERO;
        assert!(matches!(
            verdict(run, &leased, zero, now),
            Some(Verdict::Leased(_))
        ));
        let dead = RunFacts {
            dead_here: true,
            ..leased.clone()
        };
        assert!(matches!(
            verdict(run, &dead, zero, now),
            Some(Verdict::Stale(_))
        ));
        let expired = RunFacts {
            lease: Some(now - lease::CLOCK_SKEW - Duration::from_secs(1)),
            ..RunFacts::default()
        };
        assert!(matches!(
            verdict(run, &expired, zero, now),
            Some(Verdict::Stale(_))
        ));
        let old_amibake = RunFacts::default();
        let day = Duration::from_secs(86_400);
        assert!(matches!(
            verdict(run, &old_amibake, day, now),
            Some(Verdict::Young(_))
        ));
        let clean = RunFacts {
            clean: true,
            ..RunFacts::default()
        };
        assert_eq!(verdict(run, &clean, zero, now), Some(Verdict::Clean));
    }

    #[tokio::test]
    async fn only_a_journal_ending_clean_protects_a_run() {
        let journal_is_clean = crate::journal::ends_clean;
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
