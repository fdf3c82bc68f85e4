//! The preflight against aws-smithy-mocks clients: the answers the emulator does not give
//! (a key policy the caller may not read, a disabled key, a denied DescribeRegions, the
//! AWS managed key of a shared image), under paused tokio time.

use crate::support::sdk;

use amibake::aws::Aws;
use amibake::preflight::{Check, CheckState, Preflight, PreflightError, run};
use amibake::report::Reporter;
use amibake::secret::Masker;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType};
use aws_smithy_mocks::{Rule, mock};
use sdk::*;

const HOME: &str = "us-east-1";
const OTHER_ACCOUNT: &str = "111122223333";
const KEY: &str = "alias/golden";

fn key_check(key: Option<&str>, shared: bool) -> Check {
    Check::Key {
        region: HOME.into(),
        key: key.map(str::to_string),
        setting: "builder.kms_key_id",
        shared,
    }
}

fn preflight(checks: Vec<Check>, shared: bool) -> Preflight {
    Preflight {
        checks,
        share_accounts: if shared {
            vec![OTHER_ACCOUNT.into()]
        } else {
            vec![]
        },
        share_organizations: vec![],
        share_organizational_units: vec![],
    }
}

/// An AWS with EC2 and KMS clients in HOME answering from the rules.
fn aws(ec2_rules: &[&Rule], kms_rules: &[&Rule]) -> Aws {
    let ec2 = mock_client!(aws_sdk_ec2, HOME, ec2_rules.iter().copied());
    let kms = mock_client!(aws_sdk_kms, HOME, kms_rules.iter().copied());
    Aws::from_clients(HOME, [(HOME.to_string(), ec2)], []).with_kms(HOME, kms)
}

fn customer_key(state: KeyState) -> Rule {
    mock!(aws_sdk_kms::Client::describe_key).then_output(move || {
        aws_sdk_kms::operation::describe_key::DescribeKeyOutput::builder()
            .key_metadata(
                KeyMetadata::builder()
                    .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
                    .arn("arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab")
                    .key_state(state.clone())
                    .key_usage(KeyUsageType::EncryptDecrypt)
                    .key_spec(KeySpec::SymmetricDefault)
                    .key_manager(KeyManagerType::Customer)
                    .build()
                    .unwrap(),
            )
            .build()
    })
}

fn failures(result: Result<Vec<amibake::preflight::Finding>, PreflightError>) -> Vec<String> {
    match result {
        Err(PreflightError::Failed(found)) => found
            .iter()
            .map(|f| format!("{} | fix: {}", f.text, f.fix.clone().unwrap_or_default()))
            .collect(),
        other => panic!("expected failed checks, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_shared_image_under_the_aws_managed_key_fails_with_the_customer_key_fix() {
    let default_key = mock!(aws_sdk_ec2::Client::get_ebs_default_kms_key_id).then_output(|| {
        aws_sdk_ec2::operation::get_ebs_default_kms_key_id::GetEbsDefaultKmsKeyIdOutput::builder()
            .kms_key_id("alias/aws/ebs")
            .build()
    });
    let aws = aws(&[&default_key], &[]);
    let reporter = Reporter::memory(Masker::default());

    let found = failures(
        run(
            &aws,
            &preflight(vec![key_check(None, true)], true),
            &reporter,
        )
        .await,
    );

    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("aws/ebs"), "{found:?}");
    assert!(found[0].contains(OTHER_ACCOUNT), "{found:?}");
    assert!(found[0].contains("customer managed key"), "{found:?}");
}

#[tokio::test(start_paused = true)]
async fn a_disabled_key_fails_with_the_enable_key_fix() {
    let disabled = customer_key(KeyState::Disabled);
    let aws = aws(&[], &[&disabled]);
    let reporter = Reporter::memory(Masker::default());

    let found = failures(
        run(
            &aws,
            &preflight(vec![key_check(Some(KEY), false)], false),
            &reporter,
        )
        .await,
    );

    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("enable-key"), "{found:?}");
}

#[tokio::test(start_paused = true)]
async fn a_key_arn_of_another_region_fails_without_asking_kms() {
    let describe = customer_key(KeyState::Enabled);
    let aws = aws(&[], &[&describe]);
    let reporter = Reporter::memory(Masker::default());
    let arn = "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    let found = failures(
        run(
            &aws,
            &preflight(vec![key_check(Some(arn), false)], false),
            &reporter,
        )
        .await,
    );

    assert!(found[0].contains("eu-west-1"), "{found:?}");
    assert!(found[0].contains("regional"), "{found:?}");
    assert_eq!(describe.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_key_policy_the_caller_may_not_read_is_a_warning_and_the_preflight_passes() {
    let describe = customer_key(KeyState::Enabled);
    let policy = mock!(aws_sdk_kms::Client::get_key_policy).then_error(|| {
        aws_sdk_kms::operation::get_key_policy::GetKeyPolicyError::generic(meta(
            "AccessDeniedException",
            "not authorized to perform: kms:GetKeyPolicy",
        ))
    });
    let grants = mock!(aws_sdk_kms::Client::list_grants).then_error(|| {
        aws_sdk_kms::operation::list_grants::ListGrantsError::generic(meta(
            "AccessDeniedException",
            "not authorized to perform: kms:ListGrants",
        ))
    });
    let aws = aws(&[], &[&describe, &policy, &grants]);
    let reporter = Reporter::memory(Masker::default());

    let found = run(
        &aws,
        &preflight(vec![key_check(Some(KEY), true)], true),
        &reporter,
    )
    .await
    .expect("a policy amibake may not read does not stop the bake");

    assert_eq!(found.len(), 1);
    assert_eq!(found[0].state, CheckState::Unknown, "{:?}", found[0]);
    let events = reporter.recorded();
    assert_eq!(events.of_kind("preflight")[0]["state"], "unknown");
}

#[tokio::test(start_paused = true)]
async fn a_denied_describe_regions_fails_its_check_naming_the_permission() {
    let denied = mock!(aws_sdk_ec2::Client::describe_regions).then_error(|| {
        aws_sdk_ec2::operation::describe_regions::DescribeRegionsError::generic(meta(
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        ))
    });
    let aws = aws(&[&denied], &[]);
    let reporter = Reporter::memory(Masker::default());
    let checks = vec![
        Check::RegionEnabled {
            region: "me-south-1".into(),
            by_default: false,
        },
        Check::RegionEnabled {
            region: "us-west-2".into(),
            by_default: true,
        },
    ];

    let found = failures(run(&aws, &preflight(checks, false), &reporter).await);

    assert_eq!(
        found.len(),
        1,
        "the default region passes without a call: {found:?}"
    );
    assert!(found[0].contains("cannot check"), "{found:?}");
    assert!(found[0].contains("ec2:DescribeRegions"), "{found:?}");
    assert_eq!(denied.num_calls(), 1);
}
