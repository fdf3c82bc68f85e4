//! `amibake status` against the emulator: a fleet of two stacks on two builds of one
//! recipe (one stack behind), a channel on each build, a shared build with a usage report,
//! an old build nothing uses and the newest, unused. The report is checked field by field
//! against the emulator's own state (DescribeImages, the groups, instances and usage
//! reports read with the test's own clients), in JSON and in text, and with a second
//! region; the flags on the same fleet are in `status_flags`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::cli::expect_exit;
use crate::support::emulator::*;
use crate::support::stacks::*;

use super::prune::images_pinned;
use super::status_flags;

const TEMPLATE: &str = "cfn-templates/asg-rolling.yaml";
pub(super) const SHARED_WITH: &str = "111122223333";

/// Sets knobs of `region` (which the test claims) without resetting the others.
pub(super) fn knobs(region: &str, knobs: Value) {
    let mut body = json!({ "region": region });
    body.as_object_mut()
        .unwrap()
        .extend(knobs.as_object().unwrap().clone());
    let (status, text) = http("POST", "/_amibake/config", &body.to_string());
    assert_eq!(status, 200, "emulator config rejected: {text}");
}

/// RFC 3339, `days` ago.
pub(super) fn days_ago(days: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// What the emulator says of an image: DescribeImages with the test's own client.
pub(super) async fn described(region: &str, id: &str) -> aws_sdk_ec2::types::Image {
    ec2(region)
        .await
        .describe_images()
        .image_ids(id)
        .send()
        .await
        .expect("DescribeImages")
        .images()[0]
        .clone()
}

/// The group a stack made (its physical id) and the stack's tag on it.
async fn stack_group(region: &str, stack: &str) -> (String, String) {
    let resources = cfn(region)
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .expect("DescribeStackResources");
    let group = resources
        .stack_resources()
        .iter()
        .find(|r| r.resource_type() == Some("AWS::AutoScaling::AutoScalingGroup"))
        .and_then(|r| r.physical_resource_id())
        .expect("the stack's group")
        .to_string();
    let described = asg(region)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&group)
        .send()
        .await
        .expect("DescribeAutoScalingGroups");
    let tag = described.auto_scaling_groups()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("aws:cloudformation:stack-name"))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string();
    (group, tag)
}

/// A use as the report's JSON gives it, sorted for comparison.
fn sorted(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by_key(|v| v.to_string());
    values
}

pub(super) fn status_json(
    region: &str,
    state: &std::path::Path,
    args: &[&str],
    code: i32,
) -> Vec<Value> {
    let out = amibake(region, state)
        .args(["--json", "status"])
        .args(args)
        .output()
        .expect("run amibake");
    expect_exit(&out, code);
    events(&out)
}

/// The CodeDeploy agent pin of each image of the fleet, oldest first (empty: none).
pub(super) const PINS: [&str; 4] = ["1.7.1-110", "2.0.1", "2.1.0", ""];

/// The fleet the report is checked on, made once: its region and recipe, the state
/// directory and runtime, the images oldest first (`unused`, `old`, `new`, `newest`),
/// the stack behind (on `old`) and ahead (on `new`), the usage report of `new`, and each
/// stack's group (name, and its `aws:cloudformation:stack-name` tag).
pub(super) struct Fleet {
    pub region: &'static str,
    pub recipe: String,
    pub state: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub ids: Vec<String>,
    pub behind: String,
    pub ahead: String,
    pub report_id: String,
    pub groups: BTreeMap<String, (String, String)>,
}

