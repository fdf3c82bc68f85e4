//! The Ruby-era 1.x agent for real (the Debian/Ubuntu unit layout): the whole bake, and
//! the agent ordered the way amibake once did (an ordering cycle the boot test names).

use super::*;

const AGENT_VERSION: &str = "1.7.1-110";

/// The whole agent bake on one unit layout: packages, the pinned agent from a local
/// package, the ordering drop-in, a reinstall that enables the agent again, a file, a
/// reboot, validation, hygiene, the image and the boot test, all for real. The 1.x bake
/// runs on the Debian/Ubuntu layout only; agent_v2.rs bakes the 2.x agent on both.
fn agent_bake_on(flavour: &str, region: &str) {
    real_os(region, flavour);
    let state = tempfile::tempdir().unwrap();
    let url = serve_standin_agent(state.path(), AGENT_VERSION);
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

    assert_rebooted(&manifest);
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
fn the_agent_ordered_the_old_way_is_an_ordering_cycle_the_boot_test_reports() {
    let region = "ap-south-2";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let url = serve_standin_agent(state.path(), AGENT_VERSION);
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
