//! Client hardening against real sockets: redirects (never to another host, the API key stays
//! home), POST never repeated without a lookup that proves the first attempt failed, the
//! response size limit, validated rate limits, OAuth `expires_in` as a string, and no secret in
//! any `Debug` or error output.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use scim_client::{Client, Error, RetryPolicy};
use serde_json::{json, Value};

/// A server on 127.0.0.1 that stops when dropped (also when the test panics).
struct Server {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(app: Router) -> Server {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        task,
    }
}

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .with_base_delay(Duration::from_millis(10))
        .with_max_attempts(4)
}

fn list(resources: Vec<Value>) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": resources.len(), "Resources": resources})
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    body: String,
    api_key: Option<String>,
}

/// Scripted answers per route: status and JSON body.
type Answers = HashMap<String, VecDeque<(u16, Value)>>;

/// Answers `"METHOD /path"` with scripted responses (the last one repeats) and logs every
/// request.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<Answers>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    fn on(self, route: &str, answers: Vec<(u16, Value)>) -> Self {
        self.answers
            .lock()
            .unwrap()
            .insert(route.to_string(), answers.into());
        self
    }
    fn seen(&self, method: &str, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .cloned()
            .collect()
    }
    fn total(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
    fn router(&self) -> Router {
        Router::new()
            .fallback(
                |State(s): State<Script>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap,
                 body: String| async move {
                    s.seen.lock().unwrap().push(Seen {
                        method: method.to_string(),
                        path: uri.path().to_string(),
                        query: uri.query().unwrap_or_default().to_string(),
                        body,
                        api_key: headers
                            .get("x-api-key")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                    });
                    let key = format!("{method} {}", uri.path());
                    let answer = {
                        let mut a = s.answers.lock().unwrap();
                        match a.get_mut(&key) {
                            Some(q) if q.len() > 1 => q.pop_front(),
                            Some(q) => q.front().cloned(),
                            None => None,
                        }
                    };
                    let (status, body) = answer.unwrap_or((404, json!({"detail": "no script"})));
                    let mut r = (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/scim+json")],
                        body.to_string(),
                    )
                        .into_response();
                    if status == 503 || status == 429 {
                        r.headers_mut().insert("retry-after", "0".parse().unwrap());
                    }
                    r
                },
            )
            .with_state(self.clone())
    }
}

fn unavailable() -> (u16, Value) {
    (503, json!({"detail": "try later"}))
}

// --- Redirects -------------------------------------------------------------------------

#[tokio::test]
async fn redirects_to_another_host_are_not_followed_and_the_api_key_stays_home() {
    let elsewhere = Script::default()
        .on("GET /Users/1", vec![(200, json!({"id": "1"}))])
        .on("POST /Users", vec![(201, json!({"id": "1"}))])
        .on("GET /Users", vec![(200, list(vec![]))]);
    let other = serve(elsewhere.router()).await;
    let there = other.base.clone();
    let to = move |path: &'static str, status: StatusCode| {
        let there = there.clone();
        move || async move { (status, [("location", format!("{there}{path}"))]).into_response() }
    };
    let posts = Arc::new(AtomicUsize::new(0));
    let p2 = posts.clone();
    let post_redirect = to("/Users", StatusCode::FOUND);
    let target = serve(
        Router::new()
            .route("/Users/1", get(to("/Users/1", StatusCode::FOUND)))
            .route(
                "/Users",
                post(move || {
                    p2.fetch_add(1, Ordering::SeqCst);
                    post_redirect()
                }),
            )
            .route(
                "/Groups/1",
                get(to("/Groups/1", StatusCode::TEMPORARY_REDIRECT)),
            ),
    )
    .await;

    for same_host_option in [false, true] {
        let c = Client::builder(&target.base)
            .header_auth("X-Api-Key", "KEY-SECRET-1")
            .unwrap()
            .allow_same_host_redirects(same_host_option)
            .retry(fast())
            .build()
            .unwrap();
        match c.get::<Value>("Users", "1").await.unwrap_err() {
            Error::Redirect {
                status, location, ..
            } => {
                assert_eq!(status, 302);
                assert_eq!(location.unwrap(), format!("{}/Users/1", other.base));
            }
            e => panic!("{e:?}"),
        }
        let e = c.get::<Value>("Groups", "1").await.unwrap_err();
        assert!(matches!(e, Error::Redirect { status: 307, .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("307") && msg.contains(&other.base),
            "the error names status and Location: {msg}"
        );
        // A POST answered 302 is an error, not a GET elsewhere reported as success.
        let e = c
            .create("Users", &json!({"userName": "bob"}))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Redirect { status: 302, .. }), "{e:?}");
        assert!(!e.is_retryable());
    }
    assert_eq!(
        posts.load(Ordering::SeqCst),
        2,
        "one POST per client, never repeated"
    );
    assert_eq!(
        elsewhere.total(),
        0,
        "the other host saw no request (and so no API key): {:?}",
        elsewhere.seen.lock().unwrap()
    );
}

