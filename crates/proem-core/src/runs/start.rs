//! `POST /prompts/{id}/run`: freeze the version, open a session in Running, and start the turn,
//! which calls the provider at once but stores nothing until the session row is committed.
//! Validation failures are problems before any stream starts.

use proem_api::ReasonCode;
use proem_api::records::RunRequest;
use proem_llm::{LlmRequest, Message, Part, Role, Target};
use tokio::sync::{mpsc, oneshot};

use super::stream::TurnStream;
use super::turn::TurnJob;
use super::{ImageRef, RunEvent, SessionTurn, Snapshot, TTL_MS, TextRef};
use crate::auth::Principal;
use crate::catalog::validate_model_settings;
use crate::engine::Engine;
use crate::records::TEXT_CAP_BYTES;
use crate::store::attachments as attachment_rows;
use crate::store::prompts as prompt_rows;
use crate::store::records as record_rows;
use crate::store::runs::{self as rows, SessionRow};
use crate::txn::Txn;
use crate::versions::version_not_found;
use crate::{Error, Rejection, ids};

/// Tells a launched turn that the writes opening the turn are committed; dropping it
/// tells the task they never will be.
pub(crate) struct CommitSignal(oneshot::Sender<()>);

impl CommitSignal {
    pub(crate) fn committed(self) {
        let _ = self.0.send(());
    }
}

/// A started run: its id and the events of its first turn.
pub struct RunStart {
    pub run_id: String,
    pub events: TurnStream,
}

pub(crate) fn stream_required() -> Error {
    Rejection::new(
        ReasonCode::StreamRequired,
        "Run and revise stream their output: send \"stream\": true.",
    )
    .with_param("stream", "required")
    .into()
}

impl Engine {
    /// The auto-finalize choice: per call, else the user's persistent default, else on.
    pub(crate) async fn auto_finalize(
        &self,
        user_id: &str,
        per_call: Option<bool>,
    ) -> Result<bool, Error> {
        match per_call {
            Some(v) => Ok(v),
            None => Ok(
                record_rows::auto_finalize_setting(self.store.reader(), user_id)
                    .await?
                    .unwrap_or(true),
            ),
        }
    }

