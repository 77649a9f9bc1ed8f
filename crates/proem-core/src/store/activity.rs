//! The audit trail and API-key activity rows.

use super::{Store, StoreResult};

/// One audited mutation. `fields` is a JSON object of content-field metadata, never content.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub user_id: String,
    pub key_id: Option<String>,
    pub method: String,
    pub route: String,
    pub object_id: Option<String>,
    pub status: u16,
    pub fields: String,
}

/// One API-key request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEntry {
    pub id: String,
    pub at: i64,
    pub user_id: String,
    pub key_id: String,
    pub method: String,
    pub route: String,
    pub status: u16,
    pub latency_us: i64,
    pub prompt_id: Option<String>,
}

/// Filters of the activity list.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    pub key_id: Option<String>,
    pub method: Option<String>,
    pub status: Option<u16>,
    pub prompt_id: Option<String>,
}

/// Totals for the activity stats cards.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityStats {
    pub total: i64,
    pub today: i64,
    pub active_keys: i64,
    pub average_response_ms: f64,
}

type AuditRow = (
    String,
    i64,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    String,
);
type ActivityRow = (
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
);

async fn insert_audit(conn: &mut sqlx::AnyConnection, e: &AuditEntry) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, user_id, key_id, method, route, object_id, status, fields) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&e.id)
    .bind(e.at)
    .bind(&e.user_id)
    .bind(&e.key_id)
    .bind(&e.method)
    .bind(&e.route)
    .bind(&e.object_id)
    .bind(i64::from(e.status))
    .bind(&e.fields)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn write_audit(&self, e: &AuditEntry) -> StoreResult<()> {
        insert_audit(&mut *self.writer().acquire().await?, e).await
    }

    /// A user's audit rows, newest first (operators and tests read them).
    pub async fn audit_for_user(&self, user_id: &str) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> =
            sqlx::query_as(
                "SELECT id, at, user_id, key_id, method, route, object_id, status, fields FROM audit_log \
                 WHERE user_id = $1 ORDER BY id DESC",
            )
            .bind(user_id)
            .fetch_all(self.reader())
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, at, user_id, key_id, method, route, object_id, status, fields)| AuditEntry {
                    id,
                    at,
                    user_id,
                    key_id,
                    method,
                    route,
                    object_id,
                    status: u16::try_from(status).unwrap_or(0),
                    fields,
                },
            )
            .collect())
    }

    /// Writes a batch of activity rows and moves each key's `last_used_at` forward, in one
    /// transaction.
    pub async fn write_activity(&self, batch: &[ActivityEntry]) -> StoreResult<()> {
        self.write_trail_rows(&[], batch).await
    }

    /// Audit and activity rows in one transaction (the background writer's batch).
    pub async fn write_trail_rows(
        &self,
        audit: &[AuditEntry],
        batch: &[ActivityEntry],
    ) -> StoreResult<()> {
        if audit.is_empty() && batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer().begin().await?;
        for e in audit {
            insert_audit(&mut tx, e).await?;
        }
        let mut last_used: std::collections::BTreeMap<&str, i64> = Default::default();
        for e in batch {
            sqlx::query(
                "INSERT INTO key_activity (id, at, user_id, key_id, method, route, status, latency_us, prompt_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&e.id)
            .bind(e.at)
            .bind(&e.user_id)
            .bind(&e.key_id)
            .bind(&e.method)
            .bind(&e.route)
            .bind(i64::from(e.status))
            .bind(e.latency_us)
            .bind(&e.prompt_id)
            .execute(&mut *tx)
            .await?;
            let at = last_used.entry(&e.key_id).or_insert(e.at);
            *at = (*at).max(e.at);
        }
        for (key_id, at) in last_used {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)")
                .bind(at)
                .bind(key_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of a user's activity, newest first, strictly older than `before_id` when given.
    pub async fn list_activity(
        &self,
        user_id: &str,
        filter: &ActivityFilter,
        before_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityEntry>> {
        let rows: Vec<ActivityRow> = sqlx::query_as(
            "SELECT id, at, user_id, key_id, method, route, status, latency_us, prompt_id FROM key_activity \
             WHERE user_id = $1 \
               AND ($2 IS NULL OR key_id = $2) \
               AND ($3 IS NULL OR method = $3) \
               AND ($4 IS NULL OR status = $4) \
               AND ($5 IS NULL OR prompt_id = $5) \
               AND ($6 IS NULL OR id < $6) \
             ORDER BY id DESC LIMIT $7",
        )
        .bind(user_id)
        .bind(&filter.key_id)
        .bind(&filter.method)
        .bind(filter.status.map(i64::from))
        .bind(&filter.prompt_id)
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, at, user_id, key_id, method, route, status, latency_us, prompt_id)| {
                    ActivityEntry {
                        id,
                        at,
                        user_id,
                        key_id,
                        method,
                        route,
                        status: u16::try_from(status).unwrap_or(0),
                        latency_us,
                        prompt_id,
                    }
                },
            )
            .collect())
    }

    /// Stats over a user's activity; `day_start_ms` is the start of "today" (UTC).
    pub async fn activity_stats(
        &self,
        user_id: &str,
        day_start_ms: i64,
    ) -> StoreResult<ActivityStats> {
        let (total, today, latency): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN at >= $2 THEN 1 ELSE 0 END), 0), \
                    CAST(COALESCE(SUM(latency_us), 0) AS BIGINT) \
             FROM key_activity WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(day_start_ms)
        .fetch_one(self.reader())
        .await?;
        let now = self.now_ms();
        let (active_keys,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(user_id)
        .bind(now)
        .fetch_one(self.reader())
        .await?;
        let average_response_ms = if total == 0 {
            0.0
        } else {
            latency as f64 / total as f64 / 1000.0
        };
        Ok(ActivityStats {
            total,
            today,
            active_keys,
            average_response_ms,
        })
    }
}
