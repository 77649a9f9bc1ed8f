//! Record rows, usage-log rows and per-user settings.

use sqlx::{Any, AnyConnection, Executor};

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub id: String,
    pub user_id: String,
    pub prompt_id: String,
    pub version_id: Option<String>,
    pub run_id: Option<String>,
    /// `API`, `Manual`, `App` or `Headless`.
    pub source: String,
    pub created_by_key_id: Option<String>,
    pub input_text: String,
    /// The model's last returned output.
    pub model_output: String,
    /// What the user kept (finalText, an edit, or the model output).
    pub final_output: String,
    /// JSON array of deltas (see `records::Delta`).
    pub deltas: String,
    pub notes: Option<String>,
    pub model_id: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_millicents: i64,
    pub client_idempotency_key: Option<String>,
    pub revise_lock_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_patched_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// JSON array of the images every turn made (`runs::ImageRef`), in turn order.
    pub images: String,
}

const COLUMNS: &str = "id, user_id, prompt_id, version_id, run_id, source, created_by_key_id, input_text, model_output, \
     final_output, deltas, notes, model_id, input_tokens, output_tokens, cost_millicents, client_idempotency_key, \
     revise_lock_until, created_at, updated_at, last_patched_at, deleted_at, images";

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<RecordRow, sqlx::Error> {
    use sqlx::Row;
    Ok(RecordRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        prompt_id: r.try_get(2)?,
        version_id: r.try_get(3)?,
        run_id: r.try_get(4)?,
        source: r.try_get(5)?,
        created_by_key_id: r.try_get(6)?,
        input_text: r.try_get(7)?,
        model_output: r.try_get(8)?,
        final_output: r.try_get(9)?,
        deltas: r.try_get(10)?,
        notes: r.try_get(11)?,
        model_id: r.try_get(12)?,
        input_tokens: r.try_get(13)?,
        output_tokens: r.try_get(14)?,
        cost_millicents: r.try_get(15)?,
        client_idempotency_key: r.try_get(16)?,
        revise_lock_until: r.try_get(17)?,
        created_at: r.try_get(18)?,
        updated_at: r.try_get(19)?,
        last_patched_at: r.try_get(20)?,
        deleted_at: r.try_get(21)?,
        images: r.try_get(22)?,
    })
}

pub async fn insert(conn: &mut AnyConnection, r: &RecordRow) -> StoreResult<()> {
    sqlx::query(sql(format!(
        "INSERT INTO records ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
    )))
    .bind(&r.id)
    .bind(&r.user_id)
    .bind(&r.prompt_id)
    .bind(&r.version_id)
    .bind(&r.run_id)
    .bind(&r.source)
    .bind(&r.created_by_key_id)
    .bind(&r.input_text)
    .bind(&r.model_output)
    .bind(&r.final_output)
    .bind(&r.deltas)
    .bind(&r.notes)
    .bind(&r.model_id)
    .bind(r.input_tokens)
    .bind(r.output_tokens)
    .bind(r.cost_millicents)
    .bind(&r.client_idempotency_key)
    .bind(r.revise_lock_until)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.last_patched_at)
    .bind(r.deleted_at)
    .bind(&r.images)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes every mutable field of a record.
pub async fn update<'e>(e: impl Executor<'e, Database = Any>, r: &RecordRow) -> StoreResult<()> {
    sqlx::query(
        "UPDATE records SET version_id = $1, input_text = $2, model_output = $3, final_output = $4, deltas = $5, notes = $6, \
         model_id = $7, input_tokens = $8, output_tokens = $9, cost_millicents = $10, updated_at = $11, last_patched_at = $12, \
         deleted_at = $13, images = $14 WHERE id = $15",
    )
    .bind(&r.version_id)
    .bind(&r.input_text)
    .bind(&r.model_output)
    .bind(&r.final_output)
    .bind(&r.deltas)
    .bind(&r.notes)
    .bind(&r.model_id)
    .bind(r.input_tokens)
    .bind(r.output_tokens)
    .bind(r.cost_millicents)
    .bind(r.updated_at)
    .bind(r.last_patched_at)
    .bind(r.deleted_at)
    .bind(&r.images)
    .bind(&r.id)
    .execute(e)
    .await?;
    Ok(())
}

