//! Sources of truth: an HR export as CSV or JSON Lines, or any SCIM server.
//!
//! A source yields a [`Snapshot`]: rows of column → text, in file order, with the SHA-256 of the
//! bytes read (a saved plan pins this hash, and the shrink gate compares row counts between
//! runs). Column names are kept as written; the mapping decides what they mean.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ProvisionError;

/// One row of a source: column → value, plus its 1-based data row number (for messages that
/// name the person's line). The column names are shared by the rows that have the same
/// columns, and the values of a row are kept in one string: 100,000 rows stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based data row (the header is not counted).
    pub row: usize,
    columns: Arc<[String]>,
    text: Box<str>,
    /// End of each value in `text`.
    ends: Box<[u32]>,
}

impl Record {
    /// A row of `(column, value)` pairs (empty strings for empty cells).
    pub fn new<'a>(row: usize, fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Record {
        let (columns, values): (Vec<String>, Vec<&str>) =
            fields.into_iter().map(|(c, v)| (c.to_string(), v)).unzip();
        Record::with_columns(row, columns.into(), &values)
    }

    /// A row with shared column names; `values[i]` is the value of `columns[i]` (missing values
    /// are empty). Values too long for the compact form (4 GiB in all) are cut short.
    pub fn with_columns(row: usize, columns: Arc<[String]>, values: &[&str]) -> Record {
        let mut text = String::with_capacity(values.iter().map(|v| v.len()).sum());
        let mut ends = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let v = values.get(i).copied().unwrap_or_default();
            if text.len() + v.len() <= u32::MAX as usize {
                text.push_str(v);
            }
            ends.push(text.len() as u32);
        }
        Record {
            row,
            columns,
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    fn value(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    /// The raw value of a column (`Some("")` for an empty cell; `None` when the row lacks it).
    pub fn field(&self, column: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == column)?;
        Some(self.value(i))
    }

    /// Every column with its raw value, in column order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), self.value(i)))
    }

    /// The value of a column, trimmed; `None` when absent or empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.field(column).map(str::trim).filter(|s| !s.is_empty())
    }
}

/// Everything a source held at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Where it came from (file path or URL).
    pub origin: String,
    /// Column names in file order (for CSV, the header).
    pub columns: Vec<String>,
    /// The rows.
    pub records: Vec<Record>,
    /// Lower-case hex SHA-256 of the bytes read.
    pub hash: String,
}

/// A system that holds the people to provision.
pub trait Source: Send + Sync {
    /// Reads the whole source.
    fn read(&self) -> Result<Snapshot, ProvisionError>;
}

/// The lower-case hex encoding of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// SHA-256 of `data`, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// A CSV file with a header row (`,` separated, RFC 4180 quoting).
#[derive(Debug, Clone)]
pub struct CsvSource {
    path: PathBuf,
}

impl CsvSource {
    /// A CSV source at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvSource { path: path.into() }
    }
}

impl Source for CsvSource {
    fn read(&self) -> Result<Snapshot, ProvisionError> {
        let bytes = read_file(&self.path)?;
        parse_csv(&bytes, &self.path.display().to_string())
    }
}

/// Parses CSV bytes (exposed for tests and for sources that fetch CSV from elsewhere).
pub fn parse_csv(bytes: &[u8], origin: &str) -> Result<Snapshot, ProvisionError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes); // Excel's BOM
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::Headers)
        .from_reader(bytes);
    let columns: Vec<String> = rdr
        .headers()
        .map_err(|e| ProvisionError::Source(format!("{origin}: header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut seen = std::collections::HashSet::new();
    for c in &columns {
        if c.is_empty() {
            return Err(ProvisionError::Source(format!(
                "{origin}: the header has an empty column name"
            )));
        }
        if !seen.insert(c.as_str()) {
            return Err(ProvisionError::Source(format!(
                "{origin}: column {c:?} appears twice in the header"
            )));
        }
    }
    let shared: Arc<[String]> = columns.clone().into();
    let mut records = Vec::new();
    let mut row = csv::StringRecord::new();
    for i in 0.. {
        let more = rdr
            .read_record(&mut row)
            .map_err(|e| ProvisionError::Source(format!("{origin}: row {}: {e}", i + 1)))?;
        if !more {
            break;
        }
        let values: Vec<&str> = row.iter().collect();
        records.push(Record::with_columns(i + 1, shared.clone(), &values));
    }
    records.shrink_to_fit();
    Ok(Snapshot {
        origin: origin.to_string(),
        columns,
        records,
        hash: sha256_hex(bytes),
    })
}

/// A JSON Lines file: one JSON object per line. Nested objects are flattened into dotted
/// column names (`name.givenName`); arrays of strings are joined with `;` (so `"groups":
/// ["eng","ops"]` means the same as a CSV cell `eng;ops`); numbers and booleans become text.
#[derive(Debug, Clone)]
pub struct JsonLinesSource {
    path: PathBuf,
}

impl JsonLinesSource {
    /// A JSON Lines source at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonLinesSource { path: path.into() }
    }
}

impl Source for JsonLinesSource {
    fn read(&self) -> Result<Snapshot, ProvisionError> {
        let bytes = read_file(&self.path)?;
        parse_json_lines(&bytes, &self.path.display().to_string())
    }
}

/// Parses JSON Lines bytes.
pub fn parse_json_lines(bytes: &[u8], origin: &str) -> Result<Snapshot, ProvisionError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ProvisionError::Source(format!("{origin}: not UTF-8: {e}")))?;
    let mut records = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    let mut known = std::collections::HashSet::new();
    let mut column_sets = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| ProvisionError::Source(format!("{origin}: line {}: {e}", i + 1)))?;
        let Value::Object(o) = v else {
            return Err(ProvisionError::Source(format!(
                "{origin}: line {}: not a JSON object",
                i + 1
            )));
        };
        let mut fields = BTreeMap::new();
        flatten(None, &Value::Object(o), &mut fields);
        for k in fields.keys() {
            if known.insert(k.clone()) {
                columns.push(k.clone());
            }
        }
        records.push(shared_record(records.len() + 1, &fields, &mut column_sets));
    }
    Ok(Snapshot {
        origin: origin.to_string(),
        columns,
        records,
        hash: sha256_hex(bytes),
    })
}