impl Fleet {
    fn make() -> Fleet {
        let region = "ap-northeast-3";
        let recipe = &unique("status");
        let (state, rt, (vpc, subnets), _) = roll_region(region, json!({}));
        // Oldest first: `unused` (backdated 90 days, nothing uses it), `old` (backdated 45
        // days: the stack behind, channel prod), `new` (channel dev, the stack ahead, shared
        // with another account that a usage report names), `newest` (nothing uses it).
        // Each tagged with the agent pin its bake would carry: an agent drifting across
        // the fleet (1.x on the oldest), and none on the newest (a recipe without the agent).
        let pins = PINS.map(|p| (!p.is_empty()).then_some(p));
        let ids = rt.block_on(images_pinned(region, recipe, &pins));
        let [unused, old, new] = [&ids[0], &ids[1], &ids[2]];
        knobs(
            region,
            json!({
                "image_created": { unused.as_str(): days_ago(90), old.as_str(): days_ago(45) },
                "image_usage": { new.as_str(): [
                    {"account_id": SHARED_WITH, "resource_type": "ec2:Instance", "usage_count": 3}
                ] },
            }),
        );
        let behind = &unique("status-behind");
        let ahead = &unique("status-ahead");
        for (stack, image) in [(behind, old), (ahead, new)] {
            create_stack(
                region,
                state.path(),
                &create_args(TEMPLATE, stack, image, &vpc, &subnets),
            );
        }
        let report_id = rt.block_on(async {
            for (env, image) in [("prod", old), ("dev", new)] {
                ssm(region)
                    .put_parameter()
                    .name(format!("/amibake/{recipe}/{env}"))
                    .value(image)
                    .r#type(aws_sdk_ssm::types::ParameterType::String)
                    .send()
                    .await
                    .expect("PutParameter");
            }
            usage_report(region, new).await
        });

        let groups = rt.block_on(async {
            let mut groups = BTreeMap::new();
            for stack in [behind, ahead] {
                groups.insert(stack.clone(), stack_group(region, stack).await);
            }
            groups
        });
        Fleet {
            region,
            recipe: recipe.clone(),
            state,
            rt,
            ids: ids.clone(),
            behind: behind.clone(),
            ahead: ahead.clone(),
            report_id,
            groups,
        }
    }
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn status_reports_a_two_stack_fleet_field_by_field() {
    let fleet = Fleet::make();
    json_report(&fleet);
    text_table(&fleet);
    also_region(&fleet);
    status_flags::max_age(&fleet);
    status_flags::bad_input(&fleet);
    status_flags::plan_makes_no_call(&fleet);
    status_flags::usage_report(&fleet);
    status_flags::all_disabled_and_deprecated(&fleet);
}

/// JSON: one `status` event, every field against the emulator's state.
fn json_report(f: &Fleet) {
    let Fleet {
        region,
        recipe,
        state,
        rt,
        ids,
        behind,
        ahead,
        report_id,
        groups,
        ..
    } = f;
    let region = *region;
    let [unused, old, new, newest] = [&ids[0], &ids[1], &ids[2], &ids[3]];
    let evs = status_json(region, state.path(), &["--recipe", recipe], 0);
    let report = last(&evs, "status");
    assert_eq!(report["recipe"], recipe.as_str());
    assert_eq!(report["regions"], json!([region]));
    let images = report["images"].as_array().expect("images");
    let order: Vec<&str> = images
        .iter()
        .map(|i| i["image_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [newest, new, old, unused], "newest first");
    let report_created = rt.block_on(async {
        let r = ec2(region)
            .await
            .describe_image_usage_reports()
            .report_ids(report_id)
            .send()
            .await
            .expect("DescribeImageUsageReports");
        r.image_usage_reports()[0]
            .creation_time()
            .unwrap()
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap()
    });
    for (stack, (_, tag)) in groups {
        assert_eq!(
            tag, stack,
            "the emulator tags a stack's group with its stack"
        );
    }
    let behind_of = |image: &str| -> usize { 3 - ids.iter().position(|i| i == image).unwrap() };
    for shown in images {
        let id = shown["image_id"].as_str().unwrap();
        let image = rt.block_on(described(region, id));
        assert_eq!(shown["recipe"], recipe.as_str());
        assert_eq!(shown["region"], region);
        assert_eq!(shown["name"], image.name().unwrap());
        assert_eq!(shown["created"], image.creation_date().unwrap());
        assert_eq!(shown["state"], image.state().unwrap().as_str());
        assert_eq!(shown["deprecation_time"], Value::Null);
        let tags: BTreeMap<&str, &str> = image
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(shown["tags"], json!(tags), "{id}");
        assert_eq!(shown["pin"]["run_id"], tags["amibake:run-id"]);
        assert_eq!(shown["agent_pin"], json!(tags.get("amibake:agent")), "{id}");
        let pin = PINS[ids.iter().position(|i| i == id).unwrap()];
        assert_eq!(shown["agent_pin"], json!((!pin.is_empty()).then_some(pin)));
        assert_eq!(shown["scan"], Value::Null, "no scan tag");
        assert_eq!(shown["newest"], newest.as_str());
        assert_eq!(shown["builds_behind_newest"], behind_of(id), "{id}");
        // The age from the emulator's creation date, within the test's run.
        let created = time::OffsetDateTime::parse(
            image.creation_date().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let age = (time::OffsetDateTime::now_utc() - created).whole_seconds() as u64;
        let shown_age = shown["age_seconds"].as_u64().unwrap();
        assert!(
            shown_age <= age && age - shown_age < 600,
            "{id}: {shown_age} vs {age}"
        );
        // Each channel: the one it is, or how many builds behind or ahead.
        let rank = ids.iter().position(|i| i == id).unwrap() as i64;
        let mut channels = Vec::new();
        for (env, held) in [("dev", new), ("prod", old)] {
            let held_rank = ids.iter().position(|i| i == held).unwrap() as i64;
            let (relation, builds) = match held_rank - rank {
                0 => ("channel", 0),
                d if d > 0 => ("behind", d),
                d => ("ahead", -d),
            };
            channels.push(json!({
                "env": env,
                "parameter": format!("/amibake/{recipe}/{env}"),
                "channel_image": held,
                "relation": relation,
                "builds": builds,
            }));
        }
        assert_eq!(shown["channels"], json!(channels), "{id}");
        // Every use, from the emulator's own state.
        let mut expected = Vec::new();
        for (stack, image) in [(behind, old), (ahead, new)] {
            if id != image.as_str() {
                continue;
            }
            let (group, _) = &groups[stack];
            let (lt, version) = rt.block_on(group_launch_template(region, group));
            assert_eq!(
                rt.block_on(launch_template_image(region, &lt, &version)),
                *image
            );
            expected.push(json!({"kind": "asg", "group": group, "launch_template": lt,
                "version": version.parse::<i64>().unwrap(), "stack": stack}));
            expected.push(json!({"kind": "stack_image", "stack": stack}));
            let env = if image == old { "prod" } else { "dev" };
            expected.push(json!({"kind": "channel", "env": env,
                "parameter": format!("/amibake/{recipe}/{env}")}));
        }
        for instance in rt.block_on(live_instances_of(region, id)) {
            expected.push(json!({"kind": "instance", "id": instance, "state": "running"}));
        }
        if id == new.as_str() {
            expected.push(json!({"kind": "account", "account_id": SHARED_WITH,
                "resource_type": "ec2:Instance", "usage_count": 3, "report_id": report_id,
                "report_created": report_created}));
        }
        let uses = shown["uses"].as_array().unwrap().clone();
        assert_eq!(sorted(uses), sorted(expected.clone()), "{id}");
        assert_eq!(shown["in_use"], !expected.is_empty(), "{id}");
        assert_eq!(shown["too_old"], false);
        if id == old.as_str() || id == new.as_str() {
            assert!(
                expected.iter().any(|u| u["kind"] == "instance"),
                "{id}: the stack's instance runs it"
            );
        }
    }
    let summary = &report["summary"];
    assert_eq!(summary["images"], 4);
    assert_eq!(summary["in_use"], 2);
    assert_eq!(summary["unused"], 2);
    assert_eq!(summary["oldest_in_use"]["image_id"], old.as_str());
    assert_eq!(summary["too_old"], json!([]));
}

/// Text: the table fits 100 columns, a row per image, its uses under it.
fn text_table(f: &Fleet) {
    let Fleet {
        region,
        recipe,
        state,
        rt,
        ids,
        behind,
        report_id,
        groups,
        ..
    } = f;
    let region = *region;
    let [unused, old, new, newest] = [&ids[0], &ids[1], &ids[2], &ids[3]];
    let out = run_expect(region, state.path(), &["status", "--recipe", recipe], 0);
    let wrapped = String::from_utf8_lossy(&out.stdout).to_string();
    println!("{wrapped}");
    assert!(
        wrapped.lines().all(|l| l.chars().count() <= 100),
        "{wrapped}"
    );
    // A line too long for 100 columns goes on indented by 8: read it whole again.
    let text = wrapped.replace("\n        ", " ");
    assert!(
        text.starts_with(&format!(
            "{recipe} in {region}: 4 complete builds, newest {newest}\n"
        )),
        "{text}"
    );
    let row = |id: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.get(2..).is_some_and(|l| l.starts_with(id)))
            .unwrap_or_else(|| panic!("no row of {id}:\n{text}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    let header: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "IMAGE", "AGE", "STATE", "BEHIND", "SCAN", "AGENT", "USES", "CHANNELS"
        ]
    );
    assert_eq!(
        row(unused),
        [
            unused,
            "90d",
            "available",
            "3",
            "-",
            PINS[0],
            "unused",
            "dev-2",
            "prod-1"
        ]
    );
    assert_eq!(
        row(old),
        [
            old,
            "45d",
            "available",
            "2",
            "-",
            PINS[1],
            "4",
            "dev-1",
            "prod="
        ]
    );
    assert_eq!(
        row(new)[2..],
        ["available", "1", "-", PINS[2], "5", "dev=", "prod+1"]
    );
    assert_eq!(
        row(newest)[2..],
        ["available", "0", "-", "-", "unused", "dev+1", "prod+2"]
    );
    // Which agent each instance runs: its image's pin, next to it.
    for (image, pin) in [(old, PINS[1]), (new, PINS[2])] {
        for instance in rt.block_on(live_instances_of(region, image)) {
            let expected = format!("      running instance {instance} · agent {pin}");
            assert!(
                text.lines().any(|l| l == expected),
                "missing `{expected}` in:\n{text}"
            );
        }
    }
    let (old_group, _) = &groups[behind];
    let (old_lt, _) = rt.block_on(group_launch_template(region, old_group));
    for expected in [
        format!("      ASG {old_group} (stack {behind}) via {old_lt} v1"),
        format!("      image of stack {behind}"),
        "      channel prod".to_string(),
        format!("      account {SHARED_WITH}: 3 instances (report {report_id})"),
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "missing `{expected}` in:\n{text}"
        );
    }
    assert_eq!(
        text.lines().last().unwrap(),
        format!("4 images in 1 region: 2 in use, 2 unused; oldest in use {old} (45d)")
    );
}

/// `--also-region`: a second region, where the recipe has no image.
fn also_region(f: &Fleet) {
    let (region, recipe, state) = (f.region, &f.recipe, &f.state);
    let other = "ap-southeast-1";
    configure(other, json!({}));
    let evs = status_json(
        region,
        state.path(),
        &["--recipe", recipe, "--also-region", other],
        0,
    );
    let both = last(&evs, "status");
    assert_eq!(both["regions"], json!([region, other]));
    assert_eq!(both["images"].as_array().unwrap().len(), 4);
    assert!(
        call_counts(other).contains_key("ec2:DescribeImages"),
        "{other} was read"
    );
}
