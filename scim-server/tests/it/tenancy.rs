//! Issue 9, "Done when": the cross-tenant suite. One server, two tenants. Tenant A owns users
//! (userName, externalId, emails, phone numbers, the enterprise extension with employeeNumber
//! and manager) and groups (user members and a nested group), so every kind of data exists.
//! Tenant B then tries every route naming A's ids and A's values: reads by id (with
//! `attributes`/`excludedAttributes`), lists and filters on every indexed path, sorting and
//! paging, the three `.search` endpoints, RFC 9865 cursors, PUT, PATCH (with and without a path,
//! every spelling of `members`, value filters), DELETE, `If-Match`/`If-None-Match`, member and
//! manager references, `/Bulk` (with `bulkId` references) and `/Me`.
//!
//! What "nothing reachable" means here, checked on every response B gets:
//! - no id or value of A appears in it unless B sent that string itself (ids and filter values
//!   echoed in error details are B's own words);
//! - lists are `200` with `totalResults` 0 and no `Resources`, where the same request made by A
//!   finds A's resources (so every filter is known to be valid and to match);
//! - naming A's id is answered exactly like naming an id that exists nowhere (status, scimType
//!   and detail), so not even existence leaks;
//! - afterwards A's resources are byte-for-byte what they were (full GET bodies, `meta.version`,
//!   users' `groups`, groups' `members`), and no change event was recorded in tenant A.

use std::collections::BTreeMap;

use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use scim_server::auth::{JwtGrant, JwtIssuer, JwtKeys};
use serde_json::{json, Value};

use crate::backends;
use crate::support::{Options, Resp, TestServer};
use scim_server::store::Load;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

const ISS_A: &str = "https://sts.tenant-a.example/";
const ISS_B: &str = "https://sts.tenant-b.example/";
const AUD: &str = "api://scim";
const SECRET_A: &[u8] = b"secret-of-tenant-a";
const SECRET_B: &[u8] = b"secret-of-tenant-b";
const PROVISION: &str = "SCIM.Provision";

// Tenant A's data: distinctive values that B must never see.
const ALICE: &str = "alice.tenant-a@a-corp.example";
const BOB: &str = "bob.tenant-a@a-corp.example";
const CAROL: &str = "carol.tenant-a@a-corp.example";
const ADMINS: &str = "A-Admins-Secret";
const EVERYONE: &str = "A-Everyone-Secret";

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The decoded query parameters of a path, as text (what B "said" in its query string).
fn decoded(path: &str) -> String {
    let q = path.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| format!("{k}={v} "))
        .collect()
}

