//! Revise: a fresh full output from the synthetic wrapper (Original input / Previous output /
//! Revision instruction), appended as a turn. A Finalized session reopens transparently (a new
//! generation, counted against 100 reopens); `fromTurn` rewinds first; `intermediateOutput`
//! replaces what the model sees as the previous output. `POST /records/{id}/revise` rehydrates a
//! session from a record, under a per-record lock, and revises it; its finalize amends that record.
//!
//! Choice: a revise chains a finalize when the caller asks (`autoFinalize`), or, when it reopened
//! a Finalized session (or a record) and the caller said nothing, when the user's auto-finalize
//! default is on, so the record follows the revision.

use proem_api::ReasonCode;
use proem_api::records::ReviseRequest;
use serde_json::Value;

use super::start::stream_required;
use super::turn::TurnJob;
use super::{
    Command, DELTAS_CAP_BYTES, INTERMEDIATE_OUTPUT_CAP_BYTES, REOPEN_CAP, RunStart, RunState,
    Session, SessionTurn, Snapshot, TTL_MS, TURN_CAP, check_from_turn, parse_from_turn,
};
use crate::auth::Principal;
use crate::engine::Engine;
use crate::records::{Delta, deltas_of};
use crate::store::prompts as prompt_rows;
use crate::store::records as record_rows;
use crate::store::runs::{self as rows, SessionRow};
use crate::txn::Txn;
use crate::versions::version_not_found;
use crate::{Error, Rejection, ids};

/// How long a record's rehydrate lock is held at most.
const RECORD_LOCK_MS: i64 = 30_000;

/// A validated revise body.
struct Revision {
    instruction: String,
    intermediate_output: Option<String>,
    from_turn: Option<Value>,
    auto_finalize: Option<bool>,
}

fn check(req: ReviseRequest) -> Result<Revision, Error> {
    if req.stream != Some(true) {
        return Err(stream_required());
    }
    let instruction = req
        .instruction
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| {
            Error::from(
                Rejection::new(
                    ReasonCode::InstructionRequired,
                    "Revise needs a non-empty instruction.",
                )
                .with_param("instruction", "required"),
            )
        })?;
    if let Some(io) = &req.intermediate_output {
        if io.len() > INTERMEDIATE_OUTPUT_CAP_BYTES {
            return Err(Rejection::new(
                ReasonCode::IntermediateOutputTooLarge,
                "intermediateOutput is larger than 32 KB.",
            )
            .with_param("intermediateOutput", "too_large")
            .into());
        }
        if io.trim().is_empty() {
            return Err(Rejection::new(ReasonCode::InvalidParams, "intermediateOutput cannot be empty or whitespace; omit it to use the prior output.")
                .with_param("intermediateOutput", "empty")
                .into());
        }
    }
    Ok(Revision {
        instruction,
        intermediate_output: req.intermediate_output,
        from_turn: req.from_turn,
        auto_finalize: req.auto_finalize,
    })
}

fn wrapper(input: &str, previous: &str, instruction: &str) -> String {
    format!(
        "Original input:\n{input}\n\nPrevious output:\n{previous}\n\nRevision instruction:\n{instruction}"
    )
}

/// A session's turns rebuilt from its record: the record is what PATCH and finalize edits left,
/// so a revision continues from it rather than from the turns the run last streamed. The run turn
/// carries what the revision deltas do not, so the amended record's cost and tokens still include
/// every earlier call; each image goes back to the turn that made it.
pub(crate) fn turns_of_record(
    record: &record_rows::RecordRow,
    fallback_model_id: &str,
) -> Result<Vec<SessionTurn>, Error> {
    let deltas = deltas_of(record)?;
    let revisions_cost: i64 = deltas
        .iter()
        .map(|d| match d {
            Delta::Revision {
                cost_millicents, ..
            } => *cost_millicents,
            Delta::Edit { .. } => 0,
        })
        .sum();
    let mut turns = vec![SessionTurn {
        kind: "run".into(),
        input: Some(record.input_text.clone()),
        instruction: None,
        intermediate_output: None,
        output: deltas.first().map_or(record.final_output.clone(), |d| {
            d.intermediate_output().to_owned()
        }),
        model_id: record
            .model_id
            .clone()
            .unwrap_or_else(|| fallback_model_id.to_owned()),
        input_tokens: record.input_tokens,
        output_tokens: record.output_tokens,
        cost_millicents: record.cost_millicents - revisions_cost,
        images: Vec::new(),
    }];
    for d in &deltas {
        if let Delta::Revision {
            instruction,
            intermediate_output,
            output,
            model_id,
            cost_millicents,
        } = d
        {
            turns.push(SessionTurn {
                kind: "revision".into(),
                input: None,
                instruction: Some(instruction.clone()),
                intermediate_output: Some(intermediate_output.clone()),
                output: output.clone(),
                model_id: model_id.clone(),
                input_tokens: 0,
                output_tokens: 0,
                cost_millicents: *cost_millicents,
                images: Vec::new(),
            });
        }
    }
    for image in crate::records::images_of(record)? {
        if let Some(turn) = turns.get_mut(image.turn) {
            turn.images.push(image.image);
        }
    }
    Ok(turns)
}

