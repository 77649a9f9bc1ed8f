//! Embedded migrations, applied in order at start and by `proem migrate`. Written once in the
//! portable dialect; statements are separated by a `;` at the end of a line. Safe when several
//! processes start at once: the run holds an advisory lock on PostgreSQL, and each migration
//! runs in a `BEGIN IMMEDIATE` transaction on SQLite, and re-checks whether it was applied meanwhile.

use sqlx::{Acquire, Executor};

use super::{Backend, Store, StoreError, StoreResult};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "users_and_keys",
        sql: include_str!("migrations/0001_users_and_keys.sql"),
    },
    Migration {
        version: 2,
        name: "contract",
        sql: include_str!("migrations/0002_contract.sql"),
    },
    Migration {
        version: 3,
        name: "prompts",
        sql: include_str!("migrations/0003_prompts.sql"),
    },
    Migration {
        version: 4,
        name: "runs",
        sql: include_str!("migrations/0004_runs.sql"),
    },
    Migration {
        version: 5,
        name: "mcp",
        sql: include_str!("migrations/0005_mcp.sql"),
    },
    Migration {
        version: 6,
        name: "images_and_finalize_scope",
        sql: include_str!("migrations/0006_images.sql"),
    },
    Migration {
        version: 7,
        name: "manual_payload_hash",
        sql: include_str!("migrations/0007_manual_payload_hash.sql"),
    },
];

/// Advisory-lock id that serializes migrations across PostgreSQL instances.
const MIGRATION_LOCK: i64 = 0x7072_6f65_6d01;

impl Store {
    /// Applies every migration not yet applied; returns how many ran.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let mut conn = self.writer().acquire().await?;
        if self.backend() == Backend::Postgres {
            // Even `CREATE TABLE IF NOT EXISTS` races between sessions on PostgreSQL; the whole
            // run holds a session-level lock, released below or when the connection closes.
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let result = self.migrate_locked(&mut conn).await;
        if self.backend() == Backend::Postgres {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await;
        }
        result
    }

    async fn migrate_locked(&self, conn: &mut sqlx::AnyConnection) -> StoreResult<usize> {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS proem_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let mut applied = 0;
        for m in MIGRATIONS {
            let begin = match self.backend() {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                Backend::Postgres => "BEGIN",
            };
            let conn = conn.acquire().await?;
            conn.execute(begin).await?;
            let outcome = apply(conn, m, self.now_ms()).await;
            match outcome {
                Ok(ran) => {
                    conn.execute("COMMIT").await?;
                    applied += usize::from(ran);
                }
                Err(e) => {
                    let _ = conn.execute("ROLLBACK").await;
                    return Err(e);
                }
            }
        }
        Ok(applied)
    }

    /// The highest applied migration version.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        let (v,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM proem_migrations")
            .fetch_one(self.reader())
            .await?;
        Ok(v)
    }
}

async fn apply(conn: &mut sqlx::AnyConnection, m: &Migration, now: i64) -> StoreResult<bool> {
    let done: Option<(i64,)> =
        sqlx::query_as("SELECT version FROM proem_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *conn)
            .await?;
    if done.is_some() {
        return Ok(false);
    }
    for statement in statements(m.sql) {
        conn.execute(sqlx::AssertSqlSafe(statement))
            .await
            .map_err(|e| StoreError::Migration(format!("{} ({}): {e}", m.version, m.name)))?;
    }
    sqlx::query("INSERT INTO proem_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
        .bind(m.version)
        .bind(m.name)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    tracing::info!(
        migration.version = m.version,
        migration.name = m.name,
        "applied migration"
    );
    Ok(true)
}

/// Splits a migration file into statements, dropping `--` comment lines.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            out.push(current.trim().trim_end_matches(';').to_owned());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_on_line_ending_semicolons() {
        let sql = "-- comment\nCREATE TABLE a (x BIGINT);\n\nCREATE INDEX i ON a\n  (x);\n";
        assert_eq!(
            statements(sql),
            vec!["CREATE TABLE a (x BIGINT)", "CREATE INDEX i ON a\n  (x)"]
        );
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
    }
}
