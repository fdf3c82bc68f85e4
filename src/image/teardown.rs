//! Removing what a run made: instances (terminated, and waited out), the temporary
//! security group, images with their snapshots, stray snapshots. A bake's cleanup and
//! `sweep` remove through these; `prune` deregisters through them too.

use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::Client;

use crate::aws::AwsError;
use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, PollError, Schedule};

use super::describe;

/// How long an instance may take to terminate.
const TERMINATE: Duration = Duration::from_secs(10 * 60);

/// A delete AWS refuses for a while because something still holds the resource: the
/// error code that says so, the call, and how long that is waited out.
struct Held {
    code: &'static str,
    action: &'static str,
    timeout: Duration,
}

/// A security group the network interface of a just-terminated instance still holds.
const GROUP_HELD: Held = Held {
    code: "DependencyViolation",
    action: crate::aws::calls::EC2_DELETE_SECURITY_GROUP,
    timeout: Duration::from_secs(5 * 60),
};

/// A snapshot its just-deregistered image still holds.
const SNAPSHOT_HELD: Held = Held {
    code: "InvalidSnapshot.InUse",
    action: crate::aws::calls::EC2_DELETE_SNAPSHOT,
    timeout: Duration::from_secs(2 * 60),
};

impl Held {
    /// Repeats `delete` while the resource (`what`) is held.
    async fn wait_out<F, Fut>(
        &self,
        schedule: Schedule,
        what: &str,
        delete: F,
    ) -> Result<(), AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), AwsError>>,
    {
        poll::while_in_use(schedule, self.timeout, self.code, self.action, what, delete).await
    }
}

/// Removals in one region, polling on one schedule.
#[derive(Clone, Copy)]
pub struct Teardown<'a> {
    ec2: &'a Client,
    schedule: Schedule,
}

impl<'a> Teardown<'a> {
    /// Removals through `ec2`, waits polled on `schedule`.
    pub fn new(ec2: &'a Client, schedule: Schedule) -> Teardown<'a> {
        Teardown { ec2, schedule }
    }

    /// Asks EC2 to terminate an instance; one already gone counts.
    pub async fn terminate(&self, id: &str) -> Result<(), AwsError> {
        poll::retry(|| ec2::terminate_instance(self.ec2, id)).await
    }

    /// Waits until an instance is terminated, or EC2 no longer knows it.
    pub async fn wait_terminated(&self, id: &str) -> Result<(), PollError> {
        poll::until(self.schedule, TERMINATE, || async {
            Ok(match ec2::instance_state(self.ec2, id).await {
                Ok(Some(s)) if s == "terminated" => Some(()),
                Ok(None) => Some(()),
                Err(e) if e.code() == Some("InvalidInstanceID.NotFound") => Some(()),
                Ok(_) => None,
                Err(e) => return Err(e),
            })
        })
        .await
    }

    /// Deletes a security group, waiting while the network interface of a just-terminated
    /// instance still holds it.
    pub async fn delete_security_group(&self, id: &str) -> Result<(), AwsError> {
        let what = format!("security group {id}");
        let delete = || ec2::delete_security_group(self.ec2, id);
        GROUP_HELD.wait_out(self.schedule, &what, delete).await
    }

    /// Deregisters an image and deletes its snapshots. Just after deregistration a
    /// snapshot can still count as in use for a moment: that is waited out.
    pub async fn deregister_image(&self, image: &ImageInfo) -> Result<(), AwsError> {
        let what = format!("a snapshot of {}", image.id);
        let delete = || ec2::delete_image(self.ec2, image);
        SNAPSHOT_HELD.wait_out(self.schedule, &what, delete).await
    }

    /// Deregisters the image `id` with its snapshots; `false` when it was already gone.
    pub async fn deregister(&self, id: &str) -> Result<bool, AwsError> {
        let Some(image) = describe(self.ec2, id).await? else {
            return Ok(false);
        };
        self.deregister_image(&image).await?;
        Ok(true)
    }

    /// Deletes a snapshot; one already gone counts.
    pub async fn delete_snapshot(&self, id: &str) -> Result<(), AwsError> {
        poll::retry(|| ec2::delete_snapshot(self.ec2, id)).await
    }
}
