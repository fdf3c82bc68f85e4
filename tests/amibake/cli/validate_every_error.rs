//! `amibake validate` reports every error of a recipe in one run, each at its place, in
//! text and in `--json` (`cli::validate`: one mistake per recipe).

use crate::support::cli;

use std::ffi::OsStr;

use cli::*;
use serde_json::Value;

/// Three independent mistakes in three sections: an unknown key in `builder`, a duration
/// without a unit in a step, a bad region in `image.copy_to`.
const THREE_MISTAKES: &str = "name: web-tomcat
source:
  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
builder:
  iam_instance_profile: amibake-builder
  instance_type: t3.small
  volume_size: 16
steps:
  - wait_cloud_init: {}
  - name: java and tomcat
    packages: { install: [tomcat9] }
    timeout: 600
image:
  name: \"{{ recipe }}-{{ timestamp }}\"
  copy_to:
    - us-west-2
    - eu-west1
";

/// The places and pieces of the messages of [`THREE_MISTAKES`].
const THREE_EXPECTED: [(u64, u64, &str); 3] = [
    (7, 3, "unknown field `volume_size`"),
    (12, 14, "invalid duration `600`"),
    (17, 7, "invalid region `eu-west1`"),
];

/// Runs `amibake validate [--json] FILE` on `text` written to a temporary file.
fn validate(text: &str, json: bool) -> (std::process::Output, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_file(tmp.path(), "recipe.yaml", text);
    let mut args = vec![OsStr::new("validate")];
    if json {
        args.push(OsStr::new("--json"));
    }
    args.push(path.as_os_str());
    (amibake(args), path.display().to_string())
}

/// The `error: FILE:L:C: message` lines of a text run.
fn error_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with("error: ")).collect()
}

/// Asserts the text run reported exactly `expected`, in that order, then the summary.
fn assert_text_reports(text: &str, expected: &[(u64, u64, &str)]) {
    let (out, file) = validate(text, false);
    let err = stderr(&out);
    expect_exit(&out, 2);
    let lines = error_lines(&err);
    assert_eq!(lines.len(), expected.len(), "stderr:\n{err}");
    for (line, (l, c, piece)) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("error: {file}:{l}:{c}: ")) && line.contains(piece),
            "expected {l}:{c} `{piece}`, got `{line}`"
        );
    }
    assert!(
        err.lines()
            .any(|l| l == format!("{} errors in {file}", expected.len())),
        "a summary line should count the errors:\n{err}"
    );
}

#[test]
fn three_mistakes_in_three_sections_are_all_reported_at_their_places_in_one_text_run() {
    assert_text_reports(THREE_MISTAKES, &THREE_EXPECTED);
}

#[test]
fn three_mistakes_in_three_sections_are_all_in_the_json_event_with_count_3() {
    let (out, file) = validate(THREE_MISTAKES, true);
    expect_exit(&out, 2);
    let event = validate_event(&out);
    assert_eq!(event["ok"], Value::Bool(false), "{event}");
    assert_eq!(event["count"], Value::from(3), "{event}");
    assert_eq!(event["truncated"], Value::Bool(false), "{event}");
    let errors = event["errors"].as_array().expect("errors is a list");
    assert_eq!(errors.len(), 3, "{event}");
    for (err, (l, c, piece)) in errors.iter().zip(THREE_EXPECTED) {
        assert_eq!(err["file"], Value::from(file.as_str()), "{err}");
        assert_eq!(
            (&err["line"], &err["column"]),
            (&l.into(), &c.into()),
            "{err}"
        );
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains(piece), "{err}");
    }
    assert_eq!(
        event["error"], errors[0],
        "`error` is the first of `errors`"
    );
}

#[test]
fn mistakes_in_two_steps_are_both_reported() {
    let recipe = "name: web-tomcat
source: { ami: ami-0123456789abcdef0 }
builder: { iam_instance_profile: amibake-builder }
steps:
  - wait_cloud_init: {}
  - package: { install: [tomcat9] }
  - shell: systemctl enable tomcat9
  - reboot: {}
    retries: 11
image: { name: \"{{ recipe }}-{{ timestamp }}\" }
";
    assert_text_reports(
        recipe,
        &[
            (6, 5, "unknown step key `package`"),
            (9, 14, "`retries: 11` is too many"),
        ],
    );
}

#[test]
fn more_mistakes_than_the_cap_report_the_cap_and_say_how_many_more() {
    let mut recipe = String::from(
        "name: many
source: { ami: ami-0123456789abcdef0 }
builder: { iam_instance_profile: amibake-builder }
steps:
",
    );
    for i in 0..25 {
        recipe.push_str(&format!("  - shell: echo {i}\n    timeout: {i}\n"));
    }
    recipe.push_str("image: { name: many-images }\n");

    let (out, file) = validate(&recipe, false);
    let err = stderr(&out);
    expect_exit(&out, 2);
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 20, "the first 20 are shown:\n{err}");
    assert!(
        lines[0].starts_with(&format!("error: {file}:6:14: ")),
        "the first by place comes first:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l == format!("25 errors in {file}: the first 20 are shown, 5 more are not")),
        "the summary should say how many more:\n{err}"
    );

    let (out, _) = validate(&recipe, true);
    let event = validate_event(&out);
    assert_eq!(event["count"], Value::from(25), "{event}");
    assert_eq!(event["truncated"], Value::Bool(true), "{event}");
    assert_eq!(
        event["errors"].as_array().map(Vec::len),
        Some(20),
        "{event}"
    );
}

#[test]
fn a_yaml_syntax_error_is_reported_alone() {
    // The bad instance type after the syntax error is not looked at: nothing after a
    // syntax error can be trusted.
    let recipe = "name: web-tomcat
source: { ami: ami-0123456789abcdef0 }
builder:
  iam_instance_profile: amibake-builder
  instance_type: t3small
steps:
  - shell: echo: hi
image: { name: \"{{ recipe }}-{{ timestamp }}\" }
";
    let (out, file) = validate(recipe, false);
    let err = stderr(&out);
    expect_exit(&out, 2);
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "exactly one error:\n{err}");
    assert!(lines[0].starts_with(&format!("error: {file}:")), "{err}");
    assert!(!err.contains("t3small"), "{err}");
    assert!(
        !err.contains("errors in"),
        "no summary after one error:\n{err}"
    );

    let (out, _) = validate(recipe, true);
    let event = validate_event(&out);
    assert_eq!(event["count"], Value::from(1), "{event}");
    assert_eq!(event["errors"].as_array().map(Vec::len), Some(1), "{event}");
}

#[test]
fn plan_reports_every_error_too() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_file(tmp.path(), "recipe.yaml", THREE_MISTAKES);
    let out = amibake([OsStr::new("plan"), path.as_os_str()]);
    let err = stderr(&out);
    expect_exit(&out, 2);
    assert_eq!(error_lines(&err).len(), 3, "stderr:\n{err}");
    assert!(stdout(&out).is_empty(), "no plan is printed");
}
