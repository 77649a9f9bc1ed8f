//! Versions: history, read, create (optionally switching to it atomically), merge-patch with
//! `If-Match`, delete with auto-switch; and the description modes of the v1.3 changelog: Auto (0)
//! lets the describer rewrite `description` whenever `promptText` changes; writing `description`
//! takes ownership (Manual, 1); `""` clears it and returns to Auto; an explicit `descriptionMode`
//! wins; `null` is a no-op.

use proem_api::ReasonCode;
use proem_api::patch::Patch;
use proem_api::prompts::{
    CreateVersionRequest, VersionDeleted, VersionList, VersionResponse, VersionSummary,
};
use serde_json::Value;

use crate::auth::Principal;
use crate::catalog::{ModelSettings, validate_model_settings};
use crate::clock::to_utc_string;
use crate::engine::Engine;
use crate::prompts::check_prompt_text;
use crate::store::StoreError;
use crate::store::prompts::{self as rows, VersionRow, set_auto_description};
use crate::store::records::{UsageRow, insert_usage};
use crate::txn::Txn;
use crate::{Error, Rejection, ids};

pub const AUTO: i64 = 0;
pub const MANUAL: i64 = 1;

/// Merge patch of `PATCH /prompts/{id}/versions/{vid}`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub prompt_text: Patch<String>,
    /// `{ "model_id": …, "parameters": { … } }`, as `GET /models` recommends.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub model_settings: Patch<Value>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub version_description: Patch<String>,
    /// Writing it switches the version to Manual; `""` clears it and returns to Auto.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    /// 0 = Auto, 1 = Manual; wins over the mode implied by `description`.
    #[serde(default)]
    #[schema(value_type = Option<u8>)]
    pub description_mode: Patch<u8>,
}

pub fn version_not_found(id: &str) -> Error {
    Rejection::new(
        ReasonCode::VersionNotFound,
        format!("No version {id} on this prompt."),
    )
    .with_param("versionId", "not_found")
    .into()
}

pub(crate) fn settings_json(settings: &ModelSettings) -> String {
    serde_json::to_string(settings).unwrap_or_else(|_| "{}".to_owned())
}

/// The If-Match token of a version: `updatedAt` in lowercase hex.
pub fn etag(updated_at_ms: i64) -> String {
    format!("{updated_at_ms:x}")
}

pub(crate) fn version_response(v: &VersionRow, is_current: bool) -> Result<VersionResponse, Error> {
    let model_settings: Value = serde_json::from_str(&v.model_settings).map_err(|e| {
        StoreError::Corrupt(format!("prompt_versions.model_settings of {}: {e}", v.id))
    })?;
    Ok(VersionResponse {
        id: v.id.clone(),
        prompt_id: v.prompt_id.clone(),
        version_number: v.version_number,
        prompt_text: v.prompt_text.clone(),
        model_settings,
        model_settings_json: v.model_settings.clone(),
        version_description: v.version_description.clone(),
        description: v.description.clone(),
        description_mode: mode(v.description_mode),
        is_current,
        created_at_utc: to_utc_string(v.created_at),
        updated_at_utc: to_utc_string(v.updated_at),
        etag: etag(v.updated_at),
    })
}

fn mode(m: i64) -> u8 {
    if m == MANUAL { 1 } else { 0 }
}

fn check_mode(m: u8) -> Result<i64, Error> {
    match m {
        0 => Ok(AUTO),
        1 => Ok(MANUAL),
        other => Err(Rejection::new(
            ReasonCode::InvalidParams,
            format!("descriptionMode is 0 (Auto) or 1 (Manual); got {other}."),
        )
        .with_param("descriptionMode", "not_in_enum")
        .into()),
    }
}

/// Inserts a version under a prompt the transaction has locked, so the next number is free.
pub(crate) async fn insert_version(tx: &mut Txn, version: &mut VersionRow) -> Result<(), Error> {
    rows::insert_version(tx, version)
        .await
        .map_err(|e| match e {
            StoreError::Constraint(c) if c == "prompt_versions_number_key" => Rejection::new(
                ReasonCode::VersionCreateContention,
                "A concurrent request took the next version number; retry.",
            )
            .into(),
            e => e.into(),
        })
}

