//! How `promote` fails on a manifest it cannot read, offline: the manifest's error comes
//! first — before the region, which `promote` takes from the manifest when nothing else
//! names one — as exactly one `error` event, exit 2.

use super::errors::{expect_one_error, offline, run};
use crate::support::cli::write_file;

#[test]
fn an_unreadable_manifest_without_a_region_is_the_manifest_error_exit_2() {
    let state = tempfile::tempdir().expect("tempdir");
    let missing = state.path().join("no-such-manifest.json");
    let not_json = write_file(state.path(), "not-json.json", "not a manifest");
    for manifest in [&missing, &not_json] {
        let manifest = manifest.to_str().expect("a UTF-8 path");
        for plan in [true, false] {
            let mut args = vec!["promote", "--manifest", manifest, "--to", "dev"];
            args.extend(plan.then_some("--plan"));
            let mut cmd = offline(state.path(), &args);
            // A profile the (absent) config file does not have: no region anywhere.
            cmd.env_remove("AWS_REGION")
                .env("AWS_PROFILE", "amibake-no-such-profile");
            let out = run(cmd);
            let error = expect_one_error(&out, 2, "cannot read the manifest");
            let text = error["error"].as_str().unwrap_or_default();
            assert!(text.contains(manifest), "{args:?}: {error}");
            assert!(!text.contains("no AWS region"), "{args:?}: {error}");
        }
    }
}
