//! Prompt and version rows. Functions take any executor so a service can run them on the pool or
//! inside its transaction.

use sqlx::{Any, Executor};

use rusqlite::OptionalExtension;

use super::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub abbreviation: Option<String>,
    pub current_version_id: Option<String>,
    pub expose_as_mcp_tool: bool,
    pub mcp_tool_name: Option<String>,
    pub attachment_count: i64,
    pub attachment_bytes: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub id: String,
    pub prompt_id: String,
    pub version_number: i64,
    pub prompt_text: String,
    pub model_settings: String,
    pub version_description: Option<String>,
    pub description: Option<String>,
    pub description_mode: i64,
    pub description_gen: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// A prompt in a list, with what its current version contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptListRow {
    pub prompt: PromptRow,
    pub model_settings: Option<String>,
    pub description: Option<String>,
}

const PROMPT_COLUMNS: &str = "p.id, p.user_id, p.name, p.abbreviation, p.current_version_id, p.expose_as_mcp_tool, \
     p.mcp_tool_name, p.attachment_count, p.attachment_bytes, p.created_at, p.updated_at, p.deleted_at";
const VERSION_COLUMNS: &str = "id, prompt_id, version_number, prompt_text, model_settings, version_description, \
     description, description_mode, description_gen, created_at, updated_at, deleted_at";

type PromptTuple = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
);

fn prompt_row(t: PromptTuple) -> PromptRow {
    PromptRow {
        id: t.0,
        user_id: t.1,
        name: t.2,
        abbreviation: t.3,
        current_version_id: t.4,
        expose_as_mcp_tool: t.5 != 0,
        mcp_tool_name: t.6,
        attachment_count: t.7,
        attachment_bytes: t.8,
        created_at: t.9,
        updated_at: t.10,
        deleted_at: t.11,
    }
}

type VersionTuple = (
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
);

fn version_row(t: VersionTuple) -> VersionRow {
    VersionRow {
        id: t.0,
        prompt_id: t.1,
        version_number: t.2,
        prompt_text: t.3,
        model_settings: t.4,
        version_description: t.5,
        description: t.6,
        description_mode: t.7,
        description_gen: t.8,
        created_at: t.9,
        updated_at: t.10,
        deleted_at: t.11,
    }
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// A prompt by id, deleted or not.
pub async fn prompt<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
) -> StoreResult<Option<PromptRow>> {
    let row: Option<PromptTuple> = sqlx::query_as(sql(format!(
        "SELECT {PROMPT_COLUMNS} FROM prompts p WHERE p.id = $1"
    )))
    .bind(id)
    .fetch_optional(e)
    .await?;
    Ok(row.map(prompt_row))
}

/// What a run must know before it calls the provider, besides the version.
pub struct RunAccess {
    pub prompt: PromptRow,
    /// Whether the calling key's grants (if any) include the prompt.
    pub reaches: bool,
    /// The user's persistent auto-finalize default, when set.
    pub auto_finalize: Option<bool>,
}

type RunAccessTuple = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
);

fn run_access_sql() -> String {
    format!(
        "SELECT {PROMPT_COLUMNS}, \
         (SELECT COUNT(*) FROM key_grants g WHERE g.key_id = $2), \
         (SELECT COUNT(*) FROM key_grants g WHERE g.key_id = $2 AND g.prompt_id = p.id), \
         (SELECT s.auto_finalize_mcp_runs FROM user_settings s WHERE s.user_id = $3) \
         FROM prompts p WHERE p.id = $1"
    )
}

fn run_access_of(t: RunAccessTuple) -> RunAccess {
    let (grants, granted, auto_finalize) = (t.12, t.13, t.14);
    RunAccess {
        prompt: prompt_row((t.0, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8, t.9, t.10, t.11)),
        reaches: grants == 0 || granted > 0,
        auto_finalize: auto_finalize.map(|v| v != 0),
    }
}

/// The prompt, the key's grants on it and the user's auto-finalize default in one statement:
/// every round trip before the provider call adds to the run's time to first token.
pub async fn run_access<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
    key_id: &str,
    user_id: &str,
) -> StoreResult<Option<RunAccess>> {
    let row: Option<RunAccessTuple> = sqlx::query_as(sql(run_access_sql()))
        .bind(prompt_id)
        .bind(key_id)
        .bind(user_id)
        .fetch_optional(e)
        .await?;
    Ok(row.map(run_access_of))
}

