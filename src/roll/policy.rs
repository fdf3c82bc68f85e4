//! Which update policy replaces the group's instances, and what an instance refresh
//! cannot roll back.
//!
//! A stack's Auto Scaling group is replaced either by CloudFormation's rolling update
//! (`AutoScalingRollingUpdate`, judged by the instances' signals) or by an instance
//! refresh (`AutoScalingInstanceRefresh`: checkpoints, bake time, alarms; the two are
//! mutually exclusive). The roll watches the one that acts. A refresh's own rollback
//! needs a fixed launch template version and an image that is not read from an SSM
//! parameter at deploy time; a template that breaks either is refused before anything
//! changes, with the fix.

use serde::Serialize;

use super::RollError;

/// The update policy of the template's Auto Scaling group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// `AutoScalingRollingUpdate`: batches judged by success signals.
    RollingUpdate,
    /// `AutoScalingInstanceRefresh`: an instance refresh with checkpoints, bake time and
    /// alarms.
    InstanceRefresh,
    /// Neither: CloudFormation replaces the group or leaves its instances as they are.
    Unspecified,
}

impl Policy {
    /// The policy a template (YAML or JSON) gives its group.
    pub fn of_template(body: &str) -> Policy {
        let text = without_comments(body);
        if text.contains("AutoScalingInstanceRefresh") {
            Policy::InstanceRefresh
        } else if text.contains("AutoScalingRollingUpdate") {
            Policy::RollingUpdate
        } else {
            Policy::Unspecified
        }
    }

    /// How a line names it.
    pub fn describe(self) -> &'static str {
        match self {
            Policy::RollingUpdate => "rolling update (AutoScalingRollingUpdate)",
            Policy::InstanceRefresh => "instance refresh (AutoScalingInstanceRefresh)",
            Policy::Unspecified => "no update policy",
        }
    }
}

/// What would keep an instance refresh from rolling back, with the fix; `Ok` when
/// nothing does. `body` is the template the stack will run; `image_parameter` the
/// parameter carrying the AMI; `versions` the launch template versions the stack's groups
/// use now.
pub fn check_refresh(
    body: &str,
    image_parameter: &str,
    resolved_from_ssm: bool,
    versions: &[String],
) -> Result<(), RollError> {
    let text = without_comments(body);
    let refuse = |what: String, fix: &str| {
        Err(RollError::Usage(format!(
            "the stack's group is replaced by an instance refresh, which cannot roll back when {what}: {fix}"
        )))
    };
    if resolved_from_ssm
        || parameter_type(&text, image_parameter)
            .is_some_and(|t| t.contains("AWS::SSM::Parameter::Value"))
    {
        return refuse(
            format!("its image parameter {image_parameter} is read from an SSM parameter"),
            "declare it `Type: AWS::EC2::Image::Id` and let amibake resolve the parameter (`--ami /path/to/parameter` or `--channel`)",
        );
    }
    if text.contains("{{resolve:ssm:") {
        return refuse(
            "the template resolves a value from SSM (`{{resolve:ssm:…}}`)".to_string(),
            "pass the AMI through a parameter of type AWS::EC2::Image::Id instead",
        );
    }
    let floating = ["$Latest", "$Default"];
    if let Some(v) = floating
        .iter()
        .find(|v| text.contains(*v) || versions.iter().any(|u| u == *v))
    {
        return refuse(
            format!("the group uses launch template version {v}"),
            "set the group's LaunchTemplate Version to `!GetAtt LaunchTemplate.LatestVersionNumber`",
        );
    }
    Ok(())
}

/// The declared `Type` of a template parameter, read from the text (YAML `Key:` block or
/// JSON `"Key": {…}`), when it can be found.
fn parameter_type<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let params = &text[text.find("Parameters")?..];
    let at = params
        .find(&format!("\n  {key}:"))
        .or_else(|| params.find(&format!("\"{key}\"")))?;
    let block = &params[at..];
    let ty = &block[block.find("Type")?..];
    let line = ty.lines().next()?;
    Some(
        line.split_once(':')?
            .1
            .trim()
            .trim_matches(|c| c == '"' || c == ','),
    )
}

/// The template without YAML comments (a `#` at the start of a line or after a space;
/// `#` inside values such as URLs stays).
fn without_comments(body: &str) -> String {
    body.lines()
        .map(|l| {
            let cut = l
                .char_indices()
                .find(|&(i, c)| c == '#' && (i == 0 || l[..i].ends_with(char::is_whitespace)))
                .map_or(l.len(), |(i, _)| i);
            &l[..cut]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFRESH: &str = include_str!("../../cfn-templates/asg-instance-refresh.yaml");
    const ROLLING: &str = include_str!("../../cfn-templates/asg-rolling.yaml");

    #[test]
    fn the_shipped_templates_name_their_policy() {
        assert_eq!(Policy::of_template(REFRESH), Policy::InstanceRefresh);
        assert_eq!(Policy::of_template(ROLLING), Policy::RollingUpdate);
        assert_eq!(Policy::of_template("Resources: {}"), Policy::Unspecified);
        // A comment naming the other policy does not count.
        let commented = ROLLING.replace(
            "    UpdatePolicy:",
            "    # not AutoScalingInstanceRefresh\n    UpdatePolicy:",
        );
        assert_eq!(Policy::of_template(&commented), Policy::RollingUpdate);
    }

    #[test]
    fn the_shipped_refresh_template_can_roll_back() {
        assert!(check_refresh(REFRESH, "ImageId", false, &["3".to_string()]).is_ok());
    }

    #[test]
    fn an_image_from_ssm_or_a_floating_version_is_refused_with_the_fix() {
        let ssm = REFRESH.replace(
            "  ImageId:\n    Type: AWS::EC2::Image::Id",
            "  ImageId:\n    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        );
        let err = check_refresh(&ssm, "ImageId", false, &[]).unwrap_err();
        assert!(err.to_string().contains("AWS::EC2::Image::Id"), "{err}");
        assert!(check_refresh(REFRESH, "ImageId", true, &[]).is_err());

        let latest = REFRESH.replace(
            "!GetAtt LaunchTemplate.LatestVersionNumber\n      MinSize",
            "\"$Latest\"\n      MinSize",
        );
        assert_ne!(latest, REFRESH);
        let err = check_refresh(&latest, "ImageId", false, &[]).unwrap_err();
        assert!(err.to_string().contains("$Latest"), "{err}");
        assert!(err.to_string().contains("LatestVersionNumber"), "{err}");
        let err = check_refresh(REFRESH, "ImageId", false, &["$Default".into()]).unwrap_err();
        assert!(err.to_string().contains("$Default"), "{err}");

        let resolve = REFRESH.replace(
            "ImageId: !Ref ImageId",
            "ImageId: \"{{resolve:ssm:/golden/web}}\"",
        );
        assert!(check_refresh(&resolve, "ImageId", false, &[]).is_err());
    }
}
