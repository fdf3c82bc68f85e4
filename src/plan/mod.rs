//! The plan: every API call and script a bake will make, in order, computed offline.
//!
//! `plan` prints it; `bake` walks it. Keeping it pure (no AWS, no clock beyond the
//! built-ins) means what a reviewer approves in `amibake plan` is what runs: the plan holds
//! what the bake makes (builder, steps, checks, image, boot test) and, in
//! [`Plan::actions`], the order it makes it in, with every instance type, script and
//! timeout ([`action`]); `text` renders the same list for a reviewer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::recipe::LoadedRecipe;
use crate::recipe::model::{Action as RecipeAction, Os, Source};
use crate::recipe::types::{AccountId, Duration, InstanceType, Region};
use crate::script::{self, RenderedStep, Script};
use crate::tags;

pub mod action;
mod calls;
pub mod probe;
mod text;

pub use action::{Action, CheckPhase, OnError, Role};
pub use calls::Calls;
pub use probe::{ProbePlan, RebuildPlan};

/// The whole bake, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub recipe: String,
    pub file: String,
    pub region: String,
    pub run_id: String,
    pub os: Os,
    pub vars: Vec<PlanVar>,
    pub source: Source,
    pub builder: BuilderPlan,
    pub steps: Vec<RenderedStep>,
    pub validate: Vec<PlannedCheck>,
    /// The last command on the builder before it stops (`image.hygiene`).
    pub hygiene: Option<Script>,
    pub image: ImagePlan,
    pub boot_test: Option<BootTestPlan>,
    /// `--if-changed`: what it rebuilds for (`rebuild:`, `--rebuild-for`) and the probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<RebuildPlan>,
    /// What the bake does, in order: what `plan` prints and `bake` walks.
    pub actions: Vec<Action>,
}

/// Where the manifest goes unless `--manifest` says otherwise.
pub const DEFAULT_MANIFEST: &str = "amibake-manifest.json";

/// What the command line adds to a recipe (`plan` and `bake` take the same flags).
#[derive(Debug, Clone)]
pub struct Overrides {
    /// `--copy-to`: more regions to copy the image to.
    pub copy_to: Vec<Region>,
    /// `--share-with`: more accounts to share the image with.
    pub share_with: Vec<AccountId>,
    /// `--if-changed` without `--force`: first look for an image baked from the same
    /// inputs ([`Action::ReuseCheck`]).
    pub reuse: bool,
    /// `--if-changed --force`: rebuild without looking (the run says so).
    pub forced: bool,
    /// `--rebuild-for`: replaces the recipe's `rebuild.updates`.
    pub rebuild_for: Option<crate::recipe::model::Updates>,
    /// `--history ssm` or `ssm:/PATH`: the path under which each recipe's wait history is
    /// kept in SSM ([`Action::ReadHistory`], [`Action::WriteHistory`]); `None` for
    /// `local` (the state directory's file, which the process reads and writes once for
    /// all its bakes: no call, no action).
    pub history_prefix: Option<String>,
    /// `--on-error`: what the cleanup does after a failure ([`Action::Cleanup`]).
    pub on_error: OnError,
    /// `--manifest`: where the manifest is written ([`Action::WriteManifest`]).
    pub manifest: PathBuf,
}

impl Default for Overrides {
    fn default() -> Overrides {
        Overrides {
            copy_to: Vec::new(),
            share_with: Vec::new(),
            reuse: false,
            forced: false,
            rebuild_for: None,
            history_prefix: None,
            on_error: OnError::default(),
            manifest: PathBuf::from(DEFAULT_MANIFEST),
        }
    }
}

