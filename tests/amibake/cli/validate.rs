//! `amibake validate` as a user runs it (`cli::plan`: `amibake plan`).
//!
//! `tests/broken/` holds one recipe per realistic mistake, so exactly one error each. The
//! first line of each says where the error must point and a piece of its message:
//!
//! ```text
//! # expect: LINE:COL SUBSTRING
//! ```

use crate::support::cli;

use std::ffi::OsStr;
use std::path::Path;

use cli::*;
use serde_json::Value;

/// A recipe with one mistake: `ami-12345` (line 3, column 8) is not an AMI id.
const BROKEN_RECIPE: &str = "name: web-broken
source:
  ami: ami-12345
builder:
  iam_instance_profile: amibake-builder
steps:
  - wait_cloud_init: {}
image:
  name: \"{{ recipe }}-{{ timestamp }}\"
";

/// Parses `# expect: LINE:COL SUBSTRING` into (`LINE:COL`, `SUBSTRING`).
fn expectation(first_line: &str) -> Option<(String, String)> {
    let rest = first_line.strip_prefix("# expect: ")?;
    let (loc, substring) = rest.split_once(' ')?;
    let (line, col) = loc.split_once(':')?;
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let substring = substring.trim();
    (is_number(line) && is_number(col) && !substring.is_empty())
        .then(|| (loc.to_string(), substring.to_string()))
}

#[test]
fn every_broken_recipe_exits_2_pointing_at_its_mistake_with_the_expected_message() {
    let dir = Path::new(ROOT).join("tests/broken");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/broken exists")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert!(
        names.len() >= 25,
        "tests/broken should hold at least 25 broken recipes, found {}",
        names.len()
    );

    let mut failures = Vec::new();
    for name in &names {
        let file = format!("tests/broken/{name}");
        let text = std::fs::read_to_string(dir.join(name)).expect("read broken recipe");
        let first = text.lines().next().unwrap_or_default();
        let Some((loc, substring)) = expectation(first) else {
            failures.push(format!(
                "{file}: first line must be `# expect: LINE:COL SUBSTRING`, found {first:?}"
            ));
            continue;
        };

        let out = amibake(["validate", file.as_str()]);
        let err = stderr(&out);
        let headline = err
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default();
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, expected 2", out.status.code()));
        }
        if !headline.contains(&format!("{file}:{loc}: ")) {
            problems.push(format!("not located at {loc}"));
        }
        if !headline.contains(&substring) {
            problems.push(format!("message lacks `{substring}`"));
        }
        let reported = err.lines().filter(|l| l.starts_with("error: ")).count();
        if reported != 1 {
            problems.push(format!("{reported} errors reported for its one mistake"));
        }
        if err.contains("panicked") {
            problems.push("panicked".to_string());
        }
        if !problems.is_empty() {
            let shown = if headline.is_empty() {
                err.trim()
            } else {
                headline
            };
            failures.push(format!("{file}: {}\n    got: {shown}", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} broken recipes were not reported as expected:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

#[test]
fn shipped_recipes_validate_together_with_one_ok_line_each() {
    let mut recipes: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("recipes"))
        .expect("recipes/ exists")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("recipes/{n}"))
        .collect();
    recipes.sort();
    for shipped in [AL2023, UBUNTU] {
        assert!(recipes.iter().any(|r| r == shipped), "{shipped} is missing");
    }

    let out = amibake(std::iter::once("validate").chain(recipes.iter().map(String::as_str)));
    let text = stdout(&out);
    expect_exit(&out, 0);
    let oks: Vec<&str> = text.lines().filter(|l| l.starts_with("ok:")).collect();
    assert_eq!(
        oks.len(),
        recipes.len(),
        "one `ok:` line per recipe:\n{text}"
    );
    for (line, recipe) in oks.iter().zip(&recipes) {
        assert!(
            line.contains(recipe.as_str()),
            "`{line}` should name {recipe}"
        );
    }
    // Clean: no warning either (their agent pin is on the latest minor line).
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("warning"), "shipped recipes warn:\n{err}");
}

