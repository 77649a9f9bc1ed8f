//! Secrets the server generates once and every instance sharing the database reads.

use super::{Store, StoreResult};

impl Store {
    /// The secret called `name`, created from `generate` on first use. Concurrent first uses on
    /// several instances agree: the first insert wins and everyone reads it back.
    pub async fn server_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> String,
    ) -> StoreResult<String> {
        sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(generate())
            .bind(self.now_ms())
            .execute(self.writer())
            .await?;
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(self.writer())
                .await?;
        Ok(value)
    }
}