impl Plan {
    /// What the plan's cleanup does after a failure (`--on-error`; a plan without a
    /// cleanup cleans up).
    pub fn on_error(&self) -> OnError {
        self.actions
            .iter()
            .find_map(|a| match a {
                Action::Cleanup { on_error } => Some(*on_error),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Where the plan's `WriteManifest` writes (`--manifest`).
    pub fn manifest(&self) -> Option<&std::path::Path> {
        self.actions.iter().find_map(|a| match a {
            Action::WriteManifest { manifest } => Some(manifest.as_path()),
            _ => None,
        })
    }
}

/// A var and where its value came from (secrets shown as `***`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanVar {
    pub name: String,
    pub value: serde_json::Value,
    pub secret: bool,
    pub origin: String,
}

/// The builder instance.
#[derive(Debug, Clone, Serialize)]
pub struct BuilderPlan {
    pub instance_type: InstanceType,
    /// `None`: the account's Default Host Management Configuration gives SSM access.
    pub iam_instance_profile: Option<String>,
    pub subnet_id: Option<String>,
    /// Empty: a temporary security group with no inbound rule is created and deleted.
    pub security_group_ids: Vec<String>,
    pub volume_size_gb: u32,
    pub volume_type: String,
    pub kms_key_id: Option<String>,
    pub associate_public_ip_address: Option<bool>,
    pub ready_timeout: Duration,
    /// Tags on the instance, its volumes and the temporary security group.
    pub tags: BTreeMap<String, String>,
}

/// A check with its script.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCheck {
    pub name: String,
    pub script: Script,
    pub expect_stdout: Option<String>,
    pub expect_exit: i32,
    pub timeout: Duration,
}

impl PlannedCheck {
    /// Whether amibake added this check (its name starts `built-in:`), not the recipe.
    pub fn is_built_in(&self) -> bool {
        self.name.starts_with("built-in:")
    }
}

/// The image and where it goes.
#[derive(Debug, Clone, Serialize)]
pub struct ImagePlan {
    pub name: String,
    pub description: String,
    /// Tags on the AMI and its snapshots (in every region). `amibake:input-hash` and
    /// `amibake:source-ami` are added at bake time, once the source AMI is resolved.
    pub tags: BTreeMap<String, String>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub copy_to: Vec<Region>,
    pub share_accounts: Vec<AccountId>,
    pub share_organizations: Vec<String>,
    pub share_organizational_units: Vec<String>,
    /// Always `false`: `validate` refuses `image.public: true` (every amibake image is
    /// encrypted, and AWS makes no encrypted image public). Kept in `plan --json`.
    pub public: bool,
    pub deprecate_after: Option<Duration>,
    /// `image.scan`: Inspector's scan of the new image and its limits.
    pub scan: Option<crate::recipe::model::Scan>,
}

impl ImagePlan {
    /// Whether the image is shared with anyone.
    pub fn shares(&self) -> bool {
        !self.share_accounts.is_empty()
            || !self.share_organizations.is_empty()
            || !self.share_organizational_units.is_empty()
    }

