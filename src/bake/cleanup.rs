//! Teardown on every path: what the outcome calls for is removed, and a run reports whether it
//! left anything behind.
//!
//! The cleanup runs on a budget of its own ([`CLEANUP_BUDGET`]): each call is bounded by
//! the SDK's timeouts and each wait by its deadline, and the whole of it by the budget. What
//! it could not remove in that time — or when the user abandons it — is named exactly, with
//! the `amibake sweep` command that removes it ([`Bake::report_left`]).

use std::collections::BTreeSet;
use std::sync::MutexGuard;
use std::time::Duration;

use crate::aws::poll::Schedule;
use crate::image::{ImageEvent, ResourceKind, Teardown};

use super::{Bake, BakeEvent, Created, LeftResource};
use crate::plan::OnError;

/// How long the whole cleanup may take unless the caller says otherwise
/// (`AMIBAKE_CLEANUP_TIMEOUT`): terminating takes a minute or two on AWS, a security group
/// goes once the instances' network interfaces have.
pub const CLEANUP_BUDGET: Duration = Duration::from_secs(10 * 60);

impl Bake<'_> {
    /// What this run created and has not removed yet.
    fn created(&self) -> MutexGuard<'_, Created> {
        self.created.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removals through `ec2`, polled on the bake's scale.
    fn teardown<'c>(&self, ec2: &'c aws_sdk_ec2::Client) -> Teardown<'c> {
        Teardown::new(ec2, self.schedule(Schedule::INSTANCE))
    }

    /// Terminates one instance now (best effort; cleanup retries what is left).
    pub(super) async fn terminate(&self, region: &str, id: &str) {
        let Ok(ec2) = self.ec2(region) else { return };
        match self.teardown(&ec2).terminate(id).await {
            Ok(()) => {
                self.removed(ResourceKind::Instance, region, id).await;
                let mut created = self.created();
                created.instances.retain(|(_, i, _)| i != id);
                created
                    .terminating
                    .push((region.to_string(), id.to_string()));
            }
            Err(e) => self
                .reporter
                .say(&format!("could not terminate {id} yet: {}", e.chain())),
        }
    }

    /// Reports a resource removed and journals it.
    async fn removed(&self, kind: ResourceKind, region: &str, id: &str) {
        let _ = self.note("deleted", kind, region, Some(id), None).await;
        self.reporter.emit(ImageEvent::removed(kind, region, id));
    }

    /// Removes what the outcome calls for. After success: the builder and the temporary
    /// security group. After a failure: every instance and image of the run too — unless
    /// the plan's cleanup says `--on-error keep`, which leaves them and says how to get in. Returns whether the
    /// run left nothing behind that it should not have; when it may have, says exactly
    /// what and how to remove it. The journal ends `clean` only then.
    pub async fn cleanup(&self, failed: bool) -> bool {
        if failed && self.plan.on_error() == OnError::Keep {
            self.keep().await;
            return false;
        }
        let budget = self.cleanup_budget;
        let removal = super::guard::unwinding(self.remove(failed));
        let removed = match tokio::time::timeout(budget, removal).await {
            Ok(Ok(removed)) => removed,
            Ok(Err(panic)) => {
                self.reporter.say(&format!(
                    "cleanup stopped by a bug: {panic} (please report it)"
                ));
                false
            }
            Err(_) => {
                self.reporter.say(&format!(
                    "cleanup did not finish within its budget of {}s (AMIBAKE_CLEANUP_TIMEOUT)",
                    budget.as_secs()
                ));
                false
            }
        };
        let clean = removed && self.journal.mark_clean().await.unwrap_or(false);
        if !clean {
            self.report_left(failed);
        }
        clean
    }

    /// Removes what the outcome calls for (see [`Bake::cleanup`]); whether all of it went.
    async fn remove(&self, failed: bool) -> bool {
        if failed {
            // What a create dropped without its answer made, first: it goes too.
            self.resolve_unknown_creates().await;
        }
        let (instances, images) = {
            let c = self.created();
            (c.instances.clone(), c.images.clone())
        };
        let mut clean = true;
        for (region, id, _) in &instances {
            self.terminate(region, id).await;
        }
        if failed {
            for (region, id) in &images {
                clean &= self.delete_image(region, id).await;
            }
        }
        clean &= self.remove_security_group().await;
        clean &= self.created().instances.is_empty();
        clean
    }

    /// What this run may have left — what it made and has not seen gone (its images only
    /// after a failure: after success they are the product), and every create whose
    /// outcome is unknown — in a `left` event with the sweep command that removes it.
    /// Says nothing when nothing is left. Also what the caller reports when it abandons
    /// the cleanup.
    pub fn report_left(&self, failed: bool) {
        let left = self.left(failed);
        if left.is_empty() {
            return;
        }
        let regions: BTreeSet<&str> = left.iter().map(|l| l.region.as_str()).collect();
        let sweep = regions
            .iter()
            .map(|r| format!("amibake sweep --region {r} --older-than 0s"))
            .collect::<Vec<_>>()
            .join(" && ");
        self.reporter.emit(BakeEvent::Left {
            resources: left,
            sweep,
            journal: self.journal.path().to_path_buf(),
        });
    }

    fn left(&self, failed: bool) -> Vec<LeftResource> {
        let made = |kind: ResourceKind, region: &str, id: &str, state| LeftResource {
            kind: kind.as_str(),
            region: region.to_string(),
            id: Some(id.to_string()),
            token: None,
            state,
        };
        let mut left = Vec::new();
        {
            let c = self.created();
            for (region, id, _) in &c.instances {
                left.push(made(ResourceKind::Instance, region, id, "not removed"));
            }
            for (region, id) in &c.terminating {
                let state = "asked to terminate, not seen terminated";
                left.push(made(ResourceKind::Instance, region, id, state));
            }
            if failed {
                for (region, id) in &c.images {
                    left.push(made(ResourceKind::Image, region, id, "not removed"));
                }
            }
            if let Some((region, id)) = &c.security_group {
                left.push(made(ResourceKind::SecurityGroup, region, id, "not removed"));
            }
        }
        for intent in self.journal.unresolved() {
            let kind = match intent.kind.as_str() {
                "instance" => ResourceKind::Instance,
                "security_group" => ResourceKind::SecurityGroup,
                _ => ResourceKind::Image,
            };
            left.push(LeftResource {
                kind: kind.as_str(),
                region: intent.region,
                id: None,
                token: Some(intent.token),
                state: "the create's outcome is unknown",
            });
        }
        left
    }

    /// `--on-error keep` after a failure: journals and names what stays.
    async fn keep(&self) {
        let (instances, images) = {
            let c = self.created();
            (c.instances.clone(), c.images.clone())
        };
        for (region, id, role) in &instances {
            let _ = self
                .note("kept", ResourceKind::Instance, region, Some(id), None)
                .await;
            self.reporter.say(&format!(
                "kept the {role} instance {id}; open a shell with: aws ssm start-session --target {id} --region {region}"
            ));
        }
        for (region, id) in &images {
            let _ = self
                .note("kept", ResourceKind::Image, region, Some(id), None)
                .await;
            self.reporter.say(&format!("kept image {id} in {region}"));
        }
        self.reporter
            .say("--on-error keep: nothing was cleaned up; `amibake sweep` removes it later");
    }

    /// Deletes the temporary security group, if any. The group cannot go while an
    /// instance's network interface holds it: deleting it waits out the terminations, and
    /// its deletion proves them. Returns whether both went.
    async fn remove_security_group(&self) -> bool {
        let sg = self.created().security_group.clone();
        let Some((region, id)) = sg else {
            return self.wait_terminated().await;
        };
        if self.delete_security_group(&region, &id).await {
            self.created().terminating.clear();
            true
        } else {
            // Still wait for (and report) the instances themselves.
            self.wait_terminated().await;
            false
        }
    }

    pub(super) async fn delete_image(&self, region: &str, id: &str) -> bool {
        let Ok(ec2) = self.ec2(region) else {
            return false;
        };
        let info = match crate::image::describe(&ec2, id).await {
            Ok(Some(info)) => info,
            Ok(None) => return true,
            Err(e) => {
                self.reporter.say(&format!(
                    "could not look up image {id} in {region}: {}",
                    e.chain()
                ));
                return false;
            }
        };
        match self.teardown(&ec2).deregister_image(&info).await {
            Ok(()) => {
                self.removed(ResourceKind::Image, region, id).await;
                self.created().images.retain(|(_, i)| i != id);
                true
            }
            Err(e) => {
                self.reporter.say(&format!(
                    "could not deregister {id} in {region}: {}",
                    e.chain()
                ));
                false
            }
        }
    }

    /// Waits until every instance asked to terminate is gone (a security group in use
    /// cannot be deleted).
    pub(super) async fn wait_terminated(&self) -> bool {
        let terminating = self.created().terminating.clone();
        let mut all = true;
        for (region, id) in terminating {
            let Ok(ec2) = self.ec2(&region) else {
                return false;
            };
            self.reporter
                .spin("cleanup", &format!("waiting for {id} to terminate"));
            let done = self.teardown(&ec2).wait_terminated(&id).await;
            self.reporter.unspin("cleanup");
            match done {
                Ok(()) => self.created().terminating.retain(|(_, i)| *i != id),
                Err(e) => {
                    self.reporter.say(&format!("{id} did not terminate: {e}"));
                    all = false;
                }
            }
        }
        all
    }

    pub(super) async fn delete_security_group(&self, region: &str, id: &str) -> bool {
        let Ok(ec2) = self.ec2(region) else {
            return false;
        };
        // Network interfaces of a just-terminated instance linger for a moment.
        match self.teardown(&ec2).delete_security_group(id).await {
            Ok(()) => {
                self.removed(ResourceKind::SecurityGroup, region, id).await;
                self.created().security_group = None;
                true
            }
            Err(e) => {
                self.reporter
                    .say(&format!("could not delete security group {id}: {e}"));
                false
            }
        }
    }
}
