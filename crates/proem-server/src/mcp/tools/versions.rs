//! Version tools: history, read, create (optionally switching to it), metadata patch, and delete
//! (MCP semantics: refused while a live run pins the version).

use proem_api::patch::Patch;
use proem_api::prompts::{CreateVersionRequest, VersionDeleted, VersionList, VersionResponse};
use proem_core::versions::VersionPatch;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{ModelSettingsShape, limit};
use crate::mcp::dispatch::Call;
use crate::mcp::table::{Done, Outcome};

/// List a prompt's versions, highest `versionNumber` first, cursor-paginated. The response has
/// `currentVersionId` at the top level (no need to call proem_get_prompt to know which version
/// is active) and each version's `id`, `versionNumber`, descriptions, `isCurrent` and
/// `updatedAtUtc`. To page, pass the previous `nextCursor` as `cursor`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListVersionsParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
    /// Page size, 1 to 100 (default 25); outside that range is `param_out_of_range`.
    #[serde(default)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page; omit for the first page.
    #[serde(default)]
    cursor: Option<String>,
}

pub async fn list_versions(call: Call, p: ListVersionsParams) -> Outcome<VersionList> {
    let limit = limit(p.limit)?;
    let list = call
        .state
        .engine()
        .list_versions(&call.caller, &p.prompt_id, limit, p.cursor.as_deref())
        .await?;
    Ok(Done::new(list))
}

/// Fetch one version of a prompt in full: `promptText`, `modelSettings` (and the same as the
/// string `modelSettingsJson`), `versionDescription`, the capability `description` with its
/// `descriptionMode`, and `etag` (pass it as `ifMatch` to proem_update_version).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetVersionParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
    /// The version's id, `ver_…`.
    version_id: String,
}

pub async fn get_version(call: Call, p: GetVersionParams) -> Outcome<VersionResponse> {
    let version = call
        .state
        .engine()
        .get_version(&call.caller, &p.prompt_id, &p.version_id)
        .await?;
    Ok(Done::new(version))
}

/// Append a new version to a prompt; its `versionNumber` is assigned by the server. This is how
/// to change what a prompt does (its text or model): versions are the prompt's history. Pass
/// `setAsCurrent: true` to also make it current in the same transaction; otherwise runs keep
/// using the current version. `modelSettings` is checked against proem_get_catalog like on
/// create.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateVersionParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
    /// The version's instructions, at most 256 KB.
    prompt_text: String,
    /// `{ "model_id": …, "parameters": { … } }` from proem_get_catalog.
    #[schemars(with = "ModelSettingsShape")]
    model_settings: Value,
    /// A note about this version (what changed and why).
    #[serde(default)]
    version_description: Option<String>,
    /// A one-sentence capability description (what input it expects, what it returns). Writing
    /// it sets the version to Manual; omit it to let the server write one (Auto).
    #[serde(default)]
    description: Option<String>,
    /// 0 = Auto (the server writes the description), 1 = Manual (you own it).
    #[serde(default)]
    description_mode: Option<u8>,
    /// Also make this the prompt's current version, atomically. Default false.
    #[serde(default)]
    set_as_current: bool,
}

pub async fn create_version(call: Call, p: CreateVersionParams) -> Outcome<VersionResponse> {
    let req = CreateVersionRequest {
        prompt_text: p.prompt_text,
        model_settings: p.model_settings,
        version_description: p.version_description,
        description: p.description,
        description_mode: p.description_mode,
        set_as_current: p.set_as_current,
    };
    let (tx, version) = call
        .state
        .engine()
        .create_version(&call.caller, &p.prompt_id, req)
        .await?;
    Ok(Done::commit(tx, version))
}

/// Change a version's metadata (`versionDescription`, `description`, `descriptionMode`), RFC
/// 7396 merge-patch style: omit to leave, `null` to clear. It does not change `promptText` or
/// `modelSettings`: those define what the version does, so create a new version for a
/// behavioural change. Writing `description` takes ownership of it (Manual mode); `""` clears it
/// and hands it back to the server (Auto). Pass the version's `etag` as `ifMatch` to refuse the
/// change when someone edited the version since you read it (`precondition_failed`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateVersionParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
    /// The version's id, `ver_…`.
    version_id: String,
    /// A note about the version; `null` clears it.
    #[serde(default)]
    version_description: Patch<String>,
    /// The one-sentence capability description; `""` returns it to Auto.
    #[serde(default)]
    description: Patch<String>,
    /// 0 = Auto, 1 = Manual; wins over the mode implied by `description`.
    #[serde(default)]
    description_mode: Patch<u8>,
    /// The `etag` from proem_get_version, for optimistic concurrency.
    #[serde(default)]
    if_match: Option<String>,
}

pub async fn update_version(call: Call, p: UpdateVersionParams) -> Outcome<VersionResponse> {
    let patch = VersionPatch {
        version_description: p.version_description,
        description: p.description,
        description_mode: p.description_mode,
        ..VersionPatch::default()
    };
    let if_match = p.if_match.as_deref().map(|t| t.trim().trim_matches('"'));
    let (tx, version) = call
        .state
        .engine()
        .patch_version(&call.caller, &p.prompt_id, &p.version_id, patch, if_match)
        .await?;
    Ok(Done::commit(tx, version))
}

/// Soft-delete a version. Deleting the current version switches the prompt to its
/// lowest-numbered remaining version (returned as `newCurrentVersionId`); the only version
/// cannot be deleted (`cannot_delete_only_version`). Unlike REST, this tool refuses with
/// `version_referenced_by_active_run` while an unfinalized run pins the version: finalize or
/// cancel the runs its detail lists, then retry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteVersionParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
    /// The version's id, `ver_…`.
    version_id: String,
}

pub async fn delete_version(call: Call, p: DeleteVersionParams) -> Outcome<VersionDeleted> {
    let (tx, deleted) = call
        .state
        .engine()
        .delete_version_unless_running(&call.caller, &p.prompt_id, &p.version_id)
        .await?;
    Ok(Done::commit(tx, deleted))
}
