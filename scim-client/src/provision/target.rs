//! What a target holds, read compactly.
//!
//! Planning 100,000 people reads 100,000 target users. A user held as a JSON map costs several
//! kilobytes (every object an index map); a [`TargetUser`] keeps the resource as JSON text,
//! trimmed to what planning reads, with the few fields planning indexes by decoded once, and
//! parses the text again only when the account is compared with its person. List pages are
//! decoded straight into these records: nothing is built as a tree first.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use scim_core::JsonMap;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::desired;
use super::source::sha256_hex;

/// One user as read from a target: the resource as JSON text (without `schemas`, without the
/// `groups` back-references, `meta` reduced to `version`), and the fields planning indexes by
/// (`id`, `externalId` and `userName` as places in the text when they need no unescaping).
#[derive(Debug, Clone)]
pub struct TargetUser {
    json: Box<str>,
    /// `id`, `externalId`, `userName`.
    spans: [Span; 3],
    /// Those of the three that are not a plain part of `json` (escapes, or made by
    /// [`TargetUser::from_map`]).
    owned: Option<Box<[Option<Box<str>>; 3]>>,
    email: TextRef,
    version: Option<Box<str>>,
    active: Option<bool>,
}

/// A string in [`TargetUser::json`]: start and length, or nothing (`start == u32::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const NONE: Span = Span {
        start: u32::MAX,
        len: 0,
    };
}

const ID: usize = 0;
const EXTERNAL_ID: usize = 1;
const USER_NAME: usize = 2;

impl PartialEq for TargetUser {
    fn eq(&self, other: &TargetUser) -> bool {
        self.json == other.json
            && (0..3).all(|i| self.field(i) == other.field(i))
            && self.email() == other.email()
            && self.version == other.version
            && self.active == other.active
    }
}

impl Eq for TargetUser {}

impl TargetUser {
    /// A user from its JSON object, kept as given (reading from a target trims; this does not).
    pub fn from_map(m: &JsonMap) -> TargetUser {
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(Box::from);
        TargetUser {
            json: serde_json::to_string(m)
                .unwrap_or_else(|_| "{}".into())
                .into_boxed_str(),
            spans: [Span::NONE; 3],
            owned: Some(Box::new([s("id"), s("externalId"), s("userName")])),
            email: desired::primary_email(m)
                .map(|e| TextRef::Owned(Box::from(e)))
                .unwrap_or_default(),
            active: m.get("active").and_then(Value::as_bool),
            version: m
                .get("meta")
                .and_then(|x| x.get("version"))
                .and_then(Value::as_str)
                .map(Box::from),
        }
    }
    fn field(&self, i: usize) -> Option<&str> {
        let sp = self.spans[i];
        if sp.start != u32::MAX {
            let start = sp.start as usize;
            return self.json.get(start..start + sp.len as usize);
        }
        self.owned.as_ref().and_then(|o| o[i].as_deref())
    }
    /// Sets field `i` from the raw JSON value just appended to `json` at `at`.
    fn set_field(&mut self, i: usize, at: usize, raw: &RawValue) {
        let text = raw.get();
        if let Some(o) = self.owned.as_mut() {
            o[i] = None;
        }
        self.spans[i] = Span::NONE;
        if text.len() >= 2 && text.starts_with('"') && !text.contains('\\') {
            // The string's characters are in the text as they are.
            if let (Ok(start), Ok(len)) = (u32::try_from(at + 1), u32::try_from(text.len() - 2)) {
                self.spans[i] = Span { start, len };
                return;
            }
        }
        if let Ok(v) = serde_json::from_str::<String>(text) {
            self.owned.get_or_insert_with(Default::default)[i] = Some(v.into_boxed_str());
        }
    }
    /// The resource as a JSON map (parsed from the kept text).
    pub fn map(&self) -> JsonMap {
        serde_json::from_str(&self.json).unwrap_or_default()
    }
    /// The resource as JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }
    /// `id`.
    pub fn id(&self) -> Option<&str> {
        self.field(ID)
    }
    /// `externalId`.
    pub fn external_id(&self) -> Option<&str> {
        self.field(EXTERNAL_ID)
    }
    /// `userName`.
    pub fn user_name(&self) -> Option<&str> {
        self.field(USER_NAME)
    }
    /// The work e-mail, else the primary, else the first.
    pub fn email(&self) -> Option<&str> {
        self.email.get(&self.json)
    }
    /// `active`, when it is a boolean.
    pub fn active(&self) -> Option<bool> {
        self.active
    }
    /// `meta.version`, or a hash of the resource without `meta` when the target keeps no
    /// versions (see [`version_of`]).
    pub fn version(&self) -> String {
        match &self.version {
            Some(v) => v.to_string(),
            None => version_of(&self.map()),
        }
    }
}

