//! The blob cleanup queue: image blobs a rewind or a delete dropped, deleted by the cleanup worker
//! once no record or run refers to them.

use sqlx::{Any, Executor};

use super::StoreResult;

/// Queues `keys` (once each; a key already queued keeps its place).
pub async fn enqueue(conn: &mut sqlx::AnyConnection, keys: &[String], now: i64) -> StoreResult<()> {
    for key in keys {
        sqlx::query(
            "INSERT INTO blob_cleanup_queue (blob_key, enqueued_at) VALUES ($1, $2) ON CONFLICT (blob_key) DO NOTHING",
        )
        .bind(key)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The oldest `limit` queued keys.
pub async fn due<'e>(e: impl Executor<'e, Database = Any>, limit: i64) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT blob_key FROM blob_cleanup_queue ORDER BY enqueued_at, blob_key LIMIT $1",
    )
    .bind(limit)
    .fetch_all(e)
    .await?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}

/// Whether a record or a run still refers to `key`. Records and turns hold their keys in JSON, so
/// this is a substring match: a false positive keeps a blob, never loses one.
pub async fn referenced<'e>(e: impl Executor<'e, Database = Any>, key: &str) -> StoreResult<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM records WHERE images LIKE $1) \
              + (SELECT COUNT(*) FROM run_sessions WHERE turns LIKE $1)",
    )
    .bind(format!("%\"{key}\"%"))
    .fetch_one(e)
    .await?;
    Ok(n > 0)
}

pub async fn remove<'e>(e: impl Executor<'e, Database = Any>, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM blob_cleanup_queue WHERE blob_key = $1")
        .bind(key)
        .execute(e)
        .await?;
    Ok(())
}
