//! The clock every rule that involves time reads. Injected so tests can move time forward
//! (key expiry, idempotency TTLs, rate windows) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time in epoch milliseconds, plus an offset that only tests move.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        wall + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Formats epoch milliseconds as the spec's `*AtUtc` form: ISO 8601 UTC with a `Z` suffix.
pub fn to_utc_string(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_strings_end_in_z() {
        assert_eq!(to_utc_string(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(to_utc_string(1_746_201_600_123), "2025-05-02T16:00:00.123Z");
    }

    #[test]
    fn advancing_a_clone_moves_every_clone() {
        let a = Clock::system();
        let b = a.clone();
        let before = b.now_ms();
        a.advance(Duration::from_secs(3600));
        assert!(b.now_ms() - before >= 3_600_000);
    }
}
