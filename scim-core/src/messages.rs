//! Protocol messages (RFC 7644 §3.4.2 ListResponse, §3.4.3 SearchRequest, §3.5.2 PatchOp,
//! §3.7 BulkRequest / BulkResponse, §3.12 Error) with RFC 9865 cursor fields.
//!
//! Messages are plain data, independent of any HTTP framework, shared by server and client.
//! Reading is tolerant where senders differ (`Resources` / `resources`, status as a string or a
//! number, `Operations` / `operations`); writing is always the RFC form.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::compat::Compat;
use crate::error::{ScimError, ScimResult};
use crate::resource::{get_ci, json_kind};

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse`
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest`
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// `urn:ietf:params:scim:api:messages:2.0:PatchOp`
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `urn:ietf:params:scim:api:messages:2.0:BulkRequest`
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// `urn:ietf:params:scim:api:messages:2.0:BulkResponse`
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

fn default_list_schemas() -> Vec<String> {
    vec![LIST_RESPONSE.to_string()]
}

/// Reads an optional integer sent as a number or as a numeric string (`"10"`).
fn de_opt_num<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any<T> {
        N(T),
        S(String),
        Null,
    }
    match Any::<T>::deserialize(d)? {
        Any::N(n) => Ok(Some(n)),
        Any::S(s) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
        Any::Null => Ok(None),
    }
}

fn de_opt_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_opt_num(d)
}

/// A page of results (RFC 7644 §3.4.2; RFC 9865 §2.2 for the cursors).
///
/// Reading matches member names case-insensitively (RFC 7643 §2.1): `totalresults` and Entra
/// ID's `resources` are accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ListResponse<T = Value> {
    /// Always `[ListResponse URN]`.
    #[serde(default = "default_list_schemas")]
    pub schemas: Vec<String>,
    /// Total number of results matching the query.
    #[serde(deserialize_with = "de_u64", default)]
    pub total_results: u64,
    /// Number of resources in this page.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_usize"
    )]
    pub items_per_page: Option<u64>,
    /// 1-based index of the first result (index pagination).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_usize"
    )]
    pub start_index: Option<u64>,
    /// RFC 9865: cursor for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// RFC 9865: cursor for the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_cursor: Option<String>,
    /// The resources (`Resources`; `resources` is accepted on input, as Entra ID sends it).
    #[serde(rename = "Resources")]
    pub resources: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponseWire<T> {
    #[serde(default = "default_list_schemas")]
    schemas: Vec<String>,
    #[serde(deserialize_with = "de_u64", default)]
    total_results: u64,
    #[serde(default, deserialize_with = "de_opt_usize")]
    items_per_page: Option<u64>,
    #[serde(default, deserialize_with = "de_opt_usize")]
    start_index: Option<u64>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    previous_cursor: Option<String>,
    #[serde(rename = "Resources", default = "Vec::new")]
    resources: Vec<T>,
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for ListResponse<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: [&str; 7] = [
            "schemas",
            "totalResults",
            "itemsPerPage",
            "startIndex",
            "nextCursor",
            "previousCursor",
            "Resources",
        ];
        let map = serde_json::Map::<String, Value>::deserialize(d)?;
        let map: serde_json::Map<String, Value> = map
            .into_iter()
            .map(
                |(k, v)| match NAMES.iter().find(|n| n.eq_ignore_ascii_case(&k)) {
                    Some(n) => (n.to_string(), v),
                    None => (k, v),
                },
            )
            .collect();
        let w: ListResponseWire<T> =
            serde_json::from_value(Value::Object(map)).map_err(serde::de::Error::custom)?;
        Ok(ListResponse {
            schemas: w.schemas,
            total_results: w.total_results,
            items_per_page: w.items_per_page,
            start_index: w.start_index,
            next_cursor: w.next_cursor,
            previous_cursor: w.previous_cursor,
            resources: w.resources,
        })
    }
}

fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_opt_usize(d).map(Option::unwrap_or_default)
}

impl<T> ListResponse<T> {
    /// An index-paginated page.
    pub fn new(resources: Vec<T>, total_results: u64, start_index: u64) -> Self {
        ListResponse {
            schemas: default_list_schemas(),
            total_results,
            items_per_page: Some(resources.len() as u64),
            start_index: Some(start_index),
            next_cursor: None,
            previous_cursor: None,
            resources,
        }
    }
    /// A cursor-paginated page (RFC 9865).
    pub fn with_cursors(mut self, next: Option<String>, previous: Option<String>) -> Self {
        self.start_index = None;
        self.next_cursor = next;
        self.previous_cursor = previous;
        self
    }
}

