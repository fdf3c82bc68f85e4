"""ec2:DescribeImageReferences, which moto 5.2.5 lacks: which resources of this account
and region refer to an AMI.

amibake's prune asks it before deregistering an image, so the answer is computed from
the emulator's own state, never planted:

  * `ec2:LaunchTemplate`: a launch template whose ImageId, in one of its latest
    `version-depth` versions (default 10), is the AMI, or `resolve:ssm:NAME[:VERSION]`
    naming a parameter of this account whose value is the AMI. ARN
    `arn:aws:ec2:R:A:launch-template/lt-…`, once per template.
  * `ec2:Instance`: an instance launched from the AMI, in the `state-name` states asked
    (default: all, `terminated` too, as AWS documents). ARN `…:instance/i-…`.
  * `ssm:Parameter`: a String parameter (data type `aws:ec2:image` or `text`) whose
    current value is the AMI id; AWS's public parameters (`/aws/…`) are not this
    account's. ARN `arn:aws:ssm:R:A:parameter/NAME` (no doubled slash).
  * `imagebuilder:ImageRecipe` / `ContainerRecipe`: none (moto has no Image Builder).

Either `IncludeAllResourceTypes` or `ResourceTypes` must be given, else
MissingParameter. Results are ordered by image, then resource type in that order, then
ARN; `MaxResults` (5-1000, default 1000) and `NextToken` page through them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ec2 import ec2_error, page_size, page_start, page_token

if TYPE_CHECKING:
    from .state import World

TYPES = ("ec2:LaunchTemplate", "ec2:Instance", "ssm:Parameter", "imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe")
DEFAULT_VERSION_DEPTH = 10
DEFAULT_INSTANCE_STATES = ("pending", "running", "shutting-down", "terminated", "stopping", "stopped")


def install(world: World) -> None:
    from moto.ec2.responses import EC2Response

    def describe_image_references(self: Any) -> Any:
        from moto.core.responses import ActionResult

        self.error_on_dryrun()
        backend = self.ec2_backend
        image_ids = self._get_param("ImageIds", []) or []
        if not image_ids:
            raise ec2_error("MissingParameter", "The request must contain the parameter ImageId")
        for image_id in image_ids:
            if not str(image_id).startswith("ami-"):
                raise ec2_error("InvalidAMIID.Malformed", f'Invalid id: "{image_id}" (expecting "ami-...")')
        options = requested_types(self._get_param("IncludeAllResourceTypes"), self._get_param("ResourceTypes", []) or [])
        size = page_size(self, least=5)
        refs = [r for image_id in image_ids for r in references(backend, image_id, options)]
        start = page_start(self._get_param("NextToken"), "refs", len(refs))
        result: dict[str, Any] = {"ImageReferences": refs[start : start + size]}
        token = page_token("refs", start + size, len(refs))
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    EC2Response.describe_image_references = describe_image_references


def requested_types(include_all: Any, resource_types: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """The resource types to check, each with its options (name -> values)."""
    if not include_all and not resource_types:
        raise ec2_error("MissingParameter", "Either IncludeAllResourceTypes or ResourceTypes must be specified.")
    out: dict[str, dict[str, list[str]]] = {t: {} for t in TYPES} if include_all in (True, "true", "True") else {}
    for rt in resource_types:
        name = rt.get("ResourceType")
        if name not in TYPES:
            raise ec2_error("InvalidParameterValue", f"Value ({name}) for parameter ResourceType is invalid.")
        opts = {o.get("OptionName"): [str(v) for v in o.get("OptionValues", []) or []] for o in rt.get("ResourceTypeOptions", []) or []}
        out[name] = opts
    return out


def references(backend: Any, image_id: str, options: dict[str, dict[str, list[str]]]) -> list[dict[str, str]]:
    account, region = backend.account_id, backend.region_name
    out: list[dict[str, str]] = []
    if "ec2:LaunchTemplate" in options:
        depth = int((options["ec2:LaunchTemplate"].get("version-depth") or [DEFAULT_VERSION_DEPTH])[0])
        for lt in backend.launch_templates.values():
            if any(resolve_image(account, region, v.image_id) == image_id for v in lt.versions[-depth:]):
                out.append(ref(image_id, "ec2:LaunchTemplate", f"arn:aws:ec2:{region}:{account}:launch-template/{lt.id}"))
    if "ec2:Instance" in options:
        states = options["ec2:Instance"].get("state-name") or list(DEFAULT_INSTANCE_STATES)
        for instance in sorted(backend.all_instances(), key=lambda i: i.id):
            if instance.image_id == image_id and instance.state in states:
                out.append(ref(image_id, "ec2:Instance", f"arn:aws:ec2:{region}:{account}:instance/{instance.id}"))
    if "ssm:Parameter" in options:
        for name, value in sorted(parameters(account, region).items()):
            if value == image_id:
                out.append(ref(image_id, "ssm:Parameter", f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"))
    return out


def ref(image_id: str, resource_type: str, arn: str) -> dict[str, str]:
    return {"ImageId": image_id, "ResourceType": resource_type, "Arn": arn}


def parameters(account: str, region: str) -> dict[str, str]:
    """This account's String parameters (name -> current value), AWS's public ones left out."""
    from moto.ssm.models import ssm_backends

    out: dict[str, str] = {}
    store = ssm_backends[account][region]._parameters
    for name, versions in dict.items(store):
        if versions and not name.startswith("/aws/") and versions[-1].parameter_type == "String":
            out[name] = versions[-1].value
    return out


def resolve_image(account: str, region: str, value: str) -> str:
    """A launch template's ImageId: the AMI id, or what `resolve:ssm:NAME[:VERSION]` names."""
    if not value or not value.startswith("resolve:ssm:"):
        return value
    from moto.ssm.models import ssm_backends

    name, version = value[len("resolve:ssm:") :], None
    head, _, tail = name.rpartition(":")
    if head and tail.isdigit():
        name, version = head, int(tail)
    store = ssm_backends[account][region]._parameters
    versions = dict.get(store, store.normalize_name(name)) or []
    if version is not None:
        versions = [v for v in versions if v.version == version]
    return versions[-1].value if versions else value
