//! One turn's upstream call, as a future driven by its consumer or its watcher (see
//! [`super::stream`]). It relays each frame to the caller's channel as it arrives (the caller may
//! be gone; the turn carries on), then stores the turn, its usage and its cost in one
//! transaction, and, with auto-finalize, chains the finalize on the same stream.

use futures::StreamExt;
use proem_api::ReasonCode;
use proem_llm::{Event, LlmError, LlmRequest};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::images::stored_images;
use super::{Command, DELTAS_CAP_BYTES, ImageRef, MAX_IMAGES, RunEvent, Session, SessionTurn};
use crate::engine::Engine;
use crate::store::records::{self as record_rows, UsageRow};
use crate::store::runs::{self as rows, SessionRow};
use crate::txn::Txn;
use crate::{Error, ids};

/// Responses-API frames that carry the full response object (with `instructions`).
fn echoes_instructions(event: &str) -> bool {
    matches!(
        event,
        "response.created"
            | "response.in_progress"
            | "response.queued"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
    )
}

pub(crate) struct TurnJob {
    pub run_id: String,
    pub user_id: String,
    pub key_id: String,
    pub prompt_id: String,
    /// The turn being produced; `output`, tokens and cost are filled in when it completes.
    pub turn: SessionTurn,
    pub turn_index: usize,
    pub auto_finalize: bool,
    /// The session makes images: the turn's output is its effective prompt, not the model text.
    pub image_session: bool,
    pub request: LlmRequest,
}

/// How a turn ended upstream.
struct Outcome {
    text: String,
    /// Generated images as the upstream sent them (base64), until they are stored.
    generated: Vec<String>,
    /// The stored images.
    images: Vec<ImageRef>,
    input_tokens: i64,
    output_tokens: i64,
    cost: i64,
    failure: Option<Failure>,
}

/// Why a turn failed: the provider call, or the images it made (always charged: the model made
/// them).
pub(crate) enum Failure {
    Upstream(LlmError),
    Images { code: ReasonCode, message: String },
}

impl Failure {
    fn reason_code(&self) -> &'static str {
        match self {
            Failure::Upstream(e) => e.reason_code(),
            Failure::Images { code, .. } => code.as_str(),
        }
    }

    fn charged(&self) -> bool {
        match self {
            Failure::Upstream(e) => e.charged(),
            Failure::Images { .. } => true,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Upstream(e) => e.message(),
            Failure::Images { message, .. } => message.clone(),
        }
    }
}

impl TurnJob {
    pub fn new(
        row: &SessionRow,
        turn: SessionTurn,
        turn_index: usize,
        auto_finalize: bool,
        request: LlmRequest,
    ) -> Self {
        Self {
            run_id: row.id.clone(),
            user_id: row.user_id.clone(),
            key_id: row.key_id.clone(),
            prompt_id: row.prompt_id.clone(),
            turn,
            turn_index,
            auto_finalize,
            image_session: request.generate_images,
            request,
        }
    }

    /// Calls the provider and stores the turn. The first poll hands the provider request to its
    /// connection. `committed` resolves when the transaction that
    /// opened the turn commits, and fails when it rolls back. The call starts before that,
    /// beside the commit, because the caller is waiting for the first token; frames only queue
    /// on `events` until the commit hands the stream to the caller. Nothing is stored, and the
    /// call is dropped mid-flight, unless the turn was committed. (A call dropped that way may
    /// still be billed upstream; it only happens when the database refuses the commit.)
    pub async fn run(
        self,
        engine: Engine,
        events: UnboundedSender<RunEvent>,
        mut committed: oneshot::Receiver<()>,
    ) {
        let mut call = std::pin::pin!(self.call(&engine, &events));
        let mut awaiting_commit = true;
        let outcome = tokio::select! {
            gate = &mut committed => {
                if gate.is_err() {
                    return;
                }
                awaiting_commit = false;
                call.await
            }
            outcome = &mut call => outcome,
        };
        if awaiting_commit && committed.await.is_err() {
            return;
        }
        let mut outcome = outcome;
        if outcome.failure.is_none() && !outcome.generated.is_empty() {
            let generated = std::mem::take(&mut outcome.generated);
            match stored_images(&engine, &self.run_id, &generated).await {
                Ok(images) => outcome.images = images,
                Err(failure) => outcome.failure = Some(failure),
            }
        }
        let cost = outcome.cost;
        let result = match outcome.failure {
            None => self.complete(&engine, &events, outcome).await,
            Some(_) => self.fail(&engine, &events, outcome).await,
        };
        if let Err(e) = result {
            tracing::error!(run.id = %self.run_id, error = %e, "cannot store a run turn");
            let code = e.code().as_str();
            let _ = events.send(RunEvent::failed(
                &self.run_id,
                code,
                "The turn could not be stored.",
                true,
                Some(cost),
                None,
            ));
            let _ = self.skip_finalize(&events, code);
        }
    }

