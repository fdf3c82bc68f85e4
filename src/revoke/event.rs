//! What `revoke` and `restore` tell their user: the plan (what they would do, or do,
//! and the blast radius), each step as it is done, and how they ended.

use std::fmt;

use serde::Serialize;

use crate::event::Said;

use super::RevokePlan;
use super::plan::{ChannelStep, ImageStep, RegionUses, StackStep};
use super::restore::{LeftAlone, RestorePlan};

/// An event of `revoke` or `restore`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RevokeEvent {
    /// Everything read and decided, before anything changes.
    Plan {
        command: &'static str,
        ami: String,
        recipe: String,
        /// Without `--yes`: nothing will change.
        dry_run: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        channels: Vec<ChannelStep>,
        images: Vec<ImageStep>,
        /// revoke: what still uses each region's image (the fleet survey).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        blast_radius: Vec<RegionUses>,
        /// revoke `--roll-back-stacks`: the stacks it rolls back.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        stacks: Vec<StackStep>,
    },
    /// A channel was moved (back by revoke, forward by restore).
    Moved(ChannelStep),
    /// An image was disabled.
    Disabled { region: String, ami: String },
    /// An image was enabled again.
    Enabled { region: String, ami: String },
    /// A stack was rolled back to its previous image.
    RolledBack {
        region: String,
        stack: String,
        summary: String,
    },
    /// restore: a channel revoke moved but that changed since, left as it is.
    LeftAlone(LeftAlone),
    /// How it ended.
    Done {
        command: &'static str,
        ami: String,
        dry_run: bool,
        /// Nothing was left to do: everything was revoked (or restored) already.
        already: bool,
    },
}

impl RevokeEvent {
    pub fn plan(plan: &RevokePlan, dry_run: bool) -> RevokeEvent {
        RevokeEvent::Plan {
            command: "revoke",
            ami: plan.ami.clone(),
            recipe: plan.recipe.clone(),
            dry_run,
            reason: Some(plan.reason.clone()),
            channels: plan.channels.clone(),
            images: plan.images.clone(),
            blast_radius: plan.blast_radius.clone(),
            stacks: plan.stacks.clone(),
        }
    }

    pub fn restore_plan(plan: &RestorePlan, dry_run: bool) -> RevokeEvent {
        RevokeEvent::Plan {
            command: "restore",
            ami: plan.ami.clone(),
            recipe: plan.recipe.clone(),
            dry_run,
            reason: None,
            channels: plan.channels.clone(),
            images: plan.images.clone(),
            blast_radius: Vec::new(),
            stacks: Vec::new(),
        }
    }

    pub fn done(command: &'static str, ami: &str, dry_run: bool, already: bool) -> RevokeEvent {
        RevokeEvent::Done {
            command,
            ami: ami.to_string(),
            dry_run,
            already,
        }
    }
}

impl Said for RevokeEvent {}

fn done_mark(done: bool) -> &'static str {
    if done { " (done already)" } else { "" }
}

