//! The update probe's rebuild decision for real (issue 22, point 5): amibake-demo 1 from
//! a local apt repository (apt_repo.rs) baked into an image, then `bake --if-changed`
//! (`rebuild: {updates: security}`) three times: nothing newer published (current: only
//! the probe launched, nothing left); version 2 in the ordinary suite (pending but not a
//! security update: still current, the probe names it); version 2 in the security suite
//! (the probe names it, the bake rebuilds, the new image's boot test reads version 2).
//! The emulator's canned probe answer holds a decoy the decisions must never show: the
//! probe's script runs on the real OS.

use super::apt_repo::{AptRepo, DEMO, SECURITY_SUITE, SUITE};
use super::*;

/// The boot-test check of tests/realos/apt-demo.yaml: the version the image carries, from
/// the package's file and from dpkg's database.
fn baked_version(manifest: &Value) -> (String, String) {
    let stdout = check_stdout(manifest, "boot", "amibake-demo version");
    (field(&stdout, "file"), field(&stdout, "package"))
}

/// `bake --if-changed` of tests/realos/apt-demo.yaml against the repository `apt`.
fn bake_if_changed(
    region: &str,
    state: &Path,
    apt: &AptRepo,
) -> (std::process::Output, Vec<Value>) {
    let out = amibake(region, state)
        .args(["--json", "bake", "--if-changed"])
        .arg(repo("tests/realos/apt-demo.yaml"))
        .arg("--manifest")
        .arg(state.join("manifest.json"))
        .arg("--var")
        .arg(format!("repo_url={}", apt.url))
        .output()
        .expect("run amibake");
    let evs = events(&out);
    (out, evs)
}

/// The run's `rebuild_decision` event (exactly one).
fn decision(evs: &[Value]) -> &Value {
    let decisions: Vec<&Value> = evs
        .iter()
        .filter(|e| e["event"] == "rebuild_decision")
        .collect();
    assert_eq!(
        decisions.len(),
        1,
        "one rebuild_decision event: {decisions:#?}"
    );
    decisions[0]
}

/// The roles of the instances a run launched, in order.
fn roles(evs: &[Value]) -> Vec<String> {
    launched(evs).into_iter().map(|(role, _)| role).collect()
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn the_probe_finds_the_image_current_then_rebuilds_it_for_a_security_update_for_real() {
    let region = "ap-east-1";
    real_os(region, "debian");
    // The emulator's table would answer a probe it ran itself with this decoy: the probe
    // here runs on the real OS, so the decoy must never show.
    let decoy = json!([{ "package": "decoy-from-the-table", "installed": "1", "candidate": "9", "security": true }]);
    configure(
        region,
        json!({ "real_os": "debian", "pending_updates": decoy }),
    );
    let state = tempfile::tempdir().unwrap();
    let repo = AptRepo::serve(state.path());
    repo.publish(SUITE, &["1"]);

    // Version 1, baked in.
    let (out, evs) = bake(
        region,
        state.path(),
        "apt-demo.yaml",
        &[format!("repo_url={}", repo.url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let first = manifest(state.path());
    assert_eq!(baked_version(&first), ("1".into(), "1".into()));
    let first_run = run_id(&evs);
    powered_off_without_cycles(&evs);

    // Nothing newer: the probe runs for real on the v1 image and finds it current;
    // nothing but the probe is launched, and nothing is left.
    let started = Instant::now();
    let (out, evs) = bake_if_changed(region, state.path(), &repo);
    let current_seconds = started.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let d = decision(&evs);
    assert_eq!(d["reason"], "current", "{d:#}");
    assert_eq!(d["updates"], json!([]), "{d:#}");
    assert_eq!(d["image"], first["amis"][0]["ami_id"], "{d:#}");
    assert_eq!(roles(&evs), ["probe"], "only the probe is launched");
    let probe = launched(&evs)[0].1.clone();
    let report = &powered_off(std::slice::from_ref(&probe))[0];
    assert!(
        report["boots"].as_u64().unwrap() >= 1,
        "the probe booted for real: {report:#}"
    );
    let run = run_id(&evs);
    rt().block_on(assert_nothing_left(&[region], &run, false));
    let reused = manifest(state.path());
    assert_eq!(
        reused["amis"], first["amis"],
        "the v1 image is the one in use"
    );

    // Version 2 in the ordinary suite only: pending, but not a security update, which is
    // all `rebuild: {updates: security}` rebuilds for. The probe says so; still current.
    repo.publish(SUITE, &["1", "2"]);
    let (out, evs) = bake_if_changed(region, state.path(), &repo);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let d = decision(&evs);
    assert_eq!(d["reason"], "current", "{d:#}");
    assert_eq!(
        d["updates"],
        json!([{ "package": DEMO, "installed": "1", "candidate": "2", "security": false }]),
        "{d:#}"
    );
    assert_eq!(roles(&evs), ["probe"], "only the probe is launched");
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), false));

    // Version 2 in the security suite too: the probe names it as a security update, the
    // bake picks it up, and the new image's boot test proves it.
    repo.publish(SECURITY_SUITE, &["2"]);
    let started = Instant::now();
    let (out, evs) = bake_if_changed(region, state.path(), &repo);
    let rebuild_seconds = started.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let d = decision(&evs);
    assert_eq!(d["reason"], "updates-pending", "{d:#}");
    assert_eq!(
        d["updates"],
        json!([{ "package": DEMO, "installed": "1", "candidate": "2", "security": true }]),
        "{d:#}"
    );
    assert_eq!(
        roles(&evs)[0],
        "probe",
        "the probe first: {:?}",
        roles(&evs)
    );
    assert!(roles(&evs).len() >= 2, "then the bake: {:?}", roles(&evs));
    let second = manifest(state.path());
    assert_eq!(second["rebuild"]["reason"], "updates-pending", "{second:#}");
    assert_eq!(baked_version(&second), ("2".into(), "2".into()));
    assert_ne!(second["amis"], first["amis"], "a new image");
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), true));
    rt().block_on(assert_nothing_left(&[region], &first_run, true));
    eprintln!("wall: current {current_seconds:.1} s, rebuild {rebuild_seconds:.1} s");
}
