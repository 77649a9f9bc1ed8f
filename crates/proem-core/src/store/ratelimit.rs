//! Rate-limit windows in the database, shared by every instance.

use super::{Store, StoreResult};
use crate::ratelimit::{Decision, Limits, Overflow, WINDOW_MS, window_start};

const TAKE: &str = "INSERT INTO rate_windows (bucket, window_start, count) VALUES ($1, $2, 1) \
     ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_windows.count + 1 RETURNING count";

impl Store {
    /// Takes one slot from the key's and the user's bucket for `limits`, both or neither. The key
    /// row is always locked before the user row, so concurrent takers cannot deadlock.
    pub async fn take_rate_slot(
        &self,
        key_id: &str,
        user_id: &str,
        limits: Limits,
    ) -> StoreResult<Decision> {
        let now = self.now_ms();
        let start = window_start(now);
        let key_bucket = format!("key:{key_id}:{}", limits.bucket);
        let user_bucket = format!("user:{user_id}:{}", limits.bucket);
        let mut tx = self.writer().begin().await?;
        let (key_count,): (i64,) = sqlx::query_as(TAKE)
            .bind(&key_bucket)
            .bind(start)
            .fetch_one(&mut *tx)
            .await?;
        let (user_count,): (i64,) = sqlx::query_as(TAKE)
            .bind(&user_bucket)
            .bind(start)
            .fetch_one(&mut *tx)
            .await?;
        let overflowed = if key_count > i64::from(limits.per_key) {
            Some(Overflow::Key)
        } else if user_count > i64::from(limits.per_user) {
            Some(Overflow::User)
        } else {
            None
        };
        let (key_used, user_used) = if overflowed.is_none() {
            tx.commit().await?;
            (key_count, user_count)
        } else {
            // A refused request consumes nothing.
            tx.rollback().await?;
            (key_count - 1, user_count - 1)
        };
        let remaining =
            |limit: u32, used: i64| u32::try_from((i64::from(limit) - used).max(0)).unwrap_or(0);
        Ok(Decision {
            allowed: overflowed.is_none(),
            overflowed,
            limits,
            key_remaining: remaining(limits.per_key, key_used),
            user_remaining: remaining(limits.per_user, user_used),
            reset_at_ms: start + WINDOW_MS,
        })
    }

    /// Deletes windows that ended before the previous one; returns how many.
    pub async fn sweep_rate_windows(&self) -> StoreResult<u64> {
        let cutoff = window_start(self.now_ms()) - WINDOW_MS;
        let done = sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
            .bind(cutoff)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
