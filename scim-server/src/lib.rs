//! # scim-server
//!
//! A SCIM 2.0 service provider (RFC 7643, RFC 7644, RFC 9865 cursors) for axum: mount
//! [`router`] into any app, or run the `scim-server` binary. Storage is SQL: embedded SQLite by
//! default, PostgreSQL for production and scale-out (any number of stateless server processes
//! sharing one database).
//!
//! ```no_run
//! use std::sync::Arc;
//! use scim_server::{router, Settings, ScimState, SqlStore, TokenAuthenticator};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(SqlStore::connect("sqlite://scim.db").await?);
//! let auth = Arc::new(TokenAuthenticator::new(&[("s3cret".into(), "default".into())], Some(store.clone())));
//! let state = ScimState::new(store, auth, Settings::default());
//! let app: axum::Router = axum::Router::new().nest("/scim/v2", router(state));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! ## Layout
//!
//! A request goes down one path: [`routes`] (parse, authorise, call, render: request
//! extraction in `routes/request.rs`, response headers in `routes/response.rs`) →
//! [`service`] (what a create, replace, PATCH, delete or search means: members, passwords,
//! versions, change events; shared by the single-resource routes and `/Bulk`) → [`store`]
//! (rows: the native SQLite and PostgreSQL stores, laid out alike, and the filter translation
//! to SQL).
//! [`render`] writes stored resources as SCIM JSON; [`auth`], [`audit`] and [`observe`] wrap
//! every request.

pub mod audit;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod error;
pub mod jwks;
pub mod observe;
pub mod render;
pub mod routes;
pub mod service;
pub mod state;
pub mod store;

pub use auth::{Authenticator, JwtAuthenticator, Principal, TokenAuthenticator};
pub use routes::router;
pub use state::{ChangeEvent, ChangeHook, ChangeKind, ScimState, Settings};
pub use store::{SqlStore, Store, StoreError};
