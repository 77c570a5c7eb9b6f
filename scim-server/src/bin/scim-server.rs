//! `scim-server`: a ready SCIM 2.0 service provider.
//!
//! With no arguments it serves `http://127.0.0.1:8080/scim/v2` on the SQLite file `scim.db` in
//! the working directory. Since no endpoint is ever open without credentials, the first start
//! creates a bearer token and prints it once, with a curl example. See `scim-server --help`.

use clap::Parser;
use scim_server::config::{build, Cli};

// Rendering SCIM JSON allocates many small maps and strings: mimalloc serves them markedly
// faster than the system allocator (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    if cli.log_format == "json" {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let built = match build(&cli).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("scim-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("scim-server: cannot listen on {}: {e}", cli.listen);
            return std::process::ExitCode::from(2);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| cli.listen.to_string());
    let base = format!("http://{addr}{}", cli.base_path.trim_end_matches('/'));
    println!("SCIM 2.0 endpoint: {base}");
    match &built.new_token {
        Some(t) => {
            println!("Created a bearer token for tenant \"default\" (shown once; only its hash is stored):");
            println!();
            println!("    {t}");
            println!();
            println!("Try it:");
            println!("    curl -H 'Authorization: Bearer {t}' {base}/Users");
        }
        None => println!("Using the configured or previously created bearer tokens."),
    }
    let shutdown = async {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                s.recv().await;
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
        tracing::info!("shutting down: finishing requests in flight");
    };
    // In-flight requests complete (their writes are committed) before the process exits.
    let result = axum::serve(listener, built.app)
        .with_graceful_shutdown(shutdown)
        .await;
    built.store.close().await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scim-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
