//! When an image is deprecated: `after` from now, as EC2 takes it.

use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;

use crate::aws::AwsError;
use crate::recipe::types::MAX_DURATION_SECS;

/// The time to deprecate an image at, `after` from `now`: refused (never a panic) past
/// EC2's limit of 10 years ahead, which a recipe's `deprecate_after` cannot reach
/// ([`crate::recipe::types::Duration`] stops at 3650 days).
pub fn deprecate_at(now: SystemTime, after: Duration) -> Result<DateTime, AwsError> {
    let at = (after.as_secs() <= MAX_DURATION_SECS)
        .then(|| now.checked_add(after))
        .flatten();
    match at {
        Some(at) => Ok(DateTime::from(at)),
        None => Err(AwsError::local(
            crate::aws::calls::EC2_ENABLE_IMAGE_DEPRECATION,
            None,
            format!(
                "cannot deprecate {}s from now: EC2 deprecates at most 10 years ahead \
                 (`deprecate_after` up to 3650d)",
                after.as_secs()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deprecation_time_is_checked_not_overflowed() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ten_years = Duration::from_secs(MAX_DURATION_SECS);
        let at = deprecate_at(now, ten_years).unwrap();
        assert_eq!(at.secs(), 1_800_000_000 + MAX_DURATION_SECS as i64);
        for too_far in [
            Duration::from_secs(MAX_DURATION_SECS + 1),
            Duration::from_secs(5_000_000_000 * 86_400),
            Duration::MAX,
        ] {
            let err = deprecate_at(now, too_far).unwrap_err();
            assert!(err.chain().contains("10 years"), "{}", err.chain());
        }
    }
}
