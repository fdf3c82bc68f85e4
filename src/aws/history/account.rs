//! The wait history in the account: one SSM parameter per recipe, in the region it bakes
//! in (`/amibake-wait-history/<recipe>` unless another prefix is given: outside the
//! promotion channels' `/amibake/<recipe>/<env>`, which a recipe named `wait-history`
//! would otherwise share).
//!
//! A CI runner starts with an empty state directory, so a history kept only on disk never
//! helps the nightly rebuilds amibake is mostly used for. The account outlives runners:
//! `bake --history ssm` reads the recipe's parameter before the bake starts and writes
//! what it learned back at the end.
//!
//! Concurrent bakes of one recipe may both write it. SSM replaces a parameter's value
//! whole, so the last writer wins and no reader ever sees half of one write and half of
//! another; a value this version cannot read (another version's, or damaged by hand)
//! counts as no history and is overwritten. Reading and writing are hints: a failure is
//! reported and the bake goes on cold, never failing for it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};

use super::{File, VERSION, Window, decode};
use crate::aws::AwsError;
use crate::aws::poll::retry;

/// Where `--history ssm` keeps recipes' parameters unless told otherwise.
pub const DEFAULT_PREFIX: &str = "/amibake-wait-history";

/// SSM's limit on a Standard parameter's value, 4 KB (Advanced parameters are billed);
/// counted in bytes, which is never less than characters.
pub const MAX_VALUE_BYTES: usize = 4096;

/// Where a bake keeps its wait history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Location {
    /// Only the state directory's `timings.json`.
    #[default]
    Local,
    /// Also one SSM parameter per recipe under this path.
    Ssm { prefix: String },
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Location, String> {
        let prefix = match s {
            "local" => return Ok(Location::Local),
            "ssm" => DEFAULT_PREFIX,
            _ => s.strip_prefix("ssm:").ok_or_else(|| {
                format!(
                    "`{s}`: expected `local`, `ssm` (parameters under {DEFAULT_PREFIX}) or \
                     `ssm:/PATH` (parameters under /PATH)"
                )
            })?,
        };
        check_prefix(prefix)?;
        Ok(Location::Ssm {
            prefix: prefix.to_string(),
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local => f.write_str("local"),
            Location::Ssm { prefix } => write!(f, "ssm:{prefix}"),
        }
    }
}

/// A parameter path SSM accepts and that is ours to write (`/aws` and `/ssm` are reserved).
fn check_prefix(prefix: &str) -> Result<(), String> {
    let valid = prefix.len() > 1
        && prefix.len() <= 900
        && prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix.contains("//")
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
    let reserved = ["/aws", "/ssm"].iter().any(|r| {
        prefix.to_ascii_lowercase() == *r
            || prefix.to_ascii_lowercase().starts_with(&format!("{r}/"))
    });
    if !valid {
        return Err(format!(
            "`ssm:{prefix}`: expected a parameter path like `/team/amibake/history` \
             (starting with /, letters, digits and _ . - /, no trailing /)"
        ));
    }
    if reserved {
        return Err(format!(
            "`ssm:{prefix}`: paths under /aws and /ssm are reserved by AWS"
        ));
    }
    Ok(())
}

/// The name of `recipe`'s parameter under `prefix`.
pub fn parameter_name(prefix: &str, recipe: &str) -> String {
    format!("{prefix}/{recipe}")
}

/// A recipe's parameter as the bake found it at the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub name: String,
    /// Whether the parameter exists (then it is overwritten; else created, with tags).
    pub exists: bool,
    /// Whether it exists but holds nothing this version can read.
    pub unreadable: bool,
    /// The plausible windows it holds.
    pub waits: BTreeMap<String, Window>,
    /// The keys of the windows it holds that no wait could take: left out (so the next
    /// write drops them too).
    pub ignored: Vec<String>,
}

/// Reads the parameter `name`.
pub async fn read(ssm: &Client, name: &str) -> Result<Stored, AwsError> {
    let value = retry(|| crate::aws::ssm::get_parameter(ssm, name)).await?;
    let decoded = value.as_deref().map(decode);
    let unreadable = matches!(decoded, Some(None));
    let decoded = decoded.flatten();
    Ok(Stored {
        name: name.to_string(),
        exists: value.is_some(),
        unreadable,
        waits: decoded
            .as_ref()
            .map(|d| d.waits.clone())
            .unwrap_or_default(),
        ignored: decoded.map(|d| d.ignored).unwrap_or_default(),
    })
}

/// What [`write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    /// Everything learned was within a probe's resolution of what the parameter holds:
    /// writing would change nothing the next bake could tell apart.
    Unchanged,
}

