//! Runs: a session that streams a prompt version through a provider, can be revised, and is
//! finalized into a record (spec "Run lifecycle", "SSE protocol", "Cost units"). The upstream call
//! is driven by the request's stream while it reads, and by a tracked task otherwise, so a caller
//! that disconnects loses nothing: output, usage and cost are persisted and the run can be
//! finalized later.

mod events;
mod finalize;
mod images;
mod revise;
mod start;
pub mod state;
mod stream;
mod turn;

use proem_api::ReasonCode;
use proem_api::records::{RunResponse, Turn};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Principal;
use crate::catalog::ModelSettings;
use crate::clock::to_utc_string;
use crate::engine::Engine;
use crate::store::StoreError;
use crate::store::runs::{self as rows, SessionRow};
use crate::txn::Txn;
use crate::{Error, Rejection};

pub use events::RunEvent;
pub use start::RunStart;
pub use state::{Command, RunState};
pub use stream::TurnStream;

pub const PROTOCOL_VERSION: u32 = 1;
/// Sliding inactivity TTL of a session.
pub const TTL_MS: i64 = 3600 * 1000;
/// Turns per session (run + revisions), spec `revision_chain_too_long`.
pub const TURN_CAP: usize = 25;
/// Serialized turns per session, spec `session_deltas_too_large`.
pub const DELTAS_CAP_BYTES: usize = 2 * 1024 * 1024;
/// Reopens of a finalized session, spec `reopen_limit_exceeded`.
pub const REOPEN_CAP: i64 = 100;
/// `intermediateOutput` per revise, spec `intermediate_output_too_large`.
pub const INTERMEDIATE_OUTPUT_CAP_BYTES: usize = 32 * 1024;
pub const MAX_IMAGES: usize = 16;
pub const IMAGE_CAP_BYTES: usize = 10 * 1024 * 1024;
/// Advisory-lock id of the session reaper.
const REAPER_JOB: i64 = 0x7072_6f65_6d02;

/// What a session froze when it started: the version it runs and its inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub prompt_text: String,
    pub model_settings: ModelSettings,
    pub version_number: i64,
    pub output_modality: String,
    /// Images sent with every turn: the run's own and the prompt's image attachments.
    pub images: Vec<ImageRef>,
    /// Text attachments appended to the instructions.
    pub text_attachments: Vec<TextRef>,
    /// Attachment ids this session pins (`attachment_referenced_by_active_run`).
    pub attachment_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    pub mime_type: String,
    pub blob_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextRef {
    pub filename: String,
    pub blob_key: String,
}

/// One turn of a session: the run (index 0) or a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionTurn {
    /// `run` or `revision`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// What the model saw as the prior output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_output: Option<String>,
    pub output: String,
    pub model_id: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_millicents: i64,
    /// The images this turn made (image-output runs), as blobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageRef>,
}

/// An image a record keeps, with the turn that made it (so a rewind knows which to drop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnImage {
    pub turn: usize,
    #[serde(flatten)]
    pub image: ImageRef,
}

pub fn run_not_found(id: &str) -> Error {
    Rejection::new(
        ReasonCode::RunNotFound,
        format!("No run {id} is visible to this key; it may never have existed."),
    )
    .with_param("runId", "not_found")
    .into()
}

/// Parses `fromTurn`: a non-negative integer, else `from_turn_invalid`.
pub fn parse_from_turn(raw: &Value) -> Result<usize, Error> {
    raw.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            Rejection::new(
                ReasonCode::FromTurnInvalid,
                format!("fromTurn must be a non-negative integer; got {raw}."),
            )
            .with_param("fromTurn", "invalid")
            .into()
        })
}

/// Checks `fromTurn` against a session of `len` turns: valid is 0 to `len - 2` (spec "Index
/// space"), since rewinding to the last turn would drop nothing.
pub(crate) fn check_from_turn(raw: Option<&Value>, len: usize) -> Result<Option<usize>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let n = parse_from_turn(raw)?;
    if n + 2 > len {
        let detail = if len < 2 {
            "fromTurn rewinds to an earlier turn, and this run has only its first; omit it."
                .to_owned()
        } else {
            format!(
                "fromTurn must be between 0 and {}; re-read turns[].",
                len - 2
            )
        };
        return Err(Rejection::new(ReasonCode::FromTurnOutOfRange, detail)
            .with_param("fromTurn", "out_of_range")
            .into());
    }
    Ok(Some(n))
}

