//! KMS calls: what a key is and who may use it (the preflight of copies and shares).

use aws_sdk_kms::Client;

use super::AwsError;

/// What amibake needs to know about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub key_id: String,
    pub arn: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`, …
    pub state: String,
    /// `ENCRYPT_DECRYPT` for a key EBS can use.
    pub usage: String,
    /// `SYMMETRIC_DEFAULT` for a key EBS can use.
    pub spec: String,
    /// `AWS` (an AWS managed key such as `aws/ebs`: never shareable) or `CUSTOMER`.
    pub manager: String,
}

impl KeyInfo {
    /// An AWS managed key: its policy cannot be changed, so other accounts can never use it.
    pub fn is_aws_managed(&self) -> bool {
        self.manager == "AWS"
    }
}

/// The key `key` (id, ARN, alias name or alias ARN) names in this client's region, or
/// `None` when KMS does not know it there.
pub async fn describe_key(kms: &Client, key: &str) -> Result<Option<KeyInfo>, AwsError> {
    match kms.describe_key().key_id(key).send().await {
        Ok(out) => Ok(out.key_metadata().map(|m| KeyInfo {
            key_id: m.key_id().to_string(),
            arn: m.arn().unwrap_or_default().to_string(),
            state: m.key_state().map(|s| s.as_str()).unwrap_or_default().into(),
            usage: m.key_usage().map(|s| s.as_str()).unwrap_or_default().into(),
            spec: m.key_spec().map(|s| s.as_str()).unwrap_or_default().into(),
            manager: m
                .key_manager()
                .map(|s| s.as_str())
                .unwrap_or_default()
                .into(),
        })),
        Err(e) => {
            AwsError::call(crate::aws::calls::KMS_DESCRIBE_KEY, e).absent_if(&["NotFoundException"])
        }
    }
}

/// The key's policy (the only policy name KMS has, `default`), as JSON text.
pub async fn key_policy(kms: &Client, key_id: &str) -> Result<String, AwsError> {
    let out = kms
        .get_key_policy()
        .key_id(key_id)
        .policy_name("default")
        .send()
        .await
        .map_err(|e| AwsError::call(crate::aws::calls::KMS_GET_KEY_POLICY, e))?;
    Ok(out.policy().unwrap_or_default().to_string())
}

/// A grant on a key: who may use it, for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// An account's root, a role or user ARN, or a service principal.
    pub grantee: String,
    /// Operation names without the `kms:` prefix (`Decrypt`, `CreateGrant`, …).
    pub operations: Vec<String>,
}

/// Every grant on the key.
pub async fn grants(kms: &Client, key_id: &str) -> Result<Vec<Grant>, AwsError> {
    let mut found = Vec::new();
    let mut pages = kms.list_grants().key_id(key_id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::call(crate::aws::calls::KMS_LIST_GRANTS, e))?;
        for g in page.grants() {
            found.push(Grant {
                grantee: g.grantee_principal().unwrap_or_default().to_string(),
                operations: g.operations().iter().map(|o| o.as_str().into()).collect(),
            });
        }
    }
    Ok(found)
}
