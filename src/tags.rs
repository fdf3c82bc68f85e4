//! The tag keys amibake puts on what it creates and reads back (docs/recipe.md, "Tags"): one
//! list, so that bake, roll, promote, prune and sweep agree on every name.

pub const RUN_ID: &str = "amibake:run-id";
pub const RECIPE: &str = "amibake:recipe";
pub const CREATED_BY: &str = "amibake:created-by";
pub const CREATED_BY_VALUE: &str = "amibake";
pub const INPUT_HASH: &str = "amibake:input-hash";
pub const SOURCE_AMI: &str = "amibake:source-ami";
/// Set on a bake's AMIs once everything succeeded; `sweep` never touches them.
pub const COMPLETE: &str = "amibake:complete";
/// Set with `amibake:complete` when the recipe scans its image: the scan's summary
/// (`critical=0 high=1 … highest=high at=…`, `crate::scan::ScanSummary::tag_value`).
pub const SCAN: &str = "amibake:scan";
/// Set at creation (CreateImage's TagSpecifications, carried by every copy) when the recipe
/// installs the CodeDeploy agent: the pin as the recipe writes it (`2.1.0`,
/// `2.1.0-9745926189`, `1.7.1-110`), so `status` shows which agent a fleet runs. Left off
/// when the recipe's own tags leave no room for it ([`crate::recipe::tag_budget`]).
pub const AGENT: &str = "amibake:agent";

/// On a stack: the image the stack ran before the last roll (what `rollback` goes back to).
pub const PREVIOUS_IMAGE: &str = "amibake:previous-image-id";
/// On a stack: the image amibake last rolled the stack onto.
pub const IMAGE: &str = "amibake:image-id";
/// On a copy `promote` made: the AMI id it copies (finds the copy again on a rerun).
pub const COPY_OF: &str = "amibake:copy-of";
/// On a channel parameter: the environment.
pub const ENV: &str = "amibake:env";
/// On everything a bake creates, from its creation: until when the run holds it (RFC 3339
/// UTC). The bake renews it while it runs; `sweep` never removes a run whose lease is in
/// the future.
pub const LEASE_UNTIL: &str = "amibake:lease-until";
/// On a channel parameter `promote --allow-foreign-image` wrote: the image was not checked
/// as this recipe's own complete bake.
pub const FOREIGN_IMAGE: &str = "amibake:foreign-image";
/// On a channel parameter `revoke` moved back: the image it held before (revoked). `restore`
/// finds the channels to move forward again by it, and removes it.
pub const REVOKED_FROM: &str = "amibake:revoked-from";
