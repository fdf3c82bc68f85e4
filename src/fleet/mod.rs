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

mod survey;

pub use survey::survey;

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
    },
    /// The image of a launch configuration an Auto Scaling group uses.
    LaunchConfiguration { group: String, name: String },
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
            } => format!("ASG {group} via {launch_template} v{version}"),
            Use::LaunchConfiguration { group, name } => {
                format!("ASG {group} via launch configuration {name}")
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
        }
    }
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
                version: 3
            }
            .text(),
            "ASG web-asg via lt-0abc v3"
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
