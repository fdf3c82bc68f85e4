//! `amibake prune` against the emulator: a recipe's older images go with their snapshots;
//! the newest N, and every image a channel, an Auto Scaling group's launch template or a
//! live instance refers to, stay; other recipes' images and incomplete images are never
//! touched.

use crate::support::emulator;

use std::time::Duration;

use aws_sdk_ec2::types::{
    Filter, IamInstanceProfileSpecification, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification,
};
use emulator::*;

/// Launches an instance of `image` (a builder, or a "running instance" of an image).
async fn launch(region: &str, image: &str) -> String {
    ec2(region)
        .await
        .run_instances()
        .image_id(image)
        .instance_type("t3.small".into())
        .min_count(1)
        .max_count(1)
        .iam_instance_profile(
            IamInstanceProfileSpecification::builder()
                .name("amibake-builder")
                .build(),
        )
        .send()
        .await
        .expect("RunInstances")
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string()
}

/// An image of `builder` tagged as a bake's (complete unless `complete` is false).
async fn bake_like_image(
    region: &str,
    builder: &str,
    recipe: &str,
    name: &str,
    complete: bool,
) -> String {
    bake_like_pinned(region, builder, recipe, name, complete, None).await
}

/// An image of `builder` tagged as a bake's, with the CodeDeploy agent pin a bake of a
/// recipe with an agent step tags it with at creation (`amibake:agent`).
async fn bake_like_pinned(
    region: &str,
    builder: &str,
    recipe: &str,
    name: &str,
    complete: bool,
    agent: Option<&str>,
) -> String {
    let mut tags = vec![
        Tag::builder().key("amibake:recipe").value(recipe).build(),
        Tag::builder()
            .key("amibake:created-by")
            .value("amibake")
            .build(),
        Tag::builder()
            .key("amibake:run-id")
            .value(format!("20260101-000000-{name}"))
            .build(),
    ];
    if complete {
        tags.push(Tag::builder().key("amibake:complete").value("true").build());
    }
    if let Some(pin) = agent {
        tags.push(Tag::builder().key("amibake:agent").value(pin).build());
    }
    let spec = |t: ResourceType| {
        TagSpecification::builder()
            .resource_type(t)
            .set_tags(Some(tags.clone()))
            .build()
    };
    ec2(region)
        .await
        .create_image()
        .instance_id(builder)
        .name(name)
        .tag_specifications(spec(ResourceType::Image))
        .tag_specifications(spec(ResourceType::Snapshot))
        .send()
        .await
        .expect("CreateImage")
        .image_id()
        .unwrap()
        .to_string()
}

/// `count` complete images of `recipe`, oldest first. The emulator's creation dates have
/// whole seconds (`…:05.000Z`), so the images are made a little over a second apart: their
/// order is their creation date, as on AWS.
pub(super) async fn images_of(region: &str, recipe: &str, count: usize) -> Vec<String> {
    images_pinned(region, recipe, &vec![None; count]).await
}

/// [`images_of`], one image per pin, each tagged `amibake:agent` with its pin (none for
/// `None`).
pub(super) async fn images_pinned(
    region: &str,
    recipe: &str,
    pins: &[Option<&str>],
) -> Vec<String> {
    let builder = launch(region, &al2023_image(region).await).await;
    let mut ids = Vec::new();
    for (n, pin) in pins.iter().enumerate() {
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let name = format!("{recipe}-{n}");
        ids.push(bake_like_pinned(region, &builder, recipe, &name, true, *pin).await);
    }
    ids
}

/// Whether the image is still registered.
pub(super) async fn exists(region: &str, image: &str) -> bool {
    ec2(region)
        .await
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("image-id").values(image).build())
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .iter()
        .any(|i| i.image_id() == Some(image))
}

/// The image's snapshot ids.
async fn snapshots_of(region: &str, image: &str) -> Vec<String> {
    ec2(region)
        .await
        .describe_images()
        .image_ids(image)
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .iter()
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
        .collect()
}

/// What a test launch template version holds: `image` on a t3.small.
fn launch_data(image: &str) -> RequestLaunchTemplateData {
    RequestLaunchTemplateData::builder()
        .image_id(image)
        .instance_type("t3.small".into())
        .build()
}

/// A launch template named `name` whose version 1 launches `image`; its id.
pub(super) async fn launch_template(region: &str, name: &str, image: &str) -> String {
    ec2(region)
        .await
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(launch_data(image))
        .send()
        .await
        .expect("CreateLaunchTemplate")
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .expect("a launch template id")
        .to_string()
}

/// A new version (the new `$Latest`) of the launch template `id`, launching `image`.
pub(super) async fn template_version(region: &str, id: &str, image: &str) {
    ec2(region)
        .await
        .create_launch_template_version()
        .launch_template_id(id)
        .launch_template_data(launch_data(image))
        .send()
        .await
        .expect("CreateLaunchTemplateVersion");
}

