//! Prompt tools: read, create with a first version, merge-patch, switch the current version, and
//! delete (MCP semantics: refused while a live run uses the prompt).

use proem_api::patch::Patch;
use proem_api::prompts::{
    CreatePromptRequest, CurrentVersion, PromptCreated, PromptDeleted, PromptDetail,
};
use proem_core::prompts::PromptPatch;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::ModelSettingsShape;
use crate::mcp::dispatch::Call;
use crate::mcp::table::{Done, Outcome};

/// Fetch a prompt by `promptId`, with its current version in full (`promptText`,
/// `modelSettings`, `modelSettingsJson`, descriptions). `currentVersionStatus` is `ok`, or
/// `missing` when the prompt's current version was deleted: repair it with proem_list_versions +
/// proem_switch_current_version, or proem_create_version with `setAsCurrent: true`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetPromptParams {
    /// The prompt's id, `prm_…`, as proem_list_prompts returns it.
    prompt_id: String,
}

pub async fn get_prompt(call: Call, p: GetPromptParams) -> Outcome<PromptDetail> {
    let detail = call
        .state
        .engine()
        .get_prompt(&call.caller, &p.prompt_id)
        .await?;
    Ok(Done::new(detail))
}

/// Create a prompt with its first version, which becomes current. Returns `{promptId,
/// currentVersionId, versionNumber}`. Call proem_get_catalog first: `modelSettings.model_id` must
/// be a catalog id and each parameter within its schema, else `invalid_model_settings` (its
/// `invalid_params` names the field). Caps: name 256 characters, promptText 256 KB.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePromptParams {
    /// A name people recognise, at most 256 characters. It also derives the prompt's tool name
    /// if it is ever exposed as its own MCP tool.
    name: String,
    /// The prompt's instructions: what the model does with each run's user input.
    prompt_text: String,
    /// `{ "model_id": …, "parameters": { … } }` from proem_get_catalog.
    #[schemars(with = "ModelSettingsShape")]
    model_settings: Value,
    /// A short label, optional.
    #[serde(default)]
    abbreviation: Option<String>,
    /// A note about this first version (what it is for or what changed), optional.
    #[serde(default)]
    version_description: Option<String>,
}

pub async fn create_prompt(call: Call, p: CreatePromptParams) -> Outcome<PromptCreated> {
    let req = CreatePromptRequest {
        name: p.name,
        prompt_text: p.prompt_text,
        model_settings: p.model_settings,
        abbreviation: p.abbreviation,
        version_description: p.version_description,
    };
    let (tx, created) = call.state.engine().create_prompt(&call.caller, req).await?;
    Ok(Done::commit(tx, created))
}

/// Change a prompt's metadata, `name` and `abbreviation`, RFC 7396 merge-patch style: omit a
/// field to leave it, send `null` to clear it (a name cannot be cleared). Capability
/// descriptions live on versions: use proem_update_version. Renaming does not rename the
/// prompt's MCP tool, so agents that call it by name keep working.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePromptParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
    /// The new name, at most 256 characters.
    #[serde(default)]
    name: Patch<String>,
    /// The new abbreviation; `null` clears it.
    #[serde(default)]
    abbreviation: Patch<String>,
}

pub async fn update_prompt(call: Call, p: UpdatePromptParams) -> Outcome<PromptDetail> {
    let patch = PromptPatch {
        name: p.name,
        abbreviation: p.abbreviation,
    };
    let (tx, detail) = call
        .state
        .engine()
        .patch_prompt(&call.caller, &p.prompt_id, patch)
        .await?;
    Ok(Done::commit(tx, detail))
}

/// Soft-delete a prompt with its versions, records and attachments; deleting it again answers
/// the same. Unlike REST, which abandons live runs, this tool refuses with
/// `prompt_referenced_by_active_run` while an unfinalized run uses the prompt: finalize
/// (proem_finalize_run) or cancel (proem_cancel_run) the runs its detail lists, then retry. A key
/// restricted to other prompts gets `grant_required`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletePromptParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
}

pub async fn delete_prompt(call: Call, p: DeletePromptParams) -> Outcome<PromptDeleted> {
    let (mut tx, deleted) = call
        .state
        .engine()
        .delete_prompt_unless_running(&call.caller, &p.prompt_id)
        .await?;
    // The prompt may have been one of the user's tools: live sessions re-list once it is gone.
    let (hub, tasks, user) = (
        call.state.mcp().clone(),
        call.state.engine().tasks.clone(),
        call.caller.user_id().to_owned(),
    );
    tx.after_commit(move || hub.notify_tools_changed(&user, &tasks));
    Ok(Done::commit(tx, deleted))
}

/// Make a version the prompt's current one (what runs use by default). Typically after
/// proem_create_version without `setAsCurrent`. Returns the current version id as stored after
/// the switch.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchCurrentVersionParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
    /// The version to make current, `ver_…`, from proem_list_versions.
    version_id: String,
}

pub async fn switch_current_version(
    call: Call,
    p: SwitchCurrentVersionParams,
) -> Outcome<CurrentVersion> {
    let (tx, current) = call
        .state
        .engine()
        .switch_current_version(&call.caller, &p.prompt_id, &p.version_id)
        .await?;
    Ok(Done::commit(tx, current))
}
