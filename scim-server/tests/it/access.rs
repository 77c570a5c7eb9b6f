//! Issue 9 items 3–5 over HTTP: authorization (JWT claim grants, read-only tokens, `/Me`-only
//! tokens), token management (revocation, config tokens removed with the file entry, JWKS key
//! rotation) and the audit trail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use scim_server::auth::{JwtGrant, JwtIssuer, JwtKeys};
use scim_server::store::NewToken;
use serde_json::{json, Value};

use crate::backends;
use crate::support::{Backend, Options, TestServer};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ISS: &str = "https://sts.example/";
const AUD: &str = "api://scim";

fn hs_token(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap()
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISS, "aud": AUD, "exp": chrono::Utc::now().timestamp() + 600, "sub": "someone@example.com"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

async fn with_issuer(backend: Backend, grant: JwtGrant) -> Option<TestServer> {
    let tenant = format!("jwt-{}", uuid::Uuid::new_v4());
    let issuer = JwtIssuer::with_keys(
        ISS,
        AUD,
        JwtKeys::Static(DecodingKey::from_secret(b"k"), Algorithm::HS256),
        &tenant,
        grant,
    );
    TestServer::start_with(
        backend,
        Options {
            jwt: vec![issuer],
            ..Options::default()
        },
    )
    .await
}

async fn status(s: &TestServer, m: Method, path: &str, body: Option<Value>, tok: &str) -> u16 {
    s.call_with(m, path, body, tok, &[]).await.status.as_u16()
}

backends!(jwt_grants_follow_the_configured_claim, |s0| {
    let backend = s0.backend;
    drop(s0);
    let grant = JwtGrant {
        claim: Some("roles".into()),
        provision: vec!["SCIM.Provision".into()],
        read: vec!["SCIM.Read".into()],
    };
    let Some(s) = with_issuer(backend, grant).await else {
        return;
    };
    let user =
        || Some(json!({"schemas": [USER], "userName": format!("u-{}", uuid::Uuid::new_v4())}));
    // Provisioning role: read and write.
    let prov = hs_token(claims(json!({"roles": ["Other", "SCIM.Provision"]})));
    assert_eq!(status(&s, Method::POST, "/Users", user(), &prov).await, 201);
    assert_eq!(status(&s, Method::GET, "/Users", None, &prov).await, 200);
    // Read role: reads and searches, nothing else.
    let read = hs_token(claims(json!({"roles": ["SCIM.Read"]})));
    assert_eq!(status(&s, Method::GET, "/Users", None, &read).await, 200);
    assert_eq!(
        status(
            &s,
            Method::POST,
            "/Users/.search",
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})),
            &read
        )
        .await,
        200
    );
    let r = s
        .call_with(Method::POST, "/Users", user(), &read, &[])
        .await;
    r.assert_error(403, None);
    assert_eq!(status(&s, Method::POST, "/Bulk", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []})), &read).await, 403);
    // No role (an end-user token): /Me and discovery only.
    let me = hs_token(claims(
        json!({"roles": ["Something.Else"], "scp": "SCIM.Provision"}),
    ));
    for (m, p) in [
        (Method::GET, "/Users"),
        (Method::GET, "/Groups"),
        (Method::POST, "/.search"),
        (Method::DELETE, "/Users/x"),
        (Method::POST, "/Bulk"),
    ] {
        assert_eq!(
            status(&s, m.clone(), p, Some(json!({})), &me).await,
            403,
            "{m} {p}"
        );
    }
    assert_eq!(
        status(&s, Method::GET, "/ServiceProviderConfig", None, &me).await,
        200
    );
    assert_eq!(status(&s, Method::GET, "/Schemas", None, &me).await, 200);
    // /Me itself is served (404: no User has this subject as userName yet).
    assert_eq!(status(&s, Method::GET, "/Me", None, &me).await, 404);
    // A space-separated scope claim works the same way.
    drop(s);
    let Some(s) = with_issuer(backend, JwtGrant::claim("scp", "scim.write")).await else {
        return;
    };
    let t = hs_token(claims(json!({"scp": "openid scim.write"})));
    assert_eq!(status(&s, Method::POST, "/Users", user(), &t).await, 201);
    let t = hs_token(claims(json!({"scp": "openid scim.writer"})));
    assert_eq!(status(&s, Method::POST, "/Users", user(), &t).await, 403);
});

