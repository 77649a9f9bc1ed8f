//! Records: the persisted result of a run (or a manual seed pair): list with truncation, read with
//! `turns[]`, merge-patch with the edit-delta rules, deletes by the creating key (REST within 24 h;
//! MCP soft, swept later), and manual creation without a model call.

mod delete;
mod manual;
mod patch;
pub mod turns;

use proem_api::ReasonCode;
use proem_api::prompts::Page;
use proem_api::records::RecordResponse;

use crate::auth::Principal;
use crate::clock::to_utc_string;
use crate::engine::Engine;
use crate::runs::TurnImage;
use crate::store::StoreError;
use crate::store::records::{self as rows, RecordFilter, RecordRow};
use crate::{Error, Rejection};

pub use delete::SOFT_DELETE_GRACE_MS;
pub use manual::MANUAL_RECORDS_PER_PROMPT;
pub use patch::RecordPatch;
pub use turns::{Delta, synthesize};

/// Caps of the record surface (spec "Run lifecycle body shapes", "Errors").
pub const TEXT_CAP_BYTES: usize = 256 * 1024;
pub const NOTES_CAP_BYTES: usize = 64 * 1024;
pub const TAG_CAP_BYTES: usize = 64 * 1024;
/// A record may be self-deleted by its key this long after creation.
pub const SELF_DELETE_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// `maxInputChars` / `maxOutputChars` of the record list: default and bounds.
pub const DEFAULT_MAX_CHARS: i64 = 4096;
pub const MAX_CHARS_LIMIT: i64 = 32_768;
pub const SOURCES: [&str; 4] = ["App", "Manual", "API", "Headless"];

pub fn record_not_found(id: &str) -> Error {
    Rejection::new(
        ReasonCode::RecordNotFound,
        format!("No record {id} is visible to this key."),
    )
    .with_param("recordId", "not_found")
    .into()
}

pub(crate) fn deltas_of(row: &RecordRow) -> Result<Vec<Delta>, Error> {
    serde_json::from_str(&row.deltas)
        .map_err(|e| StoreError::Corrupt(format!("records.deltas of {}: {e}", row.id)).into())
}

/// The images a record keeps, with the turns that made them.
pub(crate) fn images_of(row: &RecordRow) -> Result<Vec<TurnImage>, Error> {
    serde_json::from_str(&row.images)
        .map_err(|e| StoreError::Corrupt(format!("records.images of {}: {e}", row.id)).into())
}

pub(crate) fn deltas_json(deltas: &[Delta]) -> String {
    serde_json::to_string(deltas).unwrap_or_else(|_| "[]".to_owned())
}

/// Cuts `text` to `max_chars` characters in place; whether it did.
fn truncate(text: &mut String, max_chars: Option<i64>) -> bool {
    let Some(max) = max_chars.and_then(|m| usize::try_from(m).ok()) else {
        return false;
    };
    match text.char_indices().nth(max) {
        Some((end, _)) => {
            text.truncate(end);
            true
        }
        None => false,
    }
}

/// The record DTO; lists pass character limits, single reads pass none. The limits cut every
/// copy of the text in a list item, not only `inputText` / `outputText`: input-side text (each
/// turn's `input`) sets `inputTruncated`; output-side text (`finalCopiedOutput`, each turn's
/// `output` and `intermediateOutput`) sets `truncated`. Otherwise `maxOutputChars=0` would still
/// send the whole output several times (spec `GET /records`).
pub fn record_response(
    row: &RecordRow,
    max_input: Option<i64>,
    max_output: Option<i64>,
) -> Result<RecordResponse, Error> {
    let deltas = deltas_of(row)?;
    let mut turns = synthesize(&row.input_text, &row.final_output, &deltas);
    let revision_count = deltas
        .iter()
        .filter(|d| matches!(d, Delta::Revision { .. }))
        .count();
    let edit = deltas.iter().find_map(|d| match d {
        Delta::Edit { tag, .. } => Some(tag.clone()),
        Delta::Revision { .. } => None,
    });
    let mut input_text = row.input_text.clone();
    let mut input_truncated = truncate(&mut input_text, max_input);
    let images = images_of(row)?;
    let mut final_copied_output = row.final_output.clone();
    let mut truncated = truncate(&mut final_copied_output, max_output);
    // An image record's output is its images; its final copied output is the accumulated prompt.
    let output_text = images.is_empty().then(|| final_copied_output.clone());
    for turn in &mut turns {
        if let Some(input) = &mut turn.input {
            input_truncated |= truncate(input, max_input);
        }
        truncated |= truncate(&mut turn.output, max_output);
        if let Some(prior) = &mut turn.intermediate_output {
            truncated |= truncate(prior, max_output);
        }
    }
    Ok(RecordResponse {
        id: row.id.clone(),
        prompt_id: row.prompt_id.clone(),
        version_id: row.version_id.clone(),
        run_session_id: row.run_id.clone(),
        source: row.source.clone(),
        input_text,
        output_text,
        final_copied_output,
        notes: row.notes.clone(),
        tag: edit.clone().flatten(),
        model_id: row.model_id.clone(),
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        cost_milli_cents: row.cost_millicents,
        revision_count,
        edit_count: usize::from(edit.is_some()),
        image_count: images.len(),
        image_stored_paths: images.into_iter().map(|i| i.image.blob_key).collect(),
        is_one_shot: deltas.is_empty(),
        client_idempotency_key: row.client_idempotency_key.clone(),
        created_by_key_id: row.created_by_key_id.clone(),
        truncated,
        input_truncated,
        created_at_utc: to_utc_string(row.created_at),
        updated_at_utc: to_utc_string(row.updated_at),
        last_patched_at_utc: row.last_patched_at.map(to_utc_string),
        turns,
    })
}