fn jwt(iss: &str, secret: &[u8], sub: &str, roles: &[&str]) -> String {
    let claims = json!({"iss": iss, "aud": AUD, "exp": chrono::Utc::now().timestamp() + 600, "sub": sub, "roles": roles});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn issuer(iss: &str, secret: &[u8], tenant: &str) -> JwtIssuer {
    JwtIssuer::with_keys(
        iss,
        AUD,
        JwtKeys::Static(DecodingKey::from_secret(secret), Algorithm::HS256),
        tenant,
        JwtGrant::claim("roles", PROVISION),
    )
}

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn resources(r: &Resp) -> Vec<Value> {
    r.body
        .get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn ids_of(r: &Resp) -> Vec<String> {
    resources(r)
        .iter()
        .filter_map(|x| x["id"].as_str().map(str::to_string))
        .collect()
}

/// A list that found nothing: `200`, `totalResults` 0, no resources.
#[track_caller]
fn assert_empty(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
    assert_eq!(r.body["totalResults"], json!(0), "LEAK? {what}: {}", r.body);
    assert!(resources(r).is_empty(), "LEAK: {what}: {}", r.body);
}

/// A list that found something (the positive control made as A).
#[track_caller]
fn assert_found(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what} as A: {}", r.body);
    assert!(
        r.body["totalResults"].as_u64().unwrap_or(0) >= 1,
        "{what} as A finds nothing, so it proves nothing: {}",
        r.body
    );
}

/// The same request made by A (`ra`) and by B (`rb`): answered with the same status; when that
/// is `200`, A finds its data and B finds nothing. (The root `/.search` refuses some requests
/// for both, e.g. an empty filter or a filter on attributes of one resource type only.)
#[track_caller]
fn assert_same_or_empty(ra: &Resp, rb: &Resp, what: &str) {
    assert_eq!(
        ra.status, rb.status,
        "{what}: A {} / B {}",
        ra.body, rb.body
    );
    if ra.status == StatusCode::OK {
        assert_found(ra, what);
        assert_empty(rb, what);
    }
}

/// One server with tenants A and B, and A's data.
struct World {
    s: TestServer,
    /// A's and B's static tokens.
    a: String,
    b: String,
    a_tenant: String,
    b_tenant: String,
    /// A's users: alice, bob, carol.
    users: Vec<String>,
    /// A's groups: admins (alice, bob), everyone (carol and the admins group).
    groups: Vec<String>,
    /// Every id and distinctive value of A.
    markers: Vec<String>,
    /// A's resources as A saw them after the set-up.
    before: BTreeMap<String, Value>,
    /// Change events recorded for tenant A after the set-up.
    a_events: usize,
}

impl World {
    /// Replaces the default server with one that has tenants A and B (static tokens and a JWT
    /// issuer each) and fills A.
    async fn new(s0: TestServer) -> Option<World> {
        let backend = s0.backend;
        drop(s0);
        let a_tenant = format!("tenant-a-{}", uuid::Uuid::new_v4());
        let b_tenant = format!("tenant-b-{}", uuid::Uuid::new_v4());
        let a = format!("tok-a-{}", uuid::Uuid::new_v4());
        let b = format!("tok-b-{}", uuid::Uuid::new_v4());
        let opts = Options {
            extra_tokens: vec![(a.clone(), a_tenant.clone()), (b.clone(), b_tenant.clone())],
            jwt: vec![
                issuer(ISS_A, SECRET_A, &a_tenant),
                issuer(ISS_B, SECRET_B, &b_tenant),
            ],
            ..Options::default()
        };
        let s = TestServer::start_with(backend, opts).await?;
        let mut w = World {
            s,
            a,
            b,
            a_tenant,
            b_tenant,
            users: Vec::new(),
            groups: Vec::new(),
            markers: Vec::new(),
            before: BTreeMap::new(),
            a_events: 0,
        };
        let carol = w
            .create_a(
                "/Users",
                json!({"schemas": [USER, ENT], "userName": CAROL, "externalId": "ext-tenant-a-carol",
                    "displayName": "Carol Tenant-A", "name": {"givenName": "Carola", "familyName": "Aardwolf"},
                    "emails": [{"value": "carol.work@a-corp.example", "type": "work", "primary": true}],
                    ENT: {"employeeNumber": "A-EMP-0003", "department": "A-Dept-Secret"}}),
            )
            .await;
        let bob = w
            .create_a(
                "/Users",
                json!({"schemas": [USER, ENT], "userName": BOB, "externalId": "ext-tenant-a-bob",
                    "displayName": "Bob Tenant-A", "name": {"givenName": "Roberto", "familyName": "Aardvark"},
                    "emails": [{"value": "bob.work@a-corp.example", "type": "work", "primary": true}],
                    ENT: {"employeeNumber": "A-EMP-0002", "department": "A-Dept-Secret", "manager": {"value": carol}}}),
            )
            .await;
        let alice = w
            .create_a(
                "/Users",
                json!({"schemas": [USER, ENT], "userName": ALICE, "externalId": "ext-tenant-a-alice",
                    "displayName": "Alice Tenant-A", "title": "A-Title-Secret", "active": true,
                    "name": {"givenName": "Alicia", "familyName": "Aardvark-Smythe"},
                    "emails": [{"value": "alice.work@a-corp.example", "type": "work", "primary": true},
                               {"value": "alice.home@a-home.example", "type": "home"}],
                    "phoneNumbers": [{"value": "+1-555-0100-777", "type": "work"}],
                    ENT: {"employeeNumber": "A-EMP-0001", "department": "A-Dept-Secret", "costCenter": "A-CC-4711",
                          "manager": {"value": bob}}}),
            )
            .await;
        let admins = w
            .create_a(
                "/Groups",
                json!({"schemas": [GROUP], "displayName": ADMINS, "externalId": "ext-tenant-a-admins",
                    "members": [{"value": alice}, {"value": bob}]}),
            )
            .await;
        let everyone = w
            .create_a(
                "/Groups",
                json!({"schemas": [GROUP], "displayName": EVERYONE, "externalId": "ext-tenant-a-everyone",
                    "members": [{"value": carol}, {"value": admins}]}),
            )
            .await;
        w.users = vec![alice, bob, carol];
        w.groups = vec![admins, everyone];
        w.markers = w.users.iter().chain(&w.groups).cloned().collect();
        w.markers.extend(
            [
                ALICE,
                BOB,
                CAROL,
                ADMINS,
                EVERYONE,
                "ext-tenant-a-alice",
                "ext-tenant-a-bob",
                "ext-tenant-a-carol",
                "ext-tenant-a-admins",
                "ext-tenant-a-everyone",
                "Alice Tenant-A",
                "Bob Tenant-A",
                "Carol Tenant-A",
                "Alicia",
                "Roberto",
                "Carola",
                "Aardvark",
                "Aardwolf",
                "A-Title-Secret",
                "alice.work@a-corp.example",
                "alice.home@a-home.example",
                "bob.work@a-corp.example",
                "carol.work@a-corp.example",
                "+1-555-0100-777",
                "A-EMP-0001",
                "A-EMP-0002",
                "A-EMP-0003",
                "A-Dept-Secret",
                "A-CC-4711",
            ]
            .map(str::to_string),
        );
        w.markers.push(w.a_tenant.clone());
        w.markers.push(w.a.clone());
        // The fixture is what we think it is: memberships in both directions.
        let g = w
            .as_a(Method::GET, &format!("/Groups/{}", w.groups[1]), None)
            .await;
        assert_eq!(
            g.body["members"].as_array().map(Vec::len),
            Some(2),
            "{}",
            g.body
        );
        let u = w
            .as_a(Method::GET, &format!("/Users/{}", w.users[0]), None)
            .await;
        assert!(
            u.body["groups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g["value"] == json!(w.groups[0]))),
            "{}",
            u.body
        );
        w.before = w.snapshot().await;
        w.a_events = w.events_of_a().await;
        Some(w)
    }

    fn alice(&self) -> &str {
        &self.users[0]
    }

    async fn create_a(&self, path: &str, body: Value) -> String {
        let r = self.as_a(Method::POST, path, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    async fn as_a(&self, m: Method, path: &str, body: Option<Value>) -> Resp {
        self.s.call_with(m, path, body, &self.a, &[]).await
    }

    async fn as_b(&self, m: Method, path: &str, body: Option<Value>) -> Resp {
        self.as_b_with(m, path, body, &[], &[]).await
    }

    /// A request as B; its answer may hold no id or value of A that B did not send itself (or
    /// that is in `allowed`: what B stored in its own resources).
    async fn as_b_with(
        &self,
        m: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
        allowed: &[&str],
    ) -> Resp {
        self.send_checked(&self.b.clone(), m, path, body, headers, allowed)
            .await
    }

    async fn send_checked(
        &self,
        token: &str,
        m: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
        allowed: &[&str],
    ) -> Resp {
        let sent = format!(
            "{path} {} {} {headers:?} {}",
            decoded(path),
            body.as_ref().map(Value::to_string).unwrap_or_default(),
            allowed.join(" ")
        );
        let r = self
            .s
            .call_with(m.clone(), path, body, token, headers)
            .await;
        self.assert_clean(&r, &sent, &format!("{m} {path}"));
        r
    }

    #[track_caller]
    fn assert_clean(&self, r: &Resp, sent: &str, what: &str) {
        let text = format!("{} {:?}", r.body, r.headers).to_lowercase();
        let sent = sent.to_lowercase();
        for m in &self.markers {
            let m = m.to_lowercase();
            assert!(
                !text.contains(&m) || sent.contains(&m),
                "LEAK: {what} as tenant B answered {} with {m:?} of tenant A: {} (headers {:?})",
                r.status,
                r.body,
                r.headers
            );
        }
    }

    /// Sends a request as B naming A's `id`, then the same request naming an id that exists
    /// nowhere: the answers must be the same (status, scimType, detail up to the id).
    async fn probe(
        &self,
        m: Method,
        path: &str,
        body: Option<Value>,
        id: &str,
        headers: &[(&str, &str)],
    ) -> Resp {
        let unknown = uuid::Uuid::new_v4().to_string();
        let swap = |s: &str| s.replace(id, &unknown);
        let r = self
            .as_b_with(m.clone(), path, body.clone(), headers, &[])
            .await;
        let body_u = body.as_ref().map(|b| {
            serde_json::from_str::<Value>(&swap(&b.to_string())).expect("JSON stays JSON")
        });
        let u = self
            .as_b_with(m.clone(), &swap(path), body_u, headers, &[])
            .await;
        let body_text = body.map(|b| b.to_string()).unwrap_or_default();
        assert_eq!(
            (r.status, &r.body["scimType"]),
            (u.status, &u.body["scimType"]),
            "LEAK (existence): {m} {path} {body_text}: tenant A's id is answered differently \
             from an unknown id:\nA's id:  {}\nunknown: {}",
            r.body,
            u.body
        );
        let norm = |b: &Value, x: &str| b["detail"].as_str().unwrap_or("").replace(x, "<id>");
        assert_eq!(
            norm(&r.body, id),
            norm(&u.body, &unknown),
            "LEAK (existence): {m} {path} {body_text}: the detail differs"
        );
        r
    }

    /// A's resources as A sees them, and A's sorted lists.
    async fn snapshot(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let mut paths: Vec<String> = self
            .users
            .iter()
            .map(|id| format!("/Users/{id}"))
            .chain(self.groups.iter().map(|id| format!("/Groups/{id}")))
            .collect();
        paths.push("/Users?sortBy=userName".into());
        paths.push("/Groups?sortBy=displayName".into());
        for p in paths {
            let r = self.as_a(Method::GET, &p, None).await;
            assert_eq!(r.status, StatusCode::OK, "A's GET {p}: {}", r.body);
            out.insert(p, r.body);
        }
        out
    }

    async fn events_of_a(&self) -> usize {
        let events = self.s.events.0.lock().await;
        events.iter().filter(|e| e.tenant == self.a_tenant).count()
    }

    /// A's data is what it was after the set-up, and nothing was changed in tenant A.
    async fn assert_a_unchanged(&self) {
        let now = self.snapshot().await;
        for (k, v) in &self.before {
            assert_eq!(
                now.get(k),
                Some(v),
                "LEAK (write): tenant A's {k} changed:\nbefore {v}\nafter  {:?}",
                now.get(k)
            );
        }
        let events = self.s.events.0.lock().await;
        let a: Vec<_> = events
            .iter()
            .filter(|e| e.tenant == self.a_tenant)
            .skip(self.a_events)
            .map(|e| format!("{:?} {} {}", e.kind, e.resource_type, e.id))
            .collect();
        assert!(a.is_empty(), "LEAK (write): changes in tenant A: {a:?}");
    }

    async fn etag_a(&self, path: &str) -> String {
        let r = self.as_a(Method::GET, path, None).await;
        r.header("etag").expect("an ETag").to_string()
    }

    /// B's resource as stored (its JSON, without members and groups) holds none of A's ids:
    /// members are rows, never JSON.
    async fn assert_stored_without_a(&self, resource_type: &str, id: &str) {
        let ctx = scim_core::Context::new(self.s.state.registry(), resource_type).unwrap();
        let stored = self
            .s
            .state
            .store()
            .get(&self.b_tenant, &ctx, id, Load::default())
            .await
            .unwrap_or_else(|e| panic!("B's {resource_type} {id}: {e:?}"));
        let text = Value::Object(stored.data).to_string();
        for a in self.users.iter().chain(&self.groups) {
            assert!(
                !text.contains(a.as_str()),
                "LEAK: A's id {a} stored in B's {resource_type}: {text}"
            );
        }
    }

    /// Creates a resource as B; returns its id.
    async fn create_b(&self, path: &str, body: Value) -> String {
        let r = self.as_b(Method::POST, path, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "B's POST {path}: {}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// The filters that find A's data, by endpoint: every indexed path, every operator.
    fn filters(&self) -> Vec<(&'static str, String)> {
        let [alice, bob, carol] = [&self.users[0], &self.users[1], &self.users[2]];
        let [admins, everyone] = [&self.groups[0], &self.groups[1]];
        let mut users = vec![
            format!("userName eq \"{ALICE}\""),
            format!("userName eq \"{}\"", ALICE.to_uppercase()),
            "userName sw \"alice.tenant-a\"".to_string(),
            "userName co \"tenant-a@a-corp\"".to_string(),
            "userName ew \"@a-corp.example\"".to_string(),
            "userName pr".to_string(),
            "userName gt \"a\"".to_string(),
            "userName le \"zzz\"".to_string(),
            "externalId eq \"ext-tenant-a-alice\"".to_string(),
            "externalId sw \"ext-tenant-a\"".to_string(),
            "externalId pr".to_string(),
            "emails.value eq \"alice.work@a-corp.example\"".to_string(),
            "emails.value co \"a-corp\"".to_string(),
            "emails.value ew \"a-home.example\"".to_string(),
            "emails[type eq \"work\"].value sw \"alice.work\"".to_string(),
            "emails[type eq \"work\" and value co \"a-corp\"]".to_string(),
            "emails[type eq \"home\"]".to_string(),
            "emails.type eq \"work\"".to_string(),
            "emails pr".to_string(),
            "phoneNumbers.value eq \"+1-555-0100-777\"".to_string(),
            format!("id eq \"{alice}\""),
            format!("id eq \"{bob}\" or id eq \"{carol}\""),
            format!("id sw \"{}\"", &alice[..8]),
            "displayName eq \"Alice Tenant-A\"".to_string(),
            "displayName co \"Tenant-A\"".to_string(),
            "name.givenName eq \"Alicia\"".to_string(),
            "name.familyName sw \"Aard\"".to_string(),
            "title eq \"A-Title-Secret\"".to_string(),
            "active eq true".to_string(),
            format!("{ENT}:employeeNumber eq \"A-EMP-0001\""),
            format!("{ENT}:employeeNumber sw \"A-EMP\""),
            format!("{ENT}:department co \"Dept-Secret\""),
            format!("{ENT}:costCenter pr"),
            format!("{ENT}:manager.value eq \"{bob}\""),
            format!("{ENT}:manager pr"),
            format!("groups.value eq \"{admins}\""),
            "groups.display eq \"A-Admins-Secret\"".to_string(),
            "groups pr".to_string(),
            "meta.lastModified gt \"2000-01-01T00:00:00Z\"".to_string(),
            "meta.created lt \"2999-01-01T00:00:00Z\"".to_string(),
            "meta.resourceType eq \"User\"".to_string(),
            "not (userName eq \"nobody@nowhere.example\")".to_string(),
            "not (externalId eq \"ext-tenant-a-alice\")".to_string(),
            "userName pr and not (emails.value ew \"@nowhere.example\")".to_string(),
            "(userName sw \"alice\" or userName sw \"bob\") and active eq true".to_string(),
        ];
        // Long `or` chains of A's ids and userNames, padded with ids that exist nowhere.
        let chain = |attr: &str, vals: &[&str]| -> String {
            (0..70)
                .map(|i| {
                    if i % 7 == 0 {
                        format!("{attr} eq \"{}\"", vals[(i / 7) % vals.len()])
                    } else {
                        format!("{attr} eq \"{}\"", uuid::Uuid::new_v4())
                    }
                })
                .collect::<Vec<_>>()
                .join(" or ")
        };
        users.push(chain("id", &[alice, bob, carol]));
        users.push(chain("userName", &[ALICE, BOB, CAROL]));
        users.push(chain("externalId", &["ext-tenant-a-bob"]));
        let mut groups = vec![
            format!("displayName eq \"{ADMINS}\""),
            "displayName sw \"A-\"".to_string(),
            "displayName co \"Secret\"".to_string(),
            "displayName ew \"-Secret\"".to_string(),
            "externalId eq \"ext-tenant-a-admins\"".to_string(),
            format!("id eq \"{admins}\""),
            format!("members.value eq \"{alice}\""),
            format!("members[value eq \"{alice}\"]"),
            format!("members.value eq \"{admins}\""),
            format!("members.value eq \"{carol}\" and displayName pr"),
            "members pr".to_string(),
            "meta.lastModified gt \"2000-01-01T00:00:00Z\"".to_string(),
            "meta.resourceType eq \"Group\"".to_string(),
            "not (displayName eq \"zzz\")".to_string(),
        ];
        groups.push(chain("id", &[admins, everyone]));
        groups.push(chain("members.value", &[alice, bob, carol]));
        users
            .into_iter()
            .map(|f| ("Users", f))
            .chain(groups.into_iter().map(|f| ("Groups", f)))
            .collect()
    }
}

// GET by id, with and without projections and conditional headers: 404, like an unknown id.
backends!(reads_by_id_are_not_found, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    let user_queries = [
        String::new(),
        "?attributes=userName,emails".into(),
        "?excludedAttributes=emails,groups".into(),
        "?attributes=groups".into(),
        format!("?attributes={ENT}:employeeNumber,{ENT}:manager"),
        format!("?excludedAttributes={ENT}"),
    ];
    for id in &w.users {
        for q in &user_queries {
            let r = w
                .probe(Method::GET, &format!("/Users/{id}{q}"), None, id, &[])
                .await;
            r.assert_error(404, None);
        }
        // A user's id under /Groups, and its upper-case spelling.
        w.probe(Method::GET, &format!("/Groups/{id}"), None, id, &[])
            .await
            .assert_error(404, None);
        let upper = id.to_uppercase();
        w.probe(Method::GET, &format!("/Users/{upper}"), None, &upper, &[])
            .await
            .assert_error(404, None);
        // Conditional reads with A's ETag: still 404, never 304.
        let tag = w.etag_a(&format!("/Users/{id}")).await;
        for h in ["if-none-match", "if-match"] {
            w.probe(
                Method::GET,
                &format!("/Users/{id}"),
                None,
                id,
                &[(h, tag.as_str())],
            )
            .await
            .assert_error(404, None);
        }
    }
    for id in &w.groups {
        for q in [
            "",
            "?attributes=members",
            "?excludedAttributes=members",
            "?attributes=displayName,members.value",
        ] {
            w.probe(Method::GET, &format!("/Groups/{id}{q}"), None, id, &[])
                .await
                .assert_error(404, None);
        }
        w.probe(Method::GET, &format!("/Users/{id}"), None, id, &[])
            .await
            .assert_error(404, None);
        let tag = w.etag_a(&format!("/Groups/{id}")).await;
        w.probe(
            Method::GET,
            &format!("/Groups/{id}"),
            None,
            id,
            &[("if-none-match", tag.as_str())],
        )
        .await
        .assert_error(404, None);
    }
    w.assert_a_unchanged().await;
});

// Lists, filters on every indexed path, sorting, paging, projections and the three `.search`
// endpoints: each request finds A's data when A makes it, and nothing when B does.
backends!(lists_filters_and_searches_find_nothing, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    // Without a filter.
    for p in [
        "/Users",
        "/Groups",
        "/Users?count=0",
        "/Groups?count=0",
        "/Users?sortBy=userName",
        "/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2",
        "/Users?startIndex=1&count=1000",
        "/Users?startIndex=3&count=1",
        "/Users?sortBy=meta.lastModified&attributes=groups,emails",
        "/Users?sortBy=emails.value&excludedAttributes=name",
        "/Groups?sortBy=displayName&count=1",
        "/Groups?attributes=members",
        "/Groups?excludedAttributes=members",
    ] {
        assert_found(&w.as_a(Method::GET, p, None).await, p);
        assert_empty(&w.as_b(Method::GET, p, None).await, p);
    }
    for (path, body) in [
        ("/Users/.search", json!({"schemas": [SEARCH]})),
        ("/Groups/.search", json!({"schemas": [SEARCH]})),
        ("/.search", json!({"schemas": [SEARCH]})),
        ("/.search", json!({"schemas": [SEARCH], "filter": ""})),
        (
            "/.search",
            json!({"schemas": [SEARCH], "sortBy": "meta.lastModified", "count": 0}),
        ),
        (
            "/Users/.search",
            json!({"schemas": [SEARCH], "filter": "", "sortBy": "userName", "startIndex": 2, "count": 1}),
        ),
    ] {
        let what = format!("POST {path} {body}");
        let ra = w.as_a(Method::POST, path, Some(body.clone())).await;
        let rb = w.as_b(Method::POST, path, Some(body)).await;
        assert_same_or_empty(&ra, &rb, &what);
    }
    // With filters.
    for (rt, f) in w.filters() {
        let sort = if rt == "Users" {
            "userName"
        } else {
            "displayName"
        };
        let get = format!("/{rt}?filter={}", enc(&f));
        assert_found(&w.as_a(Method::GET, &get, None).await, &get);
        for suffix in [
            String::new(),
            format!("&sortBy={sort}&sortOrder=descending"),
            "&startIndex=1&count=2".to_string(),
            "&startIndex=2&count=1".to_string(),
            "&count=0".to_string(),
            format!("&sortBy={sort}&attributes=id,{sort}&count=5"),
        ] {
            let p = format!("{get}{suffix}");
            assert_empty(&w.as_b(Method::GET, &p, None).await, &p);
        }
        for body in [
            json!({"schemas": [SEARCH], "filter": f}),
            json!({"schemas": [SEARCH], "filter": f, "sortBy": sort, "startIndex": 1, "count": 3}),
            json!({"schemas": [SEARCH], "filter": f, "count": 0}),
            json!({"schemas": [SEARCH], "filter": f, "attributes": ["id"], "excludedAttributes": ["meta"]}),
        ] {
            let path = format!("/{rt}/.search");
            let what = format!("POST {path} {body}");
            assert_empty(&w.as_b(Method::POST, &path, Some(body)).await, &what);
        }
        // The root search applies the filter to every resource type; a filter on attributes
        // of one type may be refused (then for A and B alike).
        let body = json!({"schemas": [SEARCH], "filter": f});
        let ra = w.as_a(Method::POST, "/.search", Some(body.clone())).await;
        let rb = w.as_b(Method::POST, "/.search", Some(body.clone())).await;
        assert_same_or_empty(&ra, &rb, &format!("POST /.search {body}"));
    }
    w.assert_a_unchanged().await;
});

// RFC 9865 cursors: a cursor obtained by A is bound to A's query (tenant included in its
// fingerprint, see src/cursor.rs), so B gets `400 invalidCursor` for it, never a page of A.
backends!(cursors_do_not_cross_tenants, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    let queries = [
        "/Users?count=1".to_string(),
        format!("/Users?count=1&filter={}", enc("userName pr")),
        format!(
            "/Users?count=1&filter={}",
            enc("emails.value co \"a-corp\"")
        ),
        "/Users?count=1&sortBy=userName".to_string(),
        "/Users?count=1&sortBy=userName&sortOrder=descending".to_string(),
        "/Groups?count=1".to_string(),
        "/Groups?count=1&sortBy=displayName".to_string(),
    ];
    let mut a_cursors = Vec::new();
    for q in &queries {
        let r = w.as_a(Method::GET, &format!("{q}&cursor="), None).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
        let c = r.body["nextCursor"]
            .as_str()
            .unwrap_or_else(|| panic!("A gets a next cursor for {q}: {}", r.body))
            .to_string();
        a_cursors.push((q.clone(), c));
    }
    for (q, c) in &a_cursors {
        // The same query with A's cursor, and the same cursor on the other queries.
        for q2 in &queries {
            let p = format!("{q2}&cursor={c}");
            let r = w.as_b(Method::GET, &p, None).await;
            if r.status == StatusCode::OK {
                assert_empty(&r, &p);
            } else {
                r.assert_error(400, Some("invalidCursor"));
            }
        }
        let rt = q.split('?').next().unwrap();
        let p = format!("{rt}/.search");
        let body = json!({"schemas": [SEARCH], "cursor": c, "count": 1});
        let r = w.as_b(Method::POST, &p, Some(body.clone())).await;
        if r.status == StatusCode::OK {
            assert_empty(&r, &format!("{p} {body}"));
        } else {
            r.assert_error(400, Some("invalidCursor"));
        }
        // The root search takes no cursor at all.
        w.as_b(Method::POST, "/.search", Some(body))
            .await
            .assert_error(400, Some("invalidCursor"));
    }
    // B's own cursor paging: its first page is empty and has no next cursor.
    for q in &queries {
        let p = format!("{q}&cursor=");
        let r = w.as_b(Method::GET, &p, None).await;
        assert_empty(&r, &p);
        assert!(r.body.get("nextCursor").is_none(), "{p}: {}", r.body);
    }
    // With users of its own, B pages through exactly those; its cursors are no use to A.
    let mut mine = Vec::new();
    for i in 0..3 {
        mine.push(
            w.create_b(
                "/Users",
                json!({"schemas": [USER], "userName": format!("b-cursor-{i}@b.example")}),
            )
            .await,
        );
    }
    mine.sort();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut b_cursor = None;
    loop {
        let p = format!("/Users?count=1&cursor={cursor}");
        let r = w.as_b(Method::GET, &p, None).await;
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
        seen.extend(ids_of(&r));
        match r.body.get("nextCursor").and_then(Value::as_str) {
            Some(c) => {
                cursor = c.to_string();
                b_cursor.get_or_insert_with(|| c.to_string());
            }
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, mine, "B pages through its own users only");
    let b_cursor = b_cursor.expect("B got a next cursor");
    let r = w
        .as_a(
            Method::GET,
            &format!("/Users?count=1&cursor={b_cursor}"),
            None,
        )
        .await;
    r.assert_error(400, Some("invalidCursor"));
    // A still pages through exactly its own users after all this.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = w
            .as_a(
                Method::GET,
                &format!("/Users?count=2&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        seen.extend(ids_of(&r));
        match r.body.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    seen.sort();
    let mut want = w.users.clone();
    want.sort();
    assert_eq!(seen, want);
    w.assert_a_unchanged().await;
});

// PUT, PATCH (every form) and DELETE on A's ids, with and without A's ETag: 404 like an
// unknown id, and nothing of A changes.
backends!(writes_to_foreign_ids_are_not_found, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    let own_user = w
        .create_b(
            "/Users",
            json!({"schemas": [USER], "userName": "b-own@b.example"}),
        )
        .await;
    let [alice, bob, carol] = [&w.users[0], &w.users[1], &w.users[2]];
    let ops_user = [
        json!([{"op": "replace", "path": "userName", "value": "b-took-over@b.example"}]),
        json!([{"op": "replace", "path": "active", "value": false}]),
        json!([{"op": "add", "path": "emails", "value": [{"value": "b@b.example", "type": "work"}]}]),
        json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@b.example"}]),
        json!([{"op": "remove", "path": "title"}]),
        json!([{"op": "remove", "path": "nickName"}]),
        json!([{"op": "replace", "path": format!("{ENT}:employeeNumber"), "value": "B-1"}]),
        json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": own_user}}]),
        json!([{"op": "remove", "path": format!("{ENT}:manager")}]),
        json!([{"op": "replace", "value": {"displayName": "B was here", ENT: {"employeeNumber": "B-2"}}}]),
        json!([{"op": "add", "value": {"nickName": "b"}}]),
    ];
    for id in [alice, bob, carol] {
        let path = format!("/Users/{id}");
        let tag = w.etag_a(&path).await;
        let put = json!({"schemas": [USER], "id": id, "userName": "b-put@b.example"});
        for h in [vec![], vec![("if-match", tag.as_str())]] {
            w.probe(Method::PUT, &path, Some(put.clone()), id, &h)
                .await
                .assert_error(404, None);
            for ops in &ops_user {
                w.probe(Method::PATCH, &path, Some(patch_body(ops.clone())), id, &h)
                    .await
                    .assert_error(404, None);
            }
            w.probe(Method::DELETE, &path, None, id, &h)
                .await
                .assert_error(404, None);
        }
        // A user's id under /Groups.
        let gpath = format!("/Groups/{id}");
        w.probe(
            Method::PATCH,
            &gpath,
            Some(patch_body(
                json!([{"op": "add", "path": "members", "value": [{"value": own_user}]}]),
            )),
            id,
            &[],
        )
        .await
        .assert_error(404, None);
        w.probe(Method::DELETE, &gpath, None, id, &[])
            .await
            .assert_error(404, None);
    }
    let mem = |v: &str| json!([{"value": v}]);
    let ops_group = [
        json!([{"op": "add", "path": "members", "value": mem(&own_user)}]),
        json!([{"op": "replace", "path": "members", "value": mem(&own_user)}]),
        json!([{"op": "replace", "path": "members", "value": []}]),
        json!([{"op": "remove", "path": "members"}]),
        json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}]),
        json!([{"op": "add", "value": {"members": mem(&own_user)}}]),
        json!([{"op": "add", "value": {format!("{GROUP}:members"): mem(&own_user)}}]),
        json!([{"op": "replace", "value": {"Members": mem(&own_user)}}]),
        json!([{"op": "replace", "value": {format!("{GROUP}:Members"): []}}]),
        json!([{"op": "add", "path": "members", "value": mem(carol)}]),
        json!([{"op": "replace", "path": "displayName", "value": "B-renamed"}]),
        json!([{"op": "replace", "value": {"displayName": "B-renamed", "externalId": "b-ext"}}]),
    ];
    for id in &w.groups {
        let path = format!("/Groups/{id}");
        let tag = w.etag_a(&path).await;
        for h in [vec![], vec![("if-match", tag.as_str())]] {
            for put in [
                json!({"schemas": [GROUP], "displayName": "B-put"}),
                json!({"schemas": [GROUP], "displayName": "B-put", "members": mem(&own_user)}),
                json!({"schemas": [GROUP], "displayName": "B-put", "members": []}),
            ] {
                w.probe(Method::PUT, &path, Some(put), id, &h)
                    .await
                    .assert_error(404, None);
            }
            for ops in &ops_group {
                w.probe(Method::PATCH, &path, Some(patch_body(ops.clone())), id, &h)
                    .await
                    .assert_error(404, None);
            }
            w.probe(Method::DELETE, &path, None, id, &h)
                .await
                .assert_error(404, None);
        }
        w.probe(Method::DELETE, &format!("/Users/{id}"), None, id, &[])
            .await
            .assert_error(404, None);
    }
    // A POST naming A's id as its own: a new resource of B, or refused; never A's.
    for (path, body) in [
        (
            "/Users",
            json!({"schemas": [USER], "id": alice, "userName": "b-same-id@b.example"}),
        ),
        (
            "/Groups",
            json!({"schemas": [GROUP], "id": w.groups[0], "displayName": "B-same-id"}),
        ),
    ] {
        let r = w.as_b(Method::POST, path, Some(body.clone())).await;
        if r.status == StatusCode::CREATED {
            let id = r.body["id"].as_str().unwrap();
            assert!(
                !w.users.iter().chain(&w.groups).any(|a| a == id),
                "LEAK: B's POST {path} {body} took A's id: {}",
                r.body
            );
        } else {
            assert_eq!(r.status.as_u16(), 400, "{}", r.body);
        }
    }
    w.assert_a_unchanged().await;
});

// B's groups cannot take A's users or groups as members, in any spelling, by POST, PUT or
// PATCH: `400 invalidValue`, exactly as for an id that exists nowhere.
backends!(foreign_member_ids_are_refused, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    let own_user = w
        .create_b(
            "/Users",
            json!({"schemas": [USER], "userName": "b-member@b.example"}),
        )
        .await;
    let own_group = w
        .create_b(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "B-Group", "members": [{"value": own_user}]}),
        )
        .await;
    let gpath = format!("/Groups/{own_group}");
    let before_b = w.as_b(Method::GET, &gpath, None).await.body;
    let foreign: Vec<String> = w.users.iter().chain(&w.groups).cloned().collect();
    for (n, id) in foreign.iter().enumerate() {
        let m = json!([{"value": id}]);
        let mixed = json!([{"value": own_user}, {"value": id, "display": "x"}]);
        let name = format!("B-new-{n}");
        for body in [
            json!({"schemas": [GROUP], "displayName": name, "members": m}),
            json!({"schemas": [GROUP], "displayName": name, "members": mixed}),
            json!({"schemas": [GROUP], "displayName": name, format!("{GROUP}:members"): m}),
            json!({"schemas": [GROUP], "displayName": name, "Members": m}),
        ] {
            w.probe(Method::POST, "/Groups", Some(body), id, &[])
                .await
                .assert_error(400, Some("invalidValue"));
        }
        for body in [
            json!({"schemas": [GROUP], "displayName": "B-Group", "members": m}),
            json!({"schemas": [GROUP], "displayName": "B-Group", "members": mixed}),
            json!({"schemas": [GROUP], "displayName": "B-Group", format!("{GROUP}:members"): m}),
            json!({"schemas": [GROUP], "displayName": "B-Group", "MEMBERS": m}),
        ] {
            w.probe(Method::PUT, &gpath, Some(body), id, &[])
                .await
                .assert_error(400, Some("invalidValue"));
        }
        for ops in [
            json!([{"op": "add", "path": "members", "value": m}]),
            json!([{"op": "add", "path": "members", "value": mixed}]),
            json!([{"op": "replace", "path": "members", "value": m}]),
            json!([{"op": "add", "path": format!("{GROUP}:members"), "value": m}]),
            json!([{"op": "add", "value": {"members": m}}]),
            json!([{"op": "add", "value": {format!("{GROUP}:members"): m}}]),
            json!([{"op": "replace", "value": {"Members": m}}]),
            json!([{"op": "Replace", "value": {format!("{GROUP}:Members"): mixed}}]),
            json!([{"op": "add", "value": {" members ": m, "displayName": "B-Group"}}]),
            json!([{"op": "add", "path": "members", "value": [{"value": own_user}]},
                   {"op": "add", "path": "members", "value": m}]),
        ] {
            w.probe(Method::PATCH, &gpath, Some(patch_body(ops)), id, &[])
                .await
                .assert_error(400, Some("invalidValue"));
        }
        // Removing A's id from B's group by value filter removes nothing there and touches A
        // nowhere: answered like any id that is not a member.
        for ops in [
            json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
            json!([{"op": "remove", "path": "members", "value": m}]),
        ] {
            w.probe(Method::PATCH, &gpath, Some(patch_body(ops)), id, &[])
                .await;
        }
    }
    w.assert_stored_without_a("Group", &own_group).await;
    let after_b = w.as_b(Method::GET, &gpath, None).await;
    assert_eq!(
        after_b.body["members"], before_b["members"],
        "B's group members: {}",
        after_b.body
    );
    let r = w.as_b(Method::GET, "/Groups", None).await;
    assert_eq!(ids_of(&r), vec![own_group.clone()], "{}", r.body);
    for id in &foreign {
        let f = format!(
            "/Groups?filter={}",
            enc(&format!("members.value eq \"{id}\""))
        );
        assert_empty(&w.as_b(Method::GET, &f, None).await, &f);
    }
    // A PUT whose members key is padded with blanks: the padded key is the member list (as in
    // a path-less PATCH), so A's id is refused like an unknown one and B's group is unchanged.
    for id in &foreign {
        let body =
            json!({"schemas": [GROUP], "displayName": "B-Group", " MEMBERS ": [{"value": id}]});
        let r = w.as_b(Method::PUT, &gpath, Some(body.clone())).await;
        r.assert_error(400, Some("invalidValue"));
        let got = w.as_b(Method::GET, &gpath, None).await;
        assert_eq!(got.body["members"], before_b["members"], "{}", got.body);
        assert!(
            !got.body.to_string().contains(id.as_str()),
            "LEAK: {}",
            got.body
        );
        w.assert_stored_without_a("Group", &own_group).await;
    }
    w.assert_stored_without_a("User", &own_user).await;
    w.assert_a_unchanged().await;
});

