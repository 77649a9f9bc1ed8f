//! The Proem engine: domain rules and invariants, the services that orchestrate them, the SQL
//! store (one SQL dialect over SQLite and PostgreSQL) and the blob store.

pub mod access;
pub mod attachments;
pub mod auth;
pub mod blob;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod cursor;
pub mod describer;
pub mod engine;
pub mod error;
pub mod ids;
pub mod keys;
pub mod mcp;
pub mod prompts;
pub mod ratelimit;
pub mod records;
pub mod runs;
pub mod secret;
pub mod store;
pub mod txn;
pub mod versions;

pub use clock::Clock;
pub use config::Config;
pub use engine::Engine;
pub use error::{Error, Rejection};
pub use store::Store;