impl From<JsonMap> for TargetUser {
    fn from(m: JsonMap) -> TargetUser {
        TargetUser::from_map(&m)
    }
}

/// `meta.version`, or a hash of the resource without `meta` when the target keeps no versions.
pub fn version_of(o: &JsonMap) -> String {
    if let Some(v) = o
        .get("meta")
        .and_then(|m| m.get("version"))
        .and_then(Value::as_str)
    {
        return v.to_string();
    }
    let mut c = o.clone();
    c.remove("meta");
    format!(
        "sha256:{}",
        &sha256_hex(Value::Object(c).to_string().as_bytes())[..16]
    )
}

/// A string that is usually a part of a JSON text kept next to it (start and length there),
/// else kept on its own (when the text holds it escaped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum TextRef {
    /// None.
    #[default]
    None,
    /// `text[start..start + len]`.
    Span(u32, u32),
    /// Kept on its own.
    Owned(Box<str>),
}

impl TextRef {
    /// `s`, found in `text` (a JSON text): a span when `text[at..]` holds it as a JSON string
    /// without escapes (its first occurrence there), else a copy.
    pub(crate) fn find(s: &str, text: &str, at: usize) -> TextRef {
        let plain = s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
        if plain {
            let quoted = format!("\"{s}\"");
            if let Some(pos) = text.get(at..).and_then(|t| t.find(&quoted)) {
                if let (Ok(start), Ok(len)) = (u32::try_from(at + pos + 1), u32::try_from(s.len()))
                {
                    return TextRef::Span(start, len);
                }
            }
        }
        TextRef::Owned(Box::from(s))
    }
    /// The string, given the text it points into.
    pub(crate) fn get<'t>(&'t self, text: &'t str) -> Option<&'t str> {
        match self {
            TextRef::None => None,
            TextRef::Span(start, len) => {
                let start = *start as usize;
                text.get(start..start + *len as usize)
            }
            TextRef::Owned(s) => Some(s),
        }
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::String(s.to_string()).to_string());
    }
}

/// Reading a user from JSON text trims it as planning reads it. It needs a deserializer that
/// lends out the text (`serde_json::from_str` / `from_slice`).
impl<'de> Deserialize<'de> for TargetUser {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(UserVisitor)
    }
}

struct UserVisitor;

impl<'de> Visitor<'de> for UserVisitor {
    type Value = TargetUser;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SCIM user (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TargetUser, A::Error> {
        let mut json = String::with_capacity(384);
        json.push('{');
        let mut u = TargetUser {
            json: Box::from(""),
            spans: [Span::NONE; 3],
            owned: None,
            email: TextRef::None,
            active: None,
            version: None,
        };
        // The e-mail of the exact key `emails` wins over a differently-cased one (as `get_ci`).
        let (mut emails_exact, mut emails_other) = (false, false);
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "schemas" || key == "groups" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if key == "meta" {
                let Some(v) = map.next_value::<MetaVersion<'de>>()?.0 else {
                    u.version = None;
                    continue;
                };
                u.version = serde_json::from_str::<String>(v.get()).ok().map(Box::from);
                if json.len() > 1 {
                    json.push(',');
                }
                json.push_str(r#""meta":{"version":"#);
                json.push_str(v.get());
                json.push('}');
                continue;
            }
            let raw: &'de RawValue = map.next_value()?;
            let field = match &*key {
                "id" => Some(ID),
                "externalId" => Some(EXTERNAL_ID),
                "userName" => Some(USER_NAME),
                _ => None,
            };
            if key == "active" {
                u.active = serde_json::from_str::<bool>(raw.get()).ok();
            }
            // `emails` wins over a differently-cased key; else the first such key (as `get_ci`).
            let emails = key.eq_ignore_ascii_case("emails")
                && (key == "emails" || (!emails_exact && !emails_other));
            if json.len() > 1 {
                json.push(',');
            }
            push_json_str(&mut json, &key);
            json.push(':');
            let at = json.len();
            json.push_str(raw.get());
            if let Some(i) = field {
                u.set_field(i, at, raw);
            }
            if emails {
                let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
                u.email = match desired::primary_email_of(&v) {
                    Some(e) => TextRef::find(e, &json, at),
                    None => TextRef::None,
                };
                if key == "emails" {
                    emails_exact = true;
                } else {
                    emails_other = true;
                }
            }
        }
        json.push('}');
        u.json = json.into_boxed_str();
        Ok(u)
    }
}

