//! Building a script and its display twin side by side: marker lines, quoting, and files
//! written atomically.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{MARKER, Script, one_line, quote};

/// The mode of a parent directory the `file` step creates (an existing one is left as is).
pub const PARENT_MODE: &str = "0755";
/// The owner of a parent directory the `file` step creates.
pub const PARENT_OWNER: &str = "root:root";

/// Builds a script and its display twin side by side.
pub(super) struct ScriptBuilder {
    text: String,
    display: String,
}

impl ScriptBuilder {
    pub(super) fn new(title: &str) -> Self {
        let header = format!(
            "#!/bin/bash\nset -euo pipefail\n# amibake step: {}\n",
            one_line(title)
        );
        Self {
            text: header.clone(),
            display: header,
        }
    }

    pub(super) fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        self.display.push_str(line);
        self.display.push('\n');
    }

    pub(super) fn lines(&mut self, lines: &[&str]) {
        lines.iter().for_each(|l| self.line(l));
    }

    /// A user's commands, verbatim.
    pub(super) fn raw(&mut self, body: &str) {
        self.line(body.trim_end_matches('\n'));
    }

    pub(super) fn mark(&mut self, action: &str) {
        self.line(&format!(
            "echo {}",
            quote(&format!("{MARKER} {}", one_line(action)))
        ));
    }

    /// Writes `content` to `path` atomically: a temp file in the same directory, then
    /// chmod, chown and rename (`mv -T`: a directory at `path` fails the step instead of
    /// receiving the file). Visible content travels in a quoted heredoc so `plan` shows it
    /// as it will be on disk; hidden content travels base64-encoded on one line (exact
    /// bytes, no quoting to break, and one stream the masker can search) and is shown only
    /// as its size and digest.
    ///
    /// Missing parent directories are created `0755 root:root`, one at a time; a directory
    /// that exists keeps its mode and owner (`install -d -m` would re-mode it: `/tmp`
    /// would lose its sticky bit, `/root` become world-readable). `path` is absolute and
    /// normalised (the recipe's paths are checked when read).
    pub(super) fn write_file(
        &mut self,
        path: &str,
        content: &str,
        mode: &str,
        owner: &str,
        hide: bool,
    ) {
        let dir = match path.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &path[..i],
        };
        for (i, _) in path.match_indices('/').skip(1) {
            let parent = quote(&path[..i]);
            self.line(&format!(
                "if [ ! -d {parent} ]; then mkdir -m {PARENT_MODE} {parent}; chown {PARENT_OWNER} {parent}; fi"
            ));
        }
        let template = if dir == "/" {
            "/.amibake.XXXXXX".to_string()
        } else {
            format!("{dir}/.amibake.XXXXXX")
        };
        self.line(&format!("tmp=$(mktemp {})", quote(&template)));
        if hide {
            self.line("base64 -d > \"$tmp\" <<'AMIBAKE_B64'");
            self.text.push_str(&base64_line(content.as_bytes()));
            let digest = hex::encode(Sha256::digest(content.as_bytes()));
            let _ = writeln!(
                self.display,
                "<content hidden: {} bytes, sha256 {}…>",
                content.len(),
                &digest[..16]
            );
            self.line("AMIBAKE_B64");
        } else {
            let mut delimiter = "AMIBAKE_EOF".to_string();
            while content.lines().any(|l| l == delimiter) {
                delimiter.push('_');
            }
            self.line(&format!("cat > \"$tmp\" <<'{delimiter}'"));
            self.text.push_str(content);
            self.display.push_str(content);
            if !content.ends_with('\n') {
                self.text.push('\n');
                self.display.push('\n');
            }
            self.line(&delimiter);
        }
        self.line(&format!("chmod {mode} \"$tmp\""));
        self.line(&format!("chown {} \"$tmp\"", quote(owner)));
        self.line(&format!("mv -f -T \"$tmp\" {}", quote(path)));
    }

    pub(super) fn finish(self) -> Script {
        Script {
            text: self.text,
            display: self.display,
        }
    }
}

/// Standard base64 on one line ending in a newline (`base64 -d` reads any line length);
/// empty for no data. One line, so a secret's base64 form is never cut by a line break
/// the masker would have to see through.
pub(super) fn base64_line(data: &[u8]) -> String {
    if data.is_empty() {
        return String::new();
    }
    let mut out = aws_smithy_types::base64::encode(data);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64_line(b""), "");
        assert_eq!(base64_line(b"f"), "Zg==\n");
        assert_eq!(base64_line(b"fo"), "Zm8=\n");
        assert_eq!(base64_line(b"foo"), "Zm9v\n");
        assert_eq!(base64_line(b"foobar"), "Zm9vYmFy\n");
        assert_eq!(base64_line(&[0u8; 100]).lines().count(), 1);
    }

    fn written(path: &str) -> String {
        let mut s = ScriptBuilder::new("t");
        s.write_file(path, "x", "0640", "root:root", false);
        s.finish().text
    }

    #[test]
    fn only_missing_parents_are_created_and_nothing_re_modes_an_existing_one() {
        let text = written("/tmp/app/x.env");
        for parent in ["/tmp", "/tmp/app"] {
            assert!(
                text.contains(&format!(
                    "if [ ! -d {parent} ]; then mkdir -m 0755 {parent}; chown root:root {parent}; fi"
                )),
                "{text}"
            );
        }
        assert!(!text.contains("install -d"), "{text}");
        // chmod and chown touch the temp file only, never a directory.
        for line in text
            .lines()
            .filter(|l| l.starts_with("chmod") || l.starts_with("chown"))
        {
            assert!(line.ends_with("\"$tmp\""), "{line}");
        }
        assert!(text.contains("mv -f -T \"$tmp\" /tmp/app/x.env"), "{text}");
        let top = written("/x.env");
        assert!(!top.contains("mkdir"), "{top}");
        assert!(top.contains("mktemp /.amibake.XXXXXX"), "{top}");
    }
}
