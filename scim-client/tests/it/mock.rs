//! Mock targets on real sockets: throttling, 500-as-throttling, timeouts, non-SCIM errors,
//! cursor pages and pages that never advance.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures::TryStreamExt;
use scim_client::{Client, Error, ListQuery, RetryPolicy};
use serde_json::{json, Value};

async fn serve(app: Router) -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    (format!("http://{addr}"), h)
}

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .with_base_delay(Duration::from_millis(10))
        .with_max_attempts(4)
}

#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

#[tokio::test]
async fn retries_429_with_retry_after_then_succeeds() {
    let hits = Hits::default();
    let app = Router::new()
        .route(
            "/Users/1",
            get(|State(h): State<Hits>| async move {
                if h.0.fetch_add(1, Ordering::SeqCst) < 2 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "1")],
                        "slow down",
                    )
                        .into_response()
                } else {
                    axum::Json(json!({"id": "1", "userName": "a"})).into_response()
                }
            }),
        )
        .with_state(hits.clone());
    let (base, h) = serve(app).await;
    let c = Client::builder(base).retry(fast()).build().unwrap();
    let t0 = Instant::now();
    let v: Value = c.get("Users", "1").await.unwrap();
    assert_eq!(v["id"], "1");
    assert_eq!(hits.0.load(Ordering::SeqCst), 3);
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "Retry-After was honoured"
    );
    h.abort();
}

#[tokio::test]
async fn throttling_disguised_as_500_and_non_scim_bodies() {
    let hits = Hits::default();
    let app = Router::new()
        .route(
            "/Users/1",
            get(|State(h): State<Hits>| async move {
                if h.0.fetch_add(1, Ordering::SeqCst) == 0 {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Rate limit exceeded, try later",
                    )
                        .into_response()
                } else {
                    axum::Json(json!({"id": "1"})).into_response()
                }
            }),
        )
        .route(
            "/Users/2",
            get(|| async {
                (StatusCode::UNPROCESSABLE_ENTITY, "<html>nope</html>").into_response()
            }),
        )
        .with_state(hits.clone());
    let (base, h) = serve(app).await;
    let c = Client::builder(base).retry(fast()).build().unwrap();
    let v: Value = c.get("Users", "1").await.unwrap();
    assert_eq!(v["id"], "1");
    match c.get::<Value>("Users", "2").await.unwrap_err() {
        Error::Http {
            status,
            body,
            scim_type,
            retryable,
            ..
        } => {
            assert_eq!(status, 422);
            assert_eq!(body, "<html>nope</html>");
            assert!(scim_type.is_none() && !retryable);
        }
        other => panic!("{other:?}"),
    }
    h.abort();
}

#[tokio::test]
async fn timeouts_retry_gets_and_look_up_before_recreating() {
    let posts = Hits::default();
    let app = Router::new()
        .route(
            "/Users/1",
            get(|| async move {
                static GETS: AtomicUsize = AtomicUsize::new(0);
                if GETS.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                axum::Json(json!({"id": "1"}))
            }),
        )
        .route(
            "/Users",
            get(|Query(q): Query<std::collections::HashMap<String, String>>| async move {
                // The slow POST did create the user: the lookup finds it.
                assert!(q.get("filter").unwrap().contains("userName eq \"bob\""));
                axum::Json(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 1,
                    "Resources": [{"id": "42", "userName": "bob"}]}))
            })
            .post(|State(h): State<Hits>| async move {
                h.0.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(2)).await;
                (StatusCode::CREATED, axum::Json(json!({"id": "42", "userName": "bob"})))
            }),
        )
        .with_state(posts.clone());
    let (base, h) = serve(app).await;
    let c = Client::builder(base)
        .retry(fast())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let v: Value = c.get("Users", "1").await.unwrap();
    assert_eq!(v["id"], "1");
    let created: Value = c
        .create("Users", &json!({"userName": "bob"}))
        .await
        .unwrap();
    assert_eq!(created["id"], "42");
    assert_eq!(
        posts.0.load(Ordering::SeqCst),
        1,
        "the POST was not repeated"
    );
    h.abort();
}

