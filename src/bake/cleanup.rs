//! Teardown on every path: what the outcome calls for is removed, and a run reports whether it
//! left anything behind.

use std::sync::MutexGuard;

use crate::aws::poll::Schedule;
use crate::image::{ImageEvent, ResourceKind, Teardown};

use super::{Bake, Created, OnError};

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
    /// `--on-error keep`, which leaves them and says how to get in. Returns whether the
    /// run left nothing behind that it should not have.
    pub async fn cleanup(&self, failed: bool) -> bool {
        if failed && self.options.on_error == OnError::Keep {
            self.keep().await;
            return false;
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
        if clean {
            let _ = self.journal.mark_clean().await;
        } else {
            self.reporter.say(&format!(
                "cleanup incomplete: see the journal {} and run `amibake sweep`",
                self.journal.path().display()
            ));
        }
        clean
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
            if let Err(e) = done {
                self.reporter.say(&format!("{id} did not terminate: {e}"));
                all = false;
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
