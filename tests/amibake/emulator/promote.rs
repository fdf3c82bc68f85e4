//! `amibake promote` and `roll --channel` end to end against the local emulator (moto +
//! emulator/; see emulator/README.md). No bake is needed: each test writes a manifest by
//! hand that points at images that look baked (copies of Amazon images the emulator
//! already has, in this account, tagged as complete bakes of the recipe; promote refuses
//! anything else), and a recipe file whose
//! `promotion` list orders the environments. Each test uses regions of its own and a
//! recipe name of its own (the emulator may outlive a test run, and with it the channel
//! parameters).

use crate::support::emulator;
use crate::support::promotion::{self, Manifest};

use std::path::{Path, PathBuf};

use emulator::events as events_of;
use emulator::promote_json as promote;
use emulator::*;
use serde_json::Value;

const RUN_ID: &str = "20260101-000000-abc123";

/// A channel parameter as SSM has it.
#[derive(Debug)]
pub(super) struct Channel {
    pub value: String,
    pub data_type: String,
    pub description: String,
    pub tags: std::collections::BTreeMap<String, String>,
}

pub(super) async fn channel(region: &str, recipe: &str, env: &str) -> Option<Channel> {
    let name = format!("/amibake/{recipe}/{env}");
    let client = ssm(region);
    let p = parameter(region, &name).await?;
    let described = client
        .describe_parameters()
        .parameter_filters(
            aws_sdk_ssm::types::ParameterStringFilter::builder()
                .key("Name")
                .option("Equals")
                .values(&name)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("DescribeParameters");
    let tags = client
        .list_tags_for_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id(&name)
        .send()
        .await
        .expect("ListTagsForResource");
    Some(Channel {
        value: p.value().unwrap_or_default().to_string(),
        data_type: p.data_type().unwrap_or_default().to_string(),
        description: described
            .parameters()
            .first()
            .and_then(|d| d.description())
            .unwrap_or_default()
            .to_string(),
        tags: tags
            .tag_list()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    })
}

/// Two images of this account in `region` that look like complete bakes of `recipe`
/// (copies of two Amazon images, tagged at creation as a bake tags them: the IAM policy
/// the emulator enforces allows `amibake:created-by` nowhere else).
async fn baked_pair(region: &str, recipe: &str) -> (String, String) {
    let (a, b) = two_amis(region).await;
    // With the agent pin a bake of a recipe with an agent step tags at creation.
    let mut tags = complete_tags(recipe).to_vec();
    tags.push(("amibake:agent", "2.1.0"));
    (
        tagged_copy(region, &a, &unique(recipe), &tags).await,
        tagged_copy(region, &b, &unique(recipe), &tags).await,
    )
}

/// A recipe file with `promotion: [dev, staging, prod]`.
fn write_recipe(dir: &Path, name: &str) -> PathBuf {
    promotion::write_recipe(
        dir,
        name,
        &format!("{{ ssm_parameter: {AL2023} }}"),
        "{{ recipe }}-{{ timestamp }}",
        "[dev, staging, prod]",
    )
}

/// A manifest by hand: `ami` in `region`, of recipe `name` from `recipe_file`.
fn write_manifest(
    dir: &Path,
    file: &str,
    name: &str,
    recipe_file: &Path,
    region: &str,
    ami: &str,
) -> PathBuf {
    let manifest = Manifest {
        recipe: name,
        recipe_file,
        run_id: RUN_ID,
        region,
        ami,
        name: "x",
    };
    manifest.write(dir.join(file))
}

/// A recipe of its own (named after `label`, its file in `dir`) promoted through dev,
/// staging and prod, and two complete bakes of it in `region`, each with its manifest:
/// the recipe's name, and each image with its manifest.
fn baked_recipe(region: &str, dir: &Path, label: &str) -> (String, [(String, PathBuf); 2]) {
    let name = unique(label);
    let recipe = write_recipe(dir, &name);
    let (a, b) = rt().block_on(baked_pair(region, &name));
    let manifest_a = write_manifest(dir, "a.json", &name, &recipe, region, &a);
    let manifest_b = write_manifest(dir, "b.json", &name, &recipe, region, &b);
    (name, [(a, manifest_a), (b, manifest_b)])
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn promote_writes_channels_in_order_refuses_to_skip_an_environment_and_force_overrides() {
    let region = "eu-south-1";
    let state = fresh_state(region, serde_json::json!({}));
    let dir = state.path();
    let (name, [(a, manifest_a), (b, manifest_b)]) = baked_recipe(region, dir, "promo");
    let rt = rt();

    // dev, the first environment, has no predecessor. Text mode prints old → new.
    let out = amibake(region, dir)
        .args(["--no-progress", "promote", "--manifest"])
        .arg(&manifest_a)
        .args(["--to", "dev"])
        .env("USER", "alice")
        .env_remove("GITHUB_ACTOR")
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("dev: (new) → {a} in {region}")),
        "{}",
        show(&out)
    );
    let dev = rt
        .block_on(channel(region, &name, "dev"))
        .expect("dev exists");
    assert_eq!(dev.value, a);
    assert_eq!(dev.data_type, "aws:ec2:image");
    assert!(
        dev.description.starts_with("promoted by alice at ")
            && dev.description.ends_with(&format!("from run {RUN_ID}")),
        "{dev:?}"
    );
    assert_eq!(dev.tags["amibake:recipe"], name);
    assert_eq!(dev.tags["amibake:env"], "dev");
    assert_eq!(dev.tags["amibake:run-id"], RUN_ID);

    // staging follows dev, which holds A.
    let out = promote(region, dir, &manifest_a, "staging", &[]);
    expect_exit(&out, 0);
    let evs = events_of(&out);
    let promoted = last(&evs, "promoted");
    assert_eq!(promoted["old"], Value::Null);
    assert_eq!(promoted["new"], a.as_str());
    assert_eq!(last(&evs, "done")["env"], "staging");
    assert_eq!(
        rt.block_on(channel(region, &name, "staging"))
            .unwrap()
            .value,
        a
    );

    // B straight to prod while staging holds A: refused, nothing written.
    let out = promote(region, dir, &manifest_b, "prod", &[]);
    let err = expect_error(&out, 1);
    let text = err["error"].as_str().unwrap();
    assert!(
        text.contains("staging") && text.contains(&a) && text.contains("--force"),
        "{err}"
    );
    assert_eq!(err["holds"], a.as_str());
    assert!(rt.block_on(channel(region, &name, "prod")).is_none());

    // B to staging while dev holds A: refused too.
    let out = promote(region, dir, &manifest_b, "staging", &[]);
    expect_exit(&out, 1);
    assert_eq!(
        rt.block_on(channel(region, &name, "staging"))
            .unwrap()
            .value,
        a
    );

    // --force: B goes to prod, and the record says it was forced.
    let out = promote(region, dir, &manifest_b, "prod", &["--force"]);
    expect_exit(&out, 0);
    let evs = events_of(&out);
    assert!(evs.iter().any(|e| e["event"] == "forced"), "{evs:?}");
    assert_eq!(last(&evs, "done")["forced"], true);
    let prod = rt.block_on(channel(region, &name, "prod")).unwrap();
    assert_eq!(prod.value, b);
    assert!(prod.description.contains("forced"), "{prod:?}");

    // A to prod in order now: old → new names both.
    let out = promote(region, dir, &manifest_a, "prod", &[]);
    expect_exit(&out, 0);
    let promoted = last(&events_of(&out), "promoted");
    assert_eq!(promoted["old"], b.as_str());
    assert_eq!(promoted["new"], a.as_str());
    assert_eq!(promoted["changed"], true);
    assert_eq!(
        rt.block_on(channel(region, &name, "prod")).unwrap().value,
        a
    );

    // Again: already there, nothing written, still exit 0.
    let out = promote(region, dir, &manifest_a, "prod", &[]);
    expect_exit(&out, 0);
    assert_eq!(last(&events_of(&out), "promoted")["changed"], false);
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn promote_to_an_environment_not_in_the_promotion_list_exits_2_and_writes_nothing() {
    let region = "eu-south-1";
    let state = tempfile::tempdir().unwrap();
    let dir = state.path();
    let (name, [(_, manifest), _]) = baked_recipe(region, dir, "promo-bad");

    let out = promote(region, dir, &manifest, "qa", &[]);
    let err = expect_error(&out, 2);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("dev → staging → prod"),
        "{err}"
    );
    assert!(rt().block_on(channel(region, &name, "qa")).is_none());

    // A manifest that does not exist: exit 2 as well.
    let out = promote(region, dir, &dir.join("missing.json"), "dev", &[]);
    expect_exit(&out, 2);

    // A recipe file named explicitly that is of another recipe: exit 2.
    let other = write_recipe(dir, "some-other-recipe");
    let out = promote(
        region,
        dir,
        &manifest,
        "dev",
        &["--recipe-file", other.to_str().unwrap()],
    );
    expect_exit(&out, 2);
    assert!(rt().block_on(channel(region, &name, "dev")).is_none());
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn promote_copy_to_sets_the_channel_to_the_copy_and_roll_channel_takes_it() {
    let home = "eu-south-2";
    let far = "il-central-1";
    configure(home, serde_json::json!({}));
    let state = fresh_state(far, serde_json::json!({}));
    let dir = state.path();
    let (name, [(a, manifest), _]) = baked_recipe(home, dir, "promo-copy");
    let rt = rt();

    let out = promote(
        home,
        dir,
        &manifest,
        "dev",
        &["--copy-to", far, "--share-with", "111122223333"],
    );
    expect_exit(&out, 0);
    let evs = events_of(&out);
    let copy = evs
        .iter()
        .find(|e| e["event"] == "copy" && e["state"] == "available")
        .unwrap_or_else(|| panic!("a finished copy in {evs:?}"));
    let copy_id = copy["ami_id"].as_str().unwrap().to_string();
    assert_ne!(copy_id, a);
    assert_eq!(rt.block_on(channel(home, &name, "dev")).unwrap().value, a);
    let far_channel = rt
        .block_on(channel(far, &name, "dev"))
        .expect("dev in the copy's region");
    assert_eq!(far_channel.value, copy_id);
    assert_eq!(far_channel.data_type, "aws:ec2:image");
    let done = last(&evs, "done");
    let regions: Vec<&str> = done["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, [home, far]);

    // The copy: available, tagged as a copy of A, shared with the account.
    rt.block_on(async {
        let ec2 = ec2(far).await;
        let img = ec2
            .describe_images()
            .image_ids(&copy_id)
            .send()
            .await
            .expect("DescribeImages");
        let img = &img.images()[0];
        assert_eq!(img.state().unwrap().as_str(), "available");
        assert!(
            img.tags()
                .iter()
                .any(|t| t.key() == Some("amibake:copy-of") && t.value() == Some(a.as_str())),
            "{img:?}"
        );
        assert!(
            img.tags()
                .iter()
                .any(|t| t.key() == Some("amibake:agent") && t.value() == Some("2.1.0")),
            "the copy carries the agent pin: {img:?}"
        );
        let perms = ec2
            .describe_image_attribute()
            .image_id(&copy_id)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .expect("DescribeImageAttribute");
        assert!(
            perms
                .launch_permissions()
                .iter()
                .any(|p| p.user_id() == Some("111122223333")),
            "{perms:?}"
        );
    });

    // The same promote again reuses the copy: one copy only, nothing changed.
    let out = promote(home, dir, &manifest, "dev", &["--copy-to", far]);
    expect_exit(&out, 0);
    let evs = events_of(&out);
    assert!(
        evs.iter().any(|e| e["event"] == "copy"
            && e["state"] == "reused"
            && e["ami_id"] == copy_id.as_str()),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .filter(|e| e["event"] == "promoted")
            .all(|e| e["changed"] == false),
        "{evs:?}"
    );
    let copies = rt.block_on(copies_of(far, &a));
    assert_eq!(copies.len(), 1, "{copies:?}");

    // roll --channel dev in the far region takes the copy (--plan: nothing is created).
    let stack = unique("promo-stack");
    let out = run_expect(
        far,
        dir,
        &[
            "--json",
            "roll",
            "--stack",
            &stack,
            "--channel",
            "dev",
            "--recipe",
            &name,
            "--plan",
        ],
        0,
    );
    let evs = events_of(&out);
    assert_eq!(
        last(&evs, "resolved")["parameter"],
        format!("/amibake/{name}/dev")
    );
    let done = last(&evs, "done");
    assert_eq!(done["outcome"], "planned", "{done}");
    assert_eq!(done["ami"], copy_id.as_str());
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn roll_channel_that_was_never_promoted_exits_2_naming_the_parameter() {
    let region = "il-central-1";
    let state = tempfile::tempdir().unwrap();
    let name = unique("promo-none");
    // `roll --stack web --channel …` with `more`, which must exit 2.
    let refused = |more: &[&str]| {
        let args = [&["roll", "--stack", "web", "--channel"], more].concat();
        run_expect(region, state.path(), &args, 2)
    };
    let out = refused(&["staging", "--recipe", &name, "--plan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("/amibake/{name}/staging")) && stderr.contains("promote"),
        "{}",
        show(&out)
    );

    // --channel needs --recipe, and excludes --ami: usage errors (exit 2).
    refused(&["dev", "--plan"]);
    refused(&[
        "dev",
        "--recipe",
        &name,
        "--ami",
        "ami-0123456789abcdef0",
        "--plan",
    ]);
}
