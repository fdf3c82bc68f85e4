//! The plan tells the truth about the calls: a bake on the emulator makes, action by
//! action, only the calls its plan (`amibake plan --json`, same recipe and flags) lists
//! for that action, and every call the plan says the action always makes.
//!
//! amibake names the plan action each request serves in the `x-amibake-action` header;
//! the emulator counts requests by it (`by_plan_action` of `GET /_amibake/stats`). A
//! request that names no action (`-`), or a name that is no action of the plan, fails the
//! test as surely as a call the plan does not list.
//!
//! The recipe and flags exercise as many actions as one bake can: the wait history in SSM
//! (read and write), an SSM-parameter source, the reuse check of `--if-changed` (nothing to
//! reuse: it bakes), no instance profile (the Default Host Management check), a subnet
//! (DescribeSubnets), a customer managed key in both regions (the preflight's key checks),
//! a copy, a share, deprecation, steps of every command kind with a reboot, validation,
//! the boot test, the image scan (`image.scan`: the preflight's scan check, and the scan
//! beside the copy and the boot test) and the closing cleanup; a second bake fails at its
//! boot test, so the cleanup's failure path runs too. The two regions are these tests'
//! alone: no other test bakes or copies there while one runs (the realos tests that bake
//! in them claim them).
//!
//! `always` (the reverse direction) is what the plan says a successful run of an action
//! makes at least once; calls an action makes only sometimes (a poll's EC2 look at the
//! instance, a retry, the cleanup's failure path) are in `calls` only, and a failed bake
//! is held to the one direction.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::emulator::*;

const HOME: &str = "us-west-1";
const FAR: &str = "ap-northeast-2";
/// The account the image is shared with (by flag, on `plan` and `bake` alike).
const ACCOUNT: &str = "444455556666";
/// What only the boot test's check runs: `fail_command_matching` on it fails the bake
/// after the image and its copy exist.
const BOOT_ONLY: &str = "boot-only-check";

/// One action's lists in the plan.
#[derive(Debug, Default, PartialEq)]
struct Listed {
    /// Every call the action may make.
    calls: BTreeSet<String>,
    /// The calls a successful run of the action always makes.
    always: BTreeSet<String>,
    /// The action holds others (`distribute`): its lists are theirs, and its requests
    /// name them, so it is checked through them.
    holds_others: bool,
}

/// Calls the emulator counted: plan action id → `service:Action` → count.
type Seen = BTreeMap<String, BTreeMap<String, u64>>;

/// A plan's lists and the calls its bake made, with the bake's output.
struct Baked {
    lists: BTreeMap<String, Listed>,
    seen: Seen,
    out: Output,
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_bake_makes_the_calls_its_plan_lists_action_by_action() {
    let Baked { lists, seen, out } = plan_and_bake(serde_json::json!({}), false);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let exercised = [
        "read_history",
        "resolve_source",
        "reuse_check",
        "check_host_management",
        "preflight",
        "create_security_group",
        "step:5",
        "checks:validate",
        "deprecate",
        "copy:ap-northeast-2",
        "checks:boot-test",
        "scan",
        "share",
        "cleanup",
        "write_history",
    ];
    for id in exercised {
        assert!(
            lists.contains_key(id),
            "the recipe should exercise {id}: {lists:?}"
        );
    }
    assert_walked_the_plan(&lists, &seen, &out);
}

/// A bake that fails at its boot test takes the cleanup's failure path (terminate,
/// deregister the images and copies, delete their snapshots): those calls too are the
/// cleanup's. Only the one direction holds here: actions after the failure never ran.
#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_failed_bake_makes_only_calls_its_plan_lists_cleanup_included() {
    let knobs = serde_json::json!({ "fail_command_matching": BOOT_ONLY });
    let Baked { lists, seen, out } = plan_and_bake(knobs, false);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let wrong = mismatches(&lists, &seen, false);
    assert!(
        wrong.is_empty(),
        "the failed bake made calls its plan does not list:\n  {}\nseen: {seen:#?}",
        wrong.join("\n  ")
    );
    let cleanup = seen.get("cleanup").cloned().unwrap_or_default();
    for call in ["ec2:DeregisterImage", "ec2:DeleteSnapshot"] {
        assert!(
            cleanup.contains_key(call),
            "the cleanup after the failure made no {call}: {seen:#?}"
        );
    }
    let run_id = run_id(&events(&out));
    rt().block_on(assert_nothing_left(&[HOME, FAR], &run_id, false));
}

