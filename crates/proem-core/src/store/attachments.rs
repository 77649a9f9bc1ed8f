//! Attachment rows and the storage counters that enforce the caps under concurrency: per prompt
//! (count and bytes, on the prompt row) and per user (`user_storage`), both moved by conditional
//! updates that refuse to pass a cap.

use sqlx::{Any, AnyConnection, Executor};

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    pub id: String,
    pub prompt_id: String,
    pub user_id: String,
    pub filename: String,
    pub kind: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub blob_key: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
}

const COLUMNS: &str = "id, prompt_id, user_id, filename, kind, content_type, size_bytes, sha256, blob_key, width, height, created_at, deleted_at";

type Tuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
);

fn row(t: Tuple) -> AttachmentRow {
    AttachmentRow {
        id: t.0,
        prompt_id: t.1,
        user_id: t.2,
        filename: t.3,
        kind: t.4,
        content_type: t.5,
        size_bytes: t.6,
        sha256: t.7,
        blob_key: t.8,
        width: t.9,
        height: t.10,
        created_at: t.11,
        deleted_at: t.12,
    }
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

pub async fn attachment<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
) -> StoreResult<Option<AttachmentRow>> {
    let r: Option<Tuple> = sqlx::query_as(sql(format!(
        "SELECT {COLUMNS} FROM attachments WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(e)
    .await?;
    Ok(r.map(row))
}

/// A prompt's live attachments, oldest first.
pub async fn list<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
) -> StoreResult<Vec<AttachmentRow>> {
    let rows: Vec<Tuple> = sqlx::query_as(sql(format!(
        "SELECT {COLUMNS} FROM attachments WHERE prompt_id = $1 AND deleted_at IS NULL ORDER BY id"
    )))
    .bind(prompt_id)
    .fetch_all(e)
    .await?;
    Ok(rows.into_iter().map(row).collect())
}

/// A live attachment of the prompt with this filename and content, for dedupe.
pub async fn find_same<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
    filename: &str,
    sha256: &str,
) -> StoreResult<Option<AttachmentRow>> {
    let r: Option<Tuple> = sqlx::query_as(sql(format!(
        "SELECT {COLUMNS} FROM attachments WHERE prompt_id = $1 AND filename = $2 AND sha256 = $3 AND deleted_at IS NULL LIMIT 1"
    )))
    .bind(prompt_id)
    .bind(filename)
    .bind(sha256)
    .fetch_optional(e)
    .await?;
    Ok(r.map(row))
}

pub async fn insert(conn: &mut AnyConnection, a: &AttachmentRow) -> StoreResult<()> {
    sqlx::query(sql(format!(
        "INSERT INTO attachments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )))
    .bind(&a.id)
    .bind(&a.prompt_id)
    .bind(&a.user_id)
    .bind(&a.filename)
    .bind(&a.kind)
    .bind(&a.content_type)
    .bind(a.size_bytes)
    .bind(&a.sha256)
    .bind(&a.blob_key)
    .bind(a.width)
    .bind(a.height)
    .bind(a.created_at)
    .bind(a.deleted_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds one attachment of `bytes` to the prompt's counters unless that passes `max_count` or
/// `max_bytes`; returns whether it fit.
pub async fn reserve_prompt(
    conn: &mut AnyConnection,
    prompt_id: &str,
    bytes: i64,
    max_count: i64,
    max_bytes: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE prompts SET attachment_count = attachment_count + 1, attachment_bytes = attachment_bytes + $1 \
         WHERE id = $2 AND attachment_count + 1 <= $3 AND attachment_bytes + $1 <= $4",
    )
    .bind(bytes)
    .bind(prompt_id)
    .bind(max_count)
    .bind(max_bytes)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Adds `bytes` to the user's stored total unless that passes `max_bytes`; returns whether it fit.
pub async fn reserve_user(
    conn: &mut AnyConnection,
    user_id: &str,
    bytes: i64,
    max_bytes: i64,
) -> StoreResult<bool> {
    sqlx::query(
        "INSERT INTO user_storage (user_id, bytes) VALUES ($1, 0) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "UPDATE user_storage SET bytes = bytes + $1 WHERE user_id = $2 AND bytes + $1 <= $3",
    )
    .bind(bytes)
    .bind(user_id)
    .bind(max_bytes)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Soft-deletes a live attachment and refunds its bytes; returns false when it was already
/// deleted (so a second delete refunds nothing).
pub async fn delete(conn: &mut AnyConnection, a: &AttachmentRow, now: i64) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE attachments SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now)
            .bind(&a.id)
            .execute(&mut *conn)
            .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE prompts SET attachment_count = attachment_count - 1, attachment_bytes = attachment_bytes - $1 WHERE id = $2",
    )
    .bind(a.size_bytes)
    .bind(&a.prompt_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE user_storage SET bytes = bytes - $1 WHERE user_id = $2")
        .bind(a.size_bytes)
        .bind(&a.user_id)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Bytes stored for a user.
pub async fn user_bytes<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
) -> StoreResult<i64> {
    let r: Option<(i64,)> = sqlx::query_as("SELECT bytes FROM user_storage WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(e)
        .await?;
    Ok(r.map_or(0, |(b,)| b))
}

/// Whether any live attachment still points at `blob_key`.
pub async fn blob_in_use<'e>(
    e: impl Executor<'e, Database = Any>,
    blob_key: &str,
) -> StoreResult<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM attachments WHERE blob_key = $1")
        .bind(blob_key)
        .fetch_one(e)
        .await?;
    Ok(n > 0)
}
