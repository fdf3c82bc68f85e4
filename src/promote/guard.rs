//! The guard: `promote` publishes only images amibake baked for this recipe, complete, in
//! this account. A manifest is a file anyone can write; without the guard it could name a
//! public base AMI, another account's image, a half-made one or another recipe's, and the
//! channel would hand it to every stack that rolls from it. `--allow-foreign-image` is
//! the deliberate exception: it says so loudly and the channel records it.

use crate::aws::ec2::{self, ImageInfo};
use crate::aws::{Aws, poll};
use crate::error::FromAws;
use crate::report::Reporter;
use crate::tags;

use super::PromoteError;

/// What is wrong with an image for `recipe`, given what DescribeImages with Owners=self
/// says of it (`None`: not this account's); empty when nothing is.
pub fn problems(recipe: &str, own: Option<&ImageInfo>) -> Vec<String> {
    let Some(img) = own else {
        return vec!["not owned by this account (a public image or another account's)".into()];
    };
    let tag = |k: &str| img.tags.get(k).map(String::as_str);
    let mut wrong = Vec::new();
    if tag(tags::CREATED_BY) != Some(tags::CREATED_BY_VALUE) {
        wrong.push(format!(
            "not tagged {}={} (amibake did not bake it)",
            tags::CREATED_BY,
            tags::CREATED_BY_VALUE
        ));
    }
    match tag(tags::RECIPE) {
        Some(r) if r == recipe => {}
        Some(other) => wrong.push(format!(
            "baked for recipe {other}, not {recipe} ({}={other})",
            tags::RECIPE
        )),
        None => wrong.push(format!("not tagged {}={recipe}", tags::RECIPE)),
    }
    if tag(tags::COMPLETE) != Some("true") {
        wrong.push(format!(
            "not tagged {}=true (its bake did not finish)",
            tags::COMPLETE
        ));
    }
    if !img.state.is_available() {
        wrong.push(format!("{}, not available", img.state.as_str()));
    }
    wrong
}

/// Checks every image of the promotion (region, image) for `recipe`: what is wrong with
/// each it refuses ("AMI … in …: why"), empty when every image passes.
pub(super) async fn check_baked(
    aws: &Aws,
    recipe: &str,
    images: &[(String, ImageInfo)],
) -> Result<Vec<String>, PromoteError> {
    let mut foreign = Vec::new();
    for (region, img) in images {
        let client = aws.ec2(region).map_err(PromoteError::aws("image"))?;
        let own = poll::retry(|| ec2::describe_own_image(&client, &img.id))
            .await
            .map_err(PromoteError::aws("image"))?;
        let wrong = problems(recipe, own.as_ref());
        if !wrong.is_empty() {
            foreign.push(format!("AMI {} in {region}: {}", img.id, wrong.join("; ")));
        }
    }
    Ok(foreign)
}

/// The guard's refusal (exit 2, nothing changed) of the first image it refuses.
pub(super) fn refusal(recipe: &str, foreign: &[String]) -> PromoteError {
    let what = foreign.first().map(String::as_str).unwrap_or_default();
    PromoteError::Usage(format!(
        "refusing to promote {what}; nothing changed. Promote the manifest of a finished bake of recipe {recipe}, or pass --allow-foreign-image to publish this image anyway (the channel records it)"
    ))
}

/// `--allow-foreign-image` let these through: a loud warning for each.
pub(super) fn warn(foreign: &[String], reporter: &Reporter) {
    for what in foreign {
        reporter.say(&format!(
            "WARNING: --allow-foreign-image: promoting {what}. Every stack that rolls from this channel gets an image amibake did not check; the channel is tagged {}=true",
            tags::FOREIGN_IMAGE
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageState;

    fn image(tags: &[(&str, &str)]) -> ImageInfo {
        ImageInfo {
            id: "ami-1".into(),
            name: "web-1".into(),
            state: ImageState::Available,
            state_reason: None,
            root_device_name: None,
            snapshot_ids: vec![],
            encrypted: true,
            creation_date: String::new(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn only_this_recipes_complete_bake_of_this_account_passes() {
        let baked = [
            (tags::CREATED_BY, tags::CREATED_BY_VALUE),
            (tags::RECIPE, "web"),
            (tags::COMPLETE, "true"),
        ];
        assert!(problems("web", Some(&image(&baked))).is_empty());
        assert!(problems("web", None)[0].contains("not owned by this account"));
        let other = problems("api", Some(&image(&baked)));
        assert_eq!(other.len(), 1);
        assert!(
            other[0].contains("baked for recipe web, not api"),
            "{other:?}"
        );
        let incomplete = problems("web", Some(&image(&baked[..2])));
        assert!(
            incomplete[0].contains("amibake:complete=true"),
            "{incomplete:?}"
        );
        assert_eq!(problems("web", Some(&image(&[]))).len(), 3);
    }
}
