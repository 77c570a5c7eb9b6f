//! # scim-client
//!
//! A typed async SCIM 2.0 client (RFC 7643, RFC 7644, RFC 9865) for services that implement
//! SCIM imperfectly.
//!
//! ## Connecting
//!
//! [`Client::builder`] takes the service's base URL and one of: a static bearer token, OAuth 2.0
//! client credentials (token cached, refreshed after a `401`; `expires_in` as a number or a
//! string), or any custom header. Timeouts, the `User-Agent`, extra headers and a ready
//! `reqwest::Client` can be set too.
//!
//! ## Safety
//!
//! - Redirects are not followed: a `3xx` answer is [`Error::Redirect`] (status and
//!   `Location`), so credentials, custom API-key headers included, never go to another host
//!   and a redirected POST never becomes a GET reported as success.
//!   [`ClientBuilder::allow_same_host_redirects`] follows redirects to the same scheme, host
//!   and port (307/308 only for methods other than GET and HEAD).
//! - Response bodies are read chunk by chunk up to [`ClientBuilder::max_response_bytes`]
//!   (default 32 MiB); a larger one is [`Error::ResponseTooLarge`], never buffered whole.
//! - Settings are checked by [`ClientBuilder::build`]: a rate limit of 0, a negative or a NaN
//!   one is [`Error::Invalid`], never a panic.
//! - Secrets (bearer tokens, API keys, client secrets, token responses) appear in no `Debug`
//!   output and no error; a failed token request is [`Error::Token`] without the body.
//!
//! ## Resilience
//!
//! - Retries are decided by [`retry::decide`], a pure function of (outcome, `Retry-After`,
//!   attempt, idempotency): `429` and `503` wait for `Retry-After`; other 5xx and transport
//!   failures are retried with exponential backoff and jitter for idempotent requests; a
//!   `500` whose body says "rate limit" counts as throttling.
//! - A POST is never blindly repeated: only `429` (a refusal) is retried as is. After a
//!   timeout, a lost connection, a `503` or another 5xx, [`Client::create`] looks the
//!   resource up (`externalId`, `userName`, group `displayName`), returns it when it is
//!   there, creates it again only when the lookup proves it absent, and else returns the
//!   error; other POSTs sent as not idempotent (`bulk`, [`Client::send`]) are not repeated.
//! - [`ClientBuilder::rate_limit`] / [`ClientBuilder::rate_limit_per_minute`] and
//!   [`ClientBuilder::max_concurrency`] keep the client under a target's limits.
//!
//! ## Operations
//!
//! `create`, `get`, `replace` (with `If-Match`), `patch` (build one with
//! [`scim_core::PatchOp::builder`]), `patch_diff` / `update` (send only what changed; `update`
//! asks `/ServiceProviderConfig` whether to PATCH or PUT and whether to send `If-Match`),
//! `delete`, `list`, `search` (POST `/.search`), `list_all` (a `Stream` over index or RFC 9865
//! cursor pages that stops with [`Error::Pagination`] when a page does not advance), `bulk`
//! (split into the target's `maxOperations`), `add_members` / `remove_members` (split to the
//! target's per-PATCH limits), `deactivate_user` (soft deprovisioning), and discovery.
//! Filters are built with [`scim_core::Filter`], which escapes values.
//!
//! ## Targets
//!
//! [`profile`] describes what a target supports: [`profile::GenericRfc`] (the default),
//! [`profile::EntraId`], [`profile::EntraBulkUpload`], [`profile::Okta`],
//! [`profile::AwsIdentityCenter`], [`profile::Slack`], [`profile::GitHubEmu`], or your own
//! implementation of [`Profile`].
//!
//! ## Errors
//!
//! [`Error`] keeps the HTTP status, the `scimType`, and the raw body even when it is not SCIM;
//! decoding errors name the JSON path (`Resources[3].emails[0].primary`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use futures::TryStreamExt;
//! use scim_client::{profile, Client, ListQuery};
//! use scim_core::{Filter, User};
//!
//! # async fn run() -> Result<(), scim_client::Error> {
//! let client = Client::builder("https://example.com/scim/v2")
//!     .bearer_token("token")
//!     .profile(Arc::new(profile::Okta))?
//!     .rate_limit(10.0, 20)
//!     .build()?;
//! let alice: User = client.create("Users", &User::new("alice@example.com")).await?;
//! let found: Vec<User> = client
//!     .list_all("Users", ListQuery::new().filter(Filter::eq("userName", "alice@example.com")))
//!     .try_collect()
//!     .await?;
//! assert_eq!(found[0].id, alice.id);
//! client.deactivate_user(alice.id.as_deref().unwrap_or_default()).await?;
//! # Ok(()) }
//! ```
//!
//! A runnable example against the project's own server: `scim-client/examples/provision.rs`.
//!
//! ## Provisioning
//!
//! [`provision`] is the engine behind the `scim` command: an HR export (CSV, JSON Lines, or a
//! SCIM server) and a mapping file become a desired state, a plan (joiners, movers, leavers,
//! groups, drift) checked by safety gates, and changes applied through a durable SQLite outbox,
//! with webhook and e-mail notifications and an access review. See the README section
//! "Provision from an HR export".

mod client;
pub mod error;
pub mod profile;
pub mod provision;
pub mod retry;

pub use client::{
    Auth, Capabilities, Client, ClientBuilder, ListQuery, OAuth2, RawResponse, Update,
    DEFAULT_MAX_RESPONSE_BYTES,
};
pub use error::{Error, Result};
pub use profile::Profile;
pub use retry::RetryPolicy;
