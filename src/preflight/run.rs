//! Running the preflight: each check in turn, each reported, every failure with its fix.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aws::kms::{self, KeyInfo};
use crate::aws::{Aws, AwsError, calls, ec2, poll};
use crate::error::{ExitKind, Failure};
use crate::report::Reporter;

use super::policy::{self, Coverage, Target};
use super::{Check, CheckState, Preflight, PreflightEvent};

/// What one check found.
#[derive(Debug, Clone)]
pub struct Finding {
    pub check: Check,
    pub state: CheckState,
    pub text: String,
    /// What to change, for a failure (and for a check that could not be made).
    pub fix: Option<String>,
}

impl Finding {
    pub(super) fn new(
        check: &Check,
        state: CheckState,
        text: String,
        fix: Option<String>,
    ) -> Finding {
        Finding {
            check: check.clone(),
            state,
            text,
            fix,
        }
    }
}

/// Why the preflight stopped the command.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// Checks failed: nothing was created (exit 2).
    #[error("preflight: {} check(s) failed, nothing was created:{}", .0.len(), show(.0))]
    Failed(Vec<Finding>),
    /// A call failed for another reason than a missing permission (exit 1).
    #[error("preflight: {}", .0.chain())]
    Aws(#[from] AwsError),
}

fn show(failures: &[Finding]) -> String {
    failures
        .iter()
        .map(|f| {
            let fix = f.fix.as_deref().map(|x| format!("\n    fix: {x}"));
            format!("\n  - {}{}", f.text, fix.unwrap_or_default())
        })
        .collect()
}

impl Failure for PreflightError {
    fn kind(&self) -> ExitKind {
        match self {
            PreflightError::Failed(_) => ExitKind::Usage,
            PreflightError::Aws(_) => ExitKind::Failed,
        }
    }

    fn detail(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        if let PreflightError::Failed(failures) = self {
            let list = failures.iter().map(|f| PreflightEvent::of(f).to_json());
            map.insert("failures".into(), Value::Array(list.collect()));
        }
        map
    }
}

/// Error codes that mean the caller may not make the call: the check cannot be made.
fn denied(e: &AwsError) -> bool {
    matches!(
        e.code(),
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation")
    )
}

/// A check that cannot be made because `action` is not allowed: a failure (exit 2).
fn cannot_check(check: &Check, action: &str, e: &AwsError) -> Finding {
    Finding::new(
        check,
        CheckState::Fail,
        format!("cannot check: {action} is not allowed ({})", e.chain()),
        Some(format!(
            "allow {action} to the identity amibake runs as (see docs/bake.md, \"Preflight: the image name, copies, shares and keys\")"
        )),
    )
}

/// Runs every check, reporting each; all passing (or only warnings) is `Ok` with the
/// findings, any failure is [`PreflightError::Failed`] with every failure.
pub async fn run(
    aws: &Aws,
    preflight: &Preflight,
    reporter: &Reporter,
) -> Result<Vec<Finding>, PreflightError> {
    let mut regions: Option<Result<BTreeMap<String, String>, AwsError>> = None;
    let targets = preflight.targets();
    let mut findings = Vec::new();
    for check in &preflight.checks {
        let finding = match check {
            Check::AmiNameFree { region, name } => ami_name_free(aws, check, region, name).await?,
            Check::RegionEnabled {
                region,
                by_default: true,
            } => Finding::new(
                check,
                CheckState::Pass,
                format!("copy region {region} is enabled in every account (a default region)"),
                None,
            ),
            Check::RegionEnabled { region, .. } => {
                if regions.is_none() {
                    let ec2 = aws.ec2(aws.region())?;
                    match poll::retry(|| ec2::region_opt_in(&ec2)).await {
                        // Any other error ends the preflight: the SDK error is its source.
                        Err(e) if !denied(&e) => return Err(PreflightError::Aws(e)),
                        fetched => regions = Some(fetched),
                    }
                }
                match regions.as_ref() {
                    Some(Ok(known)) => region_enabled(check, region, known),
                    Some(Err(e)) => cannot_check(check, calls::EC2_DESCRIBE_REGIONS, e),
                    None => unreachable!("fetched above"),
                }
            }
            Check::Key {
                region,
                key,
                setting,
                shared,
            } => {
                let targets: &[Target] = if *shared { &targets } else { &[] };
                key_check(aws, check, region, key.as_deref(), setting, targets).await?
            }
            Check::Scan { region, served } => {
                super::scan::scan_check(aws, check, region, *served).await?
            }
        };
        reporter.emit(PreflightEvent::of(&finding));
        findings.push(finding);
    }
    let failures: Vec<Finding> = findings
        .iter()
        .filter(|f| f.state == CheckState::Fail)
        .cloned()
        .collect();
    if failures.is_empty() {
        Ok(findings)
    } else {
        Err(PreflightError::Failed(failures))
    }
}

