//! `amibake bake RECIPE...`: several bakes from one process against the local emulator,
//! with EC2's request buckets turned on in their region.

use crate::support::emulator;

use emulator::*;

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn six_bakes_at_once_share_the_rate_limits_and_each_writes_its_own_manifest() {
    // Six builders and six boot-test instances: more RunInstances than its bucket holds
    // (5, refilling 2 a second), so only pacing keeps EC2 from throttling.
    // Alone: with other tests loading the machine, requests paced 0.5 s apart can reach
    // the emulator out of order and bend the bucket's arithmetic.
    claim_alone();
    let region = "sa-east-1";
    let state = fresh_state(region, serde_json::json!({ "throttle_ec2": true }));
    let recipe = unique_boot_test_recipe(state.path(), "many");
    let manifest = state.path().join("m.json");
    let out = amibake(region, state.path())
        .args(["--json", "bake"])
        .args(std::iter::repeat_n(&recipe, 6))
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let events = events(&out);

    // Each bake's events carry its label; each wrote manifest.N.json with its own AMI.
    let mut amis = Vec::new();
    for n in 1..=6 {
        let label_prefix = format!("{n}/6 ");
        let done = events
            .iter()
            .find(|e| {
                e["event"] == "done"
                    && e["bake"]
                        .as_str()
                        .is_some_and(|b| b.starts_with(&label_prefix))
            })
            .unwrap_or_else(|| panic!("bake {n} reports done: {}", show(&out)));
        assert_eq!(done["clean"], true);
        let path = state.path().join(format!("m.{n}.json"));
        // The plan each bake walks names its numbered manifest, as written.
        let plan = events
            .iter()
            .find(|e| e["event"] == "plan" && e["bake"] == done["bake"])
            .unwrap_or_else(|| panic!("bake {n} emits its plan: {}", show(&out)));
        let write = plan["plan"]["actions"].as_array().unwrap().last().unwrap();
        assert_eq!(write["manifest"].as_str(), path.to_str(), "{write}");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        amis.push(m["amis"][0]["ami_id"].as_str().unwrap().to_string());
    }
    amis.sort();
    amis.dedup();
    assert_eq!(amis.len(), 6, "six different images: {amis:?}");

    let summary = last(&events, "summary");
    assert_eq!(summary["bakes"], 6);
    assert_eq!(summary["succeeded"], 6);
    assert!(summary["api_calls_by_action"]["ec2:RunInstances"].as_u64() >= Some(12));
    assert!(
        summary["rate_limit_wait_seconds"].as_f64().unwrap() > 0.0,
        "the seventh and later RunInstances waited for their tokens"
    );
    assert!(
        throttled(region).is_empty(),
        "no request was throttled: {:?}",
        throttled(region)
    );

    let run_ids: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "start")
        .map(|e| e["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(run_ids.len(), 6);
    rt().block_on(async {
        for id in &run_ids {
            assert_nothing_left(&[region, "us-west-2"], id, true).await;
        }
    });
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn one_bad_recipe_among_several_stops_them_all_before_anything_is_created() {
    let region = "sa-east-1";
    let state = tempfile::tempdir().unwrap();
    let good = unique_boot_test_recipe(state.path(), "good");
    let bad = state.path().join("bad.yaml");
    std::fs::write(&bad, "name: bad\nsteps: 3\n").unwrap();
    let out = amibake(region, state.path())
        .args(["--json", "bake"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    expect_exit(&out, 2);
    let events = events(&out);
    assert!(
        !events.iter().any(|e| e["event"] == "start"),
        "no bake started: {}",
        show(&out)
    );
    assert!(
        !state.path().join("runs").exists(),
        "no journal was written"
    );
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn without_pacing_the_emulator_throttles_like_ec2() {
    // The other side of the test above: a client with no limiter (and no retries) that
    // fires more unfiltered DescribeInstances than their bucket (50, refilling 10 a second)
    // holds gets RequestLimitExceeded, as from EC2.
    let region = "me-south-1";
    configure(region, serde_json::json!({ "throttle_ec2": true }));
    let errors = rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::Config::builder()
                .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
                .region(aws_sdk_ec2::config::Region::new(region))
                .endpoint_url(endpoint())
                .credentials_provider(creds())
                .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
                .http_client(amibake::aws::https_client())
                .build(),
        );
        let calls = (0..70).map(|_| ec2.describe_instances().send());
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .filter_map(|r| r.err())
            .map(|e| {
                aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect::<Vec<_>>()
    });
    assert!(
        !errors.is_empty() && errors.iter().all(|c| c == "RequestLimitExceeded"),
        "{errors:?}"
    );
    // Counted since the emulator started (a rerun on the same emulator adds to it).
    assert!(throttled(region)["ec2:DescribeInstances"].as_u64() >= Some(errors.len() as u64));
    configure(region, serde_json::json!({}));
}
