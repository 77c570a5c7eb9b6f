//! Filter and sort translation to SQL for SQLite and PostgreSQL (RFC 7644 §3.4.2.2, §3.4.2.3).
//!
//! The translation mirrors `scim_core::filter` evaluation rule for rule (multi-valued "any"
//! semantics, value filters on one element, `caseExact`, ASCII case folding, `ne` as `not eq`,
//! `eq null`, `pr`), so a filter returns the same resources whether it runs in memory or in the
//! database; a differential test checks this. Every literal and every JSON key is a bound
//! parameter: no text from a request is ever spliced into SQL.
//!
//! Storage layout assumed (see the migrations):
//! - `scim_resources r`: `tenant`, `resource_type`, `id`, `data` (the resource JSON without
//!   `id`, `meta`, `members` and `groups`), `display_name`, `created`, `last_modified`
//!   (fixed-width UTC text), `version`;
//! - `scim_members m`: `tenant`, `group_id`, `member_id`, `member_type`, `display`.

use scim_core::filter::{fold, CompValue, CompareOp, Filter};
use scim_core::schema::{AttributeDef, AttributeType, ResolvedAttr};
use scim_core::{AttrPath, Context, ScimError, ScimResult, SortOrder};

/// The SQL dialect: which [`SqlDialect`] the translator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (JSON1 functions, `?NNN` placeholders).
    Sqlite,
    /// PostgreSQL (`jsonb`, `$N` placeholders).
    Postgres,
}

impl Dialect {
    /// The dialect's SQL spellings.
    pub fn sql(self) -> &'static dyn SqlDialect {
        match self {
            Dialect::Sqlite => &SqliteDialect,
            Dialect::Postgres => &PostgresDialect,
        }
    }
}

/// What differs between the databases in the SQL of a translation: the translator is one core
/// over this small trait (how JSON values are reached, SQLite's JSON1 paths or PostgreSQL's
/// `jsonb` operators, stays in the translator's value locations). Every spelling takes
/// placeholders, never values.
pub trait SqlDialect: Send + Sync {
    /// The placeholder of the `n`-th parameter (from 1).
    fn placeholder(&self, n: usize) -> String;
    /// A text parameter where it is used (cast when the database must know its type).
    fn text_param(&self, placeholder: String) -> String;
    /// `expr` compared byte by byte (code point order: the collation of the indexes).
    fn exact(&self, expr: String) -> String;
    /// `expr` with ASCII case folded, compared byte by byte.
    fn fold(&self, expr: String) -> String;
    /// `col` contains `p` (`co`).
    fn contains(&self, col: &str, p: &str) -> String;
    /// `col` starts with `p` (`sw`).
    fn starts_with(&self, col: &str, p: &str) -> String;
    /// `col` ends with `p` (`ew`).
    fn ends_with(&self, col: &str, p: &str) -> String;
    /// `col <sym> p` for text.
    fn compare(&self, col: &str, sym: &str, p: &str) -> String {
        format!("{col} {sym} {}", self.exact(p.to_string()))
    }
    /// Two JSON timestamps compared as instants.
    fn datetime_compare(&self, text: &str, sym: &str, p: &str) -> String;
    /// `r.id` among the ids a subquery returns, so that the subquery runs first and the
    /// primary key is then sought.
    fn id_in(&self, subquery: &str) -> String;
    /// The resource's ETag as text (`W/"<version>"`).
    fn version_text(&self) -> &'static str;
    /// The `data` column as text.
    fn data_column(&self) -> &'static str;
}

/// SQLite: `?N` placeholders, `lower`, `instr`/`substr`, JSON1 text.
#[derive(Debug, Clone, Copy)]
pub struct SqliteDialect;

impl SqlDialect for SqliteDialect {
    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }
    fn text_param(&self, placeholder: String) -> String {
        placeholder
    }
    fn exact(&self, expr: String) -> String {
        expr
    }
    fn fold(&self, expr: String) -> String {
        format!("lower({expr})")
    }
    fn contains(&self, col: &str, p: &str) -> String {
        format!("instr({col}, {p}) > 0")
    }
    fn starts_with(&self, col: &str, p: &str) -> String {
        format!("substr({col}, 1, length({p})) = {p}")
    }
    fn ends_with(&self, col: &str, p: &str) -> String {
        format!("substr({col}, -length({p})) = {p}")
    }
    fn datetime_compare(&self, text: &str, sym: &str, p: &str) -> String {
        format!("strftime('%Y-%m-%dT%H:%M:%f', {text}) {sym} strftime('%Y-%m-%dT%H:%M:%f', {p})")
    }
    fn id_in(&self, subquery: &str) -> String {
        format!("r.id IN ({subquery})")
    }
    fn version_text(&self) -> &'static str {
        "('W/\"' || r.version || '\"')"
    }
    fn data_column(&self) -> &'static str {
        "r.data"
    }
}

/// PostgreSQL: `$N` placeholders with `::text` casts, `COLLATE "C"` (the collation of every
/// key column, so indexes serve the comparisons), `strpos`/`left`/`right`, `jsonb`.
#[derive(Debug, Clone, Copy)]
pub struct PostgresDialect;

impl SqlDialect for PostgresDialect {
    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }
    fn text_param(&self, placeholder: String) -> String {
        format!("{placeholder}::text")
    }
    fn exact(&self, expr: String) -> String {
        format!("({expr} COLLATE \"C\")")
    }
    fn fold(&self, expr: String) -> String {
        format!("lower({expr} COLLATE \"C\")")
    }
    fn contains(&self, col: &str, p: &str) -> String {
        format!("strpos({col}, {p}) > 0")
    }
    fn starts_with(&self, col: &str, p: &str) -> String {
        format!("left({col}, char_length({p})) = {p}")
    }
    fn ends_with(&self, col: &str, p: &str) -> String {
        format!("right({col}, char_length({p})) = {p}")
    }
    fn datetime_compare(&self, text: &str, sym: &str, p: &str) -> String {
        format!("({text})::timestamptz {sym} ({p})::timestamptz")
    }
    fn id_in(&self, subquery: &str) -> String {
        format!("r.id = ANY (ARRAY({subquery}))")
    }
    fn version_text(&self) -> &'static str {
        "('W/\"' || r.version::text || '\"')"
    }
    fn data_column(&self) -> &'static str {
        "r.data::text"
    }
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Real.
    Float(f64),
}

/// Parameters collected while building a statement.
#[derive(Debug, Clone)]
pub struct Params {
    dialect: Dialect,
    /// The values, in placeholder order.
    pub values: Vec<SqlValue>,
}

impl Params {
    /// Empty parameters for a dialect.
    pub fn new(dialect: Dialect) -> Self {
        Params {
            dialect,
            values: Vec::new(),
        }
    }
    /// Binds a value and returns its placeholder.
    pub fn push(&mut self, v: SqlValue) -> String {
        self.values.push(v);
        self.dialect.sql().placeholder(self.values.len())
    }
    /// Binds text.
    pub fn text(&mut self, s: impl Into<String>) -> String {
        let p = self.push(SqlValue::Text(s.into()));
        self.dialect.sql().text_param(p)
    }
}

const FALSE: &str = "(1=0)";
const TRUE: &str = "(1=1)";

/// Where a JSON value lives.
#[derive(Debug, Clone)]
enum Loc {
    /// SQLite: `json` is an SQL expression of JSON text, `path` a bound JSON path placeholder.
    SqlitePath { json: String, path: String },
    /// SQLite: an element of `json_each`, by alias.
    SqliteEach { alias: String },
    /// PostgreSQL: a `jsonb` expression.
    Pg(String),
    /// A text column (NULL when absent).
    Column(String),
}

/// Fixed-width UTC timestamp text used in the `created` / `last_modified` columns, so that text
/// order is time order.
pub fn timestamp_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn json_path(keys: &[&str]) -> String {
    let mut p = String::from("$");
    for k in keys {
        p.push_str(".\"");
        p.push_str(k);
        p.push('"');
    }
    p
}

