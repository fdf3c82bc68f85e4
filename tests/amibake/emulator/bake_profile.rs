//! `amibake bake` without `builder.iam_instance_profile`, against the local emulator:
//! the account's Default Host Management Configuration (the SSM service setting) must
//! give the builder SSM access. Without it the bake stops before anything is created
//! (exit 2, both ways out named); with it the builder launches with no instance profile
//! and its agent comes online. Each test has its own region.

use crate::support::emulator;

use emulator::*;

/// A one-step recipe without an instance profile, unique to the test.
fn recipe_without_profile(dir: &std::path::Path, label: &str) -> std::path::PathBuf {
    let text = format!(
        "name: {}\nsource:\n  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\nbuilder: {{ instance_type: t3.small }}\nsteps:\n  - name: hello\n    shell: echo hello\nimage:\n  name: \"{{{{ recipe }}}}-{{{{ run_id }}}}\"\n",
        unique(label)
    );
    let path = dir.join(format!("{label}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn without_a_profile_or_default_host_management_the_bake_stops_before_creating_anything() {
    let region = "eu-central-1";
    let state = fresh_state(
        region,
        serde_json::json!({ "require_instance_profile": true }),
    );
    let recipe = recipe_without_profile(state.path(), "no-profile");

    let out = bake_json(region, state.path(), &recipe, &[]);

    let error = expect_error(&out, 2);
    let evs = events(&out);
    let text = error["error"].as_str().unwrap();
    assert!(
        text.contains("Default Host Management Configuration"),
        "{text}"
    );
    assert!(text.contains("builder.iam_instance_profile"), "{text}");
    assert!(text.contains("update-service-setting"), "{text}");
    let run_id = run_id(&evs);
    let rt = rt();
    assert!(rt.block_on(live_instances(region, &run_id)).is_empty());
    assert!(rt.block_on(security_groups(region, &run_id)).is_empty());
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn with_default_host_management_the_builder_runs_without_a_profile() {
    let region = "eu-north-1";
    let state = fresh_state(
        region,
        serde_json::json!({
            "require_instance_profile": true,
            "default_host_management": "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole",
        }),
    );
    let recipe = recipe_without_profile(state.path(), "dhmc");

    let out = bake_json(region, state.path(), &recipe, &[]);

    expect_exit(&out, 0);
    let evs = events(&out);
    let builder = evs
        .iter()
        .find(|e| e["event"] == "resource" && e["role"] == "builder")
        .expect("the builder was launched");
    let id = builder["id"].as_str().unwrap().to_string();
    let rt = rt();
    let described = rt.block_on(async {
        ec2(region)
            .await
            .describe_instances()
            .instance_ids(&id)
            .send()
            .await
            .expect("DescribeInstances")
    });
    let instance = &described.reservations()[0].instances()[0];
    assert!(
        instance.iam_instance_profile().is_none(),
        "launched without an instance profile: {instance:?}"
    );
}
