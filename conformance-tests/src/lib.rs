//! A SCIM 2.0 conformance suite runnable against any server. Filled in by a later issue.
