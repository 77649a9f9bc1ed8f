//! Run-session rows. The state moves only through [`cas`]: an update that names the state it
//! expects, so two racing requests cannot both move a session.

use sqlx::{Any, AnyConnection, Executor};

use super::{Store, StoreResult};
use crate::txn::Txn;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub key_id: String,
    pub prompt_id: String,
    pub version_id: String,
    /// JSON: the frozen prompt version and inputs (see `runs::Snapshot`).
    pub snapshot: String,
    pub state: String,
    /// JSON array of turns (see `runs::Turn`).
    pub turns: String,
    pub generation: i64,
    pub reopen_count: i64,
    pub finalized_record_id: Option<String>,
    /// JSON of the last finalize response, replayed by an empty-body finalize.
    pub last_finalize: Option<String>,
    pub failure_code: Option<String>,
    pub seeded_from_record_id: Option<String>,
    pub client_idempotency_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, user_id, key_id, prompt_id, version_id, snapshot, state, turns, generation, reopen_count, \
     finalized_record_id, last_finalize, failure_code, seeded_from_record_id, client_idempotency_key, created_at, updated_at, expires_at";

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    use sqlx::Row;
    Ok(SessionRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        key_id: r.try_get(2)?,
        prompt_id: r.try_get(3)?,
        version_id: r.try_get(4)?,
        snapshot: r.try_get(5)?,
        state: r.try_get(6)?,
        turns: r.try_get(7)?,
        generation: r.try_get(8)?,
        reopen_count: r.try_get(9)?,
        finalized_record_id: r.try_get(10)?,
        last_finalize: r.try_get(11)?,
        failure_code: r.try_get(12)?,
        seeded_from_record_id: r.try_get(13)?,
        client_idempotency_key: r.try_get(14)?,
        created_at: r.try_get(15)?,
        updated_at: r.try_get(16)?,
        expires_at: r.try_get(17)?,
    })
}

