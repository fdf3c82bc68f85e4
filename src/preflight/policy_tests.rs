//! The key-policy reader: principal forms, wildcards, organization conditions, Deny.

use serde_json::{Value, json};

use super::*;

const ACCOUNT: &str = "444455556666";
const ORG: &str = "arn:aws:organizations::111122223333:organization/o-abc123";
const OU: &str = "arn:aws:organizations::111122223333:ou/o-abc123/ou-ab12-cdef3456";

fn account() -> Target {
    Target::Account(ACCOUNT.into())
}

/// The key's own account may do anything (the default policy), plus `extra`.
fn policy(extra: Value) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "Enable IAM User Permissions", "Effect": "Allow",
              "Principal": { "AWS": "arn:aws:iam::123456789012:root" },
              "Action": "kms:*", "Resource": "*" },
            extra,
        ]
    })
}

fn allow(principal: Value, action: Value) -> Value {
    json!({ "Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*" })
}

fn needed() -> Value {
    json!(NEEDED)
}

#[test]
fn the_default_policy_does_not_cover_another_account() {
    let p = policy(json!({}));
    assert_eq!(
        coverage(Some(&p), &[], &account()),
        Coverage::Missing(NEEDED.to_vec())
    );
}

#[test]
fn the_root_arn_the_bare_account_id_and_a_star_each_cover_the_account() {
    for principal in [
        json!({ "AWS": format!("arn:aws:iam::{ACCOUNT}:root") }),
        json!({ "AWS": [format!("arn:aws:iam::{ACCOUNT}:root"), "arn:aws:iam::999999999999:root"] }),
        json!({ "AWS": ACCOUNT }),
        json!({ "AWS": "*" }),
        json!("*"),
    ] {
        let p = policy(allow(principal.clone(), needed()));
        assert_eq!(
            coverage(Some(&p), &[], &account()),
            Coverage::Allowed,
            "{principal}"
        );
    }
}

#[test]
fn a_role_of_the_account_or_another_account_does_not_cover_it() {
    for principal in [
        json!({ "AWS": format!("arn:aws:iam::{ACCOUNT}:role/deployer") }),
        json!({ "AWS": "arn:aws:iam::999999999999:root" }),
        json!({ "Service": "ec2.amazonaws.com" }),
    ] {
        let p = policy(allow(principal.clone(), needed()));
        assert!(
            matches!(coverage(Some(&p), &[], &account()), Coverage::Missing(_)),
            "{principal}"
        );
    }
}

#[test]
fn action_wildcards_count_and_a_partial_list_names_what_is_missing() {
    let root = json!({ "AWS": format!("arn:aws:iam::{ACCOUNT}:root") });
    for actions in [
        json!("kms:*"),
        json!("*"),
        json!([
            "KMS:decrypt",
            "kms:Describe*",
            "kms:CreateGrant",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*"
        ]),
    ] {
        let p = policy(allow(root.clone(), actions.clone()));
        assert_eq!(
            coverage(Some(&p), &[], &account()),
            Coverage::Allowed,
            "{actions}"
        );
    }
    let p = policy(allow(
        root.clone(),
        json!(["kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom"]),
    ));
    assert_eq!(
        coverage(Some(&p), &[], &account()),
        Coverage::Missing(vec![
            "kms:CreateGrant",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*"
        ])
    );
    let p = policy(
        json!({ "Effect": "Allow", "Principal": root, "NotAction": "kms:ScheduleKeyDeletion", "Resource": "*" }),
    );
    assert_eq!(coverage(Some(&p), &[], &account()), Coverage::Allowed);
}

#[test]
fn grants_to_the_account_cover_the_operations_they_name() {
    let grant = |ops: &[&str]| Grant {
        grantee: format!("arn:aws:iam::{ACCOUNT}:root"),
        operations: ops.iter().map(|o| o.to_string()).collect(),
    };
    let all = grant(&[
        "Decrypt",
        "DescribeKey",
        "CreateGrant",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKeyWithoutPlaintext",
    ]);
    assert_eq!(coverage(None, &[all], &account()), Coverage::Allowed);
    assert_eq!(
        coverage(None, &[grant(&["Decrypt", "CreateGrant"])], &account()),
        Coverage::Missing(vec![
            "kms:DescribeKey",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*"
        ])
    );
    // The policy and the grants add up.
    let p = policy(allow(
        json!({ "AWS": ACCOUNT }),
        json!(["kms:DescribeKey", "kms:ReEncrypt*", "kms:GenerateDataKey*"]),
    ));
    assert_eq!(
        coverage(Some(&p), &[grant(&["Decrypt", "CreateGrant"])], &account()),
        Coverage::Allowed
    );
}

