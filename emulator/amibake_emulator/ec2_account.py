"""EC2 account settings amibake's preflight reads: which regions are enabled, and the
account's default EBS encryption key.

  * DescribeRegions: moto marks every opt-in region (ap-east-1, me-south-1, ...)
    `not-opted-in` and ignores AllRegions, so a copy to any of them would look
    impossible. Here every region is enabled (`opted-in`, or `opt-in-not-required`)
    except those named in the `regions_not_opted_in` knob of the region asked
    (`not-opted-in`); as in AWS, without AllRegions=true those are left out.
  * GetEbsDefaultKmsKeyId (moto: not implemented, HTTP 500): the key moto's
    ModifyEbsDefaultKmsKeyId set in that region, else the ARN of the alias
    `alias/aws/ebs` (the AWS managed key), as AWS answers for an account that never
    changed it. ResetEbsDefaultKmsKeyId goes back to that answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import World

# Regions AWS has always enabled; every other one needs opting in.
OPT_IN_NOT_REQUIRED = {
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-south-1", "ap-northeast-1",
    "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ca-central-1",
    "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "sa-east-1",
}


def install(world: World) -> None:
    """Patches moto's EC2 responses; the patches close over `world`."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response

    def describe_regions(self: Any) -> Any:
        self.error_on_dryrun()
        names = self._get_param("RegionNames", []) or []
        all_regions = str(self._get_param("AllRegions", "false")).lower() == "true"
        not_opted_in = set(world.knobs.get(self.region, "regions_not_opted_in") or [])
        regions = []
        for region in self.ec2_backend.describe_regions(names):
            if region.name in not_opted_in:
                status = "not-opted-in"
            elif region.name in OPT_IN_NOT_REQUIRED:
                status = "opt-in-not-required"
            else:
                status = "opted-in"
            if status == "not-opted-in" and not all_regions and not names:
                continue
            regions.append({"RegionName": region.name, "Endpoint": region.endpoint, "OptInStatus": status})
        return ActionResult({"Regions": regions})

    EC2Response.describe_regions = describe_regions

    def default_key(self: Any) -> str:
        key = getattr(self.ec2_backend, "default_kms_key_id", None)
        return key or f"arn:aws:kms:{self.region}:{self.current_account}:alias/aws/ebs"

    def get_ebs_default_kms_key_id(self: Any) -> Any:
        self.error_on_dryrun()
        return ActionResult({"KmsKeyId": default_key(self)})

    def reset_ebs_default_kms_key_id(self: Any) -> Any:
        self.error_on_dryrun()
        self.ec2_backend.default_kms_key_id = None
        return ActionResult({"KmsKeyId": default_key(self)})

    EC2Response.get_ebs_default_kms_key_id = get_ebs_default_kms_key_id
    EC2Response.reset_ebs_default_kms_key_id = reset_ebs_default_kms_key_id