    /// Adds the command line's regions and accounts (the home region is never a copy).
    fn extend(&mut self, overrides: &Overrides, home: &str) {
        for r in &overrides.copy_to {
            if !self.copy_to.contains(r) && r.as_str() != home {
                self.copy_to.push(r.clone());
            }
        }
        for a in &overrides.share_with {
            if !self.share_accounts.contains(a) {
                self.share_accounts.push(a.clone());
            }
        }
    }
}

/// The instance launched from the new AMI to prove it boots right.
#[derive(Debug, Clone, Serialize)]
pub struct BootTestPlan {
    pub instance_type: InstanceType,
    /// Run once the instance's SSM agent is Online: until cloud-init and the boot are done.
    pub wait: Script,
    pub wait_timeout: Duration,
    pub checks: Vec<PlannedCheck>,
}

/// Default timeout of a check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long the boot test waits for cloud-init and the boot to finish.
const BOOT_WAIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The boot test: the recipe's, or one made of the built-in checks alone when the recipe
/// bakes a CodeDeploy agent (on by default then: that agent is what most often boots
/// wrong). Built-ins come first: the no-cycle check when a `systemd_override` orders a unit,
/// the ordering check when the agent is ordered after cloud-init, then the pin check, then
/// (2.x with `command_port`) the agent's own answer on its command port.
pub fn boot_test_plan(r: &crate::recipe::Recipe) -> Option<BootTestPlan> {
    let agent = r.steps.iter().find_map(|s| match &s.action {
        RecipeAction::CodedeployAgent(a) => Some(a),
        _ => None,
    });
    let configured = r.boot_test.as_ref();
    if configured.is_some_and(|b| !b.enabled) || (configured.is_none() && agent.is_none()) {
        return None;
    }
    let mut checks = Vec::new();
    let orders_units = r.steps.iter().any(|s| match &s.action {
        RecipeAction::SystemdOverride(o) => !o.after.is_empty(),
        _ => false,
    });
    if orders_units {
        checks.push(PlannedCheck {
            name: "built-in: no ordering cycle at boot".into(),
            script: script::no_cycle_check(),
            expect_stdout: Some(script::NO_CYCLE_OK.into()),
            expect_exit: 0,
            timeout: CHECK_TIMEOUT,
        });
    }
    if let Some(agent) = agent {
        if agent.start_after_cloud_init {
            checks.push(PlannedCheck {
                name: "built-in: codedeploy-agent started after cloud-final".into(),
                script: script::ordering_check(),
                expect_stdout: Some(script::ORDERING_OK.into()),
                expect_exit: 0,
                timeout: CHECK_TIMEOUT,
            });
        }
        checks.push(PlannedCheck {
            name: format!(
                "built-in: codedeploy-agent runs the pinned {}",
                agent.version
            ),
            script: script::pin_check(agent, r.builder.os),
            expect_stdout: Some(format!("pin: {}", agent.version.reported())),
            expect_exit: 0,
            timeout: CHECK_TIMEOUT,
        });
        if agent.command_port {
            checks.push(PlannedCheck {
                name: "built-in: codedeploy-agent answers on its command port".into(),
                script: script::command_port_check(),
                expect_stdout: Some(script::COMMAND_PORT_OK.into()),
                expect_exit: 0,
                timeout: CHECK_TIMEOUT,
            });
        }
    }
    checks.extend(
        configured
            .iter()
            .flat_map(|b| b.checks.iter())
            .map(plan_check),
    );
    Some(BootTestPlan {
        wait: script::wait_for_boot("boot test: wait for the boot to finish"),
        wait_timeout: BOOT_WAIT_TIMEOUT,
        instance_type: configured
            .and_then(|b| b.instance_type.clone())
            .unwrap_or_else(|| r.builder.instance_type.clone()),
        checks,
    })
}

impl Plan {
    /// Builds the plan of a loaded recipe, with the command line's additions.
    pub fn new(loaded: &LoadedRecipe, region: &str, run_id: &str, overrides: &Overrides) -> Plan {
        let r = &loaded.recipe;
        let base_tags = BTreeMap::from([
            (tags::RUN_ID.to_string(), run_id.to_string()),
            (tags::RECIPE.to_string(), r.name.to_string()),
            (
                tags::CREATED_BY.to_string(),
                tags::CREATED_BY_VALUE.to_string(),
            ),
        ]);
        let mut image = image_plan(r, run_id, base_tags.clone());
        image.extend(overrides, region);
        let mut plan = Plan {
            recipe: r.name.to_string(),
            file: loaded.path.display().to_string(),
            region: region.to_string(),
            run_id: run_id.to_string(),
            os: r.builder.os,
            vars: plan_vars(loaded),
            source: r.source.clone(),
            builder: builder_plan(r, base_tags),
            steps: r
                .steps
                .iter()
                .map(|s| script::render_step(s, r.builder.os, &loaded.masker))
                .collect(),
            validate: r.validate.iter().map(plan_check).collect(),
            hygiene: script::hygiene(&r.image.hygiene, r.builder.os),
            image,
            boot_test: boot_test_plan(r),
            rebuild: RebuildPlan::new(
                &r.rebuild,
                &r.builder,
                &r.source,
                overrides.reuse || overrides.forced,
                overrides.forced,
                overrides.rebuild_for,
            ),
            actions: Vec::new(),
        };
        plan.actions = action::actions(&plan, overrides);
        plan
    }