/// A page of a user's live prompts, newest first, after `after_id`; when `restricted_to_key` is
/// given, only the prompts granted to that key.
pub async fn list_prompts<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
    restricted_to_key: Option<&str>,
    after_id: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<PromptListRow>> {
    let rows: Vec<sqlx::any::AnyRow> = sqlx::query(sql(format!(
        "SELECT {PROMPT_COLUMNS}, v.model_settings, v.description FROM prompts p \
         LEFT JOIN prompt_versions v ON v.id = p.current_version_id AND v.deleted_at IS NULL \
         WHERE p.user_id = $1 AND p.deleted_at IS NULL \
           AND ($2 IS NULL OR p.id IN (SELECT prompt_id FROM key_grants WHERE key_id = $2)) \
           AND ($3 IS NULL OR p.id < $3) \
         ORDER BY p.id DESC LIMIT $4"
    )))
    .bind(user_id)
    .bind(restricted_to_key)
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            use sqlx::{FromRow, Row};
            Ok(PromptListRow {
                prompt: prompt_row(PromptTuple::from_row(r)?),
                model_settings: r.try_get("model_settings")?,
                description: r.try_get("description")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

pub async fn insert_prompt<'e>(
    e: impl Executor<'e, Database = Any>,
    p: &PromptRow,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO prompts (id, user_id, name, abbreviation, current_version_id, expose_as_mcp_tool, mcp_tool_name, \
         attachment_count, attachment_bytes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $9)",
    )
    .bind(&p.id)
    .bind(&p.user_id)
    .bind(&p.name)
    .bind(&p.abbreviation)
    .bind(&p.current_version_id)
    .bind(i64::from(p.expose_as_mcp_tool))
    .bind(&p.mcp_tool_name)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(e)
    .await?;
    Ok(())
}

/// Writes the prompt's mutable fields.
pub async fn update_prompt<'e>(
    e: impl Executor<'e, Database = Any>,
    p: &PromptRow,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE prompts SET name = $1, abbreviation = $2, current_version_id = $3, expose_as_mcp_tool = $4, \
         mcp_tool_name = $5, updated_at = $6, deleted_at = $7 WHERE id = $8",
    )
    .bind(&p.name)
    .bind(&p.abbreviation)
    .bind(&p.current_version_id)
    .bind(i64::from(p.expose_as_mcp_tool))
    .bind(&p.mcp_tool_name)
    .bind(p.updated_at)
    .bind(p.deleted_at)
    .bind(&p.id)
    .execute(e)
    .await?;
    Ok(())
}

