//! Limits: every duration, size and count is checked at `validate` against AWS's own
//! limits (here); a wait history (the state directory's `timings.json`, the account's
//! SSM parameter) is untrusted input whose bad windows are ignored with a warning
//! (`wait_history`); and no input crashes `validate` or `plan` or blows up their memory
//! (`crashes`). See tests/amibake/hostile/mod.rs.

mod crashes;
mod wait_history;

use crate::support::cli::{amibake, expect_exit, stderr, write_file};

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
    expect_exit(&out, 0);
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
