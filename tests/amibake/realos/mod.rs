//! Bakes on a real OS: the emulator's `real_os` knob boots every instance as a systemd +
//! cloud-init container (systemd-nspawn, root from scripts/realos-rootfs.sh), so every
//! script amibake sends — steps, validation, hygiene, the boot test's built-in checks —
//! runs for real, and what a check reads is what systemd really did at boot.
//!
//! scripts/test.sh builds the root (cached under target/realos) before the tests; on a
//! machine that cannot run containers it stops there with one line saying what is missing.
//! Each test bakes in a region of its own.
//!
//! - `agent_v1`: the Ruby-era 1.x agent (the Debian/Ubuntu unit layout), the old ordering;
//! - `agent_v2`: the native 2.x agent on both unit layouts, a 1.x image migrated to 2.x,
//!   a wrong pin;
//! - `steps`: what steps and the boot test do for real beside the agent;
//! - `probe_script`: the update probe's script in the Debian root (apt against a local
//!   repository, dnf and yum against stand-ins of the tools);
//! - `rebuild`: `bake --if-changed` with the update probe, against a local apt
//!   repository (`apt_repo`).
//!
//! This file holds what they share: the stand-in agent served over HTTP, the boot slots,
//! the emulator's account of its containers, and readers of the manifest.

mod agent_v1;
mod agent_v2;
mod apt_repo;
mod probe_script;
mod rebuild;
mod steps;

use crate::support::emulator;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use emulator::*;
use serde_json::{Value, json};

/// The stand-in agent package of `version` (scripts/standin-codedeploy-agent.sh: the 1.x
/// shape below 2, the 2.x shape from 2 on), served over HTTP on 127.0.0.1 for as long as
/// the test runs: the containers share the host's network. Returns its URL.
fn serve_standin_agent(dir: &Path, version: &str) -> String {
    let out = std::process::Command::new("bash")
        .arg(repo("scripts/standin-codedeploy-agent.sh"))
        .arg(version)
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

/// Every container the run booted is off again, booted exactly as often as the run says
/// (the builder once plus once per reboot step the bake started, every other instance
/// once), and none of their journals (at any boot) reported an ordering cycle.
fn powered_off_without_cycles(evs: &[Value]) {
    let reboots = evs
        .iter()
        .filter(|e| e["event"] == "step" && e["kind"] == "reboot" && e["state"] == "start")
        .count() as u64;
    let instances = launched(evs);
    let ids: Vec<String> = instances.iter().map(|(_, id)| id.clone()).collect();
    for ((role, id), row) in instances.iter().zip(powered_off(&ids)) {
        let boots = if role == "builder" { 1 + reboots } else { 1 };
        assert_eq!(
            row["boots"].as_u64(),
            Some(boots),
            "{role} {id} boots (the bake started {reboots} reboot steps): {row:#}"
        );
        assert_eq!(row["ordering_cycles"], json!([]), "{row:#}");
    }
}

/// The builder really rebooted between the step that saved its boot id and validation:
/// the recipe's `rebooted` check prints the id saved before the reboot step and the
/// current one (systemd-nspawn gives each boot of a container a boot id of its own).
fn assert_rebooted(manifest: &Value) {
    let seen = check_stdout(manifest, "validation", "rebooted");
    let (before, now) = (field(&seen, "boot-id-before"), field(&seen, "boot-id-now"));
    for id in [&before, &now] {
        assert_eq!(id.len(), 36, "a boot id (a UUID): {seen}");
    }
    assert_ne!(before, now, "the boot id changed across the reboot: {seen}");
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

/// The manifest a bake wrote to `state`/manifest.json.
fn manifest(state: &Path) -> Value {
    let text = std::fs::read_to_string(state.join("manifest.json")).expect("the manifest");
    serde_json::from_str(&text).expect("the manifest is JSON")
}