backends!(jwt_without_a_claim_rule_is_me_only, |s0| {
    let backend = s0.backend;
    drop(s0);
    let Some(s) = with_issuer(backend, JwtGrant::default()).await else {
        return;
    };
    let t = hs_token(claims(json!({"roles": ["SCIM.Provision"], "scp": "scim"})));
    assert_eq!(status(&s, Method::GET, "/Users", None, &t).await, 403);
    assert_eq!(
        status(&s, Method::DELETE, "/Users/some-id", None, &t).await,
        403
    );
    assert_eq!(status(&s, Method::GET, "/Me", None, &t).await, 404);
});

backends!(read_only_and_revoked_stored_tokens, |s| {
    let store = s.state.store();
    let secret = format!("ro-{}", uuid::Uuid::new_v4());
    let hash = scim_server::auth::hash_token(&secret);
    store
        .add_token(NewToken {
            hash: &hash,
            tenant: &s.tenant,
            label: "reader",
            source: "cli",
            read_only: true,
        })
        .await
        .unwrap();
    let id = s.user("visible").await;
    assert_eq!(
        status(&s, Method::GET, &format!("/Users/{id}"), None, &secret).await,
        200
    );
    let r = s.call_with(Method::PATCH, &format!("/Users/{id}"), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "x"}]})), &secret, &[]).await;
    r.assert_error(403, None);
    assert_eq!(
        status(&s, Method::DELETE, &format!("/Users/{id}"), None, &secret).await,
        403
    );
    assert_eq!(
        status(
            &s,
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER], "userName": "visible"})),
            &secret
        )
        .await,
        403
    );
    let info = store.token_lookup(&hash).await.unwrap().unwrap();
    assert!(info.last_used.is_some(), "last use is recorded");
    // Revocation takes effect at once.
    store.revoke_token(&info.id).await.unwrap();
    assert_eq!(status(&s, Method::GET, "/Users", None, &secret).await, 401);
});

/// A `sha256:` token removed from the configuration file stops working at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_tokens_removed_from_the_file_stop_working() {
    use clap::Parser;
    let dir = crate::support::TempDir::new();
    let db = format!("sqlite://{}", dir.0.join("cfg.db").display());
    let cfg = dir.0.join("scim.toml");
    let (a, b) = ("kept-token", "dropped-token");
    let (ha, hb) = (
        scim_server::auth::hash_token(a),
        scim_server::auth::hash_token(b),
    );
    let write = |tokens: &[&str]| {
        let list: Vec<String> = tokens.iter().map(|h| format!("\"sha256:{h}\"")).collect();
        std::fs::write(
            &cfg,
            format!(
                "[[tenants]]\nname = \"acme\"\ntokens = [{}]\n",
                list.join(", ")
            ),
        )
        .unwrap();
    };
    let build = || async {
        let cli = scim_server::config::Cli::parse_from([
            "scim-server",
            "--database-url",
            &db,
            "--config",
            cfg.to_str().unwrap(),
        ]);
        scim_server::config::build(&cli).await.unwrap()
    };
    write(&[&ha, &hb]);
    let built = build().await;
    assert!(built
        .state
        .store()
        .token_lookup(&hb)
        .await
        .unwrap()
        .is_some());
    built.store.close().await;
    write(&[&ha]);
    let built = build().await;
    let store = built.state.store();
    assert!(store.token_lookup(&ha).await.unwrap().is_some());
    assert!(
        store.token_lookup(&hb).await.unwrap().is_none(),
        "a dropped config token still works"
    );
    // A token created with the CLI is not touched by the file.
    assert!(built.new_token.is_none());
    built.store.close().await;
}