#[test]
fn a_pin_behind_the_latest_minor_line_is_a_warning_with_the_fix_not_an_error() {
    for (pin, line) in [("1.7.1-110", "1.7 line"), ("2.0.1", "2.0 line")] {
        let var = format!("agent_version={pin}");
        let out = amibake(["validate", UBUNTU, "--var", &var]);
        expect_exit(&out, 0);
        let err = String::from_utf8_lossy(&out.stderr);
        let warning = err
            .lines()
            .find(|l| l.starts_with("warning: "))
            .unwrap_or_else(|| panic!("{pin}: no warning:\n{err}"));
        for part in [
            UBUNTU,
            "step 3 (codedeploy_agent)",
            pin,
            line,
            "pin `version: \"2.1.0\"`",
        ] {
            assert!(
                warning.contains(part),
                "{pin}: `{part}` missing from {warning}"
            );
        }
        assert!(stdout(&out).starts_with("ok: "), "{pin}: still valid");

        let json = amibake(["validate", "--json", UBUNTU, "--var", &var]);
        expect_exit(&json, 0);
        let event = validate_event(&json);
        assert_eq!(event["ok"], true, "{event}");
        assert_eq!(
            event["warnings"][0]["at"], "step 3 (codedeploy_agent)",
            "{event}"
        );
        assert!(
            event["warnings"][0]["message"]
                .as_str()
                .unwrap()
                .contains(pin),
            "{event}"
        );
    }
    let current = amibake(["validate", "--json", UBUNTU, "--var", "agent_version=2.1.0"]);
    assert_eq!(validate_event(&current)["warnings"], serde_json::json!([]));
}

#[test]
fn fix_severity_without_a_scan_of_the_images_is_a_warning_with_the_fix() {
    let dir = tempfile::tempdir().expect("a directory");
    let text = |scan: &str| {
        format!(
            "name: web\nsource: {{ ssm_parameter: /aws/service/x }}\n\
             builder: {{ iam_instance_profile: amibake-builder }}\n\
             steps:\n  - shell: \"true\"\nimage:\n  name: \"web-{{{{ run_id }}}}\"\n{scan}\
             rebuild: {{ updates: security, fix_severity: high }}\n"
        )
    };
    let unscanned = dir.path().join("unscanned.yaml");
    std::fs::write(&unscanned, text("")).expect("write");
    let out = amibake(["validate", "--json", unscanned.to_str().unwrap()]);
    expect_exit(&out, 0);
    let event = validate_event(&out);
    assert_eq!(
        event["warnings"][0]["at"], "rebuild.fix_severity",
        "{event}"
    );
    assert!(
        event["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("add `image.scan: {}`"),
        "{event}"
    );
    let scanned = dir.path().join("scanned.yaml");
    std::fs::write(&scanned, text("  scan: {}\n")).expect("write");
    let out = amibake(["validate", "--json", scanned.to_str().unwrap()]);
    expect_exit(&out, 0);
    assert_eq!(validate_event(&out)["warnings"], serde_json::json!([]));
}

#[test]
fn one_broken_recipe_among_good_ones_exits_2_and_the_good_ones_are_still_ok() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = write_file(tmp.path(), "broken.yaml", BROKEN_RECIPE);

    let out = amibake([
        OsStr::new("validate"),
        OsStr::new(AL2023),
        broken.as_os_str(),
        OsStr::new(UBUNTU),
    ]);
    let (text, err) = (stdout(&out), stderr(&out));
    expect_exit(&out, 2);
    for good in [AL2023, UBUNTU] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("ok:") && l.contains(good)),
            "{good} should still be reported ok:\n{text}"
        );
    }
    assert!(
        !text.lines().any(|l| l.contains(&*broken.to_string_lossy())),
        "the broken recipe must not be reported ok:\n{text}"
    );
    assert!(
        err.contains(&format!("{}:3:8: ", broken.display())),
        "stderr should locate the broken recipe's error:\n{err}"
    );
}

#[test]
fn validate_json_of_a_broken_recipe_prints_its_event_with_ok_false_and_the_error_location() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = write_file(tmp.path(), "broken.yaml", BROKEN_RECIPE);

    let out = amibake([
        OsStr::new("validate"),
        OsStr::new("--json"),
        broken.as_os_str(),
    ]);
    expect_exit(&out, 2);
    let event = validate_event(&out);
    assert_eq!(event["ok"], Value::Bool(false), "{event}");
    assert_eq!(
        event["error"]["file"],
        Value::from(broken.display().to_string()),
        "{event}"
    );
    assert_eq!(event["error"]["line"], Value::from(3), "{event}");
    assert_eq!(event["error"]["column"], Value::from(8), "{event}");
}

