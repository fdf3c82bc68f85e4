//! Limits: every duration, size and count is checked at `validate` against AWS's own
//! limits; a wait history (the state directory's `timings.json`, the account's SSM
//! parameter) is untrusted input whose bad windows are ignored with a warning; and no
//! input crashes `validate` or `plan` or blows up their memory. See tests/amibake/hostile/mod.rs.

use std::path::Path;
use std::process::{Command, Output};

use amibake::aws::history::account::DEFAULT_PREFIX;
use amibake::bake::{Bake, BakeOptions, InAccount, OnError, WaitHistory};
use amibake::journal::Journal;
use amibake::plan::{Overrides, Plan};
use amibake::recipe::{self, MissingSecrets, VarInputs};
use aws_smithy_mocks::mock;

use crate::support::bake_mocks::{self as mocks, HOME, Mocks, ONE_STEP, RUN_ID};
use crate::support::cli::{BIN, ROOT, amibake, stderr, write_file};

// ---------------------------------------------------------------------------------------
// validate: each limit refused at its place, with the limit in the message

/// A valid recipe with lines added to the builder (from line 6), after the step (from
/// line 10) and to the image (from line 13 when nothing was added before): the only
/// error is the one a case puts there.
fn recipe_with(builder_extra: &str, step_extra: &str, image_extra: &str) -> String {
    format!(
        "name: web-limits
source:
  ami: ami-0123456789abcdef0
builder:
  iam_instance_profile: amibake-builder
{builder_extra}
steps:
  - name: provision
    shell: echo ok
{step_extra}
image:
  name: \"{{{{ recipe }}}}-{{{{ timestamp }}}}\"
{image_extra}
"
    )
}

struct Refused {
    what: &'static str,
    recipe: String,
    /// `LINE:COL` of the value at fault.
    at: &'static str,
    says: &'static str,
}

fn refused_cases() -> Vec<Refused> {
    vec![
        Refused {
            what: "a step timeout of 2^64-1 seconds",
            recipe: recipe_with("", "    timeout: 18446744073709551615s", ""),
            at: "10:14",
            says: "at most 48h",
        },
        Refused {
            what: "a step timeout past SSM's 48 h executionTimeout",
            recipe: recipe_with("", "    timeout: 48h1s", ""),
            at: "10:14",
            says: "SSM",
        },
        Refused {
            what: "a check timeout past 48 h",
            recipe: recipe_with(
                "",
                "validate:\n  - name: up\n    run: \"true\"\n    timeout: 3d",
                "",
            ),
            at: "13:14",
            says: "at most 48h",
        },
        Refused {
            what: "a builder ready_timeout past 48 h",
            recipe: recipe_with("  ready_timeout: 100d", "", ""),
            at: "6:18",
            says: "at most 48h",
        },
        Refused {
            what: "a deprecate_after of billions of days",
            recipe: recipe_with("", "", "  deprecate_after: 5000000000d"),
            at: "13:20",
            says: "at most 3650d",
        },
        Refused {
            what: "a deprecate_after past EC2's 10 years",
            recipe: recipe_with("", "", "  deprecate_after: 3651d"),
            at: "13:20",
            says: "10 years",
        },
        Refused {
            what: "a volume of 2^32-1 GiB",
            recipe: recipe_with("  volume_size_gb: 4294967295", "", ""),
            at: "6:19",
            says: "16384",
        },
        Refused {
            what: "a volume of 0 GiB",
            recipe: recipe_with("  volume_size_gb: 0", "", ""),
            at: "6:19",
            says: "1 to 16384",
        },
        Refused {
            what: "a negative volume size",
            recipe: recipe_with("  volume_size_gb: -1", "", ""),
            at: "6:19",
            says: "1 to 16384",
        },
        Refused {
            what: "a volume type EC2 cannot boot from",
            recipe: recipe_with("  volume_type: st1", "", ""),
            at: "6:16",
            says: "gp3",
        },
        Refused {
            what: "a magnetic volume past its 1024 GiB",
            recipe: recipe_with("  volume_type: standard\n  volume_size_gb: 2000", "", ""),
            at: "7:3",
            says: "1024",
        },
    ]
}

