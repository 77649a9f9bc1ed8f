//! Signed, opaque list cursors (spec "Cursor pagination"). A cursor carries the position after
//! the last item, bound to the user and to the list's filters, and is signed with HMAC-SHA256:
//! a tampered or another user's cursor is `invalid_cursor`; a cursor used with changed filters is
//! `cursor_filter_mismatch`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use proem_api::ReasonCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Rejection;

type HmacSha256 = Hmac<Sha256>;

/// Page size bounds of the REST API: 1–500, default 100; above 500 is clamped.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 500;

#[derive(Clone)]
pub struct CursorSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner(<redacted>)")
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// User the cursor was issued to.
    u: String,
    /// Short hash of the filters.
    f: String,
    /// Position after the last item.
    p: String,
}

impl CursorSigner {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        #[expect(clippy::expect_used, reason = "HMAC accepts keys of every length")]
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC key of any length");
        mac.update(data);
        mac
    }

    /// A cursor for `user_id`, over the list identified by `filters`, resuming after `position`.
    pub fn encode(&self, user_id: &str, filters: &str, position: &str) -> String {
        let payload = Payload {
            u: user_id.to_owned(),
            f: filter_hash(filters),
            p: position.to_owned(),
        };
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let tag = self.mac(&json).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The position inside `cursor`, if it is genuine, was issued to `user_id`, and was issued
    /// for the same `filters`.
    pub fn decode(&self, cursor: &str, user_id: &str, filters: &str) -> Result<String, Rejection> {
        let invalid = || {
            Rejection::new(
                ReasonCode::InvalidCursor,
                "The cursor is not one this server issued to you.",
            )
        };
        let (body, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        self.mac(&json).verify_slice(&tag).map_err(|_| invalid())?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| invalid())?;
        if payload.u != user_id {
            return Err(invalid());
        }
        if payload.f != filter_hash(filters) {
            return Err(Rejection::new(
                ReasonCode::CursorFilterMismatch,
                "The filters changed since this cursor was issued.",
            ));
        }
        Ok(payload.p)
    }
}

fn filter_hash(filters: &str) -> String {
    crate::keys::hex(&Sha256::digest(filters.as_bytes())[..8])
}

/// The page size for a raw `limit` parameter: absent → 100, < 1 → `param_out_of_range`,
/// > 500 → 500.
pub fn page_limit(raw: Option<i64>) -> Result<u32, Rejection> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if n < 1 => Err(Rejection::new(
            ReasonCode::ParamOutOfRange,
            format!("limit must be between 1 and {MAX_LIMIT}; got {n}."),
        )
        .with_param("limit", "out_of_range")),
        Some(n) => Ok(u32::try_from(n.min(i64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> CursorSigner {
        CursorSigner::new(b"test-key".to_vec())
    }

    #[test]
    fn a_cursor_round_trips_for_its_user_and_filters() {
        let c = signer().encode("usr_a", "promptId=p1", "rec_9");
        assert_eq!(
            signer().decode(&c, "usr_a", "promptId=p1").unwrap(),
            "rec_9"
        );
    }

    #[test]
    fn tampered_cursor_is_invalid_cursor() {
        let c = signer().encode("usr_a", "", "rec_9");
        let mut bytes = c.into_bytes();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            signer().decode(&tampered, "usr_a", "").unwrap_err().code,
            ReasonCode::InvalidCursor
        );
        assert_eq!(
            signer().decode("garbage", "usr_a", "").unwrap_err().code,
            ReasonCode::InvalidCursor
        );
    }

    #[test]
    fn cursor_signed_with_another_key_is_invalid_cursor() {
        let c = CursorSigner::new(b"other".to_vec()).encode("usr_a", "", "x");
        assert_eq!(
            signer().decode(&c, "usr_a", "").unwrap_err().code,
            ReasonCode::InvalidCursor
        );
    }

    #[test]
    fn another_users_cursor_is_invalid_cursor() {
        let c = signer().encode("usr_a", "", "rec_9");
        assert_eq!(
            signer().decode(&c, "usr_b", "").unwrap_err().code,
            ReasonCode::InvalidCursor
        );
    }

    #[test]
    fn changed_filters_are_cursor_filter_mismatch() {
        let c = signer().encode("usr_a", "promptId=p1", "rec_9");
        assert_eq!(
            signer()
                .decode(&c, "usr_a", "promptId=p2")
                .unwrap_err()
                .code,
            ReasonCode::CursorFilterMismatch
        );
    }

    #[test]
    fn limit_defaults_to_100_rejects_below_1_and_clamps_above_500() {
        assert_eq!(page_limit(None).unwrap(), 100);
        assert_eq!(page_limit(Some(1)).unwrap(), 1);
        assert_eq!(page_limit(Some(500)).unwrap(), 500);
        assert_eq!(page_limit(Some(501)).unwrap(), 500);
        assert_eq!(
            page_limit(Some(0)).unwrap_err().code,
            ReasonCode::ParamOutOfRange
        );
        assert_eq!(
            page_limit(Some(-3)).unwrap_err().code,
            ReasonCode::ParamOutOfRange
        );
    }
}