/// Translates filters and sort keys for one resource type.
pub struct Translator<'a, 'c> {
    ctx: &'a Context<'c>,
    dialect: Dialect,
    /// The absolute base URL that `meta.location` and `$ref` values start with.
    base: String,
    /// The parameters bound so far.
    pub params: Params,
    aliases: usize,
    /// The tenant, when known: lets indexed comparisons seek `scim_index` (see
    /// [`super::index`]) instead of reading each resource's JSON.
    tenant: Option<String>,
}

/// Deepest nesting of `and`/`or` groups, `not` and value filters translated. Chains of one
/// operator are flattened, so a filter that scim-core's parser accepts (at most
/// [`scim_core::filter::MAX_DEPTH`] nested groups) never reaches this.
const MAX_SQL_DEPTH: usize = 4 * scim_core::filter::MAX_DEPTH + 8;

enum Scope {
    Root,
    /// An element of a multi-valued (or the value of a complex) attribute.
    Element {
        loc: Loc,
        def: AttributeDef,
    },
    /// A row of `scim_members` (a Group's members) or of the derived `groups` of a User.
    Rows {
        kind: RowKind,
        alias: String,
        def: AttributeDef,
    },
    /// The value of a single-valued complex attribute: `name[givenName eq "x"]` is
    /// `name.givenName eq "x"`.
    Single {
        attr: AttrPath,
    },
}

/// Most seeks joined by `UNION` (SQLite allows 500 terms in a compound `SELECT`).
const MAX_UNION: usize = 400;

/// The literal of an `id eq "…"` comparison (`id` is case-exact: plain key equality).
fn id_eq(f: &Filter) -> Option<&str> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(v),
        } if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("id") => {
            Some(v)
        }
        _ => None,
    }
}

