//! The image's tag budget: EC2 allows 50 tags per image, and an image of the recipe carries
//! the recipe's `image.tags` plus amibake's own. Counted here, once, so the agent pin
//! (`amibake:agent`, which `status` reads) is added only where it fits: a recipe that
//! validated before the pin existed (up to [`MAX_IMAGE_TAGS`] tags) still validates and
//! bakes, and is told, at `validate` and `plan`, that its images go without the pin.

use crate::recipe::types::{AgentVersion, MAX_IMAGE_TAGS};
use crate::tags;

use super::{Action, Recipe, RecipeWarning};

/// EC2's limit: tags per resource (an image, each of its snapshots).
pub const EC2_MAX_TAGS: usize = 50;

/// The `amibake:*` keys every image of a recipe may carry, whatever the recipe says:
/// set at creation (the first six), when the bake succeeds (`complete`), and on a copy
/// `promote` makes (`copy-of`, beside every tag of the image it copies). `Name` comes on
/// top, `amibake:scan` with `image.scan`, `amibake:agent` with an agent step.
pub const ALWAYS: [&str; 8] = [
    tags::RUN_ID,
    tags::RECIPE,
    tags::CREATED_BY,
    tags::INPUT_HASH,
    tags::SOURCE_AMI,
    tags::LEASE_UNTIL,
    tags::COMPLETE,
    tags::COPY_OF,
];

impl Recipe {
    /// The CodeDeploy agent the image carries: the pin of the last `codedeploy_agent`
    /// step (a later install replaces an earlier one).
    pub fn agent_pin(&self) -> Option<&AgentVersion> {
        self.steps.iter().rev().find_map(|s| match &s.action {
            Action::CodedeployAgent(a) => Some(&a.version),
            _ => None,
        })
    }

    /// The most tags an image of this recipe (or a copy of it, by the bake or `promote`)
    /// ends with, `agent` saying whether `amibake:agent` is among them: the recipe's own
    /// (a `Name` of its own is replaced by amibake's, not added), `Name`, [`ALWAYS`], and
    /// `amibake:scan` when the recipe scans.
    pub fn image_tag_count(&self, agent: bool) -> usize {
        let own = self.image.tags.keys().filter(|k| *k != "Name").count();
        own + 1 + ALWAYS.len() + usize::from(self.image.scan.is_some()) + usize::from(agent)
    }

    /// The value of `amibake:agent` on the recipe's images: the pin as written (`2.1.0`,
    /// `2.1.0-9745926189`, `1.7.1-110`); `None` without an agent step, or when the
    /// recipe's own tags leave no room for it (see [`Recipe::agent_tag_warning`]).
    pub fn agent_tag(&self) -> Option<&AgentVersion> {
        self.agent_pin()
            .filter(|_| self.image_tag_count(true) <= EC2_MAX_TAGS)
    }

    /// Why the images go without `amibake:agent`, when the recipe installs the agent and
    /// its own tags leave no room for the pin; with the most it may keep.
    pub(super) fn agent_tag_warning(&self) -> Option<RecipeWarning> {
        let pin = self.agent_pin()?;
        if self.agent_tag().is_some() {
            return None;
        }
        let own = self.image.tags.keys().filter(|k| *k != "Name").count();
        let room = own - (self.image_tag_count(true) - EC2_MAX_TAGS);
        Some(RecipeWarning {
            at: "image.tags".into(),
            message: format!(
                "{own} tags leave no room for the agent pin ({} = {pin}): EC2 allows \
                 {EC2_MAX_TAGS} per image and amibake adds up to {} of its own here, so the \
                 images go without it and `amibake status` shows their agent as unknown (`-`); \
                 fix: keep at most {room} tags",
                tags::AGENT,
                self.image_tag_count(true) - own,
            ),
        })
    }
}

/// The recipe's limit still fits without the pin: [`MAX_IMAGE_TAGS`] of the recipe's own
/// with everything amibake may add but the pin is exactly EC2's limit.
const _: () = assert!(MAX_IMAGE_TAGS + 1 + ALWAYS.len() + 1 == EC2_MAX_TAGS);

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(agent: Option<&str>, tags: usize, scan: bool, name_tag: bool) -> Recipe {
        let step = match agent {
            Some(pin) => format!("codedeploy_agent: {{ version: \"{pin}\" }}"),
            None => "shell: \"true\"".to_string(),
        };
        let mut own: Vec<String> = (0..tags).map(|n| format!("K{n}: v")).collect();
        if name_tag {
            own[0] = "Name: mine".into();
        }
        let yaml = format!(
            "name: tagged\nsource: {{ ami: ami-12345678 }}\n\
             builder: {{ iam_instance_profile: p }}\nsteps:\n  - {step}\n\
             image:\n  name: t-image\n  tags: {{ {} }}\n{}",
            own.join(", "),
            if scan { "  scan: {}\n" } else { "" }
        );
        crate::recipe::yaml::from_str(std::path::Path::new("t.yaml"), &yaml).expect("a recipe")
    }

    #[test]
    fn the_most_amibake_adds_is_eleven_with_a_scan_and_the_pin() {
        // Name, run-id, recipe, created-by, input-hash, source-ami, lease-until, complete,
        // copy-of, scan, agent.
        let r = recipe(Some("2.1.0"), 0, true, false);
        assert_eq!(r.image_tag_count(true), 11);
        assert_eq!(r.image_tag_count(false), 10);
        assert_eq!(recipe(None, 0, false, false).image_tag_count(false), 9);
    }

    #[test]
    fn the_pin_is_tagged_where_it_fits_and_warned_of_where_it_does_not() {
        for (tags, scan, name_tag, fits) in [
            (MAX_IMAGE_TAGS, true, false, false),
            (MAX_IMAGE_TAGS - 1, true, false, true),
            (MAX_IMAGE_TAGS, false, false, true),
            // A `Name` of the recipe's own is replaced, not added.
            (MAX_IMAGE_TAGS, true, true, true),
        ] {
            let r = recipe(Some("1.7.1-110"), tags, scan, name_tag);
            assert!(
                r.image_tag_count(false) <= EC2_MAX_TAGS,
                "the contract holds"
            );
            assert_eq!(r.agent_tag().is_some(), fits, "{tags} {scan} {name_tag}");
            let warning = r.agent_tag_warning();
            assert_eq!(warning.is_some(), !fits, "{tags} {scan} {name_tag}");
            if let Some(w) = warning {
                assert_eq!(w.at, "image.tags");
                assert!(w.message.contains("keep at most 39 tags"), "{}", w.message);
                assert!(
                    w.message.contains("amibake:agent = 1.7.1-110"),
                    "{}",
                    w.message
                );
                assert!(w.message.contains("up to 11"), "{}", w.message);
            }
        }
        let plain = recipe(None, MAX_IMAGE_TAGS, true, false);
        assert!(plain.agent_tag().is_none() && plain.agent_tag_warning().is_none());
    }

    #[test]
    fn the_last_agent_step_is_the_pin() {
        let mut r = recipe(Some("2.0.1"), 1, false, false);
        let later = recipe(Some("2.1.0"), 1, false, false).steps;
        r.steps.extend(later);
        assert_eq!(r.agent_tag().map(|p| p.as_str()), Some("2.1.0"));
    }
}
