//! Thin wrappers around the AWS SDK clients amibake uses.
//!
//! One [`Aws`] per process: the SDK config (standard credential chain, profile, region,
//! endpoint override) and a client per service and region. Each submodule wraps the few
//! calls its phase needs and classifies errors, so the orchestration in `bake` reads as
//! the steps a release engineer would take.
//!
//! Every call is bounded ([`CallTimeouts`]): behind a connection that stops answering a
//! call fails, it never hangs; the waits of `poll` bound themselves by their deadlines.

pub mod acting;
pub mod asg;
pub mod calls;
pub mod cfn;
pub mod ec2;
pub mod error;
pub mod history;
pub mod inspector;
pub mod kms;
pub mod limit;
pub mod poll;
pub mod ssm;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::RetryConfig;

pub use error::AwsError;
use limit::{Limited, Limiter, Traffic};

/// Where and as whom to call AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Overrides every service's endpoint (a local emulator). The SDK also honours
    /// `AWS_ENDPOINT_URL` by itself.
    pub endpoint_url: Option<String>,
    /// How long one call may take.
    pub timeouts: CallTimeouts,
}

/// How long one AWS call may take (docs/bake.md, "Timeouts, signals and what is left"): connecting, waiting for the next
/// bytes of an answer, one attempt, and the whole call with the SDK's retries. The SDK
/// has none of these by default but the connect timeout, so a connection that stops
/// answering would hold a call (and the bake, and its cleanup) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTimeouts {
    pub connect: Duration,
    pub read: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl CallTimeouts {
    /// Far above what any call amibake makes takes (a second or two), far below "hung".
    pub const DEFAULT: CallTimeouts = CallTimeouts::from_attempt(Duration::from_secs(30));

    /// The timeouts for an attempt limit (`AMIBAKE_API_TIMEOUT`): reads as long, connecting
    /// at most 5 s, the whole call (its retries) three attempts' worth.
    pub const fn from_attempt(attempt: Duration) -> CallTimeouts {
        let connect = if attempt.as_secs() < 5 {
            attempt
        } else {
            Duration::from_secs(5)
        };
        CallTimeouts {
            connect,
            read: attempt,
            attempt,
            operation: Duration::from_secs(attempt.as_secs().saturating_mul(3)),
        }
    }

    fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

impl Default for CallTimeouts {
    fn default() -> CallTimeouts {
        CallTimeouts::DEFAULT
    }
}

/// The SDK clients of one run.
#[derive(Clone)]
pub struct Aws {
    region: String,
    config: Option<SdkConfig>,
    ec2: Arc<Clients<aws_sdk_ec2::Client>>,
    ssm: Arc<Clients<aws_sdk_ssm::Client>>,
    cfn: Arc<Clients<aws_sdk_cloudformation::Client>>,
    asg: Arc<Clients<aws_sdk_autoscaling::Client>>,
    kms: Arc<Clients<aws_sdk_kms::Client>>,
    inspector: Arc<Clients<aws_sdk_inspector2::Client>>,
    /// Shared by every client (and every bake) of the process.
    limiter: Arc<Limiter>,
}

/// The clients of one service, one per region, each made on first use from the shared
/// config (or handed in by a test).
struct Clients<C> {
    service: &'static str,
    make: fn(&SdkConfig, Region) -> C,
    by_region: Mutex<HashMap<String, C>>,
}

impl<C: Clone> Clients<C> {
    fn new(service: &'static str, make: fn(&SdkConfig, Region) -> C) -> Arc<Clients<C>> {
        Arc::new(Clients {
            service,
            make,
            by_region: Mutex::default(),
        })
    }

    fn get(&self, config: Option<&SdkConfig>, region: &str) -> Result<C, AwsError> {
        let mut clients = self.by_region.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(region) {
            return Ok(c.clone());
        }
        let config = config.ok_or_else(|| AwsError::NoClient {
            service: self.service,
            region: region.to_string(),
        })?;
        let client = (self.make)(config, Region::new(region.to_string()));
        clients.insert(region.to_string(), client.clone());
        Ok(client)
    }

    fn insert(&self, region: &str, client: C) {
        self.by_region
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(region.to_string(), client);
    }
}

/// The HTTPS client (hyper 1, rustls with ring, proxies from the environment): every AWS
/// client amibake makes sends through it, wrapped by the request-rate limiter. Public so
/// that the tests' own clients (the emulator checks) send the same way.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = aws_smithy_http_client::Connector::builder();
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build()
    })
}

/// [`https_client`], wrapped by the request-rate limiter.
fn limited_https_client(limiter: Arc<Limiter>) -> SharedHttpClient {
    SharedHttpClient::new(Limited::new(https_client(), limiter))
}