/// A session row with its JSON decoded.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub row: SessionRow,
    pub state: RunState,
    pub snapshot: Snapshot,
    pub turns: Vec<SessionTurn>,
}

impl Session {
    pub fn decode(row: SessionRow) -> Result<Self, Error> {
        let corrupt = |what: &str, e: serde_json::Error| -> Error {
            Rejection::new(
                ReasonCode::SnapshotCorrupt,
                format!("The run's {what} cannot be read ({e}); start a new run."),
            )
            .into()
        };
        let state = RunState::parse(&row.state)
            .ok_or_else(|| StoreError::Corrupt(format!("run state `{}`", row.state)))?;
        let snapshot = serde_json::from_str(&row.snapshot).map_err(|e| corrupt("snapshot", e))?;
        let turns = serde_json::from_str(&row.turns).map_err(|e| corrupt("turns", e))?;
        Ok(Self {
            row,
            state,
            snapshot,
            turns,
        })
    }

    /// Writes the decoded turns back into the row.
    pub fn encode_turns(&mut self) {
        self.row.turns = serde_json::to_string(&self.turns).unwrap_or_else(|_| "[]".to_owned());
    }

    pub fn cost(&self) -> i64 {
        self.turns.iter().map(|t| t.cost_millicents).sum()
    }

    pub fn is_image(&self) -> bool {
        self.snapshot.output_modality == "image"
    }

    /// Every image of every turn, in turn order.
    pub fn images(&self) -> Vec<TurnImage> {
        self.turns
            .iter()
            .enumerate()
            .flat_map(|(turn, t)| {
                t.images.iter().map(move |image| TurnImage {
                    turn,
                    image: image.clone(),
                })
            })
            .collect()
    }

    /// Drops the turns after `n` and returns the blob keys of the images they made.
    pub fn rewind(&mut self, n: usize) -> Vec<String> {
        let dropped = self
            .turns
            .drain(n + 1..)
            .flat_map(|t| t.images.into_iter().map(|i| i.blob_key))
            .collect();
        self.encode_turns();
        dropped
    }

    pub fn last_output(&self) -> &str {
        self.turns.last().map_or("", |t| t.output.as_str())
    }

    /// The history as record turns (each revision's `output` is what the next turn saw).
    pub fn record_turns(&self) -> Vec<Turn> {
        let (input, deltas) = self.as_record_deltas();
        crate::records::synthesize(&input, self.last_output(), &deltas)
    }

    /// The session's revisions as record deltas, with the run's input.
    pub fn as_record_deltas(&self) -> (String, Vec<crate::records::Delta>) {
        let input = self
            .turns
            .first()
            .and_then(|t| t.input.clone())
            .unwrap_or_default();
        let deltas = self
            .turns
            .iter()
            .skip(1)
            .map(|t| crate::records::Delta::Revision {
                instruction: t.instruction.clone().unwrap_or_default(),
                intermediate_output: t.intermediate_output.clone().unwrap_or_default(),
                output: t.output.clone(),
                model_id: t.model_id.clone(),
                cost_millicents: t.cost_millicents,
            })
            .collect();
        (input, deltas)
    }

    /// Moves the state by `command` (an error if the machine refuses) and slides the TTL.
    pub fn apply(&mut self, command: Command, now: i64) -> Result<(), Error> {
        let next = state::next(self.state, command)
            .map_err(|code| Rejection::new(code, refusal(code, self.state)))?;
        self.state = next;
        self.row.state = next.as_str().to_owned();
        self.row.updated_at = now;
        if next.is_live() || next == RunState::Finalized {
            self.row.expires_at = now + TTL_MS;
        }
        Ok(())
    }
}

