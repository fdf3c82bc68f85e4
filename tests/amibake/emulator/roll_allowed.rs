//! `amibake roll` against the account's Allowed AMIs settings (the emulator's
//! `allowed_images` knob; emulator/README.md), on `cfn-templates/asg-rolling.yaml`: enabled
//! settings that refuse the image stop the roll before any change set (exit 2, the
//! criterion named, the stack untouched, `--plan` too; an image EC2 does not show may be
//! hidden by them, which the error says); audit mode warns and rolls; a
//! criterion the image meets rolls; disabled settings say nothing; a caller who may not
//! read them is warned and rolls — onto an image they refuse, into the late failure (the
//! group's instances cannot launch, the stack rolls back) the preflight prevents. The images are Amazon's (not the account's own, which
//! Allowed AMIs never restricts).

use crate::support::emulator;
use crate::support::stacks;

use emulator::events as events_of;
use emulator::*;
use stacks::*;

const TEMPLATE: &str = "cfn-templates/asg-rolling.yaml";

/// Criteria Amazon's images meet none of: a name pattern, and another account.
fn refusing(state: &str) -> serde_json::Value {
    serde_json::json!({ "allowed_images": { "state": state, "criteria": [
        { "ImageNames": ["golden-*"] },
        { "ImageProviders": ["111122223333"], "CreationDateCondition": { "MaximumDaysSinceCreated": 30 } },
    ] } })
}

/// `roll --stack NAME --ami AMI --yes --json` (plus `extra`).
fn roll_to(
    region: &str,
    state: &std::path::Path,
    name: &str,
    ami: &str,
    extra: &[&str],
) -> std::process::Output {
    amibake(region, state)
        .args(["--json", "roll", "--stack", name, "--ami", ami, "--yes"])
        .args(extra)
        .output()
        .expect("run amibake")
}

