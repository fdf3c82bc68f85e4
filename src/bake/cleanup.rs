//! Teardown on every path: what the outcome calls for is removed, and a run reports whether it
//! left anything behind.

use std::time::Duration;

use serde_json::json;

use crate::aws::ec2;
use crate::aws::poll::{self, Schedule};

use super::{Bake, OnError};

impl Bake<'_> {
    /// Terminates one instance now (best effort; cleanup retries what is left).
    pub(super) async fn terminate(&self, region: &str, id: &str) {
        let Ok(ec2) = self.ec2(region) else { return };
        match poll::retry(|| ec2::terminate_instance(&ec2, id)).await {
            Ok(()) => {
                self.reporter.event(
                    "resource",
                    json!({ "kind": "instance", "id": id, "state": "terminating" }),
                    &format!("terminating {id}"),
                );
                let _ = self
                    .note("deleted", "instance", region, Some(id), None)
                    .await;
                let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
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
    /// Removes what the outcome calls for. After success: the builder and the temporary
    /// security group. After a failure: every instance and image of the run too — unless
    /// `--on-error keep`, which leaves them and says how to get in. Returns whether the
    /// run left nothing behind that it should not have.
    pub async fn cleanup(&self, failed: bool) -> bool {
        let keep = failed && self.options.on_error == OnError::Keep;
        let (instances, images) = {
            let c = self.created.lock().unwrap_or_else(|e| e.into_inner());
            (c.instances.clone(), c.images.clone())
        };
        if keep {
            for (region, id, role) in &instances {
                let _ = self.note("kept", "instance", region, Some(id), None).await;
                self.reporter.say(&format!(
                    "kept the {role} instance {id}; open a shell with: aws ssm start-session --target {id} --region {region}"
                ));
            }
            for (region, id) in &images {
                let _ = self.note("kept", "image", region, Some(id), None).await;
                self.reporter.say(&format!("kept image {id} in {region}"));
            }
            self.reporter
                .say("--on-error keep: nothing was cleaned up; `amibake sweep` removes it later");
            return false;
        }

        let mut clean = true;
        for (region, id, _) in &instances {
            self.terminate(region, id).await;
        }
        if failed {
            for (region, id) in &images {
                clean &= self.delete_image(region, id).await;
            }
        }
        let sg = self
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .security_group
            .clone();
        match sg {
            // The group cannot go while an instance's network interface holds it: deleting
            // it waits out the terminations, and its deletion proves them.
            Some((region, id)) => {
                let deleted = self.delete_security_group(&region, &id).await;
                if deleted {
                    self.created
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .terminating
                        .clear();
                } else {
                    // Still wait for (and report) the instances themselves.
                    self.wait_terminated().await;
                    clean = false;
                }
            }
            None => clean &= self.wait_terminated().await,
        }
        let still_running = !self
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .instances
            .is_empty();
        clean &= !still_running;
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

    pub(super) async fn delete_image(&self, region: &str, id: &str) -> bool {
        let Ok(ec2) = self.ec2(region) else {
            return false;
        };
        let info = match poll::retry(|| ec2::describe_image(&ec2, id)).await {
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
        match poll::retry(|| ec2::delete_image(&ec2, &info)).await {
            Ok(()) => {
                let _ = self.note("deleted", "image", region, Some(id), None).await;
                self.reporter.event(
                    "resource",
                    json!({ "kind": "image", "id": id, "region": region, "state": "deregistered" }),
                    &format!("deregistered {id} in {region} and deleted its snapshots"),
                );
                self.created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .images
                    .retain(|(_, i)| i != id);
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
        let terminating = self
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .terminating
            .clone();
        let mut all = true;
        for (region, id) in terminating {
            let Ok(ec2) = self.ec2(&region) else {
                return false;
            };
            self.reporter
                .spin("cleanup", &format!("waiting for {id} to terminate"));
            let done = poll::until(
                self.schedule(Schedule::INSTANCE),
                Duration::from_secs(10 * 60),
                || async {
                    Ok(match ec2::instance_state(&ec2, &id).await {
                        Ok(Some(s)) if s == "terminated" => Some(()),
                        Ok(None) => Some(()),
                        Err(e) if e.code() == Some("InvalidInstanceID.NotFound") => Some(()),
                        Ok(_) => None,
                        Err(e) => return Err(e),
                    })
                },
            )
            .await;
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
        let result = poll::while_in_use(
            self.schedule(Schedule::INSTANCE),
            Duration::from_secs(5 * 60),
            "DependencyViolation",
            "ec2:DeleteSecurityGroup",
            &format!("security group {id}"),
            || ec2::delete_security_group(&ec2, id),
        )
        .await;
        match result {
            Ok(()) => {
                let _ = self
                    .note("deleted", "security_group", region, Some(id), None)
                    .await;
                self.reporter.event(
                    "resource",
                    json!({ "kind": "security_group", "id": id, "state": "deleted" }),
                    &format!("deleted security group {id}"),
                );
                self.created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .security_group = None;
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
