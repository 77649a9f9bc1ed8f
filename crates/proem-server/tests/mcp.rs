//! The MCP door through a real server on 127.0.0.1:0: an rmcp client over Streamable HTTP for
//! the tools, scopes, grants and reason codes, and raw HTTP for the transport's edges (auth
//! challenge, session binding, Origin checks, durable results). SQLite by default, PostgreSQL when
//! `PROEM_TEST_DATABASE_URL` is set.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

mod mcp {
    mod access;
    mod authoring;
    mod images;
    mod records;
    mod runs;
    mod support;
    mod synthesized;
    mod transport;
}