/// Drops the images from a run's turns once its record was deleted, so that the cleanup worker,
/// which keeps any blob a run still names, can delete them.
pub(crate) async fn forget_images(tx: &mut Txn, run_id: &str) -> Result<(), Error> {
    let Some(row) = rows::get(&mut **tx, run_id).await? else {
        return Ok(());
    };
    let mut session = Session::decode(row)?;
    if session.turns.iter().all(|t| t.images.is_empty()) {
        return Ok(());
    }
    for turn in &mut session.turns {
        turn.images.clear();
    }
    session.encode_turns();
    let state = session.row.state.clone();
    rows::cas(&mut **tx, &session.row, &state).await?;
    Ok(())
}

fn refusal(code: ReasonCode, state: RunState) -> String {
    match code {
        ReasonCode::SessionBusy => {
            "Another revise or finalize is in flight on this run; wait for it.".to_owned()
        }
        ReasonCode::RunAlreadyTerminal => format!(
            "The run is {}; nothing can be done with it.",
            state.as_str()
        ),
        _ => format!("The run is {}.", state.as_str()),
    }
}

impl Engine {
    /// The caller's session `id`: another user's is `run_not_found`, like a missing one; a key
    /// restricted away from its prompt gets `grant_required`. A session past its TTL is moved to
    /// Expired on the way.
    pub(crate) async fn reach_session(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<Session, Error> {
        let row = rows::get(self.store.reader(), id)
            .await?
            .filter(|r| r.user_id == caller.user_id())
            .ok_or_else(|| run_not_found(id))?;
        self.check_grant(caller, &row.prompt_id).await?;
        let mut session = Session::decode(row)?;
        let now = self.store.now_ms();
        if session.row.expires_at <= now && state::next(session.state, Command::Expire).is_ok() {
            let before = session.row.state.clone();
            session.apply(Command::Expire, now)?;
            rows::cas(self.store.writer(), &session.row, &before).await?;
        }
        Ok(session)
    }

    /// The live record a Finalized session was saved as: reopening continues from it.
    pub(crate) async fn record_of<'e>(
        &self,
        e: impl sqlx::Executor<'e, Database = sqlx::Any>,
        session: &Session,
    ) -> Result<crate::store::records::RecordRow, Error> {
        let deleted = || {
            Error::from(Rejection::new(
                ReasonCode::RecordWasDeleted,
                "This run's record was deleted; start a new run.",
            ))
        };
        let id = session
            .row
            .finalized_record_id
            .as_deref()
            .ok_or_else(deleted)?;
        crate::store::records::get(e, id)
            .await?
            .filter(|r| r.deleted_at.is_none())
            .ok_or_else(deleted)
    }

    /// Compare-and-set of a session on `tx`: `session_not_active` when another request moved it.
    pub(crate) async fn cas_session(
        &self,
        tx: &mut Txn,
        session: &Session,
        expected: &str,
    ) -> Result<(), Error> {
        if rows::cas(&mut **tx, &session.row, expected).await? {
            Ok(())
        } else {
            Err(Rejection::new(
                ReasonCode::SessionNotActive,
                "The run changed state meanwhile; re-fetch it with GET /runs/{runId}.",
            )
            .into())
        }
    }

    pub(crate) fn run_response(&self, s: &Session) -> RunResponse {
        RunResponse {
            run_id: s.row.id.clone(),
            prompt_id: s.row.prompt_id.clone(),
            version_id: s.row.version_id.clone(),
            model_id: s.snapshot.model_settings.model_id.clone(),
            state: s.state.as_str().to_owned(),
            streaming_in_progress: s.state == RunState::Running,
            turn_count: s.turns.len(),
            turns: s.record_turns(),
            generation: s.row.generation,
            reopen_count: s.row.reopen_count,
            finalized_record_id: s.row.finalized_record_id.clone(),
            failure_reason_code: s.row.failure_code.clone(),
            cost_milli_cents: s.cost(),
            seeded_from_record_id: s.row.seeded_from_record_id.clone(),
            created_at_utc: to_utc_string(s.row.created_at),
            updated_at_utc: to_utc_string(s.row.updated_at),
            expires_at_utc: to_utc_string(s.row.expires_at),
        }
    }