/// The operands of a chain of `or` (the parser builds it as a left-deep tree), iteratively.
fn or_operands(f: &Filter) -> Vec<&Filter> {
    let mut operands = Vec::new();
    let mut stack = vec![f];
    while let Some(n) = stack.pop() {
        match n {
            Filter::Or(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => operands.push(other),
        }
    }
    operands
}

/// A value filter's condition with its comparisons' paths made absolute
/// (`emails[value eq "x" and type eq "work"]` → `emails.value eq "x" and emails.type eq
/// "work"`), for finding a seek: the seek of the result finds every resource the value filter
/// matches (and maybe more; the condition still decides). An `and` keeps its liftable side.
fn lift(outer: &AttrPath, f: &Filter, depth: usize) -> Option<Filter> {
    if depth > MAX_SQL_DEPTH {
        return None;
    }
    match f {
        Filter::Compare { path, op, value } if path.urn.is_none() && path.sub.is_none() => {
            Some(Filter::Compare {
                path: AttrPath {
                    urn: outer.urn.clone(),
                    name: outer.name.clone(),
                    sub: Some(path.name.clone()),
                },
                op: *op,
                value: value.clone(),
            })
        }
        Filter::And(a, b) => match (lift(outer, a, depth + 1), lift(outer, b, depth + 1)) {
            (Some(a), Some(b)) => Some(Filter::And(Box::new(a), Box::new(b))),
            (Some(x), None) | (None, Some(x)) => Some(x),
            (None, None) => None,
        },
        Filter::Or(..) => {
            let mut lifted = or_operands(f)
                .into_iter()
                .map(|o| lift(outer, o, depth + 1))
                .collect::<Option<Vec<_>>>()?
                .into_iter();
            let first = lifted.next()?;
            Some(lifted.fold(first, |acc, o| Filter::Or(Box::new(acc), Box::new(o))))
        }
        _ => None,
    }
}

/// The union of seeks. SQLite allows 500 terms in one compound `SELECT`: longer unions are
/// made of unions of at most [`MAX_UNION`] seeks each.
fn union_of(seeks: Vec<String>) -> String {
    if seeks.len() <= MAX_UNION {
        return seeks.join(" UNION ");
    }
    seeks
        .chunks(MAX_UNION)
        .enumerate()
        .map(|(i, c)| format!("SELECT * FROM ({}) AS seeks{i}", c.join(" UNION ")))
        .collect::<Vec<_>>()
        .join(" UNION ")
}

/// A comparison an index seek answers.
enum IndexCmp {
    /// Equal to the folded literal.
    Eq(String),
    /// Starts with the folded prefix: at least it, below its successor (if any).
    Prefix(String, Option<String>),
    /// Contains (`co`) or ends with (`ew`) the folded literal: the attribute's keys are read
    /// (an index range, no resource's JSON) and the matches checked again on the resources;
    /// keys that may have been cut are candidates too.
    Scan(CompareOp, String),
}

#[derive(Clone, Copy)]
enum RowKind {
    Members,
    Groups,
}

impl<'a, 'c> Translator<'a, 'c> {
    /// A translator for `ctx`'s resource type.
    pub fn new(ctx: &'a Context<'c>, dialect: Dialect) -> Self {
        Translator {
            ctx,
            dialect,
            base: String::new(),
            params: Params::new(dialect),
            aliases: 0,
            tenant: None,
        }
    }

    /// Builder: the tenant the query runs for (enables index seeks).
    pub fn with_tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_string());
        self
    }

    /// Builder: the base URL rendered resources use (for `meta.location` and `$ref`).
    pub fn with_base(mut self, base: &str) -> Self {
        self.base = base.to_string();
        self
    }

    fn concat(&self, parts: &[String]) -> String {
        format!("({})", parts.join(" || "))
    }

    fn version_text(&self) -> String {
        self.dialect.sql().version_text().into()
    }

    fn location_text(&mut self) -> String {
        let b = self.params.text(self.base.clone());
        let e = self.params.text(self.ctx.resource_type.endpoint.clone());
        self.concat(&[b, e, "'/'".into(), "r.id".into()])
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    fn is_group(&self) -> bool {
        self.ctx.resource_type.name.eq_ignore_ascii_case("Group")
    }
    fn is_user(&self) -> bool {
        self.ctx.resource_type.name.eq_ignore_ascii_case("User")
    }

    /// The SQL condition for a filter (an expression over alias `r`).
    pub fn filter(&mut self, f: &Filter) -> ScimResult<String> {
        let cond = self.node(f, &Scope::Root, 0)?;
        // An `or` of seeks (possibly under an `and`) gets the union of the seeks as its access
        // path; the condition itself still decides.
        if self.tenant.is_some()
            && !matches!(f, Filter::Compare { .. })
            && self.has_or(f)
            && !cond.starts_with("r.id IN (")
        {
            if let Some(sub) = self.seek_of(f, 0) {
                return Ok(format!("({} AND {cond})", self.id_in(&sub)));
            }
        }
        Ok(cond)
    }

    /// Whether `f` has an `or` or a value filter at its top (under `and`s only): their
    /// translations are no seek by themselves.
    fn has_or(&self, f: &Filter) -> bool {
        // (A chain of `id eq` became one `r.id IN (…)` list already.)
        let mut stack = vec![f];
        while let Some(n) = stack.pop() {
            match n {
                Filter::Or(..) | Filter::ValuePath { .. } => return true,
                Filter::And(a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                _ => {}
            }
        }
        false
    }

    fn node(&mut self, f: &Filter, scope: &Scope, depth: usize) -> ScimResult<String> {
        if depth > MAX_SQL_DEPTH {
            return Err(ScimError::invalid_filter("filter nests too deeply"));
        }
        Ok(match f {
            Filter::And(..) | Filter::Or(..) => {
                let and = matches!(f, Filter::And(..));
                // Flatten a chain of one operator (`a or b or c …`) so that its length costs
                // no depth: the parser builds it as a left-deep tree.
                let mut operands = Vec::new();
                let mut stack = vec![f];
                while let Some(n) = stack.pop() {
                    match n {
                        Filter::And(a, b) if and => {
                            stack.push(b);
                            stack.push(a);
                        }
                        Filter::Or(a, b) if !and => {
                            stack.push(b);
                            stack.push(a);
                        }
                        other => operands.push(other),
                    }
                }
                if !and && operands.len() > 1 && matches!(scope, Scope::Root) {
                    if let Some(list) = self.id_list(&operands) {
                        return Ok(list);
                    }
                }
                let mut parts = Vec::with_capacity(operands.len());
                if and && matches!(scope, Scope::Root) {
                    // Several exact seeks under one `and`: one seek of their intersection, so
                    // the planner has a single list of ids to look up.
                    let (seeks, rest): (Vec<&Filter>, Vec<&Filter>) =
                        operands.into_iter().partition(|o| self.exact_seek(o));
                    if seeks.len() > 1 {
                        let subs: Vec<String> = seeks
                            .iter()
                            .filter_map(|o| self.seek_of(o, depth + 1))
                            .collect();
                        parts.push(self.id_in(&subs.join(" INTERSECT ")));
                    } else {
                        for o in seeks {
                            parts.push(self.node(o, scope, depth + 1)?);
                        }
                    }
                    for o in rest {
                        parts.push(self.node(o, scope, depth + 1)?);
                    }
                } else {
                    for o in operands {
                        parts.push(self.node(o, scope, depth + 1)?);
                    }
                }
                format!("({})", parts.join(if and { " AND " } else { " OR " }))
            }
            Filter::Not(a) => format!("(NOT {})", self.node(a, scope, depth + 1)?),
            Filter::Present(path) => self.term(path, None, scope)?,
            Filter::Compare {
                path,
                op: CompareOp::Ne,
                value,
            } => {
                let eq = Filter::Compare {
                    path: path.clone(),
                    op: CompareOp::Eq,
                    value: value.clone(),
                };
                format!("(NOT {})", self.node(&eq, scope, depth + 1)?)
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::Null,
            } => {
                let pr = self.term(path, None, scope)?;
                format!("(NOT {pr})")
            }
            Filter::Compare {
                value: CompValue::Null,
                ..
            } => FALSE.to_string(),
            Filter::Compare { path, op, value } => self.term(path, Some((*op, value)), scope)?,
            Filter::ValuePath { path, filter } => self.value_path(path, filter, scope, depth)?,
        })
    }

    fn value_path(
        &mut self,
        path: &AttrPath,
        inner: &Filter,
        scope: &Scope,
        depth: usize,
    ) -> ScimResult<String> {
        if !matches!(scope, Scope::Root) {
            return Ok(FALSE.to_string());
        }
        let Some(r) = self.ctx.resolve_attr(path) else {
            return Ok(FALSE.to_string());
        };
        if r.sub.is_some() {
            return Ok(FALSE.to_string());
        }
        if let Some(kind) = self.row_kind(&r) {
            let alias = self.alias("m");
            let scope = Scope::Rows {
                kind,
                alias: alias.clone(),
                def: r.attr.clone(),
            };
            let cond = self.node(inner, &scope, depth + 1)?;
            return Ok(self.rows_exists(kind, &alias, &cond));
        }
        if !r.attr.multi_valued {
            if !r.attr.is_complex() {
                return Ok(FALSE.to_string());
            }
            let scope = Scope::Single {
                attr: r.canonical_path(),
            };
            return self.node(inner, &scope, depth + 1);
        }
        let base = self.base_loc(&r);
        if r.attr.multi_valued {
            let (from, elem) = self.each(&base);
            let scope = Scope::Element {
                loc: elem,
                def: r.attr.clone(),
            };
            let cond = self.node(inner, &scope, depth + 1)?;
            Ok(format!("EXISTS (SELECT 1 FROM {from} WHERE {cond})"))
        } else {
            let scope = Scope::Element {
                loc: base,
                def: r.attr.clone(),
            };
            self.node(inner, &scope, depth + 1)
        }
    }

    fn row_kind(&self, r: &ResolvedAttr<'_>) -> Option<RowKind> {
        if r.in_extension || r.schema.is_none() {
            return None;
        }
        if self.is_group() && r.attr.name == "members" {
            Some(RowKind::Members)
        } else if self.is_user() && r.attr.name == "groups" {
            Some(RowKind::Groups)
        } else {
            None
        }
    }

    fn rows_exists(&mut self, kind: RowKind, alias: &str, cond: &str) -> String {
        match kind {
            RowKind::Members => format!(
                "EXISTS (SELECT 1 FROM scim_members {alias} WHERE {alias}.tenant = r.tenant AND {alias}.group_id = r.id AND {cond})"
            ),
            RowKind::Groups => format!(
                "EXISTS (SELECT 1 FROM scim_members {alias} JOIN scim_resources {alias}g ON {alias}g.tenant = {alias}.tenant AND {alias}g.resource_type = 'Group' AND {alias}g.id = {alias}.group_id WHERE {alias}.tenant = r.tenant AND {alias}.member_id = r.id AND {cond})"
            ),
        }
    }

    /// The SQL expression of a member/group row's sub-attribute, as rendered.
    fn row_column(&mut self, kind: RowKind, alias: &str, sub: &str) -> Option<String> {
        let s = sub.to_ascii_lowercase();
        match (kind, s.as_str()) {
            (RowKind::Members, "value") => Some(format!("{alias}.member_id")),
            (RowKind::Members, "type") => Some(format!("{alias}.member_type")),
            (RowKind::Members, "display") => Some(format!("{alias}.display")),
            (RowKind::Members, "$ref") => {
                let b = self.params.text(self.base.clone());
                Some(self.concat(&[
                    b,
                    format!("(CASE {alias}.member_type WHEN 'Group' THEN '/Groups/' ELSE '/Users/' END)"),
                    format!("{alias}.member_id"),
                ]))
            }
            (RowKind::Groups, "value") => Some(format!("{alias}.group_id")),
            (RowKind::Groups, "display") => Some(format!("{alias}g.display_name")),
            (RowKind::Groups, "type") => Some("'direct'".to_string()),
            (RowKind::Groups, "$ref") => {
                let b = self.params.text(self.base.clone());
                Some(self.concat(&[b, "'/Groups/'".into(), format!("{alias}.group_id")]))
            }
            _ => None,
        }
    }

    fn base_loc(&mut self, r: &ResolvedAttr<'_>) -> Loc {
        let mut keys: Vec<&str> = Vec::new();
        if let Some(ext) = r.extension_key() {
            keys.push(ext);
        }
        keys.push(&r.attr.name);
        self.data_loc(&keys)
    }

    fn data_loc(&mut self, keys: &[&str]) -> Loc {
        match self.dialect {
            Dialect::Sqlite => Loc::SqlitePath {
                json: "r.data".into(),
                path: self.params.text(json_path(keys)),
            },
            Dialect::Postgres => {
                let mut e = String::from("r.data");
                for k in keys {
                    let p = self.params.text(*k);
                    e = format!("({e} -> {p})");
                }
                Loc::Pg(e)
            }
        }
    }

    /// A member of an object location.
    fn child(&mut self, loc: &Loc, key: &str) -> Loc {
        match loc {
            Loc::SqlitePath { json, path } => {
                // Append to the path in SQL, keeping the key bound.
                let k = self
                    .params
                    .text(json_path(&[key]).trim_start_matches('$').to_string());
                Loc::SqlitePath {
                    json: json.clone(),
                    path: format!("({path} || {k})"),
                }
            }
            Loc::SqliteEach { alias } => {
                let p = self.params.text(json_path(&[key]));
                // Only objects can be navigated; `value` of a scalar element is not JSON text.
                Loc::SqlitePath {
                    json: format!("(CASE WHEN {alias}.type = 'object' THEN {alias}.value END)"),
                    path: p,
                }
            }
            Loc::Pg(e) => {
                let p = self.params.text(key);
                Loc::Pg(format!("({e} -> {p})"))
            }
            Loc::Column(_) => Loc::Column("NULL".into()),
        }
    }

    /// `FROM` clause iterating the elements of an array location, and the element location.
    fn each(&mut self, loc: &Loc) -> (String, Loc) {
        let a = self.alias("e");
        match loc {
            Loc::SqlitePath { json, path } => (
                format!("json_each(CASE WHEN json_type({json}, {path}) = 'array' THEN {json} END, {path}) {a}"),
                Loc::SqliteEach { alias: a },
            ),
            Loc::SqliteEach { alias } => (
                format!("json_each(CASE WHEN {alias}.type = 'array' THEN {alias}.value END) {a}"),
                Loc::SqliteEach { alias: a },
            ),
            Loc::Pg(e) => (
                format!("jsonb_array_elements(CASE WHEN jsonb_typeof({e}) = 'array' THEN {e} ELSE '[]'::jsonb END) WITH ORDINALITY {a}(v, ord)"),
                Loc::Pg(format!("{a}.v")),
            ),
            Loc::Column(_) => ("(SELECT 1 WHERE 1=0) {a}".into(), Loc::Column("NULL".into())),
        }
    }

    fn term(
        &mut self,
        path: &AttrPath,
        cmp: Option<(CompareOp, &CompValue)>,
        scope: &Scope,
    ) -> ScimResult<String> {
        match scope {
            Scope::Element { .. } | Scope::Rows { .. } | Scope::Single { .. }
                if path.sub.is_some() || path.urn.is_some() =>
            {
                Ok(FALSE.to_string())
            }
            Scope::Single { attr } => {
                let full = AttrPath {
                    urn: attr.urn.clone(),
                    name: attr.name.clone(),
                    sub: Some(path.name.clone()),
                };
                if self.ctx.resolve_attr(&full).is_none() {
                    return Ok(FALSE.to_string());
                }
                self.root_term(&full, cmp)
            }
            Scope::Element { loc, def } => {
                let sub_def = def.sub_attribute(&path.name).cloned();
                let child = self.child(
                    loc,
                    sub_def
                        .as_ref()
                        .map(|d| d.name.as_str())
                        .unwrap_or(&path.name),
                );
                let mut c = self.leaf(&child, sub_def.as_ref(), cmp)?;
                if path.name.eq_ignore_ascii_case("value") {
                    // A simple multi-valued attribute: `value` names the element itself.
                    let not_obj = self.not_object(loc);
                    let itself = self.leaf(loc, Some(def), cmp)?;
                    c = format!("({c} OR ({not_obj} AND {itself}))");
                }
                Ok(c)
            }
            Scope::Rows { kind, alias, def } => {
                let sub_def = def.sub_attribute(&path.name).cloned();
                match self.row_column(*kind, alias, &path.name) {
                    Some(col) => self.leaf(&Loc::Column(col), sub_def.as_ref(), cmp),
                    None => Ok(FALSE.to_string()),
                }
            }
            Scope::Root => self.root_term(path, cmp),
        }
    }

    fn not_object(&self, loc: &Loc) -> String {
        match loc {
            Loc::SqliteEach { alias } => format!("{alias}.type <> 'object'"),
            Loc::SqlitePath { json, path } => {
                format!("COALESCE(json_type({json}, {path}), '') <> 'object'")
            }
            Loc::Pg(e) => format!("COALESCE(jsonb_typeof({e}), '') <> 'object'"),
            Loc::Column(_) => TRUE.to_string(),
        }
    }

    fn root_term(
        &mut self,
        path: &AttrPath,
        cmp: Option<(CompareOp, &CompValue)>,
    ) -> ScimResult<String> {
        if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("schemas") {
            // `schemas` is no attribute of any schema, but RFC 7644 §3.4.2.2 lets clients
            // filter on it; it compares like an undefined multi-valued string.
            let base = self.data_loc(&["schemas"]);
            let (from, elem) = self.each(&base);
            let cond = self.leaf(&elem, None, cmp)?;
            return Ok(format!("EXISTS (SELECT 1 FROM {from} WHERE {cond})"));
        }
        let Some(r) = self.ctx.resolve_attr(path) else {
            return Ok(FALSE.to_string());
        };
        let whole = cmp.is_none();
        if r.schema.is_none() {
            // Common attributes: id and meta are columns, externalId lives in the JSON.
            match (r.attr.name.as_str(), r.sub.map(|s| s.name.as_str())) {
                ("id", _) => return self.leaf(&Loc::Column("r.id".into()), Some(r.attr), cmp),
                ("meta", Some("created")) => {
                    return self.leaf(&Loc::Column("r.created".into()), r.sub, cmp)
                }
                ("meta", Some("lastModified")) => {
                    return self.leaf(&Loc::Column("r.last_modified".into()), r.sub, cmp)
                }
                ("meta", Some("resourceType")) => {
                    let p = self.params.text(self.ctx.resource_type.name.clone());
                    return self.leaf(&Loc::Column(p), r.sub, cmp);
                }
                ("meta", Some("version")) => {
                    let v = self.version_text();
                    return self.leaf(&Loc::Column(v), r.sub, cmp);
                }
                ("meta", Some("location")) => {
                    let l = self.location_text();
                    return self.leaf(&Loc::Column(l), r.sub, cmp);
                }
                ("meta", None) if whole => return Ok(TRUE.to_string()),
                ("meta", _) => return Ok(FALSE.to_string()),
                _ => {}
            }
        }
        if let Some(kind) = self.row_kind(&r) {
            if let Some(seek) = self.row_seek(&r, cmp) {
                return Ok(seek);
            }
            let alias = self.alias("m");
            let sub = r
                .sub
                .map(|s| s.name.clone())
                .or_else(|| (!whole).then(|| "value".to_string()));
            let cond = match sub {
                None => TRUE.to_string(),
                Some(s) => match self.row_column(kind, &alias, &s) {
                    Some(col) => self.leaf(&Loc::Column(col), r.attr.sub_attribute(&s), cmp)?,
                    None => FALSE.to_string(),
                },
            };
            return Ok(self.rows_exists(kind, &alias, &cond));
        }
        if let Some(seek) = self.index_seek(&r, cmp)? {
            return Ok(seek);
        }
        let base = self.base_loc(&r);
        if !r.attr.multi_valued {
            return match (r.sub, r.attr.is_complex() && !whole) {
                (Some(sub), _) => {
                    let l = self.child(&base, &sub.name);
                    self.leaf(&l, Some(sub), cmp)
                }
                (None, true) => {
                    let l = self.child(&base, "value");
                    self.leaf(&l, r.attr.sub_attribute("value"), cmp)
                }
                (None, false) => self.leaf(&base, Some(r.attr), cmp),
            };
        }
        let (from, elem) = self.each(&base);
        let cond = match r.sub {
            Some(sub) => {
                let l = self.child(&elem, &sub.name);
                self.leaf(&l, Some(sub), cmp)?
            }
            None if r.attr.is_complex() && !whole => {
                let l = self.child(&elem, "value");
                self.leaf(&l, r.attr.sub_attribute("value"), cmp)?
            }
            None => self.leaf(&elem, Some(r.attr), cmp)?,
        };
        Ok(format!("EXISTS (SELECT 1 FROM {from} WHERE {cond})"))
    }

    // ----- index seeks -----

    /// What `attr eq "x"` / `attr sw "x"` on a string attribute seeks in `scim_index` (see
    /// [`super::index`]), and what `co` / `ew` read there instead of every resource's JSON: the
    /// attribute key, the folded comparison, and whether the matches must be checked again (a
    /// case-exact attribute, or `co` / `ew`). The index holds every string leaf at the
    /// attribute's path, folded as the comparison folds, so the seek finds exactly the rows the
    /// general translation matches — or a superset that the exact comparison then narrows.
    fn index_target(
        &self,
        r: &ResolvedAttr<'_>,
        cmp: Option<(CompareOp, &CompValue)>,
    ) -> Option<(String, IndexCmp, bool)> {
        use super::index;
        self.tenant.as_ref()?;
        // Members and a user's groups are rows, not data: never in the index.
        if self.row_kind(r).is_some() {
            return None;
        }
        let Some((op, CompValue::String(lit))) = cmp else {
            return None;
        };
        // `eq "true"` also matches booleans (identity-provider tolerance): not in the index.
        if lit.eq_ignore_ascii_case("true") || lit.eq_ignore_ascii_case("false") {
            return None;
        }
        if r.schema.is_none() && !r.attr.name.eq_ignore_ascii_case("externalId") {
            return None;
        }
        let mut keys: Vec<String> = Vec::new();
        if let Some(ext) = r.extension_key() {
            keys.push(ext.to_ascii_lowercase());
        }
        keys.push(r.attr.name.to_ascii_lowercase());
        let def = match r.sub {
            Some(sub) => {
                keys.push(sub.name.to_ascii_lowercase());
                sub
            }
            None if r.attr.is_complex() => {
                let v = r.attr.sub_attribute("value")?;
                keys.push(v.name.to_ascii_lowercase());
                v
            }
            None => r.attr,
        };
        if !matches!(def.kind, AttributeType::String | AttributeType::Reference) {
            return None;
        }
        let folded = fold(lit, false).into_owned();
        let c = match op {
            CompareOp::Eq if index::eq_usable(&folded) => IndexCmp::Eq(folded),
            CompareOp::Sw if index::sw_usable(&folded) => {
                let succ = index::prefix_successor(&folded);
                IndexCmp::Prefix(folded, succ)
            }
            CompareOp::Co | CompareOp::Ew if !folded.is_empty() => {
                // A scan of the attribute's keys: its matches are checked again (`true`).
                return Some((keys.join("."), IndexCmp::Scan(op, folded), true));
            }
            _ => return None,
        };
        Some((keys.join("."), c, def.case_exact))
    }

    /// The subquery of the ids an index target finds.
    fn index_subquery(&mut self, attr: String, c: IndexCmp) -> String {
        let t = self.params.text(self.tenant.clone().unwrap_or_default());
        let rt = self.params.text(self.ctx.resource_type.name.clone());
        let a = self.params.text(attr);
        let value_cond = match c {
            IndexCmp::Eq(v) => format!("x.value = {}", self.params.text(v)),
            IndexCmp::Prefix(lo, hi) => {
                let lo = self.params.text(lo);
                match hi {
                    Some(hi) => format!("x.value >= {lo} AND x.value < {}", self.params.text(hi)),
                    None => format!("x.value >= {lo}"),
                }
            }
            IndexCmp::Scan(op, v) => {
                let found = self.string_cmp("x.value", op, &v, true);
                format!(
                    "({found} OR octet_length(x.value) >= {})",
                    super::index::MAX_KEY_BYTES - 3
                )
            }
        };
        format!(
            "SELECT x.id FROM scim_index x WHERE x.tenant = {t} AND x.resource_type = {rt} \
             AND x.attr = {a} AND {value_cond}"
        )
    }

    /// An index seek for a root comparison, with the exact comparison kept for case-exact
    /// attributes.
    fn index_seek(
        &mut self,
        r: &ResolvedAttr<'_>,
        cmp: Option<(CompareOp, &CompValue)>,
    ) -> ScimResult<Option<String>> {
        let Some((attr, c, case_exact)) = self.index_target(r, cmp) else {
            return Ok(None);
        };
        let scan = matches!(c, IndexCmp::Scan(..));
        let sub = self.index_subquery(attr, c);
        let seek = if scan {
            // The keys a `co` / `ew` reads can be many: as a semi-join (PostgreSQL hashes the
            // subquery or probes it per row) rather than an array, which PostgreSQL 15 checks
            // element by element for every row another seek finds (52,000 × 19,500 ids: 60 s).
            format!("r.id IN ({sub})")
        } else {
            self.id_in(&sub)
        };
        if !case_exact {
            return Ok(Some(seek));
        }
        // Case-exact: the seek finds the candidates, the general translation decides.
        let def = r.sub.or_else(|| {
            r.attr
                .is_complex()
                .then(|| r.attr.sub_attribute("value"))
                .flatten()
        });
        let def = def.unwrap_or(r.attr);
        let base = self.base_loc(r);
        let exact = if r.attr.multi_valued {
            let (from, elem) = self.each(&base);
            let leaf = match r.sub {
                Some(sub) => self.child(&elem, &sub.name),
                None if r.attr.is_complex() => self.child(&elem, "value"),
                None => elem,
            };
            let cond = self.leaf(&leaf, Some(def), cmp)?;
            format!("EXISTS (SELECT 1 FROM {from} WHERE {cond})")
        } else {
            let leaf = match r.sub {
                Some(sub) => self.child(&base, &sub.name),
                None if r.attr.is_complex() => self.child(&base, "value"),
                None => base,
            };
            self.leaf(&leaf, Some(def), cmp)?
        };
        Ok(Some(format!("({seek} AND {exact})")))
    }

    /// What `members.value eq "id"` (Groups) or `groups.value eq "id"` (Users) seeks on
    /// `scim_members`' keys: the folded id. Ids are server-assigned lower-case UUIDs, so
    /// comparing the folded literal with the stored id is the case-insensitive comparison the
    /// schema asks for.
    fn row_target(
        &self,
        r: &ResolvedAttr<'_>,
        cmp: Option<(CompareOp, &CompValue)>,
    ) -> Option<(RowKind, String)> {
        self.tenant.as_ref()?;
        let kind = self.row_kind(r)?;
        let Some((CompareOp::Eq, CompValue::String(lit))) = cmp else {
            return None;
        };
        if r.sub.is_some_and(|s| !s.name.eq_ignore_ascii_case("value")) {
            return None;
        }
        Some((kind, fold(lit, false).into_owned()))
    }

    fn row_subquery(&mut self, kind: RowKind, id: String) -> String {
        let t = self.params.text(self.tenant.clone().unwrap_or_default());
        let v = self.params.text(id);
        match kind {
            RowKind::Members => format!(
                "SELECT ms.group_id FROM scim_members ms WHERE ms.tenant = {t} AND ms.member_id = {v}"
            ),
            RowKind::Groups => format!(
                "SELECT ms.member_id FROM scim_members ms WHERE ms.tenant = {t} AND ms.group_id = {v}"
            ),
        }
    }

    fn row_seek(
        &mut self,
        r: &ResolvedAttr<'_>,
        cmp: Option<(CompareOp, &CompValue)>,
    ) -> Option<String> {
        let (kind, id) = self.row_target(r, cmp)?;
        let sub = self.row_subquery(kind, id);
        Some(self.id_in(&sub))
    }

    /// A subquery of ids that contains every resource `f` matches, built from index seeks, when
    /// there is one: `a or b` seeks both (UNION), `a and b` either. Used to give a filter
    /// whose top is an `or` an access path (planners do not turn an `OR` of `IN (subquery)`
    /// terms into index seeks by themselves).
    fn seek_of(&mut self, f: &Filter, depth: usize) -> Option<String> {
        if depth > MAX_SQL_DEPTH {
            return None;
        }
        match f {
            Filter::Compare { path, op, value } => {
                if let Some(v) = id_eq(f) {
                    let p = self.params.text(v);
                    return Some(format!("SELECT {}", self.dialect.sql().exact(p)));
                }
                let r = self.ctx.resolve_attr(path)?;
                let cmp = Some((*op, value));
                if let Some((kind, id)) = self.row_target(&r, cmp) {
                    return Some(self.row_subquery(kind, id));
                }
                let (attr, c, _) = self.index_target(&r, cmp)?;
                Some(self.index_subquery(attr, c))
            }
            Filter::And(a, b) => {
                // Probe without binding: only the side that seeks is rendered.
                if self.seekable(a, depth + 1) {
                    self.seek_of(a, depth + 1)
                } else if self.seekable(b, depth + 1) {
                    self.seek_of(b, depth + 1)
                } else {
                    None
                }
            }
            Filter::Or(..) => {
                let operands = or_operands(f);
                if !operands.iter().all(|o| self.seekable(o, depth + 1)) {
                    return None;
                }
                let seeks = operands
                    .into_iter()
                    .map(|o| self.seek_of(o, depth + 1))
                    .collect::<Option<Vec<_>>>()?;
                Some(union_of(seeks))
            }
            Filter::ValuePath { path, filter } => {
                let lifted = lift(path, filter, depth + 1)?;
                if !self.seekable(&lifted, depth + 1) {
                    return None;
                }
                self.seek_of(&lifted, depth + 1)
            }
            _ => None,
        }
    }

    /// Whether `f` is one comparison whose seek finds exactly its matches (no case-exact
    /// re-check needed).
    fn exact_seek(&self, f: &Filter) -> bool {
        let Filter::Compare { path, op, value } = f else {
            return false;
        };
        if id_eq(f).is_some() {
            return true;
        }
        let Some(r) = self.ctx.resolve_attr(path) else {
            return false;
        };
        let cmp = Some((*op, value));
        self.row_target(&r, cmp).is_some()
            || self
                .index_target(&r, cmp)
                .is_some_and(|(_, _, case_exact)| !case_exact)
    }

    /// Whether [`Self::seek_of`] finds a seek for `f` (binds nothing).
    fn seekable(&self, f: &Filter, depth: usize) -> bool {
        if depth > MAX_SQL_DEPTH {
            return false;
        }
        match f {
            Filter::Compare { path, op, value } => {
                if id_eq(f).is_some() {
                    return true;
                }
                let Some(r) = self.ctx.resolve_attr(path) else {
                    return false;
                };
                let cmp = Some((*op, value));
                self.row_target(&r, cmp).is_some() || self.index_target(&r, cmp).is_some()
            }
            Filter::And(a, b) => self.seekable(a, depth + 1) || self.seekable(b, depth + 1),
            Filter::Or(..) => or_operands(f)
                .into_iter()
                .all(|o| self.seekable(o, depth + 1)),
            Filter::ValuePath { path, filter } => {
                lift(path, filter, depth + 1).is_some_and(|l| self.seekable(&l, depth + 1))
            }
            _ => false,
        }
    }

    /// `r.id` among the ids a subquery returns, written so that each dialect's planner runs
    /// the subquery first and then seeks the primary key: PostgreSQL evaluates `ARRAY(…)` once
    /// as an init plan and uses `= ANY` as an index condition whatever its statistics say.
    fn id_in(&self, subquery: &str) -> String {
        self.dialect.sql().id_in(subquery)
    }

    /// `id eq "a" or id eq "b" or …` as one `r.id IN (…)`: `id` is case-exact, so the
    /// comparison is plain equality on the primary key.
    fn id_list(&mut self, operands: &[&Filter]) -> Option<String> {
        let ids: Vec<&str> = operands.iter().map(|o| id_eq(o)).collect::<Option<_>>()?;
        let list: Vec<String> = ids.into_iter().map(|v| self.params.text(v)).collect();
        Some(format!("r.id IN ({})", list.join(", ")))
    }

    // ----- typed accessors -----

    fn type_is(&self, loc: &Loc, sqlite: &[&str], pg: &str) -> String {
        match loc {
            Loc::SqlitePath { json, path } => {
                let list = sqlite
                    .iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("COALESCE(json_type({json}, {path}) IN ({list}), 0)")
            }
            Loc::SqliteEach { alias } => {
                let list = sqlite
                    .iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("COALESCE({alias}.type IN ({list}), 0)")
            }
            Loc::Pg(e) => format!("COALESCE(jsonb_typeof({e}) = '{pg}', FALSE)"),
            Loc::Column(c) => {
                if pg == "string" {
                    format!("({c} IS NOT NULL)")
                } else {
                    FALSE.to_string()
                }
            }
        }
    }

    fn text_of(&self, loc: &Loc) -> String {
        match loc {
            Loc::SqlitePath { json, path } => format!("json_extract({json}, {path})"),
            Loc::SqliteEach { alias } => format!("{alias}.value"),
            Loc::Pg(e) => format!("({e} #>> '{{}}')"),
            Loc::Column(c) => c.clone(),
        }
    }

    fn folded(&self, expr: String, case_exact: bool) -> String {
        if case_exact {
            self.dialect.sql().exact(expr)
        } else {
            self.dialect.sql().fold(expr)
        }
    }

    fn leaf(
        &mut self,
        loc: &Loc,
        def: Option<&AttributeDef>,
        cmp: Option<(CompareOp, &CompValue)>,
    ) -> ScimResult<String> {
        let Some((op, value)) = cmp else {
            return Ok(self.present(loc));
        };
        let kind = def.map(|d| d.kind);
        let case_exact = def.map(|d| d.case_exact).unwrap_or(false);
        Ok(match value {
            CompValue::Null => FALSE.to_string(),
            CompValue::String(s) => {
                let is_str = self.type_is(loc, &["text"], "string");
                let mut alt = String::new();
                if op == CompareOp::Eq
                    && (s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"))
                {
                    // Identity-provider tolerance: `primary eq "True"` against a boolean.
                    let b = s.eq_ignore_ascii_case("true");
                    alt = format!(
                        " OR {}",
                        self.type_is(loc, &[if b { "true" } else { "false" }], "boolean")
                    );
                    if let Loc::Pg(e) = loc {
                        alt = format!(" OR COALESCE({e} = '{b}'::jsonb, FALSE)");
                    }
                }
                let text = self.text_of(loc);
                let cmp_sql = if kind == Some(AttributeType::DateTime)
                    && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
                    && scim_core::filter::parse_datetime(s).is_some()
                {
                    self.datetime_cmp(loc, &text, op, s)
                } else if matches!(kind, Some(AttributeType::Boolean | AttributeType::Binary))
                    && op.is_ordering()
                {
                    FALSE.to_string()
                } else {
                    self.string_cmp(&text, op, s, case_exact)
                };
                format!("(({is_str} AND {cmp_sql}){alt})")
            }
            CompValue::Bool(b) => {
                if op != CompareOp::Eq {
                    return Ok(FALSE.to_string());
                }
                let as_bool = match loc {
                    Loc::Pg(e) => format!("COALESCE({e} = '{b}'::jsonb, FALSE)"),
                    _ => self.type_is(loc, &[if *b { "true" } else { "false" }], "boolean"),
                };
                // A string "true"/"false" in a Boolean or undefined attribute also matches.
                if def.is_none() || kind == Some(AttributeType::Boolean) {
                    let is_str = self.type_is(loc, &["text"], "string");
                    let text = self.text_of(loc);
                    let lit = self.params.text(if *b { "true" } else { "false" });
                    format!("({as_bool} OR ({is_str} AND lower({text}) = {lit}))")
                } else {
                    as_bool
                }
            }
            CompValue::Number(n) => {
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                    return Ok(FALSE.to_string());
                }
                let sym = op_symbol(op);
                match loc {
                    Loc::Pg(e) => {
                        let p = self.params.text(n.to_string());
                        format!("(CASE WHEN jsonb_typeof({e}) = 'number' THEN ({e} #>> '{{}}')::numeric {sym} ({p})::numeric ELSE FALSE END)")
                    }
                    Loc::Column(_) => FALSE.to_string(),
                    _ => {
                        let is_num = self.type_is(loc, &["integer", "real"], "number");
                        let val = self.text_of(loc);
                        let p = match (n.as_i64(), n.as_f64()) {
                            (Some(i), _) => self.params.push(SqlValue::Int(i)),
                            (None, Some(f)) => self.params.push(SqlValue::Float(f)),
                            _ => return Ok(FALSE.to_string()),
                        };
                        format!("({is_num} AND {val} {sym} {p})")
                    }
                }
            }
        })
    }

    fn string_cmp(&mut self, text: &str, op: CompareOp, lit: &str, case_exact: bool) -> String {
        let folded_lit = fold(lit, case_exact).into_owned();
        let col = self.folded(text.to_string(), case_exact);
        if lit.is_empty() && matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
            return TRUE.to_string();
        }
        let p = self.params.text(folded_lit);
        let d = self.dialect.sql();
        match op {
            CompareOp::Co => d.contains(&col, &p),
            CompareOp::Sw => d.starts_with(&col, &p),
            CompareOp::Ew => d.ends_with(&col, &p),
            op => d.compare(&col, op_symbol(op), &p),
        }
    }

    fn datetime_cmp(&mut self, loc: &Loc, text: &str, op: CompareOp, lit: &str) -> String {
        let sym = op_symbol(op);
        let instant = scim_core::filter::parse_datetime(lit).map(|d| d.with_timezone(&chrono::Utc));
        match loc {
            // Our own timestamp columns are fixed-width UTC text: compare as text.
            Loc::Column(_) => {
                use chrono::Timelike;
                // Stored times have microseconds; a literal with a finer part lies strictly
                // between two of them: never equal, `>` / `>=` mean "after its microsecond",
                // `<` / `<=` mean "at or before it".
                let finer = instant.is_some_and(|t| t.nanosecond() % 1000 != 0);
                let sym = match (finer, op) {
                    (false, _) => sym,
                    (true, CompareOp::Eq) => return FALSE.to_string(),
                    (true, CompareOp::Gt | CompareOp::Ge) => ">",
                    (true, _) => "<=",
                };
                let p = self
                    .params
                    .text(instant.map(timestamp_text).unwrap_or_default());
                let d = self.dialect.sql();
                format!("{} {sym} {}", d.exact(text.to_string()), d.exact(p))
            }
            _ => {
                let p = self.params.text(lit);
                self.dialect.sql().datetime_compare(text, sym, &p)
            }
        }
    }

    /// `pr`: not null, "", [] or {} (an object or array counts when one of its members does).
    fn present(&mut self, loc: &Loc) -> String {
        match loc {
            Loc::Column(c) => format!("({c} IS NOT NULL AND {c} <> '')"),
            Loc::Pg(e) => format!(
                "(CASE WHEN {e} IS NULL THEN FALSE ELSE CASE jsonb_typeof({e}) WHEN 'string' THEN ({e} #>> '{{}}') <> '' \
                 WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({e}) pa(v) WHERE jsonb_typeof(pa.v) <> 'null' AND pa.v <> '\"\"'::jsonb AND pa.v <> '[]'::jsonb AND pa.v <> '{{}}'::jsonb) \
                 WHEN 'object' THEN EXISTS (SELECT 1 FROM jsonb_each({e}) po(k, v) WHERE jsonb_typeof(po.v) <> 'null' AND po.v <> '\"\"'::jsonb AND po.v <> '[]'::jsonb AND po.v <> '{{}}'::jsonb) \
                 WHEN 'null' THEN FALSE ELSE TRUE END END)"
            ),
            Loc::SqlitePath { json, path } => {
                let a = self.alias("p");
                format!(
                    "(CASE WHEN json_type({json}, {path}) IS NULL THEN 0 ELSE CASE json_type({json}, {path}) WHEN 'text' THEN json_extract({json}, {path}) <> '' \
                     WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each({json}, {path}) {a} WHERE {a}.type <> 'null' AND NOT ({a}.type = 'text' AND {a}.value = '') AND NOT ({a}.type IN ('array', 'object') AND {a}.value IN ('[]', '{{}}'))) \
                     WHEN 'object' THEN EXISTS (SELECT 1 FROM json_each({json}, {path}) {a} WHERE {a}.type <> 'null' AND NOT ({a}.type = 'text' AND {a}.value = '') AND NOT ({a}.type IN ('array', 'object') AND {a}.value IN ('[]', '{{}}'))) \
                     WHEN 'null' THEN 0 ELSE 1 END END)"
                )
            }
            Loc::SqliteEach { alias } => {
                let a = self.alias("p");
                format!(
                    "(CASE {alias}.type WHEN 'text' THEN {alias}.value <> '' \
                     WHEN 'null' THEN 0 \
                     WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each({alias}.value) {a} WHERE {a}.type <> 'null' AND NOT ({a}.type = 'text' AND {a}.value = '') AND NOT ({a}.type IN ('array', 'object') AND {a}.value IN ('[]', '{{}}'))) \
                     WHEN 'object' THEN EXISTS (SELECT 1 FROM json_each({alias}.value) {a} WHERE {a}.type <> 'null' AND NOT ({a}.type = 'text' AND {a}.value = '') AND NOT ({a}.type IN ('array', 'object') AND {a}.value IN ('[]', '{{}}'))) \
                     ELSE 1 END)"
                )
            }
        }
    }

    /// The `ORDER BY` clause for `sortBy` (RFC 7644 §3.4.2.3): missing values last when
    /// ascending, type-aware comparison, `id` as the tie-breaker.
    pub fn order_by(&mut self, sort_by: Option<&AttrPath>, order: SortOrder) -> ScimResult<String> {
        let Some(path) = sort_by else {
            return Ok("r.id ASC".into());
        };
        let Some(expr) = self.sort_expr(path) else {
            return Err(ScimError::invalid_value(format!("cannot sort by {path}")));
        };
        let dir = if order == SortOrder::Descending {
            "DESC"
        } else {
            "ASC"
        };
        // NULLs last when ascending, first when descending (the reverse order).
        Ok(format!(
            "(({expr}) IS NULL) {dir}, ({expr}) {dir}, r.id ASC"
        ))
    }

    fn sort_expr(&mut self, path: &AttrPath) -> Option<String> {
        let r = self.ctx.resolve_attr(path)?;
        if r.schema.is_none() {
            return match (r.attr.name.as_str(), r.sub.map(|s| s.name.as_str())) {
                ("id", _) => Some(self.sort_text("r.id".into(), true)),
                ("meta", Some("created")) => Some(self.sort_text("r.created".into(), true)),
                ("meta", Some("lastModified")) => {
                    Some(self.sort_text("r.last_modified".into(), true))
                }
                ("meta", Some("version")) => {
                    let v = self.version_text();
                    Some(self.sort_text(v, true))
                }
                ("meta", Some("location")) => {
                    let l = self.location_text();
                    Some(self.sort_text(l, true))
                }
                ("meta", Some("resourceType")) => Some("1".into()),
                ("externalId", _) => {
                    let base = self.base_loc(&r);
                    Some(self.typed_sort(&base, r.attr))
                }
                _ => None,
            };
        }
        if let Some(kind) = self.row_kind(&r) {
            // The first row, in the order rows are rendered (no row is primary).
            let sub = r.sub.or_else(|| r.attr.sub_attribute("value"))?;
            let a = self.alias("s");
            let col = self.row_column(kind, &a, &sub.name)?;
            let col = self.sort_text(col, sub.case_exact);
            return Some(match kind {
                RowKind::Members => format!(
                    "(SELECT {col} FROM scim_members {a} WHERE {a}.tenant = r.tenant AND {a}.group_id = r.id ORDER BY {a}.member_id LIMIT 1)"
                ),
                RowKind::Groups => format!(
                    "(SELECT {col} FROM scim_members {a} JOIN scim_resources {a}g ON {a}g.tenant = {a}.tenant AND {a}g.resource_type = 'Group' AND {a}g.id = {a}.group_id WHERE {a}.tenant = r.tenant AND {a}.member_id = r.id ORDER BY {a}.group_id LIMIT 1)"
                ),
            });
        }
        let base = self.base_loc(&r);
        if !r.attr.multi_valued {
            return Some(match r.sub {
                Some(sub) => {
                    let l = self.child(&base, &sub.name);
                    self.typed_sort(&l, sub)
                }
                None if r.attr.is_complex() => {
                    let sub = r.attr.sub_attribute("value")?;
                    let l = self.child(&base, "value");
                    self.typed_sort(&l, sub)
                }
                None => self.typed_sort(&base, r.attr),
            });
        }
        // Multi-valued: the primary value, else the first.
        let (from, elem) = self.each(&base);
        let (leaf, def) = match r.sub {
            Some(sub) => (self.child(&elem, &sub.name), sub),
            None if r.attr.is_complex() => {
                (self.child(&elem, "value"), r.attr.sub_attribute("value")?)
            }
            None => (elem.clone(), r.attr),
        };
        let value = self.typed_sort(&leaf, def);
        let primary = self.child(&elem, "primary");
        let is_primary = match &primary {
            Loc::Pg(e) => format!("COALESCE({e} = 'true'::jsonb, FALSE)"),
            other => self.type_is(other, &["true"], "boolean"),
        };
        let key = match &elem {
            Loc::SqliteEach { alias } => format!("{alias}.key"),
            _ => "1".into(),
        };
        Some(match self.dialect {
            Dialect::Sqlite => format!(
                "(SELECT {value} FROM {from} ORDER BY {is_primary} DESC, {key} ASC LIMIT 1)"
            ),
            Dialect::Postgres => {
                let alias = match &elem {
                    Loc::Pg(e) => e.trim_end_matches(".v").to_string(),
                    _ => String::new(),
                };
                format!("(SELECT {value} FROM {from} ORDER BY {is_primary} DESC, {alias}.ord ASC LIMIT 1)")
            }
        })
    }

    fn sort_text(&self, expr: String, case_exact: bool) -> String {
        self.folded(expr, case_exact)
    }

    fn typed_sort(&self, loc: &Loc, def: &AttributeDef) -> String {
        match (self.dialect, def.kind, loc) {
            (_, _, Loc::Column(c)) => self.sort_text(c.clone(), def.case_exact),
            (Dialect::Sqlite, AttributeType::DateTime, _) => {
                format!("strftime('%Y-%m-%dT%H:%M:%f', {})", self.text_of(loc))
            }
            (
                Dialect::Sqlite,
                AttributeType::Integer | AttributeType::Decimal | AttributeType::Boolean,
                _,
            ) => self.text_of(loc),
            (Dialect::Sqlite, _, _) => {
                let is_str = self.type_is(loc, &["text"], "string");
                format!(
                    "CASE WHEN {is_str} THEN {} END",
                    self.folded(self.text_of(loc), def.case_exact)
                )
            }
            (Dialect::Postgres, AttributeType::Integer | AttributeType::Decimal, Loc::Pg(e)) => {
                format!("CASE WHEN jsonb_typeof({e}) = 'number' THEN ({e} #>> '{{}}')::numeric END")
            }
            (Dialect::Postgres, AttributeType::Boolean, Loc::Pg(e)) => {
                format!("CASE WHEN jsonb_typeof({e}) = 'boolean' THEN ({e} #>> '{{}}') END")
            }
            (Dialect::Postgres, AttributeType::DateTime, Loc::Pg(e)) => {
                format!(
                    "CASE WHEN jsonb_typeof({e}) = 'string' THEN ({e} #>> '{{}}')::timestamptz END"
                )
            }
            (Dialect::Postgres, _, Loc::Pg(e)) => format!(
                "CASE WHEN jsonb_typeof({e}) = 'string' THEN {} END",
                self.folded(format!("({e} #>> '{{}}')"), def.case_exact)
            ),
            _ => "NULL".into(),
        }
    }
}

