//! The aws-smithy-mocks world of the promote tests: SSM holding the channel (validating
//! an `aws:ec2:image` value late, or as a plain store), EC2 holding the image, and the
//! recipe and manifest a promote starts from.
#![allow(dead_code)] // each test module uses a different part

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use amibake::aws::Aws;
use amibake::report::Reporter;
use amibake::secret::Masker;
use aws_smithy_mocks::{MockResponse, Rule, mock};

use super::promotion::{self, Manifest};
use super::sdk::*;

pub const HOME: &str = "us-east-1";
pub const FAR: &str = "us-west-2";
pub const AMI: &str = "ami-0aaaaaaaaaaaaaaaa";
pub const OLD: &str = "ami-0bbbbbbbbbbbbbbbb";
pub const COPY: &str = "ami-0cccccccccccccccc";
pub const RECIPE: &str = "web";
pub const PARAM: &str = "/amibake/web/dev";

/// The SSM side: the parameter holds OLD at version 3; PutParameter answers version 4,
/// which GetParameter shows only after `shows_after` more reads (never when `None`).
pub struct Ssm {
    pub get: Rule,
    pub put: Rule,
    pub tag: Rule,
}

/// GetParameter's answer: the `aws:ec2:image` parameter `name` at `version`.
fn image_parameter(
    name: &str,
    value: &str,
    version: i64,
) -> aws_sdk_ssm::operation::get_parameter::GetParameterOutput {
    aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
        .parameter(
            aws_sdk_ssm::types::Parameter::builder()
                .name(name)
                .value(value)
                .version(version)
                .data_type("aws:ec2:image")
                .build(),
        )
        .build()
}

pub fn ssm_rules(shows_after: Option<i64>) -> Ssm {
    let reads_since_put = Arc::new(AtomicI64::new(-1));
    let r = reads_since_put.clone();
    let get = mock!(aws_sdk_ssm::Client::get_parameter).then_compute_output(move |_| {
        let n = r.load(Ordering::SeqCst);
        let visible = n >= 0 && shows_after.is_some_and(|after| n >= after);
        if n >= 0 {
            r.fetch_add(1, Ordering::SeqCst);
        }
        let (value, version) = if visible { (AMI, 4) } else { (OLD, 3) };
        image_parameter(PARAM, value, version)
    });
    let r = reads_since_put;
    let put = mock!(aws_sdk_ssm::Client::put_parameter)
        .match_requests(|req| {
            req.name() == Some(PARAM)
                && req.value() == Some(AMI)
                && req.data_type() == Some("aws:ec2:image")
                && req.overwrite() == Some(true)
                && req
                    .description()
                    .is_some_and(|d| d.contains("from run run-1"))
        })
        .then_compute_output(move |_| {
            r.store(0, Ordering::SeqCst);
            aws_sdk_ssm::operation::put_parameter::PutParameterOutput::builder()
                .version(4)
                .build()
        });
    let tag = mock!(aws_sdk_ssm::Client::add_tags_to_resource)
        .match_requests(|req| {
            req.resource_id() == Some(PARAM)
                && req
                    .tags()
                    .iter()
                    .any(|t| t.key() == "amibake:env" && t.value() == "dev")
        })
        .then_output(|| {
            aws_sdk_ssm::operation::add_tags_to_resource::AddTagsToResourceOutput::builder().build()
        });
    Ssm { get, put, tag }
}

/// EC2: AMI exists at home; nothing is tagged as a copy; CopyImage fails.
pub struct Ec2 {
    pub describe: Rule,
    pub copy: Rule,
}

pub fn ec2_rules() -> Ec2 {
    let describe = mock!(aws_sdk_ec2::Client::describe_images).then_compute_output(|req| {
        let out = aws_sdk_ec2::operation::describe_images::DescribeImagesOutput::builder();
        if asked_for(req) == Some(AMI) {
            out.images(available(AMI)).build()
        } else {
            out.build()
        }
    });
    let copy = mock!(aws_sdk_ec2::Client::copy_image).then_error(|| {
        aws_sdk_ec2::operation::copy_image::CopyImageError::generic(meta(
            "InvalidRequest",
            "the destination region is not enabled for this account",
        ))
    });
    Ec2 { describe, copy }
}