#[tokio::test]
async fn same_host_redirects_are_followed_only_when_allowed_and_keep_the_method() {
    let s = Script::default()
        .on("GET /new/Users/1", vec![(200, json!({"id": "1"}))])
        .on(
            "POST /new/Users",
            vec![(201, json!({"id": "n", "userName": "ann"}))],
        )
        .on("GET /new/Groups", vec![(200, list(vec![]))]);
    // The redirecting routes answer with Location headers; the rest is scripted.
    let script = s.clone();
    let app = Router::new()
        .route(
            "/old/Users/1",
            get(|| async {
                (
                    StatusCode::MOVED_PERMANENTLY,
                    [("location", "/new/Users/1")],
                )
            }),
        )
        .route(
            "/old/Users",
            post(|| async {
                (
                    StatusCode::PERMANENT_REDIRECT,
                    [("location", "../new/Users")],
                )
            }),
        )
        .route(
            "/old/Groups",
            post(|| async { (StatusCode::FOUND, [("location", "/new/Groups")]) }),
        )
        .route(
            "/old/Loop",
            any(|| async { (StatusCode::FOUND, [("location", "/old/Loop")]) }),
        )
        .merge(script.router());
    let srv = serve(app).await;
    let base = format!("{}/old", srv.base);

    let off = Client::builder(&base)
        .header_auth("X-Api-Key", "KEY-SECRET-2")
        .unwrap()
        .build()
        .unwrap();
    let e = off.get::<Value>("Users", "1").await.unwrap_err();
    assert!(matches!(e, Error::Redirect { status: 301, .. }), "{e:?}");
    assert!(s.seen("GET", "/new/Users/1").is_empty());

    let on = Client::builder(&base)
        .header_auth("X-Api-Key", "KEY-SECRET-2")
        .unwrap()
        .allow_same_host_redirects(true)
        .build()
        .unwrap();
    let v: Value = on.get("Users", "1").await.unwrap();
    assert_eq!(v["id"], "1");
    let seen = s.seen("GET", "/new/Users/1");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].api_key.as_deref(), Some("KEY-SECRET-2"));

    // 308 keeps POST and its body.
    let created: Value = on
        .create("Users", &json!({"userName": "ann"}))
        .await
        .unwrap();
    assert_eq!(created["id"], "n");
    let seen = s.seen("POST", "/new/Users");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].body).unwrap(),
        json!({"userName": "ann"})
    );

    // 302 to a POST would become a GET: refused, nothing sent there.
    let e = on
        .create("Groups", &json!({"displayName": "Eng"}))
        .await
        .unwrap_err();
    match &e {
        Error::Redirect { status, reason, .. } => {
            assert_eq!(*status, 302);
            assert!(reason.contains("POST into a GET"), "{reason}");
        }
        e => panic!("{e:?}"),
    }
    assert!(s.seen("GET", "/new/Groups").is_empty());

    // A redirect loop ends.
    let e = on
        .send(reqwest::Method::GET, "/Loop", None, &[], true)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Redirect { status: 302, .. }), "{e:?}");
    assert!(e.to_string().contains("more than 5 redirects"), "{e}");

    // A caller-supplied reqwest::Client that follows redirects by itself is caught.
    let follows = Client::builder(&base)
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    let e = follows.get::<Value>("Users", "1").await.unwrap_err();
    match e {
        Error::Redirect { reason, .. } => assert!(reason.contains("Policy::none"), "{reason}"),
        e => panic!("{e:?}"),
    }
}

// --- POST is never repeated blindly ----------------------------------------------------------

