//! See tests/amibake/hostile/mod.rs. The lifecycle around a bake, as a second CI runner, a shared
//! account and a hurried user meet it: `sweep` never removes a live run (a lease the bake
//! keeps fresh decides, not age) and covers every region a run used; `promote` publishes
//! only this recipe's complete images of this account; `prune` keeps every stack's
//! rollback target; a taken AMI name and an unwritable manifest stop a bake before it
//! creates anything.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::emulator::*;

use crate::support::stacks;

/// tests/fixtures/boot-test.yaml under a name of its own, its copies going to `copy_to`.
fn recipe(dir: &Path, label: &str, copy_to: &[&str]) -> PathBuf {
    let path = unique_boot_test_recipe(dir, label);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "copy_to: [us-west-2]",
        &format!("copy_to: [{}]", copy_to.join(", ")),
    );
    let text = if copy_to.is_empty() {
        text.replace("  copy_to: []\n", "")
    } else {
        text
    };
    std::fs::write(&path, text).unwrap();
    path
}

/// A bake running in the background, its events read up to the first that `until` accepts.
struct Running {
    child: Child,
    run_id: String,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

fn start_bake(
    region: &str,
    state: &Path,
    recipe: &Path,
    until: impl Fn(&serde_json::Value) -> bool,
) -> Running {
    let mut child = bake_command(region, state, recipe, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut run_id = None;
    for line in lines.by_ref() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line.unwrap()) else {
            continue;
        };
        if event["event"] == "start" {
            run_id = event["run_id"].as_str().map(str::to_string);
        }
        if until(&event) {
            return Running {
                child,
                run_id: run_id.expect("a start event first"),
                lines,
            };
        }
    }
    let _ = child.wait();
    panic!("the bake ended before the awaited event");
}

fn step_started(e: &serde_json::Value) -> bool {
    e["event"] == "step" && e["state"] == "start"
}

fn kill(mut running: Running) -> String {
    let status = Command::new("kill")
        .args(["-KILL", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    running.child.wait().unwrap();
    running.run_id
}

fn sweep(region: &str, state: &Path, extra: &[&str]) -> std::process::Output {
    amibake(region, state)
        .args(["--json", "sweep"])
        .args(extra)
        .output()
        .unwrap()
}

fn leftovers_of<'e>(events: &'e [serde_json::Value], run_id: &str) -> Vec<&'e serde_json::Value> {
    events
        .iter()
        .filter(|e| e["event"] == "leftover" && e["run_id"] == run_id)
        .collect()
}

