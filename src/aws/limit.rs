//! Client-side request-rate limits, so that many bakes in one process slow down instead of
//! tripping `RequestLimitExceeded`.
//!
//! AWS throttles per account and region with token buckets: EC2 documents its buckets
//! (<https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>) — one per
//! category of action (mutating, non-mutating, …) and one of its own for some actions
//! (CopyImage refills 1 token a second, RunInstances 2). The [`Limiter`] keeps the same
//! buckets on our side and makes each request wait for its token, so eight concurrent bakes
//! that all call CopyImage at once queue for a few seconds instead of failing and backing
//! off for much longer.
//!
//! It sits in the HTTP client (see [`Limited`]), under the SDK: every request counts,
//! including the SDK's own retries and paginated calls, just as AWS counts them. The
//! region and service come from the request's SigV4 credential scope, the action from its
//! `Action` parameter (EC2, CloudFormation, Auto Scaling), `X-Amz-Target` header (SSM,
//! KMS) or, for restJson1 services (Inspector), its path.
//! Requests that are not signed (IMDS, SSO token exchange) pass untouched; signed ones
//! also get the header that names the plan action they serve ([`super::acting`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::time::Instant;

/// A token bucket's shape: how many requests it allows at once, and how many more per
/// second after that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub size: f64,
    pub refill_per_second: f64,
}

const fn shape(size: f64, refill_per_second: f64) -> Shape {
    Shape {
        size,
        refill_per_second,
    }
}

/// EC2's own buckets for single actions (the "uncategorized" table of the EC2 page).
const EC2_OWN_BUCKETS: [(&str, Shape); 10] = [
    ("RunInstances", shape(5.0, 2.0)),
    ("StartInstances", shape(5.0, 2.0)),
    ("TerminateInstances", shape(100.0, 5.0)),
    ("CopyImage", shape(100.0, 1.0)),
    ("CreateTags", shape(100.0, 10.0)),
    ("DeleteTags", shape(100.0, 10.0)),
    ("DeregisterImage", shape(100.0, 5.0)),
    ("DeleteSnapshot", shape(100.0, 5.0)),
    ("ModifyImageAttribute", shape(100.0, 5.0)),
    ("ModifySnapshotAttribute", shape(100.0, 5.0)),
];

/// EC2's resource-intensive actions share a bucket.
const EC2_RESOURCE_INTENSIVE: [&str; 5] = [
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "CreateKeyPair",
    "RequestSpotInstances",
    "CancelSpotInstanceRequests",
];

/// Non-mutating EC2 actions that draw from a smaller bucket when they carry neither a
/// filter nor pagination. A call by ids counts as unfiltered here: the stricter reading.
const EC2_UNFILTERED_CANDIDATES: [&str; 7] = [
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeNetworkInterfaces",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSpotInstanceRequests",
    "DescribeVolumes",
];

/// SSM, CloudFormation and Auto Scaling publish no per-action rates; this shape (one bucket
/// per action) is an assumption, as generous as EC2's non-mutating bucket but slower.
const UNDOCUMENTED: Shape = shape(50.0, 10.0);

/// Which bucket a request draws from, and its shape.
pub fn bucket(service: &str, action: &str, filtered_or_paged: bool) -> (String, Shape) {
    if service != "ec2" {
        return (format!("{service}:{action}"), UNDOCUMENTED);
    }
    if let Some((_, s)) = EC2_OWN_BUCKETS.iter().find(|(a, _)| *a == action) {
        return (format!("ec2:{action}"), *s);
    }
    if EC2_RESOURCE_INTENSIVE.contains(&action) {
        return ("ec2:resource-intensive".into(), shape(50.0, 5.0));
    }
    if ["Describe", "List", "Search", "Get"]
        .iter()
        .any(|p| action.starts_with(p))
    {
        if EC2_UNFILTERED_CANDIDATES.contains(&action) && !filtered_or_paged {
            return ("ec2:unfiltered-non-mutating".into(), shape(50.0, 10.0));
        }
        return ("ec2:non-mutating".into(), shape(100.0, 20.0));
    }
    ("ec2:mutating".into(), shape(50.0, 5.0))
}

/// Our buckets refill a little slower than AWS's: requests reach AWS a few milliseconds
/// after we send them, not always in the same spacing, and other clients of the account
/// draw from the same buckets.
const HEADROOM: f64 = 0.9;

#[derive(Debug)]
struct Bucket {
    shape: Shape,
    /// May go negative: requests already promised a future token.
    tokens: f64,
    at: Instant,
}

/// What the limiter saw: requests by `service:Action`, and the time they spent waiting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    pub calls: BTreeMap<String, u64>,
    pub waited: Duration,
}

