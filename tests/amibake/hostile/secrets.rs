//! Masking in every form amibake derives from a secret, and files that hold values. See
//! tests/amibake/hostile/mod.rs.

use serde_json::Value;

use crate::support::cli::*;

/// A secret with every character some escaping changes: quotes, `%`, a backslash, a space.
const SECRET: &str = r#"pa'ss"w%rd\x 9"#;

/// A recipe that puts the secret var `token` where amibake escapes or quotes it.
fn recipe(steps: &str) -> String {
    format!(
        "name: hostile-secrets\n\
         vars:\n  token: {{ secret: true }}\n\
         source: {{ ami: ami-0123456789abcdef0 }}\n\
         builder:\n  os: debian\n  iam_instance_profile: amibake-builder\n\
         steps:\n{steps}\
         image: {{ name: \"hostile-secrets-{{{{ timestamp }}}}\" }}\n"
    )
}

/// `amibake [--json] plan` of `text` with the secret given as AMIBAKE_VAR_token.
fn plan(text: &str, json: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "recipe.yaml", text);
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(ROOT).env("AMIBAKE_VAR_token", SECRET);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.arg("plan").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "plan failed:\n{}", stderr(&out));
    stdout(&out) + &stderr(&out)
}

/// `amibake --json plan` of `text` with the secret given, as JSON.
fn plan_json(text: &str) -> Value {
    let out = plan(text, true);
    serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("plan --json prints JSON:\n{out}"))
}

/// The forms of SECRET amibake's own escaping makes, by name.
fn derived_forms() -> Vec<(&'static str, String)> {
    vec![
        ("raw", SECRET.to_string()),
        (
            "systemd-escaped",
            SECRET
                .replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('%', "%%"),
        ),
        ("shell-quoted", SECRET.replace('\'', r"'\''")),
        ("JSON-escaped", {
            let s = serde_json::to_string(SECRET).unwrap();
            s[1..s.len() - 1].to_string()
        }),
    ]
}

const STEPS: &str = "  - systemd_override:\n      unit: app.service\n      environment:\n        TOKEN: >-\n          {{ token }}\n  - file:\n      path: >-\n        /etc/app/{{ token }}.env\n      content: x\n";

#[test]
fn plan_shows_no_escaped_quoted_or_json_form_of_a_secret() {
    for json in [false, true] {
        let out = plan(&recipe(STEPS), json);
        for (what, form) in derived_forms() {
            assert!(
                !out.contains(&form),
                "plan{} shows the {what} form of the secret ({form}):\n{out}",
                if json { " --json" } else { "" }
            );
        }
        // Nor any long enough piece of it: `pa'ss` alone is a leak too.
        assert!(
            !out.contains("pa'\\''ss") && !out.contains("ss\\\"w"),
            "plan shows a piece of the secret:\n{out}"
        );
        assert!(
            out.contains("***"),
            "the secret is masked, not dropped:\n{out}"
        );
    }
}

#[test]
fn a_drop_in_holding_environment_values_is_written_0600() {
    let plan = plan_json(&recipe(STEPS));
    let script = plan["steps"][0]["command"]["script"]["display"]
        .as_str()
        .unwrap();
    assert!(
        script.contains("chmod 0600 \"$tmp\"") && !script.contains("chmod 0644"),
        "the drop-in with Environment= must not be world-readable:\n{script}"
    );
}

#[test]
fn a_file_whose_content_holds_a_secret_is_0600_unless_the_recipe_gives_a_mode() {
    let steps = "  - file:\n      path: /etc/app/app.env\n      content: |\n        TOKEN={{ token }}\n  - file:\n      path: /etc/app/public.env\n      mode: \"0644\"\n      content: |\n        TOKEN={{ token }}\n  - file:\n      path: /etc/app/plain.env\n      content: \"A=1\"\n";
    let plan = plan_json(&recipe(steps));
    let script = |i: usize| {
        plan["steps"][i]["command"]["script"]["display"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        script(0).contains("chmod 0600 \"$tmp\""),
        "secret content, no mode given: 0600\n{}",
        script(0)
    );
    assert!(
        script(1).contains("chmod 0644 \"$tmp\""),
        "the recipe asked for 0644\n{}",
        script(1)
    );
    assert!(
        script(2).contains("chmod 0644 \"$tmp\""),
        "no secret, no mode: the documented default 0644\n{}",
        script(2)
    );
}