    /// `GET /runs/{runId}`: the polling endpoint.
    pub async fn get_run(&self, caller: &Principal, id: &str) -> Result<RunResponse, Error> {
        let session = self.reach_session(caller, id).await?;
        Ok(self.run_response(&session))
    }

    /// `DELETE /runs/{runId}`: drops a session without finalizing. Idempotent on an Abandoned
    /// session; `run_already_terminal` once it ended otherwise.
    pub async fn cancel_run(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<(Txn, RunResponse, String), Error> {
        let mut session = self.reach_session(caller, id).await?;
        let before = session.row.state.clone();
        session.apply(Command::Cancel, self.store.now_ms())?;
        let mut tx = Txn::new(self.store.begin().await?);
        self.cas_session(&mut tx, &session, &before).await?;
        Ok((
            tx,
            self.run_response(&session),
            session.row.prompt_id.clone(),
        ))
    }

    /// The caller's settings.
    pub async fn settings(
        &self,
        caller: &Principal,
    ) -> Result<proem_api::records::Settings, Error> {
        Ok(proem_api::records::Settings {
            auto_finalize_mcp_runs: self.auto_finalize(caller.user_id(), None).await?,
        })
    }

    /// Sets (or, with `None`, resets to on) the caller's auto-finalize default.
    pub async fn set_auto_finalize(
        &self,
        caller: &Principal,
        value: Option<bool>,
    ) -> Result<proem_api::records::Settings, Error> {
        crate::store::records::set_auto_finalize_setting(
            self.store.writer(),
            caller.user_id(),
            value,
            self.store.now_ms(),
        )
        .await?;
        self.settings(caller).await
    }

    /// Expires sessions idle past their TTL: the reaper the janitor runs. One instance leads it
    /// at a time; the others skip the round.
    pub async fn expire_sessions(&self) -> Result<u64, Error> {
        let Some(mut tx) = self.store.lead(REAPER_JOB).await? else {
            return Ok(0);
        };
        let expired = rows::expire_due(&mut *tx, self.store.now_ms()).await?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(expired)
    }

    /// What a retry of the run or revise that just wrote session `run_id` on `tx` replays: the
    /// turn as that call started it. Read on `tx`, before the turn can store anything (it waits
    /// for the commit), so `turnIndex` is the streaming turn's even though it is not stored yet.
    /// `seeded_from` is what the call's `run_session` named (only a record revise names one).
    pub async fn replay_snapshot(
        &self,
        tx: &mut Txn,
        run_id: &str,
        seeded_from: Option<&str>,
    ) -> Result<ReplaySnapshot, Error> {
        let row = rows::get(&mut **tx, run_id)
            .await?
            .ok_or_else(|| run_not_found(run_id))?;
        let s = Session::decode(row)?;
        Ok(ReplaySnapshot {
            run_id: run_id.to_owned(),
            turn_index: streaming_turn_index(&s),
            model_id: s.snapshot.model_settings.model_id.clone(),
            output_modality: s.snapshot.output_modality.clone(),
            state: s.state.as_str().to_owned(),
            streaming_in_progress: s.state == RunState::Running,
            record_id: s.row.finalized_record_id.clone(),
            seeded_from_record_id: seeded_from.map(str::to_owned),
        })
    }

    /// The replay of a claim stored before [`ReplaySnapshot`] existed (it named only the run):
    /// built from the session as it is now. Such claims expire 24 h after they were stored.
    pub async fn replayed_events_live(
        &self,
        caller: &Principal,
        run_id: &str,
    ) -> Result<Vec<RunEvent>, Error> {
        let s = self.reach_session(caller, run_id).await?;
        let live = ReplaySnapshot {
            run_id: run_id.to_owned(),
            turn_index: streaming_turn_index(&s),
            model_id: s.snapshot.model_settings.model_id.clone(),
            output_modality: s.snapshot.output_modality.clone(),
            state: s.state.as_str().to_owned(),
            streaming_in_progress: s.state == RunState::Running,
            record_id: s.row.finalized_record_id.clone(),
            seeded_from_record_id: s.row.seeded_from_record_id.clone(),
        };
        let hint = "This Idempotency-Key already started this run; nothing ran again. Poll GET /api/v2/public/runs/{runId} for its live state.";
        Ok(live.events_with(hint).to_vec())
    }

    /// Before a finalize replay: `record_was_deleted` once the run's record was self-deleted.
    pub async fn check_finalize_replay(
        &self,
        caller: &Principal,
        run_id: &str,
    ) -> Result<(), Error> {
        let s = self.reach_session(caller, run_id).await?;
        if s.state == RunState::Finalized && s.row.finalized_record_id.is_none() {
            return Err(Rejection::new(
                ReasonCode::RecordWasDeleted,
                "This run's record was deleted; start a new run.",
            )
            .into());
        }
        Ok(())
    }

    /// The finalize idempotency scope (`@gen{N}`) of a run the caller owns: how many times a
    /// revise reopened it, so each reopen is a fresh boundary. An amending finalize bumps the
    /// run's generation but not this, so its retry with the same key replays it (spec: "/finalize
    /// with the same Idempotency-Key always replays the original 200"). `None` when the run is
    /// not the caller's.
    pub async fn finalize_scope(&self, caller: &Principal, id: &str) -> Result<Option<i64>, Error> {
        Ok(rows::finalize_scope(self.store.reader(), id)
            .await?
            .filter(|(user_id, _)| user_id == caller.user_id())
            .map(|(_, scope)| scope))
    }
}

/// The turn a session is on: a Running session's turn is still streaming and not stored yet.
fn streaming_turn_index(s: &Session) -> usize {
    if s.state == RunState::Running {
        s.turns.len()
    } else {
        s.turns.len().saturating_sub(1)
    }
}

/// What a retried `/run` or `/revise` replays, stored as the Idempotency-Key's outcome when the
/// original call committed (spec "run_replayed does not reflect post-replay state": `state` is a
/// snapshot from when the replay was recorded). We record it at the original call, so it is
/// always the turn just started: `Running`, `streamingInProgress: true`, that turn's index. A
/// replay is built from this alone, never from the live run, so every retry of a key gets the
/// same bytes (spec "Idempotency": replays are byte-identical) however the run moved since. A
/// failure is never in it: nothing fails before the outcome is recorded (the turn stores nothing
/// until that commit), and adding a later one would make retries differ; the hint sends the
/// agent to `GET /runs/{runId}`, whose `state` and `failureReasonCode` are live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplaySnapshot {
    pub run_id: String,
    pub turn_index: usize,
    pub model_id: String,
    pub output_modality: String,
    pub state: String,
    pub streaming_in_progress: bool,
    /// The record the run is saved as (a reopened run, a record revise), if any yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeded_from_record_id: Option<String>,
}

impl ReplaySnapshot {
    /// The replay stream: `run_session` as the original call sent it (spec: the first event of
    /// every run stream), then `run_replayed`, which clients branch on. No `client_hint`: a
    /// replay carries no inline images.
    pub fn events(&self) -> [RunEvent; 2] {
        self.events_with(&format!(
            "This Idempotency-Key already started run {}; nothing ran again. This event is a snapshot from when the original call started turn {}, not the run's live state: GET /api/v2/public/runs/{} for that (state, turns, failureReasonCode).",
            self.run_id, self.turn_index, self.run_id
        ))
    }

    fn events_with(&self, hint: &str) -> [RunEvent; 2] {
        [
            RunEvent::session(
                &self.run_id,
                self.turn_index,
                &self.model_id,
                &self.output_modality,
                self.seeded_from_record_id.as_deref(),
            ),
            RunEvent::replayed(
                &self.run_id,
                self.turn_index,
                &self.model_id,
                &self.output_modality,
                &self.state,
                self.streaming_in_progress,
                self.record_id.as_deref(),
                hint,
            ),
        ]
    }
}
