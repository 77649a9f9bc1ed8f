//! The `proem` API client driven as a person or a script would: the real binary against a real
//! server on a random port whose model provider is the fake upstream. One test binary; the
//! modules group the behaviours of the issue: the walkthrough, authentication, output for people
//! and machines, error paths and exit codes, retries, the terminal, and the README walkthrough.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

mod client {
    pub mod auth;
    pub mod commands;
    pub mod errors;
    pub mod images;
    pub mod readme;
    pub mod retries;
    pub mod support;
    pub mod terminal;
    pub mod walkthrough;
}