/// Whether this account's images in `region` leave `name` free.
async fn ami_name_free(
    aws: &Aws,
    check: &Check,
    region: &str,
    name: &str,
) -> Result<Finding, PreflightError> {
    let client = aws.ec2(region)?;
    let holders = match poll::retry(|| ec2::own_images_named(&client, name)).await {
        Ok(ids) => ids,
        Err(e) if denied(&e) => return Ok(cannot_check(check, calls::EC2_DESCRIBE_IMAGES, &e)),
        Err(e) => return Err(e.into()),
    };
    if holders.is_empty() {
        let text = format!("the AMI name {name} is free in {region}");
        return Ok(Finding::new(check, CheckState::Pass, text, None));
    }
    let ids = holders.join(", ");
    Ok(Finding::new(
        check,
        CheckState::Fail,
        format!(
            "an AMI named {name} already exists in {region} ({ids}): the bake would fail there after its whole build"
        ),
        Some(format!(
            "make image.name unique per run (add {{{{ run_id }}}} or {{{{ timestamp }}}}), or deregister {ids} in {region} if it is debris"
        )),
    ))
}

fn region_enabled(check: &Check, region: &str, known: &BTreeMap<String, String>) -> Finding {
    match known.get(region).map(String::as_str) {
        Some("opt-in-not-required" | "opted-in") => Finding::new(
            check,
            CheckState::Pass,
            format!("copy region {region} is enabled"),
            None,
        ),
        Some(status) => Finding::new(
            check,
            CheckState::Fail,
            format!(
                "copy region {region} is not enabled for this account ({status}): CopyImage there would fail"
            ),
            Some(format!(
                "enable it (aws account enable-region --region-name {region}; it can take a while) or remove {region} from image.copy_to / --copy-to"
            )),
        ),
        None => Finding::new(
            check,
            CheckState::Fail,
            format!("copy region {region} is not a region this account knows"),
            Some(format!(
                "check the name, or remove {region} from image.copy_to / --copy-to"
            )),
        ),
    }
}

