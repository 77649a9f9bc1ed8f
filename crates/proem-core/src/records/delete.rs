//! Deleting records: the REST delete (hard, by the creating key within 24 h), the MCP delete
//! (soft and idempotent, spec hosted-mcp-tools "delete_record"), and the sweep that hard-deletes
//! soft-deleted records once their grace period is over. Both hard deletes let go of the same
//! things: the record's images go to the blob cleanup queue, and its run forgets it.

use proem_api::ReasonCode;

use super::{SELF_DELETE_WINDOW_MS, images_of, record_not_found};
use crate::auth::Principal;
use crate::engine::Engine;
use crate::store::records::{self as rows, RecordRow};
use crate::txn::Txn;
use crate::{Error, Rejection};

/// How long a soft-deleted record stays before the sweep hard-deletes it: 24 h, the window in
/// which a key may delete what it made (long enough for an operator to restore a mistaken
/// agent delete by hand; nothing reads the row meanwhile).
pub const SOFT_DELETE_GRACE_MS: i64 = 24 * 3600 * 1000;
/// Advisory-lock id of the sweep: one instance leads it at a time.
const SWEEP_JOB: i64 = 0x7072_6f65_6d04;
/// Records hard-deleted per sweep round; the rest wait for the next round.
const SWEEP_BATCH: i64 = 500;

fn not_owned() -> Error {
    Rejection::new(
        ReasonCode::RecordNotOwnedByApiKey,
        "Only the API key that created this record may change or delete it.",
    )
    .into()
}

/// Hard-deletes `row` on `tx` and lets go of what refers to it. Best effort, as the spec puts
/// it: the images go once nothing else refers to them (the cleanup worker checks).
async fn hard_delete(tx: &mut Txn, row: &RecordRow, now: i64) -> Result<(), Error> {
    rows::delete(tx, &row.id).await?;
    let images: Vec<String> = images_of(row)?
        .into_iter()
        .map(|i| i.image.blob_key)
        .collect();
    crate::store::cleanup::enqueue(tx, &images, now).await?;
    crate::store::runs::forget_record(tx, &row.id).await?;
    // The run that made them can no longer be reopened (its record is gone): it lets go too.
    // Unless, after a soft delete, it was finalized again into another record that keeps them.
    if let Some(run_id) = &row.run_id {
        let backs_another = crate::store::runs::get(&mut **tx, run_id)
            .await?
            .and_then(|run| run.finalized_record_id)
            .is_some_and(|id| id != row.id);
        if !backs_another {
            crate::runs::forget_images(tx, run_id).await?;
        }
    }
    Ok(())
}

impl Engine {
    /// The caller's record that its own key created (the rule of PATCH and DELETE).
    pub(super) async fn own_record(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<RecordRow, Error> {
        let row = self.reach_record(caller, id).await?;
        if row.created_by_key_id.as_deref() != Some(caller.key_id()) {
            return Err(not_owned());
        }
        Ok(row)
    }

    /// `DELETE /records/{id}`: hard delete by the creating key within 24 h of creation. The
    /// session that produced it forgets it, so a finalize replay answers `record_was_deleted`.
    pub async fn delete_record(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<(Txn, String), Error> {
        let row = self.own_record(caller, id).await?;
        let now = self.store.now_ms();
        if now - row.created_at >= SELF_DELETE_WINDOW_MS {
            return Err(Rejection::new(
                ReasonCode::RecordSelfDeleteWindowExpired,
                "Records can be deleted with an API key only in the first 24 h after creation.",
            )
            .into());
        }
        let mut tx = Txn::new(self.store.begin().await?);
        hard_delete(&mut tx, &row, now).await?;
        Ok((tx, row.prompt_id))
    }

    /// The MCP `delete_record`: a soft delete, idempotent (a second call succeeds too). Both
    /// calls check what a live record's would: the prompt's grant and the creating key, so an
    /// already-deleted record of another key is `record_not_owned_by_api_key`, as REST answers.
    pub async fn soft_delete_record(&self, caller: &Principal, id: &str) -> Result<Txn, Error> {
        let row = rows::get(self.store.reader(), id)
            .await?
            .filter(|r| r.user_id == caller.user_id())
            .ok_or_else(|| record_not_found(id))?;
        let mut tx = Txn::new(self.store.begin().await?);
        if row.deleted_at.is_none() {
            let mut row = self.own_record(caller, id).await?;
            row.deleted_at = Some(self.store.now_ms());
            rows::update(&mut *tx, &row).await?;
            crate::store::runs::forget_record(&mut tx, id).await?;
        } else {
            self.reach_prompt(caller, &row.prompt_id)
                .await
                .map_err(|e| match e.code() {
                    ReasonCode::PromptNotFound => record_not_found(id),
                    _ => e,
                })?;
            if row.created_by_key_id.as_deref() != Some(caller.key_id()) {
                return Err(not_owned());
            }
        }
        Ok(tx)
    }

    /// Hard-deletes records soft-deleted at least [`SOFT_DELETE_GRACE_MS`] ago, releasing their
    /// images as the REST delete does: the sweep the janitor runs ("Sweep job hard-deletes
    /// later"). One instance leads it at a time; the others skip the round. Returns how many
    /// records it deleted.
    pub async fn sweep_deleted_records(&self) -> Result<u64, Error> {
        let Some(tx) = self.store.lead(SWEEP_JOB).await? else {
            return Ok(0);
        };
        let mut tx = Txn::new(tx);
        let now = self.store.now_ms();
        let due =
            rows::soft_deleted_before(&mut *tx, now - SOFT_DELETE_GRACE_MS, SWEEP_BATCH).await?;
        for row in &due {
            hard_delete(&mut tx, row, now).await?;
        }
        tx.commit().await?;
        Ok(due.len() as u64)
    }
}
