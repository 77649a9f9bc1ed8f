//! Authentication of API keys: shape and checksum first (no database work for garbage), then a
//! lookup by SHA-256 compared in constant time, then revocation and expiry. Every failure is the
//! same `key_unauthorized`, so a caller cannot learn which check failed.
//!
//! Found keys are cached for at most [`CACHE_TTL`]: a revocation on any instance is honoured by
//! every instance within that time, and the hot path skips the database in between.

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

/// A looked-up key and when it was looked up.
type CachedKey = (Arc<KeyRecord>, Instant);

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
                let (record, stored_hash) =
                    store.key_by_hash(&hash).await?.ok_or_else(unauthorized)?;
                if !bool::from(stored_hash.0.ct_eq(&hash.0)) {
                    return Err(unauthorized());
                }
                let record = Arc::new(record);
                self.remember(hash, record.clone());
                record
            }
        };
        match key.status(store.now_ms()) {
            KeyStatus::Active => Ok(Principal { key }),
            KeyStatus::Revoked | KeyStatus::Expired => Err(unauthorized()),
        }
    }

    fn cached(&self, hash: &KeyHash) -> Option<Arc<KeyRecord>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(k, _)| k.clone())
    }

    fn remember(&self, hash: KeyHash, key: Arc<KeyRecord>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(hash, (key, Instant::now()));
        }
    }
}
