//! Rate limits: per-minute fixed windows, one bucket per key and one per user for each class
//! (spec "Rate limits"). A request takes a slot from both buckets in one transaction, or from
//! neither, so with a limit of L exactly L requests pass per window however many race, on any
//! number of instances sharing the database.

use proem_api::scope::Scope;

use crate::config::RateLimitConfig;

pub const WINDOW_MS: i64 = 60_000;

/// Which pair of buckets a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    Read,
    Execute,
    Write,
}

impl RateClass {
    /// The class of a route needing `scope`.
    pub fn of(scope: Scope) -> Self {
        match scope {
            Scope::Read => RateClass::Read,
            Scope::Execute => RateClass::Execute,
            Scope::Write => RateClass::Write,
        }
    }
}

/// Per-key and per-user limits for one class, and the bucket name they count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub bucket: &'static str,
    pub per_key: u32,
    pub per_user: u32,
}

impl RateLimitConfig {
    /// The limits for `class`. Writes share the read buckets unless write limits are configured.
    pub fn limits(&self, class: RateClass) -> Limits {
        let read = Limits {
            bucket: "read",
            per_key: self.read_per_key,
            per_user: self.read_per_user,
        };
        match class {
            RateClass::Read => read,
            RateClass::Execute => Limits {
                bucket: "execute",
                per_key: self.execute_per_key,
                per_user: self.execute_per_user,
            },
            RateClass::Write => match (self.write_per_key, self.write_per_user) {
                (None, None) => read,
                (k, u) => Limits {
                    bucket: "write",
                    per_key: k.unwrap_or(self.read_per_key),
                    per_user: u.unwrap_or(self.read_per_user),
                },
            },
        }
    }
}

/// The outcome of taking a slot, with what the headers report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Which bucket refused, when one did.
    pub overflowed: Option<Overflow>,
    pub limits: Limits,
    pub key_remaining: u32,
    pub user_remaining: u32,
    /// End of the current window, epoch milliseconds.
    pub reset_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Key,
    User,
}

impl Decision {
    /// The `rate_limited` refusal when a bucket overflowed, naming which one; `None` when allowed.
    pub fn refusal(&self, now_ms: i64) -> Option<crate::Rejection> {
        let which = match self.overflowed? {
            Overflow::User => "user",
            Overflow::Key => "key",
        };
        Some(crate::Rejection::new(
            proem_api::ReasonCode::RateLimited,
            format!(
                "The per-{which} {} bucket is full for this minute; retry in {} s.",
                self.limits.bucket,
                self.retry_after_secs(now_ms)
            ),
        ))
    }

    /// Seconds until the window resets, at least 1.
    pub fn retry_after_secs(&self, now_ms: i64) -> i64 {
        ((self.reset_at_ms - now_ms + 999) / 1000).max(1)
    }
}

/// Start of the window containing `now_ms`.
pub fn window_start(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(WINDOW_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_counts_as_read_unless_configured() {
        let mut config = RateLimitConfig::default();
        assert_eq!(
            config.limits(RateClass::Write),
            config.limits(RateClass::Read)
        );
        config.write_per_key = Some(5);
        let write = config.limits(RateClass::Write);
        assert_eq!(
            (write.bucket, write.per_key, write.per_user),
            ("write", 5, 300)
        );
    }

    #[test]
    fn spec_defaults_are_60_300_and_30_90() {
        let config = RateLimitConfig::default();
        let read = config.limits(RateClass::Read);
        let exec = config.limits(RateClass::Execute);
        assert_eq!((read.per_key, read.per_user), (60, 300));
        assert_eq!((exec.per_key, exec.per_user), (30, 90));
    }

    #[test]
    fn windows_are_aligned_minutes() {
        assert_eq!(window_start(120_001), 120_000);
        assert_eq!(window_start(179_999), 120_000);
    }
}
