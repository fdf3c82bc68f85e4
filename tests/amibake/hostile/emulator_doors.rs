//! See tests/amibake/hostile/mod.rs. The guard rails around amibake rather than in it,
//! the emulator's doors: only local programs may reconfigure it or call its AWS APIs.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use crate::support::emulator;

// --- the emulator: no web page may reach it ---------------------------------------------

/// Knobs are per region; this one is no AWS region, so no bake of another test reads it.
const KNOB_REGION: &str = "guardrails-knobs-1";

/// A raw HTTP/1.1 request with exactly these headers (besides Content-Length and
/// Connection); `Host` is the emulator's own unless given. Returns the status, the
/// response headers (lower-cased names) and the body.
fn raw(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let ep = emulator::endpoint();
    let addr = ep
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut stream = TcpStream::connect(&addr).expect("emulator reachable");
    stream.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    stream.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The `bad_image` knob of KNOB_REGION as the emulator holds it (a plain local GET).
fn bad_image_knob() -> serde_json::Value {
    let (status, text) =
        emulator::http("GET", &format!("/_amibake/config?region={KNOB_REGION}"), "");
    assert_eq!(status, 200, "GET /_amibake/config: {text}");
    let knobs: serde_json::Value = serde_json::from_str(&text).expect("config is JSON");
    knobs["bad_image"].clone()
}

fn no_cors_headers(headers: &[(String, String)]) -> bool {
    !headers
        .iter()
        .any(|(k, _)| k.starts_with("access-control-"))
}

/// A knob change a web page would like to make: the whole region's images go bad.
fn hostile_config() -> String {
    serde_json::json!({ "region": KNOB_REGION, "reset": true, "bad_image": true }).to_string()
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn emulator_refuses_a_config_post_from_a_web_page_and_changes_nothing() {
    emulator::configure(KNOB_REGION, serde_json::json!({}));
    let page = [
        ("Origin", "http://attacker.example"),
        ("Content-Type", "application/json"),
    ];
    let (status, headers, body) = raw("POST", "/_amibake/config", &page, &hostile_config());
    assert_eq!(
        status, 403,
        "an Origin-bearing config POST must be refused: {body}"
    );
    assert!(
        no_cors_headers(&headers),
        "no CORS header may answer a page: {headers:?}"
    );
    // A fetch() without Origin still says where it comes from (Sec-Fetch-Site).
    let fetch = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "no-cors"),
        ("Content-Type", "application/json"),
    ];
    let (status, _, body) = raw("POST", "/_amibake/config", &fetch, &hostile_config());
    assert_eq!(status, 403, "a cross-site fetch must be refused: {body}");
    // The CORS preflight a page would send first gets no permission either.
    let preflight = [
        ("Origin", "http://attacker.example"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let (status, headers, _) = raw("OPTIONS", "/_amibake/config", &preflight, "");
    assert_eq!(status, 403, "a CORS preflight must be refused");
    assert!(no_cors_headers(&headers), "{headers:?}");
    assert_eq!(bad_image_knob(), false, "a refused request changed a knob");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn emulator_refuses_a_text_plain_config_post_and_changes_nothing() {
    emulator::configure(KNOB_REGION, serde_json::json!({}));
    // What an HTML form or a "simple" fetch can send without a preflight.
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, _, body) = raw(
            "POST",
            "/_amibake/config",
            &[("Content-Type", kind)],
            &hostile_config(),
        );
        assert_eq!(status, 415, "a {kind} config POST must be refused: {body}");
    }
    let (status, _, body) = raw("POST", "/_amibake/config", &[], &hostile_config());
    assert_eq!(
        status, 415,
        "a config POST without Content-Type must be refused: {body}"
    );
    assert_eq!(bad_image_knob(), false, "a refused request changed a knob");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn emulator_refuses_a_foreign_host_header_dns_rebinding() {
    let ep = emulator::endpoint();
    let port = ep
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    let rebound = format!("attacker.example:{port}");
    let (status, _, body) = raw("GET", "/_amibake/config", &[("Host", &rebound)], "");
    assert_eq!(
        status, 403,
        "a request for another host name must be refused: {body}"
    );
    let (status, _, body) = raw(
        "POST",
        "/_amibake/config",
        &[("Host", &rebound), ("Content-Type", "application/json")],
        &hostile_config(),
    );
    assert_eq!(status, 403, "{body}");
    // The loopback names of this very emulator are its own.
    let (status, _, body) = raw(
        "GET",
        "/_amibake/health",
        &[("Host", &format!("localhost:{port}"))],
        "",
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn emulator_refuses_a_web_pages_calls_to_the_emulated_aws_apis() {
    // The CORS preflight of a page's fetch() carrying an Authorization header: moto's
    // global CORS allowed any origin, any header.
    let preflight = [
        ("Origin", "http://attacker.example"),
        ("Access-Control-Request-Method", "POST"),
        (
            "Access-Control-Request-Headers",
            "authorization,content-type,x-amz-date",
        ),
    ];
    let (status, headers, _) = raw("OPTIONS", "/", &preflight, "");
    assert_eq!(
        status, 403,
        "a page's preflight to the AWS APIs must be refused"
    );
    assert!(no_cors_headers(&headers), "{headers:?}");
    // The call itself (moto checks no signature: the credential scope picks the service).
    let group = emulator::unique("guardrails-page");
    let form = format!(
        "Action=CreateSecurityGroup&Version=2016-11-15&GroupName={group}&GroupDescription=from-a-page"
    );
    let page = [
        ("Origin", "http://attacker.example"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "cors"),
        ("Content-Type", "application/x-www-form-urlencoded"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, \
             SignedHeaders=host, Signature=0",
        ),
    ];
    let (status, headers, body) = raw("POST", "/", &page, &form);
    assert_eq!(status, 403, "a page's call must not reach EC2: {body}");
    assert!(no_cors_headers(&headers), "{headers:?}");
    let groups = emulator::rt().block_on(async {
        let ec2 = emulator::ec2("us-east-1").await;
        ec2.describe_security_groups()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("group-name")
                    .values(&group)
                    .build(),
            )
            .send()
            .await
            .expect("DescribeSecurityGroups")
            .security_groups()
            .len()
    });
    assert_eq!(groups, 0, "the page created security group {group}");
}

#[test]
#[ignore = "needs the emulator: scripts/test.sh runs it (AMIBAKE_TEST_ENDPOINT, --include-ignored)"]
fn emulator_serves_sdk_calls_and_json_config_posts_without_cors_headers() {
    emulator::configure(KNOB_REGION, serde_json::json!({ "bad_image": true }));
    assert_eq!(bad_image_knob(), true, "a JSON config POST must work");
    emulator::configure(KNOB_REGION, serde_json::json!({}));
    assert_eq!(bad_image_knob(), false);
    let regions = emulator::rt().block_on(async {
        let ec2 = emulator::ec2("us-east-1").await;
        ec2.describe_regions()
            .send()
            .await
            .expect("an SDK call works")
            .regions()
            .len()
    });
    assert!(regions > 0);
    // A local program's plain GET: answered, and without CORS headers.
    let (status, headers, _) = raw("GET", "/_amibake/health", &[], "");
    assert_eq!(status, 200);
    assert!(no_cors_headers(&headers), "{headers:?}");
    // The user's browser typing the address is not a web page (Sec-Fetch-Site: none).
    let typed = [("Sec-Fetch-Site", "none"), ("Sec-Fetch-Mode", "navigate")];
    let (status, _, body) = raw("GET", "/_amibake/health", &typed, "");
    assert_eq!(status, 200, "{body}");
}
