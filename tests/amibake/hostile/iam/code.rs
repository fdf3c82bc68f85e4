//! What the code calls: every `.operation(` in src/ whose name is an operation of an AWS
//! SDK crate the file uses, named as IAM names it.

use super::read;
use crate::support::emulator;

/// The SDK crates amibake may call: crate, IAM prefix, how a file gets its client.
const SERVICES: &[(&str, &str, &str)] = &[
    ("aws-sdk-ec2", "ec2", ".ec2("),
    ("aws-sdk-ssm", "ssm", ".ssm("),
    ("aws-sdk-cloudformation", "cloudformation", ".cfn("),
    ("aws-sdk-autoscaling", "autoscaling", ".asg("),
    ("aws-sdk-kms", "kms", ".kms("),
    ("aws-sdk-inspector2", "inspector2", ".inspector("),
    ("aws-sdk-sts", "sts", ".sts("),
];

/// The SDK crate's source directory, from Cargo.lock's version and cargo's registry.
fn sdk_crate_dir(krate: &str) -> std::path::PathBuf {
    let lock = read(&emulator::repo("Cargo.lock"));
    let name_line = format!("name = \"{krate}\"");
    let version = lock
        .split("[[package]]")
        .find(|p| p.lines().any(|l| l.trim() == name_line))
        .and_then(|p| p.lines().find_map(|l| l.trim().strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{krate} is not in Cargo.lock"));
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
        .expect("CARGO_HOME or HOME set");
    let registry = home.join("registry").join("src");
    let dir = std::fs::read_dir(&registry)
        .into_iter()
        .flatten()
        .flatten()
        .map(|index| index.path().join(format!("{krate}-{version}")))
        .find(|d| d.join("src").join("operation").is_dir());
    dir.unwrap_or_else(|| {
        panic!(
            "{krate} {version} sources not found under {}: run `cargo fetch --locked` (the IAM test reads the SDK's operation names)",
            registry.display()
        )
    })
}

/// The SDK crate's operations: method name (`describe_images`) → IAM name
/// (`DescribeImages`, the operation struct of `src/operation/describe_images.rs`).
fn sdk_operations(krate: &str) -> std::collections::BTreeMap<String, String> {
    let ops = sdk_crate_dir(krate).join("src").join("operation");
    let mut found = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&ops).expect("operation dir").flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let method = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = read(&path);
        let name = text
            .split("pub struct ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_alphanumeric()).next())
            .unwrap_or_else(|| panic!("no operation struct in {}", path.display()));
        found.insert(method, name.to_string());
    }
    assert!(!found.is_empty(), "no operations in {}", ops.display());
    found
}

/// Every Rust file under `dir`, recursively.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A source file's non-test code without `//` comments.
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The method names called in `code` (`.name(`).
fn method_calls(code: &str) -> std::collections::BTreeSet<String> {
    let mut calls = std::collections::BTreeSet::new();
    for (i, _) in code.match_indices('.') {
        let rest = &code[i + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with('(') {
            calls.insert(name);
        }
    }
    calls
}

/// Every AWS call in src/, as `prefix:Operation`, with the files that make it.
pub(super) fn code_calls() -> std::collections::BTreeMap<String, Vec<String>> {
    let services: Vec<_> = SERVICES
        .iter()
        .filter(|(krate, ..)| {
            read(&emulator::repo("Cargo.lock")).contains(&format!("name = \"{krate}\""))
        })
        .map(|(krate, prefix, accessor)| {
            (
                krate.replace('-', "_"),
                *prefix,
                *accessor,
                sdk_operations(krate),
            )
        })
        .collect();
    let mut files = Vec::new();
    rust_files(&emulator::repo("src"), &mut files);
    files.sort();
    let mut calls: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in files {
        if file
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("_tests.rs"))
        {
            continue;
        }
        let code = code_of(&read(&file));
        let shown = file
            .strip_prefix(emulator::repo(""))
            .unwrap_or(&file)
            .display()
            .to_string();
        for (krate, prefix, accessor, ops) in &services {
            if !code.contains(krate.as_str()) && !code.contains(accessor) {
                continue;
            }
            for method in method_calls(&code) {
                if let Some(op) = ops.get(&method) {
                    calls
                        .entry(format!("{prefix}:{op}"))
                        .or_default()
                        .push(shown.clone());
                }
            }
        }
    }
    calls
}