/// An empty Auto Scaling group `name` that launches the `$Latest` version of the launch
/// template `template`.
pub(super) async fn group_on_latest(region: &str, name: &str, template: &str) {
    asg(region)
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(template)
                .version("$Latest")
                .build(),
        )
        .min_size(0)
        .max_size(1)
        .desired_capacity(0)
        .availability_zones(format!("{region}a"))
        .send()
        .await
        .expect("CreateAutoScalingGroup");
}

/// Whether the snapshot still exists.
async fn snapshot_exists(region: &str, snapshot: &str) -> bool {
    ec2(region)
        .await
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name("snapshot-id")
                .values(snapshot)
                .build(),
        )
        .send()
        .await
        .expect("DescribeSnapshots")
        .snapshots()
        .iter()
        .any(|s| s.snapshot_id() == Some(snapshot))
}

/// `amibake ARGS…` in `region` with a state directory of its own, asserted to exit `code`.
fn run(region: &str, args: &[&str], code: i32) -> std::process::Output {
    let state = tempfile::tempdir().unwrap();
    run_expect(region, state.path(), args, code)
}

/// The events of `amibake --json prune --recipe RECIPE --keep KEEP EXTRA…`, which must
/// exit 0.
pub(super) fn prune_json(
    region: &str,
    recipe: &str,
    keep: &str,
    extra: &[&str],
) -> Vec<serde_json::Value> {
    let mut args = vec!["--json", "prune", "--recipe", recipe, "--keep", keep];
    args.extend(extra);
    events(&run(region, &args, 0))
}

