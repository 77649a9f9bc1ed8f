//! A fresh, migrated database per test.

use proem_core::{Clock, Store};
use sqlx::{AnyConnection, Connection, Executor};

/// Environment variable naming a PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const PG_ENV: &str = "PROEM_TEST_DATABASE_URL";

/// A database that exists for one test: a SQLite file in a temp dir, or a new PostgreSQL
/// database that is dropped when this value is.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) {
            None => Self {
                url: format!("sqlite://{}", dir.path().join("proem.db").display()),
                dir,
                pg: None,
            },
            Some(admin_url) => {
                let name = format!("proem_t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = AnyConnection::connect(&admin_url)
                    .await
                    .expect("connect to PROEM_TEST_DATABASE_URL");
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                Self {
                    url: replace_database(&admin_url, &name),
                    dir,
                    pg: Some((admin_url, name)),
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Every value of every row of `table`, as text (bytes decoded lossily), so a test can search
    /// what is stored for something that must never be there.
    pub async fn table_text(&self, table: &str) -> String {
        use sqlx::Row;
        let mut conn = AnyConnection::connect(&self.url)
            .await
            .expect("connect test db");
        let sql = format!("SELECT * FROM {table}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .expect("read table");
        let mut out = String::new();
        for row in &rows {
            for i in 0..row.columns().len() {
                let value = row
                    .try_get::<Option<String>, _>(i)
                    .map(Option::unwrap_or_default)
                    .or_else(|_| {
                        row.try_get::<Option<i64>, _>(i)
                            .map(|v| v.map(|v| v.to_string()).unwrap_or_default())
                    })
                    .or_else(|_| {
                        row.try_get::<Option<Vec<u8>>, _>(i)
                            .map(|v| String::from_utf8_lossy(&v.unwrap_or_default()).into_owned())
                    })
                    .expect("a text, integer or bytes column");
                out.push_str(&value);
                out.push('\t');
            }
            out.push('\n');
        }
        let _ = conn.close().await;
        out
    }

    /// A migrated store on this database.
    pub async fn store(&self, clock: Clock) -> Store {
        let store = Store::connect(&self.url, clock)
            .await
            .expect("connect test db");
        store.migrate().await.expect("migrate test db");
        store
    }
}

/// `postgres://u@h:5432/postgres?x=y` with its database replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Drop runs outside async context (or inside a runtime that is shutting down), so the
        // cleanup gets a thread and a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = AnyConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            replace_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
