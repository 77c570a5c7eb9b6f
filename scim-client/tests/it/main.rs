//! scim-client tests over real HTTP: against the project's own server, and against mock
//! servers (real sockets on 127.0.0.1) that misbehave the way real targets do.

mod hardening;
mod interop;
mod mock;
mod own_server;
mod provision;
mod provision_cli;
