//! `amibake plan` as a user runs it: the scripts it shows, its JSON, vars and secrets, the
//! flags it shares with `bake`, and the order of the actions `bake` walks.

use crate::support::cli;

use std::ffi::{OsStr, OsString};

use cli::*;
use serde_json::Value;

// --- plan -------------------------------------------------------------------------------

/// `amibake plan --json ARGS…`, which must exit 0: the one JSON document it prints.
fn plan_json<I, S>(args: I) -> Value
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

/// The names of a JSON plan's actions, in the order `bake` walks them.
fn action_names(doc: &Value) -> Vec<&str> {
    doc["actions"]
        .as_array()
        .expect("`actions` is an array")
        .iter()
        .map(|a| a["action"].as_str().expect("an action name"))
        .collect()
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

#[test]
fn plan_takes_the_same_copy_and_share_flags_as_bake_and_prints_every_action_it_walks() {
    let flags = ["--copy-to", "us-west-2", "--share-with", "111122223333"];
    let out = amibake(["plan", AL2023].iter().chain(&flags));
    expect_exit(&out, 0);
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

    let doc = plan_json([AL2023].iter().chain(&flags));
    let actions = action_names(&doc);
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

#[test]
fn every_action_of_the_json_plan_has_its_id_and_the_calls_the_text_lists() {
    let flags = ["--copy-to", "us-west-2", "--share-with", "111122223333"];
    let out = amibake(["plan", "--json", AL2023].iter().chain(&flags));
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("plan --json is JSON");
    let mut all = Vec::new();
    for action in doc["actions"].as_array().expect("`actions` is an array") {
        all.push(action);
        for nested in ["copies", "boot_test"] {
            all.extend(action[nested].as_array().into_iter().flatten());
        }
    }
    let list = |a: &Value, key: &str| -> Vec<String> {
        let list = a[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {a}"));
        list.iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    let text = String::from_utf8_lossy(&amibake(["plan", AL2023].iter().chain(&flags)).stdout)
        .into_owned();
    for action in all {
        assert!(action["id"].is_string(), "no id in {action}");
        let calls = list(action, "calls");
        let mut sorted = calls.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(calls, sorted, "calls sorted and unique in {action}");
        for always in list(action, "always") {
            assert!(
                calls.contains(&always),
                "{always} of `always` not in `calls`"
            );
        }
        if !calls.is_empty() && action["action"] != "distribute" {
            let api = format!("api: {}", calls.join(", "));
            assert!(text.contains(&api), "no {api:?} in the text plan:\n{text}");
        }
    }
    let copy = &doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "distribute");
    let copy = &copy.expect("a distribute action")["copies"][0];
    assert_eq!(copy["id"], "copy:us-west-2");
    assert_eq!(
        list(copy, "calls"),
        [
            "ec2:CopyImage",
            "ec2:DescribeImages",
            "ec2:EnableImageDeprecation"
        ]
    );
}

#[test]
fn plan_takes_if_changed_and_history_like_bake_and_lists_the_reuse_check_and_the_history() {
    let ids = |flags: &[&str]| -> Vec<String> {
        let out = amibake(["plan", "--json", AL2023].iter().chain(flags));
        assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).expect("plan --json is JSON");
        let actions = doc["actions"].as_array().expect("`actions` is an array");
        actions
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ids(&["--if-changed", "--history", "ssm:/ci/waits"]);
    assert_eq!(all[..3], ["read_history", "resolve_source", "reuse_check"]);
    let tail = &all[all.len() - 3..];
    assert_eq!(tail, ["cleanup", "write_history", "write_manifest"]);

    let forced = ids(&["--if-changed", "--force", "--history", "local"]);
    assert!(!forced.contains(&"reuse_check".to_string()), "{forced:?}");
    assert!(!forced.contains(&"read_history".to_string()), "{forced:?}");

    let text = amibake(["plan", AL2023, "--history", "ssm:/ci/waits"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("SSM parameter /ci/waits/al2023-tomcat-codedeploy"),
        "{text}"
    );
}

#[test]
fn without_an_instance_profile_the_plan_checks_default_host_management_first() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = write_file(
        tmp.path(),
        "no-profile.yaml",
        "name: no-profile\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { instance_type: t3.small }\nsteps:\n  - shell: echo hi\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n",
    );
    let doc = plan_json([&recipe]);
    let actions = action_names(&doc);
    assert_eq!(
        &actions[..4],
        [
            "resolve_source",
            "check_host_management",
            "preflight",
            "create_security_group"
        ]
    );
    assert_eq!(doc["builder"]["iam_instance_profile"], Value::Null);

    let out = amibake([OsStr::new("plan"), recipe.as_os_str()]);
    let text = stdout(&out);
    assert!(text.contains("ssm:GetServiceSetting"), "{text}");
    assert!(
        text.contains("instance profile: none: the account's Default Host Management Configuration gives SSM access"),
        "{text}"
    );
}

#[test]
fn with_copies_shares_or_keys_the_plan_runs_the_preflight_before_the_builder_launches() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = write_file(
        tmp.path(),
        "preflight.yaml",
        "name: preflight\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { iam_instance_profile: amibake-builder, kms_key_id: alias/golden }\nsteps:\n  - shell: echo hi\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n  kms_key_id: alias/golden\n",
    );
    let flags = ["--copy-to", "us-west-2", "--share-with", "111122223333"];
    let doc = plan_json(
        [recipe.as_os_str()]
            .into_iter()
            .chain(flags.map(OsStr::new)),
    );
    let actions = action_names(&doc);
    assert_eq!(
        &actions[..3],
        ["resolve_source", "preflight", "create_security_group"]
    );
    let preflight = &doc["actions"][1];
    assert_eq!(preflight["share_accounts"][0], "111122223333");
    let checks: Vec<(&str, &str)> = preflight["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["region"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("ami_name_free", "us-east-1"),
            ("ami_name_free", "us-west-2"),
            ("region_enabled", "us-west-2"),
            ("key", "us-east-1"),
            ("key", "us-west-2")
        ]
    );
    assert_eq!(preflight["checks"][3]["key"], "alias/golden");
    assert_eq!(preflight["checks"][3]["setting"], "builder.kms_key_id");
    assert_eq!(preflight["checks"][4]["shared"], true);

    let mut args = vec![OsStr::new("plan"), recipe.as_os_str()];
    args.extend(flags.iter().map(OsStr::new));
    let text = stdout(&amibake(args));
    assert!(
        text.contains("preflight: the image name, copies, shares and keys"),
        "{text}"
    );
    assert!(text.contains("kms:GetKeyPolicy, kms:ListGrants"), "{text}");
    assert!(
        text.contains("check: alias/golden (image.kms_key_id) exists in us-west-2, is enabled and symmetric, and every share target may use it"),
        "{text}"
    );

    // What is known offline costs no call: a default region is enabled in every account,
    // and a copy that names no key and is not shared has no key of the recipe's to check.
    let keyless = write_file(
        tmp.path(),
        "keyless.yaml",
        "name: keyless\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { iam_instance_profile: amibake-builder }\nsteps:\n  - shell: echo hi\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n  copy_to: [us-west-2, me-south-1]\n",
    );
    let doc = plan_json([&keyless]);
    let checks: Vec<(&str, bool)> = doc["actions"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "region_enabled")
        .map(|c| (c["region"].as_str().unwrap(), c["by_default"] == true))
        .collect();
    assert_eq!(checks, [("us-west-2", true), ("me-south-1", false)]);

    // Without copies or shares, the builder's key is still checked at home...
    let doc = plan_json([&recipe]);
    let checks: Vec<&Value> = doc["actions"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] != "ami_name_free")
        .collect();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["check"], "key");
    assert_eq!(checks[0]["key"], "alias/golden");
    assert_eq!(checks[0]["region"], "us-east-1");

    // ...and a recipe that names no key, copies and shares nothing has only its AMI name
    // to check, at home.
    let plain = write_file(
        tmp.path(),
        "plain.yaml",
        "name: plain\nsource: { ami: ami-0123456789abcdef0 }\nbuilder: { iam_instance_profile: amibake-builder }\nsteps:\n  - shell: echo hi\nimage:\n  name: \"{{ recipe }}-{{ timestamp }}\"\n",
    );
    let doc = plan_json([&plain]);
    let checks = doc["actions"][1]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["check"], "ami_name_free");
    assert_eq!(checks[0]["region"], "us-east-1");
}