/// A record of `fields`, sharing the column names with earlier rows that have the same ones.
fn shared_record(
    row: usize,
    fields: &BTreeMap<String, String>,
    sets: &mut std::collections::HashMap<Vec<String>, Arc<[String]>>,
) -> Record {
    let names: Vec<String> = fields.keys().cloned().collect();
    let columns = match sets.get(&names) {
        Some(c) => c.clone(),
        None => {
            let c: Arc<[String]> = names.clone().into();
            sets.insert(names, c.clone());
            c
        }
    };
    let values: Vec<&str> = fields.values().map(String::as_str).collect();
    Record::with_columns(row, columns, &values)
}

fn flatten(prefix: Option<&str>, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                // A URN-qualified key holds an extension: `urn:…:User` + `.` would not be a path;
                // its attributes are joined with `:` (`urn:…:User:department`).
                match (prefix, v) {
                    // A URN-qualified key holds an extension: its attributes are joined with
                    // `:` (`urn:…:User:department`), as in a SCIM path.
                    (None, Value::Object(ext)) if k.starts_with("urn:") => {
                        for (k2, v2) in ext {
                            flatten(Some(&format!("{k}:{k2}")), v2, out);
                        }
                    }
                    (None, _) => flatten(Some(k), v, out),
                    (Some(p), _) => flatten(Some(&format!("{p}.{k}")), v, out),
                }
            }
        }
        Value::Array(a) => {
            let parts: Vec<String> = a
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.insert(prefix.unwrap_or_default().to_string(), parts.join(";"));
        }
        Value::Null => {
            out.insert(prefix.unwrap_or_default().to_string(), String::new());
        }
        Value::String(s) => {
            out.insert(prefix.unwrap_or_default().to_string(), s.clone());
        }
        other => {
            out.insert(prefix.unwrap_or_default().to_string(), other.to_string());
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ProvisionError> {
    std::fs::read(path).map_err(|e| ProvisionError::Source(format!("{}: {e}", path.display())))
}

/// Opens a file source by extension: `.csv` → CSV, `.jsonl` / `.ndjson` → JSON Lines.
pub fn open(path: &Path) -> Result<Box<dyn Source>, ProvisionError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Ok(Box::new(CsvSource::new(path))),
        "jsonl" | "ndjson" => Ok(Box::new(JsonLinesSource::new(path))),
        _ => Err(ProvisionError::Source(format!(
            "{}: unknown source type (use .csv, .jsonl or .ndjson)",
            path.display()
        ))),
    }
}

/// Reads every user of a SCIM server as a source snapshot (see [`snapshot_from_scim_users`]).
pub async fn read_scim(client: &crate::Client) -> Result<Snapshot, ProvisionError> {
    use futures::TryStreamExt;
    let users: Vec<Value> = client
        .list_all("Users", crate::ListQuery::new())
        .try_collect()
        .await
        .map_err(|e| ProvisionError::Source(format!("{}: {e}", client.base_url())))?;
    Ok(snapshot_from_scim_users(&users, client.base_url()))
}