/// A user edit on the record (PATCH output, or finalize's finalText) is what the next revision
/// starts from, unless the caller overrides it or rewinds. Image records have no text edits.
fn carry_edit(record: &record_rows::RecordRow, revision: &mut Revision, image: bool) {
    if !image
        && revision.from_turn.is_none()
        && revision.intermediate_output.is_none()
        && record.final_output != record.model_output
    {
        revision.intermediate_output = Some(record.final_output.clone());
    }
}

impl Engine {
    pub async fn revise_run(
        &self,
        caller: &Principal,
        run_id: &str,
        req: ReviseRequest,
    ) -> Result<(Txn, RunStart), Error> {
        let revision = check(req)?;
        let session = self.reach_session(caller, run_id).await?;
        let expected = session.row.state.clone();
        let user_default = self.auto_finalize(caller.user_id(), None).await?;
        let tx = Txn::new(self.store.begin().await?);
        self.revise_session(tx, session, Some(expected), revision, None, user_default)
            .await
    }

    pub async fn revise_record(
        &self,
        caller: &Principal,
        record_id: &str,
        req: ReviseRequest,
    ) -> Result<(Txn, RunStart), Error> {
        let revision = check(req)?;
        let record = self.reach_record(caller, record_id).await?;
        let now = self.store.now_ms();
        if !record_rows::try_lock_revise(self.store.writer(), record_id, now, now + RECORD_LOCK_MS)
            .await?
        {
            return Err(Rejection::new(
                ReasonCode::RecordReviseInProgress,
                "Another caller is rehydrating this record; retry after a short backoff.",
            )
            .into());
        }
        let result = self.rehydrate(caller, &record, revision).await;
        match &result {
            Ok(_) => {}
            Err(_) => record_rows::unlock_revise(self.store.writer(), record_id).await?,
        }
        let (mut tx, start) = result?;
        let (store, id) = (self.store.clone(), record_id.to_owned());
        let tasks = self.tasks.clone();
        tx.after_commit(move || {
            tasks.spawn(async move {
                let _ = record_rows::unlock_revise(store.writer(), &id).await;
            });
        });
        Ok((tx, start))
    }

    async fn rehydrate(
        &self,
        caller: &Principal,
        record: &record_rows::RecordRow,
        mut revision: Revision,
    ) -> Result<(Txn, RunStart), Error> {
        let prompt = self.reach_prompt(caller, &record.prompt_id).await?;
        // A manual record has no version: it revises on the prompt's current one.
        let version_id = record
            .version_id
            .clone()
            .or(prompt.current_version_id.clone())
            .unwrap_or_default();
        let version = prompt_rows::version(self.store.reader(), &version_id)
            .await?
            .filter(|v| v.prompt_id == prompt.id && v.deleted_at.is_none())
            .ok_or_else(|| version_not_found(&version_id))?;
        let raw: Value = serde_json::from_str(&version.model_settings).unwrap_or_default();
        let (settings, model) =
            crate::catalog::validate_model_settings(&self.catalog, &raw, "modelSettings")?;
        let snapshot = Snapshot {
            prompt_text: version.prompt_text,
            model_settings: settings,
            version_number: version.version_number,
            output_modality: model.output_modality().to_owned(),
            images: Vec::new(),
            text_attachments: Vec::new(),
            attachment_ids: Vec::new(),
        };
        let turns = turns_of_record(record, &snapshot.model_settings.model_id)?;
        carry_edit(record, &mut revision, snapshot.output_modality == "image");
        let user_default = self.auto_finalize(caller.user_id(), None).await?;
        let now = self.store.now_ms();
        let row = SessionRow {
            id: ids::new_id(ids::RUN),
            user_id: caller.user_id().to_owned(),
            key_id: caller.key_id().to_owned(),
            prompt_id: prompt.id.clone(),
            version_id: version.id,
            snapshot: serde_json::to_string(&snapshot).unwrap_or_default(),
            state: RunState::Active.as_str().to_owned(),
            turns: serde_json::to_string(&turns).unwrap_or_default(),
            generation: 0,
            reopen_count: 0,
            finalized_record_id: Some(record.id.clone()),
            last_finalize: None,
            failure_code: None,
            seeded_from_record_id: Some(record.id.clone()),
            client_idempotency_key: None,
            created_at: now,
            updated_at: now,
            expires_at: now + TTL_MS,
        };
        let mut tx = Txn::new(self.store.begin().await?);
        rows::insert(&mut tx, &row).await?;
        let session = Session::decode(row)?;
        self.revise_session(
            tx,
            session,
            Some(RunState::Active.as_str().to_owned()),
            revision,
            Some(record.id.clone()),
            user_default,
        )
        .await
    }

