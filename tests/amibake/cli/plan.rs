//! `amibake plan` as a user runs it: the scripts it shows, its JSON document, vars and
//! secrets. The actions it lists, their order and calls, are `plan_actions.rs`'s.

use crate::support::cli;

use std::ffi::{OsStr, OsString};

use cli::*;
use serde_json::Value;

// --- plan -------------------------------------------------------------------------------

/// `amibake plan --json ARGS…`, which must exit 0: the one JSON document it prints.
pub(super) fn plan_json<I, S>(args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut all: Vec<OsString> = vec!["plan".into(), "--json".into()];
    all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
    let out = amibake(&all);
    expect_exit(&out, 0);
    serde_json::from_slice(&out.stdout).expect("plan --json prints one JSON document")
}

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
    expect_exit(&out, 0);
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
    // The first daemon-reload after the drop-in (a 1.x agent's removal reloads before it).
    let reload = after
        + lines[after..]
            .iter()
            .position(|l| l.trim() == "systemctl daemon-reload")
            .unwrap_or_else(|| panic!("no `systemctl daemon-reload` after the drop-in:\n{text}"));
    let restart = position(
        &|l| l.contains("systemctl") && l.contains("--no-block"),
        "with `systemctl --no-block`",
    );
    assert!(
        reload < restart,
        "the --no-block restart must follow daemon-reload:\n{text}"
    );

    // The pinned 2.x agent: a 1.x agent migrated first, the bucket's 2.x installer with
    // the newest package only if it is the pin, no Ruby, then the agent's own --version.
    let migrate = position(
        &|l| l.contains("rm -rf /opt/codedeploy-agent /var/log/aws/codedeploy-agent"),
        "removing a 1.x agent's tree",
    );
    let latest = position(
        &|l| l.contains("$bucket/latestv2/LATEST_VERSION"),
        "reading the bucket's latestv2/LATEST_VERSION",
    );
    let install = position(
        &|l| l.trim() == "\"$work/install\" auto -v \"$package\"",
        "running the latestv2 installer with the exact package",
    );
    let verify = position(
        &|l| {
            l.trim()
                == "reported=$(/opt/codedeploy-agent/bin/codedeploy-agent --version 2>/dev/null || true)"
        },
        "asking the agent its version",
    );
    assert!(
        migrate < latest && latest < install && install < verify && verify < after,
        "{text}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("install ruby")),
        "a 2.x agent needs no Ruby:\n{text}"
    );
}

#[test]
fn plan_of_a_1x_pin_installs_ruby_and_the_exact_1x_package_as_before() {
    let out = amibake(["plan", AL2023, "--var", "agent_version=1.7.1-110"]);
    let text = stdout(&out);
    expect_exit(&out, 0);
    let lines = script_lines(&text);
    for wanted in [
        "echo '::amibake:: codedeploy-agent 1.7.1-110: the 1.x line (a Ruby program; its package says its version)'",
        "dnf -y install ruby",
        "\"$work/install\" -v releases/codedeploy-agent-1.7.1-110.noarch.rpm rpm",
        "installed=$(rpm -q --qf '%{VERSION}-%{RELEASE}' codedeploy-agent)",
    ] {
        assert!(
            lines.iter().any(|l| l.trim() == wanted),
            "the plan has no script line `{wanted}`:\n{text}"
        );
    }
    assert!(
        !text.contains("latestv2") && !text.contains("command port"),
        "the 1.x line has no 2.x installer and no command port:\n{text}"
    );
    // The pin is behind the supported minor line: plan says so, and still plans.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:")
            && err.contains("1.7.1-110")
            && err.contains("pin `version: \"2.1.0\"`"),
        "{err}"
    );
}

#[test]
fn plan_json_of_the_al2023_recipe_is_one_document_with_5_steps_and_an_image_named_after_the_recipe()
{
    let doc = plan_json([AL2023]);
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
      echo {{ db_password | shell_quote }} | passwd --stdin app
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
        script_lines(&text).iter().any(|l| l.contains("echo '***'")),
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
    expect_exit(&out, 2);
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
  - shell: echo {{ from_recipe | shell_quote }} {{ from_file | shell_quote }} {{ from_flag | shell_quote }}
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
    let doc = plan_json([
        recipe.as_os_str(),
        OsStr::new("--var-file"),
        var_file.as_os_str(),
        OsStr::new("--var"),
        OsStr::new("from_flag=cli"),
    ]);
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
        doc["steps"].to_string().contains("'r' 'f' 'cli'"),
        "the step should be rendered with the winning values: {}",
        doc["steps"]
    );
}

