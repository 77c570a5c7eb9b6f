//! List queries (RFC 7644 §3.4.2), `.search` (§3.4.3) and the `list_all` stream over index or
//! RFC 9865 cursor pages.

use futures::Stream;
use reqwest::Method;
use scim_core::{ListResponse, SearchRequest, SortOrder};
use serde::de::DeserializeOwned;

use super::{form_params, to_body, Client};
use crate::error::{Error, Result};

/// Query parameters of a list request (RFC 7644 §3.4.2).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ListQuery {
    /// Filter.
    pub filter: Option<String>,
    /// Attributes to return.
    pub attributes: Vec<String>,
    /// Attributes to leave out.
    pub excluded_attributes: Vec<String>,
    /// Sort attribute.
    pub sort_by: Option<String>,
    /// Sort direction.
    pub sort_order: Option<SortOrder>,
    /// 1-based start index.
    pub start_index: Option<u64>,
    /// Page size.
    pub count: Option<u64>,
    /// RFC 9865 cursor; `Some("")` starts cursor paging.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// An empty query.
    pub fn new() -> Self {
        ListQuery::default()
    }
    /// Builder: filter (use [`scim_core::Filter`] to build one with correct escaping).
    pub fn filter(mut self, f: impl ToString) -> Self {
        self.filter = Some(f.to_string());
        self
    }
    /// Builder: page size.
    pub fn count(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }
    /// Builder: attributes.
    pub fn attributes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.attributes = a.into_iter().map(Into::into).collect();
        self
    }
    /// Builder: excluded attributes.
    pub fn excluded_attributes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.excluded_attributes = a.into_iter().map(Into::into).collect();
        self
    }
    /// Builder: sorting.
    pub fn sort(mut self, by: impl Into<String>, order: SortOrder) -> Self {
        self.sort_by = Some(by.into());
        self.sort_order = Some(order);
        self
    }
    /// Builder: start cursor paging (RFC 9865).
    pub fn with_cursor(mut self) -> Self {
        self.cursor = Some(String::new());
        self
    }

    pub(super) fn to_query_string(&self) -> String {
        let mut s = form_params(&[
            ("filter", self.filter.clone()),
            (
                "attributes",
                (!self.attributes.is_empty()).then(|| self.attributes.join(",")),
            ),
            (
                "excludedAttributes",
                (!self.excluded_attributes.is_empty()).then(|| self.excluded_attributes.join(",")),
            ),
            ("sortBy", self.sort_by.clone()),
            (
                "sortOrder",
                self.sort_order.map(|o| {
                    if o == SortOrder::Descending {
                        "descending".into()
                    } else {
                        "ascending".into()
                    }
                }),
            ),
            ("startIndex", self.start_index.map(|n| n.to_string())),
            ("count", self.count.map(|n| n.to_string())),
            ("cursor", self.cursor.clone()),
        ]);
        if !s.is_empty() {
            s.insert(0, '?');
        }
        s
    }
}

impl Client {
    /// `GET /{endpoint}?…`: one page.
    pub async fn list<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        q: &ListQuery,
    ) -> Result<ListResponse<T>> {
        self.json(
            Method::GET,
            &format!("{}{}", Self::endpoint(endpoint), q.to_query_string()),
            None,
            &[],
            true,
        )
        .await
    }

    /// `GET /{endpoint}?…`: one page, as the response body's text, for callers that decode
    /// pages their own way (the provisioning engine decodes users straight into compact records).
    pub async fn list_text(&self, endpoint: &str, q: &ListQuery) -> Result<String> {
        let r = self
            .send(
                Method::GET,
                &format!("{}{}", Self::endpoint(endpoint), q.to_query_string()),
                None,
                &[],
                true,
            )
            .await?;
        Ok(r.body)
    }

    /// `POST /{endpoint}/.search` (RFC 7644 §3.4.3): one page.
    pub async fn search<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        req: &SearchRequest,
    ) -> Result<ListResponse<T>> {
        let body = to_body(req)?;
        self.json(
            Method::POST,
            &format!("{}/.search", Self::endpoint(endpoint)),
            Some(&body),
            &[],
            true,
        )
        .await
    }

    /// Every resource matching `q`, page by page, as a stream. Index paging steps `startIndex`
    /// by the page size; cursor paging (`q.cursor = Some("")`) follows `nextCursor`. A page
    /// that does not advance (the same cursor again, or an empty page before `totalResults`
    /// is reached) ends the stream with [`Error::Pagination`] instead of looping.
    pub fn list_all<T: DeserializeOwned + Send + 'static>(
        &self,
        endpoint: &str,
        q: ListQuery,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        struct St<T> {
            client: Client,
            endpoint: String,
            q: ListQuery,
            buf: std::collections::VecDeque<T>,
            seen: u64,
            done: bool,
            cursors: std::collections::HashSet<String>,
        }
        // Page size and style from the profile when the caller did not choose.
        let mut q = q;
        if q.count.is_none() {
            q.count = Some(self.inner.profile.max_page_size());
        }
        if q.cursor.is_none()
            && q.start_index.is_none()
            && self.inner.profile.paging() == crate::profile::Paging::Cursor
        {
            q.cursor = Some(String::new());
        }
        let start = St::<T> {
            client: self.clone(),
            endpoint: endpoint.to_string(),
            q: ListQuery {
                start_index: if q.cursor.is_none() {
                    Some(q.start_index.unwrap_or(1))
                } else {
                    None
                },
                ..q
            },
            buf: Default::default(),
            seen: 0,
            done: false,
            cursors: Default::default(),
        };
        futures::stream::unfold(start, |mut st| async move {
            loop {
                if let Some(item) = st.buf.pop_front() {
                    return Some((Ok(item), st));
                }
                if st.done {
                    return None;
                }
                let page: ListResponse<T> = match st.client.list(&st.endpoint, &st.q).await {
                    Ok(p) => p,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                };
                let n = page.resources.len() as u64;
                st.seen += n;
                st.buf.extend(page.resources);
                if st.q.cursor.is_some() {
                    match page.next_cursor {
                        Some(c) if !c.is_empty() => {
                            if !st.cursors.insert(c.clone()) {
                                st.done = true;
                                return Some((
                                    Err(Error::Pagination(format!(
                                        "the service returned cursor {c:?} twice"
                                    ))),
                                    st,
                                ));
                            }
                            st.q.cursor = Some(c);
                        }
                        _ => st.done = true,
                    }
                } else {
                    let total = page.total_results;
                    if st.seen >= total {
                        st.done = true;
                    } else if n == 0 {
                        st.done = true;
                        return Some((
                            Err(Error::Pagination(format!(
                                "empty page at startIndex {} before totalResults {total} was reached",
                                st.q.start_index.unwrap_or(1)
                            ))),
                            st,
                        ));
                    } else {
                        st.q.start_index = Some(st.q.start_index.unwrap_or(1) + n);
                    }
                }
            }
        })
    }
}
