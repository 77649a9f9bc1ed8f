//! Test support shared by every crate's integration tests: a fresh database per test and a real
//! server on a random port. Tests run against SQLite by default and against PostgreSQL when
//! `PROEM_TEST_DATABASE_URL` is set (one new database per test, dropped afterwards).

#![expect(
    clippy::expect_used,
    reason = "test support: a failed setup should stop the test loudly"
)]

mod db;
mod memory;
mod server;
mod upstream;

pub use db::TestDb;
pub use memory::mapped_bytes;
pub use server::{Instance, TEST_MODEL, TEST_PROVIDER, TestServer, test_model_id, test_providers};
pub use upstream::{FakeUpstream, FakeUsage, RecordedRequest, Scenario, SentFrame};