impl Traffic {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// The buckets of one process, per region.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
    traffic: Mutex<Traffic>,
}

impl Limiter {
    /// Takes a token for one request and says how long to wait before sending it: zero
    /// while the bucket has tokens, else until the refill reaches this request's turn.
    pub fn reserve(
        &self,
        region: &str,
        service: &str,
        action: &str,
        filtered_or_paged: bool,
    ) -> Duration {
        let (name, shape) = bucket(service, action, filtered_or_paged);
        let now = Instant::now();
        let wait = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let b = buckets.entry((region.to_string(), name)).or_insert(Bucket {
                shape: Shape {
                    size: shape.size,
                    refill_per_second: shape.refill_per_second * HEADROOM,
                },
                tokens: shape.size,
                at: now,
            });
            let refilled = now.duration_since(b.at).as_secs_f64() * b.shape.refill_per_second;
            b.tokens = (b.tokens + refilled).min(b.shape.size) - 1.0;
            b.at = now;
            if b.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-b.tokens / b.shape.refill_per_second)
            }
        };
        let mut traffic = self.traffic.lock().unwrap_or_else(|e| e.into_inner());
        *traffic
            .calls
            .entry(format!("{service}:{action}"))
            .or_default() += 1;
        traffic.waited += wait;
        wait
    }

    /// Every request so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What the limiter needs to know about a request.
#[derive(Debug, PartialEq, Eq)]
struct Signed {
    region: String,
    service: String,
    action: String,
    filtered_or_paged: bool,
}

/// Region and service from the SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20261123/us-east-1/ec2/aws4_request`), the action from the query
/// body's `Action=` or the `X-Amz-Target` header.
fn signed(request: &HttpRequest) -> Option<Signed> {
    let auth = request.headers().get("authorization")?;
    let scope = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let mut parts = scope.split('/').skip(2);
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    let body = request.body().bytes().unwrap_or_default();
    if let Some(target) = request.headers().get("x-amz-target") {
        let action = target.rsplit('.').next()?.to_string();
        let filtered_or_paged = contains(body, b"\"Filters\"") || contains(body, b"NextToken");
        return Some(Signed {
            region,
            service,
            action,
            filtered_or_paged,
        });
    }
    let body = std::str::from_utf8(body).ok()?;
    let query = request.uri().split_once('?').map_or("", |(_, q)| q);
    let action = match body
        .split('&')
        .chain(query.split('&'))
        .find_map(|kv| kv.strip_prefix("Action="))
    {
        Some(action) => action.to_string(),
        // restJson1 (Inspector): the operation is named by the request's path.
        None => rest_operation(&service, request.uri())?,
    };
    let filtered_or_paged = body.split('&').any(|kv| {
        kv.starts_with("Filter.") || kv.starts_with("MaxResults=") || kv.starts_with("NextToken=")
    });
    Some(Signed {
        region,
        service,
        action,
        filtered_or_paged,
    })
}

/// The restJson1 operations amibake calls, by service and path.
const REST_OPERATIONS: [(&str, &str, &str); 3] = [
    ("inspector2", "/ondemand/scan", "StartOnDemandScan"),
    (
        "inspector2",
        "/ondemand/scan/status",
        "GetOnDemandScanStatus",
    ),
    ("inspector2", "/ondemand/scans", "ListOnDemandScans"),
];

/// The operation of a restJson1 request from its path: a known one by name, any other
/// as its path.
fn rest_operation(service: &str, uri: &str) -> Option<String> {
    let after_host = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path = after_host.find('/').map_or("/", |i| &after_host[i..]);
    let path = path.split('?').next()?;
    let known = REST_OPERATIONS
        .iter()
        .find(|(s, p, _)| *s == service && *p == path);
    Some(known.map_or_else(|| path.to_string(), |(_, _, op)| op.to_string()))
}

