//! The fleet report's wrappers against aws-smithy-mocks clients: the own-image catalog
//! (every page, disabled images asked for, cut at MAX_IMAGES saying more were left),
//! usage reports (ids in calls of at most 200, cut at MAX_USAGE_REPORTS) and their entries
//! (every page, cut at MAX_USAGE_ENTRIES), and DescribeImageReferences in batches too.

use crate::support::sdk;

use amibake::aws::ec2::{
    IDS_PER_CALL, MAX_IMAGES, MAX_USAGE_ENTRIES, MAX_USAGE_REPORTS, image_references,
    image_usage_entries, image_usage_reports, own_images_listed,
};
use aws_sdk_ec2::operation::describe_image_references::DescribeImageReferencesOutput;
use aws_sdk_ec2::operation::describe_image_usage_report_entries::DescribeImageUsageReportEntriesOutput;
use aws_sdk_ec2::operation::describe_image_usage_reports::DescribeImageUsageReportsOutput;
use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::types::{Image, ImageUsageReport, ImageUsageReportEntry};
use aws_smithy_mocks::mock;
use sdk::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn entries(first: usize, n: usize, next: Option<String>) -> DescribeImageUsageReportEntriesOutput {
    DescribeImageUsageReportEntriesOutput::builder()
        .set_image_usage_report_entries(Some(
            (first..first + n)
                .map(|i| {
                    ImageUsageReportEntry::builder()
                        .account_id(format!("{i:012}"))
                        .resource_type("ec2:Instance")
                        .usage_count(1)
                        .report_id("amiur-1")
                        .image_id("ami-1")
                        .build()
                })
                .collect(),
        ))
        .set_next_token(next)
        .build()
}

#[tokio::test(start_paused = true)]
async fn every_page_of_entries_is_read_and_an_endless_answer_is_cut() {
    let pages = mock!(aws_sdk_ec2::Client::describe_image_usage_report_entries)
        .match_requests(|r| r.report_ids() == ["amiur-1"])
        .sequence()
        .output(|| entries(0, 2, Some("more".into())))
        .output(|| entries(2, 1, None))
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&pages]);
    let found = image_usage_entries(&ec2, &["amiur-1".to_string()])
        .await
        .unwrap();
    let accounts: Vec<&str> = found.iter().map(|e| e.account_id.as_str()).collect();
    assert_eq!(accounts, ["000000000000", "000000000001", "000000000002"]);
    assert_eq!(pages.num_calls(), 2);

    let served = Arc::new(AtomicUsize::new(0));
    let endless = mock!(aws_sdk_ec2::Client::describe_image_usage_report_entries)
        .sequence()
        .output(move || {
            let n = served.fetch_add(1, Ordering::SeqCst);
            entries(n * 1000, 1000, Some(format!("page-{}", n + 1)))
        })
        .repeatedly()
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&endless]);
    let found = image_usage_entries(&ec2, &["amiur-1".to_string()])
        .await
        .unwrap();
    assert_eq!(found.len(), MAX_USAGE_ENTRIES);
    assert_eq!(endless.num_calls(), MAX_USAGE_ENTRIES / 1000);
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("ami-{i:017}")).collect()
}

#[tokio::test(start_paused = true)]
async fn entries_are_asked_for_200_reports_at_a_time() {
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let pages = mock!(aws_sdk_ec2::Client::describe_image_usage_report_entries)
        .match_requests(move |r| {
            seen.lock().unwrap().push(r.report_ids().len());
            true
        })
        .then_output(|| entries(0, 1, None));
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&pages]);
    let reports: Vec<String> = (0..250).map(|i| format!("amiur-{i}")).collect();
    let found = image_usage_entries(&ec2, &reports).await.unwrap();
    assert_eq!(found.len(), 2, "one entry per call");
    assert_eq!(found[0].report_id, "amiur-1");
    assert_eq!(*asked.lock().unwrap(), [IDS_PER_CALL, 50]);
}

