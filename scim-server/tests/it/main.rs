//! scim-server integration tests over real HTTP, run against SQLite and PostgreSQL.

mod support;

mod api;
mod bulk;
mod concurrency;
mod differential;
mod host;
mod plans;
mod replay;
mod store_contract;
