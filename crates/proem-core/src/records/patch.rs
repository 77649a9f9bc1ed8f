//! `PATCH /records/{id}` (spec "Record self-management"): RFC 7396 merge patch by the creating
//! key, no time window. Manual records are plain seed pairs: notes, input and output change freely
//! and `tag`/`fromTurn` are refused. Other records keep one edit delta: writing `output` creates or
//! updates it (its `intermediateOutput`, the model's last output, is fixed at creation); writing
//! the model's output back removes it; `fromTurn: N` reverts to delta N's `intermediateOutput` and
//! drops the later deltas.
//!
//! Choice where the spec names two codes for one case: a tag with no output and no edit delta is
//! `tag_requires_output`; clearing (`null`) a tag when there is no edit delta is
//! `record_no_edit_delta`.

use proem_api::ReasonCode;
use proem_api::patch::Patch;
use proem_api::records::RecordPatched;
use serde_json::Value;

use super::{Delta, NOTES_CAP_BYTES, TAG_CAP_BYTES, TEXT_CAP_BYTES, deltas_json, deltas_of};
use crate::auth::Principal;
use crate::clock::to_utc_string;
use crate::engine::Engine;
use crate::runs::parse_from_turn;
use crate::store::records as rows;
use crate::txn::Txn;
use crate::{Error, Rejection};

/// Merge patch of `PATCH /records/{id}`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordPatch {
    /// Record-level notes, at most 64 KB; `null` clears them.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub notes: Patch<String>,
    /// The edit delta's tag, at most 64 KB: send it with `output`, or on a record that already
    /// has an edit. Not on manual records.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub tag: Patch<String>,
    /// At most 256 KB; cannot be cleared.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub input: Patch<String>,
    /// The corrected output, at most 256 KB; creates or updates the edit delta, and writing the
    /// model's output back removes it. Cannot be cleared.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub output: Patch<String>,
    /// Reverts to turn N's output and drops the later deltas; not with `output` or `tag`, not on
    /// manual records.
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub from_turn: Option<Value>,
}

fn reject(code: ReasonCode, field: &str, detail: &str) -> Error {
    Rejection::new(code, detail)
        .with_param(field, code.as_str())
        .into()
}

/// Checks a text field against its cap and refuses empty or whitespace-only values.
pub(crate) fn check_text(
    field: &str,
    value: &str,
    cap: usize,
    too_large: ReasonCode,
) -> Result<(), Error> {
    if value.len() > cap {
        return Err(reject(
            too_large,
            field,
            &format!("{field} is larger than {} KB.", cap / 1024),
        ));
    }
    if value.trim().is_empty() {
        return Err(reject(
            ReasonCode::InvalidParams,
            field,
            &format!("{field} cannot be empty or whitespace."),
        ));
    }
    Ok(())
}

impl Engine {
    pub async fn patch_record(
        &self,
        caller: &Principal,
        id: &str,
        patch: RecordPatch,
    ) -> Result<(Txn, RecordPatched, String), Error> {
        let mut row = self.own_record(caller, id).await?;
        if let Patch::Set(n) = &patch.notes
            && n.len() > NOTES_CAP_BYTES
        {
            return Err(reject(
                ReasonCode::NotesTooLarge,
                "notes",
                "notes is larger than 64 KB.",
            ));
        }
        if let Patch::Set(t) = &patch.tag {
            if t.len() > TAG_CAP_BYTES {
                return Err(reject(
                    ReasonCode::TagTooLarge,
                    "tag",
                    "tag is larger than 64 KB.",
                ));
            }
            if t.trim().is_empty() {
                return Err(reject(
                    ReasonCode::InvalidParams,
                    "tag",
                    "tag cannot be empty or whitespace.",
                ));
            }
        }
        for (field, value, code) in [
            ("input", &patch.input, ReasonCode::InputTooLarge),
            ("output", &patch.output, ReasonCode::OutputTooLarge),
        ] {
            match value {
                Patch::Set(v) => check_text(field, v, TEXT_CAP_BYTES, code)?,
                Patch::Clear => {
                    return Err(Rejection::new(
                        ReasonCode::InvalidRequest,
                        format!("{field} cannot be cleared; send a new value or leave it out."),
                    )
                    .with_param(field, "required_field_clear")
                    .into());
                }
                Patch::Absent => {}
            }
        }
        let mut deltas = deltas_of(&row)?;
        let mut images = super::images_of(&row)?;
        // An image record's output is its images and its accumulated prompt, derived by the
        // server (as finalize refuses finalText): no text edit, so no tag either.
        if !images.is_empty() {
            for (field, set) in [
                ("output", !patch.output.is_absent()),
                ("tag", !patch.tag.is_absent()),
            ] {
                if set {
                    return Err(reject(
                        ReasonCode::FinalTextNotSupportedImage,
                        field,
                        "An image record's output is derived from its images' prompts; only notes, input and fromTurn can change.",
                    ));
                }
            }
        }
        let mut dropped_images = Vec::new();
        if row.source == "Manual" {
            if !patch.tag.is_absent() || patch.from_turn.is_some() {
                return Err(reject(
                    ReasonCode::InvalidRequest,
                    if patch.from_turn.is_some() {
                        "fromTurn"
                    } else {
                        "tag"
                    },
                    "Manual records are seed pairs with no delta chain: only notes, input and output can change.",
                ));
            }
            if let Patch::Set(output) = &patch.output {
                row.final_output = output.clone();
                row.model_output = output.clone();
            }
        } else if let Some(raw) = &patch.from_turn {
            if !patch.output.is_absent() || !patch.tag.is_absent() {
                return Err(reject(
                    ReasonCode::InvalidRequest,
                    "fromTurn",
                    "fromTurn cannot be combined with output or tag.",
                ));
            }
            let n = parse_from_turn(raw)?;
            let Some(delta) = deltas.get(n) else {
                return Err(reject(
                    ReasonCode::FromTurnOutOfRange,
                    "fromTurn",
                    &format!(
                        "fromTurn must be between 0 and {}; re-read turns[].",
                        deltas.len().saturating_sub(1)
                    ),
                ));
            };
            row.final_output = delta.intermediate_output().to_owned();
            row.model_output = row.final_output.clone();
            deltas.truncate(n);
            // Turn n is the last kept; the images of later turns leave with them.
            let (kept, dropped): (Vec<_>, Vec<_>) = images.into_iter().partition(|i| i.turn <= n);
            images = kept;
            dropped_images = dropped.into_iter().map(|i| i.image.blob_key).collect();
            row.images = serde_json::to_string(&images).unwrap_or_else(|_| "[]".to_owned());
        } else {
            apply_output_and_tag(
                &mut row.final_output,
                &row.model_output,
                &mut deltas,
                patch.output,
                patch.tag,
            )?;
        }
        if let Patch::Set(input) = patch.input {
            row.input_text = input;
        }
        match patch.notes {
            Patch::Absent => {}
            Patch::Clear => row.notes = None,
            Patch::Set(n) => row.notes = Some(n),
        }
        let now = self.store.now_ms();
        row.deltas = deltas_json(&deltas);
        row.updated_at = now;
        row.last_patched_at = Some(now);
        let mut tx = Txn::new(self.store.begin().await?);
        rows::update(&mut *tx, &row).await?;
        crate::store::cleanup::enqueue(&mut tx, &dropped_images, now).await?;
        let tag = deltas.iter().find_map(|d| match d {
            Delta::Edit { tag, .. } => tag.clone(),
            Delta::Revision { .. } => None,
        });
        let patched = RecordPatched {
            id: row.id.clone(),
            notes: row.notes.clone(),
            tag,
            input: row.input_text.clone(),
            output: row.final_output.clone(),
            last_patched_at_utc: row.last_patched_at.map(to_utc_string),
        };
        Ok((tx, patched, row.prompt_id))
    }
}

