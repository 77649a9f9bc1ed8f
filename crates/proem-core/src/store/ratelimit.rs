//! Rate-limit windows in the database, shared by every instance.

use super::{Store, StoreResult};
use crate::ratelimit::{Decision, Limits, Overflow, WINDOW_MS, window_start};

/// Takes a slot only while the bucket has room: one atomic statement, no transaction, so it
/// costs one round trip. Returns the new count, or no row when the bucket is full.
const TAKE_IF_ROOM: &str = "INSERT INTO rate_windows (bucket, window_start, count) \
     VALUES ($1, $2, 1) ON CONFLICT (bucket, window_start) \
     DO UPDATE SET count = rate_windows.count + 1 WHERE rate_windows.count < $3 RETURNING count";

const GIVE_BACK: &str =
    "UPDATE rate_windows SET count = count - 1 WHERE bucket = $1 AND window_start = $2";

const COUNT: &str = "SELECT count FROM rate_windows WHERE bucket = $1 AND window_start = $2";

impl Store {
    /// Takes one slot from the key's and the user's bucket for `limits`, both or neither.
    ///
    /// Each bucket is taken by a conditional upsert that never passes its limit, so with a limit
    /// of L exactly L requests pass per window however many race, on any number of instances.
    /// The key's bucket goes first; when the user's is then full, the key's slot is given back.
    /// Between the two statements the key's count is one high, which can only refuse another
    /// request of the same user, which the full user bucket refuses anyway for the rest of the
    /// window: the refusal consumes nothing. Two round trips instead of a four-statement
    /// transaction, since this runs before every request.
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
        let decision = |overflowed: Option<Overflow>, key_used: i64, user_used: i64| {
            let remaining = |limit: u32, used: i64| {
                u32::try_from((i64::from(limit) - used).max(0)).unwrap_or(0)
            };
            Decision {
                allowed: overflowed.is_none(),
                overflowed,
                limits,
                key_remaining: remaining(limits.per_key, key_used),
                user_remaining: remaining(limits.per_user, user_used),
                reset_at_ms: start + WINDOW_MS,
            }
        };
        let Some(key_used) = self
            .take_if_room(&key_bucket, start, limits.per_key)
            .await?
        else {
            let user_used = self.window_count(&user_bucket, start).await?;
            return Ok(decision(
                Some(Overflow::Key),
                i64::from(limits.per_key),
                user_used,
            ));
        };
        let Some(user_used) = self
            .take_if_room(&user_bucket, start, limits.per_user)
            .await?
        else {
            sqlx::query(GIVE_BACK)
                .bind(&key_bucket)
                .bind(start)
                .execute(self.writer())
                .await?;
            return Ok(decision(
                Some(Overflow::User),
                key_used - 1,
                i64::from(limits.per_user),
            ));
        };
        Ok(decision(None, key_used, user_used))
    }

    /// The bucket's count after taking a slot, or `None` when it is full.
    async fn take_if_room(&self, bucket: &str, start: i64, limit: u32) -> StoreResult<Option<i64>> {
        if limit == 0 {
            return Ok(None);
        }
        let row: Option<(i64,)> = sqlx::query_as(TAKE_IF_ROOM)
            .bind(bucket)
            .bind(start)
            .bind(i64::from(limit))
            .fetch_optional(self.writer())
            .await?;
        Ok(row.map(|(count,)| count))
    }

    async fn window_count(&self, bucket: &str, start: i64) -> StoreResult<i64> {
        let row: Option<(i64,)> = sqlx::query_as(COUNT)
            .bind(bucket)
            .bind(start)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map_or(0, |(count,)| count))
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