#[tokio::test]
async fn cursor_pages_and_pages_that_never_advance() {
    let app = Router::new()
        .route(
            "/Users",
            get(|Query(q): Query<std::collections::HashMap<String, String>>| async move {
                let page = |ids: &[&str], next: Option<&str>| {
                    let mut v = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 5,
                        // Entra ID writes "resources" in lower case.
                        "resources": ids.iter().map(|i| json!({"id": i})).collect::<Vec<_>>()});
                    if let Some(n) = next {
                        v["nextCursor"] = json!(n);
                    }
                    axum::Json(v)
                };
                match q.get("cursor").map(String::as_str) {
                    Some("") => page(&["1", "2"], Some("c2")),
                    Some("c2") => page(&["3", "4"], Some("c3")),
                    Some("c3") => page(&["5"], None),
                    _ => page(&[], None),
                }
            }),
        )
        .route(
            "/Groups",
            get(|headers: HeaderMap| async move {
                let _ = headers;
                // Always the same page, never advancing, and lying about the total.
                axum::Json(json!({"totalResults": 10, "Resources": []}))
            }),
        )
        .route(
            "/Loop",
            get(|| async { axum::Json(json!({"totalResults": 10, "Resources": [{"id": "x"}], "nextCursor": "same"})) }),
        );
    let (base, h) = serve(app).await;
    let c = Client::builder(base).retry(fast()).build().unwrap();
    let ids: Vec<Value> = c
        .list_all("Users", ListQuery::new().with_cursor())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids.len(), 5);
    let e = c
        .list_all::<Value>("Groups", ListQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Pagination(_)), "{e}");
    let e = c
        .list_all::<Value>("Loop", ListQuery::new().with_cursor())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Pagination(_)), "{e}");
    h.abort();
}

#[tokio::test]
async fn decode_errors_name_the_json_path_and_rate_limit_spaces_requests() {
    let app = Router::new().route(
        "/Users/1",
        get(|| async {
            axum::Json(
                json!({"id": "1", "emails": [{"value": "a"}, {"value": "b", "primary": "yes"}]}),
            )
        }),
    );
    let (base, h) = serve(app).await;
    let c = Client::builder(&base).rate_limit(20.0, 1).build().unwrap();
    match c.get::<scim_core::User>("Users", "1").await.unwrap_err() {
        Error::Decode { path, .. } => assert_eq!(path, "emails[1].primary"),
        other => panic!("{other:?}"),
    }
    let ok = Client::builder(&base).rate_limit(20.0, 1).build().unwrap();
    let t0 = Instant::now();
    for _ in 0..5 {
        let _: Value = ok.get("Users", "1").await.unwrap();
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(190),
        "5 requests at 20/s with burst 1 take ≥ 200 ms"
    );
    h.abort();
}

#[tokio::test]
async fn oauth2_tokens_are_cached_and_refreshed_after_401() {
    let tokens = Hits::default();
    let app = Router::new()
        .route(
            "/token",
            axum::routing::post(|State(h): State<Hits>, body: String| async move {
                assert!(body.contains("grant_type=client_credentials") && body.contains("client_id=cid"));
                let n = h.0.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"access_token": format!("t{n}"), "token_type": "Bearer", "expires_in": 3600}))
            }),
        )
        .route(
            "/Users/1",
            get(|headers: HeaderMap| async move {
                // The first token is "revoked" on the server side.
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Bearer t1") => axum::Json(json!({"id": "1"})).into_response(),
                    _ => (StatusCode::UNAUTHORIZED, "expired").into_response(),
                }
            }),
        )
        .with_state(tokens.clone());
    let (base, h) = serve(app).await;
    let c = Client::builder(&base)
        .oauth2_client_credentials(format!("{base}/token"), "cid", "secret", Some("scim"))
        .build()
        .unwrap();
    for _ in 0..3 {
        let v: Value = c.get("Users", "1").await.unwrap();
        assert_eq!(v["id"], "1");
    }
    assert_eq!(
        tokens.0.load(Ordering::SeqCst),
        2,
        "one token, refreshed once after the 401, then cached"
    );
    h.abort();
}

#[tokio::test]
async fn profiles_split_member_changes() {
    let patches = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let p2 = patches.clone();
    let app = Router::new().route(
        "/Groups/g",
        axum::routing::patch(move |body: axum::Json<Value>| {
            let p = p2.clone();
            async move {
                p.lock().unwrap().push(body.0);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let (base, h) = serve(app).await;
    let c = Client::builder(&base)
        .profile(Arc::new(scim_client::profile::EntraId))
        .unwrap()
        .build()
        .unwrap();
    let ids: Vec<String> = (0..45).map(|i| format!("u{i}")).collect();
    c.add_members("g", &ids).await.unwrap();
    c.remove_members("g", &ids[..3]).await.unwrap();
    let got = patches.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        3 + 3,
        "45 adds in chunks of 20, 3 removals one by one"
    );
    assert_eq!(
        got[0]["Operations"][0]["value"].as_array().unwrap().len(),
        20
    );
    assert_eq!(got[3]["Operations"][0]["path"], "members[value eq \"u0\"]");
    let bulk = c.bulk(vec![], None).await.unwrap_err();
    assert!(matches!(bulk, Error::Invalid(_)));
    h.abort();
}
