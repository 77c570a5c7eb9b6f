//! # scim-client
//!
//! A typed async SCIM 2.0 client (RFC 7643, RFC 7644, RFC 9865) for services that implement
//! SCIM imperfectly: it retries throttling (`429`/`503` with `Retry-After`, and `500`s whose body
//! says "rate limit") with exponential backoff and jitter, limits its own rate and
//! concurrency, never blindly repeats a POST, follows index or cursor pages as a `Stream` with a
//! guard against pages that never advance, and keeps the service's error body whatever its
//! format.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use scim_client::{Client, ListQuery};
//! use scim_core::{Filter, User};
//!
//! # async fn run() -> Result<(), scim_client::Error> {
//! let client = Client::builder("https://example.com/scim/v2")
//!     .bearer_token("token")
//!     .rate_limit(10.0, 20)
//!     .build()?;
//! let alice: User = client.create("Users", &User::new("alice@example.com")).await?;
//! let found: Vec<User> = client
//!     .list_all("Users", ListQuery::new().filter(Filter::eq("userName", "alice@example.com")))
//!     .try_collect()
//!     .await?;
//! assert_eq!(found[0].id, alice.id);
//! # Ok(()) }
//! ```

mod client;
pub mod error;
pub mod profile;
pub mod retry;

pub use client::{Auth, Capabilities, Client, ClientBuilder, ListQuery, OAuth2, RawResponse};
pub use error::{Error, Result};
pub use profile::Profile;
pub use retry::RetryPolicy;
