//! The attribute-value index: every string in a resource, keyed by its attribute path, so that
//! the lookups identity providers make before almost every write (`userName eq`, `externalId
//! eq`, `emails.value eq`, Group `displayName eq`, and `sw` on any of them, RFC 7644 §3.4.2.2)
//! are index seeks instead of a parse of every resource's JSON.
//!
//! Rows of `scim_index (tenant, resource_type, attr, value, id)` are maintained in the same
//! transaction as the resource they describe:
//! - `attr` is the lower-cased path of object keys from the resource root, arrays being
//!   transparent: `username`, `emails.value`, `name.givenname`,
//!   `urn:ietf:params:scim:schemas:extension:enterprise:2.0:user.employeenumber`;
//! - `value` is the string ASCII-folded (as the evaluator folds, see
//!   [`scim_core::filter::fold`]) and cut to at most [`MAX_KEY_BYTES`] bytes.
//!
//! The index does not depend on the schema: a case-exact attribute is found by its folded value
//! and the exact comparison is checked again on the (few) rows found. A value longer than the
//! key is found by `sw` with a prefix of at most [`MAX_KEY_BYTES`] bytes; `eq` with a literal as
//! long as that falls back to the general translation.
//!
//! Cost: one row per distinct string leaf (a typical Entra ID user has 10–20), written only when
//! it changes (a PATCH of `active` writes none).

use std::collections::BTreeSet;

use scim_core::JsonMap;
use serde_json::Value;

/// Longest key stored, in bytes (cut on a character boundary).
pub const MAX_KEY_BYTES: usize = 200;

/// Deepest object nesting indexed (extension → complex → sub-attribute).
const MAX_NESTING: usize = 3;

/// One index row: attribute path and folded, cut value.
pub type Entry = (String, String);

/// The index entries of a resource's data (without `id`, `meta`, `members`, `groups`), sorted
/// and without duplicates. `schemas` is left out: like the other common attributes but
/// `externalId` (RFC 7643 §3.1) it is never sought (its few values are the same for most
/// resources), and its row was one in eight of a typical user's, every one written on create.
pub fn entries(data: &JsonMap) -> BTreeSet<Entry> {
    let mut out = BTreeSet::new();
    for (k, v) in data {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        walk(&k.to_ascii_lowercase(), v, 1, &mut out);
    }
    out
}

fn walk(path: &str, v: &Value, depth: usize, out: &mut BTreeSet<Entry>) {
    match v {
        Value::String(s) => {
            out.insert((path.to_string(), key(s)));
        }
        Value::Array(items) => {
            for item in items {
                // Arrays are transparent, but an array directly inside an array is not SCIM.
                if !item.is_array() {
                    walk(path, item, depth, out);
                }
            }
        }
        Value::Object(m) if depth < MAX_NESTING => {
            for (k, v) in m {
                let p = format!("{path}.{}", k.to_ascii_lowercase());
                walk(&p, v, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// The key stored for a string: ASCII-folded, cut to [`MAX_KEY_BYTES`] on a char boundary.
pub fn key(s: &str) -> String {
    let folded = scim_core::filter::fold(s, false);
    cut(&folded).to_string()
}

/// `s` cut to at most [`MAX_KEY_BYTES`] bytes on a character boundary.
pub fn cut(s: &str) -> &str {
    if s.len() <= MAX_KEY_BYTES {
        return s;
    }
    let mut end = MAX_KEY_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// True when an `eq` literal (already folded) can be answered by the index: a stored key is
/// the whole value only when shorter than the cut.
pub fn eq_usable(folded: &str) -> bool {
    // A cut key is at least `MAX_KEY_BYTES - 3` bytes long (a char has at most 4 bytes), so a
    // shorter literal can only equal a key that was not cut.
    folded.len() < MAX_KEY_BYTES - 3
}

/// True when an `sw` prefix (already folded) can be answered by the index.
pub fn sw_usable(folded: &str) -> bool {
    // Every key, cut or not, keeps at least this many bytes of its value.
    !folded.is_empty() && folded.len() <= MAX_KEY_BYTES - 3
}

/// The smallest string greater than every string that starts with `prefix`, in code point
/// (= UTF-8 byte) order, or `None` when there is none. `key >= prefix AND key < successor` is
/// then exactly "starts with `prefix`", and both bounds seek in a binary-collated index.
pub fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> JsonMap {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn entries_cover_nested_and_multi_valued_strings() {
        let data = map(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Bjensen@Example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "BJ@x.org", "type": "work"}, {"value": "bj@x.org"}],
            "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
            },
            "tags": ["A", ["nested"]]
        }));
        let e: Vec<_> = entries(&data).into_iter().collect();
        let want: Vec<Entry> = [
            ("emails.type", "work"),
            ("emails.value", "bj@x.org"),
            ("name.familyname", "jensen"),
            ("name.givenname", "barbara"),
            ("tags", "a"),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user.employeenumber",
                "701984",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user.manager.value",
                "26118915-6090-4610-87e4-49d8ca9f808d",
            ),
            ("username", "bjensen@example.com"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(e, want);
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary() {
        let s = "é".repeat(150); // 300 bytes
        let k = key(&s);
        assert!(k.len() <= MAX_KEY_BYTES);
        assert!(s.starts_with(&k));
        assert_eq!(k.len(), 200);
        assert!(!eq_usable(&k));
        assert!(!sw_usable(&k));
        assert!(sw_usable(&k[..196]));
        // A cut that falls inside a character keeps at least MAX_KEY_BYTES - 3 bytes.
        let odd = format!("a{}", "é".repeat(150));
        assert_eq!(key(&odd).len(), 199);
    }

    #[test]
    fn prefix_successor_bounds_exactly_the_prefixed_strings() {
        assert_eq!(prefix_successor("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        let succ = prefix_successor("ab").unwrap();
        for s in ["ab", "ab\u{0}", "abz", "ab\u{10FFFF}\u{10FFFF}"] {
            assert!(s >= "ab" && s < succ.as_str(), "{s:?}");
        }
        for s in ["aa", "ac", "b", "a"] {
            assert!(!(s >= "ab" && s < succ.as_str()), "{s:?}");
        }
    }
}