/// Locks the prompt row for the rest of the transaction (PostgreSQL takes a row lock on update;
/// SQLite has one writer) and returns it.
pub async fn lock_prompt(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> StoreResult<Option<PromptRow>> {
    sqlx::query("UPDATE prompts SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    prompt(&mut *conn, id).await
}

pub async fn version<'e>(
    e: impl Executor<'e, Database = Any>,
    id: &str,
) -> StoreResult<Option<VersionRow>> {
    let row: Option<VersionTuple> = sqlx::query_as(sql(format!(
        "SELECT {VERSION_COLUMNS} FROM prompt_versions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(e)
    .await?;
    Ok(row.map(version_row))
}

fn version_for_run_sql() -> String {
    format!(
        "SELECT {VERSION_COLUMNS} FROM prompt_versions \
         WHERE id = COALESCE($1, (SELECT current_version_id FROM prompts WHERE id = $2))"
    )
}

/// The version a run of `prompt_id` uses: `id` when given, else the prompt's current version. One
/// statement that does not need the prompt row first, so a run reads both side by side.
pub async fn version_for_run<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
    id: Option<&str>,
) -> StoreResult<Option<VersionRow>> {
    let row: Option<VersionTuple> = sqlx::query_as(sql(version_for_run_sql()))
        .bind(id)
        .bind(prompt_id)
        .fetch_optional(e)
        .await?;
    Ok(row.map(version_row))
}

/// What a run reads before its provider call: [`run_access`] and [`version_for_run`]. On SQLite
/// both are read on the calling thread (see `inline.rs`); on PostgreSQL, side by side.
pub async fn run_reads(
    store: &Store,
    prompt_id: &str,
    key_id: &str,
    user_id: &str,
    version_id: Option<&str>,
) -> StoreResult<(Option<RunAccess>, Option<VersionRow>)> {
    let Some(inline) = store.inline() else {
        return tokio::try_join!(
            run_access(store.reader(), prompt_id, key_id, user_id),
            version_for_run(store.reader(), prompt_id, version_id),
        );
    };
    inline.read(|conn| {
        let access = conn
            .prepare_cached(&run_access_sql())?
            .query_row(
                rusqlite::named_params! {"$1": prompt_id, "$2": key_id, "$3": user_id},
                |r| RunAccessTuple::try_from(r).map(run_access_of),
            )
            .optional()?;
        let version = conn
            .prepare_cached(&version_for_run_sql())?
            .query_row(
                rusqlite::named_params! {"$1": version_id, "$2": prompt_id},
                |r| VersionTuple::try_from(r).map(version_row),
            )
            .optional()?;
        Ok((access, version))
    })
}

/// A page of a prompt's live versions, highest number first, below `before_number`.
pub async fn list_versions<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
    before_number: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<VersionRow>> {
    let rows: Vec<VersionTuple> = sqlx::query_as(sql(format!(
        "SELECT {VERSION_COLUMNS} FROM prompt_versions WHERE prompt_id = $1 AND deleted_at IS NULL \
         AND ($2 IS NULL OR version_number < $2) ORDER BY version_number DESC LIMIT $3"
    )))
    .bind(prompt_id)
    .bind(before_number)
    .bind(i64::from(limit))
    .fetch_all(e)
    .await?;
    Ok(rows.into_iter().map(version_row).collect())
}

/// Inserts a version numbered one above every version the prompt ever had (deleted ones too, so
/// numbers are never reused). Two concurrent inserts may pick the same number; the loser gets
/// `StoreError::Constraint("prompt_versions_number_key")` and retries.
pub async fn insert_version(conn: &mut sqlx::AnyConnection, v: &mut VersionRow) -> StoreResult<()> {
    let (next,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(MAX(version_number), 0) + 1 FROM prompt_versions WHERE prompt_id = $1",
    )
    .bind(&v.prompt_id)
    .fetch_one(&mut *conn)
    .await?;
    v.version_number = next;
    sqlx::query(sql(format!(
        "INSERT INTO prompt_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )))
    .bind(&v.id)
    .bind(&v.prompt_id)
    .bind(v.version_number)
    .bind(&v.prompt_text)
    .bind(&v.model_settings)
    .bind(&v.version_description)
    .bind(&v.description)
    .bind(v.description_mode)
    .bind(v.description_gen)
    .bind(v.created_at)
    .bind(v.updated_at)
    .bind(v.deleted_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        e if e.is_constraint("prompt_versions_number_key") || e.is_constraint("version_number") => {
            StoreError::Constraint("prompt_versions_number_key".into())
        }
        e => e,
    })?;
    Ok(())
}

pub async fn update_version<'e>(
    e: impl Executor<'e, Database = Any>,
    v: &VersionRow,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE prompt_versions SET prompt_text = $1, model_settings = $2, version_description = $3, description = $4, \
         description_mode = $5, description_gen = $6, updated_at = $7, deleted_at = $8 WHERE id = $9",
    )
    .bind(&v.prompt_text)
    .bind(&v.model_settings)
    .bind(&v.version_description)
    .bind(&v.description)
    .bind(v.description_mode)
    .bind(v.description_gen)
    .bind(v.updated_at)
    .bind(v.deleted_at)
    .bind(&v.id)
    .execute(e)
    .await?;
    Ok(())
}

/// The lowest-numbered live version of a prompt other than `except`.
pub async fn lowest_live_version<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
    except: &str,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM prompt_versions WHERE prompt_id = $1 AND deleted_at IS NULL AND id <> $2 \
         ORDER BY version_number ASC LIMIT 1",
    )
    .bind(prompt_id)
    .bind(except)
    .fetch_optional(e)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Writes a describer's result only if the version is still in Auto mode at `generation`.
pub async fn set_auto_description<'e>(
    e: impl Executor<'e, Database = Any>,
    version_id: &str,
    generation: i64,
    description: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE prompt_versions SET description = $1 WHERE id = $2 AND description_gen = $3 AND description_mode = 0 \
         AND deleted_at IS NULL",
    )
    .bind(description)
    .bind(version_id)
    .bind(generation)
    .execute(e)
    .await?;
    Ok(done.rows_affected() == 1)
}
