//! Discovery tools, always allowed (no scope; per-tool grants never block them): the model
//! catalog and the prompt list.

use proem_api::models::ModelsResponse;
use proem_api::prompts::{Page, PromptSummary};
use schemars::JsonSchema;
use serde::Deserialize;

use super::limit;
use crate::mcp::dispatch::Call;
use crate::mcp::table::{Done, Outcome};

/// Fetch the live model catalog: every model with its `model_id`, family, provider, input and
/// output modalities, costs (millicents per million tokens) and the schema of each parameter
/// (type, allowed `values`, `min`/`max`, `provider_default`), plus `recommended_defaults`. Use it
/// to choose a `model_id` and build a valid `modelSettings` object `{ "model_id": …,
/// "parameters": { … } }` for proem_create_prompt and proem_create_version; a model's
/// `recommended_defaults` pastes in as is. The catalog is stable per deploy: fetch it once per
/// session.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCatalogParams {}

pub async fn get_catalog(call: Call, _: GetCatalogParams) -> Outcome<ModelsResponse> {
    Ok(Done::new(call.state.engine().catalog.to_wire()))
}

/// List your prompts, newest first, cursor-paginated. Each item has `id`, `name`,
/// `currentVersionId`, `description` (the current version's one-sentence capability
/// description), `outputModality` (`text` or `image`), `mcpToolName` (set when the prompt is
/// exposed as its own tool: call that tool by name instead of proem_run_prompt) and
/// `updatedAtUtc`. To page, pass the previous response's `nextCursor` as `cursor`; `nextCursor`
/// is absent on the last page. A bogus cursor is `invalid_cursor`, never a silent restart. A key
/// restricted to some prompts sees only those.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListPromptsParams {
    /// Page size, 1 to 100 (default 25); outside that range is `param_out_of_range`.
    #[serde(default)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page; omit for the first page.
    #[serde(default)]
    cursor: Option<String>,
}

pub async fn list_prompts(call: Call, p: ListPromptsParams) -> Outcome<Page<PromptSummary>> {
    let limit = limit(p.limit)?;
    let page = call
        .state
        .engine()
        .list_prompts(&call.caller, limit, p.cursor.as_deref())
        .await?;
    Ok(Done::new(page))
}
