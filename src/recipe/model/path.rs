//! Values that become paths or lines of a unit file on the builder: a `file` step's
//! path, a drop-in's name, an environment variable's name and value.
//!
//! Each is checked while the YAML is read (`try_from = "String"`), so `validate` points at
//! the scalar at fault and says the fix. A path is absolute and normalised (what is
//! written is what the recipe says, never `..` climbing elsewhere); a drop-in is a plain
//! `NAME.conf` in its unit's own directory (systemd ignores any other name); nothing holds
//! a control character (systemd ends a line at `\n`, `\r` and NUL, and a terminal obeys
//! escape sequences). Messages show a value through [`printable`], never raw.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

/// Longest path Linux takes (`PATH_MAX` with its NUL).
const MAX_PATH_BYTES: usize = 4095;
/// Longest file name Linux takes (`NAME_MAX`).
const MAX_NAME_BYTES: usize = 255;
/// Longest environment value: systemd reads unit lines up to 1 MB, and an escaped
/// character takes up to 4 bytes.
pub const MAX_ENV_VALUE_BYTES: usize = 64 * 1024;

/// Whether `c` must never appear raw in a unit file, a script line or a message: C0 and
/// C1 controls, DEL, the Unicode line and paragraph separators and the bidirectional
/// overrides (text that reads differently from what runs).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

/// `s` with every [`is_unsafe_char`] written as an escape (`\n`, `\r`, `\t`, `\0`,
/// `\u{85}`): one visible line, whatever the value holds.
pub fn printable(s: &str) -> String {
    if !s.contains(is_unsafe_char) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            '\0' => out.push_str(r"\0"),
            c if is_unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

use crate::recipe::types::checked_string as checked;

checked!(
    /// A file the builder writes: absolute, normalised (no `.` or `..` segment, no `//`,
    /// no trailing `/`), not `/` itself, no control characters, within Linux's limits.
    FilePath,
    check_file_path
);
checked!(
    /// A drop-in file name: a plain `NAME.conf` (letters, digits, `._@+-`; no `/`; not
    /// hidden), which systemd reads from the unit's own `.d` directory.
    DropInName,
    check_drop_in
);
checked!(
    /// An environment variable name: letters, digits and `_`, not starting with a digit.
    EnvName,
    check_env_name
);
checked!(
    /// An environment variable value: anything but NUL (no environment can carry one),
    /// up to [`MAX_ENV_VALUE_BYTES`]. Escaped for systemd when written.
    EnvValue,
    check_env_value
);

impl FilePath {
    /// Every directory above the file, outermost first, `/` excluded:
    /// `/etc/app/app.env` → `/etc`, `/etc/app`.
    pub fn parents(&self) -> Vec<&str> {
        self.0
            .match_indices('/')
            .skip(1)
            .map(|(i, _)| &self.0[..i])
            .collect()
    }

    /// The directory the file is in (`/` for a file at the root).
    pub fn dir(&self) -> &str {
        match self.0.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &self.0[..i],
        }
    }
}

/// `path` with `.`, `..`, empty segments and a trailing `/` resolved the way the kernel
/// would (`..` at the root stays at the root).
fn normalised(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn check_file_path(s: &str) -> Result<(), String> {
    let shown = printable(s);
    if let Some(c) = s.chars().find(|c| is_unsafe_char(*c)) {
        return Err(format!(
            "invalid path `{shown}`: it holds the control character `{}`, which would end or \
             disguise a line: write the path without control characters",
            printable(&c.to_string())
        ));
    }
    if !s.starts_with('/') {
        return Err(format!(
            "invalid path `{shown}`: expected an absolute path (starting with `/`) like `/etc/app.env`"
        ));
    }
    let clean = normalised(s);
    if clean == "/" {
        return Err(format!(
            "invalid path `{shown}`: expected a file, like `/etc/app.env`, not the root directory"
        ));
    }
    if clean != s {
        return Err(format!(
            "invalid path `{shown}`: not normalised (a `.` or `..` segment, `//` or a trailing \
             `/`): write `{clean}`"
        ));
    }
    if s.len() > MAX_PATH_BYTES {
        return Err(format!(
            "invalid path: {} bytes long: expected at most {MAX_PATH_BYTES} (Linux's limit)",
            s.len()
        ));
    }
    if let Some(long) = s.split('/').find(|p| p.len() > MAX_NAME_BYTES) {
        return Err(format!(
            "invalid path `{shown}`: the name `{long}` is {} bytes long: expected at most \
             {MAX_NAME_BYTES} (Linux's limit)",
            long.len()
        ));
    }
    Ok(())
}

fn check_drop_in(s: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "invalid drop_in `{}`: {why}: expected a plain name like `50-amibake.conf`",
            printable(s)
        ))
    };
    if s.contains('/') {
        return bad(
            "a drop-in is a file name, with no `/` (it is written in the unit's own `.d` directory)",
        );
    }
    if !s.ends_with(".conf") {
        return bad("systemd reads only drop-ins whose names end in `.conf`");
    }
    if s.starts_with(['.', '-']) {
        return bad(
            "a name may not start with `.` or `-` (systemd ignores hidden files) and needs a name before `.conf`",
        );
    }
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b));
    if !plain || s.len() > MAX_NAME_BYTES {
        return bad(&format!(
            "only letters, digits and `._@+-`, at most {MAX_NAME_BYTES} of them"
        ));
    }
    Ok(())
}

