//! Reading a KMS key policy and the key's grants: may this account, organization or
//! organizational unit use the key to launch an image encrypted with it?
//!
//! A cross-account launch of an encrypted AMI has EC2 use the key on the launching
//! account's behalf: it needs the actions of [`NEEDED`]. A target is covered when, for
//! each of them, an `Allow` statement of the key policy names it (or a grant's grantee is
//! in the account) and no unconditional `Deny` takes it away.
//!
//! The reader is deliberately simple and errs towards letting a bake go on: conditions
//! it does not know are taken as met; a `Deny` with a condition is ignored (it cannot
//! tell whether it applies); an account that only an organization condition may cover
//! is a [`Coverage::Unknown`] (amibake cannot tell whether the account is in it), never a
//! failure.

use serde_json::Value;

use crate::aws::kms::Grant;

/// The actions a launch in another account needs on the key, as a key policy names them.
pub const NEEDED: [&str; 5] = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
];

/// The concrete actions behind each of [`NEEDED`] (a wildcard needs every one).
fn concrete(needed: &str) -> &'static [&'static str] {
    match needed {
        "kms:Decrypt" => &["kms:Decrypt"],
        "kms:DescribeKey" => &["kms:DescribeKey"],
        "kms:CreateGrant" => &["kms:CreateGrant"],
        "kms:ReEncrypt*" => &["kms:ReEncryptFrom", "kms:ReEncryptTo"],
        _ => &["kms:GenerateDataKeyWithoutPlaintext"],
    }
}

/// Who an image is shared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A 12-digit account id.
    Account(String),
    /// An organization's ARN (`arn:aws:organizations::111122223333:organization/o-…`).
    Organization(String),
    /// An organizational unit's ARN (`arn:aws:organizations::…:ou/o-…/ou-…`).
    OrganizationalUnit(String),
}

impl Target {
    /// The account id, `o-…` or `ou-…` the target's ARN ends in.
    pub fn id(&self) -> &str {
        match self {
            Target::Account(a) => a,
            Target::Organization(arn) | Target::OrganizationalUnit(arn) => {
                arn.rsplit('/').next().unwrap_or(arn)
            }
        }
    }

    /// The organization id (`o-…`) of an organization or OU ARN.
    fn org_id(&self) -> Option<&str> {
        match self {
            Target::Account(_) => None,
            Target::Organization(_) => Some(self.id()),
            Target::OrganizationalUnit(arn) => arn.split('/').find(|p| p.starts_with("o-")),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Account(a) => format!("account {a}"),
            Target::Organization(o) => format!("organization {o}"),
            Target::OrganizationalUnit(ou) => format!("organizational unit {ou}"),
        }
    }
}

/// Whether a target may use the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    Allowed,
    /// These of [`NEEDED`] are not allowed (or are denied).
    Missing(Vec<&'static str>),
    /// Only a statement whose condition amibake cannot judge (why) would allow it.
    Unknown(String),
}

/// What one statement does for one target and concrete action.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Allows,
    /// Allows when the target is in this organization (a `aws:PrincipalOrgID` or
    /// `aws:PrincipalOrgPaths` condition on an account).
    AllowsIfInOrg(String),
    Denies,
    Nothing,
}