fn op_symbol(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "=",
    }
}

/// The select list of a page: with the current body key, rows whose stored body is current
/// come without their data (it is neither transferred nor decoded, see [`super::body`]).
pub fn page_columns(dialect: Dialect, p: &mut Params, key: Option<&str>) -> String {
    let data = data_column(dialect);
    let data = match key {
        Some(k) => format!(
            "CASE WHEN r.body_key = {} AND r.body IS NOT NULL THEN NULL ELSE {data} END",
            p.text(k)
        ),
        None => data.to_string(),
    };
    format!(
        "r.id, {data} AS data, r.version, r.created, r.last_modified, \
         r.body_schemas, r.body, r.body_key"
    )
}

/// The `data` column as text.
pub fn data_column(dialect: Dialect) -> &'static str {
    dialect.sql().data_column()
}

/// The `WHERE` condition of a query: tenant, resource type, the translated filter and, with
/// `with_after`, the keyset bound.
pub fn where_clause(
    tr: &mut Translator<'_, '_>,
    tenant: &str,
    ctx: &Context<'_>,
    q: &super::Query,
    with_after: bool,
) -> Result<String, super::StoreError> {
    let t = tr.params.text(tenant);
    let rt = tr.params.text(ctx.resource_type.name.clone());
    let mut w = format!("r.tenant = {t} AND r.resource_type = {rt}");
    if let Some(f) = &q.filter {
        w.push_str(" AND ");
        w.push_str(&tr.filter(f).map_err(super::StoreError::Invalid)?);
    }
    if let Some(after) = q.after_id.as_ref().filter(|_| with_after) {
        let a = tr.params.text(after.clone());
        w.push_str(&format!(" AND r.id > {a}"));
    }
    Ok(w)
}