impl Engine {
    /// Schedules the describer for an Auto-mode version once `tx` commits. A job that finishes
    /// after a later promptText change (a newer `description_gen`) writes nothing. Each call goes
    /// in the usage log under the caller, not billable to them: the server chose to make it.
    pub(crate) fn describe_after_commit(&self, tx: &mut Txn, caller: &Principal, v: &VersionRow) {
        let Some(describer) = self.describer.clone() else {
            return;
        };
        if v.description_mode != AUTO {
            return;
        }
        let engine = self.clone();
        let (user_id, key_id) = (caller.user_id().to_owned(), caller.key_id().to_owned());
        let (id, prompt_id, generation, text) = (
            v.id.clone(),
            v.prompt_id.clone(),
            v.description_gen,
            v.prompt_text.clone(),
        );
        tx.after_commit(move || {
            let tasks = engine.tasks.clone();
            tasks.spawn(async move {
                let described = describer.describe(&text).await;
                let store = &engine.store;
                let cost = engine.catalog.model(&described.model_id).map_or(0, |m| {
                    m.cost_millicents(described.input_tokens, described.output_tokens)
                });
                let usage = UsageRow {
                    id: ids::new_id(ids::USAGE),
                    user_id,
                    key_id: Some(key_id),
                    run_id: None,
                    prompt_id: Some(prompt_id),
                    purpose: "describer".to_owned(),
                    model_id: described.model_id.clone(),
                    input_tokens: described.input_tokens,
                    output_tokens: described.output_tokens,
                    cost_millicents: if described.charged { cost } else { 0 },
                    billable: false,
                    outcome: if described.sentence.is_ok() { "ok" } else { "failed" }.to_owned(),
                    created_at: store.now_ms(),
                };
                if let Err(e) = insert_usage(store.writer(), &usage).await {
                    tracing::warn!(error = %e, version.id = %id, "cannot log the describer's usage");
                }
                match described.sentence {
                    Ok(description) => {
                        if let Err(e) = set_auto_description(store.writer(), &id, generation, description.trim()).await {
                            tracing::warn!(error = %e, version.id = %id, "cannot store a generated description");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, version.id = %id, "describer failed"),
                }
            });
        });
    }

    pub async fn list_versions(
        &self,
        caller: &Principal,
        prompt_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<VersionList, Error> {
        let prompt = self.reach_prompt(caller, prompt_id).await?;
        let filters = format!("versions|{prompt_id}");
        let before = cursor
            .map(|c| self.cursors.decode(c, caller.user_id(), &filters))
            .transpose()?
            .map(|p| {
                p.parse::<i64>().map_err(|_| {
                    Rejection::new(
                        ReasonCode::InvalidCursor,
                        "The cursor does not name a version number.",
                    )
                })
            })
            .transpose()?;
        let mut rows =
            rows::list_versions(self.store.reader(), prompt_id, before, limit + 1).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|v| {
                self.cursors
                    .encode(caller.user_id(), &filters, &v.version_number.to_string())
            })
        } else {
            None
        };
        let current = prompt.current_version_id.as_deref();
        Ok(VersionList {
            items: rows
                .into_iter()
                .map(|v| VersionSummary {
                    is_current: current == Some(v.id.as_str()),
                    id: v.id,
                    version_number: v.version_number,
                    version_description: v.version_description,
                    description: v.description,
                    description_mode: mode(v.description_mode),
                    created_at_utc: to_utc_string(v.created_at),
                    updated_at_utc: to_utc_string(v.updated_at),
                })
                .collect(),
            current_version_id: prompt.current_version_id,
            next_cursor,
        })
    }

    pub async fn get_version(
        &self,
        caller: &Principal,
        prompt_id: &str,
        version_id: &str,
    ) -> Result<VersionResponse, Error> {
        let prompt = self.reach_prompt(caller, prompt_id).await?;
        let v = rows::version(self.store.reader(), version_id)
            .await?
            .filter(|v| v.prompt_id == prompt.id && v.deleted_at.is_none())
            .ok_or_else(|| version_not_found(version_id))?;
        version_response(
            &v,
            prompt.current_version_id.as_deref() == Some(v.id.as_str()),
        )
    }

