//! Shared by the emulator integration tests: the endpoint, running amibake against it,
//! the emulator's control knobs, and AWS queries that check what a run left behind.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aws_sdk_ec2::types::Filter;

/// The emulator's endpoint: scripts/test.sh starts it and sets AMIBAKE_TEST_ENDPOINT.
pub fn endpoint() -> String {
    std::env::var("AMIBAKE_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "AMIBAKE_TEST_ENDPOINT is not set: run the tests with scripts/test.sh, or start the \
             emulator (scripts/emulator.sh start) and export AMIBAKE_TEST_ENDPOINT=$(scripts/emulator.sh endpoint)"
        )
    })
}

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `amibake` with the environment of a test run in `region`, which the calling test
/// claims (see [`claim`]): another test's knobs there would change what this run sees.
pub fn amibake(region: &str, state_dir: &Path) -> Command {
    claim(region);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amibake"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", region)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AMIBAKE_STATE_DIR", state_dir)
        .env("AMIBAKE_POLL_SCALE", "0.1")
        .arg("--endpoint-url")
        .arg(endpoint())
        .stdin(Stdio::null());
    cmd
}

/// `amibake --json bake EXTRA… RECIPE --manifest STATE/m.json` in `region`, its state
/// directory `state`.
pub fn bake_command(region: &str, state: &Path, recipe: &Path, extra: &[&str]) -> Command {
    let mut cmd = amibake(region, state);
    cmd.args(["--json", "bake"])
        .args(extra)
        .arg(recipe)
        .arg("--manifest")
        .arg(state.join("m.json"));
    cmd
}

/// What [`bake_command`] printed, once it ended.
pub fn bake_json(region: &str, state: &Path, recipe: &Path, extra: &[&str]) -> Output {
    bake_command(region, state, recipe, extra)
        .output()
        .expect("run amibake")
}

/// JSON events from `--json` stdout: every line is one (a line that is not JSON panics,
/// so stray text on stdout never hides among the events).
pub fn events(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("--json stdout has a line that is not JSON ({e}): {l}"))
        })
        .collect()
}

/// The run id announced by the `start` event.
pub fn run_id(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .find(|e| e["event"] == "start")
        .and_then(|e| e["run_id"].as_str())
        .expect("a start event with the run id")
        .to_string()
}

/// Sets emulator knobs for one region (`POST /_amibake/config`); `reset` first.
///
/// The tests of every module share one emulator and run concurrently, and knobs are per
/// region: the calling test first claims `region` for the rest of its run (see
/// [`claim`]), so a test of another module that uses the same region waits for it
/// instead of seeing its knobs (or having them reset under it).
pub fn configure(region: &str, knobs: serde_json::Value) {
    claim(region);
    let mut body = serde_json::json!({ "region": region, "reset": true });
    if let (Some(b), Some(k)) = (body.as_object_mut(), knobs.as_object()) {
        b.extend(k.clone());
    }
    let (status, text) = http("POST", "/_amibake/config", &body.to_string());
    assert_eq!(status, 200, "emulator config rejected: {text}");
}

/// Sets `region`'s knobs (see [`configure`]) and makes the calling test's state directory.
pub fn fresh_state(region: &str, knobs: serde_json::Value) -> tempfile::TempDir {
    configure(region, knobs);
    tempfile::tempdir().expect("a state directory")
}

/// Requests the emulator has answered with RequestLimitExceeded in `region`, by action
/// (`GET /_amibake/stats`).
pub fn throttled(region: &str) -> serde_json::Map<String, serde_json::Value> {
    let stats = stats();
    let all = stats["throttled"].as_object().unwrap_or_else(|| {
        let keys: Vec<_> = stats
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .collect();
        panic!("stats have no `throttled` map, only {keys:?}")
    });
    match all.get(region) {
        // Nothing throttled in the region yet.
        None => serde_json::Map::new(),
        Some(by_action) => by_action
            .as_object()
            .cloned()
            .unwrap_or_else(|| panic!("throttled[{region}] is action -> count: {by_action}")),
    }
}

/// Requests the emulator counted in `region` since the calling test claimed it: by the
/// plan action they named (amibake's `x-amibake-action` header; `-` when none), then by
/// `service:Action`.
pub fn calls_by_plan_action(region: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    claim(region);
    let by_action = &stats()["by_plan_action"][region];
    serde_json::from_value(by_action.clone())
        .unwrap_or_else(|e| panic!("by_plan_action[{region}] is action -> call -> count: {e}"))
}