    pub async fn start_run(
        &self,
        caller: &Principal,
        prompt_id: &str,
        req: RunRequest,
        query_auto_finalize: Option<bool>,
        idempotency_key: Option<String>,
    ) -> Result<(Txn, RunStart), Error> {
        if req.stream != Some(true) {
            return Err(stream_required());
        }
        let user_input = req.user_input.unwrap_or_default();
        if user_input.len() > TEXT_CAP_BYTES {
            return Err(Rejection::new(
                ReasonCode::InputTooLarge,
                "userInput is larger than 256 KB.",
            )
            .with_param("userInput", "too_large")
            .into());
        }
        // Everything the run needs, read at once; the checks then run in the order a sequential
        // read would give (prompt, grant, version), so a prompt the caller cannot reach reveals
        // nothing. Reads here are added time to first token.
        let reader = self.store.reader();
        let (access, version) = prompt_rows::run_reads(
            &self.store,
            prompt_id,
            caller.key_id(),
            caller.user_id(),
            req.version_id.as_deref(),
        )
        .await?;
        let (prompt, reaches, default_auto_finalize) = match access {
            Some(a) => (Some(a.prompt), a.reaches, a.auto_finalize),
            None => (None, false, None),
        };
        let prompt = Self::admit_prompt(caller, prompt, prompt_id, reaches)?;
        let auto_finalize = req
            .auto_finalize
            .or(query_auto_finalize)
            .or(default_auto_finalize)
            .unwrap_or(true);
        let version_id = match req.version_id.or(prompt.current_version_id.clone()) {
            Some(v) => v,
            None => return Err(current_version_missing()),
        };
        // The current version may have been switched between the two reads.
        let version = match version {
            Some(v) if v.id == version_id => Some(v),
            _ => prompt_rows::version(reader, &version_id).await?,
        };
        let version = version
            .filter(|v| v.prompt_id == prompt.id && v.deleted_at.is_none())
            .ok_or_else(|| {
                if prompt.current_version_id.as_deref() == Some(version_id.as_str()) {
                    current_version_missing()
                } else {
                    version_not_found(&version_id)
                }
            })?;
        // The catalog may have retired the model since the version was written.
        let raw: serde_json::Value =
            serde_json::from_str(&version.model_settings).unwrap_or_default();
        let (settings, model) = validate_model_settings(&self.catalog, &raw, "modelSettings")?;
        let accepts_images = model.accepts_images();
        let output_modality = model.output_modality().to_owned();
        let (mut images, mut attachment_ids) = self
            .accept_images(caller.user_id(), &prompt.id, accepts_images, &req.images)
            .await?;
        let mut text_attachments = Vec::new();
        let attachments = if prompt.attachment_count > 0 {
            attachment_rows::list(reader, &prompt.id).await?
        } else {
            Vec::new()
        };
        for a in attachments {
            match a.kind.as_str() {
                "image" if accepts_images => images.push(ImageRef {
                    mime_type: a.content_type.clone(),
                    blob_key: a.blob_key.clone(),
                }),
                "text" => text_attachments.push(TextRef {
                    filename: a.filename.clone(),
                    blob_key: a.blob_key.clone(),
                }),
                _ => continue,
            }
            attachment_ids.push(a.id);
        }
        let snapshot = Snapshot {
            prompt_text: version.prompt_text,
            model_settings: settings,
            version_number: version.version_number,
            output_modality,
            images,
            text_attachments,
            attachment_ids,
        };
        let request = self.llm_request(&snapshot, &user_input).await?;
        let now = self.store.now_ms();
        let run_id = ids::new_id(ids::RUN);
        let row = SessionRow {
            id: run_id.clone(),
            user_id: caller.user_id().to_owned(),
            key_id: caller.key_id().to_owned(),
            prompt_id: prompt.id.clone(),
            version_id: version.id,
            snapshot: serde_json::to_string(&snapshot).unwrap_or_default(),
            state: super::RunState::Running.as_str().to_owned(),
            turns: "[]".to_owned(),
            generation: 0,
            reopen_count: 0,
            finalized_record_id: None,
            last_finalize: None,
            failure_code: None,
            seeded_from_record_id: None,
            client_idempotency_key: idempotency_key,
            created_at: now,
            updated_at: now,
            expires_at: now + TTL_MS,
        };
        // An image turn's output is its effective prompt (spec "effectivePromptForImage"): for
        // the run, the user's input; each revision appends its instruction.
        let output = if snapshot.output_modality == "image" {
            user_input.clone()
        } else {
            String::new()
        };
        let turn = SessionTurn {
            kind: "run".to_owned(),
            input: Some(user_input),
            instruction: None,
            intermediate_output: None,
            output,
            model_id: snapshot.model_settings.model_id.clone(),
            input_tokens: 0,
            output_tokens: 0,
            cost_millicents: 0,
            images: Vec::new(),
        };
        // With an Idempotency-Key the caller stores its record in the same transaction; without
        // one, the session row is the only write and commits on its own, two round trips sooner.
        let atomic = row.client_idempotency_key.is_some();
        // The task starts first: while this request waits on the database, the runtime sends
        // the provider request, so the two overlap even on a single-threaded runtime.
        let (events, commit) = self
            .launch_turn(
                TurnJob::new(&row, turn, 0, auto_finalize, request),
                &snapshot.output_modality,
                None,
            )
            .await;
        let mut tx = if atomic {
            Txn::new(self.store.begin().await?)
        } else {
            Txn::autocommit(self.store.write_connection().await?)
        };
        rows::insert_on(&self.store, &mut tx, &row).await?;
        if atomic {
            tx.after_commit(move || commit.committed());
        } else {
            commit.committed();
            // The provider may have answered while the row was written: let its connection's
            // task read that first, so the stream's first write carries the first token along
            // with `run_session` and the client wakes once for both.
            tokio::task::yield_now().await;
        }
        Ok((tx, RunStart { run_id, events }))
    }

