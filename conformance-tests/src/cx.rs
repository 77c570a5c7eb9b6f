//! What a check works with: a recording HTTP client bound to the target, the server's
//! advertised features, unique names for test data, and the cleanup registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::data::Dataset;
use crate::model::{Exchange, Feature, Stop, Verdict};

/// The media type of SCIM messages (RFC 7644 §3.1, §8.1).
pub const SCIM_JSON: &str = "application/scim+json";
/// The core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The error message schema.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The list response schema.
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The PATCH request schema.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The search request schema.
pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// The bulk request schema.
pub const BULK_REQ: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The bulk response schema.
pub const BULK_RESP: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// Fails the check with a formatted message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::model::Stop::Fail(format!($($arg)+)));
        }
    };
}

/// Fails the check with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)+) => {
        return Err($crate::model::Stop::Fail(format!($($arg)+)))
    };
}

/// Skips the check with a formatted reason.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)+) => {
        return Err($crate::model::Stop::Skip(format!($($arg)+)))
    };
}

/// The target: base URL, token, and an HTTP client.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8080/scim/v2`.
    pub base: String,
    /// Bearer token.
    pub token: Option<String>,
    /// The HTTP client.
    pub client: reqwest::Client,
}

impl Target {
    /// A target with a request timeout.
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Target {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("scim-conformance/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client");
        Target {
            base: base.trim_end_matches('/').to_string(),
            token,
            client,
        }
    }

    /// The URL of a path below the base (or the path itself when it is absolute).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters are kept; spaces become
/// `%20`, not `+`, so no server has to guess).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Resources created by the suite that still exist, deleted after each check, at the end of
/// the run, and on Ctrl-C.
#[derive(Debug)]
pub struct Cleanup {
    target: Target,
    prefix: String,
    paths: Mutex<Vec<String>>,
    sweep_filter: Mutex<bool>,
}

impl Cleanup {
    /// A registry for a run whose test data all starts with `prefix`.
    pub fn new(target: Target, prefix: String) -> Cleanup {
        Cleanup {
            target,
            prefix,
            paths: Mutex::new(Vec::new()),
            sweep_filter: Mutex::new(false),
        }
    }

    /// The prefix of every name this run creates.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Remembers a created resource (`/Users/{id}`).
    pub fn register(&self, path: String) {
        let mut p = self.paths.lock().unwrap();
        if !p.contains(&path) {
            p.push(path);
        }
    }

    /// Forgets a resource (deleted by the check itself).
    pub fn forget(&self, path: &str) {
        self.paths.lock().unwrap().retain(|p| p != path);
    }

    /// Allows the final sweep to find leftovers with a `sw` filter (set once the server is
    /// known to support filters).
    pub fn enable_sweep(&self, on: bool) {
        *self.sweep_filter.lock().unwrap() = on;
    }

    async fn delete(&self, path: &str) -> bool {
        let mut rb = self.target.client.delete(self.target.url(path));
        if let Some(t) = &self.target.token {
            rb = rb.bearer_auth(t);
        }
        match rb.send().await {
            Ok(r) => r.status().is_success() || r.status().as_u16() == 404,
            Err(_) => false,
        }
    }

    /// Deletes the given resources (groups first, then the rest); returns those that could
    /// not be deleted.
    pub async fn delete_paths(&self, mut paths: Vec<String>) -> Vec<String> {
        // Groups first: some servers refuse to delete a user that is still a member.
        paths.sort_by_key(|p| !p.contains("/Groups/"));
        let mut left = Vec::new();
        for p in paths {
            if self.delete(&p).await {
                self.forget(&p);
            } else {
                left.push(p);
            }
        }
        left
    }