fn check_env_name(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        return Ok(());
    }
    Err(format!(
        "invalid environment variable name `{}`: expected letters, digits and `_`, not \
         starting with a digit, like `JAVA_OPTS`",
        printable(s)
    ))
}

fn check_env_value(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err(format!(
            "invalid environment value `{}`: it holds a NUL character, which no environment \
             can carry: remove it",
            printable(s)
        ));
    }
    if s.len() > MAX_ENV_VALUE_BYTES {
        return Err(format!(
            "environment value of {} bytes: expected at most {MAX_ENV_VALUE_BYTES}; ship large \
             data with a `file` step and point the variable at it",
            s.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Result<FilePath, String> {
        FilePath::try_from(s.to_string())
    }

    #[test]
    fn paths_are_absolute_and_normalised_with_the_fix_in_the_message() {
        assert!(path("/etc/app.env").is_ok());
        assert!(path("/etc/app with space/x'y\"%.env").is_ok());
        for (bad, fix) in [
            ("/etc/../root/x", "write `/root/x`"),
            ("/etc//x", "write `/etc/x`"),
            ("/etc/./x", "write `/etc/x`"),
            ("/etc/x/", "write `/etc/x`"),
            ("etc/x", "absolute"),
            ("/", "root directory"),
            ("/../..", "root directory"),
            ("", "absolute"),
            ("/etc/x\r", "control character `\\r`"),
            ("/etc/\u{202e}x", "control character `\\u{202e}`"),
        ] {
            let err = path(bad).expect_err(bad);
            assert!(err.contains(fix), "{bad:?}: {err}");
            assert!(!err.contains(['\r', '\u{202e}']), "{bad:?}: {err:?}");
        }
        assert!(path(&format!("/{}", "a".repeat(256))).is_err());
        assert!(path(&"/aaaaaaaa".repeat(512)).is_err());
    }

    #[test]
    fn parents_are_every_directory_above_the_file() {
        let p = path("/etc/app/conf.d/x.env").unwrap();
        assert_eq!(p.parents(), ["/etc", "/etc/app", "/etc/app/conf.d"]);
        assert_eq!(p.dir(), "/etc/app/conf.d");
        let top = path("/x.env").unwrap();
        assert!(top.parents().is_empty());
        assert_eq!(top.dir(), "/");
    }

    #[test]
    fn drop_ins_are_plain_conf_names() {
        let ok = |s: &str| DropInName::try_from(s.to_string()).is_ok();
        assert!(ok("50-amibake.conf") && ok("override.conf") && ok("a@b+c.conf"));
        for bad in [
            "../x.conf",
            "a/b.conf",
            "x",
            "x.conf.bak",
            ".x.conf",
            ".conf",
            "-x.conf",
            "x\n.conf",
            "x y.conf",
            "",
        ] {
            assert!(!ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn environment_names_and_values() {
        let name = |s: &str| EnvName::try_from(s.to_string()).is_ok();
        assert!(name("JAVA_OPTS") && name("_x1"));
        assert!(!name("1A") && !name("A=B") && !name("A B") && !name("") && !name("A\r"));
        let value = |s: &str| EnvValue::try_from(s.to_string()).is_ok();
        assert!(value("") && value("a\r\nb \" % \\"));
        assert!(!value("a\0b") && !value(&"x".repeat(MAX_ENV_VALUE_BYTES + 1)));
    }

    #[test]
    fn printable_escapes_every_unsafe_character() {
        assert_eq!(printable("plain text"), "plain text");
        assert_eq!(printable("a\r\n\t\0b"), r"a\r\n\t\0b");
        assert_eq!(
            printable("\u{1b}[2J\u{85}\u{2028}"),
            r"\u{1b}[2J\u{85}\u{2028}"
        );
        assert!(!printable("\u{7f}\u{9b}\u{202e}").contains(is_unsafe_char));
    }
}