    pub async fn create_version(
        &self,
        caller: &Principal,
        prompt_id: &str,
        req: CreateVersionRequest,
    ) -> Result<(Txn, VersionResponse), Error> {
        check_prompt_text(&req.prompt_text)?;
        let (settings, _) =
            validate_model_settings(&self.catalog, &req.model_settings, "modelSettings")?;
        let explicit_mode = req.description_mode.map(check_mode).transpose()?;
        let (description, implied_mode) = match req.description {
            Some(d) if !d.is_empty() => (Some(d), MANUAL),
            _ => (None, AUTO),
        };
        let mut tx = Txn::new(self.store.begin().await?);
        let mut prompt = self.lock_prompt(&mut tx, caller, prompt_id).await?;
        let now = self.store.now_ms();
        let mut version = VersionRow {
            id: ids::new_id(ids::VERSION),
            prompt_id: prompt_id.to_owned(),
            version_number: 0,
            prompt_text: req.prompt_text,
            model_settings: settings_json(&settings),
            version_description: req.version_description,
            description,
            description_mode: explicit_mode.unwrap_or(implied_mode),
            description_gen: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        insert_version(&mut tx, &mut version).await?;
        if req.set_as_current {
            prompt.current_version_id = Some(version.id.clone());
            prompt.updated_at = now.max(prompt.updated_at + 1);
            rows::update_prompt(&mut *tx, &prompt).await?;
        }
        self.describe_after_commit(&mut tx, caller, &version);
        let response = version_response(&version, req.set_as_current)?;
        Ok((tx, response))
    }

    pub async fn patch_version(
        &self,
        caller: &Principal,
        prompt_id: &str,
        version_id: &str,
        patch: VersionPatch,
        if_match: Option<&str>,
    ) -> Result<(Txn, VersionResponse), Error> {
        let mut tx = Txn::new(self.store.begin().await?);
        let prompt = self.lock_prompt(&mut tx, caller, prompt_id).await?;
        let mut v = rows::version(&mut *tx, version_id)
            .await?
            .filter(|v| v.prompt_id == prompt.id && v.deleted_at.is_none())
            .ok_or_else(|| version_not_found(version_id))?;
        if let Some(token) = if_match
            && token != etag(v.updated_at)
        {
            return Err(Rejection::new(
                ReasonCode::PreconditionFailed,
                "The version changed since the If-Match token was read; re-fetch it for a fresh etag.",
            )
            .into());
        }
        let mut text_changed = false;
        match patch.prompt_text {
            Patch::Absent => {}
            Patch::Clear => return Err(cannot_clear("promptText")),
            Patch::Set(text) => {
                check_prompt_text(&text)?;
                text_changed = text != v.prompt_text;
                v.prompt_text = text;
            }
        }
        match patch.model_settings {
            Patch::Absent => {}
            Patch::Clear => return Err(cannot_clear("modelSettings")),
            Patch::Set(raw) => {
                let (settings, _) = validate_model_settings(&self.catalog, &raw, "modelSettings")?;
                v.model_settings = settings_json(&settings);
            }
        }
        match patch.version_description {
            Patch::Absent => {}
            Patch::Clear => v.version_description = None,
            Patch::Set(d) => v.version_description = Some(d),
        }
        match patch.description {
            // null is a no-op (v1.3); "" clears and hands the field back to the server.
            Patch::Absent | Patch::Clear => {}
            Patch::Set(d) if d.is_empty() => {
                v.description = None;
                v.description_mode = AUTO;
            }
            Patch::Set(d) => {
                v.description = Some(d);
                v.description_mode = MANUAL;
            }
        }
        if let Patch::Set(m) = patch.description_mode {
            v.description_mode = check_mode(m)?;
        }
        if text_changed {
            v.description_gen += 1;
        }
        v.updated_at = self.store.now_ms().max(v.updated_at + 1);
        rows::update_version(&mut *tx, &v).await?;
        if text_changed {
            self.describe_after_commit(&mut tx, caller, &v);
        }
        let response = version_response(
            &v,
            prompt.current_version_id.as_deref() == Some(v.id.as_str()),
        )?;
        Ok((tx, response))
    }

    /// Soft-deletes a version. Deleting the current one switches to the lowest-numbered remaining
    /// version; deleting the only one is `cannot_delete_only_version`.
    pub async fn delete_version(
        &self,
        caller: &Principal,
        prompt_id: &str,
        version_id: &str,
    ) -> Result<(Txn, VersionDeleted), Error> {
        let mut tx = Txn::new(self.store.begin().await?);
        let mut prompt = self.lock_prompt(&mut tx, caller, prompt_id).await?;
        let mut v = rows::version(&mut *tx, version_id)
            .await?
            .filter(|v| v.prompt_id == prompt.id && v.deleted_at.is_none())
            .ok_or_else(|| version_not_found(version_id))?;
        let Some(next) = rows::lowest_live_version(&mut *tx, prompt_id, version_id).await? else {
            return Err(Rejection::new(
                ReasonCode::CannotDeleteOnlyVersion,
                "This is the prompt's only version; create another before deleting it.",
            )
            .into());
        };
        let now = self.store.now_ms();
        v.deleted_at = Some(now);
        rows::update_version(&mut *tx, &v).await?;
        // As a prompt delete does: runs of the version end rather than run or reopen on it.
        crate::store::runs::abandon_for_version(&mut tx, version_id, now).await?;
        let mut new_current = None;
        if prompt.current_version_id.as_deref() == Some(version_id) {
            prompt.current_version_id = Some(next.clone());
            prompt.updated_at = now.max(prompt.updated_at + 1);
            rows::update_prompt(&mut *tx, &prompt).await?;
            new_current = Some(next);
        }
        Ok((
            tx,
            VersionDeleted {
                prompt_id: prompt_id.to_owned(),
                version_id: version_id.to_owned(),
                status: "deleted".to_owned(),
                new_current_version_id: new_current,
            },
        ))
    }
}

fn cannot_clear(field: &str) -> Error {
    Rejection::new(
        ReasonCode::InvalidRequest,
        format!("{field} cannot be cleared."),
    )
    .with_param(field, "required_field_clear")
    .into()
}
