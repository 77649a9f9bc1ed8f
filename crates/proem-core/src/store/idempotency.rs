//! Idempotency rows (spec "Idempotency"): one per (user, key), scoped per user. The row is taken
//! with an insert that only one request can win; the winner holds a lease until it completes.

use sqlx::AnyConnection;

use super::{Store, StoreError, StoreResult};

/// Completed rows are replayed for this long, then the key is fresh again.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

/// A response as stored for replay: status, the headers worth replaying, the body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the caller holding an Idempotency-Key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First use: run the request, then complete or release the row.
    Owner,
    /// Same key, route and body as a finished request: answer with its response.
    Replay(StoredResponse),
    /// Same key with a different route or body.
    Reused,
    /// The original request still holds its lease.
    InFlight,
}

/// Identifies one idempotent request.
#[derive(Debug, Clone, Copy)]
pub struct IdemKey<'a> {
    pub user_id: &'a str,
    pub key: &'a str,
    /// Method and concrete path, e.g. `POST /api/v2/public/prompts`.
    pub route: &'a str,
    /// SHA-256 (hex) of the request that must match on replay.
    pub request_hash: &'a str,
}

type Row = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
    Option<i64>,
);

impl Store {
    /// Claims `key` or reports what happened to it. A lease older than `lease_ms` means its process
    /// died mid-flight: the row becomes `failed` with `outcome_unknown_body` (a 500), replayed
    /// until it expires.
    pub async fn idempotency_begin(
        &self,
        key: IdemKey<'_>,
        lease_ms: i64,
        outcome_unknown_body: &[u8],
    ) -> StoreResult<Begin> {
        for _ in 0..3 {
            let now = self.now_ms();
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (user_id, idem_key, route, request_hash, state, lease_expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, 'in_flight', $5, $6) ON CONFLICT (user_id, idem_key) DO NOTHING",
            )
            .bind(key.user_id)
            .bind(key.key)
            .bind(key.route)
            .bind(key.request_hash)
            .bind(now + lease_ms)
            .bind(now)
            .execute(self.writer())
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(Begin::Owner);
            }
            let row: Option<Row> = sqlx::query_as(
                "SELECT route, request_hash, state, lease_expires_at, status, headers, body, expires_at \
                 FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
            )
            .bind(key.user_id)
            .bind(key.key)
            .fetch_optional(self.writer())
            .await?;
            let Some((route, hash, state, lease_expires_at, status, headers, body, expires_at)) =
                row
            else {
                continue;
            };
            if expires_at.is_some_and(|t| t <= now) {
                sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND expires_at <= $3")
                    .bind(key.user_id)
                    .bind(key.key)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                continue;
            }
            if route != key.route || hash != key.request_hash {
                return Ok(Begin::Reused);
            }
            if state == "in_flight" {
                if lease_expires_at > now {
                    return Ok(Begin::InFlight);
                }
                sqlx::query(
                    "UPDATE idempotency_keys SET state = 'failed', status = 500, headers = $1, body = $2, completed_at = $3, expires_at = $4 \
                     WHERE user_id = $5 AND idem_key = $6 AND state = 'in_flight' AND lease_expires_at <= $3",
                )
                .bind(r#"[["content-type","application/problem+json"]]"#)
                .bind(outcome_unknown_body.to_vec())
                .bind(now)
                .bind(now + IDEMPOTENCY_TTL_MS)
                .bind(key.user_id)
                .bind(key.key)
                .execute(self.writer())
                .await?;
                continue;
            }
            let headers: Vec<(String, String)> =
                serde_json::from_str(headers.as_deref().unwrap_or("[]"))
                    .map_err(|e| StoreError::Corrupt(format!("idempotency_keys.headers: {e}")))?;
            return Ok(Begin::Replay(StoredResponse {
                status: u16::try_from(status.unwrap_or(500)).unwrap_or(500),
                headers,
                body: body.unwrap_or_default(),
            }));
        }
        // Three rounds of the row vanishing under us: treat it as still busy.
        Ok(Begin::InFlight)
    }

    /// Records the response of the request that owns `key`, on `conn`, so that a caller can
    /// commit it in the same transaction as the mutation it describes.
    pub async fn idempotency_complete(
        &self,
        conn: &mut AnyConnection,
        user_id: &str,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let now = self.now_ms();
        let headers = serde_json::to_string(&response.headers)
            .map_err(|e| StoreError::Corrupt(format!("headers: {e}")))?;
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'complete', status = $1, headers = $2, body = $3, completed_at = $4, expires_at = $5 \
             WHERE user_id = $6 AND idem_key = $7 AND state = 'in_flight'",
        )
        .bind(i64::from(response.status))
        .bind(headers)
        .bind(response.body.clone())
        .bind(now)
        .bind(now + IDEMPOTENCY_TTL_MS)
        .bind(user_id)
        .bind(key)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Gives up an in-flight claim (the request failed and changed nothing), so a corrected
    /// retry with the same key runs.
    pub async fn idempotency_release(&self, user_id: &str, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND state = 'in_flight'")
            .bind(user_id)
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Deletes rows whose 24 h replay window has passed.
    pub async fn sweep_idempotency(&self) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(self.now_ms())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }
}