/// Whether `target` may use the key as `policy` (the key policy JSON, `None` when it
/// could not be read) and `grants` allow.
pub fn coverage(policy: Option<&Value>, grants: &[Grant], target: &Target) -> Coverage {
    let statements = policy.map(statements).unwrap_or_default();
    let mut missing = Vec::new();
    let mut unknown = None;
    for needed in NEEDED {
        let mut ok = true;
        for action in concrete(needed) {
            let verdicts: Vec<Verdict> = statements
                .iter()
                .map(|s| verdict(s, target, action))
                .collect();
            if verdicts.contains(&Verdict::Denies) {
                ok = false;
            } else if verdicts.contains(&Verdict::Allows) || granted(grants, target, action) {
                continue;
            } else if let Some(Verdict::AllowsIfInOrg(org)) = verdicts
                .iter()
                .find(|v| matches!(v, Verdict::AllowsIfInOrg(_)))
            {
                unknown.get_or_insert_with(|| {
                    format!(
                        "the key policy allows organization {org} (a condition on aws:PrincipalOrgID/aws:PrincipalOrgPaths); amibake cannot tell whether {} is in it",
                        target.describe()
                    )
                });
            } else {
                ok = false;
            }
        }
        if !ok {
            missing.push(needed);
        }
    }
    match (missing.is_empty(), unknown) {
        (false, _) => Coverage::Missing(missing),
        (true, Some(why)) => Coverage::Unknown(why),
        (true, None) => Coverage::Allowed,
    }
}

/// The policy's statements (a single statement object counts as a list of one).
fn statements(policy: &Value) -> Vec<Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// Strings of a JSON string or list of strings.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn verdict(statement: &Value, target: &Target, action: &str) -> Verdict {
    let effect = statement.get("Effect").and_then(Value::as_str);
    if statement.get("NotPrincipal").is_some() || !acts_on(statement, action) {
        return Verdict::Nothing;
    }
    let principals = principals(statement.get("Principal"));
    let condition = statement.get("Condition").and_then(Value::as_object);
    match effect {
        Some("Deny") => {
            // A conditional Deny cannot be judged here; it is left to AWS.
            let names = principals
                .iter()
                .any(|p| p == "*" || names_account(p, target));
            if condition.is_none_or(|c| c.is_empty()) && names {
                Verdict::Denies
            } else {
                Verdict::Nothing
            }
        }
        Some("Allow") => allow_verdict(&principals, condition, target),
        _ => Verdict::Nothing,
    }
}

/// What an `Allow` statement with these principals and condition does for the target.
fn allow_verdict(
    principals: &[String],
    condition: Option<&serde_json::Map<String, Value>>,
    target: &Target,
) -> Verdict {
    let conditions = flatten(condition);
    let org_values: Vec<&String> = conditions
        .iter()
        .filter(|(k, _)| k == "aws:principalorgid" || k == "aws:principalorgpaths")
        .flat_map(|(_, v)| v)
        .collect();
    let callers: Vec<&String> = conditions
        .iter()
        .filter(|(k, _)| k == "kms:calleraccount" || k == "aws:principalaccount")
        .flat_map(|(_, v)| v)
        .collect();
    match target {
        Target::Account(account) => {
            let named = principals.iter().any(|p| names_account(p, target));
            let anyone = principals.iter().any(|p| p == "*");
            if !named && !anyone {
                return Verdict::Nothing;
            }
            if !callers.is_empty() && !callers.contains(&account) {
                return Verdict::Nothing;
            }
            if let Some(org) = org_values.first() {
                // Named or anyone, but only from inside an organization.
                return Verdict::AllowsIfInOrg(org.split('/').next().unwrap_or(org).into());
            }
            Verdict::Allows
        }
        Target::Organization(_) | Target::OrganizationalUnit(_) => {
            let anyone = principals.iter().any(|p| p == "*");
            let org = target.org_id().unwrap_or_default();
            let whole_org = org_values
                .iter()
                .any(|v| v.as_str() == org || *v == &format!("{org}/*"));
            // A path `o-x/r-y/ou-a/ou-b/*` covers ou-b's subtree: ou-b must be its last OU
            // (ou-a is covered only in part). A parent's path may cover a child too, but
            // only Organizations could tell: not counted.
            let ou = matches!(target, Target::OrganizationalUnit(_))
                && org_values.iter().any(|v| {
                    v.trim_end_matches('*')
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        == Some(target.id())
                });
            // `*` with no organization condition allows every organization and OU too.
            let unconditional = org_values.is_empty();
            if anyone && callers.is_empty() && (whole_org || ou || unconditional) {
                Verdict::Allows
            } else {
                Verdict::Nothing
            }
        }
    }
}