#[tokio::test(start_paused = true)]
async fn usage_reports_are_asked_for_200_images_at_a_time_and_bounded() {
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let reports = mock!(aws_sdk_ec2::Client::describe_image_usage_reports)
        .match_requests(move |r| {
            seen.lock().unwrap().push(r.image_ids().len());
            r.filters()
                .iter()
                .any(|f| f.name() == Some("state") && f.values() == ["available"])
        })
        .then_output(|| {
            DescribeImageUsageReportsOutput::builder()
                .image_usage_reports(
                    ImageUsageReport::builder()
                        .report_id("amiur-1")
                        .image_id("ami-00000000000000000")
                        .state("available")
                        .build(),
                )
                .build()
        });
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&reports]);
    let found = image_usage_reports(&ec2, &ids(450), true).await.unwrap();
    assert_eq!(found.len(), 3, "one report per call");
    assert_eq!(*asked.lock().unwrap(), [IDS_PER_CALL, IDS_PER_CALL, 50]);

    let served = Arc::new(AtomicUsize::new(0));
    let endless = mock!(aws_sdk_ec2::Client::describe_image_usage_reports)
        .sequence()
        .output(move || {
            let n = served.fetch_add(1, Ordering::SeqCst);
            DescribeImageUsageReportsOutput::builder()
                .set_image_usage_reports(Some(
                    (0..100)
                        .map(|i| {
                            ImageUsageReport::builder()
                                .report_id(format!("amiur-{n}-{i}"))
                                .build()
                        })
                        .collect(),
                ))
                .next_token(format!("page-{}", n + 1))
                .build()
        })
        .repeatedly()
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&endless]);
    let found = image_usage_reports(&ec2, &ids(1), false).await.unwrap();
    assert_eq!(found.len(), MAX_USAGE_REPORTS);
    assert_eq!(endless.num_calls(), MAX_USAGE_REPORTS / 100);
}

#[tokio::test(start_paused = true)]
async fn references_are_asked_for_200_images_at_a_time() {
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let refs = mock!(aws_sdk_ec2::Client::describe_image_references)
        .match_requests(move |r| {
            seen.lock().unwrap().push(r.image_ids().len());
            true
        })
        .then_output(|| DescribeImageReferencesOutput::builder().build());
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&refs]);
    assert!(
        image_references(&ec2, &ids(401), &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(*asked.lock().unwrap(), [200, 200, 1]);
}

fn images(first: usize, n: usize, next: Option<String>) -> DescribeImagesOutput {
    DescribeImagesOutput::builder()
        .set_images(Some(
            (first..first + n)
                .map(|i| {
                    Image::builder()
                        .image_id(format!("ami-{i:017}"))
                        .deprecation_time("2027-01-01T00:00:00.000Z")
                        .build()
                })
                .collect(),
        ))
        .set_next_token(next)
        .build()
}

#[tokio::test(start_paused = true)]
async fn the_catalog_reads_every_page_with_disabled_images_and_says_when_it_stops() {
    let pages = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| {
            r.owners() == ["self"]
                && r.include_disabled() == Some(true)
                && r.filters()
                    .iter()
                    .any(|f| f.name() == Some("tag:amibake:recipe"))
        })
        .sequence()
        .output(|| images(0, 2, Some("more".into())))
        .output(|| images(2, 1, None))
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&pages]);
    let (found, more) = own_images_listed(&ec2, &[("amibake:recipe", "web")])
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert!(!more);
    assert_eq!(
        found[2].deprecation_time.as_deref(),
        Some("2027-01-01T00:00:00.000Z")
    );
    assert_eq!(pages.num_calls(), 2);

    let served = Arc::new(AtomicUsize::new(0));
    let endless = mock!(aws_sdk_ec2::Client::describe_images)
        .sequence()
        .output(move || {
            let n = served.fetch_add(1, Ordering::SeqCst);
            images(n * 1000, 1000, Some(format!("page-{}", n + 1)))
        })
        .repeatedly()
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, "us-east-1", [&endless]);
    let (found, more) = own_images_listed(&ec2, &[]).await.unwrap();
    assert_eq!(found.len(), MAX_IMAGES);
    assert!(more, "the listing says it stopped at its bound");
    assert_eq!(endless.num_calls(), MAX_IMAGES / 1000);
}
