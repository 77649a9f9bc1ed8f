//! The store suite. Each test gets a fresh database: SQLite by default, PostgreSQL when
//! `PROEM_TEST_DATABASE_URL` is set. Same tests, same assertions, both backends.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

mod store {
    mod jobs;
    mod keys;
    mod migrations;
    mod users;
}
