//! Run tools (spec "Run lifecycle"): run a prompt, revise a run or a record, finalize, cancel,
//! fetch a run's image, and the synthesized per-prompt tools, which run the same pipeline as
//! proem_run_prompt. Runs stream their text as progress and return the final output, with an
//! image run's images as image content blocks.

use std::sync::LazyLock;

use proem_api::ReasonCode;
use proem_api::records::{
    FinalizeRequest, FinalizeResponse, ImageInput, ReviseRequest, RunCancelled, RunRequest,
};
use proem_api::scope::Permission;
use proem_core::mcp::ExposedTool;
use proem_core::runs::MAX_IMAGES;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::collect::{ImageOut, RunOutput, collect, image_block, result_of};
use crate::mcp::dispatch::Call;
use crate::mcp::errors::{Failure, error_result, foreign_problem, reject};
use crate::mcp::schema;
use crate::mcp::table::{Done, Hints, Outcome, ToolAccess, definition};

/// An image sent with a run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageParam {
    /// The image's bytes, standard base64 (PNG, JPEG or WebP, at most 10 MB).
    #[serde(default, alias = "data")]
    base64: Option<String>,
    /// The image's media type, e.g. `image/png`.
    #[serde(default)]
    mime_type: Option<String>,
    /// Instead of bytes: an image attachment of the prompt, `att_…`.
    #[serde(default)]
    attachment_id: Option<String>,
    /// Not supported by the hosted server, which cannot read your files; send `base64`.
    #[serde(default)]
    local_path: Option<String>,
}

/// Run a prompt as a new conversation and wait for the model's output. Required: `promptId`.
/// The output streams as progress notifications when you send a progress token, and the full
/// text comes back as the first content block and in `outputText`; on an image prompt the images
/// the model made follow as MCP image content blocks (`imageCount`). With `autoFinalize` (the
/// default unless the user turned it off in their settings) the run is saved as a record in the
/// same call and `recordId` is set. Pass `autoFinalize: false` to inspect or revise before
/// saving, then proem_finalize_run. Costs money: the result carries `costMilliCents`. For a
/// follow-up change to this output, use proem_revise_run with the returned `runId`, not a new
/// run. Safe to retry with `_meta["proem.dev/idempotency-key"]`: a retry reports the original
/// run instead of paying again.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunPromptParams {
    /// The prompt to run, `prm_…`.
    prompt_id: String,
    /// The user's text for this run: what the prompt's instructions act on.
    #[serde(default)]
    user_input: Option<String>,
    /// Run this version instead of the current one, `ver_…`.
    #[serde(default)]
    version_id: Option<String>,
    /// Save the run as a record when it completes. Default: the user's setting (on unless
    /// changed); this argument wins.
    #[serde(default)]
    auto_finalize: Option<bool>,
    /// Images for models that accept them, up to 16.
    #[serde(default)]
    images: Vec<ImageParam>,
}

pub async fn run_prompt(call: Call, p: RunPromptParams) -> Outcome<RunOutput> {
    let images = p
        .images
        .into_iter()
        .map(|i| ImageInput {
            inline: i.base64.as_ref().map(|_| true),
            base64: i.base64,
            data: None,
            mime_type: i.mime_type,
            attachment_id: i.attachment_id,
            local_path: i.local_path,
        })
        .collect();
    let req = RunRequest {
        user_input: p.user_input,
        stream: Some(true),
        version_id: p.version_id,
        auto_finalize: p.auto_finalize,
        images,
    };
    start(call, &p.prompt_id, req).await
}

/// The arguments of a prompt's synthesized tool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExposedParams {
    /// The user's text for this run: what the prompt acts on.
    #[serde(default)]
    user_input: Option<String>,
}

/// A prompt's synthesized tool: proem_run_prompt on that prompt's current version.
pub async fn run_exposed(call: Call, p: ExposedParams) -> Outcome<RunOutput> {
    let Some(prompt_id) = call.exposed_prompt.clone() else {
        return Err(reject(
            ReasonCode::UnknownTool,
            "name",
            "This tool is no longer exposed; call tools/list again.",
        ));
    };
    let req = RunRequest {
        user_input: p.user_input,
        stream: Some(true),
        version_id: None,
        auto_finalize: None,
        images: Vec::new(),
    };
    start(call, &prompt_id, req).await
}

async fn start(call: Call, prompt_id: &str, req: RunRequest) -> Outcome<RunOutput> {
    let (mut tx, run) = call
        .state
        .engine()
        .start_run(&call.caller, prompt_id, req, None, call.idempotency_key())
        .await?;
    call.claim_run(&mut tx, &run.run_id).await?;
    tx.commit().await?;
    call.committed();
    Ok(Done::built(collect(&call, run).await))
}

