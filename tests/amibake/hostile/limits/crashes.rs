//! No input crashes `validate` or `plan`, or takes more than a bounded amount of memory.

use std::path::Path;
use std::process::{Command, Output};

use super::recipe_with;
use crate::support::cli::{BIN, ROOT, stderr, write_file};

/// The address-space limit each child runs under: a blow-up fails the test, not the
/// machine.
const MEMORY_KB: u64 = 1024 * 1024;

/// Runs amibake with `args` under `ulimit -v` [`MEMORY_KB`].
fn bounded_amibake(args: &[&std::ffi::OsStr]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.current_dir(ROOT)
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KB} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AMIBAKE_VAR_") {
            cmd.env_remove(&key);
        }
    }
    cmd.output().expect("sh runs")
}

/// `None` when `out` is a clean exit 0 or 2, else what went wrong.
fn crashed(out: &Output) -> Option<String> {
    use std::os::unix::process::ExitStatusExt as _;
    match out.status.code() {
        Some(0 | 2) => None,
        Some(code) => Some(format!("exit {code}: {}", tail(&stderr(out)))),
        None => Some(format!(
            "killed by signal {:?}: {}",
            out.status.signal(),
            tail(&stderr(out))
        )),
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(6)..].join("\n")
}

/// Hostile values for every kind of scalar a recipe holds.
fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "99999999999999999999999999999999999999",
        "1e300",
        "-1e300",
        ".nan",
        ".inf",
        "-.inf",
        "NaN",
        "-0",
        "0x7fffffffffffffff",
        "0o777777777777777777777",
        "18446744073709551615s",
        "18446744073709551615d",
        "99999999999999999999w",
        "1s1s1s1s1s1s1s1s1s1s1s",
        "\"\\0\"",
        "\"a\\0b\"",
        "\"\\u202e\\u0000\\ud7ff\"",
        "\"🦀🦀🦀\"",
        "\"\\r\\n\\t\\u001b[31m\"",
        "~",
        "[]",
        "{}",
        "!!binary AAAA",
        "&a [*a]",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    values.push(format!("\"{}\"", "x".repeat(200_000)));
    values.push(format!("{}1", "9".repeat(10_000)));
    values.push(format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)));
    values.push(format!("{}{}", "{a: ".repeat(5_000), "}".repeat(5_000)));
    values
}

/// Every key of the base recipe that holds a scalar, with the hostile `value` put there.
fn hostile_recipes(value: &str) -> Vec<String> {
    let places = [
        (format!("  ready_timeout: {value}"), "", ""),
        (format!("  volume_size_gb: {value}"), "", ""),
        (format!("  volume_type: {value}"), "", ""),
        (format!("  instance_type: {value}"), "", ""),
        (String::new(), "timeout", ""),
        (String::new(), "retries", ""),
        (String::new(), "", "deprecate_after"),
        (String::new(), "", "description"),
    ];
    places
        .into_iter()
        .map(|(builder, step_key, image_key)| {
            let step = if step_key.is_empty() {
                String::new()
            } else {
                format!("    {step_key}: {value}")
            };
            let image = if image_key.is_empty() {
                String::new()
            } else {
                format!("  {image_key}: {value}")
            };
            recipe_with(&builder, &step, &image)
        })
        .chain([
            format!("name: {value}\n"),
            format!("{value}\n"),
            recipe_with("", &format!("    shell: {value}"), ""),
        ])
        .collect()
}

#[test]
fn no_broken_or_hostile_recipe_crashes_validate_or_plan_or_blows_up_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir(Path::new(ROOT).join("tests/broken"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    files.sort();
    for (i, value) in hostile_values().iter().enumerate() {
        for (j, recipe) in hostile_recipes(value).iter().enumerate() {
            files.push(write_file(
                dir.path(),
                &format!("hostile-{i:02}-{j:02}.yaml"),
                recipe,
            ));
        }
    }
    files.push(write_file(
        dir.path(),
        "nul-bytes.yaml",
        b"name: a\0b\n\0\0\0",
    ));
    files.push(write_file(
        dir.path(),
        "not-utf8.yaml",
        [0xff, 0xfe, b'\n', 0xc3],
    ));

    let mut failures = Vec::new();
    for file in &files {
        for command in ["validate", "plan"] {
            let out = bounded_amibake(&[command.as_ref(), file.as_os_str()]);
            if let Some(why) = crashed(&out) {
                let shown = std::fs::read_to_string(file)
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect::<String>();
                failures.push(format!(
                    "{command} {}: {why}\n--- recipe:\n{shown}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs crashed:\n\n{}",
        failures.len(),
        files.len() * 2,
        failures.join("\n\n")
    );
}

#[test]
fn a_hostile_var_value_crashes_neither_validate_nor_plan() {
    let mut failures = Vec::new();
    // A single argument is at most 128 KiB on Linux.
    for value in hostile_values().into_iter().filter(|v| v.len() < 100_000) {
        let var = format!("x={value}");
        for command in ["validate", "plan"] {
            let args = [
                command.as_ref(),
                "--var".as_ref(),
                var.as_ref(),
                crate::support::cli::AL2023.as_ref(),
            ];
            let out = bounded_amibake(&args);
            if let Some(why) = crashed(&out) {
                failures.push(format!("{command} --var {:.80}: {why}", var));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_children_run_under_the_memory_limit() {
    // The guard itself: what the other tests' children run under.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KB} && ulimit -v"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        MEMORY_KB.to_string()
    );
}
