"""SSM: which instances have an Online agent, and Canonical's public AMI parameter.

amibake waits for a builder's SSM agent before it sends commands, and resolves base AMIs
through SSM public parameters. moto implements neither DescribeInstanceInformation nor
Ubuntu's parameters, so:

  * DescribeInstanceInformation (moto: not implemented). An EC2 instance of the same
    account/region is listed once it is `running` and its agent has "registered"
    (agent_online_seconds after it became running): PingStatus Online, LastPingDateTime
    = now, PlatformType Linux, PlatformName/Version from its AMI lineage, AgentVersion,
    IsLatestVersion, ResourceType EC2Instance. For reboot_offline_seconds after
    RebootInstances it is listed as ConnectionLost with LastPingDateTime = the reboot.
    Pending/stopping/stopped/terminated instances are not listed; with
    require_instance_profile, neither is one without an instance profile, unless the
    account's Default Host Management Configuration is on (default_host_management).
  * GetServiceSetting (moto: not implemented) of
    /ssm/managed-instance/default-ec2-instance-management-role: the
    default_host_management knob's role name, or "$None" when it is off; any other
    setting is ServiceSettingNotFound.
    Filters: InstanceIds, PingStatus, PlatformTypes, AgentVersion, ResourceType, tag:K,
    tag-key (both InstanceInformationFilterList and Filters); MaxResults/NextToken.
    A real-OS instance is Online while its stand-in agent unit runs (realos.Box.agent).
  * GetParameter(s)/GetParametersByPath for
    /aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id
    (moto ships only the Amazon Linux public parameters): it names the Ubuntu 24.04 AMI
    ec2.py seeds in every region. The Amazon Linux parameters are moto's own.

`agent_view()` is also what SendCommand checks (ssm_commands.py).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from .ec2 import ubuntu_ami_id
from .util import epoch_to_dt, utcnow

if TYPE_CHECKING:
    from .state import World

UBUNTU_2404_PARAMETER = (
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
)
SSM_AGENT_VERSION = "3.3.1802.0"


def instances_of(account: str, region: str) -> list[Any]:
    from moto.ec2.models import ec2_backends

    return list(ec2_backends[account][region].all_instances())


def agent_view(world: World, account: str, region: str, instance: Any, now: float) -> tuple[str, float] | None:
    """(PingStatus, last ping epoch) of the instance's SSM agent, or None if unregistered."""
    if instance.state != "running":
        return None
    box = world.realos.box(account, region, instance.id)
    if box is not None:
        return box.agent(now)
    if world.knobs.get(region, "require_instance_profile") and not world.knobs.get(region, "default_host_management"):
        assoc = instance.ec2_backend.iam_instance_profile_associations.get(instance.id)
        if assoc is None:
            return None
    f = world.instance_facts(account, region, instance.id)
    running_since = f.setdefault("running_since", instance.launch_time.replace(tzinfo=dt.timezone.utc).timestamp())
    registered = running_since + world.knobs.get(region, "agent_online_seconds")
    if now < registered:
        return None
    last_reboot = f.get("last_reboot")
    if last_reboot is not None and last_reboot >= registered:
        if now < last_reboot + world.knobs.get(region, "reboot_offline_seconds"):
            return "ConnectionLost", last_reboot
    return "Online", now


def install(world: World) -> None:
    """Patches moto's SSM parameters and responses; the patches close over `world`."""
    install_ubuntu_parameter()
    install_service_setting(world)
    install_instance_information(world)


def install_ubuntu_parameter() -> None:
    """Canonical's Ubuntu 24.04 public parameter, loaded with the /aws/service/canonical tree."""
    from moto.ssm.models import Parameter, ParameterDict

    orig_check = ParameterDict._check_loading_status

    def _check_loading_status(self: Any, key: str) -> None:
        orig_check(self, key)
        key = str(key or "")
        under = len(key) > 1 and UBUNTU_2404_PARAMETER.startswith(key.rstrip("/") + "/")
        if key.startswith("/aws/service/canonical") or under:
            if not getattr(self, "amibake_canonical_loaded", False):
                self.amibake_canonical_loaded = True
                super(ParameterDict, self).__getitem__(UBUNTU_2404_PARAMETER).append(
                    Parameter(
                        account_id=self.account_id,
                        name=UBUNTU_2404_PARAMETER,
                        value=ubuntu_ami_id(self.region_name),
                        parameter_type="String",
                        description=None,
                        allowed_pattern=None,
                        keyid=None,
                        last_modified_date=utcnow(),
                        version=1,
                        data_type="aws:ec2:image",
                    )
                )

    ParameterDict._check_loading_status = _check_loading_status


