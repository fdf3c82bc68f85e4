//! Unit files, drop-ins, paths and the `file` step. See tests/amibake/hostile/mod.rs.
//!
//! A value that reaches a unit file is escaped so it stays one value (systemd ends a line
//! at `\n`, `\r` and NUL); a drop-in name is a plain `NAME.conf`; every path a step writes
//! is absolute and normalised, refused by `validate` at its place otherwise; the `file`
//! step never changes an existing directory (the real-OS proof is in
//! tests/amibake/realos.rs).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use amibake::plan::Plan;
use amibake::recipe::{self, MissingSecrets, VarInputs};
use amibake::script::StepCommand;
use serde_json::Value;

use crate::support::cli::*;

/// A recipe around `steps` (YAML lines, indented as list items under `steps:`).
fn recipe_with(steps: &str) -> String {
    format!(
        "name: hostile-units\n\
         source: {{ ami: ami-0123456789abcdef0 }}\n\
         builder:\n  os: debian\n  iam_instance_profile: amibake-builder\n\
         steps:\n{steps}\
         image: {{ name: \"hostile-units-{{{{ timestamp }}}}\" }}\n"
    )
}

/// `amibake plan --json` of `text`; returns the plan (asserting it succeeded).
fn plan_json(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "recipe.yaml", text);
    let out = amibake(["--json".as_ref(), "plan".as_ref(), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "plan failed:\n{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("plan --json prints JSON")
}

/// `amibake validate` of `text`: exit code and stderr.
fn validate(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "recipe.yaml", text);
    let out = amibake(["validate".as_ref(), path.as_os_str()]);
    (out.status.code(), stderr(&out))
}

/// The drop-in text of the first `systemd_override` step, as the shown script writes it
/// (between `cat > "$tmp" <<'DELIM'` and DELIM).
fn drop_in_text(plan: &Value) -> String {
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "systemd_override")
        .expect("a systemd_override step");
    let script = step["command"]["script"]["display"].as_str().unwrap();
    let mut lines = script.split('\n');
    let head = lines
        .by_ref()
        .find(|l| l.starts_with("cat > \"$tmp\" <<'"))
        .unwrap_or_else(|| panic!("no heredoc in {script}"));
    let delim = head.rsplit("<<'").next().unwrap().trim_end_matches('\'');
    lines
        .take_while(|l| *l != delim)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The directives of a unit file as systemd splits it: lines end at `\n`, `\r` and NUL,
/// and a line whose backslashes end it odd continues on the next.
fn directives(unit: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in unit.split(['\n', '\r', '\0']) {
        let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            pending.push_str(&line[..line.len() - 1]);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let l = std::mem::take(&mut pending);
        let l = l.trim();
        if !l.is_empty() && !l.starts_with(['#', ';', '[']) {
            out.push(l.to_string());
        }
    }
    out
}

