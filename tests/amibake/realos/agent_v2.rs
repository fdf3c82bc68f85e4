//! The native 2.x agent for real (`codedeploy_agent: { version: "2.1.0" }`): the whole
//! bake on both unit layouts, with a reinstall and the agent's own `update` that must
//! leave the ordering drop-in in force; a 1.x image migrated to 2.x; a package that is
//! not the pinned version; and the shipped Ubuntu recipe, which pins 2.1.0. The stand-in 2.x package (scripts/standin-codedeploy-agent.sh)
//! has upstream's unit (Type=simple), writes .version itself at start and serves the
//! loopback command port the boot test asks for its status.

use super::*;

const V2: &str = "2.1.0";

/// A boot-test check's outcome by name, which must have passed.
fn passed_check<'m>(manifest: &'m Value, phase: &str, name: &str) -> &'m Value {
    let checks = match phase {
        "validation" => &manifest["validation"],
        _ => &manifest["boot_test"]["checks"],
    };
    let check = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {phase} check {name:?} in {manifest:#}"));
    assert_eq!(check["passed"], true, "{phase} check {name:?}: {check:#}");
    check
}

/// The three built-in 2.x checks passed, each saying what it saw: the agent started after
/// cloud-final with the drop-in loaded, it runs the pin (its --version and the .version it
/// wrote at this boot), and it answers a status request on its command port.
fn builtin_v2_checks_passed(manifest: &Value) {
    assert_eq!(manifest["boot_test"]["passed"], true, "{manifest:#}");
    let ordering = check_stdout(
        manifest,
        "boot",
        "built-in: codedeploy-agent started after cloud-final",
    );
    assert!(
        ordering.contains("ordering: codedeploy-agent started after cloud-final")
            && ordering.contains("drop-in loaded"),
        "{ordering}"
    );
    let pin_name = format!("built-in: codedeploy-agent runs the pinned {V2}");
    passed_check(manifest, "boot", &pin_name);
    let pin = check_stdout(manifest, "boot", &pin_name);
    assert!(pin.contains(&format!("pin: {V2}")), "{pin}");
    let port_name = "built-in: codedeploy-agent answers on its command port";
    passed_check(manifest, "boot", port_name);
    let port = check_stdout(manifest, "boot", port_name);
    assert!(port.contains("command port: running"), "{port}");
}