/// Sort direction (RFC 7644 §3.4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Ascending (the default).
    #[default]
    Ascending,
    /// Descending.
    Descending,
}

impl SortOrder {
    /// Parses `ascending` / `descending`, case-insensitively (`400 invalidValue` otherwise).
    pub fn parse(s: &str) -> ScimResult<SortOrder> {
        if s.eq_ignore_ascii_case("ascending") {
            Ok(SortOrder::Ascending)
        } else if s.eq_ignore_ascii_case("descending") {
            Ok(SortOrder::Descending)
        } else {
            Err(ScimError::invalid_value(format!(
                "sortOrder must be \"ascending\" or \"descending\", not {s:?}"
            )))
        }
    }
}

fn de_attr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        One(String),
        Many(Vec<String>),
        Null,
    }
    Ok(match Any::deserialize(d)? {
        Any::One(s) => split_attr_list(&s),
        Any::Many(v) => v,
        Any::Null => Vec::new(),
    })
}

/// Splits a comma-separated `attributes` list.
pub fn split_attr_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Query parameters as a POST `/.search` body (RFC 7644 §3.4.3; RFC 9865 §2.1 `cursor`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SearchRequest {
    /// Always `[SearchRequest URN]`.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Attributes to return.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_attr_list"
    )]
    pub attributes: Vec<String>,
    /// Attributes to leave out.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_attr_list"
    )]
    pub excluded_attributes: Vec<String>,
    /// The filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Sort attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// Sort direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<SortOrder>,
    /// 1-based start index.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_i64"
    )]
    pub start_index: Option<i64>,
    /// Page size.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_i64"
    )]
    pub count: Option<i64>,
    /// RFC 9865 cursor (`""` asks for the first page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    de_opt_num(d)
}

impl SearchRequest {
    /// A request with the SearchRequest schema.
    pub fn new() -> Self {
        SearchRequest {
            schemas: vec![SEARCH_REQUEST.to_string()],
            ..Default::default()
        }
    }
    /// Builder: filter.
    pub fn filter(mut self, f: impl ToString) -> Self {
        self.filter = Some(f.to_string());
        self
    }
    /// Reads a search request body; errors are `400 invalidSyntax` / `invalidValue`.
    pub fn from_json(v: Value) -> ScimResult<SearchRequest> {
        if !v.is_object() {
            return Err(ScimError::invalid_syntax(format!(
                "a SearchRequest must be an object, not {}",
                json_kind(&v)
            )));
        }
        serde_json::from_value(v)
            .map_err(|e| ScimError::invalid_value(format!("invalid SearchRequest: {e}")))
    }
}

/// A PATCH operation kind (RFC 7644 §3.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchOpKind {
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `remove`
    Remove,
}

impl PatchOpKind {
    /// Parses an op name; with `case_insensitive`, `"Add"` etc. are accepted (Entra ID).
    pub fn parse(s: &str, case_insensitive: bool) -> Option<PatchOpKind> {
        let k = match s {
            "add" => PatchOpKind::Add,
            "replace" => PatchOpKind::Replace,
            "remove" => PatchOpKind::Remove,
            _ if case_insensitive => return PatchOpKind::parse(&s.to_ascii_lowercase(), false),
            _ => return None,
        };
        Some(k)
    }
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        }
    }
}

impl<'de> Deserialize<'de> for PatchOpKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PatchOpKind::parse(&s, true)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown PATCH op {s:?}")))
    }
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatchOperation {
    /// The operation.
    pub op: PatchOpKind,
    /// The target path; absent means the resource itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The `op` was spelled with capitals (`"Replace"`), as Entra ID's default dialect does (the
    /// RFC spelling is lower-case). Set by [`PatchOp::from_json`]; see
    /// [`Compat::create_on_no_match`] for the one tolerance that depends on it.
    #[serde(skip)]
    pub capitalised_op: bool,
}