#[test]
fn an_unconditional_deny_is_honoured_and_a_conditional_one_is_left_to_aws() {
    let root = json!({ "AWS": format!("arn:aws:iam::{ACCOUNT}:root") });
    let deny =
        json!({ "Effect": "Deny", "Principal": "*", "Action": "kms:CreateGrant", "Resource": "*" });
    let p = json!({ "Statement": [allow(root.clone(), json!("kms:*")), deny] });
    assert_eq!(
        coverage(Some(&p), &[], &account()),
        Coverage::Missing(vec!["kms:CreateGrant"])
    );
    let conditional = json!({ "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
        "Condition": { "Bool": { "aws:SecureTransport": "false" } } });
    let p = json!({ "Statement": [allow(root, json!("kms:*")), conditional] });
    assert_eq!(coverage(Some(&p), &[], &account()), Coverage::Allowed);
}

#[test]
fn caller_account_conditions_must_name_the_account() {
    let with_caller = |caller: &str| {
        policy(
            json!({ "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": needed(), "Resource": "*",
            "Condition": { "StringEquals": { "kms:CallerAccount": caller, "kms:ViaService": "ec2.eu-west-1.amazonaws.com" } } }),
        )
    };
    assert_eq!(
        coverage(Some(&with_caller(ACCOUNT)), &[], &account()),
        Coverage::Allowed
    );
    assert!(matches!(
        coverage(Some(&with_caller("999999999999")), &[], &account()),
        Coverage::Missing(_)
    ));
}

#[test]
fn organization_conditions_cover_the_organization_and_its_units() {
    let org_id = policy(
        json!({ "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
        "Condition": { "StringEquals": { "aws:PrincipalOrgID": "o-abc123" } } }),
    );
    let org = Target::Organization(ORG.into());
    let ou = Target::OrganizationalUnit(OU.into());
    assert_eq!(coverage(Some(&org_id), &[], &org), Coverage::Allowed);
    assert_eq!(coverage(Some(&org_id), &[], &ou), Coverage::Allowed);
    // An account may be in the organization: amibake cannot tell, so it does not fail it.
    assert!(matches!(
        coverage(Some(&org_id), &[], &account()),
        Coverage::Unknown(_)
    ));

    let paths = policy(
        json!({ "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": needed(), "Resource": "*",
        "Condition": { "ForAnyValue:StringLike": { "aws:PrincipalOrgPaths": ["o-abc123/r-ab12/ou-ab12-cdef3456/*"] } } }),
    );
    assert_eq!(coverage(Some(&paths), &[], &ou), Coverage::Allowed);
    assert!(matches!(
        coverage(Some(&paths), &[], &org),
        Coverage::Missing(_)
    ));

    let other = policy(
        json!({ "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
        "Condition": { "StringEquals": { "aws:PrincipalOrgID": "o-other" } } }),
    );
    assert!(matches!(
        coverage(Some(&other), &[], &org),
        Coverage::Missing(_)
    ));
}

#[test]
fn the_suggested_statements_cover_what_they_are_for() {
    let targets = [
        account(),
        Target::Organization(ORG.into()),
        Target::OrganizationalUnit(OU.into()),
    ];
    let p = json!({ "Statement": statement_for(&targets) });
    for t in &targets {
        assert_eq!(coverage(Some(&p), &[], t), Coverage::Allowed, "{t:?}: {p}");
    }
}

#[test]
fn wildcards_match_as_iam_does() {
    assert!(wildcard("kms:*", "kms:Decrypt"));
    assert!(wildcard("kms:ReEncrypt*", "kms:ReEncryptFrom"));
    assert!(wildcard("kms:Re?ncrypt*", "KMS:reencryptto"));
    assert!(wildcard("*", "kms:CreateGrant"));
    assert!(!wildcard("kms:Decrypt", "kms:DecryptX"));
    assert!(!wildcard(
        "kms:Gen*Key",
        "kms:GenerateDataKeyWithoutPlaintext"
    ));
}
