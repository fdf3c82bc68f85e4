//! Steps and the boot test for real, beside the agent: a boot whose cloud-final never
//! runs, a failing step, a step over its timeout, and the file step's modes and values.

use super::*;

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
    // `exit code 7` then the stderr tail's `;`: exit code 127 or 70 does not match.
    assert!(
        message.contains("exit code 7;"),
        "exit code 7 expected: {message}"
    );
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
