//! The image: create and wait, copies to other regions, the completion tag and sharing.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::aws::acting::acting;
use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, Schedule};
use crate::manifest::AmiEntry;
use crate::tags;

use super::{Bake, BakeError, Made};
use crate::error::FromAws;
use crate::image::ResourceKind;
use crate::image::{self, NotAvailable, Polling};
use crate::recipe::types::Region;

impl Bake<'_> {
    /// Stops the builder and waits until it is stopped: the image is made of a quiet disk.
    pub(super) async fn stop_builder(
        &self,
        builder: &str,
        timeout: Duration,
    ) -> Result<(), BakeError> {
        let ec2 = self.ec2(self.region())?;
        poll::retry(|| ec2::stop_instance(&ec2, builder))
            .await
            .map_err(BakeError::aws("image"))?;
        let key = format!("stop:{}:{}", self.region(), self.plan.builder.instance_type);
        poll::until_learned(
            self.schedule(Schedule::INSTANCE),
            &self.options.history,
            &key,
            None,
            timeout,
            || async {
                Ok(ec2::instance_state(&ec2, builder)
                    .await?
                    .filter(|s| s == "stopped")
                    .map(|_| ()))
            },
        )
        .await
        .map_err(|e| self.poll_error("image", e, format!("builder {builder} did not stop")))?;
        Ok(())
    }

    /// Creates the image of the stopped builder and waits until it is available.
    pub(super) async fn create_image(
        &self,
        builder: &str,
        source: &ImageInfo,
        input_hash: &str,
        timeout: Duration,
    ) -> Result<ImageInfo, BakeError> {
        let ec2 = self.ec2(self.region())?;
        let img = &self.plan.image;
        let mut tags = crate::lease::stamped(&img.tags);
        tags.insert(tags::INPUT_HASH.into(), input_hash.to_string());
        tags.insert(tags::SOURCE_AMI.into(), source.id.clone());
        self.note(
            "intent",
            ResourceKind::Image,
            self.region(),
            None,
            Some(&img.name),
        )
        .await?;
        let id =
            poll::retry(|| ec2::create_image(&ec2, builder, &img.name, &img.description, &tags))
                .await;
        let id = self
            .settle(ResourceKind::Image, self.region(), &img.name, id)
            .await?
            .map_err(|e| match e.code() {
                Some("InvalidAMIName.Duplicate") => BakeError::Input(format!(
                    "image: an AMI named {} already exists in {}: make image.name unique (e.g. add {{{{ timestamp }}}})",
                    img.name,
                    self.region()
                )),
                _ => BakeError::Aws { phase: "image", source: e },
            })?;
        let (made, name) = (Made::Image, Some(img.name.clone()));
        self.record(made, self.region(), &id, Some(&img.name), name)
            .await?;
        let key = format!(
            "image:{}:{}",
            self.region(),
            self.plan.builder.volume_size_gb
        );
        self.wait_image(self.region(), &id, &key, timeout).await
    }

    /// Sets the image's deprecation time, `after` from now.
    pub(super) async fn deprecate(&self, id: &str, after: Duration) -> Result<(), BakeError> {
        let ec2 = self.ec2(self.region())?;
        let at = image::deprecate_at(SystemTime::now(), after).map_err(BakeError::aws("image"))?;
        poll::retry(|| ec2::deprecate_image(&ec2, id, at))
            .await
            .map_err(BakeError::aws("image"))
    }

    /// Waits until an image (or a copy) is available; `key` names the kind of wait.
    pub(super) async fn wait_image(
        &self,
        region: &str,
        id: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<ImageInfo, BakeError> {
        let ec2 = self.ec2(region)?;
        let polling = Polling::Learned {
            schedule: self.schedule(Schedule::IMAGE),
            history: &self.options.history,
            key,
        };
        image::wait_available(&ec2, id, polling, timeout)
            .await
            .map_err(|e| match e {
                NotAvailable::Wait(e) => self.poll_error(
                    "image",
                    e,
                    format!("image {id} in {region} did not become available"),
                ),
                NotAvailable::Failed { state, reason } => BakeError::ImageFailed {
                    region: region.to_string(),
                    id: id.to_string(),
                    reason: reason.unwrap_or_else(|| state.to_string()),
                },
            })
    }

    /// Copies the image to every `copy_to` region, the waits in parallel (the rate limiter
    /// paces CopyImage to its bucket). Every region is reported; any failure fails the bake
    /// after all have finished. Each copy's requests name its plan action (the third
    /// element, [`crate::aws::acting`]), though the copies run together.
    pub(super) async fn copy_all(
        &self,
        image: &ImageInfo,
        copies: &[(Region, Duration, String)],
    ) -> Result<Vec<AmiEntry>, BakeError> {
        let targets: Vec<(String, Duration)> =
            copies.iter().map(|(r, t, _)| (r.to_string(), *t)).collect();
        // Every target is one of `copies`: the id is always found.
        let action = |region: &str| {
            let copy = copies.iter().find(|(r, _, _)| r.as_str() == region);
            copy.map(|(_, _, id)| id.clone()).unwrap_or_default()
        };
        image::copy_all(
            &targets,
            Duration::ZERO,
            self.reporter,
            async |region| acting(action(region), self.start_copy(image, region)).await,
            async |region, id, timeout| {
                acting(action(region), self.finish_copy(region, id, timeout)).await
            },
        )
        .await
        .map_err(BakeError::CopiesFailed)
    }

    /// Starts the copy into `region` (journaled first, recorded and reported once made).
    pub(super) async fn start_copy(
        &self,
        image: &ImageInfo,
        region: &str,
    ) -> Result<String, BakeError> {
        let dest = self.ec2(region)?;
        let img = &self.plan.image;
        let copy = ec2::Copy {
            source_region: self.region().to_string(),
            source_image_id: image.id.clone(),
            name: img.name.clone(),
            description: img.description.clone(),
            encrypted: img.encrypted,
            kms_key_id: img.kms_key_id.clone(),
            tags: crate::lease::stamped(&image.tags),
            client_token: format!("{}-copy-{region}", self.plan.run_id),
        };
        self.note(
            "intent",
            ResourceKind::Image,
            region,
            None,
            Some(&copy.client_token),
        )
        .await?;
        let id = poll::retry(|| ec2::copy_image(&dest, &copy)).await;
        let token = &copy.client_token;
        let id = self
            .settle(ResourceKind::Image, region, token, id)
            .await?
            .map_err(BakeError::aws("copy"))?;
        self.record(Made::Copy, region, &id, Some(token), None)
            .await?;
        Ok(id)
    }

    /// Waits for a copy, then deprecates it as the recipe says.
    pub(super) async fn finish_copy(
        &self,
        region: &str,
        id: &str,
        timeout: Duration,
    ) -> Result<AmiEntry, BakeError> {
        let key = format!(
            "copy:{}:{region}:{}",
            self.region(),
            self.plan.builder.volume_size_gb
        );
        let copy = self.wait_image(region, id, &key, timeout).await?;
        if let Some(after) = self.plan.image.deprecate_after {
            let dest = self.ec2(region)?;
            let at = image::deprecate_at(SystemTime::now(), after.get())
                .map_err(BakeError::aws("copy"))?;
            poll::retry(|| ec2::deprecate_image(&dest, id, at))
                .await
                .map_err(BakeError::aws("copy"))?;
        }
        Ok(image::ami_entry(region, &copy))
    }

    /// Tags every AMI of the bake `amibake:complete=true`: from now on it is a product,
    /// not debris of an interrupted run, and `sweep` leaves it alone. Only that key:
    /// `amibake:created-by` is set at creation, and the IAM policy denies it afterwards.
    pub(super) async fn mark_complete(
        &self,
        amis: &[AmiEntry],
        scan: Option<&crate::scan::ScanSummary>,
    ) -> Result<(), BakeError> {
        let mut tags = BTreeMap::from([(tags::COMPLETE.to_string(), "true".to_string())]);
        // The scan's summary rides on the same request: one CreateTags of amibake's own
        // keys on its own images, as the IAM policy allows after creation.
        if let Some(scan) = scan {
            tags.insert(tags::SCAN.to_string(), scan.tag_value());
        }
        let tag_one = |ami: &AmiEntry| {
            let tags = &tags;
            let mut resources = vec![ami.ami_id.clone()];
            resources.extend(ami.snapshot_ids.iter().cloned());
            let ec2 = self.ec2(&ami.region);
            async move {
                let ec2 = ec2?;
                poll::retry(|| ec2::create_tags(&ec2, &resources, tags))
                    .await
                    .map_err(BakeError::aws("image"))
            }
        };
        // One region does not wait for another.
        futures_util::future::try_join_all(amis.iter().map(tag_one)).await?;
        Ok(())
    }

    /// Shares every AMI of the bake as the recipe says (after the boot test passed).
    pub(super) async fn share_all(&self, amis: &[AmiEntry]) -> Result<(), BakeError> {
        let img = &self.plan.image;
        let sharing = ec2::Sharing {
            accounts: img.share_accounts.iter().map(|a| a.to_string()).collect(),
            organizations: img.share_organizations.clone(),
            organizational_units: img.share_organizational_units.clone(),
        };
        image::share_all(&self.aws, amis, &sharing, false, self.reporter)
            .await
            .map_err(BakeError::aws("share"))
    }
}
