//! scim-core integration tests: one binary, one module per area.

mod filters;
mod patch_interop;
mod patch_table;
mod props;
mod rfc_corpus;