#[test]
fn validate_refuses_each_duration_and_size_beyond_aws_limits_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in refused_cases() {
        let path = write_file(dir.path(), "recipe.yaml", &case.recipe);
        let out = amibake(["validate".as_ref(), path.as_os_str()]);
        let err = stderr(&out);
        let place = format!("recipe.yaml:{}:", case.at);
        if out.status.code() != Some(2) || !err.contains(&place) || !err.contains(case.says) {
            failures.push(format!(
                "{}: expected exit 2 at {place} saying {:?}; got {:?}:\n{err}",
                case.what,
                case.says,
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn validate_accepts_the_largest_values_aws_allows() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(
        "  ready_timeout: 48h\n  volume_size_gb: 16384",
        "    timeout: 2d\nvalidate:\n  - name: up\n    run: \"true\"\n    timeout: 172800s",
        "  deprecate_after: 3650d",
    );
    let path = write_file(dir.path(), "recipe.yaml", &recipe);
    let out = amibake(["validate".as_ref(), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------
// A poisoned wait history: ignored with a warning, and the bake goes on cold

/// Windows no wait could have taken, each kind in its own bake: the first made
/// `Duration::from_secs_f64` panic in the middle of a bake.
const POISONS: [(&str, &str); 5] = [
    ("huge", r#"{"lo": 1e300, "hi": 1e300}"#),
    ("huge hi", r#"{"lo": 0.0, "hi": 1.7976931348623157e308}"#),
    ("negative", r#"{"lo": -5.0, "hi": -1.0}"#),
    ("inverted", r#"{"lo": 9.0, "hi": 2.0}"#),
    ("u64 max", r#"{"lo": 0.0, "hi": 18446744073709551615.0}"#),
];

/// The wait-history keys a mocked bake of [`ONE_STEP`] asks about: learned by baking once.
async fn keys_a_bake_waits_on() -> Vec<String> {
    let mocks = Mocks::new();
    let reporter = mocks::reporter();
    let dir = tempfile::tempdir().unwrap();
    let history = std::sync::Arc::new(amibake::aws::history::History::in_memory());
    let bake = bake_with(mocks.aws(), &reporter, dir.path(), history.clone()).await;
    bake.run().await.expect("a clean bake");
    bake.cleanup(false).await;
    let keys: Vec<String> = history.learned().into_keys().collect();
    assert!(keys.len() >= 3, "the bake learned its waits: {keys:?}");
    keys
}

/// A bake of [`ONE_STEP`] as `mocks::bake` makes it, but waiting on `history`.
async fn bake_with<'a>(
    aws: amibake::aws::Aws,
    reporter: &'a amibake::report::Reporter,
    dir: &Path,
    history: std::sync::Arc<amibake::aws::history::History>,
) -> Bake<'a> {
    let path = dir.join("recipe.yaml");
    std::fs::write(&path, ONE_STEP).unwrap();
    let loaded = recipe::load(
        &path,
        &VarInputs::default(),
        &amibake::run::builtins(HOME),
        MissingSecrets::Error,
    )
    .expect("the test recipe loads");
    let plan = Plan::new(&loaded, HOME, RUN_ID, &Overrides::default());
    let journal = Journal::create(dir, RUN_ID, &plan.recipe, HOME)
        .await
        .unwrap();
    let options = BakeOptions {
        on_error: OnError::Cleanup,
        poll_scale: 1.0,
        verbose: false,
        history,
    };
    Bake::new(aws, plan, loaded.stable_text, reporter, journal, options)
}

fn poisoned_history(keys: &[String], window: &str) -> String {
    let waits: Vec<String> = keys.iter().map(|k| format!("{k:?}: {window}")).collect();
    format!(r#"{{"version": 1, "waits": {{{}}}}}"#, waits.join(", "))
}

/// Runs the bake (then its cleanup) in a task of its own, so a panic is a failed
/// assertion naming the poison, not a crashed test.
async fn bake_survives(mocks: &Mocks, waits: WaitHistory, dir: &Path, what: &str) {
    // The bake borrows its reporter; a task needs what it holds for good.
    let reporter: &'static amibake::report::Reporter = Box::leak(Box::new(mocks::reporter()));
    let bake = bake_with(mocks.aws(), reporter, dir, waits.history.clone()).await;
    let local = tokio::task::LocalSet::new();
    let task = async move {
        let result = bake.run().await.map(|_| ()).map_err(|e| e.to_string());
        bake.cleanup(false).await;
        result
    };
    let ran = local
        .run_until(async move { tokio::task::spawn_local(task).await })
        .await;
    match ran {
        Ok(result) => assert!(result.is_ok(), "{what}: the bake failed: {result:?}"),
        Err(e) => panic!("{what}: the bake panicked: {e}"),
    }
    let world = mocks.world();
    assert!(
        world
            .instances
            .values()
            .all(|s| s == "terminated" || s == "shutting-down"),
        "{what}: an instance was left: {:?}",
        world.instances
    );
}

fn warnings(reporter: &amibake::report::Reporter) -> Vec<String> {
    reporter
        .recorded()
        .text
        .into_iter()
        .filter(|l| l.contains("warning: wait history"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_poisoned_timings_json_is_ignored_with_a_warning_and_the_bake_succeeds() {
    let keys = keys_a_bake_waits_on().await;
    for (what, window) in POISONS {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(dir.path(), "timings.json", poisoned_history(&keys, window));
        let mocks = Mocks::new();
        let reporter = mocks::reporter();
        let waits = WaitHistory::open(file, &reporter);
        let said = warnings(&reporter);
        assert!(
            said.iter()
                .any(|l| l.contains("timings.json") && l.contains("ignored")),
            "{what}: no warning about the file: {said:?}"
        );
        bake_survives(&mocks, waits, dir.path(), what).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_poisoned_history_parameter_is_ignored_with_a_warning_and_the_bake_succeeds() {
    let keys = keys_a_bake_waits_on().await;
    for (what, window) in POISONS {
        let dir = tempfile::tempdir().unwrap();
        let value = poisoned_history(&keys, window);
        let get = mock!(aws_sdk_ssm::Client::get_parameter).then_output(move || {
            let parameter = aws_sdk_ssm::types::Parameter::builder()
                .name(format!("{DEFAULT_PREFIX}/mock-bake"))
                .value(value.clone())
                .build();
            aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
                .parameter(parameter)
                .build()
        });
        let mut mocks = Mocks::new();
        mocks.override_ssm(&get);
        let reporter = mocks::reporter();
        let waits = WaitHistory::open(dir.path().join("timings.json"), &reporter);
        let (aws, parameter) = (mocks.aws(), format!("{DEFAULT_PREFIX}/mock-bake"));
        let history = &waits.history;
        InAccount::read(
            &aws,
            aws.region(),
            &parameter,
            "mock-bake",
            history,
            &reporter,
        )
        .await;
        assert_eq!(get.num_calls(), 1, "{what}: the parameter was read");
        let said = warnings(&reporter);
        assert!(
            said.iter()
                .any(|l| l.contains("/amibake-wait-history/mock-bake") && l.contains("ignored")),
            "{what}: no warning about the parameter: {said:?}"
        );
        bake_survives(&mocks, waits, dir.path(), what).await;
    }
}

#[tokio::test]
async fn an_oversized_timings_json_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    // Eight MB of windows, where a history is a few kilobytes.
    let waits: Vec<String> = (0..200_000)
        .map(|i| {
            format!("\"ready:us-east-1:t3.small:al2023:{i:08}\": {{\"lo\": 1.0, \"hi\": 2.0}}")
        })
        .collect();
    let file = write_file(
        dir.path(),
        "timings.json",
        format!(r#"{{"version": 1, "waits": {{{}}}}}"#, waits.join(", ")),
    );
    let reporter = mocks::reporter();
    let opened = WaitHistory::open(file, &reporter);
    assert_eq!(
        opened
            .history
            .get("ready:us-east-1:t3.small:al2023:00000001"),
        None
    );
    let said = warnings(&reporter);
    assert!(
        said.iter()
            .any(|l| l.contains("timings.json") && l.contains("larger than")),
        "{said:?}"
    );
}

// ---------------------------------------------------------------------------------------
// No input crashes validate or plan, or takes more than a bounded amount of memory

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

// ---------------------------------------------------------------------------------------
// Arithmetic on durations from outside: bounded or checked

#[test]
fn a_hostile_poll_scale_from_the_environment_scales_nothing_out_of_range() {
    use amibake::aws::poll::Schedule;
    // `AMIBAKE_POLL_SCALE=inf` (or 1e300, NaN, -1) made `Duration::mul_f64` panic at the
    // first poll, after the builder existed.
    for factor in [f64::INFINITY, f64::NAN, -1.0, 0.0, 1e300, f64::MAX] {
        let scaled = Schedule::INSTANCE.scaled(factor);
        assert!(
            scaled.max <= Schedule::INSTANCE.max * 10 && !scaled.first.is_zero(),
            "{factor}: {scaled:?}"
        );
    }
    assert_eq!(
        Schedule::INSTANCE.scaled(0.5).first,
        Schedule::INSTANCE.first / 2
    );
}

#[test]
fn a_deadline_from_the_longest_timeout_is_a_valid_instant() {
    use amibake::recipe::types::Timeout;
    // Every wait's deadline is `start + timeout (+ 120 s of grace)`, the timeout a
    // `Timeout` (at most 48 h) or a constant: it cannot overflow.
    let longest = Timeout::from_secs(u64::MAX).get() + std::time::Duration::from_secs(120);
    assert!(std::time::Instant::now().checked_add(longest).is_some());
    assert!(tokio::time::Instant::now().checked_add(longest).is_some());
}