/// The `kept` event of an image, with the kinds of its reasons.
fn kept_kinds(events: &[serde_json::Value], ami: &str) -> Vec<String> {
    let e = events
        .iter()
        .find(|e| e["event"] == "kept" && e["ami"] == ami)
        .unwrap_or_else(|| panic!("no kept event for {ami}: {events:#?}"));
    e["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The images the `remove` events name, sorted.
pub(super) fn removed(events: &[serde_json::Value]) -> Vec<String> {
    sorted(
        events
            .iter()
            .filter(|e| e["event"] == "remove")
            .map(|e| e["ami"].as_str().unwrap().to_string())
            .collect(),
    )
}

pub(super) fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn prune_keeps_the_newest_and_every_image_in_use() {
    let region = "ap-south-1";
    let recipe = &unique("prune-web");
    let group = format!("{recipe}-asg");
    configure(region, serde_json::json!({}));
    let rt = rt();
    let (ids, other, incomplete, instance, lt) = rt.block_on(async {
        // Oldest first: a goes, b is the prod channel, c is an ASG's launch template,
        // d runs an instance, e goes, f and g are the newest two.
        let ids = images_of(region, recipe, 7).await;
        let builder = launch(region, &al2023_image(region).await).await;
        let other = bake_like_image(
            region,
            &builder,
            &unique("prune-other"),
            &unique("prune-other"),
            true,
        )
        .await;
        let incomplete = bake_like_image(
            region,
            &builder,
            recipe,
            &format!("{recipe}-incomplete"),
            false,
        )
        .await;

        ssm(region)
            .put_parameter()
            .name(format!("/amibake/{recipe}/prod"))
            .value(&ids[1])
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .data_type("aws:ec2:image")
            .send()
            .await
            .expect("PutParameter with DataType aws:ec2:image");

        // Version 1 launches the base image, version 2 (= $Latest) image c.
        let lt =
            launch_template(region, &format!("{recipe}-lt"), &al2023_image(region).await).await;
        template_version(region, &lt, &ids[2]).await;
        group_on_latest(region, &group, &lt).await;

        let instance = launch(region, &ids[3]).await;
        (ids, other, incomplete, instance, lt)
    });
    let snaps: Vec<Vec<String>> = rt.block_on(async {
        let mut all = Vec::new();
        for id in &ids {
            all.push(snapshots_of(region, id).await);
        }
        all
    });
    assert!(
        snaps.iter().all(|s| !s.is_empty()),
        "every image has a snapshot: {snaps:?}"
    );

    // A dry run says what would go and removes nothing.
    let dry_events = prune_json(region, recipe, "2", &["--dry-run"]);
    let would = removed(&dry_events);
    let expected = sorted(vec![ids[0].clone(), ids[4].clone()]);
    assert_eq!(would, expected, "{dry_events:#?}");
    assert!(
        dry_events
            .iter()
            .filter(|e| e["event"] == "remove")
            .all(|e| e["dry_run"] == true)
    );
    rt.block_on(async {
        for id in &ids {
            assert!(exists(region, id).await, "the dry run removed {id}");
        }
    });

    let ev = prune_json(region, recipe, "2", &[]);
    let gone = removed(&ev);
    assert_eq!(gone, expected, "{ev:#?}");
    assert_eq!(kept_kinds(&ev, &ids[1]), ["channel"]);
    assert_eq!(kept_kinds(&ev, &ids[2]), ["asg"]);
    assert_eq!(kept_kinds(&ev, &ids[3]), ["instance"]);
    assert_eq!(kept_kinds(&ev, &ids[5]), ["newest"]);
    assert_eq!(kept_kinds(&ev, &ids[6]), ["newest"]);
    let asg = ev
        .iter()
        .find(|e| e["event"] == "kept" && e["ami"] == ids[2].as_str())
        .unwrap();
    assert_eq!(asg["reasons"][0]["group"], group.as_str());
    assert_eq!(asg["reasons"][0]["launch_template"], lt.as_str());
    assert_eq!(asg["reasons"][0]["version"], 2, "$Latest resolved to v2");
    let by_instance = ev
        .iter()
        .find(|e| e["event"] == "kept" && e["ami"] == ids[3].as_str())
        .unwrap();
    assert_eq!(by_instance["reasons"][0]["id"], instance.as_str());
    let done = ev.iter().find(|e| e["event"] == "done").expect("done");
    assert_eq!(done["removed"], 2);
    assert_eq!(done["kept"], 5);
    assert!(
        ev.iter()
            .all(|e| e["ami"] != other.as_str() && e["ami"] != incomplete.as_str()),
        "another recipe's image or an incomplete one was considered: {ev:#?}"
    );

    rt.block_on(async {
        for (n, id) in ids.iter().enumerate() {
            let gone = n == 0 || n == 4;
            assert_eq!(!exists(region, id).await, gone, "image {n} ({id})");
            for snap in &snaps[n] {
                assert_eq!(
                    !snapshot_exists(region, snap).await,
                    gone,
                    "snapshot {snap} of image {n}"
                );
            }
        }
        assert!(exists(region, &other).await, "another recipe's image stays");
        assert!(
            exists(region, &incomplete).await,
            "incomplete images are sweep's"
        );
    });

    // Again, in plain text: nothing more goes, and each image says why it stays.
    let again = run(
        region,
        &["--no-progress", "prune", "--recipe", recipe, "--keep", "2"],
        0,
    );
    let text = String::from_utf8_lossy(&again.stderr);
    for expected in [
        format!("kept {} in {region} (channel prod)", ids[1]),
        format!("kept {} in {region} (ASG {group} via {lt} v2)", ids[2]),
        format!("kept {} in {region} (running instance {instance})", ids[3]),
        format!("kept {} in {region} (newest 2)", ids[6]),
        format!("nothing to prune for {recipe}"),
    ] {
        assert!(text.contains(&expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn prune_refuses_keep_zero_and_prunes_extra_regions() {
    // `--all-regions` reads every region: alone, so that it neither meets other tests'
    // resources nor adds its requests to the counts of their regions.
    crate::support::emulator::claim_alone();
    let home = "ap-northeast-3";
    let extra = "ap-southeast-3";
    let recipe = &unique("prune-api");
    configure(home, serde_json::json!({}));
    configure(extra, serde_json::json!({}));
    let rt = rt();
    let (home_ids, extra_ids) = rt.block_on(async {
        (
            images_of(home, recipe, 2).await,
            images_of(extra, recipe, 3).await,
        )
    });

    let zero = run(home, &["prune", "--recipe", recipe, "--keep", "0"], 2);
    assert!(
        String::from_utf8_lossy(&zero.stderr).contains("--keep must be at least 1"),
        "{}",
        String::from_utf8_lossy(&zero.stderr)
    );
    run(home, &["prune", "--recipe", "Web_API", "--keep", "1"], 2);
    rt.block_on(async {
        for id in home_ids.iter().chain(&extra_ids) {
            assert!(
                exists(home, id).await || exists(extra, id).await,
                "{id} was removed"
            );
        }
    });

    // Without --also-region only the home region is pruned.
    assert_eq!(
        removed(&prune_json(home, recipe, "1", &[])),
        [home_ids[0].clone()]
    );
    rt.block_on(async {
        assert!(!exists(home, &home_ids[0]).await);
        assert!(exists(home, &home_ids[1]).await);
        for id in &extra_ids {
            assert!(exists(extra, id).await, "{id} in {extra} was removed");
        }
    });

    // --also-region names the extra region (dry run: what would go)...
    let dry = prune_json(home, recipe, "1", &["--also-region", extra, "--dry-run"]);
    let would = sorted(
        dry.iter()
            .filter(|e| e["event"] == "remove" && e["region"] == extra)
            .filter_map(|e| e["ami"].as_str().map(str::to_string))
            .collect(),
    );
    let older = sorted(vec![extra_ids[0].clone(), extra_ids[1].clone()]);
    assert_eq!(would, older, "--also-region sees the extra region");

    // ... and --all-regions finds it by itself.
    let ev = prune_json(home, recipe, "1", &["--all-regions"]);
    assert_eq!(removed(&ev), older, "{ev:#?}");
    assert!(
        ev.iter()
            .filter(|e| e["event"] == "remove")
            .all(|e| e["region"] == extra)
    );
    rt.block_on(async {
        assert!(exists(home, &home_ids[1]).await);
        assert!(!exists(extra, &extra_ids[0]).await);
        assert!(!exists(extra, &extra_ids[1]).await);
        assert!(exists(extra, &extra_ids[2]).await);
    });
}
