//! Object-level authorization for prompts: a caller reaches a prompt only if it is theirs, not
//! deleted, and (for a key with grants) granted. Another user's prompt answers exactly like a
//! missing one, `prompt_not_found`; the grant check comes after, so it reveals nothing about
//! other users' ids (spec "Per-prompt grants").

use proem_api::ReasonCode;
use sqlx::AnyConnection;

use crate::auth::Principal;
use crate::engine::Engine;
use crate::store::grants;
use crate::store::prompts::{self, PromptRow};
use crate::{Error, Rejection};

pub fn prompt_not_found(id: &str) -> Error {
    Rejection::new(
        ReasonCode::PromptNotFound,
        format!("No prompt {id} is visible to this key."),
    )
    .with_param("promptId", "not_found")
    .into()
}

impl Engine {
    /// Checks that `caller` may reach `prompt` (already loaded, maybe deleted).
    pub async fn check_prompt(
        &self,
        caller: &Principal,
        prompt: Option<PromptRow>,
        id: &str,
    ) -> Result<PromptRow, Error> {
        let prompt = own_live(caller, prompt, id)?;
        self.check_grant(caller, id).await?;
        Ok(prompt)
    }

    /// [`Engine::check_prompt`] with the grant already looked up (`reaches`), for a caller that
    /// read it beside the prompt.
    pub(crate) fn admit_prompt(
        caller: &Principal,
        prompt: Option<PromptRow>,
        id: &str,
        reaches: bool,
    ) -> Result<PromptRow, Error> {
        let prompt = own_live(caller, prompt, id)?;
        grant_required_unless(reaches, id)?;
        Ok(prompt)
    }

    /// `grant_required` when the caller's key is restricted to other prompts.
    pub async fn check_grant(&self, caller: &Principal, prompt_id: &str) -> Result<(), Error> {
        let reaches = self
            .store
            .key_reaches_prompt(caller.key_id(), prompt_id)
            .await?;
        grant_required_unless(reaches, prompt_id)
    }

    /// [`Engine::check_grant`] on `conn`, the connection of the caller's open transaction. Waiting
    /// for a second pool connection while holding one lets concurrent writers exhaust the pool.
    pub async fn check_grant_in(
        &self,
        conn: &mut AnyConnection,
        caller: &Principal,
        prompt_id: &str,
    ) -> Result<(), Error> {
        let reaches = grants::key_reaches_prompt(conn, caller.key_id(), prompt_id).await?;
        grant_required_unless(reaches, prompt_id)
    }

    /// The caller's live prompt `id`.
    pub async fn reach_prompt(&self, caller: &Principal, id: &str) -> Result<PromptRow, Error> {
        let row = prompts::prompt(self.store.reader(), id).await?;
        self.check_prompt(caller, row, id).await
    }

    /// The caller's live prompt `id`, locked for the rest of the transaction on `conn`.
    pub async fn lock_prompt(
        &self,
        conn: &mut AnyConnection,
        caller: &Principal,
        id: &str,
    ) -> Result<PromptRow, Error> {
        let row = prompts::lock_prompt(&mut *conn, id).await?;
        let prompt = own_live(caller, row, id)?;
        self.check_grant_in(conn, caller, id).await?;
        Ok(prompt)
    }
}

/// `prompt` if it is the caller's and not deleted, else `prompt_not_found`.
fn own_live(caller: &Principal, prompt: Option<PromptRow>, id: &str) -> Result<PromptRow, Error> {
    prompt
        .filter(|p| p.user_id == caller.user_id() && p.deleted_at.is_none())
        .ok_or_else(|| prompt_not_found(id))
}

fn grant_required_unless(reaches: bool, prompt_id: &str) -> Result<(), Error> {
    if reaches {
        Ok(())
    } else {
        Err(Rejection::new(
            ReasonCode::GrantRequired,
            format!("This key is restricted to other prompts and cannot reach {prompt_id}."),
        )
        .into())
    }
}