/// The key check of one region: the key (or the default EBS key) exists there, is
/// usable, and lets every target use it.
async fn key_check(
    aws: &Aws,
    check: &Check,
    region: &str,
    key: Option<&str>,
    setting: &str,
    targets: &[Target],
) -> Result<Finding, PreflightError> {
    let fail = |text: String, fix: String| Finding::new(check, CheckState::Fail, text, Some(fix));
    let named = if key.is_some() {
        "named in the recipe"
    } else {
        "the region's default EBS key"
    };
    let key = match key {
        Some(k) => k.to_string(),
        None => match default_key(aws, check, region).await? {
            Ok(k) => k,
            Err(finding) => return Ok(finding),
        },
    };
    let shared_fix = format!(
        "set {setting} to a customer managed key in {region} whose key policy lets the share targets use it"
    );
    if is_aws_ebs(&key) {
        if targets.is_empty() {
            let text =
                format!("the image in {region} is encrypted with the AWS managed key aws/ebs");
            return Ok(Finding::new(check, CheckState::Pass, text, None));
        }
        return Ok(fail(
            format!(
                "the image in {region} would be encrypted with the AWS managed key aws/ebs ({named}), whose policy cannot be changed: {} could never launch it",
                names(targets)
            ),
            shared_fix,
        ));
    }
    if let Some(elsewhere) = arn_region(&key).filter(|r| *r != region) {
        return Ok(fail(
            format!(
                "{setting} {key} is a key in {elsewhere}, but the image it encrypts is made in {region}: KMS keys are regional"
            ),
            format!(
                "use a key in {region} (an alias that exists in every copy region, e.g. alias/amibake, names each region's own key)"
            ),
        ));
    }
    let client = aws.kms(region)?;
    let info = match poll::retry(|| kms::describe_key(&client, &key)).await {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Ok(fail(
                format!("key {key} ({setting}) does not exist in {region}"),
                format!(
                    "create it there (or the alias: aws kms create-alias --region {region} --alias-name {key} --target-key-id KEY) or set {setting} to a key in {region}"
                ),
            ));
        }
        Err(e) if denied(&e) => return Ok(cannot_check(check, calls::KMS_DESCRIBE_KEY, &e)),
        Err(e) => return Err(e.into()),
    };
    if let Some(finding) = unusable(check, region, &key, &info) {
        return Ok(finding);
    }
    if info.is_aws_managed() && !targets.is_empty() {
        return Ok(fail(
            format!(
                "key {key} in {region} is an AWS managed key, whose policy cannot be changed: {} could never launch the image",
                names(targets)
            ),
            shared_fix,
        ));
    }
    if targets.is_empty() {
        let text = format!("key {key} is usable in {region}");
        return Ok(Finding::new(check, CheckState::Pass, text, None));
    }
    share_check(&client, check, region, &key, &info, targets).await
}

