//! Middleware every request passes through, outermost first: request id, metrics, panic guard,
//! timeout; and for `/api`, authentication.

pub mod auth;
pub mod observe;
pub mod timeout;