    /// Applies a revision to `session` on `tx` (compare-and-set against `expected`) and launches
    /// the turn once `tx` commits. Nothing here reads through the pool while `tx` holds a
    /// connection, so concurrent revisions cannot starve the pool.
    async fn revise_session(
        &self,
        mut tx: Txn,
        mut session: Session,
        expected: Option<String>,
        mut revision: Revision,
        seeded_from: Option<String>,
        user_default: bool,
    ) -> Result<(Txn, RunStart), Error> {
        let now = self.store.now_ms();
        if session.is_image() && revision.intermediate_output.is_some() {
            return Err(Rejection::new(
                ReasonCode::IntermediateOutputNotSupportedImage,
                "An image revision always starts from the model's last image; omit intermediateOutput.",
            )
            .with_param("intermediateOutput", "not_supported_image")
            .into());
        }
        let reopened = session.state == RunState::Finalized;
        if let Some(raw) = &revision.from_turn {
            parse_from_turn(raw)?;
        }
        session.apply(Command::Revise, now)?;
        if reopened {
            if session.row.reopen_count >= REOPEN_CAP {
                return Err(Rejection::new(
                    ReasonCode::ReopenLimitExceeded,
                    "This run was reopened 100 times; start a new run.",
                )
                .into());
            }
            // Reopening would finalize into a new record in place of the self-deleted one.
            if session.row.finalized_record_id.is_none() {
                return Err(Rejection::new(
                    ReasonCode::RecordWasDeleted,
                    "This run's record was deleted; start a new run.",
                )
                .into());
            }
            session.row.reopen_count += 1;
            session.row.generation += 1;
            let record = self.record_of(&mut *tx, &session).await?;
            session.turns = turns_of_record(&record, &session.snapshot.model_settings.model_id)?;
            carry_edit(&record, &mut revision, session.is_image());
        }
        let from = check_from_turn(revision.from_turn.as_ref(), session.turns.len())?;
        let dropped = match from {
            Some(n) => session.rewind(n),
            None => Vec::new(),
        };
        let prior_images = session
            .turns
            .last()
            .map(|t| t.images.clone())
            .unwrap_or_default();
        if session.is_image() && prior_images.is_empty() {
            return Err(Rejection::new(
                ReasonCode::NoPriorImageForRevision,
                "An image revision edits the latest turn's image, and it made none; start a new run.",
            )
            .into());
        }
        if session.turns.len() >= TURN_CAP {
            return Err(Rejection::new(
                ReasonCode::RevisionChainTooLong,
                "A run holds at most 25 turns; finalize and start a new run.",
            )
            .into());
        }
        session.encode_turns();
        let previous = revision
            .intermediate_output
            .clone()
            .unwrap_or_else(|| session.last_output().to_owned());
        // The new turn keeps its instruction and a copy of the previous output before the model
        // adds any: a session those alone take past 2 MB is refused before the call is billed.
        if session.row.turns.len() + previous.len() + revision.instruction.len() > DELTAS_CAP_BYTES
        {
            return Err(Rejection::new(
                ReasonCode::SessionDeltasTooLarge,
                "The run's turns would pass 2 MB; finalize and start a new run.",
            )
            .into());
        }
        let input = session
            .turns
            .first()
            .and_then(|t| t.input.clone())
            .unwrap_or_default();
        let (request, output) = if session.is_image() {
            // The model edits its last images; the effective prompt accumulates the instructions.
            let text = format!(
                "Original input:\n{input}\n\nPrevious output: the attached image.\n\nRevision instruction:\n{}",
                revision.instruction
            );
            let mut request = self.llm_request(&session.snapshot, &text).await?;
            for image in &prior_images {
                request.input[0].parts.push(proem_llm::Part::Image {
                    mime_type: image.mime_type.clone(),
                    data: self.read_blob(&image.blob_key).await?,
                });
            }
            (request, format!("{previous}\n{}", revision.instruction))
        } else {
            let text = wrapper(&input, &previous, &revision.instruction);
            (
                self.llm_request(&session.snapshot, &text).await?,
                String::new(),
            )
        };
        let auto_finalize = match revision.auto_finalize {
            Some(v) => v,
            None => (reopened || seeded_from.is_some()) && user_default,
        };
        if let Some(expected) = expected {
            self.cas_session(&mut tx, &session, &expected).await?;
        }
        if reopened {
            rows::count_revise_reopen(&mut *tx, &session.row.id).await?;
        }
        crate::store::cleanup::enqueue(&mut tx, &dropped, now).await?;
        let turn = SessionTurn {
            kind: "revision".into(),
            input: None,
            instruction: Some(revision.instruction),
            intermediate_output: Some(previous),
            output,
            model_id: session.snapshot.model_settings.model_id.clone(),
            input_tokens: 0,
            output_tokens: 0,
            cost_millicents: 0,
            images: Vec::new(),
        };
        let turn_index = session.turns.len();
        let job = TurnJob::new(&session.row, turn, turn_index, auto_finalize, request);
        let run_id = session.row.id.clone();
        let (events, commit) = self
            .launch_turn(
                job,
                &session.snapshot.output_modality,
                seeded_from.as_deref(),
            )
            .await;
        tx.after_commit(move || commit.committed());
        Ok((tx, RunStart { run_id, events }))
    }
}