/// The region's default EBS key, or the finding that it cannot be read.
async fn default_key(
    aws: &Aws,
    check: &Check,
    region: &str,
) -> Result<Result<String, Finding>, PreflightError> {
    let ec2 = aws.ec2(region)?;
    match poll::retry(|| ec2::ebs_default_key(&ec2)).await {
        Ok(k) => Ok(Ok(k)),
        Err(e) if denied(&e) => Ok(Err(cannot_check(
            check,
            calls::EC2_GET_EBS_DEFAULT_KMS_KEY_ID,
            &e,
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A key EBS cannot encrypt with: not enabled, or not a symmetric encryption key.
fn unusable(check: &Check, region: &str, key: &str, info: &KeyInfo) -> Option<Finding> {
    let (text, fix) = if info.state != "Enabled" {
        let fix = match info.state.as_str() {
            "Disabled" => format!(
                "aws kms enable-key --region {region} --key-id {}",
                info.key_id
            ),
            "PendingDeletion" => format!(
                "aws kms cancel-key-deletion --region {region} --key-id {} (then enable it)",
                info.key_id
            ),
            _ => "use an enabled key".to_string(),
        };
        (
            format!(
                "key {key} in {region} is {}, so nothing can be encrypted with it",
                info.state
            ),
            fix,
        )
    } else if !matches!(info.usage.as_str(), "ENCRYPT_DECRYPT" | "")
        || !matches!(info.spec.as_str(), "SYMMETRIC_DEFAULT" | "")
    {
        // (A field KMS did not send is not held against the key.)
        (
            format!(
                "key {key} in {region} is {} {}: EBS needs a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)",
                info.spec, info.usage
            ),
            "use a symmetric encryption key".to_string(),
        )
    } else {
        return None;
    };
    Some(Finding::new(check, CheckState::Fail, text, Some(fix)))
}

/// Whether every target may use a customer managed key, from its policy and grants.
async fn share_check(
    client: &aws_sdk_kms::Client,
    check: &Check,
    region: &str,
    key: &str,
    info: &KeyInfo,
    targets: &[Target],
) -> Result<Finding, PreflightError> {
    let mut unreadable = Vec::new();
    let policy = match poll::retry(|| kms::key_policy(client, &info.key_id)).await {
        Ok(text) => serde_json::from_str::<Value>(&text).ok(),
        Err(e) if denied(&e) => {
            unreadable.push(calls::KMS_GET_KEY_POLICY);
            None
        }
        Err(e) => return Err(e.into()),
    };
    let grants = match poll::retry(|| kms::grants(client, &info.key_id)).await {
        Ok(g) => g,
        Err(e) if denied(&e) => {
            unreadable.push(calls::KMS_LIST_GRANTS);
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    let mut missing = Vec::new();
    let mut unsure = Vec::new();
    for target in targets {
        match policy::coverage(policy.as_ref(), &grants, target) {
            Coverage::Allowed => {}
            Coverage::Missing(actions) => missing.push((target.clone(), actions)),
            Coverage::Unknown(why) => unsure.push(why),
        }
    }
    if !missing.is_empty() && unreadable.is_empty() {
        return Ok(not_allowed(check, region, key, info, &missing));
    }
    if !missing.is_empty() {
        unsure.push(format!(
            "cannot read what the key allows ({} not allowed), so cannot tell whether {} may use it",
            unreadable.join(", "),
            names(&missing.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>())
        ));
    }
    if unsure.is_empty() {
        let text = format!("key {key} in {region} lets {} use it", names(targets));
        return Ok(Finding::new(check, CheckState::Pass, text, None));
    }
    let text = format!("key {key} in {region}: {}", unsure.join("; "));
    let fix = (!unreadable.is_empty()).then(|| {
        format!(
            "allow {} to the identity amibake runs as",
            unreadable.join(" and ")
        )
    });
    Ok(Finding::new(check, CheckState::Unknown, text, fix))
}

/// The failure of a key that does not let some targets use it, with the statement to add.
fn not_allowed(
    check: &Check,
    region: &str,
    key: &str,
    info: &KeyInfo,
    missing: &[(Target, Vec<&'static str>)],
) -> Finding {
    let who: Vec<String> = missing
        .iter()
        .map(|(t, actions)| format!("{} (missing {})", t.describe(), actions.join(", ")))
        .collect();
    let targets: Vec<Target> = missing.iter().map(|(t, _)| t.clone()).collect();
    let statements = policy::statement_for(&targets);
    let json = statements
        .iter()
        .map(|s| serde_json::to_string_pretty(s).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",\n");
    let id = &info.key_id;
    Finding::new(
        check,
        CheckState::Fail,
        format!(
            "key {key} in {region} does not let {} use it: the shared image could not be launched there",
            who.join(", ")
        ),
        Some(format!(
            "add to the key policy's Statement list (aws kms get-key-policy --region {region} --key-id {id} --policy-name default --query Policy --output text > policy.json; edit; aws kms put-key-policy --region {region} --key-id {id} --policy-name default --policy file://policy.json):\n{json}"
        )),
    )
}

/// Whether a key id names the AWS managed EBS key (`alias/aws/ebs`, or its alias ARN).
fn is_aws_ebs(key: &str) -> bool {
    key == "alias/aws/ebs" || key.ends_with(":alias/aws/ebs")
}

/// The region of a key or alias ARN (`arn:aws:kms:REGION:ACCOUNT:key/…`).
fn arn_region(key: &str) -> Option<&str> {
    let mut parts = key.split(':');
    (parts.next() == Some("arn")).then_some(())?;
    parts.nth(2).filter(|r| !r.is_empty())
}

fn names(targets: &[Target]) -> String {
    targets
        .iter()
        .map(Target::describe)
        .collect::<Vec<_>>()
        .join(", ")
}
