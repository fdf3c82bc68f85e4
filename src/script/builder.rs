//! Building a script and its display twin side by side: marker lines, quoting, and files
//! written atomically.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{MARKER, Script, one_line, quote};

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
    /// chmod, chown and rename. Visible content travels in a quoted heredoc so `plan`
    /// shows it as it will be on disk; hidden content travels base64-encoded (exact bytes,
    /// no quoting to break) and is shown only as its size and digest.
    pub(super) fn write_file(
        &mut self,
        path: &str,
        content: &str,
        mode: &str,
        owner: &str,
        hide: bool,
    ) {
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
        let dir = if dir.is_empty() { "/" } else { dir };
        self.line(&format!("install -d -m 0755 {}", quote(dir)));
        self.line(&format!(
            "tmp=$(mktemp {})",
            quote(&format!("{dir}/.{base}.amibake.XXXXXX"))
        ));
        if hide {
            self.line("base64 -d > \"$tmp\" <<'AMIBAKE_B64'");
            self.text.push_str(&base64_lines(content.as_bytes()));
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
        self.line(&format!("mv -f \"$tmp\" {}", quote(path)));
    }

    pub(super) fn finish(self) -> Script {
        Script {
            text: self.text,
            display: self.display,
        }
    }
}

/// Standard base64 in 76-character lines, each ending in a newline (what `base64 -d` reads).
pub(super) fn base64_lines(data: &[u8]) -> String {
    let encoded = aws_smithy_types::base64::encode(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 + 1);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64_lines(b""), "");
        assert_eq!(base64_lines(b"f"), "Zg==\n");
        assert_eq!(base64_lines(b"fo"), "Zm8=\n");
        assert_eq!(base64_lines(b"foo"), "Zm9v\n");
        assert_eq!(base64_lines(b"foobar"), "Zm9vYmFy\n");
        let long = base64_lines(&[0u8; 100]);
        assert!(long.lines().all(|l| l.len() <= 76));
        assert_eq!(long.lines().count(), 2);
    }
}