    async fn call(&self, engine: &Engine, events: &UnboundedSender<RunEvent>) -> Outcome {
        let mut text = String::new();
        let mut generated = Vec::new();
        let mut usage = None;
        let mut failure = None;
        match engine.llm.stream(self.request.clone()).await {
            Err(e) => failure = Some(Failure::Upstream(e)),
            Ok(mut stream) => {
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(Event::Delta { text: delta, frame }) => {
                            text.push_str(&delta);
                            let _ =
                                events.send(RunEvent::relay(frame.event, frame.data, Some(delta)));
                        }
                        // Lifecycle frames echo the whole response object, instructions
                        // included: relaying them would show the prompt text to keys that may
                        // run a prompt but not read it.
                        Ok(Event::Passthrough(frame)) if !echoes_instructions(&frame.event) => {
                            let _ = events.send(RunEvent::relay(frame.event, frame.data, None));
                        }
                        Ok(Event::Passthrough(_)) => {}
                        Ok(Event::Image { base64 }) => {
                            if generated.len() == MAX_IMAGES {
                                failure = Some(Failure::Images {
                                    code: ReasonCode::ImageExtractionOverflow,
                                    message: format!(
                                        "The model made more than {MAX_IMAGES} images in one turn; ask for fewer or split the run."
                                    ),
                                });
                                break;
                            }
                            generated.push(base64);
                        }
                        Ok(Event::Usage {
                            input_tokens,
                            output_tokens,
                        }) => usage = Some((input_tokens, output_tokens)),
                        Err(e) => {
                            failure = Some(Failure::Upstream(e));
                            break;
                        }
                    }
                }
            }
        }
        // Without a usage report (a cut stream), estimate at four characters a token so a
        // charged failure still carries a cost.
        let (input_tokens, output_tokens) = usage.unwrap_or_else(|| {
            let sent: usize = self.request.instructions.as_deref().map_or(0, str::len)
                + self
                    .request
                    .input
                    .iter()
                    .flat_map(|m| &m.parts)
                    .map(|p| match p {
                        proem_llm::Part::Text(t) => t.len(),
                        proem_llm::Part::Image { .. } => 0,
                    })
                    .sum::<usize>();
            (
                i64::try_from(sent / 4).unwrap_or(0),
                i64::try_from(text.len() / 4).unwrap_or(0),
            )
        });
        let cost = engine
            .catalog
            .model(&self.turn.model_id)
            .map_or(0, |m| m.cost_millicents(input_tokens, output_tokens));
        Outcome {
            text,
            generated,
            images: Vec::new(),
            input_tokens,
            output_tokens,
            cost,
            failure,
        }
    }

    fn usage(&self, o: &Outcome, billable: bool, outcome: &str, now: i64) -> UsageRow {
        UsageRow {
            id: ids::new_id(ids::USAGE),
            user_id: self.user_id.clone(),
            key_id: Some(self.key_id.clone()),
            run_id: Some(self.run_id.clone()),
            prompt_id: Some(self.prompt_id.clone()),
            purpose: self.turn.kind.clone(),
            model_id: self.turn.model_id.clone(),
            input_tokens: o.input_tokens,
            output_tokens: o.output_tokens,
            cost_millicents: if billable { o.cost } else { 0 },
            billable,
            outcome: outcome.to_owned(),
            created_at: now,
        }
    }

    async fn load(&self, tx: &mut Txn) -> Result<Session, Error> {
        let row = rows::get(&mut **tx, &self.run_id)
            .await?
            .ok_or_else(|| super::run_not_found(&self.run_id))?;
        Session::decode(row)
    }

    async fn complete(
        &self,
        engine: &Engine,
        events: &UnboundedSender<RunEvent>,
        o: Outcome,
    ) -> Result<(), Error> {
        let now = engine.store.now_ms();
        let mut turn = self.turn.clone();
        // An image turn's output is its effective prompt, set when the turn was opened; the
        // model's words beside its images are relayed but not kept.
        if !self.image_session {
            turn.output = o.text.clone();
        }
        turn.images = o.images.clone();
        turn.input_tokens = o.input_tokens;
        turn.output_tokens = o.output_tokens;
        turn.cost_millicents = o.cost;
        let mut tx = Txn::new(engine.store.begin().await?);
        let mut session = self.load(&mut tx).await?;
        session.turns.push(turn);
        session.encode_turns();
        let too_large = session.row.turns.len() > DELTAS_CAP_BYTES;
        let moved = if too_large {
            // Billed upstream, but the turn cannot be kept: the session stays as it was.
            session.turns.pop();
            session.encode_turns();
            session.apply(
                Command::TurnFailed {
                    first_turn: self.turn_index == 0,
                },
                now,
            )
        } else {
            session.apply(Command::TurnCompleted, now)
        };
        let usage = self.usage(
            &o,
            true,
            if too_large { "not_persisted" } else { "ok" },
            now,
        );
        record_rows::insert_usage(&mut *tx, &usage).await?;
        let stored = moved.is_ok() && rows::cas(&mut *tx, &session.row, "Running").await?;
        tx.commit().await?;
        // Charged either way: the model answered, but the turn is not the session's.
        let refused = if too_large {
            Some((
                ReasonCode::CostIncurredNoDeltaPersisted,
                "The session's turns passed 2 MB; finalize and start a new run.",
            ))
        } else if !stored {
            Some((
                ReasonCode::SessionNotActive,
                "The run was cancelled or expired while the model answered.",
            ))
        } else {
            None
        };
        if let Some((code, message)) = refused {
            let code = code.as_str();
            let _ = events.send(RunEvent::failed(
                &self.run_id,
                code,
                message,
                true,
                Some(o.cost),
                Some(&usage.id),
            ));
            return self.skip_finalize(events, code);
        }
        let _ = events.send(RunEvent::completed(
            &self.run_id,
            self.turn_index,
            &self.turn.model_id,
            o.cost,
            o.images.len(),
        ));
        if self.auto_finalize {
            match engine.finalize_after_turn(&self.run_id).await {
                Ok((record_id, turns, cost)) => {
                    let _ = events.send(RunEvent::record_finalized(
                        &self.run_id,
                        &record_id,
                        &turns,
                        cost,
                    ));
                }
                Err(e) => {
                    let retryable = matches!(
                        e.code(),
                        ReasonCode::SessionBusy
                            | ReasonCode::SessionNotActive
                            | ReasonCode::InternalError
                            | ReasonCode::ServiceUnavailable
                    );
                    let _ = events.send(RunEvent::record_finalize_failed(
                        &self.run_id,
                        e.code().as_str(),
                        retryable,
                    ));
                }
            }
        }
        Ok(())
    }

    async fn fail(
        &self,
        engine: &Engine,
        events: &UnboundedSender<RunEvent>,
        o: Outcome,
    ) -> Result<(), Error> {
        let Some(error) = &o.failure else {
            return Ok(());
        };
        let code = error.reason_code();
        let charged = error.charged();
        let now = engine.store.now_ms();
        let mut tx = Txn::new(engine.store.begin().await?);
        let usage = self.usage(&o, charged, code, now);
        record_rows::insert_usage(&mut *tx, &usage).await?;
        let mut session = self.load(&mut tx).await?;
        let first_turn = self.turn_index == 0;
        if session
            .apply(Command::TurnFailed { first_turn }, now)
            .is_ok()
        {
            if first_turn {
                session.row.failure_code = Some(code.to_owned());
            }
            rows::cas(&mut *tx, &session.row, "Running").await?;
        }
        tx.commit().await?;
        let _ = events.send(RunEvent::failed(
            &self.run_id,
            code,
            &error.message(),
            charged,
            charged.then_some(o.cost),
            Some(&usage.id),
        ));
        self.skip_finalize(events, code)
    }

    fn skip_finalize(&self, events: &UnboundedSender<RunEvent>, code: &str) -> Result<(), Error> {
        if self.auto_finalize {
            let _ = events.send(RunEvent::record_finalize_skipped(&self.run_id, code));
        }
        Ok(())
    }
}
