//! Object ids: UUIDv7 (time-ordered, so keyset pagination by id follows creation order) with a
//! type prefix that tells a reader what the id names.

use uuid::Uuid;

pub const USER: &str = "usr";
pub const KEY: &str = "key";
pub const PROMPT: &str = "prm";
pub const VERSION: &str = "ver";
pub const ATTACHMENT: &str = "att";
pub const RUN: &str = "run";
pub const RECORD: &str = "rec";
pub const USAGE: &str = "use";
pub const ISSUE: &str = "iss";
pub const REQUEST: &str = "req";

/// A fresh id such as `usr_0193c9f0a1b27c3d8e4f5a6b7c8d9e0f`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}
