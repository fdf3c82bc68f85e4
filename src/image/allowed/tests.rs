//! The evaluator's rules, one by one, against EC2's documented reading.

use super::*;
use crate::scan::Severity;

fn now() -> SystemTime {
    parse_time("2026-12-06T00:00:00Z").unwrap()
}

fn shared() -> ImageFacts {
    ImageFacts {
        id: "ami-1".into(),
        owner_id: "111122223333".into(),
        name: "golden-web-2026-12-01".into(),
        creation_date: "2026-12-01T00:00:00Z".into(),
        ..ImageFacts::default()
    }
}

fn providers(p: &[&str]) -> Criterion {
    Criterion {
        providers: p.iter().map(|s| s.to_string()).collect(),
        ..Criterion::default()
    }
}

fn refused_conditions(v: &Verdict) -> Vec<String> {
    match v {
        Verdict::Refused { failures } => {
            failures.iter().flat_map(|f| f.conditions.clone()).collect()
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn an_image_meeting_any_criterion_is_allowed_and_the_own_account_always() {
    let criteria = [providers(&["amazon"]), providers(&["111122223333"])];
    let v = judge(&criteria, &shared(), now());
    assert!(
        matches!(
            v,
            Verdict::Allowed {
                criterion: Some(2),
                ..
            }
        ),
        "{v:?}"
    );
    let own = ImageFacts {
        own: true,
        ..shared()
    };
    let v = judge(&[providers(&["amazon"])], &own, now());
    assert!(
        matches!(
            v,
            Verdict::Allowed {
                criterion: None,
                ..
            }
        ),
        "{v:?}"
    );
    let alias = ImageFacts {
        owner_alias: Some("amazon".into()),
        ..shared()
    };
    assert!(matches!(
        judge(&[providers(&["amazon"])], &alias, now()),
        Verdict::Allowed { .. }
    ));
}

#[test]
fn without_a_criterion_only_the_accounts_own_images_are_allowed() {
    assert_eq!(
        judge(&[], &shared(), now()),
        Verdict::Refused {
            failures: Vec::new()
        }
    );
    let own = ImageFacts {
        own: true,
        ..shared()
    };
    assert!(matches!(judge(&[], &own, now()), Verdict::Allowed { .. }));
}

#[test]
fn every_condition_of_a_criterion_must_hold_and_each_failure_is_named() {
    let c = Criterion {
        providers: vec!["111122223333".into()],
        names: vec!["golden-api-*".into(), "base-?".into()],
        max_days_since_created: Some(3),
        ..Criterion::default()
    };
    let v = judge(&[c], &shared(), now());
    let failed = refused_conditions(&v);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0].starts_with("ImageNames [golden-api-*, base-?]"),
        "{failed:?}"
    );
    assert!(failed[0].contains("golden-web-2026-12-01"));
    assert!(
        failed[1].starts_with("CreationDateCondition MaximumDaysSinceCreated 3"),
        "{failed:?}"
    );
    assert!(failed[1].contains("5 days ago"), "{failed:?}");
    let fresh = Criterion {
        names: vec!["golden-web-*".into()],
        max_days_since_created: Some(5),
        ..Criterion::default()
    };
    assert!(matches!(
        judge(&[fresh], &shared(), now()),
        Verdict::Allowed { .. }
    ));
}

#[test]
fn deprecation_counts_only_once_it_is_past() {
    let c = Criterion {
        max_days_since_deprecated: Some(0),
        ..Criterion::default()
    };
    let later = ImageFacts {
        deprecation_time: Some("2027-01-01T00:00:00Z".into()),
        ..shared()
    };
    assert!(matches!(
        judge(std::slice::from_ref(&c), &later, now()),
        Verdict::Allowed { .. }
    ));
    let past = ImageFacts {
        deprecation_time: Some("2026-12-05T00:00:00Z".into()),
        ..shared()
    };
    let failed = refused_conditions(&judge(std::slice::from_ref(&c), &past, now()));
    assert!(
        failed[0].starts_with("DeprecationTimeCondition"),
        "{failed:?}"
    );
    let two = Criterion {
        max_days_since_deprecated: Some(2),
        ..Criterion::default()
    };
    assert!(matches!(
        judge(&[two], &past, now()),
        Verdict::Allowed { .. }
    ));
}

#[test]
fn the_scan_condition_needs_a_scan_within_its_limits() {
    let c = Criterion {
        scan: Some(ScanCondition {
            limits: ScanLimits {
                max_severity: Some(Severity::Medium),
                ..ScanLimits::default()
            },
            max_days_since_scan: Some(7),
        }),
        ..Criterion::default()
    };
    let failed = refused_conditions(&judge(std::slice::from_ref(&c), &shared(), now()));
    assert!(failed[0].contains("never scanned"), "{failed:?}");
    let mut summary = ScanSummary::from_findings(&[]);
    summary.scanned_at = Some("2026-11-01T00:00:00Z".into());
    summary.highest = Some(Severity::High);
    let scanned = ImageFacts {
        scan: Some(summary),
        ..shared()
    };
    let failed = refused_conditions(&judge(&[c], &scanned, now()));
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].contains("high"), "{failed:?}");
    assert!(
        failed[1].contains("MaxDaysSinceLastFindingScan 7"),
        "{failed:?}"
    );
}

