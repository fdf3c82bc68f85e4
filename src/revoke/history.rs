//! The pure part of moving a channel: which earlier value a channel goes back to, what
//! revoke writes on it, and the `--reason` it records. No AWS call here.

use crate::aws::ssm::ParameterVersion;

/// The values a channel held before it held `revoked`, newest first, each once, and
/// never `revoked` itself: its history read back from the newest version, past the run
/// of versions that hold `revoked` now. The first of them that is still an available
/// image is where revoke moves the channel (the caller checks each: an earlier value may
/// itself be disabled or gone).
pub fn earlier_values(history: &[ParameterVersion], revoked: &str) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for v in history.iter().rev() {
        if v.value != revoked && !values.contains(&v.value) {
            values.push(v.value.clone());
        }
    }
    values
}

/// The description of the channel version revoke writes: who, when, from which run and
/// why (the reason is text in a description, never structure).
pub fn revoke_description(ami: &str, user: &str, at: &str, run_id: &str, reason: &str) -> String {
    format!("revoked {ami} by {user} at {at} from run {run_id}: {reason}")
}

/// Whether a channel version's description is the one revoke writes when it moves the
/// channel off `ami`: restore moves only a channel whose newest version revoke wrote.
pub fn written_by_revoke(description: &str, ami: &str) -> bool {
    description.starts_with(&format!("revoked {ami} by "))
}

/// The description of the channel version restore writes.
pub fn restore_description(ami: &str, user: &str, at: &str, run_id: &str) -> String {
    format!("restored {ami} by {user} at {at} from run {run_id} (undoes its revoke)")
}

/// The longest `--reason`: it goes into a description of at most 1024 characters.
pub const MAX_REASON: usize = 500;

/// `--reason` as recorded: trimmed; refused when empty, too long or holding a control
/// character (a newline would forge a line of the record).
pub fn check_reason(reason: &str) -> Result<String, String> {
    let trimmed = reason.trim();
    if trimmed.is_empty() {
        return Err(
            "--reason is empty: say why the image is revoked (e.g. --reason \"CVE-2026-1234 in openssl\"); the channel records it"
                .into(),
        );
    }
    if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
        return Err(format!(
            "--reason holds a control character ({:?}): give one line of plain text",
            c
        ));
    }
    if trimmed.chars().count() > MAX_REASON {
        return Err(format!(
            "--reason is longer than {MAX_REASON} characters: the channel's description holds at most 1024"
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(values: &[&str]) -> Vec<ParameterVersion> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| ParameterVersion {
                version: i as i64 + 1,
                value: v.to_string(),
                description: String::new(),
            })
            .collect()
    }

    #[test]
    fn the_channel_goes_back_to_what_it_held_before_the_revoked_image() {
        assert_eq!(earlier_values(&history(&["a", "b"]), "b"), ["a"]);
        // Newest first, each once: b was promoted, replaced by c, then promoted again.
        assert_eq!(
            earlier_values(&history(&["a", "b", "c", "b", "b"]), "b"),
            ["c", "a"]
        );
        assert_eq!(earlier_values(&history(&["a", "a", "b"]), "b"), ["a"]);
    }

    #[test]
    fn a_channel_that_only_ever_held_the_image_has_no_earlier_value() {
        assert!(earlier_values(&history(&["b", "b"]), "b").is_empty());
        assert!(earlier_values(&[], "b").is_empty());
    }

    #[test]
    fn restore_knows_the_version_revoke_wrote() {
        let d = revoke_description("ami-b", "alice", "2026-01-01T00:00:00Z", "r1", "CVE");
        assert_eq!(
            d,
            "revoked ami-b by alice at 2026-01-01T00:00:00Z from run r1: CVE"
        );
        assert!(written_by_revoke(&d, "ami-b"));
        assert!(!written_by_revoke(&d, "ami-a"));
        assert!(!written_by_revoke("promoted by alice at …", "ami-b"));
    }

    #[test]
    fn a_reason_is_one_line_of_text() {
        assert_eq!(check_reason("  bad openssl ").unwrap(), "bad openssl");
        assert!(check_reason("").unwrap_err().contains("--reason is empty"));
        assert!(check_reason("   ").is_err());
        assert!(check_reason("bad\nreason").unwrap_err().contains("control"));
        assert!(check_reason("tab\there").is_err());
        assert!(check_reason("esc\u{1b}[31m").is_err());
        assert!(check_reason(&"x".repeat(MAX_REASON + 1)).is_err());
        assert!(check_reason(&"x".repeat(MAX_REASON)).is_ok());
    }
}
