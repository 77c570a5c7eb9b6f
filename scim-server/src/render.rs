//! Rendering stored resources as SCIM JSON (RFC 7643 §3.1 `meta`; §4.1.2 `groups`; §4.2
//! `members`): the representation clients see, for responses and change events alike.

use scim_core::{Context, JsonMap};
use serde_json::{json, Value};

use crate::store::{GroupRef, MemberRow, StoredResource};

/// The weak ETag of a version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Renders a stored resource with `id`, derived `members` / `groups`, and `meta`.
pub fn render(ctx: &Context<'_>, base: &str, s: &StoredResource) -> JsonMap {
    render_owned(ctx, base, s.clone())
}

/// [`render`], consuming the stored resource (no copy of its data: what list pages use).
pub fn render_owned(ctx: &Context<'_>, base: &str, s: StoredResource) -> JsonMap {
    let rt = ctx.resource_type;
    let meta = meta_json(ctx, base, &s);
    let StoredResource {
        id,
        mut data,
        members,
        groups,
        ..
    } = s;
    let mut out = JsonMap::with_capacity(data.len() + 4);
    out.insert(
        "schemas".into(),
        data.shift_remove("schemas")
            .unwrap_or_else(|| json!([rt.schema])),
    );
    out.insert("id".into(), Value::String(id));
    out.extend(data);
    if let Some(members) = members.as_ref().filter(|m| !m.is_empty()) {
        out.insert("members".into(), members_json(base, members));
    }
    if let Some(groups) = groups.as_ref().filter(|g| !g.is_empty()) {
        out.insert("groups".into(), groups_json(base, groups));
    }
    out.insert("meta".into(), meta);
    scim_core::resource::order_canonical(out, ctx)
}