#[tokio::test]
async fn a_post_answered_503_is_not_repeated_without_a_lookup() {
    let s = Script::default()
        .on("POST /Widgets", vec![unavailable()])
        .on("GET /Widgets", vec![(200, list(vec![]))])
        .on("POST /Users", vec![unavailable()])
        .on(
            "GET /Users",
            vec![(500, json!({"detail": "search is down"}))],
        )
        .on("POST /Bulk", vec![unavailable()])
        .on(
            "PUT /Widgets/1",
            vec![unavailable(), unavailable(), (200, json!({"id": "1"}))],
        );
    let srv = serve(s.router()).await;
    let c = Client::builder(&srv.base).retry(fast()).build().unwrap();

    // Nothing to look the resource up by: the 503 is returned after one POST.
    let e = c
        .create("Widgets", &json!({"name": "w"}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    assert_eq!(s.seen("POST", "/Widgets").len(), 1);
    assert!(s.seen("GET", "/Widgets").is_empty());

    // The lookup fails: it proves nothing, so the POST is not repeated.
    let e = c
        .create("Users", &json!({"userName": "dora"}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503), "the original error: {e}");
    assert_eq!(s.seen("POST", "/Users").len(), 1);
    assert!(!s.seen("GET", "/Users").is_empty(), "a lookup was tried");

    // Raw POSTs sent as not idempotent, and bulk requests, are not repeated either.
    let e = c
        .send(
            reqwest::Method::POST,
            "/Widgets",
            Some(&json!({})),
            &[],
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(s.seen("POST", "/Widgets").len(), 2);
    let e = c
        .bulk(
            vec![serde_json::from_value(
                json!({"method": "POST", "bulkId": "b1", "path": "/Users", "data": {"userName": "x"}}),
            )
            .unwrap()],
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(s.seen("POST", "/Bulk").len(), 1);

    // Idempotent methods keep their retries.
    let v: Value = c.replace("Widgets", "1", &json!({}), None).await.unwrap();
    assert_eq!(v["id"], "1");
    assert_eq!(s.seen("PUT", "/Widgets/1").len(), 3);
}

#[tokio::test]
async fn a_post_is_repeated_only_after_a_lookup_proves_it_absent() {
    let s = Script::default()
        // Users: 503, the lookup finds nothing, the second POST creates.
        .on(
            "POST /Users",
            vec![
                unavailable(),
                (201, json!({"id": "n1", "userName": "carol"})),
            ],
        )
        .on("GET /Users", vec![(200, list(vec![]))])
        // Groups: 503, but the group was created: the lookup returns it, no second POST.
        .on("POST /Groups", vec![unavailable()])
        .on(
            "GET /Groups",
            vec![(200, list(vec![json!({"id": "g1", "displayName": "Eng"})]))],
        )
        // Roles: 502, absent, then 409 (the first attempt finished late): the lookup's find.
        .on(
            "POST /Roles",
            vec![
                (502, json!({"detail": "bad gateway"})),
                (
                    409,
                    json!({"scimType": "uniqueness", "detail": "exists", "status": "409"}),
                ),
            ],
        )
        .on(
            "GET /Roles",
            vec![
                (200, list(vec![])),
                (200, list(vec![json!({"id": "r1", "externalId": "role-1"})])),
            ],
        )
        // Apps: 429 is a refusal: repeated without a lookup.
        .on(
            "POST /Apps",
            vec![
                (429, json!({"detail": "slow down"})),
                (201, json!({"id": "a1"})),
            ],
        );
    let srv = serve(s.router()).await;
    let c = Client::builder(&srv.base).retry(fast()).build().unwrap();

    let created: Value = c
        .create(
            "Users",
            &json!({"userName": "carol", "externalId": "e-carol"}),
        )
        .await
        .unwrap();
    assert_eq!(created["id"], "n1");
    assert_eq!(s.seen("POST", "/Users").len(), 2);
    let lookups: Vec<String> = s
        .seen("GET", "/Users")
        .into_iter()
        .map(|x| percent_decode(&x.query))
        .collect();
    assert_eq!(lookups.len(), 2, "{lookups:?}");
    assert!(
        lookups[0].contains("externalId eq \"e-carol\""),
        "{lookups:?}"
    );
    assert!(lookups[1].contains("userName eq \"carol\""), "{lookups:?}");

    let g: Value = c
        .create("Groups", &json!({"displayName": "Eng"}))
        .await
        .unwrap();
    assert_eq!(g["id"], "g1");
    assert_eq!(
        s.seen("POST", "/Groups").len(),
        1,
        "the group was not created twice"
    );

    let r: Value = c
        .create("Roles", &json!({"externalId": "role-1"}))
        .await
        .unwrap();
    assert_eq!(r["id"], "r1");
    assert_eq!(s.seen("POST", "/Roles").len(), 2);

    let a: Value = c.create("Apps", &json!({"name": "x"})).await.unwrap();
    assert_eq!(a["id"], "a1");
    assert_eq!(s.seen("POST", "/Apps").len(), 2);
    assert!(s.seen("GET", "/Apps").is_empty());
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

// --- Response size limit ---------------------------------------------------------------------

#[tokio::test]
async fn bodies_over_the_limit_are_refused_without_buffering_them() {
    assert_eq!(scim_client::DEFAULT_MAX_RESPONSE_BYTES, 32 * 1024 * 1024);
    let produced = Arc::new(AtomicUsize::new(0));
    let p2 = produced.clone();
    let endless_hits = Arc::new(AtomicUsize::new(0));
    let e2 = endless_hits.clone();
    let app = Router::new()
        .route(
            "/Users/endless",
            get(move || {
                let produced = p2.clone();
                e2.fetch_add(1, Ordering::SeqCst);
                async move {
                    // An endless body without Content-Length, as a 500 (which a GET retries).
                    let chunk = Bytes::from(vec![b' '; 64 * 1024]);
                    let stream = futures::stream::repeat_with(move || {
                        produced.fetch_add(chunk.len(), Ordering::SeqCst);
                        Ok::<_, std::io::Error>(chunk.clone())
                    });
                    Response::builder()
                        .status(500)
                        .body(Body::from_stream(stream))
                        .unwrap()
                }
            }),
        )
        .route(
            "/Users/big",
            get(|| async { json!({"id": "big", "pad": "x".repeat(2 * 1024 * 1024)}).to_string() }),
        )
        .route(
            "/Users/fits",
            get(|| async { json!({"id": "fits", "pad": "x".repeat(900 * 1024)}).to_string() }),
        );
    let srv = serve(app).await;
    let limit = 1024 * 1024;
    let c = Client::builder(&srv.base)
        .max_response_bytes(limit)
        .retry(fast())
        .build()
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(60), c.get::<Value>("Users", "endless"))
        .await
        .expect("reading stops at the limit")
        .unwrap_err();
    assert!(
        matches!(e, Error::ResponseTooLarge { status: 500, limit: l } if l == limit),
        "{e:?}"
    );
    assert_eq!(endless_hits.load(Ordering::SeqCst), 1, "not retried");
    // The server stops producing once the client hangs up (what is in flight in the socket
    // buffers aside).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = produced.load(Ordering::SeqCst);
    assert!(sent < 64 * 1024 * 1024, "{sent} bytes produced");

    // Announced by Content-Length.
    let e = c.get::<Value>("Users", "big").await.unwrap_err();
    assert!(
        matches!(e, Error::ResponseTooLarge { status: 200, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("1048576"), "{e}");
    let v: Value = c.get("Users", "fits").await.unwrap();
    assert_eq!(v["id"], "fits");
}

// --- Rate limits -----------------------------------------------------------------------------

#[derive(Debug)]
struct ZeroRate;
impl scim_client::Profile for ZeroRate {
    fn rate_per_second(&self) -> Option<f64> {
        Some(0.0)
    }
}

#[tokio::test]
async fn invalid_limits_are_builder_errors_not_panics() {
    let srv = serve(Script::default().router()).await;
    let invalid = |r: scim_client::Result<Client>| match r {
        Err(Error::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
        let m = invalid(Client::builder(&srv.base).rate_limit(rate, 5).build());
        assert!(m.contains("rate limit"), "{m}");
    }
    invalid(
        Client::builder(&srv.base)
            .rate_limit_per_minute(0.0, 1)
            .build(),
    );
    invalid(
        Client::builder(&srv.base)
            .profile(Arc::new(ZeroRate))
            .unwrap()
            .build(),
    );
    invalid(
        Client::builder(&srv.base)
            .max_concurrency(usize::MAX)
            .build(),
    );
    invalid(Client::builder(&srv.base).max_response_bytes(0).build());
    // A valid slow rate works over the socket.
    let c = Client::builder(&srv.base)
        .rate_limit_per_minute(600.0, 1)
        .build()
        .unwrap();
    assert_eq!(
        c.get::<Value>("Users", "x").await.unwrap_err().status(),
        Some(404)
    );
}

// --- OAuth token responses and secrets ------------------------------------------------------

#[tokio::test]
async fn oauth_expires_in_as_a_string_and_token_errors_without_secrets() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let t2 = tokens.clone();
    let app = Router::new()
        .route(
            "/token",
            post(move |body: String| {
                let t = t2.clone();
                async move {
                    assert!(body.contains("client_secret=CS-SECRET"));
                    t.fetch_add(1, Ordering::SeqCst);
                    axum::Json(
                        json!({"access_token": "AT-SECRET-1", "token_type": "Bearer",
                        "expires_in": "3600"}),
                    )
                }
            }),
        )
        .route(
            "/token-bad-expiry",
            post(|| async {
                axum::Json(json!({"access_token": "AT-SECRET-2", "expires_in": "soon"}))
            }),
        )
        .route(
            "/token-denied",
            post(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": "invalid_client",
                        "error_description": "client secret CS-SECRET is wrong",
                        "access_token": "AT-SECRET-3"})),
                )
            }),
        )
        .route(
            "/token-html",
            post(|| async { (StatusCode::BAD_GATEWAY, "<html>AT-SECRET-4</html>") }),
        )
        .route(
            "/Users/1",
            get(|headers: HeaderMap| async move {
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Bearer AT-SECRET-1") => axum::Json(json!({"id": "1"})).into_response(),
                    _ => StatusCode::UNAUTHORIZED.into_response(),
                }
            }),
        );
    let srv = serve(app).await;
    let client = |path: &str| {
        Client::builder(&srv.base)
            .oauth2_client_credentials(format!("{}{path}", srv.base), "cid", "CS-SECRET", None)
            .retry(fast())
            .build()
            .unwrap()
    };
    let c = client("/token");
    for _ in 0..3 {
        let v: Value = c.get("Users", "1").await.unwrap();
        assert_eq!(v["id"], "1");
    }
    assert_eq!(
        tokens.load(Ordering::SeqCst),
        1,
        "expires_in \"3600\" was read: the token is cached"
    );
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("AT-SECRET") && !dbg.contains("CS-SECRET"),
        "{dbg}"
    );

    for (path, secret, status) in [
        ("/token-bad-expiry", "AT-SECRET-2", 200),
        ("/token-denied", "AT-SECRET-3", 401),
        ("/token-html", "AT-SECRET-4", 502),
    ] {
        let e = client(path).get::<Value>("Users", "1").await.unwrap_err();
        assert!(
            matches!(e, Error::Token { status: Some(s), .. } if s == status),
            "{e:?}"
        );
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(secret), "{path}: {text}");
            assert!(!text.contains("CS-SECRET"), "{path}: {text}");
        }
    }
    let e = client("/token-denied")
        .get::<Value>("Users", "1")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert!(!e.is_retryable());
    let e = client("/token-html")
        .get::<Value>("Users", "1")
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "a 502 from the token endpoint may pass");
}

