//! API key rows. The plaintext key never reaches this module: it stores and finds keys by
//! SHA-256 only.

use rusqlite::OptionalExtension;
use sqlx::{AssertSqlSafe, FromRow, Row};

use super::{Store, StoreError, StoreResult};
use crate::ids;
use crate::keys::{self, KeyHash};

/// A key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub display_prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub rotated_from: Option<String>,
}

/// Whether a key may be used at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Revoked,
    Expired,
}

impl KeyRecord {
    pub fn status(&self, now_ms: i64) -> KeyStatus {
        if self.revoked_at.is_some_and(|t| t <= now_ms) {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|t| t <= now_ms) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

type KeyRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

const KEY_COLUMNS: &str = "id, user_id, name, display_prefix, scopes, created_at, last_used_at, expires_at, revoked_at, rotated_from";

fn key_record(row: KeyRow) -> StoreResult<KeyRecord> {
    let (
        id,
        user_id,
        name,
        display_prefix,
        scopes,
        created_at,
        last_used_at,
        expires_at,
        revoked_at,
        rotated_from,
    ) = row;
    let scopes = serde_json::from_str(&scopes)
        .map_err(|e| StoreError::Corrupt(format!("api_keys.scopes of {id}: {e}")))?;
    Ok(KeyRecord {
        id,
        user_id,
        name,
        display_prefix,
        scopes,
        created_at,
        last_used_at,
        expires_at,
        revoked_at,
        rotated_from,
    })
}

/// What a new key is made of.
#[derive(Debug, Clone)]
pub struct NewKeySpec<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub scopes: &'a [String],
    pub expires_at: Option<i64>,
    pub rotated_from: Option<&'a str>,
}

impl Store {
    /// Mints and stores a key; returns the record and the plaintext, which is not kept.
    pub async fn create_key(&self, spec: NewKeySpec<'_>) -> StoreResult<(KeyRecord, String)> {
        let minted = keys::generate();
        let record = KeyRecord {
            id: ids::new_id(ids::KEY),
            user_id: spec.user_id.to_owned(),
            name: spec.name.to_owned(),
            display_prefix: minted.display_prefix.clone(),
            scopes: spec.scopes.to_vec(),
            created_at: self.now_ms(),
            last_used_at: None,
            expires_at: spec.expires_at,
            revoked_at: None,
            rotated_from: spec.rotated_from.map(str::to_owned),
        };
        let scopes = serde_json::to_string(&record.scopes)
            .map_err(|e| StoreError::Corrupt(format!("scopes: {e}")))?;
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, display_prefix, key_hash, scopes, created_at, expires_at, rotated_from) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&record.id)
        .bind(&record.user_id)
        .bind(&record.name)
        .bind(&record.display_prefix)
        .bind(minted.hash.to_hex())
        .bind(scopes)
        .bind(record.created_at)
        .bind(record.expires_at)
        .bind(&record.rotated_from)
        .execute(self.writer())
        .await?;
        Ok((record, minted.plaintext))
    }

    /// The key whose SHA-256 is `hash`, revoked and expired ones included, with the stored hash
    /// so the caller can compare it in constant time. On a SQLite file the lookup runs on the
    /// calling thread (see `inline.rs`): it is on the path of every request whose key is not
    /// cached.
    pub async fn key_by_hash(&self, hash: &KeyHash) -> StoreResult<Option<(KeyRecord, KeyHash)>> {
        let sql = format!("SELECT {KEY_COLUMNS}, key_hash FROM api_keys WHERE key_hash = $1");
        let found = match self.inline() {
            Some(inline) => inline.read(|c| {
                c.prepare_cached(&sql)?
                    .query_row([hash.to_hex()], |r| {
                        Ok((KeyRow::try_from(r)?, r.get::<_, String>(10)?))
                    })
                    .optional()
            })?,
            None => {
                let row: Option<sqlx::any::AnyRow> = sqlx::query(AssertSqlSafe(sql))
                    .bind(hash.to_hex())
                    .fetch_optional(self.reader())
                    .await?;
                match row {
                    Some(row) => Some((KeyRow::from_row(&row)?, row.try_get("key_hash")?)),
                    None => None,
                }
            }
        };
        let Some((row, stored)) = found else {
            return Ok(None);
        };
        let stored = KeyHash::from_hex(&stored)
            .ok_or_else(|| StoreError::Corrupt("api_keys.key_hash is not 64 hex digits".into()))?;
        Ok(Some((key_record(row)?, stored)))
    }

    pub async fn key_by_id(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        let row: Option<KeyRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.map(key_record).transpose()
    }

    /// A user's keys, oldest first.
    pub async fn list_keys(&self, user_id: &str) -> StoreResult<Vec<KeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at, id"
        );
        let rows: Vec<KeyRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(self.reader())
            .await?;
        rows.into_iter().map(key_record).collect()
    }

    /// Issues a successor of an active key (same owner, name, scopes, expiry and grants) and
    /// shortens the old key's life to `grace_ms` from now. `None` when the key is unknown,
    /// revoked or expired.
    pub async fn rotate_key(
        &self,
        id: &str,
        grace_ms: i64,
    ) -> StoreResult<Option<(KeyRecord, String)>> {
        let now = self.now_ms();
        let Some(old) = self
            .key_by_id(id)
            .await?
            .filter(|k| k.status(now) == super::KeyStatus::Active)
        else {
            return Ok(None);
        };
        let minted = keys::generate();
        let new = KeyRecord {
            id: ids::new_id(ids::KEY),
            display_prefix: minted.display_prefix.clone(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            rotated_from: Some(old.id.clone()),
            ..old.clone()
        };
        let scopes = serde_json::to_string(&new.scopes)
            .map_err(|e| StoreError::Corrupt(format!("scopes: {e}")))?;
        let old_expiry = old
            .expires_at
            .map_or(now + grace_ms, |t| t.min(now + grace_ms));
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, display_prefix, key_hash, scopes, created_at, expires_at, rotated_from) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&new.id)
        .bind(&new.user_id)
        .bind(&new.name)
        .bind(&new.display_prefix)
        .bind(minted.hash.to_hex())
        .bind(scopes)
        .bind(new.created_at)
        .bind(new.expires_at)
        .bind(&new.rotated_from)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO key_grants (key_id, prompt_id, created_at) SELECT $1, prompt_id, $2 FROM key_grants WHERE key_id = $3",
        )
        .bind(&new.id)
        .bind(now)
        .bind(&old.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
            .bind(old_expiry)
            .bind(&old.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((new, minted.plaintext)))
    }

    /// Revokes a key and abandons the runs it started that could still run or reopen; returns
    /// false when no such key exists. Revoking twice keeps the first time.
    pub async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let now = self.now_ms();
        let mut tx = self.writer().begin().await?;
        let result =
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        super::runs::abandon_for_key(&mut *tx, id, now).await?;
        tx.commit().await?;
        Ok(result.rows_affected() > 0)
    }
}
