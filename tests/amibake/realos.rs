//! Bakes on a real OS: the emulator's `real_os` knob boots every instance as a systemd +
//! cloud-init container (systemd-nspawn, root from scripts/realos-rootfs.sh), so every
//! script amibake sends — steps, validation, hygiene, the boot test's built-in checks —
//! runs for real, and what a check reads is what systemd really did at boot.
//!
//! scripts/test.sh builds the root (cached under target/realos) before the tests; on a
//! machine that cannot run containers it stops there with one line saying what is missing.
//! Each test bakes in a region of its own.

use crate::support::emulator;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use emulator::*;
use serde_json::{Value, json};

const AGENT_VERSION: &str = "1.7.1-110";

/// The stand-in agent package (scripts/standin-codedeploy-agent.sh), served over HTTP on
/// 127.0.0.1 for as long as the test runs: the containers share the host's network.
fn serve_standin_agent(dir: &Path) -> String {
    let out = std::process::Command::new("bash")
        .arg(repo("scripts/standin-codedeploy-agent.sh"))
        .arg(AGENT_VERSION)
        .arg(dir)
        .output()
        .expect("run scripts/standin-codedeploy-agent.sh");
    assert!(
        out.status.success(),
        "building the stand-in agent: {}",
        show(&out)
    );
    let deb = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let body = std::fs::read(&deb).expect("the stand-in .deb");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            // Read the request head, then answer every GET with the package.
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.debian.binary-package\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream
                .write_all(head.as_bytes())
                .and_then(|_| stream.write_all(&body));
        }
    });
    format!(
        "http://127.0.0.1:{port}/{}",
        deb.file_name().unwrap().to_string_lossy()
    )
}

/// Turns the real-OS backend on for `region` with a unit layout ("debian" or "amazon"),
/// once the test holds one of the [`BOOTING_AT_ONCE`] boot slots. Called first, before
/// any claim: a test waiting for a slot holds nothing another test waits for.
fn real_os(region: &str, flavour: &str) {
    take_boot_slot();
    configure(region, json!({ "real_os": flavour }));
}

/// Real-OS tests boot containers (systemd, cloud-init): this many at once whatever
/// `--test-threads` says, so that on a two-core machine each boot stays well inside its
/// timeouts while the other tests (which mostly wait on the emulator) run beside them.
const BOOTING_AT_ONCE: usize = 2;
static BOOTING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static SLOT_FREED: std::sync::Condvar = std::sync::Condvar::new();

/// Whether this test's thread holds a boot slot; given back when the thread ends (libtest
/// runs each test on a thread of its own).
struct BootSlot(std::cell::Cell<bool>);

impl Drop for BootSlot {
    fn drop(&mut self) {
        if self.0.get() {
            *BOOTING.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
            SLOT_FREED.notify_one();
        }
    }
}

thread_local! {
    static SLOT: BootSlot = const { BootSlot(std::cell::Cell::new(false)) };
}

fn take_boot_slot() {
    if SLOT.with(|s| s.0.get()) {
        return;
    }
    let mut booting = BOOTING.lock().unwrap_or_else(|e| e.into_inner());
    while *booting >= BOOTING_AT_ONCE {
        booting = SLOT_FREED.wait(booting).unwrap_or_else(|e| e.into_inner());
    }
    *booting += 1;
    SLOT.with(|s| s.0.set(true));
}

