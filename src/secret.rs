//! Masking of secret values in everything amibake prints or writes.
//!
//! Vars declared `secret: true` are known by value once rendering is done; every string
//! that leaves the process (plan, logs, SSM output, JSON events, manifest) passes through
//! a [`Masker`] that replaces each occurrence with `***` — the value itself and every form
//! amibake derives from it ([`derived_forms`]): escaped for systemd, quoted for the shell,
//! escaped for JSON, made printable for a message, and base64-encoded as the `file` step
//! ships content, at each of the three offsets a value can have inside a base64 stream.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Replaces known secret values with [`MASK`].
#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Masker {
    /// A masker for these values. Empty values are ignored: masking "" would mask nothing
    /// and everything at once.
    /// Each value is masked in every form [`derived_forms`] gives.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .flat_map(|v| derived_forms(&v))
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Self { secrets }
    }

    /// Whether `text` holds a secret in any of its forms.
    pub fn finds(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// Whether there is anything to mask.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by `***`.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.finds(text) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), MASK);
        }
        Cow::Owned(out)
    }

    /// Masks every string inside a JSON value, in place.
    pub fn mask_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(masked) = self.mask(s) {
                    *s = masked;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.mask_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.mask_json(v)),
            _ => {}
        }
    }
}

/// Shortest base64 piece masked: a shorter one would match unrelated text all over.
pub const MIN_BASE64_FORM: usize = 6;

/// `secret` and every form amibake's own code turns it into on its way to a script, a
/// unit file, a message or a JSON document: systemd's `Environment="…"` escaping, the
/// inside of a single-quoted shell word, the inside of a JSON string, the printable form
/// of messages and markers (and that form shell-quoted), and base64 (see [`base64_forms`]).
pub fn derived_forms(secret: &str) -> Vec<String> {
    let shell = |s: &str| s.replace('\'', r"'\''");
    let json = |s: &str| {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or_default()
            .to_string()
    };
    let printable = crate::recipe::model::path::printable(secret);
    let mut forms = vec![
        secret.to_string(),
        crate::escape::systemd_escape(secret),
        shell(secret),
        json(secret),
        shell(&printable),
        json(&printable),
        printable,
    ];
    forms.extend(base64_forms(secret.as_bytes()));
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    forms
}

/// The base64 text that encodes `secret` wherever it sits in a longer stream: one piece
/// per offset (0, 1 or 2 bytes past a 3-byte group), holding only the characters decided
/// by the secret's bytes alone (those shared with neighbouring bytes are left out).
/// Pieces shorter than [`MIN_BASE64_FORM`] are left out.
pub fn base64_forms(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for offset in 0..3usize {
        let mut data = vec![0u8; offset];
        data.extend_from_slice(secret);
        let encoded = aws_smithy_types::base64::encode(&data);
        let encoded = encoded.trim_end_matches('=');
        // Characters mixing prefix bits: none at offset 0, 2 at offset 1, 3 at offset 2.
        let skip = [0, 2, 3][offset];
        // A last partial group's last character mixes in the bytes after the secret.
        let drop = usize::from(data.len() % 3 != 0);
        if encoded.len() >= skip + drop + MIN_BASE64_FORM {
            out.push(encoded[skip..encoded.len() - drop].to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let m = Masker::new([
            "hunter2".to_string(),
            "hunter2-extra".to_string(),
            String::new(),
        ]);
        assert_eq!(m.mask("pw=hunter2-extra and hunter2"), "pw=*** and ***");
        assert!(matches!(m.mask("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_the_escaped_quoted_and_json_forms() {
        let secret = r#"pa'ss"w%rd\x 9"#;
        let m = Masker::new([secret.to_string()]);
        for form in [
            r#"Environment="TOKEN=pa'ss\"w%%rd\\x 9""#.to_string(),
            format!("echo {}", crate::script::quote(secret)),
            serde_json::json!({ "v": secret }).to_string(),
        ] {
            let masked = m.mask(&form);
            assert!(masked.contains(MASK), "{form} -> {masked}");
            assert!(!masked.contains("ss"), "{form} -> {masked}");
        }
        let control = Masker::new(["a\rb\u{1b}c".to_string()]);
        assert_eq!(control.mask(r"path /x/a\rb\u{1b}c"), "path /x/***");
        assert_eq!(
            control.mask(r#"Environment="X=a\rb\x1bc""#),
            r#"Environment="X=***""#
        );
    }

    #[test]
    fn masks_a_secret_inside_a_base64_stream_at_every_offset() {
        let secret = "hunter2-correct-horse";
        let m = Masker::new([secret.to_string()]);
        for prefix in ["", "A", "AB", "ABC", "ABCD"] {
            for suffix in ["", "x", "xy", "\n"] {
                let content = format!("{prefix}{secret}{suffix}");
                let stream = aws_smithy_types::base64::encode(content.as_bytes());
                let masked = m.mask(&stream);
                assert!(
                    masked.contains(MASK),
                    "offset {}: {stream} not masked",
                    prefix.len()
                );
                // What is left decodes to no more than 2 bytes of the secret either side.
                let left = masked.replace(MASK, "");
                assert!(left.len() <= 12, "{stream} -> {masked}");
            }
        }
    }

    #[test]
    fn finds_a_secret_in_any_form() {
        let m = Masker::new(["it's".to_string()]);
        assert!(m.finds("x it's y") && m.finds(r"'it'\''s'") && !m.finds("its"));
        assert!(!Masker::default().finds("anything"));
    }

    #[test]
    fn masks_json_strings_recursively() {
        let m = Masker::new(["s3cr3t".to_string()]);
        let mut v = serde_json::json!({"a": ["x s3cr3t", 1], "b": {"c": "s3cr3t"}});
        m.mask_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x ***", 1], "b": {"c": "***"}}));
    }
}
