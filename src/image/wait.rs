//! Waiting until an image (or a copy) is available.

use std::time::Duration;

use aws_sdk_ec2::Client;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::history::History;
use crate::aws::poll::{self, PollError, Schedule};

use super::ImageState;

/// How a wait polls.
#[derive(Debug, Clone, Copy)]
pub enum Polling<'a> {
    /// On this schedule.
    Schedule(Schedule),
    /// Paced by what the same kind of wait (`key`) took before, and remembered.
    Learned {
        schedule: Schedule,
        history: &'a History,
        key: &'a str,
    },
}

/// Why an image did not become available.
#[derive(Debug)]
pub enum NotAvailable {
    /// The wait ended first: it timed out, or a call failed.
    Wait(PollError),
    /// The image settled in another state (`failed`, `error`), for this reason.
    Failed {
        state: ImageState,
        reason: Option<String>,
    },
}

/// Waits until the image `id` is available, or fails.
pub async fn wait_available(
    ec2: &Client,
    id: &str,
    polling: Polling<'_>,
    timeout: Duration,
) -> Result<ImageInfo, NotAvailable> {
    let settled = || async {
        Ok(ec2::describe_image(ec2, id)
            .await?
            .filter(|i| i.state.is_settled()))
    };
    let image = match polling {
        Polling::Schedule(schedule) => poll::until(schedule, timeout, settled).await,
        Polling::Learned {
            schedule,
            history,
            key,
        } => poll::until_learned(schedule, history, key, None, timeout, settled).await,
    }
    .map_err(NotAvailable::Wait)?;
    if !image.state.is_available() {
        return Err(NotAvailable::Failed {
            state: image.state,
            reason: image.state_reason,
        });
    }
    Ok(image)
}