/// Requests the emulator has counted in `region` (since it was last reset), by
/// `service:Action`.
pub fn call_counts(region: &str) -> BTreeMap<String, u64> {
    let counts = &stats()["calls"][region];
    if counts.is_null() {
        return BTreeMap::new();
    }
    serde_json::from_value(counts.clone())
        .unwrap_or_else(|e| panic!("calls[{region}] is call -> count: {e}"))
}

/// `GET /_amibake/stats`.
pub fn stats() -> serde_json::Value {
    let (status, text) = http("GET", "/_amibake/stats", "");
    assert_eq!(status, 200, "emulator stats: {text}");
    serde_json::from_str(&text).expect("stats are JSON")
}

/// A bare HTTP/1.1 request to the emulator (no HTTP client crate needed for two calls).
pub fn http(method: &str, path: &str, body: &str) -> (u16, String) {
    let ep = endpoint();
    let host = ep.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).expect("emulator reachable");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    stream.read_to_string(&mut resp).expect("read");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

/// The AL2023 parameter the emulator resolves to an available Amazon image.
pub const AL2023: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

/// A runtime for the AWS queries of a synchronous test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// A name no earlier run on the same emulator used (stacks, recipes and AMI names must
/// be unique; the emulator may outlive a test run).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}-{:x}-{}", nanos, std::process::id())
}

/// The emulator accepts any credentials.
pub fn creds() -> aws_sdk_ec2::config::Credentials {
    aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests")
}

/// Builds a client of an SDK crate for `region` on the emulator.
macro_rules! emulator_client {
    ($krate:ident, $region:expr) => {
        $krate::Client::from_conf(
            $krate::Config::builder()
                .behavior_version($krate::config::BehaviorVersion::latest())
                .region($krate::config::Region::new($region.to_string()))
                .endpoint_url(endpoint())
                .credentials_provider(creds())
                .http_client(amibake::aws::https_client())
                .build(),
        )
    };
}

/// An EC2 client for `region` on the emulator.
pub async fn ec2(region: &str) -> aws_sdk_ec2::Client {
    emulator_client!(aws_sdk_ec2, region)
}

pub fn ssm(region: &str) -> aws_sdk_ssm::Client {
    emulator_client!(aws_sdk_ssm, region)
}

