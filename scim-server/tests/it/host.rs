//! What a host app configures: its own resource types and extensions, JWT authentication (and
//! `/Me`), response compression, the change hook.

use reqwest::{Method, StatusCode};
use scim_core::{ResourceType, Schema, SchemaRegistry};
use serde_json::json;

use crate::backends;
use crate::support::{Options, TestServer};

fn registry() -> SchemaRegistry {
    let mut r = SchemaRegistry::default();
    let device = Schema::from_json(&json!({
        "id": "urn:example:scim:schemas:Device", "name": "Device",
        "attributes": [
            {"name": "serial", "type": "string", "required": true, "caseExact": true, "uniqueness": "server"},
            {"name": "slots", "type": "integer"},
            {"name": "owner", "type": "complex", "subAttributes": [{"name": "value", "type": "string"}]}
        ]
    }))
    .unwrap();
    r.add_schema(device).unwrap();
    r.add_resource_type(ResourceType::new(
        "Device",
        "/Devices",
        "urn:example:scim:schemas:Device",
    ))
    .unwrap();
    let badge = Schema::from_json(&json!({
        "id": "urn:example:scim:schemas:extension:badge:2.0:User", "name": "Badge",
        "attributes": [{"name": "badge", "type": "integer"}]
    }))
    .unwrap();
    r.add_extension("User", badge, false).unwrap();
    r
}

backends!(custom_resource_types_and_extensions, |s0| {
    let backend = s0.backend;
    drop(s0);
    let opts = Options {
        registry: Some(registry()),
        ..Options::default()
    };
    let Some(s) = TestServer::start_with(backend, opts).await else {
        return;
    };
    let r = s
        .post(
            "/Devices",
            json!({"schemas": ["urn:example:scim:schemas:Device"], "serial": "SN-1", "slots": 4}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["meta"]["resourceType"], "Device");
    let id = r.body["id"].as_str().unwrap().to_string();
    s.post(
        "/Devices",
        json!({"schemas": ["urn:example:scim:schemas:Device"], "slots": "four", "serial": "x"}),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    let r = s.get("/Devices?filter=slots%20ge%203").await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s
        .patch(
            &format!("/Devices/{id}"),
            json!([{"op": "replace", "path": "slots", "value": 8}]),
        )
        .await;
    assert_eq!(r.body["slots"], 8);
    let r = s.get("/ResourceTypes/Device").await;
    assert_eq!(r.body["endpoint"], "/Devices");
    let r = s.get("/Schemas/urn:example:scim:schemas:Device").await;
    assert_eq!(r.body["name"], "Device");
    // The extension on User.
    let ext = "urn:example:scim:schemas:extension:badge:2.0:User";
    let r = s.post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ext], "userName": "b", ext: {"badge": 7}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = s.get(&format!("/Users?filter={ext}:badge%20gt%205")).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0][ext]["badge"], 7);
});

backends!(jwt_and_me, |s0| {
    use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
    let backend = s0.backend;
    drop(s0);
    let tenant = format!("jwt-{}", uuid::Uuid::new_v4());
    let issuer = scim_server::auth::JwtIssuer::with_keys(
        "https://sts.example/",
        "api://scim",
        scim_server::auth::JwtKeys::Static(DecodingKey::from_secret(b"k"), Algorithm::HS256),
        &tenant,
        scim_server::auth::JwtGrant::claim("roles", "SCIM.Provision"),
    );
    let Some(s) = TestServer::start_with(
        backend,
        Options {
            jwt: vec![issuer],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let claims = json!({"iss": "https://sts.example/", "aud": "api://scim", "exp": chrono::Utc::now().timestamp() + 600, "sub": "me@example.com", "roles": ["SCIM.Provision"]});
    let jwt = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    let r = s
        .call_with(Method::POST, "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "me@example.com"})), &jwt, &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s.call_with(Method::GET, "/Me", None, &jwt, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["userName"], "me@example.com");
    // The JWT's tenant is not the token's tenant.
    let r = s
        .get("/Users?filter=userName%20eq%20%22me@example.com%22")
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let bad = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"wrong"),
    )
    .unwrap();
    s.call_with(Method::GET, "/Me", None, &bad, &[])
        .await
        .assert_error(401, None);
});

backends!(gzip_responses, |s| {
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    for i in 0..20 {
        s.user(&format!("gzip-user-{i}")).await;
    }
    let r = client
        .get(s.url("/Users"))
        .bearer_auth(&s.token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("content-encoding").unwrap(), "gzip");
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/scim+json"
    );
});

