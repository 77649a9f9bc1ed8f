//! Turning a run's event stream into a tool result. The collection runs on the engine's tracked
//! task set, not in the request: when the client's connection drops, the run still finishes and
//! its result is stored for `GET /mcp/sessions/{sid}/calls/{callId}`. Each text delta goes to the
//! client as `notifications/progress` (its `message` is the delta) when it sent a progress token.
//!
//! Image runs (agent-api "Image-modality runs over MCP"): partial-image frames are dropped, a
//! finished image's frame becomes one `[image bytes elided …]` line of the transcript (and of the
//! progress), and the turn's images, read back from the store, follow the transcript as MCP
//! `image` content blocks. No base64 reaches the transcript, the progress or the JSON.

use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;
use proem_api::ReasonCode;
use proem_core::runs::{RunEvent, RunStart};
use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::mcp::dispatch::{Call, Progress};
use crate::mcp::errors::{error_result, foreign_problem, success_result};

/// A progress notification that cannot be delivered within this is given up, with the rest.
const PROGRESS_SEND: Duration = Duration::from_secs(5);

/// Why a chained finalize failed; the run itself succeeded.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeError {
    pub reason_code: String,
    /// Whether calling proem_finalize_run again may succeed.
    pub retryable: bool,
}

/// What a run or revise returns.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOutput {
    /// The run, `run_…`: pass it to proem_revise_run, proem_finalize_run or proem_cancel_run.
    pub run_id: String,
    pub prompt_id: String,
    /// The turn this call produced: 0 for the run, 1 and up for revisions.
    pub turn_index: usize,
    pub model_id: String,
    /// The model's full text output for this turn. The first text content block is the same
    /// text, with one `[image bytes elided …]` line per generated image where its bytes were.
    pub output_text: String,
    /// How many images this turn made (image prompts; a text-only revision makes 0). Their
    /// bytes are the result's `image` content blocks, in order.
    pub image_count: usize,
    /// This turn's images: `n` for proem_get_run_image, and whether each is inline.
    pub images: Vec<ImageOut>,
    /// The record the run is saved as, when it was finalized.
    pub record_id: Option<String>,
    /// Whether a finalize was chained after the turn (autoFinalize).
    pub auto_finalized: bool,
    /// Set when the chained finalize failed although the turn succeeded.
    pub finalize_error: Option<FinalizeError>,
    /// This turn's cost in millicents (1/1000 cent; 100000 = 1 USD).
    pub cost_milli_cents: i64,
    /// `Active` (not saved: revise, finalize or cancel it) or `Finalized` (saved as `recordId`);
    /// for a replay, the run's state now.
    pub state: String,
    /// True when this answers a retry with the same idempotency key: the run was not started
    /// again, and `outputText` is its latest output.
    pub replayed: bool,
    /// What to do next.
    pub next: String,
}

/// One image a turn made.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageOut {
    /// Its 0-based index: `n` for proem_get_run_image.
    pub n: usize,
    /// Whether its bytes are in this result as an `image` content block.
    pub inline: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<usize>,
    /// Why it is not inline (the reason code of reading it back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunOutput {
    pub fn next_step(&mut self) {
        self.next = match (&self.record_id, &self.finalize_error) {
            (_, Some(e)) => format!(
                "The output is ready but saving it failed ({}); call proem_finalize_run with runId {} to save it.",
                e.reason_code, self.run_id
            ),
            (Some(record), None) => format!(
                "Saved as record {record}. To change the output, call proem_revise_run with runId {} (the record follows); to record a correction, proem_patch_record with output and a tag.",
                self.run_id
            ),
            (None, None) => format!(
                "Not saved yet. Revise with proem_revise_run (runId {}), save with proem_finalize_run, or drop it with proem_cancel_run.",
                self.run_id
            ),
        };
    }
}

/// What the events said.
#[derive(Debug, Default)]
struct Tally {
    /// The model's words.
    text: String,
    /// The words with a line per generated image in place of its bytes.
    transcript: String,
    /// Images whose frame was seen, for their lines.
    image_frames: usize,
    turn_index: usize,
    model_id: String,
    completed: Option<i64>,
    image_count: usize,
    failed: Option<Value>,
    record_id: Option<String>,
    finalize_error: Option<FinalizeError>,
}

