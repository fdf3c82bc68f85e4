//! `amibake revoke` and `amibake restore` end to end against the local emulator (moto +
//! emulator/; see emulator/README.md). Two builds of a recipe (images of this account
//! tagged as complete bakes, as in promote.rs), each promoted to `dev` with a copy in a
//! second region, and a stack rolled from build 1 onto build 2: revoking build 2 moves
//! both regions' channels back to build 1 and disables build 2 and its copy, rolls the
//! stack back on request, and restore puts every channel and image back as it was.
//! Every bad input is refused with exit 2 and no write call at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::emulator;
use crate::support::promotion::{self, Manifest};
use crate::support::stacks;

use emulator::events as events_of;
use emulator::*;

const TEMPLATE: &str = "cfn-templates/asg-rolling.yaml";
/// The bake's region, and the region promote copies to.
const HOME: &str = "sa-east-1";
const FAR: &str = "ca-central-1";

/// The calls that change something: a refused revoke or restore makes none.
const WRITES: &[&str] = &[
    "ssm:PutParameter",
    "ssm:AddTagsToResource",
    "ssm:RemoveTagsFromResource",
    "ec2:DisableImage",
    "ec2:EnableImage",
    "ec2:DeregisterImage",
    "cloudformation:CreateChangeSet",
    "cloudformation:ExecuteChangeSet",
];

/// The write calls the emulator counted in `region` since the test claimed it.
fn writes(region: &str) -> BTreeMap<String, u64> {
    call_counts(region)
        .into_iter()
        .filter(|(call, _)| WRITES.contains(&call.as_str()))
        .collect()
}

/// An image of this account in `HOME` that looks like a complete bake of `recipe` from
/// run `run` (a copy of an Amazon image, tagged at creation).
async fn baked(recipe: &str, source: &str, run: &str) -> String {
    let mut tags = complete_tags(recipe).to_vec();
    tags.push(("amibake:run-id", run));
    tagged_copy(HOME, source, &unique(recipe), &tags).await
}

/// The manifest of `ami` (in `HOME`), a bake of `name` from `recipe`.
fn manifest(dir: &Path, file: &str, name: &str, recipe: &Path, ami: &str) -> PathBuf {
    let m = Manifest {
        recipe: name,
        recipe_file: recipe,
        run_id: "20260101-000000-abc123",
        region: HOME,
        ami,
        name: "x",
    };
    m.write(dir.join(file))
}

/// A recipe promoted only to dev.
fn recipe(dir: &Path, name: &str) -> PathBuf {
    let source = format!("{{ ssm_parameter: {AL2023} }}");
    promotion::write_recipe(dir, name, &source, "{{ recipe }}-{{ run_id }}", "[dev]")
}

/// What revoke and restore must leave as they found it: every channel of the recipe in
/// both regions (name → value), and each image's state.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    channels: BTreeMap<String, String>,
    images: BTreeMap<String, String>,
}

async fn snapshot(recipe: &str, images: &[(&str, &str)]) -> Snapshot {
    let mut channels = BTreeMap::new();
    for region in [HOME, FAR] {
        let out = ssm(region)
            .get_parameters_by_path()
            .path(format!("/amibake/{recipe}"))
            .recursive(true)
            .send()
            .await
            .expect("GetParametersByPath");
        for p in out.parameters() {
            channels.insert(
                format!("{region}:{}", p.name().unwrap_or_default()),
                p.value().unwrap_or_default().to_string(),
            );
        }
    }
    let mut states = BTreeMap::new();
    for (region, id) in images {
        states.insert(id.to_string(), image_state(region, id).await);
    }
    Snapshot {
        channels,
        images: states,
    }
}

/// An image's state as DescribeImages with IncludeDisabled says it.
async fn image_state(region: &str, id: &str) -> String {
    let out = ec2(region)
        .await
        .describe_images()
        .image_ids(id)
        .include_disabled(true)
        .send()
        .await
        .expect("DescribeImages");
    out.images()
        .first()
        .and_then(|i| i.state())
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| "gone".into())
}

