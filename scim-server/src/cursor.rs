//! RFC 9865 cursors: opaque, tamper-proof, expiring.
//!
//! A cursor carries the position (the last id served, for id-ordered keyset paging, or an
//! offset when sorting by an attribute), a fingerprint of the query it belongs to and an expiry
//! time, signed with HMAC-SHA-256. A cursor that does not verify or belongs to another query is
//! `invalidCursor`; an old one is `expiredCursor` (RFC 9865 §2.4).
//!
//! Keyset paging by id is stable while resources are added or deleted between pages: nothing is
//! skipped or served twice. Offset cursors (with `sortBy`) have index-paging semantics.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use scim_core::SortOrder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Why a cursor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorError {
    /// Malformed, tampered with, or for another query.
    Invalid,
    /// Past its expiry.
    Expired,
}

/// A decoded cursor position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Fingerprint of the query (tenant, resource type, filter, sort).
    #[serde(rename = "f")]
    pub fingerprint: String,
    /// Keyset position: the last id served.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<String>,
    /// Offset position.
    #[serde(rename = "o", default)]
    pub offset: u64,
    /// Expiry, Unix seconds.
    #[serde(rename = "e", default)]
    pub expires: i64,
}

impl Cursor {
    /// The fingerprint of a query.
    pub fn fingerprint(
        tenant: &str,
        resource_type: &str,
        filter: Option<&str>,
        sort_by: Option<&str>,
        order: SortOrder,
    ) -> String {
        let mut h = Sha256::new();
        for part in [
            tenant,
            resource_type,
            filter.unwrap_or(""),
            sort_by.unwrap_or(""),
            if order == SortOrder::Descending {
                "d"
            } else {
                "a"
            },
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        URL_SAFE_NO_PAD.encode(&h.finalize()[..16])
    }

    /// The position before the first page.
    pub fn start(fingerprint: String) -> Cursor {
        Cursor {
            fingerprint,
            after_id: None,
            offset: 0,
            expires: 0,
        }
    }

    /// The keyset position after `last_id`.
    pub fn next_after(&self, last_id: Option<String>) -> Cursor {
        Cursor {
            after_id: last_id,
            ..self.clone()
        }
    }

    /// The offset position `count` further.
    pub fn next_offset(&self, count: u64) -> Cursor {
        Cursor {
            offset: self.offset + count,
            ..self.clone()
        }
    }

    /// Signs and encodes, valid for `ttl_secs`.
    pub fn encode(&self, key: &[u8; 32], ttl_secs: u64) -> String {
        let c = Cursor {
            expires: chrono::Utc::now().timestamp() + ttl_secs as i64,
            ..self.clone()
        };
        let payload = serde_json::to_vec(&c).unwrap_or_default();
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(&payload);
        let sig = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// Verifies and decodes a cursor for the query with `fingerprint`.
    pub fn decode(text: &str, key: &[u8; 32], fingerprint: &str) -> Result<Cursor, CursorError> {
        let (p, s) = text.split_once('.').ok_or(CursorError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| CursorError::Invalid)?;
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| CursorError::Invalid)?;
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(&payload);
        mac.verify_slice(&sig).map_err(|_| CursorError::Invalid)?;
        let c: Cursor = serde_json::from_slice(&payload).map_err(|_| CursorError::Invalid)?;
        if c.fingerprint != fingerprint {
            return Err(CursorError::Invalid);
        }
        if c.expires < chrono::Utc::now().timestamp() {
            return Err(CursorError::Expired);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_tamper_and_expiry() {
        let key = [7u8; 32];
        let f = Cursor::fingerprint("t", "User", Some("a pr"), None, SortOrder::Ascending);
        let c = Cursor::start(f.clone()).next_after(Some("id-9".into()));
        let text = c.encode(&key, 60);
        let back = Cursor::decode(&text, &key, &f).unwrap();
        assert_eq!(back.after_id.as_deref(), Some("id-9"));
        let other = Cursor::fingerprint("t", "User", Some("b pr"), None, SortOrder::Ascending);
        assert_eq!(
            Cursor::decode(&text, &key, &other),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            Cursor::decode(&text, &[8u8; 32], &f),
            Err(CursorError::Invalid)
        );
        let mut tampered = text.clone();
        tampered.insert(3, 'x');
        assert_eq!(
            Cursor::decode(&tampered, &key, &f),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            Cursor::decode("garbage", &key, &f),
            Err(CursorError::Invalid)
        );
        let old = Cursor { expires: 0, ..c };
        let payload = serde_json::to_vec(&old).unwrap();
        let mut mac = HmacSha256::new_from_slice(&key).unwrap();
        mac.update(&payload);
        let text = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(Cursor::decode(&text, &key, &f), Err(CursorError::Expired));
    }
}
