//! The checks, one module per area. Ids are stable: a check that changes meaning gets a new id.

use crate::model::Check;

/// Defines a check: `check!(id, section, Level, [needs…], title, |cx| { body })`.
macro_rules! check {
    ($id:literal, $sec:literal, $lvl:ident, [$($needs:expr),*], $title:literal, |$cx:ident| $body:block) => {{
        #[allow(unused_variables)]
        async fn body($cx: &$crate::cx::Cx) -> $crate::model::Verdict $body
        fn run<'a>(cx: &'a $crate::cx::Cx) -> $crate::model::BoxFut<'a> {
            Box::pin(body(cx))
        }
        $crate::model::Check {
            id: $id,
            area: "",
            section: $sec,
            level: $crate::model::Level::$lvl,
            needs: &[$($needs),*],
            title: $title,
            run,
        }
    }};
    ($id:literal, $sec:literal, $lvl:ident, [$($needs:expr),*], $title:literal, |$cx:ident| $body:expr) => {
        check!($id, $sec, $lvl, [$($needs),*], $title, |$cx| { $body })
    };
}

mod bulk;
mod discovery;
mod errors;
mod etag;
pub(crate) mod filter;
mod groups;
mod interop;
mod patch;
mod projection;
mod query;
mod schema;
mod search;
mod users;

fn area(name: &'static str, checks: Vec<Check>) -> Vec<Check> {
    checks
        .into_iter()
        .map(|mut c| {
            c.area = name;
            c
        })
        .collect()
}

/// Every check, in run order.
pub fn all() -> Vec<Check> {
    let mut v = Vec::new();
    v.extend(area("discovery", discovery::checks()));
    v.extend(area("users", users::checks()));
    v.extend(area("groups", groups::checks()));
    v.extend(area("schema", schema::checks()));
    v.extend(area("errors", errors::checks()));
    v.extend(area("filter", filter::checks()));
    v.extend(area("query", query::checks()));
    v.extend(area("projection", projection::checks()));
    v.extend(area("patch", patch::checks()));
    v.extend(area("etag", etag::checks()));
    v.extend(area("bulk", bulk::checks()));
    v.extend(area("search", search::checks()));
    v.extend(area("interop", interop::checks()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let all = all();
        let mut seen = HashSet::new();
        for c in &all {
            assert!(seen.insert(c.id), "duplicate check id {}", c.id);
            assert!(
                c.id.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'),
                "id {} must be lower-case words joined by '-'",
                c.id
            );
            assert!(
                c.section.starts_with("RFC "),
                "{}: section {}",
                c.id,
                c.section
            );
            assert!(!c.area.is_empty());
        }
        assert!(all.len() >= 150, "only {} checks", all.len());
    }
}
