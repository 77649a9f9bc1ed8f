//! Prompts: list, read, create (with the first version, in one transaction), merge-patch, switch
//! the current version, soft-delete. Mutations return their open transaction so the caller can
//! commit its idempotency record with them.

use proem_api::ReasonCode;
use proem_api::patch::Patch;
use proem_api::prompts::{
    CreatePromptRequest, CurrentVersion, Page, PromptCreated, PromptDeleted, PromptDetail,
    PromptSummary,
};

use crate::auth::Principal;
use crate::catalog::validate_model_settings;
use crate::clock::to_utc_string;
use crate::engine::Engine;
use crate::store::prompts::{self as rows, PromptRow, VersionRow};
use crate::txn::Txn;
use crate::versions::{self, version_response};
use crate::{Error, Rejection, ids};

pub const NAME_CAP_CHARS: usize = 256;
pub const PROMPT_TEXT_CAP_BYTES: usize = 256 * 1024;

/// Merge patch of `PATCH /prompts/{id}`: only `name` and `abbreviation` (spec v1.3).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptPatch {
    /// At most 256 characters; cannot be cleared.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub abbreviation: Patch<String>,
}

pub(crate) fn check_name(name: &str) -> Result<String, Error> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(
            Rejection::new(ReasonCode::InvalidParams, "name must not be empty.")
                .with_param("name", "required")
                .into(),
        );
    }
    if name.chars().count() > NAME_CAP_CHARS {
        return Err(Rejection::new(
            ReasonCode::FieldTooLarge,
            "name is longer than 256 characters.",
        )
        .with_param("name", "too_large")
        .into());
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn check_prompt_text(text: &str) -> Result<(), Error> {
    if text.len() > PROMPT_TEXT_CAP_BYTES {
        return Err(Rejection::new(
            ReasonCode::FieldTooLarge,
            "promptText is larger than 256 KB.",
        )
        .with_param("promptText", "too_large")
        .into());
    }
    Ok(())
}

/// The cursor filter identity of the prompt list.
const LIST_FILTERS: &str = "prompts";

impl Engine {
    pub(crate) fn summary(
        &self,
        p: &PromptRow,
        model_settings: Option<&str>,
        description: Option<String>,
    ) -> PromptSummary {
        let output_modality = model_settings
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| {
                v.get("model_id")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .and_then(|id| self.catalog.model(&id).map(|m| m.output_modality()))
            .unwrap_or("text");
        PromptSummary {
            id: p.id.clone(),
            name: p.name.clone(),
            abbreviation: p.abbreviation.clone(),
            current_version_id: p.current_version_id.clone(),
            description,
            output_modality: output_modality.to_owned(),
            expose_as_mcp_tool: p.expose_as_mcp_tool,
            mcp_tool_name: p.mcp_tool_name.clone().filter(|_| p.expose_as_mcp_tool),
            created_at_utc: to_utc_string(p.created_at),
            updated_at_utc: to_utc_string(p.updated_at),
        }
    }

    pub async fn list_prompts(
        &self,
        caller: &Principal,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<PromptSummary>, Error> {
        let after = cursor
            .map(|c| self.cursors.decode(c, caller.user_id(), LIST_FILTERS))
            .transpose()?;
        let restricted = !self.store.key_grants(caller.key_id()).await?.is_empty();
        let mut rows = rows::list_prompts(
            self.store.reader(),
            caller.user_id(),
            restricted.then(|| caller.key_id()),
            after.as_deref(),
            limit + 1,
        )
        .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| {
                self.cursors
                    .encode(caller.user_id(), LIST_FILTERS, &r.prompt.id)
            })
        } else {
            None
        };
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| self.summary(&r.prompt, r.model_settings.as_deref(), r.description))
                .collect(),
            next_cursor,
        })
    }

    pub(crate) async fn detail(&self, prompt: &PromptRow) -> Result<PromptDetail, Error> {
        let current = match &prompt.current_version_id {
            Some(id) => rows::version(self.store.reader(), id)
                .await?
                .filter(|v| v.deleted_at.is_none() && v.prompt_id == prompt.id),
            None => None,
        };
        let summary = self.summary(
            prompt,
            current.as_ref().map(|v| v.model_settings.as_str()),
            current.as_ref().and_then(|v| v.description.clone()),
        );
        Ok(PromptDetail {
            prompt: summary,
            current_version_status: if current.is_some() { "ok" } else { "missing" }.to_owned(),
            current_version: current.map(|v| version_response(&v, true)).transpose()?,
        })
    }

    pub async fn get_prompt(&self, caller: &Principal, id: &str) -> Result<PromptDetail, Error> {
        let prompt = self.reach_prompt(caller, id).await?;
        self.detail(&prompt).await
    }

    pub async fn create_prompt(
        &self,
        caller: &Principal,
        req: CreatePromptRequest,
    ) -> Result<(Txn, PromptCreated), Error> {
        let name = check_name(&req.name)?;
        check_prompt_text(&req.prompt_text)?;
        let (settings, _) =
            validate_model_settings(&self.catalog, &req.model_settings, "modelSettings")?;
        let now = self.store.now_ms();
        let prompt_id = ids::new_id(ids::PROMPT);
        let mut version = VersionRow {
            id: ids::new_id(ids::VERSION),
            prompt_id: prompt_id.clone(),
            version_number: 1,
            prompt_text: req.prompt_text,
            model_settings: versions::settings_json(&settings),
            version_description: req.version_description,
            description: None,
            description_mode: versions::AUTO,
            description_gen: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let prompt = PromptRow {
            id: prompt_id.clone(),
            user_id: caller.user_id().to_owned(),
            name,
            abbreviation: req.abbreviation,
            current_version_id: Some(version.id.clone()),
            expose_as_mcp_tool: false,
            mcp_tool_name: None,
            attachment_count: 0,
            attachment_bytes: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let mut tx = Txn::new(self.store.begin().await?);
        rows::insert_prompt(&mut *tx, &prompt).await?;
        versions::insert_version(&mut tx, &mut version).await?;
        self.describe_after_commit(&mut tx, caller, &version);
        Ok((
            tx,
            PromptCreated {
                prompt_id,
                current_version_id: version.id,
                version_number: version.version_number,
            },
        ))
    }

    pub async fn patch_prompt(
        &self,
        caller: &Principal,
        id: &str,
        patch: PromptPatch,
    ) -> Result<(Txn, PromptDetail), Error> {
        let mut tx = Txn::new(self.store.begin().await?);
        let mut prompt = self.lock_prompt(&mut tx, caller, id).await?;
        match patch.name {
            Patch::Absent => {}
            Patch::Clear => {
                return Err(
                    Rejection::new(ReasonCode::InvalidRequest, "name cannot be cleared.")
                        .with_param("name", "required_field_clear")
                        .into(),
                );
            }
            Patch::Set(name) => prompt.name = check_name(&name)?,
        }
        match patch.abbreviation {
            Patch::Absent => {}
            Patch::Clear => prompt.abbreviation = None,
            Patch::Set(a) => prompt.abbreviation = Some(a),
        }
        prompt.updated_at = self.store.now_ms().max(prompt.updated_at + 1);
        rows::update_prompt(&mut *tx, &prompt).await?;
        let detail = self.detail_in(&mut tx, &prompt).await?;
        Ok((tx, detail))
    }

    /// [`Engine::detail`] reading the current version through `tx`, which may hold changes.
    pub(crate) async fn detail_in(
        &self,
        tx: &mut Txn,
        prompt: &PromptRow,
    ) -> Result<PromptDetail, Error> {
        let current = match &prompt.current_version_id {
            Some(vid) => rows::version(&mut **tx, vid)
                .await?
                .filter(|v| v.deleted_at.is_none()),
            None => None,
        };
        Ok(PromptDetail {
            prompt: self.summary(
                prompt,
                current.as_ref().map(|v| v.model_settings.as_str()),
                current.as_ref().and_then(|v| v.description.clone()),
            ),
            current_version_status: if current.is_some() { "ok" } else { "missing" }.to_owned(),
            current_version: current.map(|v| version_response(&v, true)).transpose()?,
        })
    }

    pub async fn switch_current_version(
        &self,
        caller: &Principal,
        id: &str,
        version_id: &str,
    ) -> Result<(Txn, CurrentVersion), Error> {
        let mut tx = Txn::new(self.store.begin().await?);
        let mut prompt = self.lock_prompt(&mut tx, caller, id).await?;
        rows::version(&mut *tx, version_id)
            .await?
            .filter(|v| v.prompt_id == prompt.id && v.deleted_at.is_none())
            .ok_or_else(|| versions::version_not_found(version_id))?;
        prompt.current_version_id = Some(version_id.to_owned());
        prompt.updated_at = self.store.now_ms().max(prompt.updated_at + 1);
        rows::update_prompt(&mut *tx, &prompt).await?;
        // Read back what the database now holds (spec: "reflecting actual post-update DB state").
        let stored = rows::prompt(&mut *tx, id)
            .await?
            .and_then(|p| p.current_version_id)
            .unwrap_or_default();
        Ok((
            tx,
            CurrentVersion {
                prompt_id: id.to_owned(),
                current_version_id: stored,
            },
        ))
    }

    /// Soft-deletes a prompt; deleting it again answers the same.
    pub async fn delete_prompt(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<(Txn, PromptDeleted), Error> {
        let mut tx = Txn::new(self.store.begin().await?);
        let row = rows::lock_prompt(&mut tx, id)
            .await?
            .filter(|p| p.user_id == caller.user_id())
            .ok_or_else(|| crate::access::prompt_not_found(id))?;
        self.check_grant_in(&mut tx, caller, id).await?;
        if row.deleted_at.is_none() {
            let mut prompt = row;
            let now = self.store.now_ms();
            // REST deletes force-terminate the prompt's live runs (spec "DELETE /prompts/{id}").
            crate::store::runs::abandon_for_prompt(&mut tx, id, now).await?;
            prompt.deleted_at = Some(now);
            prompt.updated_at = now.max(prompt.updated_at + 1);
            rows::update_prompt(&mut *tx, &prompt).await?;
        }
        Ok((
            tx,
            PromptDeleted {
                prompt_id: id.to_owned(),
                status: "deleted".to_owned(),
            },
        ))
    }
}