impl Tally {
    /// Takes in one event; returns what it added to the transcript, which is the progress
    /// message: a text delta or an image's line, never base64.
    fn observe(&mut self, event: &RunEvent) -> Option<String> {
        if let Some(delta) = &event.text {
            self.text.push_str(delta);
            self.transcript.push_str(delta);
            return Some(delta.clone());
        }
        let data = || serde_json::from_str::<Value>(&event.data).unwrap_or(Value::Null);
        match &*event.event {
            "run_session" => {
                let d = data();
                self.turn_index = index(&d);
                self.model_id = d["modelId"].as_str().unwrap_or_default().to_owned();
            }
            // Dropped: a preview of an image whose final bytes come with its output item.
            "response.image_generation_call.partial_image" => {}
            "response.output_item.done" => return self.image_frame(&data()),
            "run_completed" => {
                let d = data();
                self.turn_index = index(&d);
                self.completed = Some(d["costMilliCents"].as_i64().unwrap_or(0));
                self.image_count = d["imageCount"]
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0);
            }
            "run_failed" => self.failed = Some(data()),
            "record_finalized" => {
                self.record_id = data()["recordId"].as_str().map(str::to_owned);
            }
            "record_finalize_failed" => {
                let d = data();
                self.finalize_error = Some(FinalizeError {
                    reason_code: d["reasonCode"].as_str().unwrap_or_default().to_owned(),
                    retryable: d["retryable"].as_bool().unwrap_or(false),
                });
            }
            _ => {}
        }
        None
    }

    /// A finished output item: an image's becomes its line; other items add nothing.
    fn image_frame(&mut self, d: &Value) -> Option<String> {
        let item = &d["item"];
        if item["type"] != "image_generation_call" {
            return None;
        }
        let encoded = item["result"].as_str()?;
        let n = self.image_frames;
        self.image_frames += 1;
        Some(self.line(&format!(
            "[image bytes elided: {} bytes base64; returned as image content block {n} (proem_get_run_image n={n})]",
            encoded.len()
        )))
    }

    /// Appends `line` on a line of its own; returns what was appended.
    fn line(&mut self, line: &str) -> String {
        let mut piece = String::new();
        if !self.transcript.is_empty() && !self.transcript.ends_with('\n') {
            piece.push('\n');
        }
        piece.push_str(line);
        piece.push('\n');
        self.transcript.push_str(&piece);
        piece
    }
}

