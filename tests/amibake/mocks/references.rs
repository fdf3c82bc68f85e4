//! The image-reference and image-state wrappers against aws-smithy-mocks clients: every
//! page of DescribeImageReferences is read, an answer that never ends is cut at
//! MAX_REFERENCES, and a refused DisableImage carries its call's name.

use crate::support::sdk;

use amibake::aws::ec2::{MAX_REFERENCES, image_references};
use aws_sdk_ec2::operation::describe_image_references::DescribeImageReferencesOutput;
use aws_sdk_ec2::types::{ImageReference, ImageReferenceResourceType};
use aws_smithy_mocks::mock;
use sdk::*;

fn page(n: usize, first: usize, next: Option<&str>) -> DescribeImageReferencesOutput {
    let refs = (first..first + n).map(|i| {
        ImageReference::builder()
            .image_id("ami-1")
            .resource_type(ImageReferenceResourceType::Ec2LaunchTemplate)
            .arn(format!(
                "arn:aws:ec2:us-east-1:123456789012:launch-template/lt-{i:05}"
            ))
            .build()
    });
    DescribeImageReferencesOutput::builder()
        .set_image_references(Some(refs.collect()))
        .set_next_token(next.map(str::to_string))
        .build()
}

#[tokio::test(start_paused = true)]
async fn every_page_of_references_is_read() {
    let pages = mock!(aws_sdk_ec2::Client::describe_image_references)
        .sequence()
        .output(|| page(2, 0, Some("more")))
        .output(|| page(1, 2, None))
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&pages]);

    let found = image_references(&ec2, &["ami-1".to_string()], &["ec2:LaunchTemplate"])
        .await
        .unwrap();

    let names: Vec<String> = found.iter().map(|r| r.resource_name()).collect();
    assert_eq!(names, ["lt-00000", "lt-00001", "lt-00002"]);
    assert!(
        found
            .iter()
            .all(|r| r.resource_type == "ec2:LaunchTemplate")
    );
    assert_eq!(pages.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_never_ends_is_cut_at_the_bound() {
    // A new token each time (the SDK's paginator itself stops on a repeated one).
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let endless = mock!(aws_sdk_ec2::Client::describe_image_references)
        .sequence()
        .output(move || {
            let n = served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            page(1000, n * 1000, Some(&format!("page-{}", n + 1)))
        })
        .repeatedly()
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&endless]);

    let found = image_references(&ec2, &["ami-1".to_string()], &[])
        .await
        .unwrap();

    assert_eq!(found.len(), MAX_REFERENCES);
    assert_eq!(endless.num_calls(), MAX_REFERENCES / 1000);
}

#[tokio::test(start_paused = true)]
async fn no_image_asks_nothing() {
    let never = mock!(aws_sdk_ec2::Client::describe_image_references)
        .then_output(|| DescribeImageReferencesOutput::builder().build());
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&never]);
    assert!(image_references(&ec2, &[], &[]).await.unwrap().is_empty());
    assert_eq!(never.num_calls(), 0);
}
