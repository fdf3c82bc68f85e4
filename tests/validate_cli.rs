//! The offline commands as a user runs them: `amibake validate` and `amibake plan`.
//!
//! `tests/broken/` holds one recipe per realistic mistake. The first line of each says
//! where the error must point and a piece of its message:
//!
//! ```text
//! # expect: LINE:COL SUBSTRING
//! ```

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_amibake");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const AL2023: &str = "recipes/al2023-tomcat-codedeploy.yaml";
const UBUNTU: &str = "recipes/ubuntu-2404-codedeploy.yaml";

/// Runs amibake in the package root, without any `AMIBAKE_VAR_*` of the caller's
/// environment (they would change var values).
fn amibake<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.current_dir(ROOT).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AMIBAKE_VAR_") {
            cmd.env_remove(&key);
        }
    }
    cmd.output().expect("amibake runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `text` to `dir/name` and returns the path.
fn write_file(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

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
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
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
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{text}\nstderr:\n{err}"
    );
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
fn validate_json_of_a_broken_recipe_prints_one_line_with_ok_false_and_the_error_location() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = write_file(tmp.path(), "broken.yaml", BROKEN_RECIPE);

    let out = amibake([
        OsStr::new("validate"),
        OsStr::new("--json"),
        broken.as_os_str(),
    ]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one JSON line expected:\n{text}");
    let event: Value = serde_json::from_str(lines[0]).expect("stdout line is JSON");
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
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one JSON line expected:\n{text}");
    let event: Value = serde_json::from_str(lines[0]).expect("stdout line is JSON");
    assert_eq!(event["ok"], Value::Bool(true), "{event}");
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

// --- plan -------------------------------------------------------------------------------

/// The script lines of a text plan (printed as `    | LINE`), without the prefix.
fn script_lines(plan: &str) -> Vec<&str> {
    plan.lines()
        .filter_map(|l| l.trim_start().strip_prefix('|'))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect()
}

#[test]
fn plan_of_the_al2023_recipe_shows_the_cloud_init_drop_in_and_the_pinned_agent_install() {
    let out = amibake(["plan", AL2023]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    let lines = script_lines(&text);
    let position = |wanted: &dyn Fn(&str) -> bool, what: &str| {
        lines
            .iter()
            .position(|l| wanted(l))
            .unwrap_or_else(|| panic!("the plan has no script line {what}:\n{text}"))
    };

    // The drop-in, line for line (blank lines aside).
    // After= names multi-user.target too (no ordering cycle where cloud-final runs after
    // it); no [Install] section: the package's own WantedBy=multi-user.target link stays.
    let drop_in = ["[Unit]", "After=cloud-final.service multi-user.target"];
    let non_blank: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        non_blank.windows(drop_in.len()).any(|w| w == drop_in),
        "the plan should contain the drop-in {drop_in:?} as consecutive lines:\n{text}"
    );
    let after = position(
        &|l| l == "After=cloud-final.service multi-user.target",
        "`After=cloud-final.service multi-user.target`",
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("WantedBy=cloud-init.target") || l.contains("reenable")),
        "the drop-in adds no [Install] section and nothing re-enables the agent:\n{text}"
    );
    position(
        &|l| l.contains("/etc/systemd/system/codedeploy-agent.service.d/10-after-cloud-init.conf"),
        "with the drop-in path",
    );
    let reload = position(
        &|l| l.trim() == "systemctl daemon-reload",
        "`systemctl daemon-reload`",
    );
    let restart = position(
        &|l| l.contains("systemctl") && l.contains("--no-block"),
        "with `systemctl --no-block`",
    );
    assert!(
        after < reload,
        "daemon-reload must follow the drop-in:\n{text}"
    );
    assert!(
        reload < restart,
        "the --no-block restart must follow daemon-reload:\n{text}"
    );

    // The pinned agent: installed by exact version, then verified.
    position(
        &|l| l.contains("-v releases/codedeploy-agent-1.7.1-110.noarch.rpm"),
        "installing `-v releases/codedeploy-agent-1.7.1-110.noarch.rpm`",
    );
    position(
        &|l| l.trim() == "installed=$(rpm -q --qf '%{VERSION}-%{RELEASE}' codedeploy-agent)",
        "checking the installed version with rpm -q --qf",
    );
}

#[test]
fn plan_json_of_the_al2023_recipe_is_one_document_with_5_steps_and_an_image_named_after_the_recipe()
{
    let out = amibake(["plan", "--json", AL2023]);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let steps = doc["steps"].as_array().expect("`steps` is an array");
    assert_eq!(steps.len(), 5, "{doc:#}");
    let name = doc["image"]["name"]
        .as_str()
        .expect("`image.name` is a string");
    assert!(
        name.starts_with("al2023-tomcat-codedeploy"),
        "image name {name:?}"
    );
}

// --- vars and secrets -------------------------------------------------------------------

const SECRET: &str = "hunter2-s3cret";

const SECRET_RECIPE: &str = "name: secret-demo
vars:
  db_password: { secret: true }
source:
  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
builder:
  iam_instance_profile: amibake-builder
steps:
  - file:
      path: /etc/app.env
      mode: \"0600\"
      content: |
        DB_PASSWORD={{ db_password }}
  - name: set the app password
    shell: |
      echo \"{{ db_password }}\" | passwd --stdin app
image:
  name: \"{{ recipe }}-{{ timestamp }}\"
";

#[test]
fn plan_never_prints_a_secret_var_and_lists_it_as_stars() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let recipe = write_file(tmp.path(), "secret.yaml", SECRET_RECIPE);
    let var = format!("db_password={SECRET}");

    let text_out = amibake([
        OsStr::new("plan"),
        recipe.as_os_str(),
        OsStr::new("--var"),
        OsStr::new(&var),
    ]);
    let json_out = amibake([
        OsStr::new("plan"),
        OsStr::new("--json"),
        recipe.as_os_str(),
        OsStr::new("--var"),
        OsStr::new(&var),
    ]);
    for (what, out) in [("text", &text_out), ("--json", &json_out)] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "plan {what}: stderr:\n{}",
            stderr(out)
        );
        assert!(
            !stdout(out).contains(SECRET),
            "plan {what} printed the secret:\n{}",
            stdout(out)
        );
        assert!(
            !stderr(out).contains(SECRET),
            "plan {what} printed the secret on stderr:\n{}",
            stderr(out)
        );
    }

    let text = stdout(&text_out);
    assert!(
        text.lines()
            .any(|l| l.contains("db_password") && l.contains("***")),
        "the vars listing should show db_password as ***:\n{text}"
    );
    assert!(
        script_lines(&text)
            .iter()
            .any(|l| l.contains("echo \"***\"")),
        "the shell step should show *** where the secret goes:\n{text}"
    );

    let doc: Value = serde_json::from_slice(&json_out.stdout).expect("plan --json is JSON");
    let vars = doc["vars"].as_array().expect("`vars` is an array");
    let db = vars
        .iter()
        .find(|v| v["name"] == "db_password")
        .unwrap_or_else(|| panic!("db_password missing from vars: {vars:?}"));
    assert_eq!(db["value"], Value::from("***"), "{db}");
}