/// Moves the lease of everything the run left in `region` an hour into the past: what a
/// run whose process died long ago looks like.
async fn expire_lease(region: &str, run_id: &str) {
    let ec2 = ec2(region).await;
    let by_run = aws_sdk_ec2::types::Filter::builder()
        .name("tag:amibake:run-id")
        .values(run_id)
        .build();
    let snapshots = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(by_run)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = live_instances(region, run_id).await;
    ids.extend(security_groups(region, run_id).await);
    ids.extend(
        images(region, run_id)
            .await
            .iter()
            .filter_map(|i| i.image_id().map(str::to_string)),
    );
    ids.extend(
        snapshots
            .snapshots()
            .iter()
            .filter_map(|s| s.snapshot_id().map(str::to_string)),
    );
    if ids.is_empty() {
        return;
    }
    let an_hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let value = an_hour_ago
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    ec2.create_tags()
        .set_resources(Some(ids))
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("amibake:lease-until")
                .value(value)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

// ---- 10. sweep never removes a live run; it covers every region a run used ----------

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_sweep_with_a_short_older_than_from_another_runner_leaves_a_live_bake_alone() {
    let region = "eu-west-3";
    let (state, other_runner) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let recipe = recipe(state.path(), "lease-live", &[]);
    configure(
        region,
        serde_json::json!({ "command_in_progress_seconds": 20 }),
    );
    let mut bake = start_bake(region, state.path(), &recipe, step_started);

    let out = sweep(region, other_runner.path(), &["--older-than", "1s"]);
    configure(region, serde_json::json!({}));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let evs = events(&out);
    let swept = leftovers_of(&evs, &bake.run_id);
    assert!(swept.is_empty(), "sweep removed the live bake's {swept:?}");
    let kept = evs
        .iter()
        .find(|e| e["event"] == "kept" && e["run_id"] == bake.run_id.as_str())
        .unwrap_or_else(|| panic!("no `kept` event for the live run: {}", show(&out)));
    assert_eq!(kept["reason"], "lease", "{kept}");

    let rest: Vec<serde_json::Value> = bake
        .lines
        .by_ref()
        .filter_map(|l| serde_json::from_str(&l.ok()?).ok())
        .collect();
    let status = bake.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the bake failed after the sweep: {:?}",
        rest.iter().find(|e| e["event"] == "error")
    );
    rt().block_on(assert_nothing_left(&[region], &bake.run_id, true));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_run_whose_lease_ran_out_is_swept() {
    let region = "ca-central-1";
    let (state, other_runner) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let recipe = recipe(state.path(), "lease-out", &[]);
    configure(
        region,
        serde_json::json!({ "command_in_progress_seconds": 60 }),
    );
    let run_id = kill(start_bake(region, state.path(), &recipe, step_started));
    configure(region, serde_json::json!({}));

    // Killed a moment ago: its lease still runs, and another runner cannot tell it is dead.
    let fresh = sweep(region, other_runner.path(), &["--older-than", "0s"]);
    assert_eq!(fresh.status.code(), Some(0), "{}", show(&fresh));
    assert!(
        leftovers_of(&events(&fresh), &run_id).is_empty(),
        "{}",
        show(&fresh)
    );
    rt().block_on(async {
        assert_eq!(live_instances(region, &run_id).await.len(), 1);
        expire_lease(region, &run_id).await;
    });

    let out = sweep(region, other_runner.path(), &["--older-than", "0s"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let kinds: Vec<String> = leftovers_of(&events(&out), &run_id)
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        kinds.contains(&"instance".to_string()) && kinds.contains(&"security_group".to_string()),
        "{kinds:?}: {}",
        show(&out)
    );
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn sweep_finds_a_leftover_copy_in_a_journaled_region_and_with_all_regions() {
    let (home, far) = ("ap-southeast-3", "ap-southeast-7");
    let (state, other_runner) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let recipe = recipe(state.path(), "lease-copy", &[far]);
    configure(home, serde_json::json!({}));
    let copying = |e: &serde_json::Value| e["event"] == "copy" && e["region"] == far;
    let run_id = kill(start_bake(home, state.path(), &recipe, copying));
    rt().block_on(async {
        assert_eq!(images(far, &run_id).await.len(), 1, "the copy exists");
        expire_lease(home, &run_id).await;
        expire_lease(far, &run_id).await;
    });

    // Another runner, no journal: only --all-regions reaches the copy's region.
    let all = sweep(
        home,
        other_runner.path(),
        &["--all-regions", "--older-than", "0s", "--dry-run"],
    );
    assert_eq!(all.status.code(), Some(0), "{}", show(&all));
    let evs = events(&all);
    assert!(
        leftovers_of(&evs, &run_id)
            .iter()
            .any(|e| e["region"] == far && e["kind"] == "image"),
        "--all-regions did not list the copy in {far}: {}",
        show(&all)
    );

    // The runner that baked: its journal names the copy's region.
    let out = sweep(home, state.path(), &["--older-than", "0s"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    rt().block_on(assert_nothing_left(&[home, far], &run_id, false));
}

// ---- 11. promote publishes only this recipe's complete images of this account --------

/// An image of this account in `region` (a copy of an Amazon image), with these tags,
/// given at creation (the IAM policy the emulator enforces allows no other way).
async fn own_image(region: &str, tags: &[(&str, &str)]) -> String {
    let ec2 = ec2(region).await;
    let (amazon, _) = two_amis(region).await;
    let mut copy = ec2
        .copy_image()
        .source_region(region)
        .source_image_id(amazon)
        .name(unique("own"));
    if !tags.is_empty() {
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build());
        copy = copy.tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Image)
                .set_tags(Some(tags.collect()))
                .build(),
        );
    }
    copy.send()
        .await
        .expect("CopyImage")
        .image_id()
        .expect("an image id")
        .to_string()
}

/// A recipe `name` with `promotion: [dev, prod]` and a manifest of `ami` in `region`.
fn promote_files(dir: &Path, name: &str, region: &str, ami: &str) -> PathBuf {
    let recipe = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &recipe,
        format!(
            "name: {name}\nsource:\n  ssm_parameter: {AL2023}\n\
             builder: {{ iam_instance_profile: amibake-builder }}\n\
             steps:\n  - shell: \"true\"\nimage:\n  name: \"{{{{ recipe }}}}-{{{{ run_id }}}}\"\n\
             promotion: [dev, prod]\n"
        ),
    )
    .unwrap();
    let manifest = dir.join(format!("{name}.json"));
    std::fs::write(
        &manifest,
        serde_json::json!({
            "tool": { "name": "amibake", "version": "0.1.0" },
            "recipe": name, "recipe_file": recipe.display().to_string(),
            "run_id": "20260101-000000-abc123", "region": region, "input_hash": "h",
            "source_ami": { "id": ami, "name": "al2023", "resolved_from": "ami" },
            "amis": [ { "region": region, "ami_id": ami, "name": "x", "snapshot_ids": [] } ],
            "started_at": "", "finished_at": "", "duration_seconds": 0.0,
            "phases": [], "steps": [], "validation": []
        })
        .to_string(),
    )
    .unwrap();
    manifest
}

fn promote_to_dev(region: &str, manifest: &Path, extra: &[&str]) -> std::process::Output {
    let state = tempfile::tempdir().unwrap();
    amibake(region, state.path())
        .args(["--json", "promote", "--to", "dev", "--manifest"])
        .arg(manifest)
        .args(extra)
        .output()
        .unwrap()
}

async fn channel_value(region: &str, recipe: &str) -> Option<String> {
    let name = format!("/amibake/{recipe}/dev");
    let p = ssm(region).get_parameter().name(name).send().await.ok()?;
    p.parameter()?.value().map(str::to_string)
}

/// Promote refused `ami` with exit 2, naming it and `what` is wrong, and wrote no channel.
fn assert_refused(region: &str, recipe: &str, ami: &str, out: &std::process::Output, what: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", show(out));
    let text = show(out);
    assert!(text.contains(ami) && text.contains(what), "{text}");
    assert!(text.contains("--allow-foreign-image"), "{text}");
    assert_eq!(rt().block_on(channel_value(region, recipe)), None, "{text}");
}

const PROMOTE_REGION: &str = "ap-south-1";

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn promote_refuses_a_public_image_of_another_account() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("foreign");
    let (amazon, _) = rt().block_on(two_amis(PROMOTE_REGION));
    let manifest = promote_files(dir.path(), &name, PROMOTE_REGION, &amazon);
    let out = promote_to_dev(PROMOTE_REGION, &manifest, &[]);
    assert_refused(
        PROMOTE_REGION,
        &name,
        &amazon,
        &out,
        "not owned by this account",
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn promote_refuses_an_image_whose_bake_did_not_complete() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("incomplete");
    let ami = rt().block_on(own_image(
        PROMOTE_REGION,
        &[("amibake:created-by", "amibake"), ("amibake:recipe", &name)],
    ));
    let manifest = promote_files(dir.path(), &name, PROMOTE_REGION, &ami);
    let out = promote_to_dev(PROMOTE_REGION, &manifest, &[]);
    assert_refused(PROMOTE_REGION, &name, &ami, &out, "amibake:complete=true");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn promote_refuses_an_image_of_another_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("mine");
    let ami = rt().block_on(own_image(
        PROMOTE_REGION,
        &[
            ("amibake:created-by", "amibake"),
            ("amibake:recipe", "someone-elses"),
            ("amibake:complete", "true"),
        ],
    ));
    let manifest = promote_files(dir.path(), &name, PROMOTE_REGION, &ami);
    let out = promote_to_dev(PROMOTE_REGION, &manifest, &[]);
    assert_refused(PROMOTE_REGION, &name, &ami, &out, "someone-elses");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn allow_foreign_image_promotes_it_loudly_and_records_it_on_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("allowed");
    let (amazon, _) = rt().block_on(two_amis(PROMOTE_REGION));
    let manifest = promote_files(dir.path(), &name, PROMOTE_REGION, &amazon);
    let out = promote_to_dev(PROMOTE_REGION, &manifest, &["--allow-foreign-image"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = show(&out);
    assert!(text.contains("WARNING") && text.contains(&amazon), "{text}");
    rt().block_on(async {
        assert_eq!(channel_value(PROMOTE_REGION, &name).await, Some(amazon));
        let tags = ssm(PROMOTE_REGION)
            .list_tags_for_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(format!("/amibake/{name}/dev"))
            .send()
            .await
            .unwrap();
        assert!(
            tags.tag_list()
                .iter()
                .any(|t| t.key() == "amibake:foreign-image" && t.value() == "true"),
            "{:?}",
            tags.tag_list()
        );
    });
}

// ---- 12. prune keeps every stack's rollback target ----------------------------------

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn prune_keeps_a_stacks_previous_image_so_rollback_still_works() {
    let region = "eu-north-1";
    configure(region, serde_json::json!({}));
    let state = tempfile::tempdir().unwrap();
    let recipe = unique("prune-rollback");
    let stack = unique("web-prod");
    let rt = rt();
    let (vpc, subnets) = rt.block_on(stacks::default_network(region));
    let complete = [
        ("amibake:created-by", "amibake"),
        ("amibake:recipe", recipe.as_str()),
        ("amibake:complete", "true"),
    ];
    let previous = rt.block_on(own_image(region, &complete));
    let args = stacks::create_args(
        "cfn-templates/asg-rolling.yaml",
        &stack,
        &previous,
        &vpc,
        &subnets,
    );
    let created = amibake(region, state.path())
        .args(&args)
        .arg("--yes")
        .output()
        .unwrap();
    assert_eq!(created.status.code(), Some(0), "{}", show(&created));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let current = rt.block_on(own_image(region, &complete));
    let rolled = amibake(region, state.path())
        .args(["roll", "--stack", &stack, "--ami", &current, "--yes"])
        .output()
        .unwrap();
    assert_eq!(rolled.status.code(), Some(0), "{}", show(&rolled));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let newest = rt.block_on(own_image(region, &complete));

    let out = amibake(region, state.path())
        .args([
            "--json",
            "prune",
            "--recipe",
            &recipe,
            "--keep",
            "1",
            "--older-than",
            "0s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let evs = events(&out);
    let removed: Vec<&str> = evs
        .iter()
        .filter(|e| e["event"] == "remove")
        .filter_map(|e| e["ami"].as_str())
        .collect();
    assert!(
        !removed.contains(&previous.as_str()),
        "prune removed {previous}, the rollback target of {stack}: {}",
        show(&out)
    );
    let kept = evs
        .iter()
        .find(|e| e["event"] == "kept" && e["ami"] == previous.as_str())
        .unwrap_or_else(|| panic!("{}", show(&out)));
    assert!(
        kept["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "rollback_target" && r["stack"] == stack.as_str()),
        "{kept}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&newest),
        "{}",
        show(&out)
    );

    let back = amibake(region, state.path())
        .args(["--json", "rollback", "--stack", &stack, "--yes"])
        .output()
        .unwrap();
    assert_eq!(
        back.status.code(),
        Some(0),
        "rollback after prune: {}",
        show(&back)
    );
}

// ---- 14. a taken AMI name and an unwritable manifest stop a bake before it creates ---

/// The bake created nothing: no resource event, and no instance, group or image of its
/// run anywhere it could have made one.
fn assert_created_nothing(out: &std::process::Output, regions: &[&str]) {
    let evs = events(out);
    let made: Vec<&serde_json::Value> = evs.iter().filter(|e| e["event"] == "resource").collect();
    assert!(made.is_empty(), "the bake created {made:?}: {}", show(out));
    // No start event: the bake stopped before it had a run, so nothing is tagged with one.
    if evs.iter().any(|e| e["event"] == "start") {
        let run_id = run_id(&evs);
        rt().block_on(assert_nothing_left(regions, &run_id, false));
    }
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_bake_whose_ami_name_is_taken_fails_before_creating_anything() {
    let (home, far) = ("ap-northeast-3", "eu-west-2");
    configure(home, serde_json::json!({}));
    let state = tempfile::tempdir().unwrap();
    for (taken_in, label) in [(home, "taken-home"), (far, "taken-far")] {
        let recipe = recipe(state.path(), label, &[far]);
        let name = unique(label);
        let text = std::fs::read_to_string(&recipe)
            .unwrap()
            .replace("\"{{ recipe }}-{{ run_id }}\"", &format!("\"{name}\""));
        std::fs::write(&recipe, text).unwrap();
        let taken = rt().block_on(async {
            let ec2 = ec2(taken_in).await;
            let (amazon, _) = two_amis(taken_in).await;
            ec2.copy_image()
                .source_region(taken_in)
                .source_image_id(amazon)
                .name(&name)
                .send()
                .await
                .expect("CopyImage")
                .image_id()
                .unwrap()
                .to_string()
        });
        let out = bake_json(home, state.path(), &recipe, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let text = show(&out);
        assert!(
            text.contains(&name) && text.contains(taken_in) && text.contains(&taken),
            "the error names the AMI, its region and the image holding the name: {text}"
        );
        assert_created_nothing(&out, &[home, far]);
    }
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn an_unwritable_manifest_directory_fails_the_bake_before_creating_anything() {
    let region = "ap-northeast-3";
    configure(region, serde_json::json!({}));
    let state = tempfile::tempdir().unwrap();
    let recipe = recipe(state.path(), "manifest-dir", &[]);
    let missing = state.path().join("no-such-dir").join("m.json");
    let out = amibake(region, state.path())
        .args(["--json", "bake"])
        .arg(&recipe)
        .arg("--manifest")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        show(&out).contains("no-such-dir"),
        "the error names the manifest path: {}",
        show(&out)
    );
    assert_created_nothing(&out, &[region]);
}