/// Users read from a SCIM server (ours or any) become rows whose columns are SCIM paths, so
/// another service can be the source of truth with no mapping file. `manager` holds the
/// manager's `externalId` (resolved from the manager's id within the same listing).
pub fn snapshot_from_scim_users(users: &[Value], origin: &str) -> Snapshot {
    let ent = scim_core::schema::ENTERPRISE_USER;
    let ext_of: std::collections::HashMap<&str, &str> = users
        .iter()
        .filter_map(|u| Some((u.get("id")?.as_str()?, u.get("externalId")?.as_str()?)))
        .collect();
    let mut columns: Vec<String> = Vec::new();
    let mut records = Vec::new();
    let mut column_sets = std::collections::HashMap::new();
    for u in users {
        let mut f = BTreeMap::new();
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        f.insert("externalId".into(), s(u.get("externalId")));
        f.insert("userName".into(), s(u.get("userName")));
        f.insert("name.givenName".into(), s(u.pointer("/name/givenName")));
        f.insert("name.familyName".into(), s(u.pointer("/name/familyName")));
        f.insert("displayName".into(), s(u.get("displayName")));
        f.insert("title".into(), s(u.get("title")));
        let work_email = u
            .get("emails")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                    .or_else(|| a.first())
            })
            .and_then(|e| e.get("value"));
        f.insert(r#"emails[type eq "work"].value"#.into(), s(work_email));
        f.insert(
            "active".into(),
            u.get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true)
                .to_string(),
        );
        let e = u.get(ent);
        f.insert(
            format!("{ent}:department"),
            s(e.and_then(|e| e.get("department"))),
        );
        let mgr = e
            .and_then(|e| e.pointer("/manager/value"))
            .and_then(Value::as_str)
            .and_then(|id| ext_of.get(id))
            .map(|s| s.to_string())
            .unwrap_or_default();
        f.insert("manager".into(), mgr);
        let groups: Vec<String> = u
            .get("groups")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.get("display").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        f.insert("groups".into(), groups.join(";"));
        if columns.is_empty() {
            columns = f.keys().cloned().collect();
        }
        records.push(shared_record(records.len() + 1, &f, &mut column_sets));
    }
    let hash = sha256_hex(serde_json::to_string(users).unwrap_or_default().as_bytes());
    Snapshot {
        origin: origin.to_string(),
        columns,
        records,
        hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_quotes_and_scim_path_headers() {
        let data = "\u{feff}externalId,userName,\"emails[type eq \"\"work\"\"].value\",groups\n\
                    E1,ada,ada@example.com,\"eng;ops\"\n\
                    E2,bob, ,\n";
        let s = parse_csv(data.as_bytes(), "t.csv").unwrap();
        assert_eq!(s.columns[2], r#"emails[type eq "work"].value"#);
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.records[0].get("groups"), Some("eng;ops"));
        assert_eq!(s.records[1].get(r#"emails[type eq "work"].value"#), None);
        assert_eq!(s.records[1].row, 2);
        assert_eq!(s.hash.len(), 64);
        // Same bytes, same hash; other bytes, other hash.
        let again = parse_csv(data.as_bytes(), "t.csv").unwrap();
        assert_eq!(again.hash, s.hash);
        let other = parse_csv(b"externalId\nE1\n", "t.csv").unwrap();
        assert_ne!(other.hash, s.hash);
    }

    #[test]
    fn csv_errors_name_the_problem() {
        let e = parse_csv(b"a,a\n1,2\n", "x.csv").unwrap_err().to_string();
        assert!(e.contains("appears twice"), "{e}");
        let e = parse_csv(b"a,b\n1\n", "x.csv").unwrap_err().to_string();
        assert!(e.contains("row 1"), "{e}");
    }

    #[test]
    fn json_lines_flatten_objects_and_arrays() {
        let data = r#"{"externalId":"E1","name":{"givenName":"Ada"},"groups":["eng","ops"],"active":true,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D"}}

{"externalId":"E2","manager":null}
"#;
        let s = parse_json_lines(data.as_bytes(), "x.jsonl").unwrap();
        assert_eq!(s.records.len(), 2);
        let r = &s.records[0];
        assert_eq!(r.get("name.givenName"), Some("Ada"));
        assert_eq!(r.get("groups"), Some("eng;ops"));
        assert_eq!(r.get("active"), Some("true"));
        assert_eq!(
            r.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            Some("R&D")
        );
        assert_eq!(s.records[1].get("manager"), None);
        assert!(parse_json_lines(b"[1]\n", "x").is_err());
    }

    #[test]
    fn open_picks_the_parser_by_extension() {
        assert!(open(Path::new("a.csv")).is_ok());
        assert!(open(Path::new("a.JSONL")).is_ok());
        assert!(open(Path::new("a.xlsx")).is_err());
    }
}
