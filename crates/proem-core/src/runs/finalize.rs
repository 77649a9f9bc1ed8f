//! Finalize: a session becomes a record (spec "POST /runs/{runId}/finalize"). Three axes: plain
//! (the model's last output), `finalText` (an edit delta when it differs), `finalText` + `tag`
//! (the tag anchors on that edit; no edit → `tag_without_delta`), and record-level `notes`. On a
//! Finalized session: no fields replays the last response; `notes` alone patches the record's
//! notes; `finalText`/`tag`/`fromTurn` reopen the session and amend the same record. Every check
//! runs before the state moves, so a refused finalize leaves no half-finalized session.

use proem_api::ReasonCode;
use proem_api::records::{FinalizeRequest, FinalizeResponse, Turn};

use super::{Command, REOPEN_CAP, RunState, Session, check_from_turn};
use crate::auth::Principal;
use crate::engine::Engine;
use crate::records::{
    Delta, NOTES_CAP_BYTES, TAG_CAP_BYTES, TEXT_CAP_BYTES, deltas_json, record_response,
};
use crate::store::records::{self as record_rows, RecordRow};
use crate::store::runs as rows;
use crate::txn::Txn;
use crate::{Error, Rejection, ids};

fn field(code: ReasonCode, name: &str, detail: &str) -> Error {
    Rejection::new(code, detail)
        .with_param(name, code.as_str())
        .into()
}

fn check(req: &FinalizeRequest) -> Result<(), Error> {
    if let Some(t) = &req.final_text {
        if t.len() > TEXT_CAP_BYTES {
            return Err(field(
                ReasonCode::FinalTextTooLarge,
                "finalText",
                "finalText is larger than 256 KB.",
            ));
        }
        if t.trim().is_empty() {
            return Err(field(
                ReasonCode::InvalidParams,
                "finalText",
                "finalText cannot be empty or whitespace; omit it to keep the model output.",
            ));
        }
    }
    if req
        .notes
        .as_ref()
        .is_some_and(|n| n.len() > NOTES_CAP_BYTES)
    {
        return Err(field(
            ReasonCode::NotesTooLarge,
            "notes",
            "notes is larger than 64 KB.",
        ));
    }
    if let Some(tag) = &req.tag {
        if tag.len() > TAG_CAP_BYTES {
            return Err(field(
                ReasonCode::TagTooLarge,
                "tag",
                "tag is larger than 64 KB.",
            ));
        }
        if tag.trim().is_empty() {
            return Err(field(
                ReasonCode::InvalidParams,
                "tag",
                "tag cannot be empty or whitespace.",
            ));
        }
    }
    Ok(())
}

fn record_was_deleted() -> Error {
    Rejection::new(
        ReasonCode::RecordWasDeleted,
        "This run's record was deleted; start a new run.",
    )
    .into()
}

impl Engine {
    pub async fn finalize_run(
        &self,
        caller: &Principal,
        run_id: &str,
        req: FinalizeRequest,
    ) -> Result<(Txn, FinalizeResponse), Error> {
        check(&req)?;
        let mut session = self.reach_session(caller, run_id).await?;
        if session.is_image() && req.final_text.is_some() {
            return Err(field(
                ReasonCode::FinalTextNotSupportedImage,
                "finalText",
                "An image run's record keeps its images and its accumulated prompt; finalize without finalText.",
            ));
        }
        if session.state == RunState::Finalized {
            let amends = req.final_text.is_some() || req.tag.is_some() || req.from_turn.is_some();
            if !amends {
                return self.finalized_again(session, req.notes).await;
            }
            if session.row.reopen_count >= REOPEN_CAP {
                return Err(Rejection::new(
                    ReasonCode::ReopenLimitExceeded,
                    "This run was reopened 100 times; start a new run.",
                )
                .into());
            }
            if session.row.finalized_record_id.is_none() {
                return Err(record_was_deleted());
            }
            session.row.reopen_count += 1;
            session.row.generation += 1;
            // The amend starts from the record as PATCH left it, not from the streamed turns.
            let record = self.record_of(self.store.reader(), &session).await?;
            session.turns =
                super::revise::turns_of_record(&record, &session.snapshot.model_settings.model_id)?;
            session.encode_turns();
        }
        self.finalize_session(session, req).await
    }

