//! `source:`: where the base image comes from, and how its one kind key is read.
//!
//! `source` is a mapping with exactly one key that names its kind. serde's derived enums
//! report a second or an unknown kind vaguely, so it has a hand-written deserializer that
//! names the keys that were expected and the ones that clashed.
//!
//! Where an error is raised decides where it points: serde-saphyr gives an error that has
//! no position of its own the position of the node being read when it was raised. So a bad
//! key is rejected while the key itself is read, by a `DeserializeSeed` that knows the kind
//! seen so far, never later in the visitor, where the only node at hand would be the whole
//! mapping. Steps are read the same way (see `steps.rs`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::recipe::types::{AmiId, SsmParameterName};

/// Where the base image comes from: exactly one of three ways.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An SSM parameter that holds an AMI id (AWS publishes the latest Amazon Linux and
    /// Ubuntu images this way), resolved with GetParameter at bake time.
    SsmParameter(SsmParameterName),
    /// A fixed AMI id.
    Ami(AmiId),
    /// The most recent image matching a DescribeImages filter.
    Filter(ImageFilter),
}

impl Source {
    /// The YAML key of this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::SsmParameter(_) => "ssm_parameter",
            Source::Ami(_) => "ami",
            Source::Filter(_) => "filter",
        }
    }
}

/// A DescribeImages query; the newest match (by creation date) wins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFilter {
    pub owners: Vec<String>,
    pub name: String,
    #[serde(default = "default_architecture")]
    pub architecture: String,
}

fn default_architecture() -> String {
    "x86_64".into()
}

/// The source kinds as keys, before their values are read.
#[derive(Clone, Copy)]
enum SourceKind {
    SsmParameter,
    Ami,
    Filter,
}

const SOURCE_KINDS: [&str; 3] = ["ssm_parameter", "ami", "filter"];

/// Reads one key of `source` and rejects an unknown key or a second kind at the key.
struct SourceKeySeed {
    /// The kind already read from this mapping, if any.
    first: Option<&'static str>,
}

impl<'de> DeserializeSeed<'de> for SourceKeySeed {
    type Value = SourceKind;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(deserializer)?;
        let kind = match key.as_str() {
            "ssm_parameter" => SourceKind::SsmParameter,
            "ami" => SourceKind::Ami,
            "filter" => SourceKind::Filter,
            _ => return Err(de::Error::unknown_field(&key, &SOURCE_KINDS)),
        };
        if let Some(first) = self.first {
            return Err(de::Error::custom(format!(
                "`source` has both `{first}` and `{key}`: expected exactly one of `ssm_parameter`, `ami` or `filter`"
            )));
        }
        Ok(kind)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = Source;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with exactly one of `ssm_parameter`, `ami` or `filter`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Source, A::Error> {
                let mut found: Option<Source> = None;
                while let Some(kind) = map.next_key_seed(SourceKeySeed {
                    first: found.as_ref().map(Source::kind),
                })? {
                    found = Some(match kind {
                        SourceKind::SsmParameter => Source::SsmParameter(map.next_value()?),
                        SourceKind::Ami => Source::Ami(map.next_value()?),
                        SourceKind::Filter => Source::Filter(map.next_value()?),
                    });
                }
                found.ok_or_else(|| {
                    de::Error::custom(
                        "`source` is empty: expected exactly one of `ssm_parameter`, `ami` or `filter`",
                    )
                })
            }
        }
        deserializer.deserialize_map(SourceVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_second_source_is_reported_at_its_key() {
        let err = crate::recipe::yaml::from_str::<Source>(
            Path::new("t.yaml"),
            "ami: ami-12345678\nfilter: { owners: [a], name: b }\n",
        )
        .expect_err("two sources");
        assert_eq!((err.line, err.column), (Some(2), Some(1)), "{err}");
        assert!(err.message.contains("both `ami` and `filter`"), "{err}");
    }
}