#[test]
fn what_this_version_cannot_read_is_unjudged_and_ec2s_own_verdict_is_final() {
    let v = judge(&[providers(&["verified-partners"])], &shared(), now());
    assert!(
        matches!(&v, Verdict::Unjudged { why } if why.contains("verified-partners")),
        "{v:?}"
    );
    let unknown = Criterion {
        unknown: vec!["ScanResultCondition MaximumSeverityLabel \"severe\"".into()],
        ..Criterion::default()
    };
    assert!(matches!(
        judge(&[unknown], &shared(), now()),
        Verdict::Unjudged { .. }
    ));
    // EC2 says no where amibake says yes: a condition amibake cannot see.
    let denied = ImageFacts {
        image_allowed: Some(false),
        ..shared()
    };
    let v = judge(&[providers(&["111122223333"])], &denied, now());
    assert!(
        matches!(&v, Verdict::Unjudged { why } if why.contains("ImageAllowed: false")),
        "{v:?}"
    );
    // EC2 says yes where amibake says no: EC2 enforces, so it is allowed.
    let marked = ImageFacts {
        image_allowed: Some(true),
        ..shared()
    };
    assert!(matches!(
        judge(&[providers(&["amazon"])], &marked, now()),
        Verdict::Allowed {
            criterion: None,
            ..
        }
    ));
}

#[test]
fn watermarks_match_on_every_given_field() {
    let image = ImageFacts {
        watermarks: vec![Watermark {
            key: "111122223333:approved".into(),
            source_region: "eu-west-1".into(),
            source_created: Some("2026-11-30T00:00:00Z".into()),
            created: Some("2026-12-01T00:00:00Z".into()),
        }],
        ..shared()
    };
    let filter = |key: &str, days: u32| Criterion {
        watermarks: vec![WatermarkFilter {
            key: Some(key.into()),
            source_region: Some("eu-*".into()),
            max_days_since_watermarked: Some(days),
            ..WatermarkFilter::default()
        }],
        ..Criterion::default()
    };
    assert!(matches!(
        judge(&[filter("*:approved", 5)], &image, now()),
        Verdict::Allowed { .. }
    ));
    assert!(matches!(
        judge(&[filter("*:approved", 4)], &image, now()),
        Verdict::Refused { .. }
    ));
    assert!(matches!(
        judge(&[filter("*:other", 5)], &image, now()),
        Verdict::Refused { .. }
    ));
}

#[test]
fn wildcards_are_star_and_question_mark() {
    assert!(wildcard("golden-*", "golden-web-1"));
    assert!(wildcard("al2023-ami-?.?-*", "al2023-ami-1.0-x86_64"));
    assert!(wildcard("*", ""));
    assert!(!wildcard("golden-?", "golden-12"));
    assert!(!wildcard("Golden-*", "golden-web"));
    assert!(wildcard("a*b*c", "axxbyyc"));
    assert!(!wildcard("a*b*c", "axxbyy"));
}