def install_service_setting(world: World) -> None:
    """GetServiceSetting: the Default Host Management Configuration (default_host_management)."""
    from moto.core.responses import ActionResult
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    def get_service_setting(self: Any) -> Any:
        from moto.ssm.exceptions import SSMException

        setting = str(self._get_param("SettingId") or "")
        if not setting.endswith("/ssm/managed-instance/default-ec2-instance-management-role"):
            raise SSMException("ServiceSettingNotFound", f"ServiceSetting {setting} not found")
        role = world.knobs.get(self.region, "default_host_management") or "$None"
        return ActionResult(
            {
                "ServiceSetting": {
                    "SettingId": setting,
                    "SettingValue": role,
                    "LastModifiedDate": utcnow(),
                    "LastModifiedUser": "System",
                    "Status": "Default" if role == "$None" else "Customized",
                }
            }
        )

    R.get_service_setting = get_service_setting


def instance_filters(params: Any) -> dict[str, set[str]]:
    """The wanted values per filter key, from InstanceInformationFilterList and Filters."""
    wanted: dict[str, set[str]] = {}
    for flt in params("InstanceInformationFilterList", []) or []:
        wanted.setdefault(flt.get("key"), set()).update(flt.get("valueSet", []))
    for flt in params("Filters", []) or []:
        wanted.setdefault(flt.get("Key"), set()).update(flt.get("Values", []))
    return wanted


def matches(instance: Any, ping: str, wanted: dict[str, set[str]]) -> bool:
    tags = {t["key"]: t["value"] for t in instance.get_tags()}
    fields = {
        "InstanceIds": instance.id,
        "PingStatus": ping,
        "PlatformTypes": "Linux",
        "AgentVersion": SSM_AGENT_VERSION,
        "ResourceType": "EC2Instance",
    }
    ok = True
    for key, values in wanted.items():
        if key in fields:
            ok &= fields[key] in values
        elif key and key.startswith("tag:"):
            ok &= tags.get(key[4:]) in values
        elif key == "tag-key":
            ok &= bool(set(tags) & values)
    return ok


def information_row(world: World, account: str, region: str, instance: Any, ping: str, last: float) -> dict[str, Any]:
    f = world.instance_facts(account, region, instance.id)
    platform_name, platform_version = f.get("platform", ["Amazon Linux", "2023"])
    return {
        "InstanceId": instance.id,
        "PingStatus": ping,
        "LastPingDateTime": epoch_to_dt(last),
        "AgentVersion": SSM_AGENT_VERSION,
        "IsLatestVersion": True,
        "PlatformType": "Linux",
        "PlatformName": platform_name,
        "PlatformVersion": platform_version,
        "ResourceType": "EC2Instance",
        "IPAddress": instance.private_ip,
        "ComputerName": f"ip-{(instance.private_ip or '10.0.0.1').replace('.', '-')}.{region}.compute.internal",
        "SourceId": instance.id,
        "SourceType": "AWS::EC2::Instance",
    }


def install_instance_information(world: World) -> None:
    """DescribeInstanceInformation: the instances whose agent is registered (agent_view)."""
    from moto.core.responses import ActionResult
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    def describe_instance_information(self: Any) -> Any:
        account, region = self.current_account, self.region
        now = time.time()
        wanted = instance_filters(self._get_param)
        rows = []
        for instance in instances_of(account, region):
            view = agent_view(world, account, region, instance, now)
            if view is not None and matches(instance, view[0], wanted):
                rows.append(information_row(world, account, region, instance, *view))
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 50)
        page = rows[start : start + size]
        result: dict[str, Any] = {"InstanceInformationList": page}
        if start + size < len(rows):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    R.describe_instance_information = describe_instance_information