fn members_json(base: &str, members: &[MemberRow]) -> Value {
    Value::Array(
        members
            .iter()
            .map(|m| {
                let kind = m.kind.clone().unwrap_or_else(|| "User".into());
                let endpoint = if kind == "Group" { "Groups" } else { "Users" };
                let mut o = JsonMap::new();
                o.insert("value".into(), Value::String(m.value.clone()));
                o.insert(
                    "$ref".into(),
                    Value::String(format!("{base}/{endpoint}/{}", m.value)),
                );
                o.insert("type".into(), Value::String(kind));
                if let Some(d) = &m.display {
                    o.insert("display".into(), Value::String(d.clone()));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

fn groups_json(base: &str, groups: &[GroupRef]) -> Value {
    Value::Array(
        groups
            .iter()
            .map(|g| {
                let mut o = JsonMap::new();
                o.insert("value".into(), Value::String(g.value.clone()));
                o.insert(
                    "$ref".into(),
                    Value::String(format!("{base}/Groups/{}", g.value)),
                );
                if let Some(d) = &g.display {
                    o.insert("display".into(), Value::String(d.clone()));
                }
                o.insert("type".into(), Value::String("direct".into()));
                Value::Object(o)
            })
            .collect(),
    )
}

fn meta_json(ctx: &Context<'_>, base: &str, s: &StoredResource) -> Value {
    let rt = ctx.resource_type;
    json!({
        "resourceType": rt.name,
        "created": s.created,
        "lastModified": s.last_modified,
        "location": format!("{base}{}/{}", rt.endpoint, s.id),
        "version": etag(s.version),
    })
}

/// JSON text this crate rendered itself, valid by construction: written into a response as
/// it is. (`serde_json::value::RawValue::from_string` validates by parsing the text again: 8 %
/// of the CPU of a page of 100 users, measured with perf.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// The text of a JSON value.
    pub fn of(v: &Value) -> JsonText {
        JsonText(v.to_string())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
}

/// Appends `s` as a JSON string. Most values (ids, timestamps, URLs) need no escape and are
/// copied between quotes; others are escaped by serde_json (so the text is the same either way).
fn push_str_json(out: &mut String, s: &str) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&Value::String(s.to_string()).to_string());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// The body of a page of results (RFC 7644 §3.4.2): the members `ListResponse` serialises, in
/// its order, with each resource's text copied in as it is.
pub fn list_body(page: &scim_core::ListResponse<JsonText>) -> Vec<u8> {
    let size: usize = page.resources.iter().map(|r| r.0.len() + 1).sum();
    let mut out = String::with_capacity(size + 256);
    out.push_str("{\"schemas\":");
    out.push_str(&Value::from(page.schemas.clone()).to_string());
    out.push_str(",\"totalResults\":");
    out.push_str(&page.total_results.to_string());
    if let Some(n) = page.items_per_page {
        out.push_str(",\"itemsPerPage\":");
        out.push_str(&n.to_string());
    }
    if let Some(n) = page.start_index {
        out.push_str(",\"startIndex\":");
        out.push_str(&n.to_string());
    }
    if let Some(c) = &page.next_cursor {
        out.push_str(",\"nextCursor\":");
        push_str_json(&mut out, c);
    }
    if let Some(c) = &page.previous_cursor {
        out.push_str(",\"previousCursor\":");
        push_str_json(&mut out, c);
    }
    out.push_str(",\"Resources\":[");
    for (i, r) in page.resources.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&r.0);
    }
    out.push_str("]}");
    out.into_bytes()
}

/// A resource as JSON text with the default projection: from its stored rendered body when the
/// store returned one (see [`crate::store::body`]), written out around it without parsing;
/// otherwise rendered and projected as usual. Both give the same JSON value.
pub fn render_default_text(ctx: &Context<'_>, base: &str, s: StoredResource) -> JsonText {
    let text = match &s.body {
        Some(body) => {
            let mut out = String::with_capacity(body.members.len() + body.schemas.len() + 400);
            out.push_str("{\"schemas\":");
            out.push_str(&body.schemas);
            out.push_str(",\"id\":");
            push_str_json(&mut out, &s.id);
            if !body.members.is_empty() {
                out.push(',');
                out.push_str(&body.members);
            }
            if let Some(groups) = s.groups.as_ref().filter(|g| !g.is_empty()) {
                out.push_str(",\"groups\":");
                out.push_str(&groups_json(base, groups).to_string());
            }
            if let Some(members) = s.members.as_ref().filter(|m| !m.is_empty()) {
                out.push_str(",\"members\":");
                out.push_str(&members_json(base, members).to_string());
            }
            // meta, written directly (the same members and order as `meta_json`).
            let rt = ctx.resource_type;
            out.push_str(",\"meta\":{\"resourceType\":");
            push_str_json(&mut out, &rt.name);
            out.push_str(",\"created\":");
            push_str_json(&mut out, &s.created);
            out.push_str(",\"lastModified\":");
            push_str_json(&mut out, &s.last_modified);
            out.push_str(",\"location\":");
            push_str_json(&mut out, &format!("{base}{}/{}", rt.endpoint, s.id));
            out.push_str(",\"version\":");
            push_str_json(&mut out, &etag(s.version));
            out.push_str("}}");
            out
        }
        None => {
            let full = render_owned(ctx, base, s);
            Value::Object(scim_core::Projection::all().apply(&full, ctx)).to_string()
        }
    };
    JsonText(text)
}

/// A group in its default representation as a streamed body: everything but `members` first,
/// then the members page by page as the store yields them (at most one page in memory), so a
/// group of a million members is served in bounded memory. An error after the first byte ends
/// the connection (the status line is already sent); the client sees a truncated body.
pub fn group_body_stream(
    ctx: &Context<'_>,
    base: &str,
    mut stored: StoredResource,
    pages: crate::store::MemberPages,
) -> axum::body::Body {
    use futures::StreamExt;
    stored.members = None;
    let text = render_default_text(ctx, base, stored);
    let text = text.as_str();
    // The object without its closing brace; the members array goes last.
    let head = text.strip_suffix('}').unwrap_or(text).to_string();
    let base = base.to_string();
    enum State {
        Head(String, crate::store::MemberPages),
        Pages(crate::store::MemberPages, bool),
        Done,
    }
    let stream = futures::stream::unfold(State::Head(head, pages), move |state| {
        let base = base.clone();
        async move {
            match state {
                State::Head(head, pages) => Some((
                    Ok(axum::body::Bytes::from(head)),
                    State::Pages(pages, false),
                )),
                State::Pages(mut pages, emitted) => match pages.next().await {
                    Some(Ok(page)) if page.is_empty() => {
                        Some((Ok(axum::body::Bytes::new()), State::Pages(pages, emitted)))
                    }
                    Some(Ok(page)) => {
                        let items = members_json(&base, &page).to_string();
                        let inner = &items[1..items.len() - 1];
                        let mut out = String::with_capacity(inner.len() + 16);
                        out.push_str(if emitted { "," } else { ",\"members\":[" });
                        out.push_str(inner);
                        Some((Ok(axum::body::Bytes::from(out)), State::Pages(pages, true)))
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "streaming a group's members failed");
                        Some((Err(std::io::Error::other(e.to_string())), State::Done))
                    }
                    None => {
                        let end = if emitted { "]}" } else { "}" };
                        Some((
                            Ok(axum::body::Bytes::from_static(end.as_bytes())),
                            State::Done,
                        ))
                    }
                },
                State::Done => None,
            }
        }
    });
    // `fuse`: the body may be polled again after its end.
    axum::body::Body::from_stream(stream.fuse())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_core::ListResponse;

    /// `list_body` writes what serde writes for the same page, byte for byte.
    #[test]
    fn list_bodies_are_what_serde_writes() {
        let resources = vec![
            json!({"id": "a", "userName": "x\"y\\z\u{1}é"}),
            json!({"id": "b", "emails": [{"value": "b@example.com"}]}),
        ];
        let texts = || resources.iter().map(JsonText::of).collect::<Vec<_>>();
        let index = ListResponse::new(resources.clone(), 7, 3);
        assert_eq!(
            list_body(&ListResponse::new(texts(), 7, 3)),
            serde_json::to_vec(&index).unwrap()
        );
        let cursors = ListResponse::new(resources.clone(), 7, 1)
            .with_cursors(Some("n\"ext".into()), Some("prev".into()));
        assert_eq!(
            list_body(
                &ListResponse::new(texts(), 7, 1)
                    .with_cursors(Some("n\"ext".into()), Some("prev".into()))
            ),
            serde_json::to_vec(&cursors).unwrap()
        );
        let mut empty = ListResponse::<Value>::new(vec![], 0, 1);
        empty.items_per_page = None;
        empty.start_index = None;
        let mut empty_text = ListResponse::<JsonText>::new(vec![], 0, 1);
        empty_text.items_per_page = None;
        empty_text.start_index = None;
        assert_eq!(list_body(&empty_text), serde_json::to_vec(&empty).unwrap());
    }

    #[test]
    fn strings_are_escaped_as_serde_escapes_them() {
        for s in [
            "plain",
            "",
            "q\"uote",
            "back\\slash",
            "tab\tnl\n",
            "\u{1f}",
            "é ü \u{7f} 😀",
        ] {
            let mut out = String::new();
            push_str_json(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }
}