async fn owner_of(region: &str, ami: &str) -> String {
    ec2(region)
        .await
        .describe_images()
        .image_ids(ami)
        .send()
        .await
        .expect("DescribeImages")
        .images()[0]
        .owner_id()
        .expect("an owner")
        .to_string()
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn enabled_allowed_amis_refuse_before_any_change_and_audit_mode_warns_and_rolls() {
    let region = "af-south-1";
    let name = &unique("web-allowed");
    let (state, rt, (vpc, subnets), (a, b)) = roll_region(region, serde_json::json!({}));
    create_stack(
        region,
        state.path(),
        &create_args(TEMPLATE, name, &a, &vpc, &subnets),
    );
    let before = rt.block_on(stack(region, name)).expect("the stack exists");
    let change_sets_before = rt.block_on(change_sets(region, name));

    // Enabled, and B meets no criterion: refused with each criterion's failure, exit 2.
    configure(region, refusing("enabled"));
    for extra in [&[][..], &["--plan"][..]] {
        let out = roll_to(region, state.path(), name, &b, extra);
        let error = expect_error(&out, 2);
        let message = error["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("Allowed AMIs (enabled) in {region} refuse {b}")),
            "{}",
            show(&out)
        );
        assert!(
            message.contains("criterion 1: ImageNames [golden-*]"),
            "{message}"
        );
        assert!(
            message.contains("criterion 2: ImageProviders [111122223333]"),
            "{message}"
        );
        assert!(message.contains("nothing was changed"), "{message}");
        assert!(
            message.contains("aws ec2 replace-image-criteria-in-allowed-images-settings"),
            "the fix: {message}"
        );
        assert_eq!(error["ami"], b.as_str(), "{error}");
        assert_eq!(
            error["allowed_images"]["verdict"]["verdict"], "refused",
            "{error}"
        );
        let evs = events_of(&out);
        assert!(
            !evs.iter()
                .any(|e| e["event"] == "start" || e["event"] == "change_set"),
            "no change set was made: {evs:?}"
        );
    }
    // An image EC2 does not show may be one the enabled settings hide: the error says so.
    let out = roll_to(region, state.path(), name, "ami-0000000000000dead", &[]);
    let error = expect_error(&out, 2);
    let message = error["error"].as_str().unwrap_or_default();
    assert!(message.contains("does not exist in"), "{message}");
    assert!(
        message.contains("Allowed AMIs settings hide it: they are enabled in"),
        "{message}"
    );
    let after = rt.block_on(stack(region, name)).expect("the stack exists");
    assert_eq!(after.status, before.status, "the stack is untouched");
    assert_eq!(after.params, before.params);
    assert_eq!(after.tags, before.tags);
    assert_eq!(rt.block_on(change_sets(region, name)), change_sets_before);

    // Audit mode: the same verdict is a warning, and the roll goes on.
    configure(region, refusing("audit-mode"));
    let out = roll_to(region, state.path(), name, &b, &[]);
    expect_exit(&out, 0);
    let evs = events_of(&out);
    let warned = last(&evs, "allowed_images");
    assert_eq!(warned["state"], "audit-mode", "{warned}");
    assert_eq!(warned["verdict"], "refused", "{warned}");
    assert_eq!(warned["failures"][0]["criterion"], 1, "{warned}");
    assert_eq!(last(&evs, "done")["outcome"], "rolled");
    assert_eq!(
        rt.block_on(stack(region, name)).unwrap().params["ImageId"],
        b
    );

    // Enabled with a criterion A meets (its owner): rolls, and says which criterion.
    let owner = rt.block_on(owner_of(region, &a));
    configure(
        region,
        serde_json::json!({ "allowed_images": { "state": "enabled", "criteria": [
            { "ImageNames": ["golden-*"] }, { "ImageProviders": [owner] },
        ] } }),
    );
    let out = roll_to(region, state.path(), name, &a, &[]);
    expect_exit(&out, 0);
    let evs = events_of(&out);
    let allowed = last(&evs, "allowed_images");
    assert_eq!(allowed["verdict"], "allowed", "{allowed}");
    assert_eq!(allowed["criterion"], 2, "{allowed}");
    assert_eq!(last(&evs, "done")["to_ami"], a.as_str());
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn disabled_allowed_amis_say_nothing_and_unreadable_ones_warn_and_fail_late() {
    let region = "me-south-1";
    let name = &unique("web-allowed");
    let (state, rt, (vpc, subnets), (a, b)) = roll_region(region, serde_json::json!({}));

    // Disabled (the default): not a word about them, creating or rolling.
    let out = create_stack(
        region,
        state.path(),
        &create_args(TEMPLATE, name, &a, &vpc, &subnets),
    );
    let out_b = roll_to(region, state.path(), name, &b, &[]);
    expect_exit(&out_b, 0);
    for out in [&out, &out_b] {
        let evs = events_of(out);
        assert!(
            !evs.iter().any(|e| e["event"]
                .as_str()
                .unwrap_or_default()
                .starts_with("allowed")),
            "{evs:?}"
        );
    }

    // Enabled but not readable by this caller: a warning, and the roll goes on (EC2 still
    // enforces the settings at launch; the emulator's allow A's owner).
    let owner = rt.block_on(owner_of(region, &a));
    configure(
        region,
        serde_json::json!({ "allowed_images": {
            "state": "enabled", "criteria": [{ "ImageProviders": [owner] }], "access_denied": true,
        } }),
    );
    let out = roll_to(region, state.path(), name, &a, &[]);
    expect_exit(&out, 0);
    let evs = events_of(&out);
    let unchecked = last(&evs, "allowed_unchecked");
    assert!(
        unchecked["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("UnauthorizedOperation"),
        "{unchecked}"
    );
    assert_eq!(last(&evs, "done")["to_ami"], a.as_str());

    // The late failure the preflight prevents: unchecked, a roll onto B (which the
    // settings refuse) fails only when the group's instances cannot launch, and
    // CloudFormation rolls the stack back to A (exit 1).
    configure(
        region,
        serde_json::json!({ "allowed_images": {
            "state": "enabled", "criteria": [{ "ImageProviders": ["111122223333"] }], "access_denied": true,
        } }),
    );
    let out = roll_to(region, state.path(), name, &b, &[]);
    let error = expect_error(&out, 1);
    let message = error["error"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("rolled back to {a}")),
        "{message}"
    );
    assert!(message.contains("Instance failed to launch"), "{message}");
    assert!(
        events_of(&out).iter().any(|e| e["event"] == "change_set"),
        "the change set was made and executed: {}",
        show(&out)
    );
    let s = rt.block_on(stack(region, name)).unwrap();
    assert_eq!(s.status, "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(s.params["ImageId"], a);
    // Readable, the same settings stop that roll before anything changes (exit 2).
    configure(
        region,
        serde_json::json!({ "allowed_images": {
            "state": "enabled", "criteria": [{ "ImageProviders": ["111122223333"] }],
        } }),
    );
    let out = roll_to(region, state.path(), name, &b, &[]);
    expect_error(&out, 2);
    assert_eq!(
        rt.block_on(stack(region, name)).unwrap().status,
        "UPDATE_ROLLBACK_COMPLETE"
    );

    // In text, the unchecked roll's warning is a `warning:` line.
    configure(
        region,
        serde_json::json!({ "allowed_images": {
            "state": "enabled", "criteria": [{ "ImageProviders": [owner] }], "access_denied": true,
        } }),
    );
    let text = amibake(region, state.path())
        .args(["roll", "--stack", name, "--ami", &a, "--yes"])
        .output()
        .unwrap();
    expect_exit(&text, 0);
    assert!(
        String::from_utf8_lossy(&text.stderr)
            .contains("warning: could not read the Allowed AMIs settings")
            || String::from_utf8_lossy(&text.stdout)
                .contains("warning: could not read the Allowed AMIs settings"),
        "{}",
        show(&text)
    );
}
