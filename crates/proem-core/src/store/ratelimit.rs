//! Rate-limit windows: in this process on SQLite (the embedded shape), in the database on
//! PostgreSQL, shared by every instance (see `crate::ratelimit`).

use super::{Store, StoreResult};
use crate::ratelimit::{Claim, Decision, Limits, Overflow, Taken, WINDOW_MS, window_start};

/// Takes a slot from each of the two buckets that has room, in one atomic statement: one round
/// trip before every request. Returns a row for each bucket it took from.
const TAKE_IF_ROOM: &str = "INSERT INTO rate_windows (bucket, window_start, count) \
     VALUES ($1, $3, 1), ($2, $3, 1) ON CONFLICT (bucket, window_start) \
     DO UPDATE SET count = rate_windows.count + 1 \
     WHERE rate_windows.count < CASE WHEN rate_windows.bucket = $1 THEN $4 ELSE $5 END \
     RETURNING bucket, count";

const GIVE_BACK: &str =
    "UPDATE rate_windows SET count = count - 1 WHERE bucket = $1 AND window_start = $2";

const COUNT: &str = "SELECT count FROM rate_windows WHERE bucket = $1 AND window_start = $2";

impl Store {
    /// Takes one slot from the key's and the user's bucket for `limits`, both or neither.
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
        let (per_key, per_user) = (i64::from(limits.per_key), i64::from(limits.per_user));
        let claim = Claim {
            key_bucket: &key_bucket,
            user_bucket: &user_bucket,
            start,
            per_key,
            per_user,
        };
        let taken = match &self.local_windows {
            Some(windows) => windows.take(claim),
            None => self.take_shared(claim).await?,
        };
        let remaining = |limit: i64, used: i64| u32::try_from((limit - used).max(0)).unwrap_or(0);
        Ok(Decision {
            allowed: taken.overflowed.is_none(),
            overflowed: taken.overflowed,
            limits,
            key_remaining: remaining(per_key, taken.key_used),
            user_remaining: remaining(per_user, taken.user_used),
            reset_at_ms: start + WINDOW_MS,
        })
    }

    /// The database's windows: one conditional upsert takes from each bucket that has room and
    /// never passes a limit, so exactly L requests pass per window however many race, on any
    /// number of instances. When only one bucket had room, its slot is given back: a refusal
    /// consumes nothing. Until then that bucket reads one high, so a request racing it on the
    /// same bucket, at its last free slot, may be refused; never is one admitted past a limit.
    async fn take_shared(&self, claim: Claim<'_>) -> StoreResult<Taken> {
        let Claim {
            key_bucket,
            user_bucket,
            start,
            per_key,
            per_user,
        } = claim;
        let taken: Vec<(String, i64)> = if per_key == 0 || per_user == 0 {
            Vec::new()
        } else {
            sqlx::query_as(TAKE_IF_ROOM)
                .bind(key_bucket)
                .bind(user_bucket)
                .bind(start)
                .bind(per_key)
                .bind(per_user)
                .fetch_all(self.writer())
                .await?
        };
        let count_of = |bucket: &str| taken.iter().find(|(b, _)| b == bucket).map(|(_, c)| *c);
        Ok(match (count_of(key_bucket), count_of(user_bucket)) {
            (Some(k), Some(u)) => Taken {
                key_used: k,
                user_used: u,
                overflowed: None,
            },
            (Some(k), None) => {
                self.give_back(key_bucket, start).await?;
                Taken {
                    key_used: k - 1,
                    user_used: per_user,
                    overflowed: Some(Overflow::User),
                }
            }
            (None, Some(u)) => {
                self.give_back(user_bucket, start).await?;
                Taken {
                    key_used: per_key,
                    user_used: u - 1,
                    overflowed: Some(Overflow::Key),
                }
            }
            (None, None) => Taken {
                key_used: per_key,
                user_used: self.window_count(user_bucket, start).await?,
                overflowed: Some(if per_key > 0 && per_user == 0 {
                    Overflow::User
                } else {
                    Overflow::Key
                }),
            },
        })
    }

    async fn give_back(&self, bucket: &str, start: i64) -> StoreResult<()> {
        sqlx::query(GIVE_BACK)
            .bind(bucket)
            .bind(start)
            .execute(self.writer())
            .await?;
        Ok(())
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
        if let Some(windows) = &self.local_windows {
            return Ok(windows.sweep(self.now_ms()));
        }
        let cutoff = window_start(self.now_ms()) - WINDOW_MS;
        let done = sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
            .bind(cutoff)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