#[test]
fn validate_json_of_a_good_recipe_prints_one_line_with_ok_true() {
    let out = amibake(["validate", "--json", AL2023]);
    expect_exit(&out, 0);
    let event = validate_event(&out);
    assert_eq!(event["ok"], Value::Bool(true), "{event}");
}

/// An agent recipe without `boot_test:` still gets a boot test of the built-in checks
/// (the plan's); validate says so instead of "boot test: off", and counts the checks the
/// boot test runs, in text and JSON.
#[test]
fn validate_counts_the_boot_test_the_plan_runs_built_ins_included() {
    let dir = tempfile::tempdir().expect("a directory");
    let recipe = write_file(
        dir.path(),
        "agent.yaml",
        "name: web-agent
source:
  ami: ami-0123456789abcdef0
builder:
  iam_instance_profile: amibake-builder
steps:
  - codedeploy_agent: { version: \"2.1.0\", start_after_cloud_init: true }
image:
  name: \"{{ recipe }}-{{ timestamp }}\"
",
    );
    let plan = amibake(["plan", "--json", recipe.to_str().unwrap()]);
    expect_exit(&plan, 0);
    let plan: Value = serde_json::from_str(stdout(&plan).trim()).expect("one JSON plan");
    let planned = plan["boot_test"]["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("the plan has a boot test: {plan}"))
        .len();
    assert!(planned >= 2, "{plan}");

    let out = amibake(["validate", recipe.to_str().unwrap()]);
    expect_exit(&out, 0);
    let line = stdout(&out);
    assert!(
        line.contains(&format!(
            "boot test: {planned} checks ({planned} built-in))"
        )),
        "{line}"
    );
    let json = amibake(["validate", "--json", recipe.to_str().unwrap()]);
    assert_eq!(
        validate_event(&json)["boot_test_checks"],
        planned,
        "{json:?}"
    );
}

// --- Hostile input: exit 2 with a message, never a panic ------------------------------

/// `amibake validate PATH` must exit 2 with an `error:` message and no panic.
fn assert_rejected_cleanly(what: &str, path: &Path) {
    let out = amibake([OsStr::new("validate"), path.as_os_str()]);
    let err = stderr(&out);
    assert!(
        !err.contains("panicked"),
        "{what}: amibake panicked:\n{err}"
    );
    assert_eq!(out.status.code(), Some(2), "{what}: stderr:\n{err}");
    assert!(
        err.trim_start().starts_with("error: "),
        "{what}: expected an `error:` message, got:\n{err}"
    );
}

/// Deterministic pseudo-random bytes (a 64-bit LCG, high bits).
fn lcg_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

#[test]
fn empty_file_is_rejected_with_exit_2_without_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_file(tmp.path(), "empty.yaml", "");
    assert_rejected_cleanly("empty file", &path);
}

#[test]
fn four_kilobytes_of_random_bytes_are_rejected_with_exit_2_without_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_file(tmp.path(), "random.yaml", lcg_bytes(0x5eed, 4096));
    assert_rejected_cleanly("4 KB of random bytes", &path);
}

#[test]
fn four_kilobytes_of_random_printable_text_are_rejected_with_exit_2_without_panic() {
    // Valid UTF-8, so this reaches the template and YAML parsers.
    let text: Vec<u8> = lcg_bytes(0xa5c11, 4096)
        .into_iter()
        .map(|b| if b % 16 == 0 { b'\n' } else { b' ' + b % 95 })
        .collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_file(tmp.path(), "random-text.yaml", text);
    assert_rejected_cleanly("4 KB of random printable text", &path);
}

#[test]
fn five_megabyte_file_of_yaml_lines_is_rejected_with_exit_2_without_panic() {
    let mut text = String::from("name: huge\nsteps:\n");
    while text.len() < 5 * 1024 * 1024 {
        text.push_str("  - shell: echo \"a line that looks like a perfectly normal step\"\n");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_file(tmp.path(), "huge.yaml", text);
    assert_rejected_cleanly("5 MB file", &path);
}

#[test]
fn hundred_thousand_nested_brackets_are_rejected_with_exit_2_without_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_file(tmp.path(), "nested.yaml", "[".repeat(100_000));
    assert_rejected_cleanly("100k nested `[`", &path);
}

#[test]
fn directory_instead_of_a_file_is_rejected_with_exit_2_without_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert_rejected_cleanly("a directory", tmp.path());
}

#[test]
fn missing_file_is_rejected_with_exit_2_without_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert_rejected_cleanly("a missing file", &tmp.path().join("no-such-recipe.yaml"));
}