/// The edit-delta rules for `output` and `tag` on a non-manual record.
fn apply_output_and_tag(
    final_output: &mut String,
    model_output: &str,
    deltas: &mut Vec<Delta>,
    output: Patch<String>,
    tag: Patch<String>,
) -> Result<(), Error> {
    let edit_at = deltas.iter().position(|d| matches!(d, Delta::Edit { .. }));
    match (output, edit_at) {
        (Patch::Set(output), Some(i)) => {
            let Delta::Edit {
                intermediate_output,
                ..
            } = &deltas[i]
            else {
                return Ok(());
            };
            if output == *intermediate_output {
                // Writing the model's output back undoes the correction.
                if matches!(tag, Patch::Set(_)) {
                    return Err(reject(
                        ReasonCode::TagWouldBeLostOnRevert,
                        "tag",
                        "This output reverts the edit, so the tag would have nothing to anchor; omit tag or use another output.",
                    ));
                }
                *final_output = intermediate_output.clone();
                deltas.remove(i);
                return Ok(());
            }
            if let Delta::Edit {
                output: edited,
                tag: current,
                ..
            } = &mut deltas[i]
            {
                *edited = output.clone();
                match tag {
                    Patch::Absent => {}
                    Patch::Clear => *current = None,
                    Patch::Set(t) => *current = Some(t),
                }
            }
            *final_output = output;
        }
        (Patch::Set(output), None) => {
            if output == *final_output {
                if matches!(tag, Patch::Set(_)) {
                    return Err(reject(
                        ReasonCode::TagRequiresDistinctOutput,
                        "tag",
                        "output equals the record's current output, so there is no edit to tag; change the output or use notes.",
                    ));
                }
                return Ok(());
            }
            deltas.push(Delta::Edit {
                intermediate_output: model_output.to_owned(),
                output: output.clone(),
                tag: match tag {
                    Patch::Set(t) => Some(t),
                    Patch::Absent | Patch::Clear => None,
                },
            });
            *final_output = output;
        }
        (Patch::Absent, Some(i)) => {
            if let Delta::Edit { tag: current, .. } = &mut deltas[i] {
                match tag {
                    Patch::Absent => {}
                    Patch::Clear => *current = None,
                    Patch::Set(t) => *current = Some(t),
                }
            }
        }
        (Patch::Absent, None) => match tag {
            Patch::Absent => {}
            Patch::Set(_) => {
                return Err(reject(
                    ReasonCode::TagRequiresOutput,
                    "tag",
                    "There is no edit to tag yet: send output with the tag, or use notes for a record-level label.",
                ));
            }
            Patch::Clear => {
                return Err(reject(
                    ReasonCode::RecordNoEditDelta,
                    "tag",
                    "The record has no edit delta, so there is no tag to clear.",
                ));
            }
        },
        (Patch::Clear, _) => {}
    }
    Ok(())
}