pub async fn get<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
) -> StoreResult<Option<RecordRow>> {
    let row = sqlx::query(sql(format!("SELECT {COLUMNS} FROM records WHERE id = $1")))
        .bind(id)
        .fetch_optional(e)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Filters of `GET /records`.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub prompt_id: Option<String>,
    pub version_id: Option<String>,
    pub source: Option<String>,
    pub created_by_key_id: Option<String>,
    pub client_idempotency_key: Option<String>,
    pub run_id: Option<String>,
}

/// A page of a user's live records on live prompts, newest first, below `before_id`; when
/// `restricted_to_key` is given, only records of prompts granted to that key.
pub async fn list<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
    filter: &RecordFilter,
    restricted_to_key: Option<&str>,
    before_id: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<RecordRow>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(sql(format!(
        "SELECT {cols} FROM records r JOIN prompts p ON p.id = r.prompt_id \
         WHERE r.user_id = $1 AND r.deleted_at IS NULL AND p.deleted_at IS NULL \
           AND ($2 IS NULL OR r.prompt_id = $2) AND ($3 IS NULL OR r.version_id = $3) \
           AND ($4 IS NULL OR r.source = $4) AND ($5 IS NULL OR r.created_by_key_id = $5) \
           AND ($6 IS NULL OR r.client_idempotency_key = $6) AND ($7 IS NULL OR r.run_id = $7) \
           AND ($8 IS NULL OR r.prompt_id IN (SELECT prompt_id FROM key_grants WHERE key_id = $8)) \
           AND ($9 IS NULL OR r.id < $9) \
         ORDER BY r.id DESC LIMIT $10"
    )))
    .bind(user_id)
    .bind(&filter.prompt_id)
    .bind(&filter.version_id)
    .bind(&filter.source)
    .bind(&filter.created_by_key_id)
    .bind(&filter.client_idempotency_key)
    .bind(&filter.run_id)
    .bind(restricted_to_key)
    .bind(before_id)
    .bind(i64::from(limit))
    .fetch_all(e)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Manual records of a prompt, for its cap.
pub async fn count_manual<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
) -> StoreResult<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM records WHERE prompt_id = $1 AND source = 'Manual' AND deleted_at IS NULL")
            .bind(prompt_id)
            .fetch_one(e)
            .await?;
    Ok(n)
}

/// The newest live (not soft-deleted) manual record of the user with this idempotency key made
/// since `since`, with the hash of the payload that created it (`None` on records made before
/// migration 0007), for create_record replays.
pub async fn manual_by_key<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
    key: &str,
    since: i64,
) -> StoreResult<Option<(RecordRow, Option<String>)>> {
    use sqlx::Row;
    let row = sqlx::query(sql(format!(
        "SELECT {COLUMNS}, client_payload_hash FROM records WHERE user_id = $1 AND client_idempotency_key = $2 \
         AND source = 'Manual' AND deleted_at IS NULL AND created_at >= $3 ORDER BY id DESC LIMIT 1"
    )))
    .bind(user_id)
    .bind(key)
    .bind(since)
    .fetch_optional(e)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some((from_row(&row)?, row.try_get(23)?)))
}

/// Stores the hash of the payload that created a manual record (see [`manual_by_key`]).
pub async fn set_payload_hash<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
    hash: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE records SET client_payload_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// Advisory-lock namespace (the first of PostgreSQL's two 32-bit keys) of create_record keys.
const MANUAL_KEY_LOCK: i32 = 0x7072_6f01;

