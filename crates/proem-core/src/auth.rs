//! Authentication of API keys: shape and checksum first (no database work for garbage), then a
//! lookup by SHA-256 compared in constant time, then revocation and expiry. Every failure is the
//! same `key_unauthorized`, so a caller cannot learn which check failed.
//!
//! Found keys are cached for at most [`CACHE_TTL`] from the moment they were read: a revocation on
//! any instance is honoured by every instance within that time, and the hot path skips the
//! database in between. Keys in use are read again in the background ([`Authenticator::refresh`])
//! once their entry is half that old, so steady traffic never waits for the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proem_api::ReasonCode;
use subtle::ConstantTimeEq;

use crate::keys::{self, KeyHash};
use crate::store::{KeyRecord, KeyStatus, Store};
use crate::{Error, Rejection};

/// How long a looked-up key may be trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(1);
/// How often [`Authenticator::refresh`] should run: entries in use are re-read between half their
/// TTL and their TTL.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// Bound on cached keys; the cache is cleared when it would grow past it.
const CACHE_CAPACITY: usize = 10_000;

/// Who is calling: the key and the user it belongs to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key: Arc<KeyRecord>,
}

impl Principal {
    pub fn user_id(&self) -> &str {
        &self.key.user_id
    }

    pub fn key_id(&self) -> &str {
        &self.key.id
    }
}

/// A looked-up key.
#[derive(Debug)]
struct CachedKey {
    key: Arc<KeyRecord>,
    /// When the read that found it began: the entry is trusted for [`CACHE_TTL`] from then.
    read_at: Instant,
    /// Whether a request used it since that read.
    used: bool,
}

impl CachedKey {
    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.read_at) < CACHE_TTL
    }
}

#[derive(Debug, Default, Clone)]
pub struct Authenticator {
    cache: Arc<Mutex<HashMap<KeyHash, CachedKey>>>,
}

fn unauthorized() -> Error {
    Rejection::new(
        ReasonCode::KeyUnauthorized,
        "The API key is missing, malformed, unknown, revoked or expired.",
    )
    .into()
}

impl Authenticator {
    /// Resolves a presented key to its principal, or `key_unauthorized`.
    pub async fn authenticate(&self, store: &Store, presented: &str) -> Result<Principal, Error> {
        let hash = keys::parse(presented).ok_or_else(unauthorized)?;
        let key = match self.cached(&hash) {
            Some(key) => key,
            None => {
                let read_at = Instant::now();
                let record = Self::read(store, &hash).await?.ok_or_else(unauthorized)?;
                self.remember(hash, record.clone(), read_at);
                record
            }
        };
        match key.status(store.now_ms()) {
            KeyStatus::Active => Ok(Principal { key }),
            KeyStatus::Revoked | KeyStatus::Expired => Err(unauthorized()),
        }
    }

    /// Re-reads the cached keys that requests used and whose entry is at least half
    /// [`CACHE_TTL`] old, and forgets entries past it. Run every [`REFRESH_EVERY`], off the
    /// request path: a key in steady use is then always served from memory, and still never
    /// trusted longer than [`CACHE_TTL`] after a read. Returns how many keys were read.
    pub async fn refresh(&self, store: &Store) -> Result<usize, Error> {
        let due = self.due(Instant::now());
        for hash in &due {
            let read_at = Instant::now();
            match Self::read(store, hash).await? {
                Some(record) => self.remember(*hash, record, read_at),
                // Gone from the database: the next request looks it up and is refused.
                None => self.forget(hash),
            }
        }
        Ok(due.len())
    }

    /// The key whose hash is `hash`, compared in constant time.
    async fn read(store: &Store, hash: &KeyHash) -> Result<Option<Arc<KeyRecord>>, Error> {
        Ok(store
            .key_by_hash(hash)
            .await?
            .filter(|(_, stored)| bool::from(stored.0.ct_eq(&hash.0)))
            .map(|(record, _)| Arc::new(record)))
    }

    fn cached(&self, hash: &KeyHash) -> Option<Arc<KeyRecord>> {
        let mut cache = self.cache.lock().ok()?;
        let entry = cache.get_mut(hash).filter(|e| e.fresh(Instant::now()))?;
        entry.used = true;
        Some(entry.key.clone())
    }

    /// Entries used since their read and at least half their TTL old; drops stale ones.
    fn due(&self, now: Instant) -> Vec<KeyHash> {
        let Ok(mut cache) = self.cache.lock() else {
            return Vec::new();
        };
        cache.retain(|_, e| e.fresh(now));
        cache
            .iter()
            .filter(|(_, e)| e.used && now.saturating_duration_since(e.read_at) >= CACHE_TTL / 2)
            .map(|(hash, _)| *hash)
            .collect()
    }

    fn remember(&self, hash: KeyHash, key: Arc<KeyRecord>, read_at: Instant) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                let now = Instant::now();
                cache.retain(|_, e| e.fresh(now));
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(
                hash,
                CachedKey {
                    key,
                    read_at,
                    used: false,
                },
            );
        }
    }

    fn forget(&self, hash: &KeyHash) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(hash);
        }
    }
}