/// `rebuild.updates: security` with a security update pending on the newest image: the
/// reuse check finds it, the probe (launch, wait, the package-manager query, terminate)
/// runs and the bake goes on, so a plan with the probe's actions is walked whole too.
#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_rebuild_after_the_probe_makes_the_calls_its_plan_lists() {
    let pending = serde_json::json!([{
        "package": "libssl3", "installed": "3.0.1-1", "candidate": "3.0.1-2", "security": true
    }]);
    let knobs = serde_json::json!({ "pending_updates": pending });
    let Baked { lists, seen, out } = plan_and_bake(knobs, true);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for id in [
        "launch:probe",
        "wait_ready:probe",
        "probe_updates",
        "terminate:probe",
    ] {
        assert!(lists.contains_key(id), "the plan lists {id}: {lists:?}");
    }
    assert_eq!(
        last(&events(&out), "rebuild_decision")["reason"],
        "updates-pending"
    );
    assert_walked_the_plan(&lists, &seen, &out);
}

/// Plans the test's recipe with the test's flags, then bakes it with the same flags, the
/// emulator's `knobs` set in the home region; asserts that the bake walked the plan
/// `plan` printed. `rebuild`: the recipe rebuilds for security updates, and a bake with
/// the same flags first makes the image the probe judges.
fn plan_and_bake(mut knobs: serde_json::Value, rebuild: bool) -> Baked {
    // No instance profile: the account's Default Host Management Configuration lets the
    // agents register, and the plan checks it first.
    let role = "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole";
    knobs["default_host_management"] = role.into();
    configure(HOME, knobs);
    claim(FAR);
    let state = tempfile::tempdir().unwrap();
    let recipe = write_recipe(state.path(), rebuild);
    let flags = ["--share-with", ACCOUNT, "--if-changed", "--history", "ssm"];
    if rebuild {
        let first = bake_json(HOME, state.path(), &recipe, &flags);
        assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    }

    let out = amibake(HOME, state.path())
        .args(["--json", "plan"])
        .arg(&recipe)
        .args(flags)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan --json");
    let lists = listed(&plan);

    // From here on, what the emulator counts in both regions is the bake's.
    reset_stats(HOME);
    reset_stats(FAR);
    let out = bake_json(HOME, state.path(), &recipe, &flags);
    let walked = listed(&last(&events(&out), "plan")["plan"]);
    assert_eq!(
        walked, lists,
        "the plan bake walked is the one `plan` printed"
    );
    let mut seen = calls_by_plan_action(HOME);
    for (id, calls) in calls_by_plan_action(FAR) {
        let into = seen.entry(id).or_default();
        for (call, n) in calls {
            *into.entry(call).or_default() += n;
        }
    }
    Baked { lists, seen, out }
}

/// The plan's actions by id, those nested in `distribute` too.
fn listed(plan: &serde_json::Value) -> BTreeMap<String, Listed> {
    let mut listed = BTreeMap::new();
    // What runs beside the walk (the lease renewal) names itself like an action does.
    let mut todo: Vec<&serde_json::Value> = plan["actions"]
        .as_array()
        .expect("the plan's `actions`")
        .iter()
        .chain(
            plan["alongside"]
                .as_array()
                .expect("the plan's `alongside`"),
        )
        .collect();
    while let Some(action) = todo.pop() {
        let mut holds_others = false;
        for nested in ["copies", "boot_test", "scan"] {
            if let Some(list) = action[nested].as_array() {
                holds_others = true;
                todo.extend(list);
            }
        }
        let names = |key: &str| -> BTreeSet<String> {
            let list = action[key]
                .as_array()
                .unwrap_or_else(|| panic!("no `{key}` list in the plan's {action}"));
            list.iter()
                .map(|c| c.as_str().expect("a call name").to_string())
                .collect()
        };
        let id = action["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no `id` in the plan's {action}"));
        let entry = Listed {
            calls: names("calls"),
            always: names("always"),
            holds_others,
        };
        assert!(
            listed.insert(id.to_string(), entry).is_none(),
            "two actions with id {id}"
        );
    }
    listed
}