/// The binary's configuration: tenants with plain and hashed tokens, per-tenant strictness.
#[tokio::test]
async fn config_file_tenants_and_policies() {
    use clap::Parser;
    let dir = crate::support::TempDir::new();
    let cfg = dir.0.join("scim.toml");
    let hashed = scim_server::auth::hash_token("hashed-token");
    std::fs::write(
        &cfg,
        format!(
            "cursor_key = \"{}\"\n[[tenants]]\nname = \"acme\"\ntokens = [\"plain-token\", \"sha256:{hashed}\"]\ncompat = \"strict\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let cli = scim_server::config::Cli::parse_from([
        "scim-server",
        "--database-url",
        "sqlite::memory:",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let built = scim_server::config::build(&cli).await.unwrap();
    assert!(
        built.new_token.is_none(),
        "configured tokens: no generated token"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, built.app).await });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/scim/v2/Users");
    for tok in ["plain-token", "hashed-token"] {
        let r = client.get(&url).bearer_auth(tok).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{tok}");
    }
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("other")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The tenant is strict: Entra's capitalised op is refused.
    let r = client
        .post(&url)
        .bearer_auth("plain-token")
        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "s"}))
        .send()
        .await
        .unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client
        .patch(format!("{url}/{id}"))
        .bearer_auth("plain-token")
        .json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "active", "value": false}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    server.abort();
    // Bad configuration is a clear error.
    std::fs::write(&cfg, "[[tenants]]\nname = \"x\"\ncompat = \"lenient\"\n").unwrap();
    let err = scim_server::config::build(&cli).await.err().unwrap();
    assert!(err.to_string().contains("unknown compat"), "{err}");
    std::fs::write(&cfg, "bogus = 1\n").unwrap();
    assert!(scim_server::config::build(&cli).await.is_err());
}

/// Load shedding: beyond `max_in_flight` requests, `429` with `Retry-After` and a SCIM body,
/// never a 5xx (Entra ID quarantines apps that answer 5xx).
#[tokio::test]
async fn overload_is_429_with_retry_after() {
    use tokio::io::AsyncWriteExt;
    let mut opts = Options::default();
    opts.settings.max_in_flight = 1;
    let s = TestServer::start_with(crate::support::Backend::Sqlite, opts)
        .await
        .unwrap();
    // Hold the only slot: a request whose body has not finished arriving.
    let addr = s
        .base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{{\"sch",
        s.token
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = s.get("/Users").await;
    r.assert_error(429, None);
    assert_eq!(r.header("retry-after"), Some("1"));
    drop(slow);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(s.get("/Users").await.status, StatusCode::OK);
}

/// `router()` mounted in a host app next to the host's own routes carries its protective
/// layers: credentials, SCIM error bodies for 404/405, load shedding (429) and the timeout
/// (408 with a SCIM body), without the host adding anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_mounted_in_a_host_app_keeps_its_protections() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = crate::support::TempDir::new();
    let store = Arc::new(
        scim_server::SqlStore::connect(&format!("sqlite://{}", dir.0.join("h.db").display()))
            .await
            .unwrap(),
    );
    let auth = Arc::new(scim_server::TokenAuthenticator::new(
        &[("host-token".to_string(), "host".to_string())],
        None,
    ));
    let settings = scim_server::Settings {
        max_in_flight: 1,
        request_timeout: std::time::Duration::from_secs(2),
        base_url: Some("http://host.example/scim/v2".into()),
        ..Default::default()
    };
    let scim = scim_server::ScimState::new(store, auth, settings);
    #[derive(Clone)]
    struct HostState {
        greeting: &'static str,
    }
    let app: axum::Router = axum::Router::new()
        .route(
            "/hello",
            axum::routing::get(|axum::extract::State(h): axum::extract::State<HostState>| async move { h.greeting }),
        )
        .nest("/scim/v2", scim_server::router(scim))
        .with_state(HostState { greeting: "hi from the host" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let c = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}{p}");
    assert_eq!(
        c.get(url("/hello"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hi from the host"
    );
    let r = c.get(url("/scim/v2/Users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let ok = c
        .get(url("/scim/v2/Users"))
        .bearer_auth("host-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let r = crate::support::Resp::read(
        c.get(url("/scim/v2/Nope/x/y"))
            .bearer_auth("host-token")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(404, None);
    let r = crate::support::Resp::read(
        c.put(url("/scim/v2/Users"))
            .bearer_auth("host-token")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(405, None);
    // A body that never finishes: the router's timeout answers 408 with a SCIM body, and while
    // that request holds the only slot, another is shed with 429. Which of two requests gets
    // the slot is a race: when a probe got it first (the slow request was shed) or the slow
    // request timed out before a probe saw it, start again with a new slow request.
    let mut attempt = 0;
    let (r, mut slow) = 'slot: loop {
        attempt += 1;
        assert!(attempt <= 20, "the slow request never held the slot");
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(
            b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer host-token\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{\"sch",
        )
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for _ in 0..20 {
            let r = crate::support::Resp::read(
                c.get(url("/scim/v2/Users"))
                    .bearer_auth("host-token")
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            if r.status != StatusCode::OK {
                break 'slot (r, slow);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    r.assert_error(429, None);
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains("urn:ietf:params:scim:api:messages:2.0:Error"),
        "{text}"
    );
    server.abort();
}
