//! HTTP tests through a real server on 127.0.0.1:0 with a real database (SQLite by default,
//! PostgreSQL when `PROEM_TEST_DATABASE_URL` is set). One binary, a module per area.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

mod api {
    mod attachments;
    mod authentication;
    mod foundation;
    mod support;
}
