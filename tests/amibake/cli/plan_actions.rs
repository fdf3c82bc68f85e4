//! The actions `amibake plan` lists, as `bake` walks them: their order, ids and calls, the
//! flags `plan` shares with `bake` (copies, shares, `--if-changed`, `--history`), the
//! host-management check and the preflight.

use crate::support::cli;

use std::ffi::OsStr;

use cli::*;
use serde_json::Value;

use super::plan::plan_json;

/// The names of a JSON plan's actions, in the order `bake` walks them.
fn action_names(doc: &Value) -> Vec<&str> {
    doc["actions"]
        .as_array()
        .expect("`actions` is an array")
        .iter()
        .map(|a| a["action"].as_str().expect("an action name"))
        .collect()
}

#[test]
fn plan_takes_the_copy_and_share_flags_and_prints_the_copy_and_share_in_the_walk_order() {
    // A recipe that copies and shares nothing itself: whatever the plan copies or
    // shares comes from the flags.
    let alone = amibake(["plan", UBUNTU]);
    expect_exit(&alone, 0);
    let alone = String::from_utf8_lossy(&alone.stdout);
    for absent in ["us-west-2", "share the image", "111122223333"] {
        assert!(
            !alone.contains(absent),
            "{absent:?} without the flags:\n{alone}"
        );
    }
    let flags = ["--copy-to", "us-west-2", "--share-with", "111122223333"];
    let out = amibake(["plan", UBUNTU].iter().chain(&flags));
    expect_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for action in [
        "copy the image to us-west-2",
        "share the image",
        "account: 111122223333",
        "image hygiene on the builder",
        "boot test: launch an instance from the new AMI",
        "terminate the boot-test instance",
    ] {
        assert!(text.contains(action), "no {action:?} in the plan:\n{text}");
    }

    let doc = plan_json([UBUNTU].iter().chain(&flags));
    let actions = action_names(&doc);
    assert_eq!(actions.first(), Some(&"resolve_source"));
    assert_eq!(actions.last(), Some(&"write_manifest"));
    let at = |name: &str| {
        actions
            .iter()
            .position(|a| *a == name)
            .unwrap_or_else(|| panic!("no {name} in {actions:?}"))
    };
    assert!(at("hygiene") < at("stop_builder"));
    assert!(at("create_image") < at("distribute"));
    assert!(at("distribute") < at("share"));
    let distribute = &doc["actions"][at("distribute")];
    assert_eq!(distribute["copies"][0]["region"], "us-west-2");
    assert_eq!(doc["image"]["share_accounts"][0], "111122223333");
}

