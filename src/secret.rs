//! Masking of secret values in everything amibake prints or writes.
//!
//! Vars declared `secret: true` are known by value once rendering is done; every string
//! that leaves the process (plan, logs, SSM output, JSON events, manifest) passes through
//! a [`Masker`] that replaces each occurrence with `***`.

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
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// Whether there is anything to mask.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by `***`.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| text.contains(s.as_str())) {
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
    fn masks_json_strings_recursively() {
        let m = Masker::new(["s3cr3t".to_string()]);
        let mut v = serde_json::json!({"a": ["x s3cr3t", 1], "b": {"c": "s3cr3t"}});
        m.mask_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x ***", 1], "b": {"c": "***"}}));
    }
}