// B may write A's user id into its own user's `manager.value`; whatever the server does with
// it, nothing of A comes back in B's reads, and A's users and their `groups` are untouched.
backends!(foreign_manager_reveals_nothing, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    let [alice, bob, _] = [&w.users[0], &w.users[1], &w.users[2]];
    let allowed = [alice.as_str(), bob.as_str()];
    let r = w
        .as_b(
            Method::POST,
            "/Users",
            Some(
                json!({"schemas": [USER, ENT], "userName": "b-managed@b.example",
            ENT: {"manager": {"value": alice}}}),
            ),
        )
        .await;
    assert!(
        r.status == StatusCode::CREATED || r.status == StatusCode::BAD_REQUEST,
        "{}",
        r.body
    );
    let managed = if r.status == StatusCode::CREATED {
        r.body["id"].as_str().unwrap().to_string()
    } else {
        w.create_b(
            "/Users",
            json!({"schemas": [USER], "userName": "b-managed@b.example"}),
        )
        .await
    };
    let path = format!("/Users/{managed}");
    // Whatever the answer, it is the answer for an id that exists nowhere (no existence test).
    for (id, ops) in [
        (
            bob,
            json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": bob}}]),
        ),
        (
            alice,
            json!([{"op": "add", "path": format!("{ENT}:manager.value"), "value": alice}]),
        ),
        (
            bob,
            json!([{"op": "replace", "value": {ENT: {"manager": {"value": bob, "$ref": format!("../Users/{bob}")}}}}]),
        ),
        (
            alice,
            json!([{"op": "replace", "value": {format!("{ENT}:manager"): {"value": alice}}}]),
        ),
    ] {
        let r = w
            .probe(Method::PATCH, &path, Some(patch_body(ops)), id, &[])
            .await;
        assert!(r.status.as_u16() < 500, "{}", r.body);
    }
    // B's user names alice as its manager.
    let r = w
        .as_b(
            Method::PATCH,
            &path,
            Some(patch_body(json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": alice}}]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // B's reads of its own user and of lists hold nothing of A but the id B wrote.
    for p in [
        path.clone(),
        format!("{path}?attributes={ENT}:manager"),
        "/Users".to_string(),
        format!(
            "/Users?filter={}",
            enc(&format!("{ENT}:manager.value eq \"{alice}\""))
        ),
        format!(
            "/Users?filter={}",
            enc(&format!("{ENT}:manager.value eq \"{bob}\""))
        ),
        format!("/Users?filter={}", enc(&format!("{ENT}:manager pr"))),
    ] {
        let r = w.as_b_with(Method::GET, &p, None, &[], &allowed).await;
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
        if p.starts_with("/Users/") {
            let m = &r.body[ENT]["manager"];
            assert_eq!(m["value"], json!(alice), "B's manager: {}", r.body);
        } else {
            for id in ids_of(&r) {
                assert_eq!(id, managed, "LEAK: {p}: {}", r.body);
            }
        }
    }
    // A's view: nobody in A reports to alice, and only alice reports to bob.
    let f = format!(
        "/Users?filter={}",
        enc(&format!("{ENT}:manager.value eq \"{alice}\""))
    );
    let r = w.as_a(Method::GET, &f, None).await;
    assert_eq!(
        r.body["totalResults"],
        json!(0),
        "LEAK (B into A): {}",
        r.body
    );
    let f = format!(
        "/Users?filter={}",
        enc(&format!("{ENT}:manager.value eq \"{bob}\""))
    );
    let r = w.as_a(Method::GET, &f, None).await;
    assert_eq!(
        ids_of(&r),
        vec![alice.clone()],
        "LEAK (B into A): {}",
        r.body
    );
    // B deletes its user; A unaffected.
    w.as_b(Method::DELETE, &path, None).await;
    w.assert_a_unchanged().await;
});

// /Bulk as B: every operation naming A's ids fails on its own (404 for A's resources,
// 400 invalidValue for A's ids as members), B's own operations succeed, A is untouched.
backends!(bulk_cannot_reach_other_tenant, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    let [alice, bob, carol] = [&w.users[0], &w.users[1], &w.users[2]];
    let [admins, everyone] = [&w.groups[0], &w.groups[1]];
    let everyone_tag = w.etag_a(&format!("/Groups/{everyone}")).await;
    let carol_tag = w.etag_a(&format!("/Users/{carol}")).await;
    let patch = patch_body;
    let ops = vec![
        (
            201,
            json!({"method": "POST", "path": "/Users", "bulkId": "bu", "data": {"schemas": [USER], "userName": "b-bulk@b.example"}}),
        ),
        (
            404,
            json!({"method": "PUT", "path": format!("/Users/{alice}"), "data": {"schemas": [USER], "userName": "b-bulk-put@b.example"}}),
        ),
        (
            404,
            json!({"method": "PATCH", "path": format!("/Users/{alice}"), "data": patch(json!([{"op": "replace", "path": "userName", "value": "b-bulk-patch@b.example"}]))}),
        ),
        (
            404,
            json!({"method": "PATCH", "path": format!("/Users/{bob}"), "data": patch(json!([{"op": "replace", "value": {ENT: {"manager": {"value": "bulkId:bu"}}}}]))}),
        ),
        (
            404,
            json!({"method": "PATCH", "path": format!("/Groups/{admins}"), "data": patch(json!([{"op": "add", "path": "members", "value": [{"value": "bulkId:bu"}]}]))}),
        ),
        (
            404,
            json!({"method": "PATCH", "path": format!("/Groups/{admins}"), "data": patch(json!([{"op": "add", "value": {format!("{GROUP}:members"): [{"value": "bulkId:bu"}]}}]))}),
        ),
        (
            404,
            json!({"method": "PATCH", "path": format!("/Groups/{admins}"), "data": patch(json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}]))}),
        ),
        (
            404,
            json!({"method": "PUT", "path": format!("/Groups/{everyone}"), "data": {"schemas": [GROUP], "displayName": "B-bulk", "members": [{"value": "bulkId:bu"}]}}),
        ),
        (
            404,
            json!({"method": "DELETE", "path": format!("/Users/{bob}")}),
        ),
        (
            404,
            json!({"method": "DELETE", "path": format!("/Groups/{everyone}"), "version": everyone_tag}),
        ),
        (
            404,
            json!({"method": "DELETE", "path": format!("/Users/{carol}"), "version": carol_tag}),
        ),
        (
            400,
            json!({"method": "POST", "path": "/Groups", "bulkId": "bad1", "data": {"schemas": [GROUP], "displayName": "B-bad-1", "members": [{"value": "bulkId:bu"}, {"value": alice}]}}),
        ),
        (
            400,
            json!({"method": "POST", "path": "/Groups", "bulkId": "bad2", "data": {"schemas": [GROUP], "displayName": "B-bad-2", format!("{GROUP}:members"): [{"value": carol}]}}),
        ),
        (
            400,
            json!({"method": "POST", "path": "/Groups", "bulkId": "bad3", "data": {"schemas": [GROUP], "displayName": "B-bad-3", "members": [{"value": admins}]}}),
        ),
        (
            201,
            json!({"method": "POST", "path": "/Groups", "bulkId": "bg", "data": {"schemas": [GROUP], "displayName": "B-bulk-group", "members": [{"value": "bulkId:bu"}]}}),
        ),
        (
            400,
            json!({"method": "PATCH", "path": "/Groups/bulkId:bg", "data": patch(json!([{"op": "add", "path": "members", "value": [{"value": alice}]}]))}),
        ),
        (
            400,
            json!({"method": "PATCH", "path": "/Groups/bulkId:bg", "data": patch(json!([{"op": "add", "value": {"Members": [{"value": everyone}]}}]))}),
        ),
        (
            400,
            json!({"method": "PATCH", "path": "/Groups/bulkId:bg", "data": patch(json!([{"op": "replace", "value": {format!("{GROUP}:members"): [{"value": bob}]}}]))}),
        ),
        (
            400,
            json!({"method": "PUT", "path": "/Groups/bulkId:bg", "data": {"schemas": [GROUP], "displayName": "B-bulk-group", "members": [{"value": "bulkId:bu"}, {"value": carol}]}}),
        ),
        // A's userName is free in B.
        (
            201,
            json!({"method": "POST", "path": "/Users", "bulkId": "twin", "data": {"schemas": [USER], "userName": ALICE}}),
        ),
    ];
    let body = json!({"schemas": [BULK], "Operations": ops.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>()});
    let r = w
        .as_b_with(Method::POST, "/Bulk", Some(body), &[], &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let results = r.body["Operations"].as_array().expect("Operations");
    assert_eq!(results.len(), ops.len(), "{}", r.body);
    for ((want, op), got) in ops.iter().zip(results) {
        assert_eq!(
            got["status"],
            json!(want.to_string()),
            "LEAK? bulk op {op} as B: {got}"
        );
        if *want == 400 {
            assert_eq!(got["response"]["scimType"], "invalidValue", "{op}: {got}");
        }
        if let Some(loc) = got["location"].as_str() {
            assert!(
                !w.users
                    .iter()
                    .chain(&w.groups)
                    .any(|a| loc.contains(a.as_str())),
                "LEAK: bulk op {op} answered with A's location {got}"
            );
        }
    }
    // The same operations on ids that exist nowhere are answered the same.
    let unknown_ops: Vec<Value> = ops
        .iter()
        .map(|(_, o)| {
            let mut t = o.to_string();
            for id in w.users.iter().chain(&w.groups) {
                t = t.replace(id.as_str(), &uuid::Uuid::new_v4().to_string());
            }
            // Fresh names, so B's own creations do not conflict with the first round.
            let t = t
                .replace("b-bulk@", "b-bulk-2@")
                .replace("B-bulk-group", "B-bulk-group-2")
                .replace(ALICE, "twin-2@b.example");
            serde_json::from_str(&t).unwrap()
        })
        .collect();
    let r2 = w
        .as_b(
            Method::POST,
            "/Bulk",
            Some(json!({"schemas": [BULK], "Operations": unknown_ops})),
        )
        .await;
    let statuses = |r: &Resp| -> Vec<Value> {
        r.body["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["status"].clone())
            .collect()
    };
    assert_eq!(
        statuses(&r),
        statuses(&r2),
        "LEAK (existence): bulk answers differ for A's ids and unknown ids:\n{}\n{}",
        r.body,
        r2.body
    );
    // B's bulk group holds exactly B's bulk user.
    let bg = results[14]["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .unwrap()
        .to_string();
    let bu = results[0]["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .unwrap()
        .to_string();
    let g = w.as_b(Method::GET, &format!("/Groups/{bg}"), None).await;
    let members: Vec<&str> = g.body["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members, vec![bu.as_str()], "{}", g.body);
    w.assert_a_unchanged().await;
});

// /Me: a static token names a tenant, not a user (501); B's JWT whose subject is A's userName
// finds no user (404) until B has a user of that name, and then finds B's, never A's.
backends!(me_is_per_tenant, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    let alice = w.alice().to_string();
    // Positive control: A's JWT for alice is alice.
    let a_me = jwt(ISS_A, SECRET_A, ALICE, &[]);
    let r = w.s.call_with(Method::GET, "/Me", None, &a_me, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], json!(alice), "{}", r.body);
    let b_me = jwt(ISS_B, SECRET_B, ALICE, &[]);
    for m in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let body = (m == Method::PUT || m == Method::PATCH).then(|| {
            if m == Method::PUT {
                json!({"schemas": [USER], "userName": ALICE, "displayName": "B via Me"})
            } else {
                patch_body(json!([{"op": "replace", "path": "displayName", "value": "B via Me"}]))
            }
        });
        // B's static token.
        let r = w.as_b(m.clone(), "/Me", body.clone()).await;
        assert!(
            r.status.is_client_error() || r.status == StatusCode::NOT_IMPLEMENTED,
            "{m} /Me with B's token: {}",
            r.body
        );
        // B's end-user JWT with A's userName as subject.
        let r = w
            .send_checked(&b_me, m.clone(), "/Me", body, &[], &[ALICE])
            .await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::NOT_IMPLEMENTED,
            "LEAK? {m} /Me as B's JWT with subject {ALICE}: {}",
            r.body
        );
        assert!(r.body.get("id").is_none(), "LEAK: {}", r.body);
    }
    // B's provisioning JWT is B, like B's static token.
    let b_prov = jwt(ISS_B, SECRET_B, "b-admin", &[PROVISION]);
    for p in [
        format!("/Users/{alice}"),
        format!("/Groups/{}", w.groups[0]),
    ] {
        let r = w
            .send_checked(&b_prov, Method::GET, &p, None, &[], &[])
            .await;
        r.assert_error(404, None);
    }
    let r = w
        .send_checked(&b_prov, Method::GET, "/Users", None, &[], &[])
        .await;
    assert_empty(&r, "GET /Users with B's JWT");
    // Once B has its own user named like alice, /Me finds that one.
    let twin = w
        .create_b(
            "/Users",
            json!({"schemas": [USER], "userName": ALICE, "displayName": "B's twin"}),
        )
        .await;
    assert_ne!(twin, alice);
    let r = w
        .send_checked(&b_me, Method::GET, "/Me", None, &[], &[ALICE])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], json!(twin), "LEAK: {}", r.body);
    let r = w.s.call_with(Method::GET, "/Me", None, &a_me, &[]).await;
    assert_eq!(r.body["id"], json!(alice), "{}", r.body);
    w.assert_a_unchanged().await;
});

