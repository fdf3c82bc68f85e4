//! The builder (and the boot-test instance): temporary security group, launch, and the wait until
//! it runs with its SSM agent Online.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::aws::ec2;
use crate::aws::poll::{self, PollError, Schedule};
use crate::aws::ssm;
use crate::aws::{AwsError, calls};

use super::{Bake, BakeError, Made};
use crate::aws::ec2::ImageInfo;
use crate::error::FromAws;
use crate::image::ResourceKind;
use crate::plan::Role;
use crate::recipe::types::InstanceType;

impl Bake<'_> {
    /// Without an instance profile, only the account's Default Host Management
    /// Configuration gives the builder SSM access: without it the agent never comes
    /// online, so the bake stops here, before anything is created (exit 2).
    pub(super) async fn check_host_management(&self) -> Result<(), BakeError> {
        let ssm = self.ssm()?;
        let role = poll::retry(|| ssm::host_management_role(&ssm))
            .await
            .map_err(BakeError::aws("setup"))?;
        if role.is_some() {
            return Ok(());
        }
        let region = self.region();
        Err(BakeError::Input(format!(
            "builder.iam_instance_profile is not set and the account has no Default Host Management Configuration in {region}, so the builder's SSM agent could never come online. Either name an instance profile that has the AmazonSSMManagedInstanceCore policy (builder.iam_instance_profile), or turn on Default Host Management Configuration (Systems Manager → Fleet Manager → Account management, or: aws ssm update-service-setting --region {region} --setting-id arn:aws:ssm:{region}:ACCOUNT:servicesetting{} --setting-value service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole)",
            ssm::HOST_MANAGEMENT_SETTING
        )))
    }

    /// A temporary security group with no inbound rule (when the recipe names none).
    pub(super) async fn security_group(&self) -> Result<String, BakeError> {
        let ec2 = self.ec2(self.region())?;
        let vpc = match &self.plan.builder.subnet_id {
            Some(subnet) => poll::retry(|| ec2::subnet_vpc(&ec2, subnet))
                .await
                .map_err(BakeError::aws("launch"))?,
            None => None,
        };
        let name = format!("amibake-{}", self.plan.run_id);
        let mut tags = crate::lease::stamped(&self.plan.builder.tags);
        tags.insert("Name".into(), name.clone());
        self.note(
            "intent",
            ResourceKind::SecurityGroup,
            self.region(),
            None,
            Some(&name),
        )
        .await?;
        let id =
            poll::retry(|| ec2::create_security_group(&ec2, &name, vpc.as_deref(), &tags)).await;
        let id = self
            .settle(ResourceKind::SecurityGroup, self.region(), &name, id)
            .await?
            .map_err(BakeError::aws("launch"))?;
        let made = Made::SecurityGroup;
        self.record(made, self.region(), &id, Some(&name), None)
            .await?;
        Ok(id)
    }

    /// Launches an instance (builder or boot test) and remembers it for cleanup.
    pub(super) async fn launch(
        &self,
        role: Role,
        instance_type: &InstanceType,
        from: &ImageInfo,
        groups: &[String],
        tags: &BTreeMap<String, String>,
        token: &str,
    ) -> Result<String, BakeError> {
        let b = &self.plan.builder;
        let launch = ec2::Launch {
            image_id: from.id.clone(),
            instance_type: instance_type.to_string(),
            instance_profile: b.iam_instance_profile.clone(),
            subnet_id: b.subnet_id.clone(),
            security_group_ids: groups.to_vec(),
            associate_public_ip_address: b.associate_public_ip_address,
            root_volume: (role == Role::Builder).then(|| ec2::RootVolume {
                device_name: from
                    .root_device_name
                    .as_deref()
                    .unwrap_or("/dev/xvda")
                    .to_string(),
                size_gb: b.volume_size_gb,
                volume_type: b.volume_type.clone(),
                kms_key_id: b.kms_key_id.clone(),
            }),
            tags: crate::lease::stamped(tags),
            client_token: token.to_string(),
        };
        let ec2 = self.ec2(self.region())?;
        self.note(
            "intent",
            ResourceKind::Instance,
            self.region(),
            None,
            Some(token),
        )
        .await?;
        // Safe to retry: the ClientToken makes EC2 return the same instance.
        let id = poll::retry(|| ec2::run_instance(&ec2, &launch)).await;
        let id = self
            .settle(ResourceKind::Instance, self.region(), token, id)
            .await?
            .map_err(|e| match e.code() {
                Some(
                    "InvalidAMIID.NotFound"
                    | "InvalidParameterValue"
                    | "InvalidParameterCombination",
                ) if role == Role::Builder => BakeError::Input(format!("launch: {}", e.chain())),
                _ => BakeError::Aws {
                    phase: "launch",
                    source: e,
                },
            })?;
        let note = format!("{instance_type}, IMDSv2 required, encrypted root volume");
        let made = Made::Instance(role);
        self.record(made, self.region(), &id, Some(token), Some(note))
            .await?;
        Ok(id)
    }

    /// Waits until the instance runs with its SSM agent Online: one wait, asking SSM (an
    /// Online agent implies a running instance), and EC2 now and then whether the instance
    /// died on the way up.
    pub(super) async fn wait_ready(
        &self,
        spinner: &str,
        instance: &str,
        timeout: Duration,
    ) -> Result<(), BakeError> {
        let ec2 = self.ec2(self.region())?;
        let ssm = self.ssm()?;
        let key = self.instance_wait_key("ready");
        let asked = AtomicU32::new(0);
        self.reporter.spin(
            spinner,
            &format!("waiting for {instance} and its SSM agent"),
        );
        let ready = poll::until_learned(
            self.schedule(Schedule::AGENT),
            &self.options.history,
            &key,
            None,
            timeout,
            || async {
                if ssm::agent_status(&ssm, instance)
                    .await?
                    .is_some_and(|s| s.online)
                {
                    return Ok(Some(()));
                }
                if asked.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
                    check_alive(&ec2, instance).await?;
                }
                Ok(None)
            },
        )
        .await;
        match ready {
            Ok(()) => Ok(()),
            Err(PollError::Timeout(_)) => {
                // Say which half never happened.
                let look = ec2::instance_state(&ec2, instance);
                let looked = poll::bounded(poll::CLOSING_LOOK, look).await;
                let state = looked
                    .as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .cloned()
                    .flatten();
                let hint = if looked.is_none() {
                    format!(
                        "neither SSM nor EC2 said {instance} is ready, and EC2 did not answer within {}s: the network to AWS may be down",
                        poll::CLOSING_LOOK.as_secs()
                    )
                } else if state.as_deref() == Some("running") {
                    let access = match &self.plan.builder.iam_instance_profile {
                        Some(p) => format!("the instance profile `{p}` lacks the AmazonSSMManagedInstanceCore policy (or name none and turn on the account's Default Host Management Configuration)"),
                        None => "no instance profile is named and the Default Host Management Configuration's role lacks AmazonSSMManagedEC2InstanceDefaultPolicy (or name an instance profile with AmazonSSMManagedInstanceCore in builder.iam_instance_profile)".to_string(),
                    };
                    format!(
                        "the SSM agent on {instance} never came Online. Usual causes: {access}; the subnet has no route to the SSM endpoints (no NAT gateway, no public IP, no ssm/ssmmessages/ec2messages VPC endpoints); the image has no SSM agent"
                    )
                } else {
                    format!(
                        "instance {instance} did not reach `running` (it is {})",
                        state.as_deref().unwrap_or("not visible")
                    )
                };
                Err(self.poll_error("ready", PollError::Timeout(timeout), hint))
            }
            Err(e) => Err(self.poll_error("ready", e, String::new())),
        }
    }

    /// The wait-history key of an instance's `kind` of wait: how long it takes depends on
    /// the region, the instance type and the OS that boots.
    pub(super) fn instance_wait_key(&self, kind: &str) -> String {
        format!(
            "{kind}:{}:{}:{}",
            self.region(),
            self.plan.builder.instance_type,
            self.plan.os
        )
    }

    pub(super) fn poll_error(&self, phase: &'static str, e: PollError, hint: String) -> BakeError {
        match e {
            PollError::Timeout(after) => BakeError::Timeout {
                phase: phase.to_string(),
                after,
                hint,
            },
            PollError::Aws(source) => BakeError::Aws { phase, source },
        }
    }
}

/// Fails when an instance being waited for died on the way up.
pub(super) async fn check_alive(ec2: &aws_sdk_ec2::Client, instance: &str) -> Result<(), AwsError> {
    match ec2::instance_state(ec2, instance).await? {
        Some(s)
            if matches!(
                s.as_str(),
                "terminated" | "shutting-down" | "stopped" | "stopping"
            ) =>
        {
            Err(AwsError::local(
                calls::EC2_DESCRIBE_INSTANCES,
                Some("UnexpectedState"),
                format!(
                    "instance {instance} is {s} instead of running (check the instance's console output and the volume's KMS key permissions)"
                ),
            ))
        }
        _ => Ok(()),
    }
}
