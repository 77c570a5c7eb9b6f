//! Discovery (RFC 7644 §4; RFC 7643 §5, §6, §7; RFC 9865 §3) and authentication (RFC 7644
//! §2), and whether discovery agrees with what the server does.

use serde_json::Value;

use crate::cx::{attr, has_schema, ENTERPRISE, GROUP, USER};
use crate::model::Check;
use crate::{ensure, fail};

const SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RT: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

pub fn checks() -> Vec<Check> {
    vec![
        check!("disc-spc-get", "RFC 7644 §4", Must, [],
            "GET /ServiceProviderConfig answers 200 with the ServiceProviderConfig schema",
            |cx| {
                let r = cx.get("/ServiceProviderConfig").await?;
                r.expect(200)?;
                ensure!(has_schema(&r.json, SPC), "schemas does not contain {SPC}: {}", r.text);
                Ok(())
            }),
        check!("disc-spc-content-type", "RFC 7644 §3.1", Must, [],
            "responses are application/scim+json",
            |cx| {
                let r = cx.get("/ServiceProviderConfig").await?;
                r.expect(200)?;
                ensure!(r.is_scim_json(), "Content-Type is {:?}", r.header("content-type"));
                Ok(())
            }),
        check!("disc-spc-features", "RFC 7643 §5", Must, [],
            "the ServiceProviderConfig has patch, bulk, filter, changePassword, sort and etag, each with a boolean \"supported\"",
            |cx| {
                let r = cx.get("/ServiceProviderConfig").await?;
                r.expect(200)?;
                for k in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
                    let ok = attr(&r.json, k).and_then(|v| attr(v, "supported")).is_some_and(Value::is_boolean);
                    ensure!(ok, "\"{k}\" has no boolean \"supported\": {}", r.text);
                }
                Ok(())
            }),
        check!("disc-spc-filter-maxresults", "RFC 7643 §5", Must, [Has(Filter)],
            "filter.maxResults is an integer when filtering is supported",
            |cx| {
                let r = cx.get("/ServiceProviderConfig").await?;
                r.expect(200)?;
                let v = attr(&r.json, "filter").and_then(|f| attr(f, "maxResults"));
                ensure!(v.is_some_and(Value::is_u64), "filter.maxResults is {v:?}");
                Ok(())
            }),
        check!("disc-spc-bulk-limits", "RFC 7643 §5", Must, [Has(Bulk)],
            "bulk.maxOperations and bulk.maxPayloadSize are integers when bulk is supported",
            |cx| {
                let r = cx.get("/ServiceProviderConfig").await?;
                r.expect(200)?;
                for k in ["maxOperations", "maxPayloadSize"] {
                    let v = attr(&r.json, "bulk").and_then(|f| attr(f, k));
                    ensure!(v.is_some_and(Value::is_u64), "bulk.{k} is {v:?}");
                }
                Ok(())
            }),
        check!("disc-spc-auth-schemes", "RFC 7643 §5", Must, [],
            "authenticationSchemes lists at least one scheme with type, name and description",
            |cx| {
                let r = cx.get("/ServiceProviderConfig").await?;
                r.expect(200)?;
                let a = attr(&r.json, "authenticationSchemes").and_then(Value::as_array);
                let Some(a) = a.filter(|a| !a.is_empty()) else {
                    fail!("no authenticationSchemes: {}", r.text)
                };
                for s in a {
                    for k in ["type", "name", "description"] {
                        ensure!(attr(s, k).is_some_and(Value::is_string), "a scheme has no {k}: {s}");
                    }
                }
                Ok(())
            }),
        check!("disc-spc-pagination", "RFC 9865 §3", Must, [Has(Cursor)],
            "with cursor pagination advertised, pagination has booleans cursor/index and an integer cursorTimeout",
            |cx| {
                let r = cx.get("/ServiceProviderConfig").await?;
                r.expect(200)?;
                let p = attr(&r.json, "pagination").cloned().unwrap_or(Value::Null);
                ensure!(attr(&p, "cursor").is_some_and(Value::is_boolean), "pagination.cursor: {p}");
                ensure!(attr(&p, "index").is_some_and(Value::is_boolean), "pagination.index: {p}");
                ensure!(attr(&p, "cursorTimeout").is_some_and(Value::is_u64), "pagination.cursorTimeout: {p}");
                Ok(())
            }),
        check!("disc-rt-list", "RFC 7644 §4", Must, [],
            "GET /ResourceTypes lists User and Group in a ListResponse",
            |cx| {
                let r = cx.get("/ResourceTypes").await?;
                r.expect(200)?;
                let list = r.list()?;
                let names: Vec<&str> = list.iter().filter_map(|t| attr(t, "name").and_then(Value::as_str)).collect();
                ensure!(names.contains(&"User"), "no User resource type in {names:?}");
                ensure!(names.contains(&"Group"), "no Group resource type in {names:?}");
                Ok(())
            }),
        check!("disc-rt-fields", "RFC 7643 §6", Must, [],
            "every resource type has name, endpoint, schema and the ResourceType schema",
            |cx| {
                let r = cx.get("/ResourceTypes").await?;
                r.expect(200)?;
                for t in r.list()? {
                    for k in ["name", "endpoint", "schema"] {
                        ensure!(attr(&t, k).is_some_and(Value::is_string), "a resource type has no {k}: {t}");
                    }
                    ensure!(has_schema(&t, RT), "schemas does not contain {RT}: {t}");
                }
                Ok(())
            }),
        check!("disc-rt-user", "RFC 7643 §6", Must, [],
            "GET /ResourceTypes/User answers the User resource type (endpoint /Users, schema core User)",
            |cx| {
                let r = cx.get("/ResourceTypes/User").await?;
                r.expect(200)?;
                ensure!(attr(&r.json, "endpoint").and_then(Value::as_str) == Some("/Users"), "endpoint: {}", r.text);
                ensure!(attr(&r.json, "schema").and_then(Value::as_str) == Some(USER), "schema: {}", r.text);
                Ok(())
            }),
        check!("disc-rt-unknown", "RFC 7644 §3.12", Must, [],
            "GET /ResourceTypes/<unknown> is 404 with a SCIM error",
            |cx| {
                let r = cx.get("/ResourceTypes/NoSuchType").await?;
                r.expect_error(404, &[])
            }),
        check!("disc-rt-endpoints-work", "RFC 7643 §6", Must, [],
            "the endpoint of every advertised resource type answers GET with a ListResponse",
            |cx| {
                let r = cx.get("/ResourceTypes").await?;
                r.expect(200)?;
                for t in r.list()? {
                    let Some(ep) = attr(&t, "endpoint").and_then(Value::as_str) else { continue };
                    let l = cx.get_q(ep, &[("count", "1")]).await?;
                    ensure!(l.status == 200, "GET {ep}?count=1 answered {}: {}", l.status, l.text);
                    l.list()?;
                }
                Ok(())
            }),
        check!("disc-rt-schemas-served", "RFC 7643 §6", Must, [],
            "the schema and every schema extension of each resource type are served at /Schemas/{id}",
            |cx| {
                let r = cx.get("/ResourceTypes").await?;
                r.expect(200)?;
                for t in r.list()? {
                    let mut urns: Vec<String> = attr(&t, "schema").and_then(Value::as_str).map(|s| vec![s.to_string()]).unwrap_or_default();
                    if let Some(xs) = attr(&t, "schemaExtensions").and_then(Value::as_array) {
                        for x in xs {
                            if let Some(s) = attr(x, "schema").and_then(Value::as_str) { urns.push(s.to_string()); }
                        }
                    }
                    for u in urns {
                        let s = cx.get(&format!("/Schemas/{u}")).await?;
                        ensure!(s.status == 200, "GET /Schemas/{u} answered {}", s.status);
                    }
                }
                Ok(())
            }),
        check!("disc-schemas-list", "RFC 7644 §4", Must, [],
            "GET /Schemas lists the User and Group schemas",
            |cx| {
                let r = cx.get("/Schemas").await?;
                r.expect(200)?;
                let list = r.list()?;
                let ids: Vec<&str> = list.iter().filter_map(|t| attr(t, "id").and_then(Value::as_str)).collect();
                ensure!(ids.contains(&USER), "no {USER} in {ids:?}");
                ensure!(ids.contains(&GROUP), "no {GROUP} in {ids:?}");
                Ok(())
            }),
        check!("disc-schemas-enterprise", "RFC 7643 §4.3", Must, [Has(EnterpriseUser)],
            "with the enterprise extension advertised, GET /Schemas lists it",
            |cx| {
                let r = cx.get("/Schemas").await?;
                r.expect(200)?;
                let list = r.list()?;
                ensure!(list.iter().any(|s| attr(s, "id").and_then(Value::as_str) == Some(ENTERPRISE)), "no {ENTERPRISE}");
                Ok(())
            }),
        check!("disc-schema-user", "RFC 7643 §7", Must, [],
            "GET /Schemas/<User URN> describes userName as required, not case-exact, unique on the server",
            |cx| {
                let r = cx.get(&format!("/Schemas/{USER}")).await?;
                r.expect(200)?;
                ensure!(attr(&r.json, "id").and_then(Value::as_str) == Some(USER), "id is not {USER}");
                ensure!(has_schema(&r.json, SCHEMA), "schemas does not contain {SCHEMA}");
                let attrs = attr(&r.json, "attributes").and_then(Value::as_array).cloned().unwrap_or_default();
                let Some(u) = attrs.iter().find(|a| attr(a, "name").and_then(Value::as_str) == Some("userName")) else {
                    fail!("no userName attribute")
                };
                ensure!(attr(u, "required") == Some(&Value::Bool(true)), "userName.required: {u}");
                ensure!(attr(u, "caseExact") == Some(&Value::Bool(false)), "userName.caseExact: {u}");
                ensure!(attr(u, "uniqueness").and_then(Value::as_str) == Some("server"), "userName.uniqueness: {u}");
                Ok(())
            }),
        check!("disc-schema-attr-characteristics", "RFC 7643 §7", Must, [],
            "every attribute of the User schema has name, type, multiValued, mutability and returned",
            |cx| {
                let r = cx.get(&format!("/Schemas/{USER}")).await?;
                r.expect(200)?;
                let attrs = attr(&r.json, "attributes").and_then(Value::as_array).cloned().unwrap_or_default();
                ensure!(!attrs.is_empty(), "no attributes");
                fn walk(a: &Value) -> Result<(), String> {
                    for k in ["name", "type", "mutability", "returned"] {
                        if !attr(a, k).is_some_and(Value::is_string) {
                            return Err(format!("attribute without {k}: {a}"));
                        }
                    }
                    if !attr(a, "multiValued").is_some_and(Value::is_boolean) {
                        return Err(format!("attribute without multiValued: {a}"));
                    }
                    if let Some(subs) = attr(a, "subAttributes").and_then(Value::as_array) {
                        for s in subs { walk(s)?; }
                    }
                    Ok(())
                }
                for a in &attrs {
                    if let Err(e) = walk(a) { fail!("{e}") }
                }
                Ok(())
            }),
        check!("disc-schema-password-never", "RFC 7643 §4.1.1", Must, [],
            "the User schema declares password writeOnly and returned never",
            |cx| {
                let r = cx.get(&format!("/Schemas/{USER}")).await?;
                r.expect(200)?;
                let attrs = attr(&r.json, "attributes").and_then(Value::as_array).cloned().unwrap_or_default();
                let Some(p) = attrs.iter().find(|a| attr(a, "name").and_then(Value::as_str) == Some("password")) else {
                    fail!("no password attribute")
                };
                ensure!(attr(p, "returned").and_then(Value::as_str) == Some("never"), "password.returned: {p}");
                ensure!(attr(p, "mutability").and_then(Value::as_str) == Some("writeOnly"), "password.mutability: {p}");
                Ok(())
            }),
        check!("disc-schemas-unknown", "RFC 7644 §3.12", Must, [],
            "GET /Schemas/<unknown URN> is 404 with a SCIM error",
            |cx| {
                let r = cx.get("/Schemas/urn:example:no:such:schema").await?;
                r.expect_error(404, &[])
            }),
        check!("disc-schemas-filter-forbidden", "RFC 7644 §4", Should, [],
            "GET /Schemas with a filter is refused with 403",
            |cx| {
                let r = cx.get_q("/Schemas", &[("filter", "id eq \"x\"")]).await?;
                r.expect(403)
            }),
        check!("disc-rt-filter-forbidden", "RFC 7644 §4", Should, [],
            "GET /ResourceTypes with a filter is refused with 403",
            |cx| {
                let r = cx.get_q("/ResourceTypes", &[("filter", "name eq \"User\"")]).await?;
                r.expect(403)
            }),
        check!("auth-missing-401", "RFC 7644 §3.12", Must, [],
            "a request without credentials is refused with 401",
            |cx| {
                if cx.shared.target.token.is_none() {
                    crate::skip!("no token was given: the server may be open");
                }
                let r = cx.req(reqwest::Method::GET, "/Users").no_auth().send().await?;
                r.expect(401)
            }),
        check!("auth-wrong-token-401", "RFC 7644 §3.12", Must, [],
            "a request with a wrong bearer token is refused with 401",
            |cx| {
                if cx.shared.target.token.is_none() {
                    crate::skip!("no token was given: the server may be open");
                }
                let r = cx.req(reqwest::Method::GET, "/Users").token("scim-conformance-wrong-token").send().await?;
                r.expect(401)
            }),
        check!("auth-401-www-authenticate", "RFC 6750 §3", Should, [],
            "a 401 carries a WWW-Authenticate header",
            |cx| {
                if cx.shared.target.token.is_none() {
                    crate::skip!("no token was given: the server may be open");
                }
                let r = cx.req(reqwest::Method::GET, "/Users").no_auth().send().await?;
                r.expect(401)?;
                ensure!(r.header("www-authenticate").is_some(), "no WWW-Authenticate header");
                Ok(())
            }),
    ]
}

#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