    /// Finalize on a Finalized session without new content: replay, or patch notes.
    async fn finalized_again(
        &self,
        session: Session,
        notes: Option<String>,
    ) -> Result<(Txn, FinalizeResponse), Error> {
        let record_id = session
            .row
            .finalized_record_id
            .clone()
            .ok_or_else(record_was_deleted)?;
        let tx = Txn::new(self.store.begin().await?);
        let Some(notes) = notes else {
            let last = session.row.last_finalize.as_deref().unwrap_or("");
            let replay: FinalizeResponse = serde_json::from_str(last).map_err(|e| {
                crate::store::StoreError::Corrupt(format!("run_sessions.last_finalize: {e}"))
            })?;
            return Ok((tx, replay));
        };
        let mut tx = tx;
        let mut record = record_rows::get(&mut *tx, &record_id)
            .await?
            .filter(|r| r.deleted_at.is_none())
            .ok_or_else(record_was_deleted)?;
        let now = self.store.now_ms();
        record.notes = Some(notes);
        record.updated_at = now;
        record.last_patched_at = Some(now);
        record_rows::update(&mut *tx, &record).await?;
        let dto = record_response(&record, None, None)?;
        let response = FinalizeResponse {
            run_id: session.row.id.clone(),
            record_id,
            turns: dto.turns.clone(),
            cost_milli_cents: session.cost(),
            record: dto,
        };
        // The most recent finalize response is what an empty finalize replays.
        let mut session = session;
        session.row.last_finalize = serde_json::to_string(&response).ok();
        let state = session.row.state.clone();
        rows::cas(&mut *tx, &session.row, &state).await?;
        Ok((tx, response))
    }

    /// Chained after a successful turn with auto-finalize: a plain finalize.
    pub(crate) async fn finalize_after_turn(
        &self,
        run_id: &str,
    ) -> Result<(String, Vec<Turn>, i64), Error> {
        let row = rows::get(self.store.reader(), run_id)
            .await?
            .ok_or_else(|| super::run_not_found(run_id))?;
        let session = Session::decode(row)?;
        let (tx, response) = self
            .finalize_session(session, FinalizeRequest::default())
            .await?;
        tx.commit().await?;
        Ok((
            response.record_id,
            response.turns,
            response.cost_milli_cents,
        ))
    }

    /// Active (or reopened Finalized) → Finalizing, committed at once so a concurrent revise or
    /// finalize sees `session_busy`; then the record and Finalizing → Finalized in the returned
    /// transaction, which the caller commits with its idempotency record.
    async fn finalize_session(
        &self,
        mut session: Session,
        req: FinalizeRequest,
    ) -> Result<(Txn, FinalizeResponse), Error> {
        let from = check_from_turn(req.from_turn.as_ref(), session.turns.len())?;
        let expected = session.row.state.clone();
        let now = self.store.now_ms();
        session.apply(Command::Finalize, now)?;
        if let Some(n) = from {
            // The dropped turns' images leave the record below, which queues them for cleanup.
            session.rewind(n);
        }
        let last = session.last_output().to_owned();
        let edit = req.final_text.clone().filter(|t| *t != last);
        if req.tag.is_some() && edit.is_none() {
            return Err(Rejection::new(
                ReasonCode::TagWithoutDelta,
                "A tag needs an edit to anchor on: send finalText that differs from the model output, or use notes.",
            )
            .with_param("tag", "tag_without_delta")
            .into());
        }
        let mut tx = Txn::new(self.store.begin().await?);
        self.cas_session(&mut tx, &session, &expected).await?;
        tx.commit().await?;
        match self.write_record(&mut session, edit, req, now).await {
            Ok(done) => Ok(done),
            Err(e) => {
                // Back to Active so the caller can retry the finalize.
                let mut reset = session.clone();
                if reset.apply(Command::FinalizeFailed, now).is_ok() {
                    let _ = rows::cas(
                        self.store.writer(),
                        &reset.row,
                        RunState::Finalizing.as_str(),
                    )
                    .await;
                }
                Err(e)
            }
        }
    }

