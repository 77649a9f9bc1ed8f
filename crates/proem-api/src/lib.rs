//! Wire types shared by the Proem server, the CLI and the tests: reason codes, the problem document,
//! scope names and the DTOs of the agent API. Serde only, no IO.

pub mod attachments;
pub mod mcp;
pub mod me;
pub mod models;
pub mod patch;
pub mod problem;
pub mod prompts;
pub mod reason;
pub mod records;
pub mod scope;

pub use problem::{InvalidParam, Problem};
pub use reason::ReasonCode;
pub use scope::Scope;
