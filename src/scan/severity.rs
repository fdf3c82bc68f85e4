//! A finding's severity, as Inspector and EC2 label it and as a recipe writes it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Inspector's five severity labels, in order: a limit of `high` lets `high` through and
/// fails on `critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The label as a recipe, the manifest and EC2 write it: `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity an AWS label names, in any case (EC2 writes `critical`, Inspector
    /// `CRITICAL`); `None` for a label this version does not know (`UNTRIAGED`, a new one).
    pub fn from_label(label: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(label.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Severity {
    type Error = String;
    /// Only the lowercase labels: a recipe is read exactly, as every other key is.
    fn try_from(value: String) -> Result<Self, String> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                let shown: String = value.chars().take(40).collect();
                format!(
                    "unknown severity `{shown}`: expected one of `informational`, `low`, \
                     `medium`, `high`, `critical` (Inspector's labels, lowest first)"
                )
            })
    }
}

impl From<Severity> for String {
    fn from(value: Severity) -> String {
        value.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_ordered_lowest_first() {
        assert!(Severity::Informational < Severity::Low);
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::Medium < Severity::High);
        assert!(Severity::High < Severity::Critical);
    }

    #[test]
    fn aws_labels_are_read_in_any_case_and_unknown_ones_are_none() {
        assert_eq!(Severity::from_label("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::from_label("medium"), Some(Severity::Medium));
        assert_eq!(Severity::from_label("UNTRIAGED"), None);
    }

    #[test]
    fn a_recipe_label_is_exact_and_an_unknown_one_lists_the_five() {
        assert_eq!(Severity::try_from("high".to_string()), Ok(Severity::High));
        let err = Severity::try_from("severe".to_string()).expect_err("unknown");
        for s in Severity::ALL {
            assert!(err.contains(&format!("`{s}`")), "{err}");
        }
        assert!(Severity::try_from("HIGH".to_string()).is_err());
    }

    #[test]
    fn serde_writes_the_lowercase_label_also_as_a_map_key() {
        let map: std::collections::BTreeMap<Severity, u32> =
            [(Severity::Critical, 1), (Severity::Low, 2)].into();
        let json = serde_json::to_string(&map).expect("serializes");
        assert_eq!(json, r#"{"low":2,"critical":1}"#);
        let back: std::collections::BTreeMap<Severity, u32> =
            serde_json::from_str(&json).expect("parses");
        assert_eq!(back, map);
    }
}
