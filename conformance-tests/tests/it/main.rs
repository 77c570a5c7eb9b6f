//! Integration tests of the conformance suite: against our own server (SQLite and PostgreSQL),
//! against deliberately broken servers, the binary, the HTML report in Chromium, and the Python
//! reference server scim2-server.

mod broken;
mod cli;
mod html;
mod interrupt;
mod own_server;
mod scim2;
mod support;
mod third_party;
