//! The update probe's rebuild decision for real (issue 22, point 5): a package from a
//! local apt repository (apt_repo.rs) baked into an image, then `bake --if-changed` with
//! nothing newer published and with a newer version in the security suite.

use super::apt_repo::{AptRepo, SUITE};
use super::*;

/// The boot-test check of tests/realos/apt-demo.yaml: the version the image carries, from
/// the package's file and from dpkg's database.
fn baked_version(manifest: &Value) -> (String, String) {
    let stdout = check_stdout(manifest, "boot", "amibake-demo version");
    (field(&stdout, "file"), field(&stdout, "package"))
}

#[test]
#[ignore = "needs the emulator and the real-OS root: scripts/test.sh runs them (--include-ignored)"]
fn a_package_from_the_local_apt_repository_is_baked_in_for_real() {
    let region = "sa-east-1";
    real_os(region, "debian");
    let state = tempfile::tempdir().unwrap();
    let repo = AptRepo::serve(state.path());
    repo.publish(SUITE, &["1"]);
    let (out, evs) = bake(
        region,
        state.path(),
        "apt-demo.yaml",
        &[format!("repo_url={}", repo.url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let manifest = manifest(state.path());
    assert_eq!(manifest["boot_test"]["passed"], true, "{manifest:#}");
    assert_eq!(baked_version(&manifest), ("1".into(), "1".into()));
    powered_off_without_cycles(&evs);
    rt().block_on(assert_nothing_left(&[region], &run_id(&evs), true));
}