/// Re-render a run's output with a revision instruction. NOT a chat append: the model receives
/// the original input, the previous output and your instruction, and writes a fresh full output
/// that supersedes the prior one; for a new conversation, run the prompt again. Required:
/// `userInput` (the instruction, e.g. "make it more concise") and exactly one of `runId` or
/// `recordId`. A finalized (auto-saved) run is reopened transparently and its record follows the
/// revision. `fromTurn` rewinds first (drops turns after N); `intermediateOutput` replaces what
/// the model sees as the previous output (when you edited it). Streams like proem_run_prompt and
/// returns the revision's images the same way.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviseRunParams {
    /// The run to revise, `run_…` (exactly one of runId and recordId).
    #[serde(default)]
    run_id: Option<String>,
    /// A saved record to revise, `rec_…`; a fresh run is rehydrated from it.
    #[serde(default)]
    record_id: Option<String>,
    /// The revision instruction. Required, not empty.
    #[serde(default, alias = "instruction")]
    user_input: Option<String>,
    /// Your edited version of the previous output, if you changed it (at most 32 KB).
    #[serde(default)]
    intermediate_output: Option<String>,
    /// Rewind to turn N (a `turns[].index`) before revising.
    #[serde(default)]
    from_turn: Option<i64>,
    /// Save (or re-save) the record after the revision.
    #[serde(default)]
    auto_finalize: Option<bool>,
}

pub async fn revise_run(call: Call, p: ReviseRunParams) -> Outcome<RunOutput> {
    let req = ReviseRequest {
        instruction: p.user_input,
        stream: Some(true),
        intermediate_output: p.intermediate_output,
        from_turn: p.from_turn.map(Value::from),
        auto_finalize: p.auto_finalize,
    };
    let engine = call.state.engine();
    let (mut tx, run) = match (p.run_id, p.record_id) {
        (Some(run_id), None) => engine.revise_run(&call.caller, &run_id, req).await?,
        (None, Some(record_id)) => engine.revise_record(&call.caller, &record_id, req).await?,
        _ => {
            return Err(proem_core::Rejection::new(
                ReasonCode::InvalidParams,
                "Pass exactly one of runId and recordId.",
            )
            .with_param("runId", "exactly_one_of")
            .with_param("recordId", "exactly_one_of")
            .into());
        }
    };
    call.claim_run(&mut tx, &run.run_id).await?;
    tx.commit().await?;
    call.committed();
    Ok(Done::built(collect(&call, run).await))
}

/// Save a run as a record (Copy / Copy & Tag). Required: `runId`. Plain finalize saves the
/// model's last output. `finalText` saves your edited output instead (an edit, when it differs);
/// `tag` labels that edit with a generalizable rule such as "Less formal" (it needs a differing
/// `finalText`, else `tag_without_delta`; use `notes` for record-level labels). Idempotent on an
/// already-finalized run (returns the same record); on a finalized run, `finalText`, `tag` or
/// `fromTurn` amend the same record. Validation errors change nothing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinalizeRunParams {
    /// The run, `run_…`.
    run_id: String,
    /// Your edited final output (at most 256 KB, not blank).
    #[serde(default)]
    final_text: Option<String>,
    /// A generalizable rule naming what the edit changes, e.g. "Remove em-dashes".
    #[serde(default)]
    tag: Option<String>,
    /// A record-level note (at most 64 KB).
    #[serde(default)]
    notes: Option<String>,
    /// Rewind to turn N (a `turns[].index`) before saving.
    #[serde(default)]
    from_turn: Option<i64>,
}

pub async fn finalize_run(call: Call, p: FinalizeRunParams) -> Outcome<FinalizeResponse> {
    let req = FinalizeRequest {
        final_text: p.final_text,
        tag: p.tag,
        notes: p.notes,
        from_turn: p.from_turn.map(Value::from),
    };
    let (tx, finalized) = call
        .state
        .engine()
        .finalize_run(&call.caller, &p.run_id, req)
        .await?;
    Ok(Done::commit(tx, finalized))
}

/// Drop an unfinalized run without saving it. Idempotent; a run that already ended (finalized,
/// expired or failed) is `run_already_terminal`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelRunParams {
    /// The run, `run_…`.
    run_id: String,
}

pub async fn cancel_run(call: Call, p: CancelRunParams) -> Outcome<RunCancelled> {
    let (tx, run, _) = call
        .state
        .engine()
        .cancel_run(&call.caller, &p.run_id)
        .await?;
    Ok(Done::commit(
        tx,
        RunCancelled {
            run_id: run.run_id,
            state: run.state,
        },
    ))
}

/// Fetch image `n` (0-based) of an image run's latest turn as an MCP image content block. Rarely
/// needed: proem_run_prompt and proem_revise_run already return a turn's images inline as image
/// content blocks; use this after losing that result or to re-fetch one image. A text run, or a
/// text-only revision, has no images (`no_image_stored`); `n` at or past the turn's `imageCount`
/// is `image_index_out_of_range`; a cancelled run is `run_already_terminal`. For every turn's
/// images of a saved record, use `GET /api/v2/public/records/{recordId}/image?index={n}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetRunImageParams {
    /// The run, `run_…`.
    run_id: String,
    /// The image's 0-based index, below the turn's `imageCount`.
    n: i64,
}