pub fn aws(ssm: &Ssm, ec2: &Ec2) -> Aws {
    clients(&[&ssm.get, &ssm.put, &ssm.tag], &[&ec2.describe, &ec2.copy])
}

/// Clients of both regions that answer with these rules.
pub fn clients(ssm_rules: &[&Rule], ec2_rules: &[&Rule]) -> Aws {
    let ec2 = |r: &str| {
        (
            r.to_string(),
            mock_client!(aws_sdk_ec2, r, ec2_rules.iter().copied()),
        )
    };
    let ssm = |r: &str| {
        (
            r.to_string(),
            mock_client!(aws_sdk_ssm, r, ssm_rules.iter().copied()),
        )
    };
    Aws::from_clients(HOME, [HOME, FAR].map(ec2), [HOME, FAR].map(ssm))
}

/// A recipe with `promotion: [dev, prod]` and a manifest of AMI in HOME.
pub fn files(dir: &Path) -> PathBuf {
    let recipe = promotion::write_recipe(
        dir,
        RECIPE,
        "{ ami: ami-0123456789abcdef0 }",
        "web-{{ timestamp }}",
        "[dev, prod]",
    );
    let manifest = Manifest {
        recipe: RECIPE,
        recipe_file: &recipe,
        run_id: "run-1",
        region: HOME,
        ami: AMI,
        name: "web-1",
    };
    manifest.write(dir.join("m.json"))
}

pub fn reporter() -> Reporter {
    Reporter::memory(Masker::default())
}

/// SSM as a store: GetParameter answers what PutParameter wrote (ParameterNotFound
/// before), at once; `seed` holds parameters that exist already (value, version 1).
pub fn ssm_store(seed: &[(&str, &str)]) -> Ssm {
    type Store = Arc<Mutex<HashMap<String, (String, i64)>>>;
    let store: Store = Arc::new(Mutex::new(
        seed.iter()
            .map(|(k, v)| (k.to_string(), (v.to_string(), 1)))
            .collect(),
    ));
    let s = store.clone();
    let get = mock!(aws_sdk_ssm::Client::get_parameter).then_compute_response(move |req| {
        let name = req.name().unwrap_or_default();
        match s.lock().unwrap().get(name) {
            Some((value, version)) => MockResponse::Output(image_parameter(name, value, *version)),
            None => MockResponse::Error(
                aws_sdk_ssm::operation::get_parameter::GetParameterError::generic(meta(
                    "ParameterNotFound",
                    name,
                )),
            ),
        }
    });
    let put = mock!(aws_sdk_ssm::Client::put_parameter).then_compute_output(move |req| {
        let mut store = store.lock().unwrap();
        let name = req.name().unwrap_or_default().to_string();
        let version = store.get(&name).map_or(1, |(_, v)| v + 1);
        let value = req.value().unwrap_or_default().to_string();
        store.insert(name, (value, version));
        aws_sdk_ssm::operation::put_parameter::PutParameterOutput::builder()
            .version(version)
            .build()
    });
    let tag = mock!(aws_sdk_ssm::Client::add_tags_to_resource).then_output(|| {
        aws_sdk_ssm::operation::add_tags_to_resource::AddTagsToResourceOutput::builder().build()
    });
    Ssm { get, put, tag }
}

/// An available image with this id, this account's complete bake of RECIPE.
pub fn available(id: &str) -> aws_sdk_ec2::types::Image {
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    aws_sdk_ec2::types::Image::builder()
        .image_id(id)
        .name("web-1")
        .state(aws_sdk_ec2::types::ImageState::Available)
        .tags(tag("amibake:created-by", "amibake"))
        .tags(tag("amibake:recipe", RECIPE))
        .tags(tag("amibake:complete", "true"))
        .build()
}

/// The image id a DescribeImages asks for: by ImageIds, or (the guard's Owners=self
/// call) by an `image-id` filter.
pub fn asked_for(
    req: &aws_sdk_ec2::operation::describe_images::DescribeImagesInput,
) -> Option<&str> {
    req.image_ids().first().map(String::as_str).or_else(|| {
        req.filters()
            .iter()
            .find(|f| f.name() == Some("image-id"))
            .and_then(|f| f.values().first())
            .map(String::as_str)
    })
}
