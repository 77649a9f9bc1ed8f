//! Rate limits: per-minute fixed windows, one bucket per key and one per user for each class
//! (spec "Rate limits"). A request takes a slot from both buckets or from neither, so with a
//! limit of L exactly L requests pass per window however many race.
//!
//! Where the windows live follows the deployment shape (ARCHITECTURE.md): the embedded shape is
//! one `proem serve` on a SQLite file, so its windows are [`LocalWindows`] in that process and a
//! request's slot costs no database round trip; instances sharing PostgreSQL count in the
//! database (`store::ratelimit`), exact across all of them.

use std::collections::HashMap;
use std::sync::Mutex;

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

/// One request's claim on its key's and its user's bucket in the window starting at `start`:
/// what both ways of keeping windows ([`LocalWindows`], the database's) are asked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claim<'a> {
    pub key_bucket: &'a str,
    pub user_bucket: &'a str,
    pub start: i64,
    pub per_key: i64,
    pub per_user: i64,
}

/// How many slots each bucket has used after a take: both taken, or the refusing bucket at its
/// limit and the other untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    pub key_used: i64,
    pub user_used: i64,
    pub overflowed: Option<Overflow>,
}

/// Rate windows held in this process: bucket name → (window start, slots used). A bucket holds
/// only its current window; [`LocalWindows::sweep`] drops buckets idle since the previous one.
/// Windows start afresh when the process restarts.
#[derive(Debug, Default)]
pub struct LocalWindows {
    buckets: Mutex<HashMap<String, (i64, i64)>>,
}

impl LocalWindows {
    /// Takes a slot from both of the claim's buckets, or from neither.
    pub(crate) fn take(&self, claim: Claim<'_>) -> Taken {
        let Claim {
            key_bucket,
            user_bucket,
            start,
            per_key,
            per_user,
        } = claim;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let used = |buckets: &HashMap<String, (i64, i64)>, name: &str| match buckets.get(name) {
            Some(&(window, count)) if window == start => count,
            _ => 0,
        };
        let (key_used, user_used) = (used(&buckets, key_bucket), used(&buckets, user_bucket));
        let overflowed = if key_used >= per_key {
            Some(Overflow::Key)
        } else if user_used >= per_user {
            Some(Overflow::User)
        } else {
            None
        };
        match overflowed {
            Some(Overflow::Key) => Taken {
                key_used: per_key,
                user_used,
                overflowed,
            },
            Some(Overflow::User) => Taken {
                key_used,
                user_used: per_user,
                overflowed,
            },
            None => {
                buckets.insert(key_bucket.to_owned(), (start, key_used + 1));
                buckets.insert(user_bucket.to_owned(), (start, user_used + 1));
                Taken {
                    key_used: key_used + 1,
                    user_used: user_used + 1,
                    overflowed: None,
                }
            }
        }
    }

    /// Drops buckets whose window ended before the previous one; returns how many.
    pub(crate) fn sweep(&self, now_ms: i64) -> u64 {
        let cutoff = window_start(now_ms) - WINDOW_MS;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = buckets.len();
        buckets.retain(|_, (window, _)| *window >= cutoff);
        (before - buckets.len()) as u64
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

    fn claim<'a>(
        key: &'a str,
        user: &'a str,
        start: i64,
        per_key: i64,
        per_user: i64,
    ) -> Claim<'a> {
        Claim {
            key_bucket: key,
            user_bucket: user,
            start,
            per_key,
            per_user,
        }
    }

    #[test]
    fn local_windows_take_from_both_buckets_or_neither() {
        let w = LocalWindows::default();
        let take = |k: &str, u: &str| w.take(claim(k, u, 0, 2, 3));
        assert_eq!(take("k1", "u").overflowed, None);
        assert_eq!(take("k1", "u").overflowed, None);
        // The key is full: refused, and the user's bucket is not charged.
        let refused = take("k1", "u");
        assert_eq!(
            (refused.key_used, refused.user_used, refused.overflowed),
            (2, 2, Some(Overflow::Key))
        );
        assert_eq!(take("k2", "u").overflowed, None);
        // The user is full: refused, and k3's bucket is not charged.
        let refused = take("k3", "u");
        assert_eq!(
            (refused.key_used, refused.user_used, refused.overflowed),
            (0, 3, Some(Overflow::User))
        );
        assert_eq!(w.take(claim("k3", "other", 0, 2, 3)).key_used, 1);
    }

    #[test]
    fn local_windows_start_afresh_each_minute_and_sweep_idle_buckets() {
        let w = LocalWindows::default();
        assert_eq!(w.take(claim("k", "u", 0, 1, 1)).overflowed, None);
        assert_eq!(
            w.take(claim("k", "u", 0, 1, 1)).overflowed,
            Some(Overflow::Key)
        );
        assert_eq!(w.take(claim("k", "u", WINDOW_MS, 1, 1)).overflowed, None);
        assert_eq!(w.take(claim("idle", "idle-user", 0, 1, 1)).overflowed, None);
        // At the third minute, windows of the first are dropped; the second's are kept.
        assert_eq!(w.sweep(2 * WINDOW_MS), 2);
        assert_eq!(
            w.take(claim("k", "u", WINDOW_MS, 1, 1)).overflowed,
            Some(Overflow::Key)
        );
    }

    #[test]
    fn local_windows_are_exact_under_contention() {
        let w = std::sync::Arc::new(LocalWindows::default());
        let admitted = std::sync::atomic::AtomicI64::new(0);
        std::thread::scope(|scope| {
            for t in 0..8 {
                let (w, admitted) = (w.clone(), &admitted);
                scope.spawn(move || {
                    for _ in 0..100 {
                        let key = format!("k{}", t % 2);
                        if w.take(claim(&key, "u", 0, 30, 45)).overflowed.is_none() {
                            admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // Two keys of 30 under a user bucket of 45: the user's limit binds.
        assert_eq!(admitted.into_inner(), 45);
    }

    #[test]
    fn windows_are_aligned_minutes() {
        assert_eq!(window_start(120_001), 120_000);
        assert_eq!(window_start(179_999), 120_000);
    }
}