// --- the agent pin tag ------------------------------------------------------------------

/// A recipe installing CodeDeploy agent 2.1.0 when `agent`, whose image has `tags` tags of
/// its own (`K0`…), scanned when `scan`.
fn tagged_recipe(agent: bool, tags: usize, scan: bool) -> String {
    let step = if agent {
        "  - codedeploy_agent: { version: \"2.1.0\" }\n"
    } else {
        "  - shell: \"true\"\n"
    };
    let tags: Vec<String> = (0..tags).map(|n| format!("K{n}: v")).collect();
    format!(
        "name: tagged\n\
         source:\n  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\n\
         builder: {{ iam_instance_profile: amibake-builder }}\n\
         steps:\n{step}\
         image:\n  name: \"{{{{ recipe }}}}-{{{{ timestamp }}}}\"\n  tags: {{ {} }}\n{}",
        tags.join(", "),
        if scan { "  scan: {}\n" } else { "" }
    )
}

#[test]
fn plan_shows_the_agent_pin_among_the_image_tags_and_none_without_an_agent() {
    let doc = plan_json([AL2023]);
    assert_eq!(doc["image"]["tags"]["amibake:agent"], "2.1.0", "{doc:#}");
    let old = plan_json([AL2023, "--var", "agent_version=1.7.1-110"]);
    assert_eq!(old["image"]["tags"]["amibake:agent"], "1.7.1-110");
    let out = amibake(["plan", AL2023]);
    expect_exit(&out, 0);
    let text = stdout(&out);
    let tags = text
        .lines()
        .find(|l| l.contains("tags (AMI, snapshots)"))
        .unwrap_or_else(|| panic!("no image tags in the plan:\n{text}"));
    assert!(tags.contains("amibake:agent=2.1.0"), "{tags}");

    let tmp = tempfile::tempdir().expect("tempdir");
    let recipe = write_file(tmp.path(), "plain.yaml", tagged_recipe(false, 2, true));
    let doc = plan_json([recipe.as_os_str()]);
    assert!(
        doc["image"]["tags"].get("amibake:agent").is_none(),
        "no agent step, no agent tag: {:#}",
        doc["image"]["tags"]
    );
}

#[test]
fn a_recipe_whose_tags_leave_no_room_plans_no_agent_tag_and_warns_with_the_most_it_may_keep() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // (tags, scan, agent tag fits): 50 per image, amibake's own keys are Name and nine
    // `amibake:*` with a scan (ten with the agent pin), one fewer without.
    for (tags, scan, fits) in [(40, true, false), (39, true, true), (40, false, true)] {
        let file = format!("t{tags}-{scan}.yaml");
        let recipe = write_file(tmp.path(), &file, tagged_recipe(true, tags, scan));
        let out = amibake([OsStr::new("plan"), OsStr::new("--json"), recipe.as_os_str()]);
        expect_exit(&out, 0);
        let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        let tagged = doc["image"]["tags"].get("amibake:agent").is_some();
        assert_eq!(tagged, fits, "{tags} tags, scan {scan}: {:#}", doc["image"]);
        let warnings = doc["warnings"].as_array().expect("`warnings`");
        let warned: Vec<&Value> = warnings
            .iter()
            .filter(|w| {
                w["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("amibake:agent")
            })
            .collect();
        assert_eq!(
            warned.len(),
            usize::from(!fits),
            "{tags}, {scan}: {warnings:?}"
        );
        if let Some(w) = warned.first() {
            assert_eq!(w["at"], "image.tags", "{w}");
            let message = w["message"].as_str().unwrap_or("");
            for part in ["unknown", "at most 39"] {
                assert!(message.contains(part), "`{part}` missing: {message}");
            }
        }
        let out = amibake([OsStr::new("validate"), recipe.as_os_str()]);
        expect_exit(&out, 0);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.contains("warning: "), !fits, "validate: {err}");
    }
}
