//! Creates whose answer never came. When one branch of the bake fails (a scan over its
//! limits, a boot test, a timeout, Ctrl-C), the branches beside it are dropped, and a
//! create call in flight is dropped without its answer: EC2 may make the image or the
//! instance all the same, and the bake never learns its id. The journal holds such a
//! create as an intent without a `created` entry.
//!
//! Before it removes anything after a failure, the cleanup looks for what each such
//! create made, by the run's tag in the intent's region, for a bounded time (EC2 may show
//! it only a moment later), with the calls the cleanup makes anyway (DescribeImages,
//! DescribeInstances). What it finds is journaled as created and removed with the rest.
//! What it does not find stays unresolved: the run is not marked clean, and the `left`
//! event names it with the `amibake sweep` command.

use std::time::Duration;

use crate::aws::ec2;
use crate::aws::poll;
use crate::journal::Intent;
use crate::plan::Role;
use crate::tags;

use super::{Bake, BakeError, Made};
use crate::error::FromAws;

/// How long the cleanup looks for what creates of unknown outcome made.
const LOOK_FOR: Duration = Duration::from_secs(30);
/// How far apart it looks.
const LOOK_EVERY: Duration = Duration::from_secs(2);

impl Bake<'_> {
    /// Finds what each unresolved create made and makes it the cleanup's (see the module
    /// doc). Returns without a call when every create was answered.
    pub(super) async fn resolve_unknown_creates(&self) {
        let wanted: Vec<Intent> = self
            .journal
            .unresolved()
            .into_iter()
            .filter(|i| matches!(i.kind.as_str(), "image" | "instance"))
            .collect();
        if wanted.is_empty() {
            return;
        }
        self.reporter.say(&format!(
            "looking for what {} create call(s) without an answer made",
            wanted.len()
        ));
        let deadline = tokio::time::Instant::now() + LOOK_FOR;
        for intent in &wanted {
            loop {
                match self.made_by(intent).await {
                    Ok(true) => break,
                    Ok(false) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(LOOK_EVERY).await;
                    }
                    Ok(false) => break,
                    Err(e) => {
                        self.reporter.say(&format!(
                            "could not look for the {} of {} in {}: {e}",
                            intent.kind, intent.token, intent.region
                        ));
                        break;
                    }
                }
            }
        }
    }

    /// Looks once for what `intent` made: a resource of its kind in its region that
    /// carries the run's tag and that the bake does not know. Records each found (the
    /// first resolves the intent); whether any was.
    async fn made_by(&self, intent: &Intent) -> Result<bool, BakeError> {
        let client = self.ec2(&intent.region)?;
        let run = [(tags::RUN_ID, self.plan.run_id.as_str())];
        let known = self.known_ids();
        let found: Vec<(Made, String)> = match intent.kind.as_str() {
            "image" => poll::retry(|| ec2::images_tagged(&client, &run))
                .await
                .map_err(BakeError::aws("cleanup"))?
                .into_iter()
                .filter(|i| !known.contains(&i.id))
                .map(|i| (Made::Image, i.id))
                .collect(),
            _ => {
                let role = self.role_of(&intent.token);
                poll::retry(|| ec2::instances_tagged(&client, &run))
                    .await
                    .map_err(BakeError::aws("cleanup"))?
                    .into_iter()
                    .filter(|i| !known.contains(&i.id))
                    .map(|i| (Made::Instance(role), i.id))
                    .collect()
            }
        };
        let mut token = Some(intent.token.as_str());
        for (made, id) in &found {
            self.record(*made, &intent.region, id, token.take(), None)
                .await?;
        }
        Ok(!found.is_empty())
    }

    /// Every instance and image id the bake knows it made (or asked to terminate).
    fn known_ids(&self) -> Vec<String> {
        let c = self.created.lock().unwrap_or_else(|e| e.into_inner());
        let instances = c.instances.iter().map(|(_, id, _)| id);
        let terminating = c.terminating.iter().map(|(_, id)| id);
        let images = c.images.iter().map(|(_, id)| id);
        instances
            .chain(terminating)
            .chain(images)
            .cloned()
            .collect()
    }

    /// The role an instance's launch token names (`RUN-builder`, `RUN-boot-test`, …).
    fn role_of(&self, token: &str) -> Role {
        let suffix = token
            .strip_prefix(self.plan.run_id.as_str())
            .and_then(|t| t.strip_prefix('-'))
            .unwrap_or_default();
        [Role::BootTest, Role::Probe]
            .into_iter()
            .find(|r| r.as_str() == suffix)
            .unwrap_or(Role::Builder)
    }
}