/// A member name, borrowed from the text unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// `meta.version` as written (the last one when repeated); nothing when `meta` is not an
/// object or has no version.
struct MetaVersion<'de>(Option<&'de RawValue>);

impl<'de> Deserialize<'de> for MetaVersion<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MetaVisitor)
    }
}

struct MetaVisitor;

impl<'de> Visitor<'de> for MetaVisitor {
    type Value = MetaVersion<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("meta")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut version = None;
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if k == "version" {
                version = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(MetaVersion(version))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MetaVersion(None))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(MetaVersion(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(MetaVersion(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(MetaVersion(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(MetaVersion(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(MetaVersion(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MetaVersion(None))
    }
}

/// One page of users: `totalResults`, `Resources` and `nextCursor` (member names matched
/// case-insensitively, as in [`scim_core::ListResponse`]).
struct UserPage {
    total: u64,
    users: Vec<TargetUser>,
    next_cursor: Option<String>,
}

impl<'de> Deserialize<'de> for UserPage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PageVisitor)
    }
}

struct PageVisitor;

impl<'de> Visitor<'de> for PageVisitor {
    type Value = UserPage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SCIM ListResponse")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UserPage, A::Error> {
        let mut page = UserPage {
            total: 0,
            users: Vec::new(),
            next_cursor: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case("Resources") {
                page.users = map.next_value_seed(UsersSeed)?;
            } else if key.eq_ignore_ascii_case("totalResults") {
                page.total = match map.next_value::<Value>()? {
                    Value::Null => 0,
                    Value::Number(n) => n.as_u64().ok_or_else(|| {
                        de::Error::custom(format!("totalResults {n} is not a count"))
                    })?,
                    Value::String(s) => s.trim().parse().map_err(de::Error::custom)?,
                    other => {
                        return Err(de::Error::custom(format!(
                            "totalResults {other} is not a count"
                        )))
                    }
                };
            } else if key.eq_ignore_ascii_case("nextCursor") {
                page.next_cursor = match map.next_value::<Value>()? {
                    Value::String(s) => Some(s),
                    _ => None,
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(page)
    }
}

/// `Resources`: an array of users (`null` is no users).
struct UsersSeed;

impl<'de> DeserializeSeed<'de> for UsersSeed {
    type Value = Vec<TargetUser>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UsersSeed {
    type Value = Vec<TargetUser>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of resources")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(u) = seq.next_element::<TargetUser>()? {
            out.push(u);
        }
        Ok(out)
    }
}

/// Decodes a page of users; errors name the path, as the client's other decoding does.
fn decode_page(text: &str) -> Result<UserPage, crate::Error> {
    match serde_json::from_str::<UserPage>(text) {
        Ok(p) => Ok(p),
        Err(e) => {
            let mut de = serde_json::Deserializer::from_str(text);
            Err(
                match serde_path_to_error::deserialize::<_, UserPage>(&mut de) {
                    Err(pe) => crate::Error::decode(text, pe),
                    Ok(_) => crate::Error::Decode {
                        path: String::new(),
                        message: e.to_string(),
                        body: text.to_string(),
                    },
                },
            )
        }
    }
}

/// What a target holds: every user and group, as read.
#[derive(Debug, Clone, Default)]
pub struct TargetSnapshot {
    /// Users.
    pub users: Vec<TargetUser>,
    /// Groups (with members, where the target returns them).
    pub groups: Vec<JsonMap>,
}

impl TargetSnapshot {
    /// A snapshot of users and groups given as JSON maps (kept as given).
    pub fn from_maps(users: Vec<JsonMap>, groups: Vec<JsonMap>) -> TargetSnapshot {
        TargetSnapshot {
            users: users.into_iter().map(TargetUser::from).collect(),
            groups,
        }
    }

    /// Reads every user and group through the client. With index paging, the pages after the
    /// first are fetched four at a time; with cursor paging, one after another. Each resource is
    /// trimmed as it arrives to what planning reads (no `schemas`, no `groups` back-references,
    /// `meta` reduced to `version`); users are decoded straight into compact records.
    pub async fn read(client: &crate::Client) -> Result<TargetSnapshot, crate::Error> {
        let users = read_users(client).await?;
        let groups = read_all(client, "Groups").await?;
        Ok(TargetSnapshot { users, groups })
    }

    /// `Users/<id>` and `Groups/<id>` → version of every object.
    pub fn versions(&self) -> BTreeMap<String, String> {
        let mut v = BTreeMap::new();
        for u in &self.users {
            if let Some(id) = u.id() {
                v.insert(format!("Users/{id}"), u.version());
            }
        }
        for o in &self.groups {
            if let Some(id) = o.get("id").and_then(Value::as_str) {
                v.insert(format!("Groups/{id}"), version_of(o));
            }
        }
        v
    }
}

fn trim(mut o: JsonMap) -> JsonMap {
    o.remove("schemas");
    o.remove("groups");
    if let Some(v) = o.get("meta").and_then(|m| m.get("version")).cloned() {
        o.insert("meta".into(), json!({ "version": v }));
    } else {
        o.remove("meta");
    }
    o
}

async fn user_page(client: &crate::Client, q: &crate::ListQuery) -> Result<UserPage, crate::Error> {
    let text = client.list_text("Users", q).await?;
    decode_page(&text)
}

/// The `startIndex` of every page after the first, made as they are requested (a target that
/// claims an absurd `totalResults` meets an empty page and a pagination error, not a list of
/// billions of page numbers).
fn page_starts(page: u64, total: u64) -> impl Iterator<Item = u64> {
    (0u64..)
        .map_while(move |k| k.checked_mul(page)?.checked_add(page.checked_add(1)?))
        .take_while(move |s| *s <= total)
}

/// Every user, decoded page by page into [`TargetUser`]s (see [`TargetSnapshot::read`]).
async fn read_users(client: &crate::Client) -> Result<Vec<TargetUser>, crate::Error> {
    use futures::StreamExt;
    let profile = client.profile();
    let count = profile.max_page_size().max(1);
    if profile.paging() != crate::profile::Paging::Index {
        // Cursor paging (RFC 9865): follow `nextCursor`, refusing a cursor seen before.
        let mut q = crate::ListQuery::new().count(count).with_cursor();
        let mut out = Vec::new();
        let mut cursors = HashSet::new();
        loop {
            let page = user_page(client, &q).await?;
            out.extend(page.users);
            match page.next_cursor {
                Some(c) if !c.is_empty() => {
                    if !cursors.insert(c.clone()) {
                        return Err(crate::Error::Pagination(format!(
                            "the service returned cursor {c:?} twice"
                        )));
                    }
                    q.cursor = Some(c);
                }
                _ => return Ok(out),
            }
        }
    }
    let mut q = crate::ListQuery::new().count(count);
    q.start_index = Some(1);
    let first = user_page(client, &q).await?;
    let total = first.total;
    let page = first.users.len() as u64;
    let mut out: Vec<TargetUser> =
        Vec::with_capacity(usize::try_from(total).unwrap_or(0).min(1 << 22));
    out.extend(first.users);
    if page == 0 || out.len() as u64 >= total {
        return Ok(out);
    }
    // The server may serve fewer than asked per page: step by what it served.
    let mut pages = futures::stream::iter(page_starts(page, total).map(|start| {
        let mut q = crate::ListQuery::new().count(page);
        q.start_index = Some(start);
        async move { user_page(client, &q).await.map(|p| (start, p.users)) }
    }))
    .buffered(4);
    while let Some(p) = pages.next().await {
        let (start, items) = p?;
        if items.is_empty() && (out.len() as u64) < total {
            return Err(crate::Error::Pagination(format!(
                "empty page at startIndex {start} before totalResults {total} was reached"
            )));
        }
        out.extend(items);
    }
    // Deduplicate by id: a resource created or deleted while reading can shift index pages.
    let mut seen = HashSet::new();
    out.retain(|u| u.id().is_none_or(|id| seen.insert(id.to_string())));
    Ok(out)
}

async fn read_all(client: &crate::Client, endpoint: &str) -> Result<Vec<JsonMap>, crate::Error> {
    use futures::{StreamExt, TryStreamExt};
    let profile = client.profile();
    if profile.paging() != crate::profile::Paging::Index {
        return client
            .list_all::<JsonMap>(endpoint, crate::ListQuery::new())
            .map_ok(trim)
            .try_collect()
            .await;
    }
    let count = profile.max_page_size().max(1);
    let mut q = crate::ListQuery::new().count(count);
    q.start_index = Some(1);
    let first: scim_core::ListResponse<JsonMap> = client.list(endpoint, &q).await?;
    let total = first.total_results;
    let page = first.resources.len() as u64;
    let mut out: Vec<JsonMap> =
        Vec::with_capacity(usize::try_from(total).unwrap_or(0).min(1 << 22));
    out.extend(first.resources.into_iter().map(trim));
    if page == 0 || out.len() as u64 >= total {
        return Ok(out);
    }
    let mut pages = futures::stream::iter(page_starts(page, total).map(|start| {
        let mut q = crate::ListQuery::new().count(page);
        q.start_index = Some(start);
        async move {
            client
                .list::<JsonMap>(endpoint, &q)
                .await
                .map(|p| (start, p.resources.into_iter().map(trim).collect::<Vec<_>>()))
        }
    }))
    .buffered(4);
    while let Some(p) = pages.next().await {
        let (start, items) = p?;
        if items.is_empty() && (out.len() as u64) < total {
            return Err(crate::Error::Pagination(format!(
                "empty page at startIndex {start} before totalResults {total} was reached"
            )));
        }
        out.extend(items);
    }
    let mut seen = HashSet::new();
    out.retain(|o| {
        o.get("id")
            .and_then(Value::as_str)
            .is_none_or(|id| seen.insert(id.to_string()))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_decode_into_trimmed_users() {
        let text = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "TOTALRESULTS":"3","itemsPerPage":2,
            "resources":[
              {"schemas":["x"],"id":"u1","externalId":"E1","userName":"Ada","active":false,
               "emails":[{"type":"home","value":"a@home"},{"type":"work","value":"a@work"}],
               "groups":[{"value":"g1"}],"meta":{"resourceType":"User","version":"W/\"7\""},
               "na\"me":{"givenName":"A\u00e9"}},
              {"id":"u2","userName":"bob","Emails":[{"value":"b@x","primary":true}],"meta":{"created":"x"}}
            ]}"#;
        let p = decode_page(text).unwrap();
        assert_eq!(p.total, 3);
        assert_eq!(p.users.len(), 2);
        let a = &p.users[0];
        assert_eq!(
            (
                a.id(),
                a.external_id(),
                a.user_name(),
                a.email(),
                a.active()
            ),
            (
                Some("u1"),
                Some("E1"),
                Some("Ada"),
                Some("a@work"),
                Some(false)
            )
        );
        assert_eq!(a.version(), "W/\"7\"");
        // The same as decoding to a map and trimming it.
        let full: Value = serde_json::from_str(text).unwrap();
        let want = trim(full["resources"][0].as_object().unwrap().clone());
        assert_eq!(Value::Object(a.map()), Value::Object(want.clone()));
        assert_eq!(TargetUser::from_map(&want).map(), want);
        let b = &p.users[1];
        assert_eq!((b.email(), b.active()), (Some("b@x"), None));
        assert!(!b.json().contains("meta"));
        assert_eq!(b.version(), version_of(&b.map()));
        assert!(b.version().starts_with("sha256:"));
    }

    #[test]
    fn escaped_keys_and_repeated_members() {
        let text = r#"{"Resources":[{"id":"u\"1","userName":"a\u00e9","externalId":7,
            "userName":"b\\c","active":"yes"}]}"#;
        let p = decode_page(text).unwrap();
        let u = &p.users[0];
        // The last of a repeated member counts, as in a JSON map.
        assert_eq!(
            (u.id(), u.external_id(), u.user_name(), u.active()),
            (Some("u\"1"), None, Some("b\\c"), None)
        );
        assert_eq!(u.map()["userName"], "b\\c");
        assert_eq!(TargetUser::from_map(&u.map()).user_name(), Some("b\\c"));
    }

    #[test]
    fn page_starts_step_by_the_page_and_stop() {
        assert_eq!(
            page_starts(1000, 3500).collect::<Vec<_>>(),
            [1001, 2001, 3001]
        );
        assert_eq!(page_starts(1000, 1000).count(), 0);
        assert_eq!(page_starts(u64::MAX, u64::MAX).count(), 0);
        assert_eq!(page_starts(1, u64::MAX).take(2).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn bad_pages_are_errors_not_panics() {
        for bad in [
            "",
            "[]",
            r#"{"Resources":[1]}"#,
            r#"{"Resources":{}}"#,
            r#"{"totalResults":-1}"#,
            r#"{"totalResults":"x"}"#,
            r#"{"Resources":[{"meta":"#,
        ] {
            assert!(decode_page(bad).is_err(), "{bad}");
        }
        let p = decode_page(r#"{"Resources":null,"nextCursor":"c"}"#).unwrap();
        assert!(p.users.is_empty());
        assert_eq!(p.next_cursor.as_deref(), Some("c"));
        let p = decode_page(r#"{"Resources":[{"meta":[1]},{"meta":"x"},{"meta":{"version":null,"a":{"version":"no"}}}]}"#).unwrap();
        assert_eq!(p.users[0].json(), "{}");
        assert_eq!(p.users[1].json(), "{}");
        assert_eq!(p.users[2].json(), r#"{"meta":{"version":null}}"#);
        assert!(p.users[2].version().starts_with("sha256:"));
    }
}
