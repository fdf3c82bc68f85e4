//! `amibake generate` and `amibake --version`: what the release tarballs carry (completions,
//! the man page) is well-formed and covers every command; the version names the build.

use crate::support::cli;

use std::io::Write;
use std::process::{Command, Stdio};

use cli::*;

/// The visible subcommands, as `amibake --help` lists them.
const SUBCOMMANDS: &[&str] = &[
    "validate", "plan", "bake", "sweep", "prune", "roll", "rollback", "promote",
];

/// Runs `amibake generate WHAT`, asserting exit 0 and empty stderr; returns stdout.
fn generate(what: &str) -> String {
    let out = amibake(["generate", what]);
    assert!(out.status.success(), "generate {what}: {}", stderr(&out));
    assert_eq!(stderr(&out), "", "generate {what} wrote to stderr");
    stdout(&out)
}

#[test]
fn bash_completion_parses_and_completes_every_subcommand() {
    let script = generate("complete-bash");
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash is needed to check the completion script (bash -n); install bash");
    bash.stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write to bash");
    let out = bash.wait_with_output().expect("bash runs");
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        script.contains("complete -F _amibake"),
        "no `complete` line"
    );
    for sub in SUBCOMMANDS {
        assert!(
            script.contains(&format!("amibake__subcmd__{sub})")),
            "bash: no case for {sub}"
        );
    }
}

#[test]
fn zsh_completion_is_a_compdef_function_naming_every_subcommand() {
    let script = generate("complete-zsh");
    assert!(
        script.starts_with("#compdef amibake\n"),
        "zsh: no #compdef header"
    );
    assert!(script.contains("_amibake()"), "zsh: no _amibake function");
    for sub in SUBCOMMANDS {
        assert!(
            script.contains(&format!("'{sub}:")),
            "zsh: {sub} not offered"
        );
    }
}

#[test]
fn fish_completion_offers_every_subcommand() {
    let script = generate("complete-fish");
    for sub in SUBCOMMANDS {
        assert!(
            script.contains(&format!("-f -a \"{sub}\"")),
            "fish: {sub} not offered"
        );
    }
    for line in script.lines().filter(|l| l.starts_with("complete")) {
        assert!(
            line.starts_with("complete -c amibake "),
            "fish: stray line {line}"
        );
    }
}

#[test]
fn man_page_starts_with_th_and_has_a_section_per_subcommand() {
    let page = generate("man");
    let first_macro = page
        .lines()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .unwrap_or_default();
    assert!(
        first_macro.starts_with(".TH amibake 1 "),
        "first macro: {first_macro}"
    );
    for section in ["NAME", "SYNOPSIS", "OPTIONS", "SUBCOMMANDS"] {
        assert!(
            page.contains(&format!("\n.SH {section}\n")),
            "no {section} section"
        );
    }
    for sub in SUBCOMMANDS {
        let heading = format!("\n.SH \"AMIBAKE {}\"\n", sub.to_uppercase());
        assert!(page.contains(&heading), "man: no section for {sub}");
    }
    assert!(
        !page.contains("generate"),
        "man page names the hidden generate"
    );
}

#[test]
fn unknown_artifact_is_a_usage_error() {
    let out = amibake(["generate", "complete-powershell"]);
    expect_exit(&out, 2);
    assert!(stderr(&out).contains("complete-bash"), "{}", stderr(&out));
}

#[test]
fn version_names_the_commit_when_built_from_git() {
    let out = amibake(["--version"]);
    assert!(out.status.success());
    let line = stdout(&out);
    let pkg = format!("amibake {}", env!("CARGO_PKG_VERSION"));
    let git = Command::new("git")
        .args(["log", "-1", "--format=%h %cs"])
        .current_dir(ROOT)
        .output()
        .expect("git is needed to check the commit in --version; install git");
    assert!(
        git.status.success(),
        "this check needs the git checkout amibake was built from"
    );
    let commit = String::from_utf8_lossy(&git.stdout).trim().to_string();
    assert_eq!(line, format!("{pkg} ({commit})\n"));
}