    /// Deletes everything registered, then (when filters work) sweeps `/Users` and `/Groups`
    /// for names with this run's prefix. Returns what is left.
    pub async fn purge(&self) -> Vec<String> {
        let paths: Vec<String> = self.paths.lock().unwrap().clone();
        let mut left = self.delete_paths(paths).await;
        if *self.sweep_filter.lock().unwrap() {
            for (endpoint, attr) in [("/Groups", "displayName"), ("/Users", "userName")] {
                let filter = format!("{attr} sw \"{}\"", self.prefix);
                let url = format!(
                    "{}?filter={}&count=1000",
                    self.target.url(endpoint),
                    encode(&filter)
                );
                let mut rb = self.target.client.get(url);
                if let Some(t) = &self.target.token {
                    rb = rb.bearer_auth(t);
                }
                let Ok(r) = rb.send().await else { continue };
                let Ok(v) = r.json::<Value>().await else {
                    continue;
                };
                let ids: Vec<String> = resources_of(&v)
                    .iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str))
                    .map(|id| format!("{endpoint}/{id}"))
                    .collect();
                for p in ids {
                    if !self.delete(&p).await && !left.contains(&p) {
                        left.push(p);
                    }
                }
            }
        }
        left
    }
}

/// The `Resources` of a list response (also accepting a lower-case `resources`).
pub fn resources_of(v: &Value) -> Vec<Value> {
    v.get("Resources")
        .or_else(|| v.get("resources"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The features the server advertises (RFC 7643 §5, §6; RFC 9865 §3).
#[derive(Debug, Clone, Default)]
pub struct Caps {
    /// The ServiceProviderConfig, if it could be read.
    pub spc: Option<Value>,
    /// The resource types, if they could be read.
    pub resource_types: Vec<Value>,
    features: HashMap<Feature, bool>,
}

impl Caps {
    /// Reads the advertised features from a ServiceProviderConfig and the resource types.
    pub fn from_discovery(spc: Option<Value>, resource_types: Vec<Value>) -> Caps {
        let mut features = HashMap::new();
        if let Some(s) = &spc {
            let sup = |k: &str| {
                s.get(k)
                    .and_then(|v| v.get("supported"))
                    .and_then(Value::as_bool)
            };
            for (f, k) in [
                (Feature::Patch, "patch"),
                (Feature::Bulk, "bulk"),
                (Feature::Filter, "filter"),
                (Feature::Sort, "sort"),
                (Feature::Etag, "etag"),
                (Feature::ChangePassword, "changePassword"),
            ] {
                features.insert(f, sup(k).unwrap_or(false));
            }
            let cursor = s
                .get("pagination")
                .and_then(|p| p.get("cursor"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            features.insert(Feature::Cursor, cursor);
        }
        if !resource_types.is_empty() {
            let groups = resource_types.iter().any(|rt| {
                rt.get("endpoint").and_then(Value::as_str) == Some("/Groups")
                    || rt.get("name").and_then(Value::as_str) == Some("Group")
            });
            features.insert(Feature::Groups, groups);
            let ent = resource_types.iter().any(|rt| {
                rt.get("name").and_then(Value::as_str) == Some("User")
                    && rt
                        .get("schemaExtensions")
                        .and_then(Value::as_array)
                        .is_some_and(|xs| {
                            xs.iter().any(|x| {
                                x.get("schema")
                                    .and_then(Value::as_str)
                                    .is_some_and(|s| s.eq_ignore_ascii_case(ENTERPRISE))
                            })
                        })
            });
            features.insert(Feature::EnterpriseUser, ent);
        }
        Caps {
            spc,
            resource_types,
            features,
        }
    }

    /// Whether a feature is advertised; `None` when discovery could not be read.
    pub fn get(&self, f: Feature) -> Option<bool> {
        self.features.get(&f).copied()
    }

    /// Advertised (or unknown, so that a check runs and shows what happens).
    pub fn has(&self, f: Feature) -> bool {
        self.get(f).unwrap_or(true)
    }

    /// A number from the ServiceProviderConfig, e.g. `("bulk", "maxOperations")`.
    pub fn number(&self, section: &str, key: &str) -> Option<u64> {
        self.spc.as_ref()?.get(section)?.get(key)?.as_u64()
    }

    /// All features with their advertised value, for reports.
    pub fn list(&self) -> Vec<(Feature, bool)> {
        let mut v: Vec<(Feature, bool)> = self.features.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_by_key(|(f, _)| f.as_str());
        v
    }
}

/// Options that change what some checks do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Wait for a cursor to expire when the advertised `cursorTimeout` is at most this many
    /// seconds (RFC 9865 `expiredCursor`); 0 skips that check.
    pub max_cursor_wait_secs: u64,
}

/// State shared by all checks of a run.
pub struct Shared {
    /// The target.
    pub target: Target,
    /// Advertised features.
    pub caps: Caps,
    /// Cleanup registry.
    pub cleanup: Arc<Cleanup>,
    /// Options.
    pub options: Options,
    counter: AtomicU64,
    pub(crate) dataset: tokio::sync::OnceCell<Result<Arc<Dataset>, String>>,
}

impl Shared {
    /// Shared state for a run.
    pub fn new(target: Target, caps: Caps, cleanup: Arc<Cleanup>, options: Options) -> Shared {
        Shared {
            target,
            caps,
            cleanup,
            options,
            counter: AtomicU64::new(0),
            dataset: tokio::sync::OnceCell::new(),
        }
    }
}

/// What a check body gets: it sends requests (all recorded), creates uniquely named data
/// (all registered for cleanup), and reads the advertised features.
pub struct Cx {
    /// The run's shared state.
    pub shared: Arc<Shared>,
    log: Mutex<Vec<Exchange>>,
    created: Mutex<Vec<String>>,
}

impl Cx {
    /// A fresh context for one check.
    pub fn new(shared: Arc<Shared>) -> Cx {
        Cx {
            shared,
            log: Mutex::new(Vec::new()),
            created: Mutex::new(Vec::new()),
        }
    }

    /// The recorded exchanges.
    pub fn take_log(&self) -> Vec<Exchange> {
        std::mem::take(&mut self.log.lock().unwrap())
    }

    /// Resources this check created and has not deleted.
    pub fn take_created(&self) -> Vec<String> {
        std::mem::take(&mut self.created.lock().unwrap())
    }

    /// Advertised features.
    pub fn caps(&self) -> &Caps {
        &self.shared.caps
    }

    /// A name unique to this run and call: `<prefix>-<n>-<tag>`.
    pub fn name(&self, tag: &str) -> String {
        let n = self.shared.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}-{tag}", self.shared.cleanup.prefix())
    }

    /// The run's prefix.
    pub fn prefix(&self) -> &str {
        self.shared.cleanup.prefix()
    }

    /// Starts a request to a path below the base URL.
    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            cx: self,
            method,
            path: path.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            auth: Auth::Default,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Resp, Stop> {
        self.req(Method::GET, path).send().await
    }

    /// `GET path?k=v&…`.
    pub async fn get_q(&self, path: &str, q: &[(&str, &str)]) -> Result<Resp, Stop> {
        let mut r = self.req(Method::GET, path);
        for (k, v) in q {
            r = r.query(k, v);
        }
        r.send().await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Result<Resp, Stop> {
        self.req(Method::POST, path).json(&body).send().await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Result<Resp, Stop> {
        self.req(Method::PUT, path).json(&body).send().await
    }

    /// `PATCH path` with a PatchOp of these operations.
    pub async fn patch(&self, path: &str, ops: Value) -> Result<Resp, Stop> {
        self.req(Method::PATCH, path)
            .json(&json!({"schemas": [PATCH_OP], "Operations": ops}))
            .send()
            .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Resp, Stop> {
        self.req(Method::DELETE, path).send().await
    }

    /// Lists with a filter, failing the check unless the answer is a 200 list response.
    pub async fn list(&self, path: &str, q: &[(&str, &str)]) -> Result<Vec<Value>, Stop> {
        let r = self.get_q(path, q).await?;
        r.expect(200)?;
        r.list()
    }

    fn register(&self, path: String) {
        self.shared.cleanup.register(path.clone());
        let mut c = self.created.lock().unwrap();
        if !c.contains(&path) {
            c.push(path);
        }
    }

    fn forget(&self, path: &str) {
        self.shared.cleanup.forget(path);
        self.created.lock().unwrap().retain(|p| p != path);
    }

    /// Registers a resource created outside the usual `POST /Users` shapes (e.g. by Bulk).
    pub fn track(&self, endpoint: &str, id: &str) {
        self.register(format!("{endpoint}/{id}"));
    }

    /// Creates a user with a unique userName (`<prefix>-<n>-<tag>`) and these further
    /// attributes; fails the check unless the server answers 201 with an id.
    pub async fn user(&self, tag: &str, extra: Value) -> Result<Created, Stop> {
        let name = self.name(tag);
        let mut body = json!({"schemas": [USER], "userName": name});
        merge(&mut body, extra);
        let r = self.post("/Users", body).await?;
        r.expect(201)?;
        let id = r.id()?;
        Ok(Created {
            id: id.clone(),
            path: format!("/Users/{id}"),
            name,
            body: r.json,
        })
    }

    /// Creates a group with a unique displayName and these member ids.
    pub async fn group(&self, tag: &str, members: &[&str]) -> Result<Created, Stop> {
        let name = self.name(tag);
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let mut body = json!({"schemas": [GROUP], "displayName": name});
        if !members.is_empty() {
            body["members"] = Value::Array(members);
        }
        let r = self.post("/Groups", body).await?;
        r.expect(201)?;
        let id = r.id()?;
        Ok(Created {
            id: id.clone(),
            path: format!("/Groups/{id}"),
            name,
            body: r.json,
        })
    }

    /// The shared data set for the query checks (created once per run, deleted at its end).
    pub async fn dataset(&self) -> Result<Arc<Dataset>, Stop> {
        let shared = self.shared.clone();
        let r = shared
            .dataset
            .get_or_init(|| async { Dataset::create(self).await.map(Arc::new) })
            .await;
        match r {
            Ok(d) => Ok(d.clone()),
            Err(e) => Err(Stop::Fail(format!(
                "the shared test data could not be created: {e}"
            ))),
        }
    }

    /// Moves this check's resources into the run-wide registry only (the data set lives until
    /// the end of the run).
    pub(crate) fn keep_until_end(&self, path: &str) {
        self.created.lock().unwrap().retain(|p| p != path);
    }
}

/// A resource created by a check.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its id.
    pub id: String,
    /// `/Users/{id}` or `/Groups/{id}`.
    pub path: String,
    /// The unique userName or displayName.
    pub name: String,
    /// The server's answer to the POST.
    pub body: Value,
}

/// Merges the members of `extra` (an object) into `base`.
pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

enum Auth {
    Default,
    None,
    Token(String),
}

/// A request being built.
pub struct Req<'a> {
    cx: &'a Cx,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    auth: Auth,
}

impl Req<'_> {
    /// Adds a query parameter.
    pub fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.into(), v.into()));
        self
    }
    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    /// A JSON body sent as `application/scim+json`.
    pub fn json(self, v: &Value) -> Self {
        self.raw(&v.to_string(), SCIM_JSON)
    }
    /// A body with its content type.
    pub fn raw(mut self, body: &str, content_type: &str) -> Self {
        self.body = Some(body.to_string());
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        self.headers
            .push(("Content-Type".into(), content_type.into()));
        self
    }
    /// Sends no Authorization header.
    pub fn no_auth(mut self) -> Self {
        self.auth = Auth::None;
        self
    }
    /// Sends this bearer token instead of the configured one.
    pub fn token(mut self, t: &str) -> Self {
        self.auth = Auth::Token(t.to_string());
        self
    }

    /// Sends the request and records the exchange. A transport error fails the check.
    pub async fn send(self) -> Result<Resp, Stop> {
        let cx = self.cx;
        let target = &cx.shared.target;
        let mut url = target.url(&self.path);
        if !self.query.is_empty() {
            let q: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&q.join("&"));
        }
        let mut headers = self.headers.clone();
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            headers.push(("Accept".into(), format!("{SCIM_JSON}, application/json")));
        }
        let token = match &self.auth {
            Auth::Default => target.token.clone(),
            Auth::None => None,
            Auth::Token(t) => Some(t.clone()),
        };
        let mut rb = target.client.request(self.method.clone(), &url);
        for (k, v) in &headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let mut shown_headers = headers.clone();
        if let Some(t) = &token {
            rb = rb.bearer_auth(t);
            let masked = match &self.auth {
                Auth::Token(t) => format!("Bearer {t}"),
                _ => "Bearer ****".to_string(),
            };
            shown_headers.insert(0, ("Authorization".into(), masked));
        }
        if let Some(b) = &self.body {
            rb = rb.body(b.clone());
        }
        let mut ex = Exchange {
            method: self.method.to_string(),
            url: url.clone(),
            request_headers: shown_headers,
            request_body: self.body.clone(),
            ..Exchange::default()
        };
        let result = rb.send().await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                ex.error = Some(e.to_string());
                cx.log.lock().unwrap().push(ex);
                return Err(Stop::Fail(format!(
                    "{} {url}: no response: {e}",
                    self.method
                )));
            }
        };
        let status = resp.status().as_u16();
        let hdrs = resp.headers().clone();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                ex.status = status;
                ex.error = Some(e.to_string());
                cx.log.lock().unwrap().push(ex);
                return Err(Stop::Fail(format!(
                    "{} {url}: the response body could not be read: {e}",
                    self.method
                )));
            }
        };
        ex.status = status;
        ex.response_headers = hdrs
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        ex.response_body = if text.len() > 65536 {
            let mut end = 65536;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}… ({} bytes in all)", &text[..end], text.len())
        } else {
            text.clone()
        };
        cx.log.lock().unwrap().push(ex);
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        let r = Resp {
            status,
            headers: hdrs,
            text,
            json,
        };
        // Everything created is registered for cleanup, whatever the check does next.
        if self.method == Method::POST && status == 201 {
            if let Some(id) = r.json.get("id").and_then(Value::as_str) {
                let endpoint = self.path.split('?').next().unwrap_or("");
                let endpoint = endpoint.trim_end_matches('/');
                if !endpoint.contains("/.search") && endpoint.matches('/').count() == 1 {
                    cx.register(format!("{endpoint}/{id}"));
                }
            }
        }
        if self.method == Method::DELETE && (status == 204 || status == 200 || status == 404) {
            cx.forget(&self.path);
        }
        Ok(r)
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub text: String,
    /// Body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn brief(&self) -> String {
        let t = self.text.trim();
        if t.len() > 300 {
            let mut end = 300;
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &t[..end])
        } else if t.is_empty() {
            "(empty body)".into()
        } else {
            t.to_string()
        }
    }

    /// Fails unless the status is `status`.
    pub fn expect(&self, status: u16) -> Verdict {
        if self.status != status {
            return Err(Stop::Fail(format!(
                "expected HTTP {status}, got {}: {}",
                self.status,
                self.brief()
            )));
        }
        Ok(())
    }

    /// Fails unless the status is one of these.
    pub fn expect_any(&self, statuses: &[u16]) -> Verdict {
        if !statuses.contains(&self.status) {
            return Err(Stop::Fail(format!(
                "expected HTTP {}, got {}: {}",
                statuses
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
                self.status,
                self.brief()
            )));
        }
        Ok(())
    }

    /// Fails unless this is a SCIM error (RFC 7644 §3.12) with this status and, when given,
    /// one of these `scimType`s.
    pub fn expect_error(&self, status: u16, scim_types: &[&str]) -> Verdict {
        self.expect(status)?;
        self.expect_error_body()?;
        if !scim_types.is_empty() {
            let got = self.json.get("scimType").and_then(Value::as_str);
            if !got.is_some_and(|g| scim_types.contains(&g)) {
                return Err(Stop::Fail(format!(
                    "expected scimType {}, got {}: {}",
                    scim_types.join(" or "),
                    got.map(|g| format!("{g:?}")).unwrap_or("none".into()),
                    self.brief()
                )));
            }
        }
        Ok(())
    }

    /// Fails unless the body is a SCIM error message whose `status` is this response's status
    /// as a string.
    pub fn expect_error_body(&self) -> Verdict {
        let schemas_ok = self
            .json
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(ERROR)));
        if !schemas_ok {
            return Err(Stop::Fail(format!(
                "HTTP {}: the body is not a SCIM error (schemas must contain {ERROR}): {}",
                self.status,
                self.brief()
            )));
        }
        let st = self.json.get("status");
        if st != Some(&Value::String(self.status.to_string())) {
            return Err(Stop::Fail(format!(
                "HTTP {}: the error's \"status\" must be the string \"{}\", got {}",
                self.status,
                self.status,
                st.map(|v| v.to_string()).unwrap_or("nothing".into())
            )));
        }
        Ok(())
    }

    /// Fails unless the status is 4xx or 501 with a SCIM error body: a clean refusal.
    pub fn expect_refusal(&self) -> Verdict {
        if !(400..500).contains(&self.status) && self.status != 501 {
            return Err(Stop::Fail(format!(
                "expected a 4xx or 501 refusal, got {}: {}",
                self.status,
                self.brief()
            )));
        }
        self.expect_error_body()
    }

    /// The `id` of a resource body.
    pub fn id(&self) -> Result<String, Stop> {
        match self.json.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Ok(id.to_string()),
            _ => Err(Stop::Fail(format!(
                "the response has no \"id\": {}",
                self.brief()
            ))),
        }
    }

    /// The `Resources` of a ListResponse (RFC 7644 §3.4.2), checking the message schema and
    /// that `totalResults` is an integer.
    pub fn list(&self) -> Result<Vec<Value>, Stop> {
        let schemas_ok = self
            .json
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(LIST)));
        if !schemas_ok {
            return Err(Stop::Fail(format!(
                "not a ListResponse (schemas must contain {LIST}): {}",
                self.brief()
            )));
        }
        if !self.json.get("totalResults").is_some_and(Value::is_u64) {
            return Err(Stop::Fail(format!(
                "the ListResponse has no integer totalResults: {}",
                self.brief()
            )));
        }
        Ok(resources_of(&self.json))
    }

    /// `totalResults` of a list response.
    pub fn total(&self) -> Option<u64> {
        self.json.get("totalResults").and_then(Value::as_u64)
    }

    /// Whether the Content-Type is `application/scim+json` (parameters allowed).
    pub fn is_scim_json(&self) -> bool {
        self.header("content-type").is_some_and(|c| {
            c.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(SCIM_JSON))
        })
    }
}

/// Case-insensitive lookup of an attribute in a JSON object (RFC 7643 §2.1).
pub fn attr<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    let o = v.as_object()?;
    o.get(name).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Looks up a dotted path (`name.givenName`), case-insensitively.
pub fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = attr(cur, part)?;
    }
    Some(cur)
}

/// The string at a dotted path.
pub fn str_at<'v>(v: &'v Value, path: &str) -> Option<&'v str> {
    at(v, path).and_then(Value::as_str)
}

/// The value of an enterprise extension attribute.
pub fn ent<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    let o = v.as_object()?;
    let ext = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(ENTERPRISE))
        .map(|(_, v)| v)?;
    attr(ext, name)
}

/// Whether an attribute is present with a value (not null, not an empty array).
pub fn present(v: &Value, path: &str) -> bool {
    match at(v, path) {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// The `value`s of the members of a group body.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = attr(group, "members")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| str_at(m, "value").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Whether `schemas` of a body contains this URN (case-insensitively).
pub fn has_schema(v: &Value, urn: &str) -> bool {
    attr(v, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
        })
}
