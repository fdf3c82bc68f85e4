//! `promote` publishes only this recipe's complete images of this account.

use std::path::{Path, PathBuf};

use super::own_image;
use crate::support::emulator::*;
use crate::support::promotion::{self, Manifest};

/// A recipe `name` with `promotion: [dev, prod]` and a manifest of `ami` in `region`.
fn promote_files(dir: &Path, name: &str, region: &str, ami: &str) -> PathBuf {
    let recipe = promotion::write_recipe(
        dir,
        name,
        &format!("{{ ssm_parameter: {AL2023} }}"),
        "{{ recipe }}-{{ run_id }}",
        "[dev, prod]",
    );
    let manifest = Manifest {
        recipe: name,
        recipe_file: &recipe,
        run_id: "20260101-000000-abc123",
        region,
        ami,
        name: "x",
    };
    manifest.write(dir.join(format!("{name}.json")))
}

/// `promote --to dev EXTRA…` of `ami` as recipe `name`'s bake, in [`PROMOTE_REGION`].
fn promote_to_dev(name: &str, ami: &str, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let manifest = promote_files(dir.path(), name, PROMOTE_REGION, ami);
    promote_json(PROMOTE_REGION, dir.path(), &manifest, "dev", extra)
}

async fn channel_value(region: &str, recipe: &str) -> Option<String> {
    let name = format!("/amibake/{recipe}/dev");
    let p = ssm(region).get_parameter().name(name).send().await.ok()?;
    p.parameter()?.value().map(str::to_string)
}

/// Promote refused `ami` with exit 2, naming it and `what` is wrong, and wrote no channel.
fn assert_refused(region: &str, recipe: &str, ami: &str, out: &std::process::Output, what: &str) {
    expect_exit(out, 2);
    let text = show(out);
    assert!(text.contains(ami) && text.contains(what), "{text}");
    assert!(text.contains("--allow-foreign-image"), "{text}");
    assert_eq!(rt().block_on(channel_value(region, recipe)), None, "{text}");
}

const PROMOTE_REGION: &str = "ap-south-1";

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn promote_refuses_a_public_image_of_another_account() {
    let name = unique("foreign");
    let (amazon, _) = rt().block_on(two_amis(PROMOTE_REGION));
    let out = promote_to_dev(&name, &amazon, &[]);
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
    let name = unique("incomplete");
    let ami = rt().block_on(own_image(
        PROMOTE_REGION,
        &[("amibake:created-by", "amibake"), ("amibake:recipe", &name)],
    ));
    let out = promote_to_dev(&name, &ami, &[]);
    assert_refused(PROMOTE_REGION, &name, &ami, &out, "amibake:complete=true");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn promote_refuses_an_image_of_another_recipe() {
    let name = unique("mine");
    let ami = rt().block_on(own_image(
        PROMOTE_REGION,
        &[
            ("amibake:created-by", "amibake"),
            ("amibake:recipe", "someone-elses"),
            ("amibake:complete", "true"),
        ],
    ));
    let out = promote_to_dev(&name, &ami, &[]);
    assert_refused(PROMOTE_REGION, &name, &ami, &out, "someone-elses");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn allow_foreign_image_promotes_it_loudly_and_records_it_on_the_channel() {
    let name = unique("allowed");
    let (amazon, _) = rt().block_on(two_amis(PROMOTE_REGION));
    let out = promote_to_dev(&name, &amazon, &["--allow-foreign-image"]);
    expect_exit(&out, 0);
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
