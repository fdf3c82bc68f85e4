//! What uses an image in a region: channel parameters, Auto Scaling groups (through
//! launch templates and launch configurations), instances that are not terminated, the
//! images stacks record, and whatever else EC2's DescribeImageReferences names.
//!
//! `prune` keeps every image in use, `status` reports where each is used, and `revoke`
//! prints the same survey as its blast radius: one survey, so the three never disagree
//! about what runs where. Here: what a use is ([`Use`]) and the uses of each image
//! ([`Uses`]); `survey` reads them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::calls;

mod survey;

pub use survey::{survey, survey_recipes};

/// What the survey calls in a region, by part, in the order it reads them: `status
/// --plan` prints them, and the survey makes no other call.
pub const CALLS: &[(&str, &[&str])] = &[
    (
        "channels: the parameters /amibake/RECIPE/* (one path per recipe)",
        &[calls::SSM_GET_PARAMETERS_BY_PATH],
    ),
    (
        "Auto Scaling groups, their launch template versions or configurations (resolve:ssm: too)",
        &[
            calls::AUTOSCALING_DESCRIBE_AUTO_SCALING_GROUPS,
            calls::EC2_DESCRIBE_LAUNCH_TEMPLATE_VERSIONS,
            calls::AUTOSCALING_DESCRIBE_LAUNCH_CONFIGURATIONS,
            calls::SSM_GET_PARAMETER,
        ],
    ),
    (
        "instances of the images that are not terminated",
        &[calls::EC2_DESCRIBE_INSTANCES],
    ),
    (
        "stacks' amibake:image-id and amibake:previous-image-id (and a parameter they name)",
        &[
            calls::CLOUDFORMATION_DESCRIBE_STACKS,
            calls::SSM_GET_PARAMETER,
        ],
    ),
    (
        "what else refers to the images (launch templates, SSM parameters, Image Builder recipes)",
        &[calls::EC2_DESCRIBE_IMAGE_REFERENCES],
    ),
    (
        "other accounts: the newest available usage report of each image, its entries",
        &[
            calls::EC2_DESCRIBE_IMAGE_USAGE_REPORTS,
            calls::EC2_DESCRIBE_IMAGE_USAGE_REPORT_ENTRIES,
        ],
    ),
];

/// One thing of the account and region that uses an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Use {
    /// The value of a channel parameter.
    Channel { env: String, parameter: String },
    /// The image of a launch template version an Auto Scaling group uses.
    Asg {
        group: String,
        launch_template: String,
        version: i64,
        /// The stack that made the group (its `aws:cloudformation:stack-name` tag).
        #[serde(skip_serializing_if = "Option::is_none")]
        stack: Option<String>,
    },
    /// The image of a launch configuration an Auto Scaling group uses.
    LaunchConfiguration {
        group: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        stack: Option<String>,
    },
    /// An instance that is not terminated runs (or can start again) from it.
    Instance { id: String, state: String },
    /// A stack's `amibake:previous-image-id`: what `rollback --stack` goes back to.
    RollbackTarget { stack: String },
    /// A stack's `amibake:image-id`: the image amibake last rolled it onto.
    StackImage { stack: String },
    /// Another resource of the account and region that EC2 (DescribeImageReferences)
    /// says refers to it and no check above found: a launch template no group uses (in
    /// any of its latest versions), an SSM parameter outside the channels, an Image
    /// Builder recipe. Deregistering would break whoever launches from it next.
    Referenced {
        /// As EC2 names it: `ec2:LaunchTemplate`, `ssm:Parameter`, `ec2:Instance`, …
        resource_type: String,
        /// `lt-0abc`, `/golden/web`, `i-0abc`, …
        name: String,
        arn: String,
    },
    /// Another account uses it (the image is shared), as the newest available usage
    /// report of the image says: `usage_count` instances or launch templates
    /// (`resource_type`) on the report's date. Only reports that exist are read; `status
    /// --usage-report` makes a fresh one.
    Account {
        account_id: String,
        /// `ec2:Instance` or `ec2:LaunchTemplate`.
        resource_type: String,
        usage_count: i64,
        report_id: String,
        /// When the report was made (RFC 3339): what it says may have changed since.
        report_created: String,
    },
}