fn insert_sql() -> String {
    format!(
        "INSERT INTO run_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    )
}

/// Inserts a session row on `tx`. When `tx` commits statement by statement on a SQLite file, the
/// row is written on the calling thread (see `inline.rs`), through the pool only if another
/// process holds the database's write lock. The run path's one write before its first token.
pub async fn insert_on(store: &Store, tx: &mut Txn, s: &SessionRow) -> StoreResult<()> {
    if let (Some(inline), Some(held)) = (store.inline(), tx.autocommit_connection()) {
        // $N parameters are numbered in order of appearance, so binding by position fits them.
        let written = inline.write(held, |c| {
            c.prepare_cached(&insert_sql())?.execute(rusqlite::params![
                s.id,
                s.user_id,
                s.key_id,
                s.prompt_id,
                s.version_id,
                s.snapshot,
                s.state,
                s.turns,
                s.generation,
                s.reopen_count,
                s.finalized_record_id,
                s.last_finalize,
                s.failure_code,
                s.seeded_from_record_id,
                s.client_idempotency_key,
                s.created_at,
                s.updated_at,
                s.expires_at,
            ])
        });
        match written {
            Err(e) if e.is_busy() => {}
            done => return done.map(drop),
        }
    }
    insert(tx, s).await
}

pub async fn insert(conn: &mut AnyConnection, s: &SessionRow) -> StoreResult<()> {
    sqlx::query(sql(insert_sql()))
        .bind(&s.id)
        .bind(&s.user_id)
        .bind(&s.key_id)
        .bind(&s.prompt_id)
        .bind(&s.version_id)
        .bind(&s.snapshot)
        .bind(&s.state)
        .bind(&s.turns)
        .bind(s.generation)
        .bind(s.reopen_count)
        .bind(&s.finalized_record_id)
        .bind(&s.last_finalize)
        .bind(&s.failure_code)
        .bind(&s.seeded_from_record_id)
        .bind(&s.client_idempotency_key)
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(s.expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
) -> StoreResult<Option<SessionRow>> {
    let row = sqlx::query(sql(format!(
        "SELECT {COLUMNS} FROM run_sessions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(e)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Writes every mutable field of `s` if the stored state is still `expected`; returns whether it
/// did.
pub async fn cas<'e>(
    e: impl Executor<'e, Database = Any>,
    s: &SessionRow,
    expected: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE run_sessions SET state = $1, turns = $2, generation = $3, reopen_count = $4, finalized_record_id = $5, \
         last_finalize = $6, failure_code = $7, updated_at = $8, expires_at = $9 WHERE id = $10 AND state = $11",
    )
    .bind(&s.state)
    .bind(&s.turns)
    .bind(s.generation)
    .bind(s.reopen_count)
    .bind(&s.finalized_record_id)
    .bind(&s.last_finalize)
    .bind(&s.failure_code)
    .bind(s.updated_at)
    .bind(s.expires_at)
    .bind(&s.id)
    .bind(expected)
    .execute(e)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves every session idle past its TTL to Expired; returns how many.
pub async fn expire_due<'e>(e: impl Executor<'e, Database = Any>, now: i64) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE run_sessions SET state = 'Expired', updated_at = $1 \
         WHERE expires_at <= $1 AND state IN ('Active', 'Running', 'Finalizing', 'Finalized')",
    )
    .bind(now)
    .execute(e)
    .await?;
    Ok(done.rows_affected())
}

/// States a session can still be moved out of by a caller: the live ones, and Finalized, which
/// a revise or an amending finalize reopens.
const REOPENABLE: &str = "('Active', 'Running', 'Finalizing', 'Finalized')";

/// Abandons the sessions of a prompt that could still run or reopen (REST prompt delete
/// force-terminates them).
pub async fn abandon_for_prompt(
    conn: &mut AnyConnection,
    prompt_id: &str,
    now: i64,
) -> StoreResult<u64> {
    abandon_where(conn, "prompt_id", prompt_id, now).await
}

/// Abandons the sessions of a version that could still run or reopen (REST version delete).
pub async fn abandon_for_version(
    conn: &mut AnyConnection,
    version_id: &str,
    now: i64,
) -> StoreResult<u64> {
    abandon_where(conn, "version_id", version_id, now).await
}

/// Abandons the sessions a key started that could still run or reopen (key revocation,
/// spec `session_abandoned`).
pub async fn abandon_for_key<'e>(
    e: impl Executor<'e, Database = Any>,
    key_id: &str,
    now: i64,
) -> StoreResult<u64> {
    abandon_where(e, "key_id", key_id, now).await
}

async fn abandon_where<'e>(
    e: impl Executor<'e, Database = Any>,
    column: &'static str,
    value: &str,
    now: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(sql(format!(
        "UPDATE run_sessions SET state = 'Abandoned', updated_at = $1 WHERE {column} = $2 AND state IN {REOPENABLE}"
    )))
    .bind(now)
    .bind(value)
    .execute(e)
    .await?;
    Ok(done.rows_affected())
}

/// Ids of live sessions of `prompt_id` whose snapshot mentions `needle` (an attachment id).
pub async fn live_mentioning<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
    needle: &str,
    now: i64,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM run_sessions WHERE prompt_id = $1 AND state IN ('Active', 'Running', 'Finalizing') \
         AND expires_at > $2 AND snapshot LIKE $3",
    )
    .bind(prompt_id)
    .bind(now)
    .bind(format!("%{needle}%"))
    .fetch_all(e)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Forgets a deleted record on the session that produced it, so a finalize replay answers
/// `record_was_deleted`.
pub async fn forget_record(conn: &mut AnyConnection, record_id: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE run_sessions SET finalized_record_id = NULL WHERE finalized_record_id = $1",
    )
    .bind(record_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts a reopen by revise (see the `revise_reopens` column).
pub async fn count_revise_reopen<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE run_sessions SET revise_reopens = revise_reopens + 1 WHERE id = $1")
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// A run's owner and its finalize idempotency scope (reopens by revise).
pub async fn finalize_scope<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
) -> StoreResult<Option<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT user_id, revise_reopens FROM run_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(e)
            .await?,
    )
}