impl PatchOperation {
    /// An operation of any kind.
    pub fn new(op: PatchOpKind, path: Option<String>, value: Option<Value>) -> Self {
        PatchOperation {
            op,
            path,
            value,
            capitalised_op: false,
        }
    }
    /// An `add`.
    pub fn add(path: Option<&str>, value: Value) -> Self {
        PatchOperation {
            op: PatchOpKind::Add,
            path: path.map(str::to_string),
            value: Some(value),
            capitalised_op: false,
        }
    }
    /// A `replace`.
    pub fn replace(path: Option<&str>, value: Value) -> Self {
        PatchOperation {
            op: PatchOpKind::Replace,
            path: path.map(str::to_string),
            value: Some(value),
            capitalised_op: false,
        }
    }
    /// A `remove`.
    pub fn remove(path: &str) -> Self {
        PatchOperation {
            op: PatchOpKind::Remove,
            path: Some(path.to_string()),
            value: None,
            capitalised_op: false,
        }
    }
}

/// A PATCH request body (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatchOp {
    /// Always `[PatchOp URN]`.
    pub schemas: Vec<String>,
    /// The operations, applied in order.
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchOp {
    /// A PatchOp with the given operations.
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        PatchOp {
            schemas: vec![PATCH_OP.to_string()],
            operations,
        }
    }

    /// An empty PatchOp, to build with [`PatchOp::add`], [`PatchOp::replace`] and
    /// [`PatchOp::remove`]:
    ///
    /// ```
    /// use scim_core::PatchOp;
    /// use serde_json::json;
    /// let p = PatchOp::builder()
    ///     .replace("active", json!(false))
    ///     .add("emails[type eq \"work\"].value", json!("a@example.com"))
    ///     .remove("members[value eq \"u1\"]");
    /// assert_eq!(p.operations.len(), 3);
    /// ```
    pub fn builder() -> Self {
        PatchOp::new(Vec::new())
    }
    /// Builder: an `add` at `path`.
    pub fn add(mut self, path: &str, value: Value) -> Self {
        self.operations.push(PatchOperation::add(Some(path), value));
        self
    }
    /// Builder: a `replace` at `path`.
    pub fn replace(mut self, path: &str, value: Value) -> Self {
        self.operations
            .push(PatchOperation::replace(Some(path), value));
        self
    }
    /// Builder: a path-less `replace` of several attributes.
    pub fn replace_attributes(mut self, value: Value) -> Self {
        self.operations.push(PatchOperation::replace(None, value));
        self
    }
    /// Builder: a `remove` at `path`.
    pub fn remove(mut self, path: &str) -> Self {
        self.operations.push(PatchOperation::remove(path));
        self
    }

    /// Reads a PatchOp body, checking its shape; every problem is a `400` naming the operation.
    pub fn from_json(v: &Value, compat: &Compat) -> ScimResult<PatchOp> {
        let obj = v.as_object().ok_or_else(|| {
            ScimError::invalid_syntax(format!(
                "a PatchOp body must be a JSON object, not {}",
                json_kind(v)
            ))
        })?;
        match get_ci(obj, "schemas") {
            Some(Value::Array(s))
                if s.iter()
                    .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP))) => {}
            None if compat.missing_message_schema => {}
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "a PatchOp body must list {PATCH_OP} in \"schemas\""
                )))
            }
        }
        let ops = match get_ci(obj, "Operations") {
            Some(Value::Array(ops)) if !ops.is_empty() => ops,
            Some(Value::Array(_)) => {
                return Err(ScimError::invalid_value("\"Operations\" must not be empty"))
            }
            Some(other) => {
                return Err(ScimError::invalid_syntax(format!(
                    "\"Operations\" must be an array, not {}",
                    json_kind(other)
                )))
            }
            None => {
                return Err(ScimError::invalid_syntax(
                    "a PatchOp body needs \"Operations\"",
                ))
            }
        };
        let mut operations = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let o = op.as_object().ok_or_else(|| {
                ScimError::invalid_syntax(format!(
                    "Operations[{i}] must be an object, not {}",
                    json_kind(op)
                ))
            })?;
            let capitalised_op = matches!(get_ci(o, "op"), Some(Value::String(s)) if s.bytes().any(|b| b.is_ascii_uppercase()));
            let kind = match get_ci(o, "op") {
                Some(Value::String(s)) => PatchOpKind::parse(s, compat.case_insensitive_ops)
                    .ok_or_else(|| {
                        ScimError::invalid_syntax(format!(
                        "Operations[{i}].op must be \"add\", \"replace\" or \"remove\", not {s:?}"
                    ))
                    })?,
                Some(other) => {
                    return Err(ScimError::invalid_syntax(format!(
                        "Operations[{i}].op must be a string, not {}",
                        json_kind(other)
                    )))
                }
                None => {
                    return Err(ScimError::invalid_syntax(format!(
                        "Operations[{i}] has no \"op\""
                    )))
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    return Err(ScimError::invalid_path(format!(
                        "Operations[{i}].path must be a string, not {}",
                        json_kind(other)
                    )))
                }
            };
            let value = get_ci(o, "value").cloned();
            if kind != PatchOpKind::Remove && value.is_none() {
                return Err(ScimError::invalid_value(format!(
                    "Operations[{i}] ({}) needs a \"value\"",
                    kind.as_str()
                )));
            }
            operations.push(PatchOperation {
                op: kind,
                path,
                value,
                capitalised_op,
            });
        }
        Ok(PatchOp {
            schemas: vec![PATCH_OP.to_string()],
            operations,
        })
    }
}

