"""CreateTags as amibake's CI role may call it (cfn-templates/amibake-iam.yaml).

The role's policy lets EC2 tag a resource while creating it (TagSpecifications of
RunInstances, CreateSecurityGroup, CreateImage, CopyImage) and, afterwards, only set
`amibake:complete`, `amibake:lease-until` or `amibake:scan` on resources already tagged
`amibake:created-by=amibake`; it denies setting `amibake:created-by` outside a create
call, since every destructive statement trusts that tag. moto allows any CreateTags, so
code that tags the way real AWS would refuse passed here and failed in the account. This
answers such a CreateTags as AWS does under that policy: UnauthorizedOperation, nothing
tagged. Tags given in TagSpecifications never pass through here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import World

CREATED_BY = "amibake:created-by"
CREATED_BY_VALUE = "amibake"
# The keys the policy's TagAmibakeResourcesCompleteOrLeasedOnly statement allows.
AFTER_CREATION_KEYS = frozenset({"amibake:complete", "amibake:lease-until", "amibake:scan"})


def refusal(tags_by_resource: dict[str, dict[str, str]], resource_ids: list[str], keys: list[str]) -> str | None:
    """Why the policy refuses this CreateTags, or None."""
    if CREATED_BY in keys:
        return f"the policy denies setting {CREATED_BY} outside a create call (NeverSetTheCreatedByTagAfterCreation)"
    extra = sorted(set(keys) - AFTER_CREATION_KEYS)
    if extra:
        return f"after creation the policy allows only {sorted(AFTER_CREATION_KEYS)}, not {extra}"
    foreign = [r for r in resource_ids if tags_by_resource.get(r, {}).get(CREATED_BY) != CREATED_BY_VALUE]
    if foreign:
        return f"{', '.join(foreign)} not tagged {CREATED_BY}={CREATED_BY_VALUE}: the policy allows no tags on it"
    return None


def install(world: World) -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses import EC2Response

    original = EC2Response.create_tags

    def create_tags(self: Any) -> Any:
        resource_ids = self._get_param("Resources", [])
        keys = [tag["Key"] for tag in self._get_param("Tags", [])]
        why = refusal(self.ec2_backend.tags, resource_ids, keys)
        if why is not None:
            raise EC2ClientError(
                "UnauthorizedOperation",
                f"You are not authorized to perform this operation: ec2:CreateTags ({why}).",
            )
        return original(self)

    EC2Response.create_tags = create_tags
