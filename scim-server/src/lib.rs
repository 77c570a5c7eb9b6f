//! SCIM 2.0 service provider (axum routes and storage). Filled in by the scim-server issue.