/// Writes `learned` over what `stored` held; returns what it did and how many waits the
/// parameter now holds. A parameter another bake created since the read is overwritten.
/// Nothing learned (a bake that stopped before its first wait, an `--if-changed` reuse)
/// writes nothing: not even an empty parameter is created.
pub async fn write(
    ssm: &Client,
    stored: &Stored,
    learned: &BTreeMap<String, Window>,
    description: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(Written, usize), AwsError> {
    // Windows left out as implausible are dropped by any write: one is due.
    let unchanged = stored.exists
        && !stored.unreadable
        && stored.ignored.is_empty()
        && !changes(&stored.waits, learned);
    if learned.is_empty() || unchanged {
        return Ok((Written::Unchanged, stored.waits.len()));
    }
    let (value, count) = encode(&stored.waits, learned);
    if !stored.exists {
        match put(ssm, &stored.name, &value, description, Some(tags)).await {
            Ok(()) => return Ok((Written::Created, count)),
            Err(e) if e.code() == Some("ParameterAlreadyExists") => {}
            Err(e) => return Err(e),
        }
    }
    put(ssm, &stored.name, &value, description, None).await?;
    Ok((Written::Updated, count))
}

/// Whether any learned window is new, or moved by more than a probe's resolution (2 % of
/// the wait, at least 50 ms: what [`crate::aws::poll`] asks at).
fn changes(stored: &BTreeMap<String, Window>, learned: &BTreeMap<String, Window>) -> bool {
    learned.iter().any(|(key, new)| match stored.get(key) {
        None => true,
        Some(old) => {
            let step = (old.hi * 0.02).max(0.05);
            (new.hi - old.hi).abs() > step || (new.lo - old.lo).abs() > step
        }
    })
}

/// The value to store: what was there with what was learned over it, in milliseconds, as
/// compact JSON within SSM's Standard limit. Should it not fit, the stored waits this bake
/// did not learn go first, then learned ones (the history is a hint; never an Advanced,
/// billed parameter).
fn encode(
    stored: &BTreeMap<String, Window>,
    learned: &BTreeMap<String, Window>,
) -> (String, usize) {
    let ms = |w: &Window| Window {
        lo: (w.lo * 1000.0).round() / 1000.0,
        hi: (w.hi * 1000.0).round() / 1000.0,
    };
    let mut waits: BTreeMap<String, Window> =
        stored.iter().map(|(k, w)| (k.clone(), ms(w))).collect();
    waits.extend(learned.iter().map(|(k, w)| (k.clone(), ms(w))));
    let mut droppable: Vec<String> = stored
        .keys()
        .filter(|k| !learned.contains_key(*k))
        .chain(learned.keys())
        .cloned()
        .collect();
    droppable.reverse();
    loop {
        let text = serde_json::to_string(&File {
            version: VERSION,
            waits: waits.clone(),
        })
        .unwrap_or_default();
        if text.len() <= MAX_VALUE_BYTES || waits.is_empty() {
            return (text, waits.len());
        }
        match droppable.pop() {
            Some(key) => {
                waits.remove(&key);
            }
            None => waits.clear(),
        }
    }
}

/// PutParameter: with `tags`, creates the parameter (failing if it exists: SSM tags only
/// at creation); without, overwrites it.
async fn put(
    ssm: &Client,
    name: &str,
    value: &str,
    description: &str,
    tags: Option<&BTreeMap<String, String>>,
) -> Result<(), AwsError> {
    let tags = tags
        .map(|tags| crate::aws::ssm::tag_list(crate::aws::calls::SSM_PUT_PARAMETER, tags))
        .transpose()?;
    let overwrite = tags.is_none();
    retry(|| async {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .description(description)
            .r#type(ParameterType::String)
            .tier(ParameterTier::Standard)
            .overwrite(overwrite)
            .set_tags(tags.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::call(crate::aws::calls::SSM_PUT_PARAMETER, e))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(lo: f64, hi: f64) -> Window {
        Window { lo, hi }
    }

    fn waits(items: &[(&str, Window)]) -> BTreeMap<String, Window> {
        items.iter().map(|(k, w)| (k.to_string(), *w)).collect()
    }

    #[test]
    fn locations_parse_as_the_flag_documents() {
        assert_eq!("local".parse(), Ok(Location::Local));
        assert_eq!(
            "ssm".parse(),
            Ok(Location::Ssm {
                prefix: DEFAULT_PREFIX.into()
            })
        );
        assert_eq!(
            "ssm:/team/history".parse(),
            Ok(Location::Ssm {
                prefix: "/team/history".into()
            })
        );
        for bad in [
            "s3://bucket/x",
            "ssm:team",
            "ssm:/a/",
            "ssm:/a b",
            "ssm:/aws/x",
            "ssm:/SSM",
        ] {
            let err = bad.parse::<Location>().unwrap_err();
            assert!(err.contains('`'), "{bad}: {err}");
        }
    }

    #[test]
    fn only_a_move_beyond_a_probe_step_is_a_change() {
        let stored = waits(&[("image", w(5.9, 6.0))]);
        assert!(!changes(&stored, &waits(&[("image", w(5.88, 6.1))])));
        assert!(changes(&stored, &waits(&[("image", w(5.9, 6.3))])));
        assert!(changes(&stored, &waits(&[("copy", w(7.0, 8.0))])));
        assert!(!changes(&stored, &BTreeMap::new()));
    }

    #[test]
    fn the_value_is_what_was_stored_with_what_was_learned_over_it() {
        let stored = waits(&[("image", w(5.9, 6.0)), ("ready", w(4.0, 5.0))]);
        let learned = waits(&[("image", w(6.1234567, 6.2))]);
        let (text, count) = encode(&stored, &learned);
        assert_eq!(count, 2);
        let back = decode(&text).unwrap().waits;
        assert_eq!(back["image"], w(6.123, 6.2));
        assert_eq!(back["ready"], w(4.0, 5.0));
    }

    #[test]
    fn the_value_fits_a_standard_parameter_dropping_what_this_bake_did_not_learn_first() {
        let stored: BTreeMap<String, Window> = (0..200)
            .map(|i| {
                (
                    format!("command:eu-west-1:t3.micro:al2023:step-{i:03}"),
                    w(1.5, 2.5),
                )
            })
            .collect();
        let learned = waits(&[("image:eu-west-1", w(5.9, 6.0))]);
        let (text, count) = encode(&stored, &learned);
        assert!(text.len() <= MAX_VALUE_BYTES, "{}", text.len());
        assert!(count < 201);
        assert_eq!(decode(&text).unwrap().waits["image:eu-west-1"], w(5.9, 6.0));
    }
}