    async fn write_record(
        &self,
        session: &mut Session,
        edit: Option<String>,
        req: FinalizeRequest,
        now: i64,
    ) -> Result<(Txn, FinalizeResponse), Error> {
        let (input, mut deltas) = session.as_record_deltas();
        let last = session.last_output().to_owned();
        if let Some(text) = &edit {
            deltas.push(Delta::Edit {
                intermediate_output: last.clone(),
                output: text.clone(),
                tag: req.tag.clone(),
            });
        }
        let mut tx = Txn::new(self.store.begin().await?);
        let existing = match &session.row.finalized_record_id {
            Some(id) => Some(
                record_rows::get(&mut *tx, id)
                    .await?
                    .filter(|r| r.deleted_at.is_none())
                    .ok_or_else(record_was_deleted)?,
            ),
            None => None,
        };
        let (input_tokens, output_tokens) = session.turns.iter().fold((0, 0), |(i, o), t| {
            (i + t.input_tokens, o + t.output_tokens)
        });
        // Re-finalizing keeps every image the session still has; only a rewind drops some, and
        // those go to the cleanup queue.
        let images = session.images();
        let dropped: Vec<String> = match &existing {
            Some(r) => crate::records::images_of(r)?
                .into_iter()
                .map(|i| i.image.blob_key)
                .filter(|k| !images.iter().any(|i| i.image.blob_key == *k))
                .collect(),
            None => Vec::new(),
        };
        let record = RecordRow {
            id: existing
                .as_ref()
                .map_or_else(|| ids::new_id(ids::RECORD), |r| r.id.clone()),
            user_id: session.row.user_id.clone(),
            prompt_id: session.row.prompt_id.clone(),
            version_id: Some(session.row.version_id.clone()),
            run_id: Some(session.row.id.clone()),
            source: existing
                .as_ref()
                .map_or_else(|| "API".to_owned(), |r| r.source.clone()),
            created_by_key_id: existing.as_ref().map_or_else(
                || Some(session.row.key_id.clone()),
                |r| r.created_by_key_id.clone(),
            ),
            input_text: input,
            model_output: last.clone(),
            final_output: edit.unwrap_or(last),
            deltas: deltas_json(&deltas),
            notes: req
                .notes
                .or_else(|| existing.as_ref().and_then(|r| r.notes.clone())),
            model_id: Some(session.snapshot.model_settings.model_id.clone()),
            input_tokens,
            output_tokens,
            cost_millicents: session.cost(),
            client_idempotency_key: existing.as_ref().map_or_else(
                || session.row.client_idempotency_key.clone(),
                |r| r.client_idempotency_key.clone(),
            ),
            revise_lock_until: None,
            created_at: existing.as_ref().map_or(now, |r| r.created_at),
            updated_at: now,
            last_patched_at: existing.as_ref().and_then(|r| r.last_patched_at),
            deleted_at: None,
            images: serde_json::to_string(&images).unwrap_or_else(|_| "[]".to_owned()),
        };
        crate::store::cleanup::enqueue(&mut tx, &dropped, now).await?;
        if existing.is_some() {
            record_rows::update(&mut *tx, &record).await?;
        } else {
            record_rows::insert(&mut tx, &record).await?;
        }
        let dto = record_response(&record, None, None)?;
        let response = FinalizeResponse {
            run_id: session.row.id.clone(),
            record_id: record.id.clone(),
            turns: dto.turns.clone(),
            cost_milli_cents: session.cost(),
            record: dto,
        };
        session.apply(Command::FinalizeDone, now)?;
        session.row.finalized_record_id = Some(record.id);
        session.row.last_finalize = serde_json::to_string(&response).ok();
        self.cas_session(&mut tx, session, RunState::Finalizing.as_str())
            .await?;
        Ok((tx, response))
    }
}