/// The emulator's account of the containers it booted (`GET /_amibake/realos`).
fn containers() -> Value {
    let (status, text) = http("GET", "/_amibake/realos", "");
    assert_eq!(status, 200, "GET /_amibake/realos: {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// The instance ids a run launched (its `resource` events).
fn launched(evs: &[Value]) -> Vec<(String, String)> {
    evs.iter()
        .filter(|e| e["event"] == "resource" && e["kind"] == "instance" && e["role"].is_string())
        .map(|e| {
            (
                e["role"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits until none of these containers runs any more (termination powers them off in
/// the background), and returns their reports.
fn powered_off(ids: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let report = containers();
        let rows: Vec<Value> = ids
            .iter()
            .map(|id| report["instances"][id].clone())
            .collect();
        for (id, row) in ids.iter().zip(&rows) {
            assert!(
                row.is_object(),
                "the emulator never booted {id}: {report:#}"
            );
        }
        if rows.iter().all(|r| r["container_running"] == false) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "containers still running 90 s after the bake: {report:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every container the run booted is off again, and none of their journals (at any
/// boot) reported an ordering cycle.
fn powered_off_without_cycles(evs: &[Value]) {
    let ids: Vec<String> = launched(evs).into_iter().map(|(_, id)| id).collect();
    for row in powered_off(&ids) {
        assert!(row["boots"].as_u64().unwrap() >= 1, "{row:#}");
        assert_eq!(row["ordering_cycles"], json!([]), "{row:#}");
    }
}

/// Bakes tests/realos/`recipe` in `region` with `vars`; returns (output, events).
fn bake(
    region: &str,
    state: &Path,
    recipe: &str,
    vars: &[String],
) -> (std::process::Output, Vec<Value>) {
    let mut cmd = amibake(region, state);
    cmd.args(["--json", "bake"])
        .arg(repo(&format!("tests/realos/{recipe}")))
        .arg("--manifest")
        .arg(state.join("manifest.json"));
    for v in vars {
        cmd.arg("--var").arg(v);
    }
    let out = cmd.output().expect("run amibake");
    let evs = events(&out);
    (out, evs)
}

/// A check's stdout in the manifest, by phase and name.
fn check_stdout(manifest: &Value, phase: &str, name: &str) -> String {
    let checks = match phase {
        "validation" => &manifest["validation"],
        _ => &manifest["boot_test"]["checks"],
    };
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {phase} check {name:?} in {manifest:#}"))["stdout"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `key value` lines of a check's stdout.
fn field(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no `{key}` line in {stdout:?}"))
        .trim()
        .to_string()
}

/// The whole agent bake on one unit layout: packages, the pinned agent from a local
/// package, the ordering drop-in, a reinstall that enables the agent again, a file, a
/// reboot, validation, hygiene, the image and the boot test, all for real.
fn agent_bake_on(flavour: &str, region: &str) {
    real_os(region, flavour);
    let state = tempfile::tempdir().unwrap();
    let url = serve_standin_agent(state.path());
    let (out, evs) = bake(
        region,
        state.path(),
        "agent-bake.yaml",
        &[format!("agent_url={url}")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let run_id = run_id(&evs);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("manifest.json")).unwrap())
            .unwrap();

    // The built-in checks read real `systemctl show` output and passed.
    assert_eq!(manifest["boot_test"]["passed"], true, "{manifest:#}");
    let ordering = check_stdout(
        &manifest,
        "boot",
        "built-in: codedeploy-agent started after cloud-final",
    );
    assert!(
        ordering.contains("ordering: codedeploy-agent started after cloud-final")
            && ordering.contains("drop-in loaded"),
        "{ordering}"
    );
    let pin = check_stdout(
        &manifest,
        "boot",
        &format!("built-in: codedeploy-agent runs the pinned {AGENT_VERSION}"),
    );
    assert!(pin.contains(&format!("pin: {AGENT_VERSION}")), "{pin}");
    // The recipe orders app-warmup after cloud-final with systemd_override.
    let no_cycle = check_stdout(&manifest, "boot", "built-in: no ordering cycle at boot");
    assert!(
        no_cycle.contains("ordering: no ordering cycle at boot"),
        "{no_cycle}"
    );

    // Hygiene, proven on the booted image: a new identity, cloud-init ran again.
    let builder = check_stdout(&manifest, "validation", "identity");
    let booted = check_stdout(&manifest, "boot", "identity");
    for key in ["machine-id", "host-key", "instance-id"] {
        let (before, after) = (field(&builder, key), field(&booted, key));
        assert!(
            !before.is_empty() && !after.is_empty(),
            "{key}: {builder} / {booted}"
        );
        assert_ne!(before, after, "{key} is the builder's on the booted image");
    }
    let ids = launched(&evs);
    let boot_instance = ids
        .iter()
        .find(|(role, _)| role.contains("boot"))
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| panic!("no boot-test instance in {ids:?}"));
    assert_eq!(field(&booted, "instance-id"), boot_instance);

    // Nothing left running, and no container's journal saw an ordering cycle.
    assert_eq!(ids.len(), 2, "a builder and a boot-test instance: {ids:?}");
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id, true));
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn the_agent_bake_passes_for_real_on_the_debian_and_ubuntu_unit_layout() {
    agent_bake_on("debian", "ap-northeast-2");
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn the_agent_bake_passes_for_real_on_the_amazon_linux_unit_layout() {
    agent_bake_on("amazon", "eu-central-2");
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn the_agent_ordered_the_old_way_is_an_ordering_cycle_the_boot_test_reports() {
    let region = "ap-south-2";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let url = serve_standin_agent(state.path());
    let (out, evs) = bake(
        region,
        state.path(),
        "broken-ordering.yaml",
        &[format!("agent_url={url}")],
    );
    let text = show(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // systemd breaks the cycle by dropping one start job, the agent's or cloud-final's
    // (which one varies from boot to boot); the boot test names it either way.
    let agent_dropped = text.contains("never started codedeploy-agent at boot")
        && text.contains("WantedBy=")
        && text.contains("cloud-final.service: After=");
    let final_dropped = text.contains("cloud-final.service has not run and is not queued")
        && text.contains("codedeploy-agent.service");
    assert!(
        text.contains("ordering cycle") && (agent_dropped || final_dropped),
        "the boot test must name the cycle:\n{text}"
    );
    let run_id = run_id(&evs);
    let ids: Vec<String> = launched(&evs).into_iter().map(|(_, id)| id).collect();
    let rows = powered_off(&ids);
    assert!(
        rows.iter()
            .any(|r| !r["ordering_cycles"].as_array().unwrap().is_empty()),
        "the journal should show the cycle: {rows:#?}"
    );
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn a_boot_whose_cloud_final_will_never_run_fails_the_boot_test_at_once() {
    let region = "ap-southeast-5";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let (out, evs) = bake(region, state.path(), "cloud-final-dropped.yaml", &[]);
    let message = expect_error(&out, 1).to_string();
    assert!(
        message.contains("boot test: wait for the boot to finish")
            && message.contains("cloud-final.service has not run and is not queued"),
        "{message}"
    );
    assert!(
        !message.contains("timed out"),
        "said at once, not after the wait's timeout: {message}"
    );
    let run_id = run_id(&evs);
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn a_failing_step_reports_its_real_exit_code_and_stderr() {
    let region = "ap-southeast-4";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let (out, evs) = bake(region, state.path(), "failing-step.yaml", &[]);
    let error = expect_error(&out, 1);
    let message = error.to_string();
    assert!(message.contains("migrate"), "{message}");
    assert!(message.contains('7'), "exit code 7 expected: {message}");
    assert!(
        message.contains("disk full: /var/lib/app"),
        "the stderr tail expected: {message}"
    );
    let run_id = run_id(&evs);
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn a_step_over_its_timeout_is_stopped() {
    let region = "ca-west-1";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let (out, evs) = bake(
        region,
        state.path(),
        "failing-step.yaml",
        &["slow=yes".into()],
    );
    let message = expect_error(&out, 1).to_string();
    assert!(
        message.contains("TimedOut") && message.contains("migrate"),
        "{message}"
    );
    assert!(
        !message.contains("disk full"),
        "the step was stopped in its sleep: {message}"
    );
    let run_id = run_id(&evs);
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id, false));
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn the_shipped_ubuntu_recipe_bakes_for_real_on_the_debian_layout() {
    // Every script of recipes/ubuntu-2404-codedeploy.yaml runs (apt upgrade and installs,
    // the agent from a local package instead of the regional bucket, the ordering drop-in,
    // the file, hygiene, the built-in and the recipe's boot checks) on Debian 12.
    let region = "us-west-1";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let url = serve_standin_agent(state.path());
    let mut cmd = amibake(region, state.path());
    let out = cmd
        .args([
            "--json",
            "bake",
            "recipes/ubuntu-2404-codedeploy.yaml",
            "--manifest",
        ])
        .arg(state.path().join("manifest.json"))
        .arg("--var")
        .arg(format!("agent_package_url={url}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let evs = events(&out);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["boot_test"]["passed"], true, "{manifest:#}");
    let names = boot_check_names(&manifest);
    assert_eq!(
        names,
        [
            "built-in: codedeploy-agent started after cloud-final",
            "built-in: codedeploy-agent runs the pinned 1.7.1-110",
            "agent active",
        ]
    );
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), true));
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn the_file_step_leaves_existing_directories_alone_and_values_stay_values_for_real() {
    // Files under /tmp (1777) and /root (0700) leave both as they were; a new nested
    // directory is made 0755 root:root; the file holding a secret and the drop-in holding
    // Environment= are 0600; a value with \r and \n stays one value in the unit. Checked on
    // the builder (validation) and on the booted image (boot test).
    let region = "ap-east-2";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let (out, evs) = bake(region, state.path(), "file-modes.yaml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let manifest_text = std::fs::read_to_string(state.path().join("manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&manifest_text).unwrap();
    for name in [
        "tmp untouched",
        "root untouched",
        "new parents",
        "secret file",
        "drop-in",
        "one value, no directive",
    ] {
        let check = manifest["validation"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no validation check {name:?}: {manifest:#}"));
        assert_eq!(check["passed"], true, "{name}: {check:#}");
    }
    assert_eq!(manifest["boot_test"]["passed"], true, "{manifest:#}");
    assert_eq!(
        check_stdout(&manifest, "validation", "tmp untouched").trim(),
        "1777 root:root"
    );
    assert_eq!(
        check_stdout(&manifest, "boot", "root untouched").trim(),
        "700 root:root"
    );
    // The secret's default value, in no form, in the manifest or the output.
    let everything = format!("{manifest_text}{}", show(&out));
    for form in ["s3cr3t", "s3cr3t-%%-", "\\'quoted\\'"] {
        assert!(!everything.contains(form), "{form} leaked:\n{everything}");
    }
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), true));
}
