//! API key material: `pmk_` + 40 random base62 characters + a 6-character base62 CRC32 of the
//! random part. The checksum lets a typo or a scanner's guess be refused before any database
//! lookup; only SHA-256(key) is ever stored.

use rand::Rng;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "pmk_";
const RANDOM_LEN: usize = 40;
const CHECKSUM_LEN: usize = 6;
/// How much of a key is kept for display (`pmk_` + 8 characters).
pub const DISPLAY_PREFIX_LEN: usize = 12;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly minted key. `plaintext` is shown to the operator once and then dropped.
pub struct NewKey {
    pub plaintext: String,
    pub display_prefix: String,
    pub hash: KeyHash,
}

/// SHA-256 of a key, the only form stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }
}

pub fn generate() -> NewKey {
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect();
    let plaintext = format!("{KEY_PREFIX}{random}{}", checksum(&random));
    NewKey {
        display_prefix: plaintext[..DISPLAY_PREFIX_LEN].to_owned(),
        hash: KeyHash::of(&plaintext),
        plaintext,
    }
}

/// Checks the shape and checksum of a presented key; `None` means it cannot be a key we issued.
pub fn parse(presented: &str) -> Option<KeyHash> {
    let body = presented.strip_prefix(KEY_PREFIX)?;
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (random, sum) = body.split_at(RANDOM_LEN);
    (checksum(random) == sum).then(|| KeyHash::of(presented))
}

fn checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_to_their_hash() {
        for _ in 0..100 {
            let key = generate();
            assert!(key.plaintext.starts_with("pmk_"));
            assert_eq!(key.plaintext.len(), 4 + 40 + 6);
            assert_eq!(parse(&key.plaintext), Some(key.hash));
            assert!(key.plaintext.starts_with(&key.display_prefix));
        }
    }

    #[test]
    fn a_key_with_a_bad_checksum_is_refused() {
        let key = generate().plaintext;
        let mut chars: Vec<char> = key.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(parse(&typo), None);
    }

    #[test]
    fn malformed_keys_are_refused() {
        let key = generate().plaintext;
        for bad in [
            String::new(),
            "pmk_".into(),
            key[4..].to_string(),
            format!("{key}x"),
            key.replace("pmk_", "pmx_"),
            format!("{}-{}", &key[..20], &key[21..]),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }
}