/// A parameter as GetParameter answers it, or None when SSM says ParameterNotFound. Any
/// other error panics: "nothing was written" must never pass on a read that failed.
pub async fn parameter(region: &str, name: &str) -> Option<aws_sdk_ssm::types::Parameter> {
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    match ssm(region).get_parameter().name(name).send().await {
        Ok(out) => Some(out.parameter.expect("GetParameter answers a parameter")),
        Err(e) if e.code() == Some("ParameterNotFound") => None,
        Err(e) => panic!(
            "GetParameter {name} in {region}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        ),
    }
}

pub fn cfn(region: &str) -> aws_sdk_cloudformation::Client {
    emulator_client!(aws_sdk_cloudformation, region)
}

pub fn asg(region: &str) -> aws_sdk_autoscaling::Client {
    emulator_client!(aws_sdk_autoscaling, region)
}

pub fn kms(region: &str) -> aws_sdk_kms::Client {
    emulator_client!(aws_sdk_kms, region)
}

/// A customer managed key in `region` with the default policy (only this account) and
/// `alias`; its id.
pub async fn key_with_alias(region: &str, alias: &str) -> String {
    let kms = kms(region);
    let key = kms.create_key().send().await.expect("CreateKey");
    let id = key
        .key_metadata()
        .expect("key metadata")
        .key_id()
        .to_string();
    let create = kms.create_alias().alias_name(alias).target_key_id(&id);
    create.send().await.expect("CreateAlias");
    id
}

/// Adds to the policy of the key `key_id` in `region` the statement that lets `account`
/// use it, as a shared image's key must (the one a failed preflight prints).
pub async fn allow_account(region: &str, key_id: &str, account: &str) {
    let kms = kms(region);
    let policy = kms.get_key_policy().key_id(key_id).policy_name("default");
    let policy = policy.send().await.expect("GetKeyPolicy");
    let mut doc: serde_json::Value =
        serde_json::from_str(policy.policy().expect("a policy")).expect("a JSON policy");
    let statements = doc["Statement"].as_array_mut().expect("statements");
    statements.push(serde_json::json!({
        "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        "Resource": "*",
    }));
    let put = kms.put_key_policy().key_id(key_id).policy_name("default");
    put.policy(doc.to_string())
        .send()
        .await
        .expect("PutKeyPolicy");
}

/// The image the AL2023 parameter names in `region`.
pub async fn al2023_image(region: &str) -> String {
    ssm(region)
        .get_parameter()
        .name(AL2023)
        .send()
        .await
        .expect("GetParameter")
        .parameter()
        .and_then(|p| p.value())
        .expect("a value")
        .to_string()
}

/// Two distinct available Amazon images: A is what the AL2023 parameter names, B another.
pub async fn two_amis(region: &str) -> (String, String) {
    let a = al2023_image(region).await;
    let b = ec2(region)
        .await
        .describe_images()
        .owners("amazon")
        .filters(Filter::builder().name("state").values("available").build())
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .iter()
        .filter_map(|i| i.image_id())
        .find(|id| *id != a)
        .expect("another Amazon image")
        .to_string();
    (a, b)
}

pub use super::claims::{claim, claim_alone, reset_stats};
pub use super::cli::{expect_exit, show};

/// A copy in `region` of its image `source`, named `name`, with these tags given at
/// creation (the IAM policy the emulator enforces allows `amibake:created-by` no other
/// way).
pub async fn tagged_copy(region: &str, source: &str, name: &str, tags: &[(&str, &str)]) -> String {
    let mut copy = ec2(region)
        .await
        .copy_image()
        .source_region(region)
        .source_image_id(source)
        .name(name);
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

/// The tags a bake gives a complete image of `recipe`.
pub fn complete_tags(recipe: &str) -> [(&str, &str); 3] {
    [
        ("amibake:created-by", "amibake"),
        ("amibake:recipe", recipe),
        ("amibake:complete", "true"),
    ]
}

/// `amibake ARGS…` in `region` (state directory `state`), asserted to end with exit
/// `code`; what it printed, for the test's own checks.
pub fn run_expect(region: &str, state: &Path, args: &[&str], code: i32) -> Output {
    let out = amibake(region, state)
        .args(args)
        .output()
        .expect("run amibake");
    expect_exit(&out, code);
    out
}

/// What `amibake --json promote --manifest MANIFEST --to ENV EXTRA…` in `region` printed,
/// once it ended.
pub fn promote_json(
    region: &str,
    state: &Path,
    manifest: &Path,
    env: &str,
    extra: &[&str],
) -> Output {
    amibake(region, state)
        .args(["--json", "promote", "--manifest"])
        .arg(manifest)
        .args(["--to", env])
        .args(extra)
        .output()
        .expect("run amibake")
}

/// Asserts that the run ended with exit `code`, and returns its (last) `error` event.
pub fn expect_error(out: &Output, code: i32) -> serde_json::Value {
    expect_exit(out, code);
    last(&events(out), "error")
}

/// The last event of a kind.
pub fn last(evs: &[serde_json::Value], kind: &str) -> serde_json::Value {
    evs.iter()
        .rev()
        .find(|e| e["event"] == kind)
        .unwrap_or_else(|| panic!("a {kind} event in {evs:?}"))
        .clone()
}

fn run_filter(run_id: &str) -> Filter {
    Filter::builder()
        .name("tag:amibake:run-id")
        .values(run_id)
        .build()
}

/// A usage report of `image`'s use by instances in other accounts (the emulator answers
/// it from its `image_usage` knob); its id.
pub async fn usage_report(region: &str, image: &str) -> String {
    ec2(region)
        .await
        .create_image_usage_report()
        .image_id(image)
        .resource_types(
            aws_sdk_ec2::types::ImageUsageResourceTypeRequest::builder()
                .resource_type("ec2:Instance")
                .build(),
        )
        .send()
        .await
        .expect("CreateImageUsageReport")
        .report_id()
        .expect("a report id")
        .to_string()
}

/// Instances of the run that are not terminated.
pub async fn live_instances(region: &str, run_id: &str) -> Vec<String> {
    live_instances_where(region, run_filter(run_id)).await
}

/// Instances launched from `image` that are not terminated (what amibake's fleet survey
/// counts as using it).
pub async fn live_instances_of(region: &str, image: &str) -> Vec<String> {
    let filter = Filter::builder().name("image-id").values(image).build();
    live_instances_where(region, filter).await
}

/// Instances `filter` selects that are not terminated.
async fn live_instances_where(region: &str, filter: Filter) -> Vec<String> {
    let out = ec2(region)
        .await
        .describe_instances()
        .filters(filter)
        .send()
        .await
        .expect("DescribeInstances");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect()
}

/// Images of the run (owned by this account).
pub async fn images(region: &str, run_id: &str) -> Vec<aws_sdk_ec2::types::Image> {
    ec2(region)
        .await
        .describe_images()
        .owners("self")
        .filters(run_filter(run_id))
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .to_vec()
}

/// This account's copies of `ami` in `region` (tagged `amibake:copy-of`), by image id.
pub async fn copies_of(region: &str, ami: &str) -> Vec<String> {
    ec2(region)
        .await
        .describe_images()
        .owners("self")
        .filters(
            Filter::builder()
                .name("tag:amibake:copy-of")
                .values(ami)
                .build(),
        )
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .iter()
        .filter_map(|i| i.image_id().map(str::to_string))
        .collect()
}

/// Security groups of the run.
pub async fn security_groups(region: &str, run_id: &str) -> Vec<String> {
    ec2(region)
        .await
        .describe_security_groups()
        .filters(run_filter(run_id))
        .send()
        .await
        .expect("DescribeSecurityGroups")
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect()
}

/// Snapshots of the run (tagged with its run id).
pub async fn snapshots(region: &str, run_id: &str) -> Vec<String> {
    ec2(region)
        .await
        .describe_snapshots()
        .owner_ids("self")
        .filters(run_filter(run_id))
        .send()
        .await
        .expect("DescribeSnapshots")
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect()
}

/// Asserts the run left nothing behind in these regions but (optionally) its images and
/// their snapshots.
pub async fn assert_nothing_left(regions: &[&str], run_id: &str, images_allowed: bool) {
    for region in regions {
        let live = live_instances(region, run_id).await;
        assert!(
            live.is_empty(),
            "run {run_id} left instances running in {region}: {live:?}"
        );
        let groups = security_groups(region, run_id).await;
        assert!(
            groups.is_empty(),
            "run {run_id} left security groups in {region}: {groups:?}"
        );
        if !images_allowed {
            let imgs: Vec<_> = images(region, run_id)
                .await
                .iter()
                .filter_map(|i| i.image_id().map(str::to_string))
                .collect();
            assert!(
                imgs.is_empty(),
                "run {run_id} left images in {region}: {imgs:?}"
            );
            let snaps = snapshots(region, run_id).await;
            assert!(
                snaps.is_empty(),
                "run {run_id} left snapshots in {region}: {snaps:?}"
            );
        }
    }
}

/// The recipe whose bake runs a boot test (and copies its image to us-west-2).
pub const BOOT_TEST_RECIPE: &str = "tests/fixtures/boot-test.yaml";

/// tests/fixtures/boot-test.yaml under a recipe name of its own, its images named by run
/// id: bakes in parallel tests (and their copies, all to us-west-2) never collide on an
/// AMI name, and an image another run baked never counts as "unchanged".
pub fn unique_boot_test_recipe(dir: &Path, label: &str) -> PathBuf {
    let fixture = std::fs::read_to_string(repo(BOOT_TEST_RECIPE)).expect("fixture");
    let text = fixture
        .replace(
            "name: boot-test-fixture",
            &format!("name: {}", unique(label)),
        )
        .replace("{{ recipe }}-{{ timestamp }}", "{{ recipe }}-{{ run_id }}");
    let path = dir.join(format!("{label}.yaml"));
    std::fs::write(&path, text).expect("write the recipe");
    path
}

/// The names of a manifest's boot-test checks, in the order they ran.
pub fn boot_check_names(manifest: &serde_json::Value) -> Vec<&str> {
    manifest["boot_test"]["checks"]
        .as_array()
        .expect("boot_test.checks is an array")
        .iter()
        .map(|c| c["name"].as_str().expect("a check name"))
        .collect()
}
