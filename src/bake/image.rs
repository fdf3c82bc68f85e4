//! The image: create and wait, copies to other regions, the completion tag and sharing.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::poll::{self, Schedule};
use crate::manifest::AmiEntry;
use crate::tags;

use super::{Bake, BakeError, Made};
use crate::event::FromAws;
use crate::image::ImageEvent;
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
        let mut tags = img.tags.clone();
        tags.insert(tags::INPUT_HASH.into(), input_hash.to_string());
        tags.insert(tags::SOURCE_AMI.into(), source.id.clone());
        self.note("intent", "image", self.region(), None, Some(&img.name))
            .await?;
        let id = poll::retry(|| ec2::create_image(&ec2, builder, &img.name, &img.description, &tags))
            .await
            .map_err(|e| match e.code() {
                Some("InvalidAMIName.Duplicate") => BakeError::Input(format!(
                    "image: an AMI named {} already exists in {}: make image.name unique (e.g. add {{{{ timestamp }}}})",
                    img.name,
                    self.region()
                )),
                _ => BakeError::Aws { phase: "image", source: e },
            })?;
        let (made, name) = (Made::Image, Some(img.name.clone()));
        self.record(made, self.region(), &id, None, name).await?;
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
        let at = DateTime::from(SystemTime::now() + after);
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
        let image = poll::until_learned(
            self.schedule(Schedule::IMAGE),
            &self.options.history,
            key,
            None,
            timeout,
            || async {
                match ec2::describe_image(&ec2, id).await? {
                    Some(i)
                        if i.state == "available" || i.state == "failed" || i.state == "error" =>
                    {
                        Ok(Some(i))
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
        .map_err(|e| {
            self.poll_error(
                "image",
                e,
                format!("image {id} in {region} did not become available"),
            )
        })?;
        if image.state != "available" {
            return Err(BakeError::ImageFailed {
                region: region.to_string(),
                id: id.to_string(),
                reason: image
                    .state_reason
                    .clone()
                    .unwrap_or_else(|| image.state.clone()),
            });
        }
        Ok(image)
    }

    /// Copies the image to every `copy_to` region, the waits in parallel (the rate limiter
    /// paces CopyImage to its bucket). Every region is reported; any failure fails the bake
    /// after all have finished.
    pub(super) async fn copy_all(
        &self,
        image: &ImageInfo,
        copies: &[(Region, Duration)],
    ) -> Result<Vec<AmiEntry>, BakeError> {
        let mut waits = Vec::new();
        let mut failures = Vec::new();
        for (region, timeout) in copies {
            let (region, timeout) = (region.to_string(), *timeout);
            match self.start_copy(image, &region).await {
                Ok(id) => waits.push(async move {
                    let r = self.finish_copy(&region, &id, timeout).await;
                    (region, r)
                }),
                Err(e) => {
                    self.report_copy(&region, "failed", None, Some(&e.to_string()));
                    failures.push(format!("{region}: {e}"));
                }
            }
        }
        let mut entries = Vec::new();
        for (region, result) in futures_util::future::join_all(waits).await {
            match result {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    self.report_copy(&region, "failed", None, Some(&e.to_string()));
                    failures.push(format!("{region}: {e}"));
                }
            }
        }
        if failures.is_empty() {
            Ok(entries)
        } else {
            Err(BakeError::CopiesFailed(failures))
        }
    }

    pub(super) fn report_copy(
        &self,
        region: &str,
        state: &str,
        id: Option<&str>,
        error: Option<&str>,
    ) {
        self.reporter.emit(ImageEvent::Copy {
            region: region.to_string(),
            state: state.to_string(),
            ami_id: id.map(String::from),
            error: error.map(String::from),
        });
    }

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
            tags: image.tags.clone(),
            client_token: format!("{}-copy-{region}", self.plan.run_id),
        };
        self.note("intent", "image", region, None, Some(&copy.client_token))
            .await?;
        let id = poll::retry(|| ec2::copy_image(&dest, &copy))
            .await
            .map_err(BakeError::aws("copy"))?;
        self.record(Made::Copy, region, &id, None, None).await?;
        Ok(id)
    }

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
        let dest = self.ec2(region)?;
        if let Some(after) = self.plan.image.deprecate_after {
            let at = DateTime::from(SystemTime::now() + after.get());
            poll::retry(|| ec2::deprecate_image(&dest, id, at))
                .await
                .map_err(BakeError::aws("copy"))?;
        }
        self.report_copy(region, "available", Some(id), None);
        Ok(AmiEntry {
            region: region.to_string(),
            ami_id: id.to_string(),
            name: copy.name,
            snapshot_ids: copy.snapshot_ids,
        })
    }

    /// Tags every AMI of the bake `amibake:complete=true`: from now on it is a product,
    /// not debris of an interrupted run, and `sweep` leaves it alone.
    pub(super) async fn mark_complete(&self, amis: &[AmiEntry]) -> Result<(), BakeError> {
        let tags = BTreeMap::from([
            (
                tags::CREATED_BY.to_string(),
                tags::CREATED_BY_VALUE.to_string(),
            ),
            (tags::COMPLETE.to_string(), "true".to_string()),
        ]);
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
            public: img.public,
        };
        if sharing.accounts.is_empty()
            && sharing.organizations.is_empty()
            && sharing.organizational_units.is_empty()
            && !sharing.public
        {
            return Ok(());
        }
        for ami in amis {
            let ec2 = self.ec2(&ami.region)?;
            let info = ImageInfo {
                id: ami.ami_id.clone(),
                name: ami.name.clone(),
                state: "available".into(),
                state_reason: None,
                root_device_name: None,
                snapshot_ids: ami.snapshot_ids.clone(),
                creation_date: String::new(),
                tags: BTreeMap::new(),
            };
            poll::retry(|| ec2::share_image(&ec2, &info, &sharing))
                .await
                .map_err(BakeError::aws("share"))?;
            self.reporter.emit(ImageEvent::Share {
                region: ami.region.clone(),
                ami_id: ami.ami_id.clone(),
            });
        }
        Ok(())
    }
}
