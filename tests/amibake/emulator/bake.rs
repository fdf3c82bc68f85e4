//! `amibake bake` end to end against the local emulator (moto + emulator/; see
//! emulator/README.md). Each test bakes in its own region so emulator knobs cannot leak
//! between tests, and each ends by asserting that its run left nothing running.

use crate::support::emulator;

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use emulator::*;
const RECIPE: &str = "recipes/al2023-tomcat-codedeploy.yaml";

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_successful_bake_writes_a_complete_manifest_and_leaves_only_its_images() {
    let region = "eu-west-1";
    let state = fresh_state(region, serde_json::json!({}));
    let manifest_path = state.path().join("manifest.json");
    let out = amibake(region, state.path())
        .args(["--json", "bake", RECIPE, "--manifest"])
        .arg(&manifest_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{stderr}\nstdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = events(&out);
    let run_id = run_id(&events);
    // The bake prints the plan it walks: the document `plan --json` prints, same run.
    let plans: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "plan").collect();
    assert_eq!(plans.len(), 1, "one plan event: {plans:?}");
    assert_eq!(plans[0]["plan"]["run_id"], run_id.as_str());
    let walked = plans[0]["plan"]["actions"].as_array().unwrap();
    assert_eq!(walked[0]["id"], "resolve_source");
    assert_eq!(walked.last().unwrap()["id"], "write_manifest");

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    assert_eq!(m["recipe"], "al2023-tomcat-codedeploy");
    assert_eq!(m["run_id"], run_id.as_str());
    assert_eq!(m["input_hash"].as_str().unwrap().len(), 64);
    assert!(m["source_ami"]["id"].as_str().unwrap().starts_with("ami-"));
    let amis = m["amis"].as_array().unwrap();
    let regions: Vec<&str> = amis.iter().map(|a| a["region"].as_str().unwrap()).collect();
    assert_eq!(regions, [region, "us-west-2"]);
    assert!(
        amis.iter()
            .all(|a| !a["snapshot_ids"].as_array().unwrap().is_empty())
    );
    // Clean-up checks (`assert_nothing_left`) find a run's snapshots by its run-id tag:
    // each AMI's snapshots, and only they, carry it.
    for a in amis {
        let region = a["region"].as_str().unwrap();
        let mut want: Vec<&str> = a["snapshot_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        want.sort();
        let mut tagged = rt().block_on(snapshots(region, &run_id));
        tagged.sort();
        assert_eq!(
            tagged, want,
            "snapshots tagged with run {run_id} in {region}"
        );
    }
    // Read as Packer's manifest is read: `.builds[-1].artifact_id`, region:ami pairs.
    let packer = m["builds"].as_array().unwrap().last().unwrap();
    let pairs: Vec<String> = amis
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["region"].as_str().unwrap(),
                a["ami_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(packer["artifact_id"], pairs.join(","));
    assert_eq!(packer["packer_run_uuid"], m["last_run_uuid"]);
    assert_eq!(packer["custom_data"]["run_id"], run_id.as_str());
    assert_eq!(m["steps"].as_array().unwrap().len(), 5);
    assert!(
        m["phases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "image")
    );
    let validation = m["validation"].as_array().unwrap();
    assert_eq!(validation.len(), 3);
    assert!(
        validation
            .iter()
            .all(|c| c["passed"] == true && !c["stdout"].as_str().unwrap().is_empty())
    );
    assert_eq!(m["boot_test"]["passed"], true);
    let boot_checks = boot_check_names(&m);
    assert_eq!(
        boot_checks,
        [
            "built-in: codedeploy-agent started after cloud-final",
            "built-in: codedeploy-agent runs the pinned 2.1.0",
            "built-in: codedeploy-agent answers on its command port",
            "tomcat enabled",
            "java 17",
        ]
    );
    assert_eq!(m["tool"]["name"], "amibake");

    rt().block_on(async {
        // The AMI is available and carries every amibake tag.
        let home = amis[0]["ami_id"].as_str().unwrap();
        let imgs = images(region, &run_id).await;
        let img = imgs
            .iter()
            .find(|i| i.image_id() == Some(home))
            .expect("home AMI tagged with the run id");
        assert_eq!(img.state().map(|s| s.as_str()), Some("available"));
        let tag = |k: &str| {
            img.tags()
                .iter()
                .find(|t| t.key() == Some(k))
                .and_then(|t| t.value())
                .map(str::to_string)
        };
        assert_eq!(
            tag("amibake:recipe").as_deref(),
            Some("al2023-tomcat-codedeploy")
        );
        assert_eq!(tag("amibake:created-by").as_deref(), Some("amibake"));
        assert_eq!(
            tag("amibake:input-hash").as_deref(),
            m["input_hash"].as_str()
        );
        assert_eq!(
            tag("amibake:source-ami").as_deref(),
            m["source_ami"]["id"].as_str()
        );
        // The agent pin rides on the image from its creation (status reads it), and the
        // copy carries it.
        assert_eq!(tag("amibake:agent").as_deref(), Some("2.1.0"), "{img:?}");
        let copies = images("us-west-2", &run_id).await;
        assert_eq!(copies.len(), 1, "the copy is tagged too");
        let copy_agent = copies[0]
            .tags()
            .iter()
            .find(|t| t.key() == Some("amibake:agent"))
            .and_then(|t| t.value());
        assert_eq!(copy_agent, Some("2.1.0"), "{:?}", copies[0]);
        // The builder and the boot-test instance are terminated, the temporary group gone.
        assert_nothing_left(&[region, "us-west-2"], &run_id, true).await;
    });
    let journal =
        std::fs::read_to_string(state.path().join("runs").join(format!("{run_id}.jsonl"))).unwrap();
    assert!(
        journal.lines().last().unwrap().contains("\"clean\""),
        "journal ends clean:\n{journal}"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_failing_step_exits_1_names_the_step_and_removes_everything() {
    let region = "eu-central-1";
    let state = fresh_state(
        region,
        serde_json::json!({ "fail_command_matching": "systemctl enable tomcat9" }),
    );
    let out = bake_json(region, state.path(), &repo(RECIPE), &[]);
    let error = expect_error(&out, 1);
    let events = events(&out);
    let text = error["error"].as_str().unwrap();
    assert!(
        text.contains("step `enable tomcat` failed") && text.contains("exit code 1"),
        "{text}"
    );
    assert!(
        !state.path().join("m.json").exists(),
        "no manifest for a failed bake"
    );
    rt().block_on(assert_nothing_left(
        &[region, "us-west-2"],
        &run_id(&events),
        false,
    ));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_missing_source_ami_exits_2_before_anything_is_created() {
    let region = "eu-north-1";
    let state = fresh_state(region, serde_json::json!({}));
    let recipe = state.path().join("missing-ami.yaml");
    std::fs::write(
        &recipe,
        "name: missing-ami\nsource: { ami: ami-0000000000deadbee }\nbuilder: { iam_instance_profile: amibake-builder }\nsteps:\n  - shell: \"true\"\nimage: { name: \"missing-{{ timestamp }}\" }\n",
    )
    .unwrap();
    let out = amibake(region, state.path())
        .args(["--json", "bake"])
        .arg(&recipe)
        .output()
        .unwrap();
    let error = expect_error(&out, 2);
    let events = events(&out);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("ami-0000000000deadbee does not exist"),
        "{error}"
    );
    let run_id = run_id(&events);
    let journal =
        std::fs::read_to_string(state.path().join("runs").join(format!("{run_id}.jsonl"))).unwrap();
    assert!(
        !journal.contains("\"intent\""),
        "nothing was about to be created:\n{journal}"
    );
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn a_failed_boot_test_removes_the_ami_its_snapshots_and_the_copies() {
    let region = "ap-southeast-2";
    // Bad only where the boot test looks: the agent started before cloud-final.
    let state = fresh_state(
        region,
        serde_json::json!({ "bad_image": ["systemd:codedeploy-agent.service"] }),
    );
    let out = bake_json(region, state.path(), &repo(BOOT_TEST_RECIPE), &[]);
    expect_exit(&out, 1);
    let events = events(&out);
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "check" && e["phase"] == "boot-test" && e["passed"] == false)
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "exactly the ordering check fails: {failed:?}"
    );
    assert_eq!(
        failed[0]["check"],
        "built-in: codedeploy-agent started after cloud-final"
    );
    // The check evaluated real (table) output: both timestamps are in what it judged.
    let stdout = failed[0]["stdout"].as_str().unwrap();
    assert!(
        stdout.contains("cloud-final exited at")
            && !stdout.contains("ordering: codedeploy-agent started"),
        "{stdout}"
    );
    let run_id = run_id(&events);
    // Nothing left, the AMIs' snapshots included.
    rt().block_on(assert_nothing_left(&[region, "us-west-2"], &run_id, false));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn ctrl_c_during_a_step_cleans_up_and_exits_130() {
    let region = "ca-central-1";
    // Every command runs for a minute: the interrupt lands while a step runs.
    let state = fresh_state(
        region,
        serde_json::json!({ "command_in_progress_seconds": 60 }),
    );
    let mut child = amibake(region, state.path())
        .args(["--json", "bake", RECIPE])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut run_id = None;
    let mut lines = stdout.lines();
    for line in lines.by_ref() {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "start" {
            run_id = event["run_id"].as_str().map(str::to_string);
        }
        if event["event"] == "step" && event["state"] == "start" {
            break;
        }
    }
    let run_id = run_id.expect("start event");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(120);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            Instant::now() < deadline,
            "amibake did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(code, Some(130), "events after the interrupt: {rest:?}");
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

use std::process::Command;

/// Every instance the region has ever had (terminated ones included).
async fn all_instances(region: &str) -> usize {
    ec2(region)
        .await
        .describe_instances()
        .send()
        .await
        .expect("DescribeInstances")
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum()
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn if_changed_reuses_an_image_with_the_same_inputs_and_launches_nothing() {
    let region = "eu-west-2";
    let state = fresh_state(region, serde_json::json!({}));
    let recipe = unique_boot_test_recipe(state.path(), "if-changed");
    let bake = |extra: &[&str], manifest: &str| {
        amibake(region, state.path())
            .args(["--json", "bake", "--if-changed"])
            .arg(&recipe)
            .args(extra)
            .arg("--manifest")
            .arg(state.path().join(manifest))
            .output()
            .unwrap()
    };
    let first = bake(&[], "first.json");
    expect_exit(&first, 0);
    let first_run = run_id(&events(&first));
    let first_manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("first.json")).unwrap())
            .unwrap();
    assert!(
        first_manifest.get("reused_from_run").is_none(),
        "the first run bakes"
    );

    let before = rt().block_on(all_instances(region));
    let second = bake(&[], "second.json");
    expect_exit(&second, 0);
    let after = rt().block_on(all_instances(region));
    assert_eq!(before, after, "the second run called RunInstances");
    let second_events = events(&second);
    assert!(
        second_events.iter().all(|e| e["event"] != "resource"),
        "nothing was created"
    );
    let second_manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("second.json")).unwrap())
            .unwrap();
    assert_eq!(second_manifest["reused_from_run"], first_run.as_str());
    assert_eq!(
        second_manifest["amis"], first_manifest["amis"],
        "same images, home and copy"
    );
    assert_eq!(second_manifest["input_hash"], first_manifest["input_hash"]);

    // A changed recipe (here: one more image tag) has another input hash: it bakes.
    let changed = state.path().join("changed.yaml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &changed,
        text.replace(
            "copy_to: [us-west-2]",
            "copy_to: [us-west-2]\n  tags: { Changed: \"yes\" }",
        ),
    )
    .unwrap();
    let third = amibake(region, state.path())
        .args(["--json", "bake", "--if-changed", "--manifest"])
        .arg(state.path().join("third.json"))
        .arg(&changed)
        .output()
        .unwrap();
    expect_exit(&third, 0);
    assert!(
        events(&third).iter().any(|e| e["event"] == "resource"),
        "a changed recipe bakes"
    );

    // --force bakes although nothing changed.
    let before = rt().block_on(all_instances(region));
    let forced = bake(&["--force"], "forced.json");
    expect_exit(&forced, 0);
    assert!(
        rt().block_on(all_instances(region)) > before,
        "--force launched a builder"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn force_without_if_changed_is_a_usage_error() {
    let state = tempfile::tempdir().unwrap();
    let out = run_expect("eu-west-2", state.path(), &["bake", RECIPE, "--force"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--if-changed"));
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn verbose_streams_the_output_of_checks_too() {
    // One region per run: two bakes of one recipe within a second would share an AMI name.
    for region in ["ap-east-1", "ap-southeast-1"] {
        configure(region, serde_json::json!({}));
    }
    let state = tempfile::tempdir().unwrap();
    let recipe = unique_boot_test_recipe(state.path(), "verbose");
    let run = |verbose: bool| {
        let region = if verbose {
            "ap-southeast-1"
        } else {
            "ap-east-1"
        };
        let mut cmd = amibake(region, state.path());
        cmd.arg("--json");
        if verbose {
            cmd.arg("-v");
        }
        let out = cmd
            .arg("bake")
            .arg(&recipe)
            .arg("--manifest")
            .arg(state.path().join("m.json"))
            .output()
            .unwrap();
        expect_exit(&out, 0);
        events(&out)
            .into_iter()
            .filter(|e| e["event"] == "output")
            .filter_map(|e| e["step"].as_str().map(str::to_string))
            .filter(|s| s.contains("check"))
            .count()
    };
    assert_eq!(run(false), 0, "checks are quiet by default");
    assert!(run(true) > 0, "-v streams the checks' output");
}