    /// The plan as one JSON document: every action (those nested in `distribute` too)
    /// with its `id` and its `calls` and `always` ([`Action::calls`]).
    pub fn to_json(&self) -> serde_json::Value {
        let mut doc = serde_json::to_value(self).unwrap_or_default();
        if let Some(list) = doc.get_mut("actions").and_then(|a| a.as_array_mut()) {
            calls::annotate(self, &self.actions, list);
        }
        if let Some(doc) = doc.as_object_mut() {
            let alongside = serde_json::to_value(calls::alongside()).unwrap_or_default();
            doc.insert("alongside".into(), alongside);
        }
        doc
    }
}

/// The vars and where each came from, secrets as `***`.
fn plan_vars(loaded: &LoadedRecipe) -> Vec<PlanVar> {
    loaded
        .vars
        .iter()
        .map(|(name, v)| PlanVar {
            name: name.clone(),
            value: if v.secret {
                serde_json::Value::String(crate::secret::MASK.into())
            } else {
                v.value.clone()
            },
            secret: v.secret,
            origin: v.origin.clone(),
        })
        .collect()
}

fn builder_plan(r: &crate::recipe::Recipe, mut tags: BTreeMap<String, String>) -> BuilderPlan {
    tags.insert("Name".into(), format!("amibake-builder {}", r.name));
    let b = &r.builder;
    BuilderPlan {
        instance_type: b.instance_type.clone(),
        iam_instance_profile: b.iam_instance_profile.clone(),
        subnet_id: b.subnet_id.clone(),
        security_group_ids: b.security_group_ids.clone(),
        volume_size_gb: b.volume_size_gb.get(),
        volume_type: b.volume_type.to_string(),
        kms_key_id: b.kms_key_id.clone(),
        associate_public_ip_address: b.associate_public_ip_address,
        ready_timeout: b.ready_timeout.into(),
        tags,
    }
}

fn image_plan(
    r: &crate::recipe::Recipe,
    run_id: &str,
    base_tags: BTreeMap<String, String>,
) -> ImagePlan {
    let img = &r.image;
    let mut tags = img.tags.clone();
    tags.extend(base_tags);
    tags.insert("Name".into(), img.name.to_string());
    // Set at creation like the rest, so every copy carries it; only where the tag budget
    // leaves room (`Recipe::agent_tag`, a warning at validate and plan otherwise).
    if let Some(pin) = r.agent_tag() {
        tags.insert(tags::AGENT.to_string(), pin.to_string());
    }
    ImagePlan {
        name: img.name.to_string(),
        description: img
            .description
            .clone()
            .unwrap_or_else(|| format!("{} baked by amibake (run {run_id})", r.name)),
        tags,
        encrypted: img.encrypted,
        kms_key_id: img.kms_key_id.clone(),
        copy_to: img.copy_to.clone(),
        share_accounts: img.share_with.accounts.clone(),
        share_organizations: img.share_with.organizations.clone(),
        share_organizational_units: img.share_with.organizational_units.clone(),
        public: img.public,
        deprecate_after: img.deprecate_after,
        scan: img.scan.clone(),
    }
}

fn plan_check(c: &crate::recipe::Check) -> PlannedCheck {
    PlannedCheck {
        name: c.name.clone(),
        script: script::render_check(c),
        expect_stdout: c.expect_stdout.clone(),
        expect_exit: c.expect_exit,
        timeout: c.timeout.map_or(CHECK_TIMEOUT, Into::into),
    }
}