#[tokio::test]
async fn debug_and_errors_of_configs_hold_no_secret() {
    let s = Script::default().on("GET /Users/1", vec![(500, json!({"detail": "boom"}))]);
    let srv = serve(s.router()).await;
    let secrets = [
        "BEARER-SECRET",
        "KEY-SECRET",
        "HDR-SECRET",
        "CS-SECRET",
        "BAD-SECRET",
    ];
    let check = |what: &str, text: String| {
        for secret in secrets {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
    };

    let b = Client::builder(&srv.base)
        .bearer_token("BEARER-SECRET")
        .default_header("X-Extra-Token", "HDR-SECRET")
        .unwrap()
        .retry(RetryPolicy::none());
    check("builder", format!("{b:?}"));
    let c = b.build().unwrap();
    check("client", format!("{c:?}"));
    let e = c.get::<Value>("Users", "1").await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    check("HTTP error", format!("{e} {e:?}"));

    let b = Client::builder(&srv.base)
        .header_auth("X-Api-Key", "KEY-SECRET")
        .unwrap();
    check("builder", format!("{b:?}"));
    check("client", format!("{:?}", b.build().unwrap()));

    let b = Client::builder(&srv.base).oauth2_client_credentials(
        format!("{}/token", srv.base),
        "cid",
        "CS-SECRET",
        Some("scim"),
    );
    check("builder", format!("{b:?}"));
    check("client", format!("{:?}", b.build().unwrap()));

    // A header value that cannot be sent: the error does not repeat it.
    let e = Client::builder(&srv.base)
        .header_auth("X-Api-Key", "BAD-SECRET\n")
        .unwrap_err();
    check("header error", format!("{e} {e:?}"));
    let e = Client::builder(&srv.base)
        .default_header("X-Api-Key", "BAD-SECRET\r\nx")
        .unwrap_err();
    check("header error", format!("{e} {e:?}"));

    // A transport error (nothing listens on the port any more).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let c = Client::builder(closed)
        .bearer_token("BEARER-SECRET")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let e = c.get::<Value>("Users", "1").await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    check("transport error", format!("{e} {e:?}"));
}
