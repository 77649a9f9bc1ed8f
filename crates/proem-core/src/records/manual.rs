//! `POST /records` (MCP `create_record`): an agent-curated seed pair, no model call. Input and
//! output must be non-empty; the prompt must produce text; a per-prompt cap bounds them; an
//! optional `idempotencyKey` (per user, 24 h) returns the original record for the same payload.

use proem_api::ReasonCode;
use proem_api::records::{CreateRecordRequest, RecordResponse};
use sha2::{Digest, Sha256};

use super::patch::check_text;
use super::{NOTES_CAP_BYTES, TEXT_CAP_BYTES, record_response};
use crate::auth::Principal;
use crate::engine::Engine;
use crate::store::prompts as prompt_rows;
use crate::store::records::{self as rows, RecordRow};
use crate::txn::Txn;
use crate::{Error, Rejection, ids};

pub const MANUAL_RECORDS_PER_PROMPT: i64 = 1000;
const KEY_TTL_MS: i64 = 24 * 3600 * 1000;

/// SHA-256 (hex) of what a create_record call asks for, compared on a replay of its key.
fn payload_hash(req: &CreateRecordRequest) -> String {
    // A JSON array: unambiguous where the fields meet, and `null` notes differ from `""`.
    let canonical = serde_json::json!([req.prompt_id, req.input, req.output, req.notes]);
    Sha256::digest(canonical.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Engine {
    /// Creates a manual record; `created` is false when an idempotency key replayed an earlier one.
    pub async fn create_record(
        &self,
        caller: &Principal,
        req: CreateRecordRequest,
    ) -> Result<(Txn, RecordResponse, bool), Error> {
        check_text(
            "input",
            &req.input,
            TEXT_CAP_BYTES,
            ReasonCode::InputTooLarge,
        )?;
        check_text(
            "output",
            &req.output,
            TEXT_CAP_BYTES,
            ReasonCode::OutputTooLarge,
        )?;
        if req
            .notes
            .as_ref()
            .is_some_and(|n| n.len() > NOTES_CAP_BYTES)
        {
            return Err(
                Rejection::new(ReasonCode::NotesTooLarge, "notes is larger than 64 KB.").into(),
            );
        }
        let now = self.store.now_ms();
        let mut tx = Txn::new(self.store.begin().await?);
        if let Some(key) = &req.idempotency_key {
            // Two retries of one create may race: the key is looked up only under a lock that
            // serializes the user's creates with that key, and committed with the insert.
            rows::lock_manual_key(&mut tx, self.store.backend(), caller.user_id(), key).await?;
        }
        let prompt = self.lock_prompt(&mut tx, caller, &req.prompt_id).await?;
        let payload_hash = payload_hash(&req);
        // A record deleted since (soft or hard) is no match: the key's record is gone, so a
        // retry makes a new one rather than answering with a record the client cannot read.
        if let Some(key) = &req.idempotency_key
            && let Some((existing, stored_hash)) =
                rows::manual_by_key(&mut *tx, caller.user_id(), key, now - KEY_TTL_MS).await?
        {
            // Compared with the payload that created the record, so a PATCH since does not turn
            // the original call's retry into a conflict; records made before the hash was kept
            // compare with what they hold now.
            let same = match stored_hash {
                Some(stored) => stored == payload_hash,
                None => {
                    existing.prompt_id == req.prompt_id
                        && existing.input_text == req.input
                        && existing.final_output == req.output
                        && existing.notes == req.notes
                }
            };
            if !same {
                return Err(Rejection::new(
                    ReasonCode::IdempotencyKeyReused,
                    "This idempotencyKey created a record with a different payload; use a new key.",
                )
                .into());
            }
            return Ok((tx, record_response(&existing, None, None)?, false));
        }
        let settings = match &prompt.current_version_id {
            Some(v) => prompt_rows::version(&mut *tx, v)
                .await?
                .map(|v| v.model_settings),
            None => None,
        };
        let model_id = settings
            .as_deref()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| {
                v.get("model_id")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            });
        let modality = model_id
            .as_deref()
            .and_then(|m| self.catalog.model(m))
            .map(|m| m.output_modality());
        match modality {
            None => {
                return Err(Rejection::new(
                    ReasonCode::ManualRecordModalityUndetermined,
                    "The prompt's model settings cannot be read, so its output modality is unknown.",
                )
                .into());
            }
            Some("text") => {}
            Some(_) => {
                return Err(Rejection::new(
                    ReasonCode::ManualRecordModalityNotSupported,
                    "Manual records exist for text prompts only.",
                )
                .into());
            }
        }
        if rows::count_manual(&mut *tx, &prompt.id).await? >= MANUAL_RECORDS_PER_PROMPT {
            return Err(Rejection::new(
                ReasonCode::PromptRecordCapReached,
                format!("This prompt already has {MANUAL_RECORDS_PER_PROMPT} manual records."),
            )
            .into());
        }
        let row = RecordRow {
            id: ids::new_id(ids::RECORD),
            user_id: caller.user_id().to_owned(),
            prompt_id: prompt.id,
            version_id: None,
            run_id: None,
            source: "Manual".to_owned(),
            created_by_key_id: Some(caller.key_id().to_owned()),
            input_text: req.input,
            model_output: req.output.clone(),
            final_output: req.output,
            deltas: "[]".to_owned(),
            notes: req.notes,
            model_id,
            input_tokens: 0,
            output_tokens: 0,
            cost_millicents: 0,
            client_idempotency_key: req.idempotency_key,
            revise_lock_until: None,
            created_at: now,
            updated_at: now,
            last_patched_at: None,
            deleted_at: None,
            images: "[]".to_owned(),
        };
        rows::insert(&mut tx, &row).await?;
        if row.client_idempotency_key.is_some() {
            rows::set_payload_hash(&mut *tx, &row.id, &payload_hash).await?;
        }
        Ok((tx, record_response(&row, None, None)?, true))
    }
}
