//! Bulk operations (RFC 7644 §3.7), split into requests of the target's `maxOperations`.
//! A bulk request is sent as not idempotent: only `429` is retried.

use reqwest::Method;
use scim_core::{BulkOperation, BulkOperationResponse, BulkRequest, BulkResponse};

use super::{decode, to_body, Client};
use crate::error::{Error, Result};

impl Client {
    /// Runs bulk operations (RFC 7644 §3.7), split into requests of the target's
    /// `maxOperations`; returns every operation's result in order. Fails with
    /// [`Error::Invalid`] when the profile has no bulk support (or, for POST-only targets such
    /// as Entra ID's `/bulkUpload`, for other methods). A `202 Accepted` answer (asynchronous
    /// processing) contributes no results.
    pub async fn bulk(
        &self,
        ops: Vec<BulkOperation>,
        fail_on_errors: Option<u32>,
    ) -> Result<Vec<BulkOperationResponse>> {
        let Some(b) = self.inner.profile.bulk() else {
            return Err(Error::Invalid(format!(
                "the {} profile has no bulk endpoint",
                self.inner.profile.name()
            )));
        };
        if b.post_only && ops.iter().any(|o| !o.method.eq_ignore_ascii_case("POST")) {
            return Err(Error::Invalid(format!(
                "{} accepts only POST bulk operations",
                b.path
            )));
        }
        let mut out = Vec::with_capacity(ops.len());
        for chunk in ops.chunks(b.max_operations.max(1)) {
            let mut req = BulkRequest::new(chunk.to_vec());
            req.fail_on_errors = fail_on_errors;
            let body = to_body(&req)?;
            let r = self
                .send(Method::POST, &b.path, Some(&body), &[], false)
                .await?;
            if r.status == 202 || r.body.trim().is_empty() {
                continue;
            }
            let resp: BulkResponse = decode(&r.body)?;
            out.extend(resp.operations);
        }
        Ok(out)
    }
}