/// The statement that reads one page of a query, with the select list built by `columns`
/// (which may bind parameters; placeholders are numbered, so their place in the text does not
/// matter).
pub fn page_statement(
    dialect: Dialect,
    tenant: &str,
    ctx: &Context<'_>,
    q: &super::Query,
    columns: impl FnOnce(&mut Params) -> String,
) -> Result<(String, Params), super::StoreError> {
    page_and_count(dialect, tenant, ctx, q, columns).map(|(page, _)| page)
}

/// A statement and its parameters.
pub type Statement = (String, Params);

/// The page statement and the statement counting all the query's matches, from one
/// translation of the filter: the count binds the first parameters of the page's.
pub fn page_and_count(
    dialect: Dialect,
    tenant: &str,
    ctx: &Context<'_>,
    q: &super::Query,
    columns: impl FnOnce(&mut Params) -> String,
) -> Result<(Statement, Statement), super::StoreError> {
    let mut tr = Translator::new(ctx, dialect)
        .with_base(&q.base_url)
        .with_tenant(tenant);
    let mut w = where_clause(&mut tr, tenant, ctx, q, false)?;
    let count = (
        format!("SELECT COUNT(*) AS n FROM scim_resources r WHERE {w}"),
        tr.params.clone(),
    );
    if let Some(after) = &q.after_id {
        let a = tr.params.text(after.clone());
        w.push_str(&format!(" AND r.id > {a}"));
    }
    let order = tr
        .order_by(q.sort_by.as_ref(), q.sort_order)
        .map_err(super::StoreError::Invalid)?;
    let columns = columns(&mut tr.params);
    let lim = tr
        .params
        .push(SqlValue::Int(q.limit.min(i64::MAX as u64) as i64));
    let off = tr
        .params
        .push(SqlValue::Int(q.offset.min(i64::MAX as u64) as i64));
    let sql = format!(
        "SELECT {columns} FROM scim_resources r WHERE {w} ORDER BY {order} LIMIT {lim} OFFSET {off}"
    );
    Ok(((sql, tr.params), count))
}

/// The statement counting a filtered query's matches.
pub fn count_statement(
    dialect: Dialect,
    tenant: &str,
    ctx: &Context<'_>,
    q: &super::Query,
) -> Result<(String, Params), super::StoreError> {
    let mut tr = Translator::new(ctx, dialect)
        .with_base(&q.base_url)
        .with_tenant(tenant);
    let w = where_clause(&mut tr, tenant, ctx, q, false)?;
    Ok((
        format!("SELECT COUNT(*) AS n FROM scim_resources r WHERE {w}"),
        tr.params,
    ))
}