/// Serializes, until the transaction ends, the creates of one user that carry the same
/// idempotency key, whatever their prompt: a transaction-scoped advisory lock on PostgreSQL
/// (a hash collision only makes two unrelated creates wait for each other); nothing on SQLite,
/// whose one writer already runs write transactions one at a time.
pub async fn lock_manual_key(
    conn: &mut AnyConnection,
    backend: super::Backend,
    user_id: &str,
    key: &str,
) -> StoreResult<()> {
    if backend == super::Backend::Postgres {
        // In FROM, so the row holds an integer rather than `void`, which the Any driver rejects.
        sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1, hashtext($2))")
            .bind(MANUAL_KEY_LOCK)
            .bind(format!("{user_id}\n{key}"))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Up to `limit` records soft-deleted at or before `before` (the MCP delete), oldest first,
/// for the sweep that hard-deletes them.
pub async fn soft_deleted_before<'e>(
    e: impl Executor<'e, Database = Any>,
    before: i64,
    limit: i64,
) -> StoreResult<Vec<RecordRow>> {
    let rows = sqlx::query(sql(format!(
        "SELECT {COLUMNS} FROM records WHERE deleted_at IS NOT NULL AND deleted_at <= $1 \
         ORDER BY deleted_at, id LIMIT $2"
    )))
    .bind(before)
    .bind(limit)
    .fetch_all(e)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Hard-deletes a record.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM records WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the per-record revise lock until `until` unless another caller holds it.
pub async fn try_lock_revise<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
    now: i64,
    until: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE records SET revise_lock_until = $1 WHERE id = $2 AND (revise_lock_until IS NULL OR revise_lock_until <= $3)",
    )
    .bind(until)
    .bind(id)
    .bind(now)
    .execute(e)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn unlock_revise<'e>(e: impl Executor<'e, Database = Any>, id: &str) -> StoreResult<()> {
    sqlx::query("UPDATE records SET revise_lock_until = NULL WHERE id = $1")
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// One upstream call.
#[derive(Debug, Clone)]
pub struct UsageRow {
    pub id: String,
    pub user_id: String,
    pub key_id: Option<String>,
    pub run_id: Option<String>,
    pub prompt_id: Option<String>,
    pub purpose: String,
    pub model_id: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_millicents: i64,
    pub billable: bool,
    pub outcome: String,
    pub created_at: i64,
}

pub async fn insert_usage<'e>(
    e: impl Executor<'e, Database = Any>,
    u: &UsageRow,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO usage_log (id, user_id, key_id, run_id, prompt_id, purpose, model_id, input_tokens, output_tokens, \
         cost_millicents, billable, outcome, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&u.id)
    .bind(&u.user_id)
    .bind(&u.key_id)
    .bind(&u.run_id)
    .bind(&u.prompt_id)
    .bind(&u.purpose)
    .bind(&u.model_id)
    .bind(u.input_tokens)
    .bind(u.output_tokens)
    .bind(u.cost_millicents)
    .bind(i64::from(u.billable))
    .bind(&u.outcome)
    .bind(u.created_at)
    .execute(e)
    .await?;
    Ok(())
}

type UsageTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    String,
    i64,
);

/// A run's usage rows, oldest first.
pub async fn usage_for_run<'e>(
    e: impl Executor<'e, Database = Any>,
    run_id: &str,
) -> StoreResult<Vec<UsageRow>> {
    let rows: Vec<UsageTuple> =
        sqlx::query_as(
            "SELECT id, user_id, key_id, run_id, prompt_id, purpose, model_id, input_tokens, output_tokens, cost_millicents, \
             billable, outcome, created_at FROM usage_log WHERE run_id = $1 ORDER BY id",
        )
        .bind(run_id)
        .fetch_all(e)
        .await?;
    Ok(rows
        .into_iter()
        .map(|t| UsageRow {
            id: t.0,
            user_id: t.1,
            key_id: t.2,
            run_id: t.3,
            prompt_id: t.4,
            purpose: t.5,
            model_id: t.6,
            input_tokens: t.7,
            output_tokens: t.8,
            cost_millicents: t.9,
            billable: t.10 != 0,
            outcome: t.11,
            created_at: t.12,
        })
        .collect())
}

/// The user's persistent auto-finalize default, if set.
pub async fn auto_finalize_setting<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
) -> StoreResult<Option<bool>> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT auto_finalize_mcp_runs FROM user_settings WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(e)
            .await?;
    Ok(row.and_then(|(v,)| v).map(|v| v != 0))
}

pub async fn set_auto_finalize_setting<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
    value: Option<bool>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO user_settings (user_id, auto_finalize_mcp_runs, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET auto_finalize_mcp_runs = $2, updated_at = $3",
    )
    .bind(user_id)
    .bind(value.map(i64::from))
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}
