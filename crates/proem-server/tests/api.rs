//! HTTP tests through a real server on 127.0.0.1:0 with a real database (SQLite by default,
//! PostgreSQL when `PROEM_TEST_DATABASE_URL` is set). One binary, a module per area.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

mod api {
    mod attachments;
    mod authentication;
    mod authoring;
    mod caps;
    mod contract_audit_activity;
    mod contract_concurrency;
    mod contract_cursors;
    mod contract_grants;
    mod contract_idempotency;
    mod contract_keys;
    mod contract_matrix;
    mod contract_rate_limits;
    mod contract_scopes;
    mod contract_support;
    mod contract_writes;
    mod describer;
    mod description_modes;
    mod foundation;
    mod model_settings;
    mod models;
    mod openapi;
    mod prompts;
    mod records;
    mod records_lifecycle;
    mod records_patch;
    mod run_edges;
    mod run_images;
    mod run_start;
    mod run_stream;
    mod run_support;
    mod runs;
    mod support;
    mod upkeep;
    mod versions;
}
