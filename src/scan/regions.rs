//! The regions Amazon Inspector serves, built in so that `plan` and the preflight can
//! refuse a scan in another region before anything is created: Inspector's endpoint in a
//! region it does not serve has no DNS name, and the scan would fail only after the whole
//! build. The list is of [`SERVED_AS_OF`]: the `inspector2` endpoints of the AWS endpoint
//! data (botocore 1.44.18's endpoints.json: the aws, aws-cn and aws-us-gov partitions),
//! which agrees with Amazon Inspector's endpoints page as far as that page could be read;
//! a region Inspector came to serve since is refused with that date, so the message says
//! the list may be stale.

/// The day [`SERVED`] was last checked against Amazon Inspector's endpoints page.
pub const SERVED_AS_OF: &str = "2026-12-06";

/// The regions with an Inspector (`inspector2`) endpoint, as of [`SERVED_AS_OF`].
pub const SERVED: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// Whether Inspector serves `region` (as of [`SERVED_AS_OF`]).
pub fn served(region: &str) -> bool {
    SERVED.contains(&region)
}

/// Why a scan in `region` is refused: the region, the list's date, and what to do.
pub fn unserved(region: &str) -> String {
    format!(
        "Amazon Inspector does not serve {region}, so the image cannot be scanned there \
         (amibake's list of the regions Inspector serves is of {SERVED_AS_OF}: {})",
        SERVED.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_the_usual_regions_and_not_the_newest() {
        assert!(served("us-east-1") && served("eu-west-1") && served("ap-southeast-2"));
        assert!(!served("ap-southeast-6"));
        assert!(!served("xx-nowhere-1"));
    }

    #[test]
    fn a_refusal_names_the_region_and_the_lists_date() {
        let text = unserved("ap-southeast-6");
        assert!(text.contains("ap-southeast-6"), "{text}");
        assert!(text.contains(SERVED_AS_OF), "{text}");
    }
}