// Uniqueness is per tenant: B may use A's userName, externalId, emails and group names, and
// A's own uniqueness and data are unaffected.
backends!(names_are_unique_per_tenant, |s0| {
    let Some(w) = World::new(s0).await else {
        return;
    };
    let twin_values = [
        ALICE,
        "ext-tenant-a-alice",
        "alice.work@a-corp.example",
        "A-EMP-0001",
        ADMINS,
        "ext-tenant-a-admins",
        BOB,
    ];
    let twin = w
        .create_b(
            "/Users",
            json!({"schemas": [USER, ENT], "userName": ALICE, "externalId": "ext-tenant-a-alice",
                "emails": [{"value": "alice.work@a-corp.example", "type": "work"}],
                ENT: {"employeeNumber": "A-EMP-0001"}}),
        )
        .await;
    assert_ne!(twin, w.alice());
    let upper = w
        .create_b(
            "/Users",
            json!({"schemas": [USER], "userName": BOB.to_uppercase()}),
        )
        .await;
    let twin_group = w
        .create_b(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": ADMINS, "externalId": "ext-tenant-a-admins",
                "members": [{"value": twin}]}),
        )
        .await;
    // Within A, the name is still taken.
    let r = w
        .as_a(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": ALICE})),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    // Within B too, now.
    let r = w
        .as_b_with(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": ALICE})),
            &[],
            &twin_values,
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    // Each tenant finds its own.
    for (rt, f, a_id, b_id) in [
        (
            "Users",
            format!("userName eq \"{ALICE}\""),
            w.alice(),
            twin.as_str(),
        ),
        (
            "Users",
            "externalId eq \"ext-tenant-a-alice\"".to_string(),
            w.alice(),
            twin.as_str(),
        ),
        (
            "Users",
            "emails.value eq \"alice.work@a-corp.example\"".to_string(),
            w.alice(),
            twin.as_str(),
        ),
        (
            "Users",
            format!("{ENT}:employeeNumber eq \"A-EMP-0001\""),
            w.alice(),
            twin.as_str(),
        ),
        (
            "Users",
            format!("userName eq \"{BOB}\""),
            w.users[1].as_str(),
            upper.as_str(),
        ),
        (
            "Groups",
            format!("displayName eq \"{ADMINS}\""),
            w.groups[0].as_str(),
            twin_group.as_str(),
        ),
    ] {
        let p = format!("/{rt}?filter={}", enc(&f));
        let ra = w.as_a(Method::GET, &p, None).await;
        assert_eq!(ids_of(&ra), vec![a_id.to_string()], "A {p}: {}", ra.body);
        let rb = w.as_b_with(Method::GET, &p, None, &[], &twin_values).await;
        assert_eq!(ids_of(&rb), vec![b_id.to_string()], "B {p}: {}", rb.body);
    }
    // B renames its twin to carol's userName and deletes it; A is unaffected.
    let r = w
        .as_b_with(
            Method::PATCH,
            &format!("/Users/{twin}"),
            Some(patch_body(
                json!([{"op": "replace", "path": "userName", "value": CAROL}]),
            )),
            &[],
            &twin_values,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = w
        .as_b(Method::DELETE, &format!("/Users/{twin}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = w
        .as_b(Method::DELETE, &format!("/Groups/{twin_group}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    w.assert_a_unchanged().await;
});
