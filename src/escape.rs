//! A value written into a systemd unit's `Environment="…"`: the `systemd_override` step
//! writes it so, and secrets are masked in this form too, so both use this one leaf.

use crate::recipe::model::path::is_unsafe_char;

/// A value as systemd reads it inside `Environment="…"`: backslash and quote escaped, `%`
/// doubled (specifiers), and every control character as a C escape (`\n`, `\r`, `\t`,
/// `\xNN` for each byte of the others), so no value can end the line (systemd ends one at
/// `\n`, `\r` and NUL), continue it with a trailing backslash or add a directive. NUL
/// never gets here (an environment value cannot hold one; the recipe refuses it).
pub fn systemd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            c if is_unsafe_char(c) => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_escaping_keeps_a_value_on_its_line() {
        assert_eq!(systemd_escape(r#"a"b\c%d"#), r#"a\"b\\c%%d"#);
        assert_eq!(systemd_escape("a\rb\nc\td"), r"a\rb\nc\td");
        assert_eq!(
            systemd_escape("\u{1b}\u{85}\u{2028}"),
            r"\x1b\xc2\x85\xe2\x80\xa8"
        );
        assert_eq!(systemd_escape("x\\"), r"x\\");
        assert_eq!(systemd_escape("plain é"), "plain é");
    }
}
