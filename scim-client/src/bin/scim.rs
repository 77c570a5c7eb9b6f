//! The `scim` command (work in progress).

fn main() {}