#[test]
fn every_action_of_the_json_plan_has_its_id_and_the_calls_the_text_lists() {
    let flags = ["--copy-to", "us-west-2", "--share-with", "111122223333"];
    let out = amibake(["plan", "--json", AL2023].iter().chain(&flags));
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("plan --json is JSON");
    let mut all = Vec::new();
    for action in doc["actions"].as_array().expect("`actions` is an array") {
        all.push(action);
        for nested in ["copies", "boot_test"] {
            all.extend(action[nested].as_array().into_iter().flatten());
        }
    }
    let list = |a: &Value, key: &str| -> Vec<String> {
        let list = a[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {a}"));
        list.iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    let text = String::from_utf8_lossy(&amibake(["plan", AL2023].iter().chain(&flags)).stdout)
        .into_owned();
    for action in all {
        assert!(action["id"].is_string(), "no id in {action}");
        let calls = list(action, "calls");
        let mut sorted = calls.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(calls, sorted, "calls sorted and unique in {action}");
        for always in list(action, "always") {
            assert!(
                calls.contains(&always),
                "{always} of `always` not in `calls`"
            );
        }
        if !calls.is_empty() && action["action"] != "distribute" {
            let api = format!("api: {}", calls.join(", "));
            assert!(text.contains(&api), "no {api:?} in the text plan:\n{text}");
        }
    }
    let copy = &doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "distribute");
    let copy = &copy.expect("a distribute action")["copies"][0];
    assert_eq!(copy["id"], "copy:us-west-2");
    assert_eq!(
        list(copy, "calls"),
        [
            "ec2:CopyImage",
            "ec2:DescribeImages",
            "ec2:EnableImageDeprecation"
        ]
    );
}

#[test]
fn plan_takes_if_changed_and_history_and_lists_the_reuse_check_and_the_history() {
    let ids = |flags: &[&str]| -> Vec<String> {
        let out = amibake(["plan", "--json", AL2023].iter().chain(flags));
        assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).expect("plan --json is JSON");
        let actions = doc["actions"].as_array().expect("`actions` is an array");
        actions
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ids(&["--if-changed", "--history", "ssm:/ci/waits"]);
    assert_eq!(all[..3], ["read_history", "resolve_source", "reuse_check"]);
    let tail = &all[all.len() - 3..];
    assert_eq!(tail, ["cleanup", "write_history", "write_manifest"]);

    let forced = ids(&["--if-changed", "--force", "--history", "local"]);
    assert!(!forced.contains(&"reuse_check".to_string()), "{forced:?}");
    assert!(!forced.contains(&"read_history".to_string()), "{forced:?}");

    let text = amibake(["plan", AL2023, "--history", "ssm:/ci/waits"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("SSM parameter /ci/waits/al2023-tomcat-codedeploy"),
        "{text}"
    );
}

#[test]
fn without_an_instance_profile_the_plan_checks_default_host_management_first() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = write_file(
        tmp.path(),
        "no-profile.yaml",
        "name: no-profile\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { instance_type: t3.small }\nsteps:\n  - shell: echo hi\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n",
    );
    let doc = plan_json([&recipe]);
    let actions = action_names(&doc);
    assert_eq!(
        &actions[..4],
        [
            "resolve_source",
            "check_host_management",
            "preflight",
            "create_security_group"
        ]
    );
    assert_eq!(doc["builder"]["iam_instance_profile"], Value::Null);

    let out = amibake([OsStr::new("plan"), recipe.as_os_str()]);
    let text = stdout(&out);
    assert!(text.contains("ssm:GetServiceSetting"), "{text}");
    assert!(
        text.contains("instance profile: none: the account's Default Host Management Configuration gives SSM access"),
        "{text}"
    );
}

#[test]
fn with_copies_shares_or_keys_the_preflight_checks_regions_keys_and_shares_before_the_builder_launches()
 {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = write_file(
        tmp.path(),
        "preflight.yaml",
        "name: preflight\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { iam_instance_profile: amibake-builder, kms_key_id: alias/golden }\nsteps:\n  - shell: echo hi\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n  kms_key_id: alias/golden\n",
    );
    let flags = ["--copy-to", "us-west-2", "--share-with", "111122223333"];
    let doc = plan_json(
        [recipe.as_os_str()]
            .into_iter()
            .chain(flags.map(OsStr::new)),
    );
    let actions = action_names(&doc);
    assert_eq!(
        &actions[..3],
        ["resolve_source", "preflight", "create_security_group"]
    );
    let preflight = &doc["actions"][1];
    assert_eq!(preflight["share_accounts"][0], "111122223333");
    let checks: Vec<(&str, &str)> = preflight["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["region"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("ami_name_free", "us-east-1"),
            ("ami_name_free", "us-west-2"),
            ("region_enabled", "us-west-2"),
            ("key", "us-east-1"),
            ("key", "us-west-2")
        ]
    );
    assert_eq!(preflight["checks"][3]["key"], "alias/golden");
    assert_eq!(preflight["checks"][3]["setting"], "builder.kms_key_id");
    assert_eq!(preflight["checks"][4]["shared"], true);

    let mut args = vec![OsStr::new("plan"), recipe.as_os_str()];
    args.extend(flags.iter().map(OsStr::new));
    let text = stdout(&amibake(args));
    assert!(
        text.contains("preflight: the image name, copies, shares and keys"),
        "{text}"
    );
    assert!(text.contains("kms:GetKeyPolicy, kms:ListGrants"), "{text}");
    assert!(
        text.contains("check: alias/golden (image.kms_key_id) exists in us-west-2, is enabled and symmetric, and every share target may use it"),
        "{text}"
    );

    // What is known offline costs no call: a default region is enabled in every account,
    // and a copy that names no key and is not shared has no key of the recipe's to check.
    let keyless = write_file(
        tmp.path(),
        "keyless.yaml",
        "name: keyless\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { iam_instance_profile: amibake-builder }\nsteps:\n  - shell: echo hi\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n  copy_to: [us-west-2, me-south-1]\n",
    );
    let doc = plan_json([&keyless]);
    let checks: Vec<(&str, bool)> = doc["actions"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "region_enabled")
        .map(|c| (c["region"].as_str().unwrap(), c["by_default"] == true))
        .collect();
    assert_eq!(checks, [("us-west-2", true), ("me-south-1", false)]);

    // Without copies or shares, the builder's key is still checked at home...
    let doc = plan_json([&recipe]);
    let checks: Vec<&Value> = doc["actions"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] != "ami_name_free")
        .collect();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["check"], "key");
    assert_eq!(checks[0]["key"], "alias/golden");
    assert_eq!(checks[0]["region"], "us-east-1");

    // ...and a recipe that names no key, copies and shares nothing has only its AMI name
    // to check, at home.
    let plain = write_file(
        tmp.path(),
        "plain.yaml",
        "name: plain\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { iam_instance_profile: amibake-builder }\nsteps:\n  - shell: echo hi\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n",
    );
    let doc = plan_json([&plain]);
    let checks = doc["actions"][1]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["check"], "ami_name_free");
    assert_eq!(checks[0]["region"], "us-east-1");
}