#[test]
fn a_line_break_in_an_environment_value_cannot_add_a_directive() {
    for (what, value) in [
        ("\\r", r#""x\rExecStartPre=/bin/sh -c 'id > /tmp/pwned'""#),
        ("\\n", r#""x\nExecStartPre=/bin/sh -c 'id > /tmp/pwned'""#),
        ("\\r\\n", r#""x\r\nExecStartPre=/bin/true""#),
        ("a trailing backslash", r#""x\\""#),
        (
            "\\v and \\f",
            r#""x\vExecStartPre=/bin/true\fExecStartPre=/bin/true""#,
        ),
        ("C1 next-line", r#""x\NExecStartPre=/bin/true""#),
        ("a quote", r#""x\" \"ExecStartPre=/bin/true""#),
    ] {
        let plan = plan_json(&recipe_with(&format!(
            "  - systemd_override:\n      unit: app.service\n      environment:\n        A: {value}\n        B: after\n"
        )));
        let unit = drop_in_text(&plan);
        let directives = directives(&unit);
        assert!(
            directives.iter().all(|d| d.starts_with("Environment=\"")),
            "{what}: the value became a directive of its own: {directives:#?}\n{unit}"
        );
        assert_eq!(
            directives.len(),
            2,
            "{what}: two values, two Environment= lines: {directives:#?}\n{unit}"
        );
        assert!(
            unit.chars()
                .all(|c| c == '\n' || !(c.is_control() || c == '\u{2028}' || c == '\u{2029}')),
            "{what}: a control character reached the unit file: {unit:?}"
        );
    }
}

#[test]
fn a_nul_or_a_bad_name_in_an_environment_is_refused_at_its_place() {
    for (what, env, col, needle) in [
        ("NUL in a value", r#"A: "x\0y""#, 12, "NUL"),
        (
            "a key with =",
            r#""A=B": x"#,
            9,
            "environment variable name",
        ),
        (
            "a key with a line break",
            r#""A\rExecStartPre": x"#,
            9,
            "environment variable name",
        ),
        (
            "a key starting with a digit",
            "1A: x",
            9,
            "environment variable name",
        ),
    ] {
        let text = recipe_with(&format!(
            "  - systemd_override:\n      unit: app.service\n      environment:\n        {env}\n"
        ));
        let (code, err) = validate(&text);
        assert_eq!(code, Some(2), "{what}: {err}");
        assert!(
            err.contains(&format!("recipe.yaml:10:{col}")) && err.contains(needle),
            "{what}: expected recipe.yaml:10:{col} and {needle:?}: {err}"
        );
    }
}

#[test]
fn drop_in_names_that_climb_out_or_that_systemd_ignores_are_refused_at_their_place() {
    for (name, needle) in [
        ("\"../x.conf\"", "no `/`"),
        ("\"../../../../etc/cron.d/x.conf\"", "no `/`"),
        ("x", "end in `.conf`"),
        ("x.conf.bak", "end in `.conf`"),
        ("\"a/b.conf\"", "no `/`"),
        ("\".hidden.conf\"", "start with"),
        ("\".conf\"", "start with"),
        ("\"x\\r.conf\"", "letters, digits"),
        ("\"x y.conf\"", "letters, digits"),
        ("\"\"", "end in `.conf`"),
    ] {
        let text = recipe_with(&format!(
            "  - systemd_override:\n      unit: app.service\n      drop_in: {name}\n      after: [network-online.target]\n"
        ));
        let (code, err) = validate(&text);
        assert_eq!(code, Some(2), "drop_in: {name}: {err}");
        assert!(
            err.contains("recipe.yaml:9:16") && err.contains("drop_in") && err.contains(needle),
            "drop_in: {name}: expected recipe.yaml:9:16, `drop_in` and {needle:?}: {err}"
        );
        assert!(
            err.contains("like `50-amibake.conf`"),
            "drop_in: {name}: the fix: {err}"
        );
    }
    // A plain name is fine and lands in the unit's own directory.
    let plan = plan_json(&recipe_with(
        "  - systemd_override:\n      unit: app.service\n      drop_in: 10-limits.conf\n      after: [network-online.target]\n",
    ));
    assert!(
        plan.to_string()
            .contains("mv -f -T \\\"$tmp\\\" /etc/systemd/system/app.service.d/10-limits.conf"),
        "{plan:#}"
    );
}

#[test]
fn relative_and_unnormalised_file_paths_are_refused_at_their_place_with_the_fix() {
    for (path, needle) in [
        ("etc/app.env", "absolute"),
        ("./etc/app.env", "absolute"),
        (
            "/etc/../root/.ssh/authorized_keys",
            "write `/root/.ssh/authorized_keys`",
        ),
        ("/etc/./app.env", "write `/etc/app.env`"),
        ("/etc//app.env", "write `/etc/app.env`"),
        ("/etc/app/", "write `/etc/app`"),
        ("/etc/app/..", "write `/etc`"),
        ("/", "a file"),
        ("/..", "a file"),
        ("\"/etc/app.env\\r\"", "control character"),
        ("\"/etc/app.env\\n\"", "control character"),
        ("\"/etc/app\\0.env\"", "control character"),
        ("\"/etc/app\\N.env\"", "control character"),
        ("\"/etc/app\\u202e.env\"", "control character"),
    ] {
        let text = recipe_with(&format!(
            "  - file:\n      path: {path}\n      content: x\n"
        ));
        let (code, err) = validate(&text);
        assert_eq!(code, Some(2), "path: {path}: {err}");
        assert!(
            err.contains("recipe.yaml:8:13") && err.contains(needle),
            "path: {path}: expected recipe.yaml:8:13 and {needle:?}: {err}"
        );
        assert!(
            !err.contains(['\r', '\0', '\u{85}', '\u{202e}']),
            "path: {path}: the error prints the control character raw: {err:?}"
        );
    }
}

/// The sent script of the first `file` step of `text` (the plan's copy that SSM runs).
fn file_script(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "recipe.yaml", text);
    let builtins = amibake::run::builtins("us-east-1");
    let loaded = recipe::load(
        &path,
        &VarInputs::default(),
        &builtins,
        MissingSecrets::Error,
    )
    .unwrap_or_else(|e| panic!("loads: {e}"));
    let plan = Plan::new(&loaded, "us-east-1", &builtins.run_id, &Default::default());
    plan.steps
        .iter()
        .find_map(|s| match &s.command {
            StepCommand::Shell { script } if s.kind == "file" => Some(script.text.clone()),
            _ => None,
        })
        .expect("a file step")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn the_file_step_never_re_modes_an_existing_directory_and_makes_new_parents_0755() {
    // The step's own script, run for real in a scratch tree under a strict umask;
    // `chown` is recorded instead of run, so the test needs no root.
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let private = root.join("private");
    let sticky = root.join("sticky");
    std::fs::create_dir(&private).unwrap();
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let root_mode = mode(root);
    let chowns = root.join("chowns.log");
    for target in [
        private.join("app.env"),
        sticky.join("app.env"),
        private.join("new/deeper/app.env"),
    ] {
        let script = file_script(&recipe_with(&format!(
            "  - file:\n      path: {}\n      content: \"x=1\\n\"\n",
            target.display()
        )));
        let shimmed = format!(
            "umask 077\nchown() {{ echo \"chown $*\" >> {}; }}\n{script}",
            chowns.display()
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&shimmed)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}\n{script}",
            target.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x=1\n");
    }
    assert_eq!(
        mode(&private),
        0o700,
        "an existing 0700 directory was re-moded"
    );
    assert_eq!(
        mode(&sticky),
        0o1777,
        "an existing 1777 directory was re-moded"
    );
    assert_eq!(mode(root), root_mode, "an ancestor was re-moded");
    assert_eq!(mode(&private.join("new")), 0o755, "a new parent's mode");
    assert_eq!(
        mode(&private.join("new/deeper")),
        0o755,
        "a new parent's mode"
    );
    let log = std::fs::read_to_string(&chowns).unwrap();
    for line in log.lines() {
        let target = line.rsplit(' ').next().unwrap();
        let created = [private.join("new"), private.join("new/deeper")];
        assert!(
            created.iter().any(|c| Path::new(target) == c) || !Path::new(target).is_dir(),
            "chown on an existing directory: {line}\n{log}"
        );
    }
    assert!(
        log.contains(&format!(
            "chown root:root {}",
            private.join("new").display()
        )),
        "new parents are made root:root: {log}"
    );
}

#[test]
fn the_file_step_refuses_to_replace_a_directory() {
    // `mv -f tmp DIR` would move the file *into* DIR; the step must fail instead.
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("conf.d");
    std::fs::create_dir(&dir).unwrap();
    let script = file_script(&recipe_with(&format!(
        "  - file:\n      path: {}\n      content: x\n",
        dir.display()
    )));
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("chown() {{ :; }}\n{script}"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "replacing a directory must fail");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was moved into the directory"
    );
}

/// `plan --json` of `text`, or None when `validate` refuses it at `place` (a stricter
/// check elsewhere is as good as the escaping the caller tests).
fn plan_or_refused_at(text: &str, place: &str) -> Option<Value> {
    let (code, err) = validate(text);
    if code == Some(2) {
        assert!(err.contains(place), "refused, but not at {place}: {err}");
        return None;
    }
    Some(plan_json(text))
}

#[test]
fn a_unit_name_cannot_become_an_option_of_systemctl() {
    let Some(plan) = plan_or_refused_at(
        &recipe_with(
            "  - systemd_override:\n      unit: -x.service\n      wanted_by: [multi-user.target]\n",
        ),
        "recipe.yaml:8:13",
    ) else {
        return;
    };
    let text = plan.to_string();
    assert!(
        text.contains("systemctl reenable -- -x.service"),
        "the unit follows `--`: {text}"
    );
}

#[test]
fn a_control_character_in_a_step_name_stays_inside_the_script_header_and_markers() {
    let Some(plan) = plan_or_refused_at(
        &recipe_with(
            "  - name: \"deploy\\rrm -rf / #\\u0085\\u2028x\\u001b[2J\"\n    shell: echo hi\n",
        ),
        "recipe.yaml:7:11",
    ) else {
        return;
    };
    let step = &plan["steps"][0];
    let script = step["command"]["script"]["display"].as_str().unwrap();
    assert!(
        script
            .chars()
            .all(|c| c == '\n' || !(c.is_control() || c == '\u{2028}' || c == '\u{2029}')),
        "a control character reached the script: {script:?}"
    );
    assert!(
        script
            .lines()
            .any(|l| l.starts_with("# amibake step: deploy")),
        "{script}"
    );
}
