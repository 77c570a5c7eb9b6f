//! Error responses (RFC 7644 §3.12) and HTTP behaviour of the endpoints.

use serde_json::{json, Value};

use crate::cx::{ERROR, USER};
use crate::ensure;
use crate::model::Check;
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};

pub fn checks() -> Vec<Check> {
    vec![
        check!("err-body-schema", "RFC 7644 §3.12", Must, [],
            "an error body carries the Error schema and status as a string",
            |cx| {
                let r = cx.get("/Users/scim-conformance-missing-1").await?;
                r.expect(404)?;
                ensure!(r.json.get("schemas").and_then(Value::as_array).is_some_and(|a| a.iter().any(|s| s == ERROR)), "schemas: {}", r.text);
                ensure!(r.json.get("status") == Some(&json!("404")), "status must be the string \"404\": {}", r.text);
                Ok(())
            }),
        check!("err-content-type", "RFC 7644 §3.12", Must, [],
            "error responses are application/scim+json",
            |cx| {
                let r = cx.get("/Users/scim-conformance-missing-2").await?;
                r.expect(404)?;
                ensure!(r.is_scim_json(), "Content-Type is {:?}", r.header("content-type"));
                Ok(())
            }),
        check!("err-detail-string", "RFC 7644 §3.12", Should, [],
            "an error carries a human-readable detail",
            |cx| {
                let r = cx.get("/Users/scim-conformance-missing-3").await?;
                r.expect(404)?;
                ensure!(r.json.get("detail").and_then(Value::as_str).is_some_and(|d| !d.is_empty()), "no detail: {}", r.text);
                Ok(())
            }),
        check!("err-unknown-endpoint-404", "RFC 7644 §3.12", Must, [],
            "an unknown endpoint is 404",
            |cx| {
                let r = cx.get("/NoSuchEndpoint").await?;
                r.expect(404)
            }),
        check!("err-collection-delete-refused", "RFC 7644 §3.12", Should, [],
            "DELETE on the /Users collection is refused with a SCIM error, not executed",
            |cx| {
                let u = cx.user("colldel", json!({})).await?;
                let r = cx.delete("/Users").await?;
                r.expect_refusal()?;
                cx.get(&u.path).await?.expect(200)
            }),
        check!("err-wrong-type-400", "RFC 7644 §3.12", Must, [],
            "a value of the wrong type (a string where a complex value is required) is 400 invalidValue",
            |cx| {
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": cx.name("badname"), "name": "just a string"})).await?;
                r.expect_error(400, &["invalidValue", "invalidSyntax"])
            }),
        check!("err-bad-boolean-400", "RFC 7644 §3.12", Must, [],
            "a boolean attribute given a non-boolean value (\"banana\") is 400 invalidValue",
            |cx| {
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": cx.name("badbool"), "active": "banana"})).await?;
                r.expect_error(400, &["invalidValue", "invalidSyntax"])
            }),
        check!("err-no-5xx-on-garbage", "RFC 7644 §3.12", Should, [],
            "a body that is JSON but not an object (an array) is a 400, not a 5xx",
            |cx| {
                let r = cx.req(reqwest::Method::POST, "/Users").raw("[1,2,3]", crate::cx::SCIM_JSON).send().await?;
                r.expect_error(400, &[])
            }),
        check!("err-accept-scim-json", "RFC 7644 §3.8", Must, [],
            "a request with Accept: application/scim+json is answered in that media type",
            |cx| {
                let r = cx.req(reqwest::Method::GET, "/ServiceProviderConfig").header("Accept", "application/scim+json").send().await?;
                r.expect(200)?;
                ensure!(r.is_scim_json(), "Content-Type is {:?}", r.header("content-type"));
                Ok(())
            }),
        check!("err-content-type-json-accepted", "RFC 7644 §3.8", Should, [],
            "a request body sent as application/json is accepted like application/scim+json",
            |cx| {
                let body = json!({"schemas": [USER], "userName": cx.name("appjson")});
                let r = cx.req(reqwest::Method::POST, "/Users").raw(&body.to_string(), "application/json").send().await?;
                r.expect(201)
            }),
    ]
}