/// Each difference between what the plan lists and what the emulator saw, as a line:
/// a call made under an action that does not list it (or under no action at all), and,
/// when every action ran (`all_ran`), a call an action always makes that it did not make.
/// A successful bake made exactly the calls its plan lists, action by action, and left
/// nothing but its images.
fn assert_walked_the_plan(lists: &BTreeMap<String, Listed>, seen: &Seen, out: &Output) {
    let wrong = mismatches(lists, seen, true);
    assert!(
        wrong.is_empty(),
        "the bake's calls and its plan's lists differ:\n  {}\nseen: {seen:#?}",
        wrong.join("\n  ")
    );
    let run_id = run_id(&events(out));
    rt().block_on(assert_nothing_left(&[HOME, FAR], &run_id, true));
}

fn mismatches(listed: &BTreeMap<String, Listed>, seen: &Seen, all_ran: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    for (id, calls) in seen {
        let Some(action) = listed.get(id) else {
            let whose = match id.as_str() {
                "-" => "outside every action (no x-amibake-action header)".to_string(),
                _ => format!("under `{id}`, which is no action of the plan"),
            };
            wrong.push(format!("{calls:?} made {whose}"));
            continue;
        };
        for (call, n) in calls {
            if !action.calls.contains(call) {
                wrong.push(format!(
                    "{id}: made {call} ({n}×), not in its calls {:?}",
                    action.calls
                ));
            }
        }
    }
    let ran = listed.iter().filter(|(_, a)| all_ran && !a.holds_others);
    for (id, action) in ran {
        let made = seen.get(id);
        for call in &action.always {
            if !made.is_some_and(|m| m.contains_key(call)) {
                wrong.push(format!(
                    "{id}: never made {call}, which it always makes (made {made:?})"
                ));
            }
        }
    }
    wrong
}

/// The recipe of this test, its name and its keys unique to the run: a key with the same
/// alias in both regions whose policy lets [`ACCOUNT`] use it, and the builder in a
/// subnet of the home region's default VPC.
fn write_recipe(dir: &Path, rebuild: bool) -> PathBuf {
    let name = unique("plan-calls");
    let alias = format!("alias/{name}");
    let subnet = rt().block_on(async {
        for region in [HOME, FAR] {
            let key = key_with_alias(region, &alias).await;
            allow_account(region, &key, ACCOUNT).await;
        }
        let subnets = ec2(HOME).await.describe_subnets().send().await;
        let subnets = subnets.expect("DescribeSubnets");
        let first = subnets.subnets().first().and_then(|s| s.subnet_id());
        first.expect("a default subnet").to_string()
    });
    let text = format!(
        r#"name: {name}
source:
  ssm_parameter: {AL2023}
builder:
  os: al2023
  subnet_id: {subnet}
  kms_key_id: {alias}
steps:
  - wait_cloud_init: {{}}
  - packages: {{ install: [java-17-amazon-corretto-headless] }}
  - codedeploy_agent: {{ version: "1.7.1-110", start_after_cloud_init: true }}
  - ssm_document: {{ name: AWS-ConfigureAWSPackage, parameters: {{ action: Install, name: AmazonCloudWatchAgent }} }}
  - reboot: {{}}
validate:
  - {{ name: java, run: "java -version 2>&1", expect_stdout: "17" }}
boot_test:
  checks:
    - {{ name: java, run: "java -version 2>&1", expect_stdout: "17" }}
    - {{ name: marker, run: "echo {BOOT_ONLY}", expect_stdout: "{BOOT_ONLY}" }}
image:
  name: "{{{{ recipe }}}}-{{{{ run_id }}}}"
  kms_key_id: {alias}
  copy_to: [{FAR}]
  deprecate_after: 90d
  scan: {{ max_severity: critical }}
{}"#,
        if rebuild {
            "rebuild: { updates: security }\n"
        } else {
            ""
        }
    );
    let path = dir.join("plan-calls.yaml");
    std::fs::write(&path, text).expect("write the recipe");
    path
}
