//! Passwords (RFC 7643 §4.1.1: `password` is writeOnly and never returned) are stored as
//! Argon2id hashes. Hashing is slow on purpose (tens of milliseconds, ~19 MiB), so it runs
//! before the store is called: on the blocking pool, at most one hash per CPU at a time, never
//! on the async runtime and never inside a transaction or while holding the writer. Inside the
//! transaction [`ensure_hashed`] only checks that no clear text got through.

use std::sync::OnceLock;

use scim_core::messages::PatchOperation;
use scim_core::{JsonMap, ScimError};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::ApiResult;

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn permits() -> &'static Semaphore {
    static P: OnceLock<Semaphore> = OnceLock::new();
    P.get_or_init(|| {
        Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
    })
}

/// Whether a stored value is already a hash.
pub fn is_hashed(s: &str) -> bool {
    s.starts_with("$argon2")
}

/// Hashes a clear-text password off the runtime (bounded concurrency).
pub async fn hash(clear: String) -> ApiResult<String> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|_| ScimError::new(503, None, "the password hasher has stopped"))?;
    let hashed = tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(clear.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| ScimError::new(500, None, "the password could not be hashed"))?
    .map_err(|_| ScimError::invalid_value("the password cannot be stored"))?;
    Ok(hashed)
}

/// Whether a key (of a body or a path-less PATCH value) or a PATCH path names `password`.
fn names_password(key: &str) -> bool {
    let k = key.trim();
    if k.eq_ignore_ascii_case("password") {
        return true;
    }
    k.len() > USER_URN.len() + 1
        && k[..USER_URN.len()].eq_ignore_ascii_case(USER_URN)
        && k[USER_URN.len()..].eq_ignore_ascii_case(":password")
}

async fn hash_value(v: &mut Value) -> ApiResult<()> {
    if let Value::String(s) = v {
        if !is_hashed(s) {
            *s = hash(std::mem::take(s)).await?;
        }
    }
    Ok(())
}

/// Hashes the clear-text password of a POST or PUT body, before the store is called.
pub async fn hash_in_body(body: &mut Value) -> ApiResult<()> {
    if let Value::Object(o) = body {
        for (k, v) in o.iter_mut() {
            if names_password(k) {
                hash_value(v).await?;
            }
        }
    }
    Ok(())
}

/// Hashes the clear-text passwords PATCH operations carry (`path: "password"` or a path-less
/// value with a `password` key), before the store is called.
pub async fn hash_in_ops(ops: &mut [PatchOperation]) -> ApiResult<()> {
    for op in ops {
        match (&op.path, &mut op.value) {
            (Some(p), Some(v)) if names_password(p) => hash_value(v).await?,
            (None, Some(Value::Object(o))) => {
                for (k, v) in o.iter_mut() {
                    if names_password(k) {
                        hash_value(v).await?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Inside the transaction: the resource about to be stored holds no clear-text password.
pub fn ensure_hashed(data: &JsonMap) -> ApiResult<()> {
    match data.get("password") {
        Some(Value::String(s)) if !is_hashed(s) => Err(ScimError::invalid_value(
            "the password must be sent as the attribute \"password\" (a string)",
        )
        .into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn every_spelling_is_hashed_before_the_store() {
        let mut body = json!({"userName": "a", "PASSWORD": "clear-1"});
        hash_in_body(&mut body).await.unwrap();
        assert!(is_hashed(body["PASSWORD"].as_str().unwrap()));
        let mut ops = vec![
            PatchOperation::replace(Some("password"), json!("clear-2")),
            PatchOperation::replace(Some(&format!("{USER_URN}:password")), json!("clear-3")),
            PatchOperation::replace(None, json!({"Password": "clear-4", "title": "t"})),
        ];
        hash_in_ops(&mut ops).await.unwrap();
        assert!(is_hashed(ops[0].value.as_ref().unwrap().as_str().unwrap()));
        assert!(is_hashed(ops[1].value.as_ref().unwrap().as_str().unwrap()));
        assert!(is_hashed(
            ops[2].value.as_ref().unwrap()["Password"].as_str().unwrap()
        ));
        assert_eq!(ops[2].value.as_ref().unwrap()["title"], "t");
        let mut m = JsonMap::new();
        m.insert("password".into(), json!("clear"));
        assert!(ensure_hashed(&m).is_err());
    }
}