/// One operation of a bulk request (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BulkOperation {
    /// HTTP method: `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// Client-assigned id for POSTs, referenced elsewhere as `bulkId:<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// Expected version (ETag) of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Resource path, e.g. `/Users` or `/Users/{id}`.
    pub path: String,
    /// The request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A bulk request (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BulkRequest {
    /// Always `[BulkRequest URN]`.
    pub schemas: Vec<String>,
    /// Stop after this many errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_errors: Option<u32>,
    /// The operations.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// A bulk request with the given operations.
    pub fn new(operations: Vec<BulkOperation>) -> Self {
        BulkRequest {
            schemas: vec![BULK_REQUEST.to_string()],
            fail_on_errors: None,
            operations,
        }
    }
}

/// One operation's result in a bulk response (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BulkOperationResponse {
    /// The method of the operation.
    pub method: String,
    /// The operation's bulkId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The resulting version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// HTTP status (written as a string, as the RFC shows; read from either form).
    #[serde(
        serialize_with = "status_str",
        deserialize_with = "crate::error::status_from_any"
    )]
    pub status: u16,
    /// Response body: a SCIM error for failed operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

fn status_str<S: serde::Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

/// A bulk response (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BulkResponse {
    /// Always `[BulkResponse URN]`.
    pub schemas: Vec<String>,
    /// Per-operation results, in request order.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<BulkOperationResponse>,
}

impl BulkResponse {
    /// A bulk response with the given results.
    pub fn new(operations: Vec<BulkOperationResponse>) -> Self {
        BulkResponse {
            schemas: vec![BULK_RESPONSE.to_string()],
            operations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_response_numbers_and_lowercase_resources() {
        let l: ListResponse = serde_json::from_value(json!({
            "schemas": [LIST_RESPONSE], "totalResults": "2", "itemsPerPage": 1, "startIndex": 1,
            "resources": [{"id": "a"}]
        }))
        .unwrap();
        assert_eq!(l.total_results, 2);
        assert_eq!(l.resources.len(), 1);
        let out = serde_json::to_value(ListResponse::new(vec![json!({"id": "a"})], 2, 1)).unwrap();
        assert_eq!(out["totalResults"], json!(2));
        assert_eq!(out["Resources"][0]["id"], "a");
    }

    #[test]
    fn patch_op_shapes() {
        let c = Compat::default();
        let p = PatchOp::from_json(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}), &c).unwrap();
        assert_eq!(p.operations[0].op, PatchOpKind::Replace);
        let strict = Compat::strict();
        assert!(PatchOp::from_json(
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "value": {}}]}),
            &strict
        )
        .is_err());
        for bad in [
            json!([]),
            json!({"schemas": [PATCH_OP]}),
            json!({"schemas": [PATCH_OP], "Operations": []}),
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "move"}]}),
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "x"}]}),
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": 3, "value": 1}]}),
        ] {
            let e = PatchOp::from_json(&bad, &c).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
        }
    }

    #[test]
    fn search_request_accepts_string_lists() {
        let s = SearchRequest::from_json(json!({"schemas": [SEARCH_REQUEST], "attributes": "userName, name", "count": "10", "sortOrder": "descending"})).unwrap();
        assert_eq!(s.attributes, vec!["userName", "name"]);
        assert_eq!(s.count, Some(10));
        assert_eq!(s.sort_order, Some(SortOrder::Descending));
    }
}