/// Every condition key (lower case, as IAM compares them) with its values, whatever the
/// operator (`StringEquals`, `ForAnyValue:StringLike`, …).
fn flatten(condition: Option<&serde_json::Map<String, Value>>) -> Vec<(String, Vec<String>)> {
    condition
        .into_iter()
        .flat_map(|c| c.values())
        .filter_map(Value::as_object)
        .flat_map(|keys| keys.iter())
        .map(|(k, v)| (k.to_ascii_lowercase(), strings(Some(v))))
        .collect()
}

/// The statement's principals: `*`, account ids, ARNs (`AWS` only; service principals
/// are not other accounts).
fn principals(principal: Option<&Value>) -> Vec<String> {
    match principal {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Object(map)) => strings(map.get("AWS")),
        _ => Vec::new(),
    }
}

/// Whether a principal names the whole account of the target: its id or its root ARN.
fn names_account(principal: &str, target: &Target) -> bool {
    let Target::Account(account) = target else {
        return false;
    };
    principal == account
        || (principal.starts_with("arn:aws")
            && principal.ends_with(&format!(":iam::{account}:root")))
}

/// Whether the statement's `Action` (or `NotAction`) takes in `action`.
fn acts_on(statement: &Value, action: &str) -> bool {
    if let Some(not) = statement.get("NotAction") {
        return !strings(Some(not)).iter().any(|p| wildcard(p, action));
    }
    strings(statement.get("Action"))
        .iter()
        .any(|p| wildcard(p, action))
}

/// Whether a grant to a principal of the account allows `action`.
fn granted(grants: &[Grant], target: &Target, action: &str) -> bool {
    let Target::Account(account) = target else {
        return false;
    };
    let op = action.trim_start_matches("kms:");
    grants.iter().any(|g| {
        (g.grantee == *account || g.grantee.contains(&format!(":{account}:")))
            && g.operations.iter().any(|o| o == op)
    })
}

/// IAM's action matching: case-insensitive, `*` any run of characters, `?` one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The key policy statement that lets these targets use the key, as JSON to add to the
/// policy's `Statement` list.
pub fn statement_for(targets: &[Target]) -> Vec<Value> {
    let actions: Vec<Value> = NEEDED.iter().map(|a| Value::from(*a)).collect();
    let accounts: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Account(a) => Some(format!("arn:aws:iam::{a}:root")),
            _ => None,
        })
        .collect();
    // Any principal of the organization, or of one of the OUs: a condition says which.
    let anyone_where = |sid: &str, condition: Value| {
        serde_json::json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": { "AWS": "*" },
            "Action": actions,
            "Resource": "*",
            "Condition": condition,
        })
    };
    let mut out = Vec::new();
    if !accounts.is_empty() {
        out.push(serde_json::json!({
            "Sid": "AllowAmibakeSharedImageUse",
            "Effect": "Allow",
            "Principal": { "AWS": accounts },
            "Action": actions,
            "Resource": "*",
        }));
    }
    let orgs: Vec<&str> = targets
        .iter()
        .filter(|t| matches!(t, Target::Organization(_)))
        .map(Target::id)
        .collect();
    if !orgs.is_empty() {
        out.push(anyone_where(
            "AllowAmibakeSharedImageUseByOrganization",
            serde_json::json!({ "StringEquals": { "aws:PrincipalOrgID": orgs } }),
        ));
    }
    let ous: Vec<String> = targets
        .iter()
        .filter(|t| matches!(t, Target::OrganizationalUnit(_)))
        .map(|t| format!("{}/*/{}/*", t.org_id().unwrap_or("o-*"), t.id()))
        .collect();
    if !ous.is_empty() {
        out.push(anyone_where(
            "AllowAmibakeSharedImageUseByOrganizationalUnit",
            serde_json::json!({ "ForAnyValue:StringLike": { "aws:PrincipalOrgPaths": ous } }),
        ));
    }
    out
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