    /// Queues `run_session` and starts the turn now: its provider request is handed to a
    /// connection before this returns. The turn stores nothing until the returned
    /// [`CommitSignal`] reports the turn's writes committed, and gives up if it is dropped
    /// instead (see [`TurnJob::run`]).
    pub(crate) async fn launch_turn(
        &self,
        job: TurnJob,
        output_modality: &str,
        seeded_from: Option<&str>,
    ) -> (TurnStream, CommitSignal) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let _ = sender.send(RunEvent::session(
            &job.run_id,
            job.turn_index,
            &job.turn.model_id,
            output_modality,
            seeded_from,
        ));
        if output_modality == "image" {
            let _ = sender.send(RunEvent::client_hint(&job.run_id));
        }
        let (commit, committed) = oneshot::channel();
        let mut events =
            TurnStream::new(Box::pin(job.run(self.clone(), sender, committed)), receiver);
        // The provider request goes on the wire before the caller writes the turn's rows and
        // answers, so that work overlaps the provider's wait for its first token: the first
        // poll hands the request to its connection, whose task, woken by that hand-over, runs
        // when this one yields.
        events.start(&self.tasks).await;
        tokio::task::yield_now().await;
        (events, CommitSignal(commit))
    }

    /// The provider call for one turn: the prompt (and text attachments) as instructions, the
    /// user's text and the session's images as the message.
    pub(crate) async fn llm_request(
        &self,
        snapshot: &Snapshot,
        user_text: &str,
    ) -> Result<LlmRequest, Error> {
        let model = self
            .catalog
            .model(&snapshot.model_settings.model_id)
            .ok_or_else(|| {
                Error::from(Rejection::new(
                    ReasonCode::InvalidModelSettings,
                    "The run's model has been retired; start a new run on a current model.",
                ))
            })?;
        let provider = self.catalog.providers.get(&model.provider).ok_or_else(|| {
            Error::from(Rejection::new(
                ReasonCode::ServiceUnavailable,
                format!("Provider {} is not configured.", model.provider),
            ))
        })?;
        let api_key = provider
            .api_key
            .as_ref()
            .map(|r| r.resolve())
            .transpose()
            .map_err(|e| {
                Error::from(Rejection::new(
                    ReasonCode::ServiceUnavailable,
                    format!("Provider {}: {e}", model.provider),
                ))
            })?;
        let mut instructions = snapshot.prompt_text.clone();
        for t in &snapshot.text_attachments {
            let bytes = self.read_blob(&t.blob_key).await?;
            instructions.push_str(&format!(
                "\n\n--- Attachment: {} ---\n{}",
                t.filename,
                String::from_utf8_lossy(&bytes)
            ));
        }
        let mut parts = vec![Part::Text(user_text.to_owned())];
        for img in &snapshot.images {
            parts.push(Part::Image {
                mime_type: img.mime_type.clone(),
                data: self.read_blob(&img.blob_key).await?,
            });
        }
        Ok(LlmRequest {
            target: Target {
                kind: model.kind,
                base_url: provider.base_url.clone(),
                api_key,
            },
            model: model.config.name.clone(),
            instructions: Some(instructions),
            input: vec![Message {
                role: Role::User,
                parts,
            }],
            parameters: snapshot.model_settings.parameters.clone(),
            generate_images: snapshot.output_modality == "image",
        })
    }
}

fn current_version_missing() -> Error {
    Rejection::new(
        ReasonCode::CurrentVersionMissing,
        "The prompt's current version was deleted; switch to another version first.",
    )
    .into()
}
