//! Middleware every request passes through, outermost first: request id, metrics, panic guard,
//! timeout; for `/api`, authentication; and per route, the gate (rate limit, scope, idempotency,
//! audit, activity).

pub mod auth;
pub mod guard;
pub mod idempotency;
pub mod observe;
pub mod timeout;
