//! Every AWS call amibake makes, named once: the wrapper that makes it tags its errors
//! with this name (`AwsError::call`) and the plan lists it from here, so the plan's
//! `calls` and the code cannot drift apart.

/// `autoscaling:DescribeAutoScalingGroups`.
pub const AUTOSCALING_DESCRIBE_AUTO_SCALING_GROUPS: &str = "autoscaling:DescribeAutoScalingGroups";
/// `autoscaling:DescribeInstanceRefreshes`.
pub const AUTOSCALING_DESCRIBE_INSTANCE_REFRESHES: &str = "autoscaling:DescribeInstanceRefreshes";
/// `autoscaling:DescribeLaunchConfigurations`.
pub const AUTOSCALING_DESCRIBE_LAUNCH_CONFIGURATIONS: &str =
    "autoscaling:DescribeLaunchConfigurations";
/// `autoscaling:DescribeScalingActivities`.
pub const AUTOSCALING_DESCRIBE_SCALING_ACTIVITIES: &str = "autoscaling:DescribeScalingActivities";
/// `cloudformation:CreateChangeSet`.
pub const CLOUDFORMATION_CREATE_CHANGE_SET: &str = "cloudformation:CreateChangeSet";
/// `cloudformation:CreateStack`.
pub const CLOUDFORMATION_CREATE_STACK: &str = "cloudformation:CreateStack";
/// `cloudformation:DeleteChangeSet`.
pub const CLOUDFORMATION_DELETE_CHANGE_SET: &str = "cloudformation:DeleteChangeSet";
/// `cloudformation:DescribeChangeSet`.
pub const CLOUDFORMATION_DESCRIBE_CHANGE_SET: &str = "cloudformation:DescribeChangeSet";
/// `cloudformation:DescribeStacks`.
pub const CLOUDFORMATION_DESCRIBE_STACKS: &str = "cloudformation:DescribeStacks";
/// `cloudformation:DescribeStackEvents`.
pub const CLOUDFORMATION_DESCRIBE_STACK_EVENTS: &str = "cloudformation:DescribeStackEvents";
/// `cloudformation:ExecuteChangeSet`.
pub const CLOUDFORMATION_EXECUTE_CHANGE_SET: &str = "cloudformation:ExecuteChangeSet";
/// `cloudformation:GetTemplate`.
pub const CLOUDFORMATION_GET_TEMPLATE: &str = "cloudformation:GetTemplate";
/// `cloudformation:GetTemplateSummary`.
pub const CLOUDFORMATION_GET_TEMPLATE_SUMMARY: &str = "cloudformation:GetTemplateSummary";
/// `cloudformation:ListStackResources`.
pub const CLOUDFORMATION_LIST_STACK_RESOURCES: &str = "cloudformation:ListStackResources";
/// `ec2:CopyImage`.
pub const EC2_COPY_IMAGE: &str = "ec2:CopyImage";
/// `ec2:CreateImage`.
pub const EC2_CREATE_IMAGE: &str = "ec2:CreateImage";
/// `ec2:CreateImageUsageReport`.
pub const EC2_CREATE_IMAGE_USAGE_REPORT: &str = "ec2:CreateImageUsageReport";
/// `ec2:CreateSecurityGroup`.
pub const EC2_CREATE_SECURITY_GROUP: &str = "ec2:CreateSecurityGroup";
/// `ec2:CreateTags`.
pub const EC2_CREATE_TAGS: &str = "ec2:CreateTags";
/// `ec2:DeleteSecurityGroup`.
pub const EC2_DELETE_SECURITY_GROUP: &str = "ec2:DeleteSecurityGroup";
/// `ec2:DeleteSnapshot`.
pub const EC2_DELETE_SNAPSHOT: &str = "ec2:DeleteSnapshot";
/// `ec2:DeregisterImage`.
pub const EC2_DEREGISTER_IMAGE: &str = "ec2:DeregisterImage";
/// `ec2:DescribeImageReferences`.
pub const EC2_DESCRIBE_IMAGE_REFERENCES: &str = "ec2:DescribeImageReferences";
/// `ec2:DescribeImageUsageReportEntries`.
pub const EC2_DESCRIBE_IMAGE_USAGE_REPORT_ENTRIES: &str = "ec2:DescribeImageUsageReportEntries";
/// `ec2:DescribeImageUsageReports`.
pub const EC2_DESCRIBE_IMAGE_USAGE_REPORTS: &str = "ec2:DescribeImageUsageReports";
/// `ec2:DescribeImages`.
pub const EC2_DESCRIBE_IMAGES: &str = "ec2:DescribeImages";
/// `ec2:DescribeInstances`.
pub const EC2_DESCRIBE_INSTANCES: &str = "ec2:DescribeInstances";
/// `ec2:DescribeLaunchTemplateVersions`.
pub const EC2_DESCRIBE_LAUNCH_TEMPLATE_VERSIONS: &str = "ec2:DescribeLaunchTemplateVersions";
/// `ec2:DescribeRegions`.
pub const EC2_DESCRIBE_REGIONS: &str = "ec2:DescribeRegions";
/// `ec2:DescribeSecurityGroups`.
pub const EC2_DESCRIBE_SECURITY_GROUPS: &str = "ec2:DescribeSecurityGroups";
/// `ec2:DescribeSnapshots`.
pub const EC2_DESCRIBE_SNAPSHOTS: &str = "ec2:DescribeSnapshots";
/// `ec2:DescribeSubnets`.
pub const EC2_DESCRIBE_SUBNETS: &str = "ec2:DescribeSubnets";
/// `ec2:DisableImage`.
pub const EC2_DISABLE_IMAGE: &str = "ec2:DisableImage";
/// `ec2:EnableImage`.
pub const EC2_ENABLE_IMAGE: &str = "ec2:EnableImage";
/// `ec2:EnableImageDeprecation`.
pub const EC2_ENABLE_IMAGE_DEPRECATION: &str = "ec2:EnableImageDeprecation";
/// `ec2:GetAllowedImagesSettings`.
pub const EC2_GET_ALLOWED_IMAGES_SETTINGS: &str = "ec2:GetAllowedImagesSettings";
/// `ec2:GetEbsDefaultKmsKeyId`.
pub const EC2_GET_EBS_DEFAULT_KMS_KEY_ID: &str = "ec2:GetEbsDefaultKmsKeyId";
/// `ec2:GetImageFindings`.
pub const EC2_GET_IMAGE_FINDINGS: &str = "ec2:GetImageFindings";
/// `ec2:ModifyImageAttribute`.
pub const EC2_MODIFY_IMAGE_ATTRIBUTE: &str = "ec2:ModifyImageAttribute";
/// `ec2:ModifySnapshotAttribute`.
pub const EC2_MODIFY_SNAPSHOT_ATTRIBUTE: &str = "ec2:ModifySnapshotAttribute";
/// `ec2:RebootInstances`.
pub const EC2_REBOOT_INSTANCES: &str = "ec2:RebootInstances";
/// `ec2:RunInstances`.
pub const EC2_RUN_INSTANCES: &str = "ec2:RunInstances";
/// `ec2:StopInstances`.
pub const EC2_STOP_INSTANCES: &str = "ec2:StopInstances";
/// `ec2:TerminateInstances`.
pub const EC2_TERMINATE_INSTANCES: &str = "ec2:TerminateInstances";
/// `inspector2:GetOnDemandScanStatus`.
pub const INSPECTOR2_GET_ON_DEMAND_SCAN_STATUS: &str = "inspector2:GetOnDemandScanStatus";
/// `inspector2:StartOnDemandScan`.
pub const INSPECTOR2_START_ON_DEMAND_SCAN: &str = "inspector2:StartOnDemandScan";
/// `kms:DescribeKey`.
pub const KMS_DESCRIBE_KEY: &str = "kms:DescribeKey";
/// `kms:GetKeyPolicy`.
pub const KMS_GET_KEY_POLICY: &str = "kms:GetKeyPolicy";
/// `kms:ListGrants`.
pub const KMS_LIST_GRANTS: &str = "kms:ListGrants";
/// `ssm:AddTagsToResource`.
pub const SSM_ADD_TAGS_TO_RESOURCE: &str = "ssm:AddTagsToResource";
/// `ssm:DescribeInstanceInformation`.
pub const SSM_DESCRIBE_INSTANCE_INFORMATION: &str = "ssm:DescribeInstanceInformation";
/// `ssm:GetCommandInvocation`.
pub const SSM_GET_COMMAND_INVOCATION: &str = "ssm:GetCommandInvocation";
/// `ssm:GetParameter`.
pub const SSM_GET_PARAMETER: &str = "ssm:GetParameter";
/// `ssm:GetParameterHistory`.
pub const SSM_GET_PARAMETER_HISTORY: &str = "ssm:GetParameterHistory";
/// `ssm:GetParametersByPath`.
pub const SSM_GET_PARAMETERS_BY_PATH: &str = "ssm:GetParametersByPath";
/// `ssm:GetServiceSetting`.
pub const SSM_GET_SERVICE_SETTING: &str = "ssm:GetServiceSetting";
/// `ssm:ListTagsForResource`.
pub const SSM_LIST_TAGS_FOR_RESOURCE: &str = "ssm:ListTagsForResource";
/// `ssm:PutParameter`.
pub const SSM_PUT_PARAMETER: &str = "ssm:PutParameter";
/// `ssm:RemoveTagsFromResource`.
pub const SSM_REMOVE_TAGS_FROM_RESOURCE: &str = "ssm:RemoveTagsFromResource";
/// `ssm:SendCommand`.
pub const SSM_SEND_COMMAND: &str = "ssm:SendCommand";