impl Aws {
    /// No client yet: each is made on first use from `config` (or handed in by a test).
    fn with_config(region: String, config: Option<SdkConfig>, limiter: Arc<Limiter>) -> Aws {
        Aws {
            region,
            config,
            ec2: Clients::new("ec2", |c, r| {
                aws_sdk_ec2::Client::from_conf(
                    aws_sdk_ec2::config::Builder::from(c).region(r).build(),
                )
            }),
            ssm: Clients::new("ssm", |c, r| {
                aws_sdk_ssm::Client::from_conf(
                    aws_sdk_ssm::config::Builder::from(c).region(r).build(),
                )
            }),
            cfn: Clients::new("cloudformation", |c, r| {
                let config = aws_sdk_cloudformation::config::Builder::from(c).region(r);
                aws_sdk_cloudformation::Client::from_conf(config.build())
            }),
            asg: Clients::new("autoscaling", |c, r| {
                let config = aws_sdk_autoscaling::config::Builder::from(c).region(r);
                aws_sdk_autoscaling::Client::from_conf(config.build())
            }),
            kms: Clients::new("kms", |c, r| {
                aws_sdk_kms::Client::from_conf(
                    aws_sdk_kms::config::Builder::from(c).region(r).build(),
                )
            }),
            inspector: Clients::new("inspector2", |c, r| {
                let config = aws_sdk_inspector2::config::Builder::from(c).region(r);
                aws_sdk_inspector2::Client::from_conf(config.build())
            }),
            limiter,
        }
    }

    /// Loads the SDK config the standard way (environment, profile, SSO, IMDS …).
    pub async fn load(options: &AwsOptions) -> Result<Aws, AwsError> {
        let limiter = Arc::new(Limiter::default());
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(limited_https_client(limiter.clone()))
            // The SDK retries throttling and transient errors itself; a few more attempts
            // than its default ride out EC2's request-rate buckets during big bakes.
            .retry_config(RetryConfig::standard().with_max_attempts(6))
            .timeout_config(options.timeouts.config());
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or(AwsError::NoRegion)?;
        Ok(Aws::with_config(region, Some(config), limiter))
    }

    /// Clients built elsewhere (unit tests hand in aws-smithy-mocks clients). Regions
    /// without a client are an error when used.
    pub fn from_clients(
        region: &str,
        ec2: impl IntoIterator<Item = (String, aws_sdk_ec2::Client)>,
        ssm: impl IntoIterator<Item = (String, aws_sdk_ssm::Client)>,
    ) -> Aws {
        let aws = Aws::with_config(region.to_string(), None, Arc::default());
        for (region, client) in ec2 {
            aws.ec2.insert(&region, client);
        }
        for (region, client) in ssm {
            aws.ssm.insert(&region, client);
        }
        aws
    }

    /// Adds a CloudFormation client built elsewhere (see [`Aws::from_clients`]).
    pub fn with_cfn(self, region: &str, client: aws_sdk_cloudformation::Client) -> Aws {
        self.cfn.insert(region, client);
        self
    }

    /// Adds an Auto Scaling client built elsewhere (see [`Aws::from_clients`]).
    pub fn with_asg(self, region: &str, client: aws_sdk_autoscaling::Client) -> Aws {
        self.asg.insert(region, client);
        self
    }

    /// Adds a KMS client built elsewhere (see [`Aws::from_clients`]).
    pub fn with_kms(self, region: &str, client: aws_sdk_kms::Client) -> Aws {
        self.kms.insert(region, client);
        self
    }

    /// Adds an Inspector client built elsewhere (see [`Aws::from_clients`]).
    pub fn with_inspector(self, region: &str, client: aws_sdk_inspector2::Client) -> Aws {
        self.inspector.insert(region, client);
        self
    }

    /// Every request this process sent through the limiter so far (clients built by
    /// [`Aws::load`]; hand-built test clients bypass it).
    pub fn traffic(&self) -> Traffic {
        self.limiter.traffic()
    }

    /// The home region: where the bake runs.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The same clients with `region` as the home region: `revoke --roll-back-stacks`
    /// rolls each region's stacks back with the roll code, which acts in its home region.
    pub fn in_region(&self, region: &str) -> Aws {
        Aws {
            region: region.to_string(),
            ..self.clone()
        }
    }

    /// The EC2 client for `region`.
    pub fn ec2(&self, region: &str) -> Result<aws_sdk_ec2::Client, AwsError> {
        self.ec2.get(self.config.as_ref(), region)
    }

    /// The SSM client for `region`.
    pub fn ssm(&self, region: &str) -> Result<aws_sdk_ssm::Client, AwsError> {
        self.ssm.get(self.config.as_ref(), region)
    }

    /// The CloudFormation client for `region`.
    pub fn cfn(&self, region: &str) -> Result<aws_sdk_cloudformation::Client, AwsError> {
        self.cfn.get(self.config.as_ref(), region)
    }

    /// The Auto Scaling client for `region`.
    pub fn asg(&self, region: &str) -> Result<aws_sdk_autoscaling::Client, AwsError> {
        self.asg.get(self.config.as_ref(), region)
    }

    /// The KMS client for `region`.
    pub fn kms(&self, region: &str) -> Result<aws_sdk_kms::Client, AwsError> {
        self.kms.get(self.config.as_ref(), region)
    }

    /// The Inspector (inspector2) client for `region`.
    pub fn inspector(&self, region: &str) -> Result<aws_sdk_inspector2::Client, AwsError> {
        self.inspector.get(self.config.as_ref(), region)
    }
}
