//! The SSE events of protocol v1 (spec "Event taxonomy"), produced by the engine as ready-to-send
//! frames: an event name and its JSON data. The server writes them as SSE; MCP turns deltas into
//! progress notifications.

use std::borrow::Cow;

use proem_api::records::Turn;
use serde_json::json;

use super::PROTOCOL_VERSION;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEvent {
    pub event: Cow<'static, str>,
    pub data: String,
    /// The output text this event carries (for `response.output_text.delta`).
    pub text: Option<String>,
}

impl RunEvent {
    fn named(event: &'static str, data: serde_json::Value) -> Self {
        Self {
            event: Cow::Borrowed(event),
            data: data.to_string(),
            text: None,
        }
    }

    /// A frame relayed from the provider.
    pub fn relay(event: Cow<'static, str>, data: String, text: Option<String>) -> Self {
        Self { event, data, text }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            &*self.event,
            "run_completed" | "run_failed" | "run_replayed"
        )
    }

    pub fn session(
        run_id: &str,
        turn_index: usize,
        model_id: &str,
        output_modality: &str,
        seeded_from: Option<&str>,
    ) -> Self {
        let mut data = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "runId": run_id,
            "turnIndex": turn_index,
            "modelId": model_id,
            "outputModality": output_modality,
        });
        if let Some(record) = seeded_from {
            data["seededFromRecordId"] = json!(record);
        }
        Self::named("run_session", data)
    }

    pub fn completed(
        run_id: &str,
        turn_index: usize,
        model_id: &str,
        cost_millicents: i64,
        image_count: usize,
    ) -> Self {
        Self::named(
            "run_completed",
            json!({"runId": run_id, "turnIndex": turn_index, "modelId": model_id, "costMilliCents": cost_millicents, "imageCount": image_count}),
        )
    }

    /// Right after `run_session` on an image-output run: the stream will carry images inline.
    pub fn client_hint(run_id: &str) -> Self {
        Self::named(
            "client_hint",
            json!({
                "filter": "partial_image_b64",
                "reason": "image_modality_inline_payloads",
                "canonicalAccess": format!("GET /api/v2/public/runs/{run_id}/images/{{n}}"),
            }),
        )
    }

    pub fn failed(
        run_id: &str,
        reason_code: &str,
        message: &str,
        charged: bool,
        cost_millicents: Option<i64>,
        usage_log_id: Option<&str>,
    ) -> Self {
        let mut data = json!({"runId": run_id, "reasonCode": reason_code, "message": message, "charged": charged});
        if let Some(c) = cost_millicents {
            data["costMilliCents"] = json!(c);
        }
        if let Some(u) = usage_log_id {
            data["usageLogId"] = json!(u);
        }
        Self::named("run_failed", data)
    }

    pub fn record_finalized(
        run_id: &str,
        record_id: &str,
        turns: &[Turn],
        cost_millicents: i64,
    ) -> Self {
        Self::named(
            "record_finalized",
            json!({"runId": run_id, "recordId": record_id, "turns": turns, "costMilliCents": cost_millicents}),
        )
    }

    pub fn record_finalize_failed(run_id: &str, reason_code: &str, retryable: bool) -> Self {
        Self::named(
            "record_finalize_failed",
            json!({"runId": run_id, "reasonCode": reason_code, "retryable": retryable}),
        )
    }

    pub fn record_finalize_skipped(run_id: &str, reason_code: &str) -> Self {
        Self::named(
            "record_finalize_skipped",
            json!({"runId": run_id, "reason": "run_failed", "reasonCode": reason_code}),
        )
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the run_replayed payload has this many fields"
    )]
    pub fn replayed(
        run_id: &str,
        turn_index: usize,
        model_id: &str,
        output_modality: &str,
        state: &str,
        streaming: bool,
        record_id: Option<&str>,
        hint: &str,
    ) -> Self {
        let mut data = json!({
            "runId": run_id, "turnIndex": turn_index, "modelId": model_id, "outputModality": output_modality,
            "state": state, "streamingInProgress": streaming, "hint": hint,
        });
        if let Some(r) = record_id {
            data["recordId"] = json!(r);
        }
        Self::named("run_replayed", data)
    }
}