/// The whole 2.x bake on one unit layout: the pinned agent from a local package, the
/// ordering drop-in, app-warmup ordered with systemd_override, a reinstall and the agent's
/// own update (both enable it again), a reboot, validation, hygiene, the image and the boot
/// test with the three built-in 2.x checks, all for real.
fn agent_v2_bake_on(flavour: &str, region: &str) {
    real_os(region, flavour);
    let state = tempfile::tempdir().unwrap();
    let url = serve_standin_agent(state.path(), V2);
    let (out, evs) = bake(
        region,
        state.path(),
        "agent-bake-v2.yaml",
        &[format!("agent_url={url}")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let manifest = manifest(state.path());
    builtin_v2_checks_passed(&manifest);
    assert_rebooted(&manifest);

    // The reinstall and the agent's own update left the native unit and its ordering.
    let unit = check_stdout(
        &manifest,
        "validation",
        "native unit, ordering drop-in in place",
    );
    assert_eq!(field(&unit, "type"), "simple", "{unit}");
    assert_eq!(
        field(&unit, "unit"),
        "/lib/systemd/system/codedeploy-agent.service"
    );
    assert!(
        field(&unit, "drop-ins").contains("10-after-cloud-init.conf")
            && unit.lines().any(|l| l == "after cloud-final"),
        "{unit}"
    );
    for name in [
        "agent pinned",
        "package",
        "no ruby",
        "command port on in the config",
    ] {
        passed_check(&manifest, "validation", name);
    }

    // Hygiene, proven on the booted image: a new identity; the agent started once, at this
    // boot, from clean state (the builder's deployment, log, PID file and .version gone).
    let builder = check_stdout(&manifest, "validation", "identity");
    let booted = check_stdout(&manifest, "boot", "identity");
    for key in ["machine-id", "host-key", "instance-id"] {
        let (before, after) = (field(&builder, key), field(&booted, key));
        assert!(!after.is_empty(), "{key}: {booted}");
        assert_ne!(before, after, "{key} is the builder's on the booted image");
    }
    passed_check(&manifest, "boot", "app-warmup started after cloud-final");
    passed_check(&manifest, "boot", "no shell history");
    let agent = check_stdout(&manifest, "boot", "agent state");
    assert_eq!(field(&agent, "started"), "1", "one start, at boot: {agent}");
    assert_eq!(
        field(&agent, "version-file"),
        format!("agent_version: {V2} 444")
    );
    assert_eq!(field(&agent, "version-written"), "this-boot", "{agent}");
    assert_eq!(field(&agent, "pid-file"), "main-pid", "{agent}");
    assert_eq!(field(&agent, "port-file"), "600", "{agent}");
    assert_eq!(field(&agent, "deployment-root"), "0", "{agent}");

    let ids = launched(&evs);
    assert_eq!(ids.len(), 2, "a builder and a boot-test instance: {ids:?}");
    let boot_instance = &ids
        .iter()
        .find(|(role, _)| role.contains("boot"))
        .unwrap()
        .1;
    assert_eq!(&field(&booted, "instance-id"), boot_instance);
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), true));
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn the_v2_agent_bake_passes_for_real_on_the_debian_and_ubuntu_unit_layout() {
    agent_v2_bake_on("debian", "me-central-1");
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn the_v2_agent_bake_passes_for_real_on_the_amazon_linux_unit_layout() {
    agent_v2_bake_on("amazon", "eu-central-2");
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn a_v1_image_baked_again_with_a_v2_pin_carries_only_the_v2_agent() {
    let region = "ap-southeast-7";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let v1_url = serve_standin_agent(state.path(), "1.7.1-110");
    let v2_url = serve_standin_agent(state.path(), V2);

    let (out, v1_evs) = bake(
        region,
        state.path(),
        "agent-v1-image.yaml",
        &[format!("agent_url={v1_url}")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v1_manifest = manifest(state.path());
    assert!(v1_manifest["boot_test"].is_null(), "{v1_manifest:#}");
    let v1_ami = v1_manifest["amis"][0]["ami_id"]
        .as_str()
        .unwrap()
        .to_string();

    let (out, evs) = bake(
        region,
        state.path(),
        "agent-migrate.yaml",
        &[
            format!("source_ami={v1_ami}"),
            format!("agent_url={v2_url}"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let manifest = manifest(state.path());
    assert_eq!(
        manifest["source_ami"]["id"],
        v1_ami.as_str(),
        "{manifest:#}"
    );
    builtin_v2_checks_passed(&manifest);

    // The 1.x package is purged, not upgraded: one package, 2.x.
    let packages = check_stdout(&manifest, "validation", "only 2.x installed");
    assert_eq!(
        packages.trim(),
        format!("codedeploy-agent {V2} install ok installed")
    );
    let unit = check_stdout(
        &manifest,
        "validation",
        "native unit, ordering drop-in in place",
    );
    assert_eq!(field(&unit, "type"), "simple", "{unit}");
    assert!(
        field(&unit, "drop-ins").contains("10-after-cloud-init.conf"),
        "{unit}"
    );

    // On the booted image: nothing the Ruby agent left, and the agent that runs is 2.x.
    let booted = check_stdout(&manifest, "boot", "no Ruby-era leftovers");
    assert!(!booted.contains("leftover"), "{booted}");
    assert_eq!(
        field(&booted, "version-file"),
        format!("agent_version: {V2}")
    );
    assert_eq!(field(&booted, "pid-file"), "main-pid", "{booted}");
    assert!(
        field(&booted, "main-command")
            .ends_with("/opt/codedeploy-agent/bin/codedeploy-agent start"),
        "{booted}"
    );
    assert_eq!(field(&booted, "type"), "simple", "{booted}");
    let started_lines: Vec<&str> = booted.lines().filter(|l| l.starts_with("log ")).collect();
    assert_eq!(started_lines.len(), 1, "{booted}");
    assert!(
        started_lines[0].contains(&format!("started codedeploy-agent {V2}")),
        "{booted}"
    );

    // Both bakes: every container off, no ordering cycle, nothing left but their images.
    for evs in [&v1_evs, &evs] {
        powered_off_without_cycles(evs);
        rt().block_on(assert_nothing_left(&[region], &run_id(evs), true));
    }
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn a_v2_package_that_is_not_the_pin_fails_the_bake_naming_both_versions() {
    let region = "eu-south-1";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let url = serve_standin_agent(state.path(), "2.0.1");
    let (out, evs) = bake(
        region,
        state.path(),
        "agent-bake-v2.yaml",
        &[format!("agent_url={url}")],
    );
    let message = expect_error(&out, 1).to_string();
    // What the agent reports, then the pin it was expected to be.
    let installed = message.find("2.0.1").map(|at| &message[at..]);
    assert!(
        installed.is_some_and(|rest| rest.contains("expected") && rest.contains(V2)),
        "the error must name what is installed and the pin: {message}"
    );
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), false));
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
    let url = serve_standin_agent(state.path(), V2);
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
    let manifest = manifest(state.path());
    builtin_v2_checks_passed(&manifest);
    assert_eq!(
        boot_check_names(&manifest),
        [
            "built-in: codedeploy-agent started after cloud-final",
            "built-in: codedeploy-agent runs the pinned 2.1.0",
            "built-in: codedeploy-agent answers on its command port",
            "agent active",
        ]
    );
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), true));
}