#[test]
fn var_flag_for_an_undeclared_var_exits_2_naming_it() {
    let out = amibake(["validate", AL2023, "--var", "no_such_var=1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{err}");
    assert!(
        err.contains("no_such_var"),
        "the error should name the var:\n{err}"
    );
}

#[test]
fn var_flag_wins_over_var_file_which_wins_over_the_recipe_default() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let recipe = write_file(
        tmp.path(),
        "precedence.yaml",
        "name: precedence
vars:
  from_recipe: r
  from_file: r
  from_flag: r
source:
  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
builder:
  iam_instance_profile: amibake-builder
steps:
  - shell: echo \"{{ from_recipe }} {{ from_file }} {{ from_flag }}\"
image:
  name: \"{{ recipe }}-{{ timestamp }}\"
",
    );
    // A var file may carry vars of other recipes too.
    let var_file = write_file(
        tmp.path(),
        "values.yaml",
        "from_file: f\nfrom_flag: f\nof_another_recipe: x\n",
    );
    let args: Vec<OsString> = vec![
        "plan".into(),
        "--json".into(),
        recipe.clone().into(),
        "--var-file".into(),
        var_file.clone().into(),
        "--var".into(),
        "from_flag=cli".into(),
    ];
    let out = amibake(&args);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("plan --json is JSON");
    let vars = doc["vars"].as_array().expect("`vars` is an array");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from vars: {vars:?}"))
    };
    let origin = |name: &str| var(name)["origin"].as_str().unwrap_or_default().to_string();

    assert_eq!(var("from_recipe")["value"], Value::from("r"));
    assert!(
        origin("from_recipe").contains("recipe"),
        "{}",
        var("from_recipe")
    );
    assert_eq!(var("from_file")["value"], Value::from("f"));
    assert!(
        origin("from_file").contains("values.yaml"),
        "{}",
        var("from_file")
    );
    assert_eq!(var("from_flag")["value"], Value::from("cli"));
    assert!(
        origin("from_flag").contains("--var"),
        "{}",
        var("from_flag")
    );
    assert!(
        doc["steps"].to_string().contains("r f cli"),
        "the step should be rendered with the winning values: {}",
        doc["steps"]
    );
}

#[test]
fn plan_takes_the_same_copy_and_share_flags_as_bake_and_prints_every_action_it_walks() {
    let out = amibake([
        "plan",
        AL2023,
        "--copy-to",
        "us-west-2",
        "--share-with",
        "111122223333",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for action in [
        "copy the image to us-west-2",
        "share the image",
        "account: 111122223333",
        "image hygiene on the builder",
        "boot test: launch an instance from the new AMI",
        "terminate the boot-test instance",
    ] {
        assert!(text.contains(action), "no {action:?} in the plan:\n{text}");
    }

    let out = amibake([
        "plan",
        "--json",
        AL2023,
        "--copy-to",
        "us-west-2",
        "--share-with",
        "111122223333",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("plan --json is JSON");
    let actions: Vec<&str> = doc["actions"]
        .as_array()
        .expect("`actions` is an array")
        .iter()
        .map(|a| a["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions.first(), Some(&"resolve_source"));
    assert_eq!(actions.last(), Some(&"write_manifest"));
    let at = |name: &str| {
        actions
            .iter()
            .position(|a| *a == name)
            .unwrap_or_else(|| panic!("no {name} in {actions:?}"))
    };
    assert!(at("hygiene") < at("stop_builder"));
    assert!(at("create_image") < at("distribute"));
    assert!(at("distribute") < at("share"));
    let distribute = &doc["actions"][at("distribute")];
    assert_eq!(distribute["copies"][0]["region"], "us-west-2");
    assert_eq!(doc["image"]["share_accounts"][0], "111122223333");
}
