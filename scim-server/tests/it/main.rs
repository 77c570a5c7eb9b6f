//! scim-server integration tests over real HTTP, run against SQLite and PostgreSQL.

mod support;

mod access;
mod api;
mod bulk;
mod concurrency;
mod differential;
mod durability;
mod hardening;
mod host;
mod integrity;
mod observe;
mod pg_native;
mod plans;
mod rendered;
mod replay;
mod store_contract;
mod tenancy;
