//! Typed async SCIM 2.0 client and provisioning engine. Filled in by the scim-client issue.