/// A JWKS served by a local HTTP server: keys by `kid`, rotation without restart, a flood of
/// unknown `kid`s costs at most one fetch per interval, and an unreachable JWKS is 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_keys_rotate_without_restart() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");
    let read = |f: &str| std::fs::read(format!("{fixtures}/{f}")).unwrap();
    let served = Arc::new(Mutex::new(read("jwks-k1.json")));
    let fetches = Arc::new(AtomicUsize::new(0));
    let app = {
        let served = served.clone();
        let fetches = fetches.clone();
        axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let body = served.lock().unwrap().clone();
                fetches.fetch_add(1, Ordering::SeqCst);
                async move { ([("content-type", "application/json")], body) }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_addr = listener.local_addr().unwrap();
    let jwks_server = tokio::spawn(async move { axum::serve(listener, app).await });

    let jwks = scim_server::jwks::Jwks::new(&format!("http://{jwks_addr}/keys"))
        .unwrap()
        .with_min_refresh(std::time::Duration::from_millis(300));
    let issuer = JwtIssuer::with_keys(
        ISS,
        AUD,
        JwtKeys::Jwks(Arc::new(jwks)),
        &format!("jwks-{}", uuid::Uuid::new_v4()),
        JwtGrant::claim("roles", "SCIM.Provision"),
    );
    let s = TestServer::start_with(
        Backend::Sqlite,
        Options {
            jwt: vec![issuer],
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let sign = |kid: &str, pem: &str| {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(kid.into());
        encode(
            &h,
            &claims(json!({"roles": ["SCIM.Provision"]})),
            &EncodingKey::from_rsa_pem(&read(pem)).unwrap(),
        )
        .unwrap()
    };
    let t1 = sign("k1", "test-key-1.pem");
    assert_eq!(status(&s, Method::GET, "/Users", None, &t1).await, 200);
    assert_eq!(status(&s, Method::GET, "/Users", None, &t1).await, 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "cached");
    // A token signed by key 2 under key 1's kid fails the signature check.
    let forged = sign("k1", "test-key-2.pem");
    assert_eq!(status(&s, Method::GET, "/Users", None, &forged).await, 401);
    // Rotation: the issuer now publishes k2 only.
    *served.lock().unwrap() = read("jwks-k2.json");
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let t2 = sign("k2", "test-key-2.pem");
    assert_eq!(status(&s, Method::GET, "/Users", None, &t2).await, 200);
    let after_rotation = fetches.load(Ordering::SeqCst);
    assert_eq!(after_rotation, 2);
    // A flood of unknown kids within the interval: no further fetch.
    for i in 0..20 {
        let t = sign(&format!("nope-{i}"), "test-key-2.pem");
        assert_eq!(status(&s, Method::GET, "/Users", None, &t).await, 401);
    }
    assert!(
        fetches.load(Ordering::SeqCst) <= after_rotation + 1,
        "{} fetches",
        fetches.load(Ordering::SeqCst)
    );
    // The JWKS goes away: a kid never seen cannot be checked → 503, not 401.
    jwks_server.abort();
    let _ = jwks_server.await;
    drop(s);
    let jwks = scim_server::jwks::Jwks::new(&format!("http://{jwks_addr}/keys")).unwrap();
    let issuer = JwtIssuer::with_keys(
        ISS,
        AUD,
        JwtKeys::Jwks(Arc::new(jwks)),
        "gone",
        JwtGrant::claim("roles", "SCIM.Provision"),
    );
    let s = TestServer::start_with(
        Backend::Sqlite,
        Options {
            jwt: vec![issuer],
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let r = s.call_with(Method::GET, "/Users", None, &t1, &[]).await;
    r.assert_error(503, None);
    assert!(r.header("retry-after").is_some());
}

backends!(every_change_is_audited_without_values, |s| {
    let rid = format!("req-{}", uuid::Uuid::new_v4().simple());
    let h = [("x-request-id", rid.as_str())];
    let r = s
        .call_with(Method::POST, "/Users", Some(json!({"schemas": [USER], "userName": "audited", "password": "Sup3r-Secret!", "title": "Eng"})), &s.token, &h)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let uid = r.body["id"].as_str().unwrap().to_string();
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let r = s
        .call_with(Method::PATCH, &format!("/Users/{uid}"), Some(patch(json!([{"op": "replace", "path": "title", "value": "Boss"}, {"op": "replace", "path": "password", "value": "An0ther-Secret!"}]))), &s.token, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A failed PATCH changes nothing and records nothing.
    let r = s
        .patch(
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "path": "userName", "value": 7}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A PATCH that changes nothing records nothing.
    let r = s
        .patch(
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "path": "title", "value": "Boss"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let gid = s.group("audited-group", &[]).await;
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = s
        .post("/Bulk", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "PATCH", "path": format!("/Users/{uid}"), "data": patch(json!([{"op": "replace", "path": "displayName", "value": "A"}]))}
        ]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        s.delete(&format!("/Users/{uid}")).await.status,
        StatusCode::NO_CONTENT
    );

    let q = scim_server::audit::AuditQuery {
        tenant: Some(s.tenant.clone()),
        ..Default::default()
    };
    let recs = s.state.store().audit_records(&q).await.unwrap();
    type Row = (String, String, Vec<String>, Option<i64>, Option<i64>);
    let summary: Vec<Row> = recs
        .iter()
        .map(|r| {
            (
                r.operation.clone(),
                r.resource_type.clone(),
                r.attributes.clone(),
                r.old_version,
                r.new_version,
            )
        })
        .collect();
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        summary,
        vec![
            (
                "create".into(),
                "User".into(),
                v(&["password", "title", "userName"]),
                None,
                Some(1)
            ),
            (
                "patch".into(),
                "User".into(),
                v(&["password", "title"]),
                Some(1),
                Some(2)
            ),
            (
                "create".into(),
                "Group".into(),
                v(&["displayName"]),
                None,
                Some(1)
            ),
            (
                "patch".into(),
                "Group".into(),
                v(&["members"]),
                Some(1),
                Some(2)
            ),
            (
                "bulk:patch".into(),
                "User".into(),
                v(&["displayName"]),
                Some(2),
                Some(3)
            ),
            ("delete".into(), "User".into(), v(&[]), Some(3), None),
        ],
        "{recs:#?}"
    );
    assert_eq!(recs[0].request_id.as_deref(), Some(rid.as_str()));
    assert!(
        recs.iter().all(|r| r.actor.starts_with("token:")),
        "{recs:#?}"
    );
    assert!(recs.iter().all(|r| r.tenant == s.tenant));
    let text = serde_json::to_string(&recs).unwrap();
    assert!(
        !text.contains("Secret"),
        "a value reached the audit trail: {text}"
    );
    assert!(
        !text.contains("Boss"),
        "a value reached the audit trail: {text}"
    );
    // Filters and pruning.
    let q = scim_server::audit::AuditQuery {
        resource_id: Some(gid.clone()),
        ..Default::default()
    };
    assert_eq!(s.state.store().audit_records(&q).await.unwrap().len(), 2);
    let future =
        scim_server::store::sql::timestamp_text(chrono::Utc::now() + chrono::Duration::days(1));
    let q = scim_server::audit::AuditQuery {
        tenant: Some(s.tenant.clone()),
        since: Some(future),
        ..Default::default()
    };
    assert!(s.state.store().audit_records(&q).await.unwrap().is_empty());
});

/// The administration commands of the binary: `token create|list|revoke` and `audit`, on a
/// database a server process used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_audit_commands() {
    use std::process::Command;
    let dir = crate::support::TempDir::new();
    let db = format!("sqlite://{}", dir.0.join("cli.db").display());
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_scim-server"))
            .args(["--database-url", &db])
            .args(args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let created = run(&["token", "create", "--label", "idp-one"]);
    let secret = created
        .lines()
        .map(str::trim)
        .find(|l| l.len() >= 40 && !l.contains(' '))
        .unwrap_or_else(|| panic!("no secret in {created:?}"))
        .to_string();
    let listed = run(&["token", "list", "--json"]);
    let tokens: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mine = tokens.iter().find(|t| t["label"] == "idp-one").unwrap();
    assert_eq!(mine["readOnly"], false);
    assert!(!listed.contains(&secret), "a secret was listed");
    // A server on that database accepts the token; its change is in the audit trail.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_scim-server"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db,
        ])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let proc = crate::concurrency::Proc {
        child,
        base: format!("http://127.0.0.1:{port}/scim/v2"),
    };
    let c = reqwest::Client::new();
    let mut status = None;
    for _ in 0..100 {
        if let Ok(r) = c
            .post(format!("{}/Users", proc.base))
            .bearer_auth(&secret)
            .header("x-request-id", "cli-test-1")
            .json(&json!({"schemas": [USER], "userName": "audited-by-cli"}))
            .send()
            .await
        {
            status = Some(r.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, Some(StatusCode::CREATED));
    drop(proc);
    let audit = run(&["audit", "--json", "--actor", "token:idp-one"]);
    let recs: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 1, "{audit}");
    assert_eq!(recs[0]["operation"], "create");
    assert_eq!(recs[0]["requestId"], "cli-test-1");
    assert_eq!(recs[0]["attributes"], json!(["userName"]));
    assert!(run(&["audit", "--since", "2999-01-01"]).trim().is_empty());
    let table = run(&["audit"]);
    assert!(
        table.contains("token:idp-one") && table.contains("create User"),
        "{table}"
    );
    // Revoked: listed no more.
    let id = mine["id"].as_str().unwrap();
    assert!(run(&["token", "revoke", id]).contains("Revoked"));
    assert!(!run(&["token", "list"]).contains("idp-one"));
}