/// One image of a run; its bytes are the result's image content block.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunImage {
    pub run_id: String,
    pub index: i64,
    pub mime_type: String,
    pub size_bytes: usize,
}

pub async fn get_run_image(call: Call, p: GetRunImageParams) -> Outcome<RunImage> {
    let Ok(index) = usize::try_from(p.n) else {
        return Err(reject(
            ReasonCode::InvalidIndex,
            "n",
            "The image index must be 0 or more.",
        ));
    };
    let (mime_type, bytes) = call
        .state
        .engine()
        .run_image(&call.caller, &p.run_id, index)
        .await
        .map_err(|e| match e {
            // The engine names REST's `index`; this tool's argument is `n`.
            proem_core::Error::Rejected(mut r) => {
                for param in &mut r.invalid_params {
                    if param.name == "index" {
                        param.name = "n".to_owned();
                    }
                }
                Failure::from(r)
            }
            other => other.into(),
        })?;
    let block = image_block(&mime_type, &bytes);
    Ok(Done::new(RunImage {
        run_id: p.run_id,
        index: p.n,
        mime_type,
        size_bytes: bytes.len(),
    })
    .with_lead(vec![block]))
}

/// The answer to a retried run or revise: the run the original call started, as it is now.
pub async fn replayed(call: &Call, run_id: &str) -> Result<CallToolResult, Failure> {
    let run = call.state.engine().get_run(&call.caller, run_id).await?;
    if run.state == "Failed" {
        // The billable attempt failed; a retry with the same key reports that failure.
        let code = run
            .failure_reason_code
            .clone()
            .unwrap_or_else(|| ReasonCode::SessionFailed.as_str().to_owned());
        let problem = foreign_problem(
            call.state.public_url(),
            &call.request_id,
            &code,
            format!(
                "Run {run_id}, started with this idempotency key, failed ({code}); start a new run with a new key."
            ),
            ReasonCode::SessionFailed,
        );
        return Ok(error_result(&problem));
    }
    // A turn still streaming is not stored yet: it is the turn after the stored ones, and has
    // no output or images so far (the last stored turn's would be an earlier turn's).
    let (turn_index, output_text, (images, blocks)) = if run.streaming_in_progress {
        (run.turn_count, String::new(), (Vec::new(), Vec::new()))
    } else {
        (
            run.turn_count.saturating_sub(1),
            run.turns
                .last()
                .map(|t| t.output.clone())
                .unwrap_or_default(),
            latest_images(call, run_id).await,
        )
    };
    let mut output = RunOutput {
        run_id: run.run_id.clone(),
        prompt_id: run.prompt_id.clone(),
        turn_index,
        model_id: run.model_id.clone(),
        output_text,
        image_count: images.len(),
        images,
        record_id: run.finalized_record_id.clone(),
        auto_finalized: run.finalized_record_id.is_some(),
        finalize_error: None,
        cost_milli_cents: run.cost_milli_cents,
        state: run.state.clone(),
        replayed: true,
        next: String::new(),
    };
    output.next_step();
    if run.streaming_in_progress {
        output.next = format!(
            "The original call is still running; fetch its result later from GET /mcp/sessions/{{sid}}/calls/{{callId}} or with proem_list_records (runSessionId {run_id})."
        );
    }
    let transcript = output.output_text.clone();
    Ok(result_of(&output, transcript, blocks))
}

/// The images of a run's latest turn, read until the first index it does not have: a replay
/// answers with the same image blocks the original call did.
async fn latest_images(call: &Call, run_id: &str) -> (Vec<ImageOut>, Vec<ContentBlock>) {
    let mut images = Vec::new();
    let mut blocks = Vec::new();
    for n in 0..MAX_IMAGES {
        let Ok((mime, bytes)) = call.state.engine().run_image(&call.caller, run_id, n).await else {
            break;
        };
        blocks.push(image_block(&mime, &bytes));
        images.push(ImageOut {
            n,
            inline: true,
            mime_type: Some(mime),
            size_bytes: Some(bytes.len()),
            error: None,
        });
    }
    (images, blocks)
}

static EXPOSED_INPUT: LazyLock<JsonObject> = LazyLock::new(schema::input::<ExposedParams>);
static RUN_OUTPUT: LazyLock<JsonObject> = LazyLock::new(schema::output::<RunOutput>);

/// The definition of a prompt's synthesized tool: its description is the current version's.
pub fn exposed_tool(t: &ExposedTool) -> Tool {
    let what = t
        .description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("Runs the prompt \"{}\".", t.prompt_name));
    let description = format!(
        "{what}\n\nRuns the Proem prompt \"{}\" ({}) on `userInput`, like proem_run_prompt: returns the output text and runId, and by default saves it as a record (recordId).",
        t.prompt_name, t.prompt_id
    );
    definition(
        &t.tool_name,
        &description,
        ToolAccess::Key(Permission::RunsExecute),
        Hints::RUN,
        EXPOSED_INPUT.clone(),
        RUN_OUTPUT.clone(),
    )
}