/// `amibake --json ARGS…` in `HOME`.
fn run(dir: &Path, args: &[&str]) -> Output {
    amibake(HOME, dir)
        .arg("--json")
        .args(args)
        .env("USER", "alice")
        .env_remove("GITHUB_ACTOR")
        .output()
        .expect("run amibake")
}

/// Build 1 (`a`) and build 2 (`b`) of a recipe in `HOME`, each promoted to dev with a
/// copy in `FAR` (`ca`, `cb`), and a stack rolled from a onto b.
struct Fleet {
    state: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    name: String,
    a: String,
    b: String,
    ca: String,
    cb: String,
    stack: String,
}

impl Fleet {
    fn images(&self) -> [(&str, &str); 4] {
        [
            (HOME, &self.a),
            (HOME, &self.b),
            (FAR, &self.ca),
            (FAR, &self.cb),
        ]
    }

    fn snapshot(&self) -> Snapshot {
        self.rt.block_on(snapshot(&self.name, &self.images()))
    }

    fn dir(&self) -> &Path {
        self.state.path()
    }
}

fn fleet() -> Fleet {
    configure(HOME, serde_json::json!({}));
    configure(FAR, serde_json::json!({}));
    let state = tempfile::tempdir().expect("a state directory");
    let dir = state.path();
    let rt = rt();
    let name = unique("revoke");
    let recipe = recipe(dir, &name);
    let (s1, s2) = rt.block_on(two_amis(HOME));
    let a = rt.block_on(baked(&name, &s1, "run-1"));
    let b = rt.block_on(baked(&name, &s2, "run-2"));
    let manifest_a = manifest(dir, "a.json", &name, &recipe, &a);
    let manifest_b = manifest(dir, "b.json", &name, &recipe, &b);
    for m in [&manifest_a, &manifest_b] {
        let out = promote_json(HOME, dir, m, "dev", &["--copy-to", FAR]);
        expect_exit(&out, 0);
    }
    let ca = rt.block_on(copies_of(FAR, &a)).pop().expect("a copy of a");
    let cb = rt.block_on(copies_of(FAR, &b)).pop().expect("a copy of b");

    let stack = unique("revoke-web");
    let (vpc, subnets) = rt.block_on(stacks::default_network(HOME));
    stacks::create_stack(
        HOME,
        dir,
        &stacks::create_args(TEMPLATE, &stack, &a, &vpc, &subnets),
    );
    let out = amibake(HOME, dir)
        .args(["--json", "roll", "--stack", &stack, "--ami", &b, "--yes"])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    Fleet {
        state,
        rt,
        name,
        a,
        b,
        ca,
        cb,
        stack,
    }
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn revoke_disables_every_copy_moves_channels_back_rolls_the_stack_and_restore_undoes_it() {
    let f = fleet();
    let (dir, rt) = (f.dir(), &f.rt);
    let (a, b, ca, cb) = (&f.a, &f.b, &f.ca, &f.cb);
    let dev = format!("/amibake/{}/dev", f.name);
    let before = f.snapshot();
    assert_eq!(before.channels[&format!("{HOME}:{dev}")], *b);
    assert_eq!(before.channels[&format!("{FAR}:{dev}")], *cb);
    let revoke = [
        "revoke",
        "--ami",
        b.as_str(),
        "--also-region",
        FAR,
        "--reason",
        "CVE-2026-1234 in openssl",
        "--roll-back-stacks",
    ];

    // The dry run prints the plan and the blast radius, and changes nothing.
    reset_stats(HOME);
    reset_stats(FAR);
    let out = run(dir, &revoke);
    expect_exit(&out, 0);
    let evs = events_of(&out);
    let plan = last(&evs, "plan");
    assert_eq!(plan["dry_run"], true, "{plan}");
    let channels = plan["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 2, "{plan}");
    for (region, from, to) in [(HOME, b, a), (FAR, cb, ca)] {
        let c = channels.iter().find(|c| c["region"] == region).unwrap();
        assert_eq!(c["parameter"], dev.as_str());
        assert_eq!(c["from"], from.as_str(), "{c}");
        assert_eq!(c["to"], to.as_str(), "{c}");
        assert_eq!(c["done"], false);
    }
    let images: Vec<&str> = plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ami"].as_str().unwrap())
        .collect();
    assert_eq!(images, [b.as_str(), cb.as_str()]);
    assert_eq!(plan["stacks"][0]["stack"], f.stack.as_str());
    assert_eq!(plan["stacks"][0]["to"], a.as_str());
    let radius = &plan["blast_radius"];
    let home_uses = radius[0]["uses"].as_array().unwrap();
    assert!(
        home_uses
            .iter()
            .any(|u| u["kind"] == "stack_image" && u["stack"] == f.stack.as_str()),
        "{radius}"
    );
    assert!(
        home_uses
            .iter()
            .any(|u| u["kind"] == "channel" && u["env"] == "dev"),
        "{radius}"
    );
    assert!(
        home_uses.iter().any(|u| u["kind"] == "asg"),
        "the stack's group: {radius}"
    );
    assert_eq!(last(&evs, "done")["dry_run"], true);
    assert_eq!(f.snapshot(), before, "the dry run changed something");
    assert!(writes(HOME).is_empty() && writes(FAR).is_empty());

    // The text plan says the same to a person.
    let text = amibake(HOME, dir).args(revoke).output().unwrap();
    expect_exit(&text, 0);
    let said = String::from_utf8_lossy(&text.stderr);
    assert!(
        said.contains(&format!("channel {dev} in {HOME}: {b} → {a}"))
            && said.contains(&format!("disable {cb} in {FAR}"))
            && said.contains("blast radius in")
            && said.contains("pass --yes"),
        "{}",
        show(&text)
    );

    // A manifest naming both regions plans the same channels and images.
    let two_regions = dir.join("two-regions.json");
    let amis = serde_json::json!([
        { "region": HOME, "ami_id": b, "name": "x", "snapshot_ids": [] },
        { "region": FAR, "ami_id": cb, "name": "x", "snapshot_ids": [] },
    ]);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("b.json")).unwrap()).unwrap();
    doc["amis"] = amis;
    std::fs::write(&two_regions, doc.to_string()).unwrap();
    let manifest_arg = two_regions.to_str().unwrap();
    let out = run(
        dir,
        &["revoke", "--manifest", manifest_arg, "--reason", "CVE"],
    );
    expect_exit(&out, 0);
    let evs = events_of(&out);
    let by_manifest = last(&evs, "plan");
    // Without --roll-back-stacks the stack left on the image is warned about.
    assert!(
        evs.iter().any(|e| e["event"] == "message"
            && e["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("WARNING: stacks on")
                    && t.contains(&f.stack)
                    && t.contains("--roll-back-stacks"))),
        "{evs:?}"
    );
    assert_eq!(by_manifest["channels"], plan["channels"], "{by_manifest}");
    assert_eq!(by_manifest["images"], plan["images"], "{by_manifest}");
    assert!(writes(HOME).is_empty() && writes(FAR).is_empty());

    // --yes: channels back, image and copy disabled, the stack rolled back.
    let mut yes = revoke.to_vec();
    yes.push("--yes");
    let out = run(dir, &yes);
    expect_exit(&out, 0);
    // In order: the channels, then the images, then the stack.
    let steps: Vec<String> = events_of(&out)
        .iter()
        .filter_map(|e| e["event"].as_str().map(str::to_string))
        .filter(|k| ["moved", "disabled", "rolled_back"].contains(&k.as_str()))
        .collect();
    assert_eq!(
        steps,
        ["moved", "moved", "disabled", "disabled", "rolled_back"],
        "{}",
        show(&out)
    );
    let revoked = f.snapshot();
    assert_eq!(revoked.channels[&format!("{HOME}:{dev}")], *a);
    assert_eq!(revoked.channels[&format!("{FAR}:{dev}")], *ca);
    assert_eq!(revoked.images[b], "disabled");
    assert_eq!(revoked.images[cb], "disabled");
    assert_eq!(revoked.images[a], "available");
    assert_eq!(revoked.images[ca], "available");
    for region in [HOME, FAR] {
        let channel = rt
            .block_on(super::promote::channel(region, &f.name, "dev"))
            .unwrap();
        assert!(
            channel.description.starts_with("revoked ")
                && channel.description.contains(" by alice at ")
                && channel.description.ends_with(": CVE-2026-1234 in openssl"),
            "{channel:?}"
        );
        let from = if region == HOME { b } else { cb };
        assert_eq!(channel.tags["amibake:revoked-from"], *from, "{channel:?}");
    }
    let s = rt.block_on(stacks::stack(HOME, &f.stack)).unwrap();
    assert_eq!(s.params["ImageId"], *a, "the stack rolled back to build 1");
    assert!(!writes(HOME).contains_key("ec2:DeregisterImage"));

    // A rerun: everything is revoked already, nothing is written.
    reset_stats(HOME);
    reset_stats(FAR);
    let out = run(dir, &yes);
    expect_exit(&out, 0);
    let done = last(&events_of(&out), "done");
    assert_eq!(done["already"], true, "{done}");
    assert!(
        writes(HOME).is_empty() && writes(FAR).is_empty(),
        "{:?}",
        writes(HOME)
    );

    // restore: every channel and image as before the revoke; a rerun is a no-op.
    let restore = ["restore", "--ami", b.as_str(), "--also-region", FAR];
    let out = run(dir, &restore);
    expect_exit(&out, 0);
    assert_eq!(last(&events_of(&out), "plan")["dry_run"], true);
    assert_eq!(f.snapshot(), revoked, "restore's dry run changed something");
    let mut restore_yes = restore.to_vec();
    restore_yes.push("--yes");
    let out = run(dir, &restore_yes);
    expect_exit(&out, 0);
    assert_eq!(f.snapshot(), before, "restore did not undo the revoke");
    let channel = rt
        .block_on(super::promote::channel(HOME, &f.name, "dev"))
        .unwrap();
    assert!(
        !channel.tags.contains_key("amibake:revoked-from"),
        "{channel:?}"
    );
    reset_stats(HOME);
    reset_stats(FAR);
    let out = run(dir, &restore_yes);
    expect_exit(&out, 0);
    assert_eq!(last(&events_of(&out), "done")["already"], true);
    assert!(writes(HOME).is_empty() && writes(FAR).is_empty());

    // Half way: FAR's DisableImage fails. The report names what was done and what not,
    // and a rerun finishes it.
    configure(
        FAR,
        serde_json::json!({ "reset_actions": ["DisableImage"] }),
    );
    let out = run(dir, &yes);
    let err = expect_error(&out, 1);
    let done: Vec<&str> = err["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        done.contains(&format!("disable {b} in {HOME}").as_str()) && done.len() == 3,
        "{err}"
    );
    assert_eq!(
        err["not_done"][0],
        format!("disable {cb} in {FAR}"),
        "{err}"
    );
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("rerun the same command"),
        "{err}"
    );
    assert_eq!(rt.block_on(image_state(FAR, cb)), "available");
    configure(FAR, serde_json::json!({}));
    let out = run(dir, &yes);
    expect_exit(&out, 0);
    let plan = last(&events_of(&out), "plan");
    assert!(
        plan["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["done"] == true),
        "the rerun saw the moved channels: {plan}"
    );
    assert_eq!(rt.block_on(image_state(FAR, cb)), "disabled");
    let out = run(dir, &restore_yes);
    expect_exit(&out, 0);
    assert_eq!(f.snapshot(), before);

    // A channel written since the revoke is left alone by restore, and named.
    expect_exit(&run(dir, &yes), 0);
    rt.block_on(
        ssm(HOME)
            .put_parameter()
            .name(&dev)
            .value(a)
            .description("promoted by bob by hand")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .data_type("aws:ec2:image")
            .overwrite(true)
            .send(),
    )
    .expect("PutParameter");
    let out = run(dir, &restore_yes);
    expect_exit(&out, 0);
    let left = last(&events_of(&out), "left_alone");
    assert_eq!(left["region"], HOME, "{left}");
    assert_eq!(left["holds"], a.as_str(), "{left}");
    let now = f.snapshot();
    assert_eq!(now.channels[&format!("{HOME}:{dev}")], *a, "left alone");
    assert_eq!(now.channels[&format!("{FAR}:{dev}")], *cb, "restored");
    assert_eq!(now.images[b], "available");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn revoke_refuses_bad_input_with_exit_2_and_changes_nothing() {
    configure(HOME, serde_json::json!({}));
    configure(FAR, serde_json::json!({}));
    let state = tempfile::tempdir().expect("a state directory");
    let dir = state.path();
    let rt = rt();
    let name = unique("revoke-bad");
    let recipe_file = recipe(dir, &name);
    let (s1, s2) = rt.block_on(two_amis(HOME));
    // `held`: promoted to dev, alone in the channel's history. `loose`: in no channel.
    let held = rt.block_on(baked(&name, &s1, "run-1"));
    let loose = rt.block_on(baked(&name, &s2, "run-2"));
    let manifest_held = manifest(dir, "held.json", &name, &recipe_file, &held);
    expect_exit(&promote_json(HOME, dir, &manifest_held, "dev", &[]), 0);
    let images = [(HOME, held.as_str()), (HOME, loose.as_str())];
    let before = rt.block_on(snapshot(&name, &images));
    reset_stats(HOME);
    reset_stats(FAR);

    let reason = ["--reason", "bad build"];
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "an unknown image",
            vec!["revoke", "--ami", "ami-0123456789abcdef9"],
            "does not exist",
        ),
        (
            "an image no channel holds",
            vec!["revoke", "--ami", &loose],
            "no channel of recipe",
        ),
        (
            "a channel whose history holds no earlier value",
            vec!["revoke", "--ami", &held],
            "no earlier value",
        ),
        (
            "an image amibake did not bake",
            vec!["revoke", "--ami", &s1],
            "amibake:created-by",
        ),
        (
            "a copy region without a copy",
            vec!["revoke", "--ami", &held, "--also-region", FAR],
            "no copy of",
        ),
    ];
    for (what, args, says) in &cases {
        let mut args = args.clone();
        args.extend(reason);
        args.push("--yes");
        let err = expect_error(&run(dir, &args), 2);
        let text = err["error"].as_str().unwrap();
        assert!(text.contains(says), "{what}: {err}");
        assert!(text.contains("nothing changed"), "{what}: {err}");
    }
    // restore of an unknown image, too.
    let err = expect_error(
        &run(dir, &["restore", "--ami", "ami-0123456789abcdef9", "--yes"]),
        2,
    );
    assert!(
        err["error"].as_str().unwrap().contains("does not exist"),
        "{err}"
    );

    // The manifest names HOME only: revoking it with FAR as the region is refused.
    let out = amibake(FAR, dir)
        .args(["--json", "revoke", "--manifest"])
        .arg(&manifest_held)
        .args(["--reason", "bad build", "--yes"])
        .output()
        .unwrap();
    let err = expect_error(&out, 2);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains(&format!("has no image in {FAR}")),
        "{err}"
    );

    // --reason: empty, or with control characters (a forged second line).
    for bad in ["", "  ", "bad\nreason", "esc\u{1b}[31m"] {
        let err = expect_error(
            &run(dir, &["revoke", "--ami", &held, "--reason", bad, "--yes"]),
            2,
        );
        assert!(err["error"].as_str().unwrap().contains("--reason"), "{err}");
    }

    assert_eq!(rt.block_on(snapshot(&name, &images)), before);
    assert!(writes(HOME).is_empty(), "{:?}", writes(HOME));
    assert!(writes(FAR).is_empty(), "{:?}", writes(FAR));
}