impl fmt::Display for RevokeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevokeEvent::Plan {
                command,
                ami,
                recipe,
                dry_run,
                reason,
                channels,
                images,
                blast_radius,
                stacks,
            } => {
                let verb = if *command == "revoke" {
                    "disable"
                } else {
                    "enable"
                };
                write!(f, "{command} {ami} (recipe {recipe})")?;
                if let Some(reason) = reason {
                    write!(f, ", reason: {reason:?}")?;
                }
                if *dry_run {
                    write!(f, " — dry run, nothing changes (pass --yes to do it):")?;
                } else {
                    write!(f, ":")?;
                }
                for c in channels {
                    write!(
                        f,
                        "\n  channel {} in {}: {} → {}{}",
                        c.parameter,
                        c.region,
                        c.from,
                        c.to,
                        done_mark(c.done)
                    )?;
                }
                for i in images {
                    write!(
                        f,
                        "\n  {verb} {} in {} (now {}){}",
                        i.ami,
                        i.region,
                        i.state,
                        done_mark(i.done)
                    )?;
                }
                for s in stacks {
                    write!(
                        f,
                        "\n  roll stack {} in {} back to {}",
                        s.stack, s.region, s.to
                    )?;
                }
                for r in blast_radius {
                    let uses: Vec<String> = r.uses.iter().map(|u| u.text()).collect();
                    write!(
                        f,
                        "\n  blast radius in {} ({}): {}",
                        r.region,
                        r.ami,
                        if uses.is_empty() {
                            "nothing uses it".to_string()
                        } else {
                            uses.join("; ")
                        }
                    )?;
                }
                Ok(())
            }
            RevokeEvent::Moved(c) => write!(
                f,
                "channel {} in {}: {} → {}",
                c.parameter, c.region, c.from, c.to
            ),
            RevokeEvent::Disabled { region, ami } => write!(f, "disabled {ami} in {region}"),
            RevokeEvent::Enabled { region, ami } => write!(f, "enabled {ami} in {region}"),
            RevokeEvent::RolledBack {
                region, summary, ..
            } => write!(f, "{summary} in {region}"),
            RevokeEvent::LeftAlone(l) => write!(
                f,
                "WARNING: channel {} in {} changed since the revoke (it holds {}): left alone",
                l.parameter, l.region, l.holds
            ),
            RevokeEvent::Done {
                command,
                ami,
                dry_run,
                already,
            } => {
                if *already {
                    let past = if *command == "revoke" {
                        "revoked"
                    } else {
                        "restored"
                    };
                    write!(f, "{ami} is {past} already: nothing to do")
                } else if *dry_run {
                    write!(
                        f,
                        "dry run: nothing changed; rerun with --yes to {command} {ami}"
                    )
                } else if *command == "revoke" {
                    write!(
                        f,
                        "revoked {ami}: channels moved back, image and copies disabled (nothing deregistered); `amibake restore` undoes it"
                    )
                } else {
                    write!(f, "restored {ami}: images enabled, channels moved forward")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Use;

    fn plan() -> RevokePlan {
        RevokePlan {
            ami: "ami-b".into(),
            recipe: "web".into(),
            reason: "CVE".into(),
            channels: vec![ChannelStep {
                region: "eu-west-1".into(),
                parameter: "/amibake/web/prod".into(),
                env: "prod".into(),
                from: "ami-b".into(),
                to: "ami-a".into(),
                done: false,
            }],
            images: vec![ImageStep {
                region: "eu-west-1".into(),
                ami: "ami-b".into(),
                state: "available".into(),
                done: false,
            }],
            blast_radius: vec![RegionUses {
                region: "eu-west-1".into(),
                ami: "ami-b".into(),
                uses: vec![Use::StackImage {
                    stack: "web".into(),
                }],
            }],
            stacks: vec![],
        }
    }

    #[test]
    fn the_dry_run_says_each_step_and_the_blast_radius() {
        let text = RevokeEvent::plan(&plan(), true).to_string();
        assert!(
            text.starts_with("revoke ami-b (recipe web), reason: \"CVE\" — dry run"),
            "{text}"
        );
        assert!(
            text.contains("\n  channel /amibake/web/prod in eu-west-1: ami-b → ami-a"),
            "{text}"
        );
        assert!(
            text.contains("\n  disable ami-b in eu-west-1 (now available)"),
            "{text}"
        );
        assert!(
            text.contains("\n  blast radius in eu-west-1 (ami-b): image of stack web"),
            "{text}"
        );
        let json = serde_json::to_value(RevokeEvent::plan(&plan(), true)).unwrap();
        assert_eq!(json["event"], "plan");
        assert_eq!(json["blast_radius"][0]["uses"][0]["kind"], "stack_image");
    }

    #[test]
    fn stacks_left_on_the_image_are_warned_about_unless_rolled_back() {
        let mut p = plan();
        let w = p.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("stacks on ami-b in eu-west-1: web")
                && w[0].contains("--roll-back-stacks"),
            "{w:?}"
        );
        p.stacks.push(StackStep {
            region: "eu-west-1".into(),
            stack: "web".into(),
            to: "ami-a".into(),
        });
        assert!(p.warnings().is_empty(), "rolled back: {:?}", p.warnings());
        p.stacks.clear();
        p.blast_radius[0].uses = vec![Use::Asg {
            group: "web-asg".into(),
            launch_template: "lt-1".into(),
            version: 2,
            stack: None,
        }];
        let w = p.warnings();
        assert!(
            w[0].starts_with("ASG web-asg via lt-1 v2 in eu-west-1 launch from ami-b"),
            "{w:?}"
        );
    }

    #[test]
    fn a_plan_with_everything_done_is_a_rerun_with_nothing_left() {
        let mut p = plan();
        assert!(!p.done());
        p.channels[0].done = true;
        p.images[0].done = true;
        assert!(p.done());
        let done = RevokeEvent::done("revoke", "ami-b", false, true).to_string();
        assert_eq!(done, "ami-b is revoked already: nothing to do");
    }
}