/// Names the plan action this request serves ([`super::acting`]), after signing: the
/// header is not part of the signature, so AWS neither checks nor needs it. An id that is no
/// valid header value (none is: ids are ASCII) goes untagged rather than failing the call.
fn tag(request: &mut HttpRequest) {
    if let Some(action) = super::acting::current().filter(|a| !a.is_empty()) {
        let _ = request
            .headers_mut()
            .try_insert(super::acting::HEADER, action);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An HTTP client that passes every signed AWS request through a [`Limiter`] first.
#[derive(Debug, Clone)]
pub struct Limited {
    inner: SharedHttpClient,
    limiter: Arc<Limiter>,
}

impl Limited {
    pub fn new(inner: SharedHttpClient, limiter: Arc<Limiter>) -> Limited {
        Limited { inner, limiter }
    }
}

impl HttpClient for Limited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limiter: self.limiter.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limiter: Arc<Limiter>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let Some(s) = signed(&request) else {
            return self.inner.call(request);
        };
        tag(&mut request);
        let wait = self
            .limiter
            .reserve(&s.region, &s.service, &s.action, s.filtered_or_paged);
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;

    #[test]
    fn buckets_follow_the_ec2_page() {
        assert_eq!(bucket("ec2", "CopyImage", false).1, shape(100.0, 1.0));
        assert_eq!(bucket("ec2", "RunInstances", false).1, shape(5.0, 2.0));
        assert_eq!(bucket("ec2", "CreateImage", false).0, "ec2:mutating");
        assert_eq!(bucket("ec2", "DescribeImages", true).0, "ec2:non-mutating");
        assert_eq!(
            bucket("ec2", "DescribeInstances", false).0,
            "ec2:unfiltered-non-mutating"
        );
        assert_eq!(
            bucket("ec2", "DescribeInstances", true).0,
            "ec2:non-mutating"
        );
        assert_eq!(bucket("ssm", "SendCommand", false).0, "ssm:SendCommand");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_lets_a_burst_through_then_paces_at_the_refill_rate() {
        let limiter = Limiter::default();
        // RunInstances: 5 at once, then 2 a second (less our headroom).
        let waits: Vec<Duration> = (0..8)
            .map(|_| limiter.reserve("us-east-1", "ec2", "RunInstances", false))
            .collect();
        assert!(waits[..5].iter().all(|w| w.is_zero()), "{waits:?}");
        let pace = 1.0 / (2.0 * HEADROOM);
        for (i, w) in waits[5..].iter().enumerate() {
            let expected = pace * (i + 1) as f64;
            assert!((w.as_secs_f64() - expected).abs() < 1e-6, "{waits:?}");
        }
        // Another region has its own bucket.
        assert!(
            limiter
                .reserve("us-west-2", "ec2", "RunInstances", false)
                .is_zero()
        );
        // Time refills the bucket.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(
            limiter
                .reserve("us-east-1", "ec2", "RunInstances", false)
                .is_zero()
        );
        let traffic = limiter.traffic();
        assert_eq!(traffic.calls["ec2:RunInstances"], 10);
        assert!((traffic.waited.as_secs_f64() - 6.0 * pace).abs() < 1e-6);
    }

    #[tokio::test]
    async fn a_request_names_the_action_it_is_sent_in_and_none_outside() {
        let header = |req: &HttpRequest| {
            req.headers()
                .get(crate::aws::acting::HEADER)
                .map(str::to_string)
        };
        let mut outside = HttpRequest::new(SdkBody::empty());
        tag(&mut outside);
        assert_eq!(header(&outside), None);
        let inside = crate::aws::acting::acting("copy:us-west-2".into(), async {
            let mut req = HttpRequest::new(SdkBody::empty());
            tag(&mut req);
            req
        })
        .await;
        assert_eq!(header(&inside).as_deref(), Some("copy:us-west-2"));
    }

    #[test]
    fn reads_region_service_and_action_from_a_signed_request() {
        let mut req = HttpRequest::new(SdkBody::from(
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1",
        ));
        req.headers_mut().insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=x",
        );
        assert_eq!(
            signed(&req),
            Some(Signed {
                region: "eu-west-1".into(),
                service: "ec2".into(),
                action: "DescribeInstances".into(),
                filtered_or_paged: false,
            })
        );

        let mut req = HttpRequest::new(SdkBody::from(r#"{"CommandId":"c","InstanceId":"i"}"#));
        req.headers_mut().insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=x",
        );
        req.headers_mut()
            .insert("x-amz-target", "AmazonSSM.GetCommandInvocation");
        assert_eq!(signed(&req).unwrap().action, "GetCommandInvocation");

        // restJson1: the operation from the path.
        let mut req = HttpRequest::new(SdkBody::from(r#"{"resourceId":"ami-1"}"#));
        *req.uri_mut() = "https://inspector2.eu-west-1.amazonaws.com/ondemand/scan/status"
            .try_into()
            .unwrap();
        req.headers_mut().insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/eu-west-1/inspector2/aws4_request, SignedHeaders=host, Signature=x",
        );
        assert_eq!(signed(&req).unwrap().action, "GetOnDemandScanStatus");
        assert_eq!(
            rest_operation("inspector2", "http://127.0.0.1:4566/ondemand/scan?x=1").as_deref(),
            Some("StartOnDemandScan")
        );
        assert_eq!(
            rest_operation("inspector2", "https://h/other/path").as_deref(),
            Some("/other/path")
        );

        let unsigned = HttpRequest::new(SdkBody::from("Action=DescribeInstances"));
        assert_eq!(signed(&unsigned), None);
    }
}