/// Query of `GET /records`.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub prompt_id: Option<String>,
    pub version_id: Option<String>,
    pub source: Option<String>,
    pub created_by: Option<String>,
    pub client_idempotency_key: Option<String>,
    pub run_id: Option<String>,
    pub max_input_chars: Option<i64>,
    pub max_output_chars: Option<i64>,
}

fn char_limit(name: &str, value: Option<i64>) -> Result<i64, Error> {
    match value {
        None => Ok(DEFAULT_MAX_CHARS),
        Some(v) if (0..=MAX_CHARS_LIMIT).contains(&v) => Ok(v),
        Some(v) => Err(Rejection::new(
            ReasonCode::ParamOutOfRange,
            format!("{name} must be between 0 and {MAX_CHARS_LIMIT}; got {v}."),
        )
        .with_param(name, "out_of_range")
        .into()),
    }
}

impl Engine {
    /// The caller's live record `id` on a prompt they can reach (grant checked).
    pub(crate) async fn reach_record(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<RecordRow, Error> {
        let row = rows::get(self.store.reader(), id)
            .await?
            .filter(|r| r.user_id == caller.user_id() && r.deleted_at.is_none())
            .ok_or_else(|| record_not_found(id))?;
        self.reach_prompt(caller, &row.prompt_id)
            .await
            .map_err(|e| match e.code() {
                ReasonCode::PromptNotFound => record_not_found(id),
                _ => e,
            })?;
        Ok(row)
    }

    pub async fn get_record(&self, caller: &Principal, id: &str) -> Result<RecordResponse, Error> {
        let row = self.reach_record(caller, id).await?;
        record_response(&row, None, None)
    }

    pub async fn list_records(
        &self,
        caller: &Principal,
        q: RecordQuery,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<RecordResponse>, Error> {
        let max_input = char_limit("maxInputChars", q.max_input_chars)?;
        let max_output = char_limit("maxOutputChars", q.max_output_chars)?;
        let source = q
            .source
            .as_deref()
            .map(|s| {
                SOURCES
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(s))
                    .map(|k| (*k).to_owned())
                    .ok_or_else(|| {
                        Error::from(
                            Rejection::new(
                                ReasonCode::InvalidSource,
                                format!("source is one of App, Manual, API, Headless; got `{s}`."),
                            )
                            .with_param("source", "not_in_enum"),
                        )
                    })
            })
            .transpose()?;
        if let Some(prompt_id) = &q.prompt_id {
            self.reach_prompt(caller, prompt_id).await?;
        }
        let filter = RecordFilter {
            prompt_id: q.prompt_id,
            version_id: q.version_id,
            source,
            created_by_key_id: q.created_by,
            client_idempotency_key: q.client_idempotency_key,
            run_id: q.run_id,
        };
        let filters = format!(
            "records|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            filter.prompt_id,
            filter.version_id,
            filter.source,
            filter.created_by_key_id,
            filter.client_idempotency_key,
            filter.run_id
        );
        let before = cursor
            .map(|c| self.cursors.decode(c, caller.user_id(), &filters))
            .transpose()?;
        let restricted = !self.store.key_grants(caller.key_id()).await?.is_empty();
        let mut rows = rows::list(
            self.store.reader(),
            caller.user_id(),
            &filter,
            restricted.then(|| caller.key_id()),
            before.as_deref(),
            limit + 1,
        )
        .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last()
                .map(|r| self.cursors.encode(caller.user_id(), &filters, &r.id))
        } else {
            None
        };
        Ok(Page {
            items: rows
                .iter()
                .map(|r| record_response(r, Some(max_input), Some(max_output)))
                .collect::<Result<_, _>>()?,
            next_cursor,
        })
    }
}