fn index(d: &Value) -> usize {
    d["turnIndex"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

/// Consumes a started run and returns its tool result, which is also stored for the call.
pub async fn collect(call: &Call, start: RunStart) -> CallToolResult {
    let (done_tx, done_rx) = oneshot::channel();
    let task_call = call.clone();
    call.state.engine().tasks.spawn(async move {
        let result = follow(&task_call, start).await;
        if let Ok(json) = serde_json::to_string(&result)
            && let Err(e) = task_call
                .state
                .store()
                .mcp_call_completed(task_call.call_key(), &json)
                .await
        {
            tracing::error!(error = %e, "cannot store an MCP run result");
        }
        let _ = done_tx.send(result);
    });
    match done_rx.await {
        Ok(result) => result,
        Err(_) => error_result(&call.problem(
            proem_core::Rejection::new(
                ReasonCode::InternalError,
                "The run's result was lost; look the run up with proem_list_records (runSessionId).",
            )
            .into(),
        )),
    }
}

async fn follow(call: &Call, start: RunStart) -> CallToolResult {
    let RunStart { run_id, mut events } = start;
    let mut tally = Tally::default();
    let mut progress = call.progress.clone();
    while let Some(event) = events.next().await {
        if let (Some(piece), Some(p)) = (tally.observe(&event), &progress)
            && !send_progress(p, tally.transcript.len(), &piece).await
        {
            progress = None;
        }
    }
    if let Some(failed) = tally.failed {
        let code = failed["reasonCode"].as_str().unwrap_or("internal_error");
        let detail = format!(
            "The model call of run {run_id} failed: {}. Charged: {}{}.",
            failed["message"].as_str().unwrap_or("no detail"),
            failed["charged"].as_bool().unwrap_or(false),
            failed["costMilliCents"]
                .as_i64()
                .map(|c| format!(" ({c} millicents)"))
                .unwrap_or_default(),
        );
        let problem = foreign_problem(
            call.state.public_url(),
            &call.request_id,
            code,
            detail,
            ReasonCode::ServiceUnavailable,
        );
        return error_result(&problem);
    }
    let Some(cost) = tally.completed else {
        return error_result(&call.problem(
            proem_core::Rejection::new(
                ReasonCode::InternalError,
                format!("Run {run_id} ended without completing; check it with proem_list_records (runSessionId)."),
            )
            .into(),
        ));
    };
    let auto_finalized = tally.record_id.is_some() || tally.finalize_error.is_some();
    // The run as stored now: its prompt, and its state after any chained finalize.
    let run = call
        .state
        .engine()
        .get_run(&call.caller, &run_id)
        .await
        .ok();
    let (images, blocks) = fetch_images(call, &run_id, &mut tally).await;
    let mut output = RunOutput {
        prompt_id: run
            .as_ref()
            .map(|r| r.prompt_id.clone())
            .unwrap_or_default(),
        run_id,
        turn_index: tally.turn_index,
        model_id: tally.model_id,
        output_text: tally.text,
        image_count: tally.image_count,
        images,
        state: run.map_or_else(|| "Active".to_owned(), |r| r.state),
        record_id: tally.record_id,
        auto_finalized,
        finalize_error: tally.finalize_error,
        cost_milli_cents: cost,
        replayed: false,
        next: String::new(),
    };
    output.next_step();
    result_of(&output, tally.transcript, blocks)
}

/// Reads back the images this turn made (`imageCount` of `run_completed`), as content blocks. An
/// image that cannot be read is reported in the transcript and in its [`ImageOut`]; the text
/// result stands.
async fn fetch_images(
    call: &Call,
    run_id: &str,
    tally: &mut Tally,
) -> (Vec<ImageOut>, Vec<ContentBlock>) {
    let mut images = Vec::with_capacity(tally.image_count);
    let mut blocks = Vec::with_capacity(tally.image_count);
    for n in 0..tally.image_count {
        match call.state.engine().run_image(&call.caller, run_id, n).await {
            Ok((mime, bytes)) => {
                blocks.push(image_block(&mime, &bytes));
                images.push(ImageOut {
                    n,
                    inline: true,
                    mime_type: Some(mime),
                    size_bytes: Some(bytes.len()),
                    error: None,
                });
            }
            Err(e) => {
                let code = e.code().as_str();
                if !matches!(e, proem_core::Error::Rejected(_)) {
                    tracing::error!(run.id = %run_id, error = %e, "cannot read a run's image for MCP");
                }
                tally.line(&format!(
                    "[image {n} could not be read back ({code}); fetch it later with proem_get_run_image (runId {run_id}, n={n})]"
                ));
                images.push(ImageOut {
                    n,
                    inline: false,
                    mime_type: None,
                    size_bytes: None,
                    error: Some(code.to_owned()),
                });
            }
        }
    }
    (images, blocks)
}

/// An MCP `image` content block of `bytes`.
pub fn image_block(mime: &str, bytes: &[u8]) -> ContentBlock {
    ContentBlock::image(
        base64::engine::general_purpose::STANDARD.encode(bytes),
        mime.to_owned(),
    )
}

/// The tool result of a run: the transcript first, then the images, then the structured output
/// as JSON.
pub fn result_of(
    output: &RunOutput,
    transcript: String,
    images: Vec<ContentBlock>,
) -> CallToolResult {
    let value = serde_json::to_value(output).unwrap_or(Value::Null);
    let mut lead = vec![ContentBlock::text(transcript)];
    lead.extend(images);
    success_result(value, lead)
}

/// Sends one delta; false when the client is gone (no more are sent).
async fn send_progress(p: &Progress, so_far: usize, delta: &str) -> bool {
    let so_far = f64::from(u32::try_from(so_far).unwrap_or(u32::MAX));
    let param = ProgressNotificationParam::new(p.token.clone(), so_far).with_message(delta);
    matches!(
        tokio::time::timeout(PROGRESS_SEND, p.peer.notify_progress(param)).await,
        Ok(Ok(()))
    )
}