impl Use {
    /// The use as the user reads it: `channel prod`, `ASG web via lt-0abc v3`, …
    pub fn text(&self) -> String {
        match self {
            Use::Channel { env, .. } => format!("channel {env}"),
            Use::Asg {
                group,
                launch_template,
                version,
                stack,
            } => format!(
                "ASG {group}{} via {launch_template} v{version}",
                of_stack(stack)
            ),
            Use::LaunchConfiguration { group, name, stack } => {
                format!(
                    "ASG {group}{} via launch configuration {name}",
                    of_stack(stack)
                )
            }
            Use::Instance { id, state } => format!("{state} instance {id}"),
            Use::RollbackTarget { stack } => format!("rollback target of stack {stack}"),
            Use::StackImage { stack } => format!("image of stack {stack}"),
            Use::Referenced {
                resource_type,
                name,
                ..
            } => match resource_type.as_str() {
                "ec2:LaunchTemplate" => format!("launch template {name}"),
                "ssm:Parameter" => format!("SSM parameter {name}"),
                "ec2:Instance" => format!("instance {name}"),
                _ => format!("{resource_type} {name}"),
            },
            Use::Account {
                account_id,
                resource_type,
                usage_count,
                report_id,
                ..
            } => {
                let what = match resource_type.as_str() {
                    "ec2:Instance" => "instance",
                    "ec2:LaunchTemplate" => "launch template",
                    other => other,
                };
                let plural = if *usage_count == 1 { "" } else { "s" };
                format!("account {account_id}: {usage_count} {what}{plural} (report {report_id})")
            }
        }
    }

    /// Whether the use is in another account (a usage report's), not this one.
    pub fn is_other_account(&self) -> bool {
        matches!(self, Use::Account { .. })
    }
}

/// ` (stack NAME)` when a stack made the group, else nothing.
fn of_stack(stack: &Option<String>) -> String {
    stack
        .as_ref()
        .map(|s| format!(" (stack {s})"))
        .unwrap_or_default()
}

/// What uses which image in a region.
#[derive(Debug, Clone, Default)]
pub struct Uses(BTreeMap<String, Vec<Use>>);

impl Uses {
    pub fn add(&mut self, image_id: &str, used: Use) {
        let uses = self.0.entry(image_id.to_string()).or_default();
        if !uses.contains(&used) {
            uses.push(used);
        }
    }

    /// What uses `image_id` (empty when nothing does).
    pub fn of(&self, image_id: &str) -> &[Use] {
        self.0.get(image_id).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every image something uses, with its uses, by image id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Use])> {
        self.0
            .iter()
            .map(|(id, uses)| (id.as_str(), uses.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_read_like_prunes_help_says() {
        assert_eq!(
            Use::Asg {
                group: "web-asg".into(),
                launch_template: "lt-0abc".into(),
                version: 3,
                stack: None,
            }
            .text(),
            "ASG web-asg via lt-0abc v3"
        );
        assert_eq!(
            Use::Asg {
                group: "web-Asg-1".into(),
                launch_template: "lt-0abc".into(),
                version: 3,
                stack: Some("web".into()),
            }
            .text(),
            "ASG web-Asg-1 (stack web) via lt-0abc v3"
        );
        assert_eq!(
            Use::Account {
                account_id: "111122223333".into(),
                resource_type: "ec2:Instance".into(),
                usage_count: 3,
                report_id: "amiur-1".into(),
                report_created: "2026-12-01T00:00:00Z".into(),
            }
            .text(),
            "account 111122223333: 3 instances (report amiur-1)"
        );
        assert_eq!(
            Use::Instance {
                id: "i-1".into(),
                state: "running".into()
            }
            .text(),
            "running instance i-1"
        );
        let referenced = |resource_type: &str, name: &str| Use::Referenced {
            resource_type: resource_type.into(),
            name: name.into(),
            arn: format!("arn:aws:x:r:1:{name}"),
        };
        assert_eq!(
            referenced("ec2:LaunchTemplate", "lt-0abc").text(),
            "launch template lt-0abc"
        );
        assert_eq!(
            referenced("ssm:Parameter", "/golden/web").text(),
            "SSM parameter /golden/web"
        );
        assert_eq!(
            referenced("imagebuilder:ImageRecipe", "web/1.0.0").text(),
            "imagebuilder:ImageRecipe web/1.0.0"
        );
    }

    #[test]
    fn a_prune_reason_in_use_serializes_as_the_use_itself() {
        let reason = crate::prune::Reason::InUse(Use::Channel {
            env: "prod".into(),
            parameter: "/amibake/web/prod".into(),
        });
        assert_eq!(
            serde_json::to_value(&reason).unwrap(),
            serde_json::json!({"kind": "channel", "env": "prod", "parameter": "/amibake/web/prod"})
        );
    }
}
