//! Per-prompt grants on keys (spec "Per-prompt grants"): none means unrestricted.

use sqlx::{Any, Executor};

use super::{Store, StoreResult};

impl Store {
    /// The prompts a key is restricted to; empty when it is unrestricted.
    pub async fn key_grants(&self, key_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT prompt_id FROM key_grants WHERE key_id = $1 ORDER BY prompt_id")
                .bind(key_id)
                .fetch_all(self.reader())
                .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// Whether `key_id` may reach `prompt_id`: unrestricted keys reach every prompt of their user.
    pub async fn key_reaches_prompt(&self, key_id: &str, prompt_id: &str) -> StoreResult<bool> {
        key_reaches_prompt(self.reader(), key_id, prompt_id).await
    }

    /// Adds a grant; adding it twice is a no-op.
    pub async fn grant_prompt(&self, key_id: &str, prompt_id: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO key_grants (key_id, prompt_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (key_id, prompt_id) DO NOTHING",
        )
        .bind(key_id)
        .bind(prompt_id)
        .bind(self.now_ms())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Removes a grant; returns whether it existed. Removing the last one makes the key
    /// unrestricted again.
    pub async fn ungrant_prompt(&self, key_id: &str, prompt_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM key_grants WHERE key_id = $1 AND prompt_id = $2")
            .bind(key_id)
            .bind(prompt_id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// [`Store::key_reaches_prompt`] on a given executor, e.g. the connection of an open transaction.
pub async fn key_reaches_prompt<'e>(
    e: impl Executor<'e, Database = Any>,
    key_id: &str,
    prompt_id: &str,
) -> StoreResult<bool> {
    let (total, matching): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN prompt_id = $2 THEN 1 ELSE 0 END), 0) FROM key_grants WHERE key_id = $1",
    )
    .bind(key_id)
    .bind(prompt_id)
    .fetch_one(e)
    .await?;
    Ok(total == 0 || matching > 0)
}
