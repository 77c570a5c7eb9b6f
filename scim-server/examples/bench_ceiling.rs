//! The ceiling of the load benchmark (`scripts/bench-load.sh`): a bare axum server that answers
//! every request, whatever its method and path, with one fixed SCIM body read from a file. A
//! SCIM server cannot be faster than this on the same machine, so each figure of the benchmark
//! is reported as a ratio to it.
//!
//! ```sh
//! cargo run --release -p scim-server --example bench_ceiling -- 127.0.0.1:18099 body.json 200
//! ```

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Router;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18099".into());
    let body_file = args
        .next()
        .expect("usage: bench_ceiling LISTEN BODY_FILE [STATUS]");
    let status = args
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let body: &'static [u8] = Box::leak(
        std::fs::read(&body_file)
            .expect("read the body file")
            .into_boxed_slice(),
    );
    let app = Router::new().fallback(move || async move {
        (
            status,
            [(header::CONTENT_TYPE, "application/scim+json")],
            body,
        )
            .into_response()
    });
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
