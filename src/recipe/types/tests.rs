use super::image::check_volume_type;
use super::*;

#[test]
fn durations_parse_with_units_and_print_back() {
    for (text, secs, shown) in [
        ("45s", 45, "45s"),
        ("10m", 600, "10m"),
        ("1h30m", 5400, "1h30m"),
        ("90d", 90 * 86_400, "90d"),
        ("2w", 14 * 86_400, "14d"),
    ] {
        let d: Duration = text.parse().unwrap();
        assert_eq!(d.get().as_secs(), secs, "{text}");
        assert_eq!(d.to_string(), shown);
    }
}

#[test]
fn durations_without_unit_or_zero_are_rejected() {
    for text in ["", "600", "10x", "m", "0s", "1h3", "99999999999999999999d"] {
        assert!(
            text.parse::<Duration>().is_err(),
            "{text} should be rejected"
        );
    }
}

#[test]
fn durations_stop_at_ec2_s_ten_years_and_timeouts_at_ssm_s_48_hours() {
    assert_eq!(
        "3650d".parse::<Duration>().unwrap().get().as_secs(),
        MAX_DURATION_SECS
    );
    assert_eq!(
        "48h".parse::<Timeout>().unwrap().get().as_secs(),
        MAX_TIMEOUT_SECS
    );
    assert_eq!("172800s".parse::<Timeout>().unwrap().to_string(), "2d");
    for (text, says) in [
        ("3651d", "at most 3650d"),
        ("5000000000d", "at most 3650d"),
        ("18446744073709551615s", "at most 3650d"),
        ("18446744073709551616s", "at most 3650d"),
        ("99999999999999999999d", "at most 3650d"),
        (&format!("{}s", "9".repeat(5000)), "too long"),
    ] {
        let err = text.parse::<Duration>().unwrap_err();
        assert!(err.contains(says), "{text}: {err}");
        assert!(err.len() < 200, "the message shows a long value cut: {err}");
    }
    for text in ["48h1s", "3d", "18446744073709551615s", "1w"] {
        let err = text.parse::<Timeout>().unwrap_err();
        assert!(err.contains("at most 48h") && err.contains("SSM"), "{err}");
    }
}

#[test]
fn the_unchecked_constructors_saturate_at_the_limits() {
    assert_eq!(
        Duration::from_secs(u64::MAX).get().as_secs(),
        MAX_DURATION_SECS
    );
    assert_eq!(
        Timeout::from_secs(u64::MAX).get().as_secs(),
        MAX_TIMEOUT_SECS
    );
    assert_eq!(VolumeSize::gib(u32::MAX).get(), MAX_VOLUME_GIB);
    assert_eq!(VolumeSize::gib(0).get(), 1);
    // So adding any of them to a clock reading cannot overflow.
    let now = std::time::SystemTime::now();
    assert!(
        now.checked_add(Duration::from_secs(u64::MAX).get())
            .is_some()
    );
}

#[test]
fn volume_sizes_and_types_follow_ebs() {
    let size =
        |yaml: &str| crate::recipe::yaml::from_str::<VolumeSize>(std::path::Path::new("t"), yaml);
    assert_eq!(size("16384").unwrap().get(), 16_384);
    assert_eq!(size("1").unwrap().get(), 1);
    for bad in [
        "0",
        "16385",
        "-1",
        "4294967296",
        "1.5",
        "99999999999999999999999",
        "x",
    ] {
        let err = size(bad).expect_err(bad);
        assert!(err.message.contains("1 to 16384 GiB"), "{bad}: {err}");
    }
    for ok in ["gp3", "gp2", "standard"] {
        assert!(check_volume_type(ok).is_ok(), "{ok}");
    }
    for bad in ["st1", "sc1", "io1", "io2", "gp4", ""] {
        assert!(
            check_volume_type(bad).unwrap_err().contains("`gp3`"),
            "{bad}"
        );
    }
}

#[test]
fn image_tags_and_description_follow_ec2() {
    use std::collections::BTreeMap;
    let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(check_image_tags(&tags(&[("Team", "platform")])), None);
    let many: BTreeMap<String, String> = (0..41)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    assert!(check_image_tags(&many).unwrap().contains("at most 40"));
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for (pairs, says) in [
        (tags(&[(&long_key, "v")]), "1 to 128"),
        (tags(&[("k", &long_value)]), "at most 256"),
        (tags(&[("aws:cloudformation:stack-name", "x")]), "reserved"),
        (tags(&[("amibake:complete", "true")]), "belong to amibake"),
    ] {
        let err = check_image_tags(&pairs).unwrap();
        assert!(err.contains(says), "{err}");
    }
    assert_eq!(check_image_description(&"d".repeat(255)), None);
    assert!(
        check_image_description(&"d".repeat(256))
            .unwrap()
            .contains("at most 255")
    );
}

#[test]
fn recipe_names_follow_the_contract() {
    for ok in ["web-tomcat", "a", "al2023-base-2"] {
        assert!(check_recipe_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "Web",
        "web_tomcat",
        "-web",
        "web-",
        "w e b",
        &"x".repeat(64),
    ] {
        assert!(check_recipe_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn identifiers_are_checked() {
    assert!(check_ami_id("ami-0123456789abcdef0").is_ok());
    assert!(check_ami_id("ami-12345678").is_ok());
    assert!(check_ami_id("ami-xyz").is_err());
    assert!(check_region("us-west-2").is_ok());
    assert!(check_region("us-gov-west-1").is_ok());
    assert!(check_region("uswest2").is_err());
    assert!(check_account_id("111122223333").is_ok());
    assert!(check_account_id("1111").is_err());
    assert!(check_instance_type("t3.small").is_ok());
    assert!(check_instance_type("t3").is_err());
    assert!(check_unit_name("codedeploy-agent.service").is_ok());
    assert!(check_unit_name("codedeploy-agent").is_err());
    assert!(check_unit_name("x.service; rm -rf /").is_err());
    assert!(check_package_name("java-17-amazon-corretto-headless").is_ok());
    assert!(check_package_name("tomcat9 && curl").is_err());
    assert!(check_file_mode("0644").is_ok());
    assert!(check_file_mode("0944").is_err());
    assert!(check_file_owner("root:root").is_ok());
    assert!(check_file_owner("root;id").is_err());
}
