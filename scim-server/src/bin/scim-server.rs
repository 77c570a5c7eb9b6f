//! `scim-server`: a ready SCIM 2.0 service provider.
//!
//! With no arguments it serves `http://127.0.0.1:8080/scim/v2` on the SQLite file `scim.db` in
//! the working directory. Since no endpoint is ever open without credentials, the first start
//! creates a bearer token and prints it once, with a curl example. See `scim-server --help`.

use clap::Parser;
use scim_server::config::{build, spawn_audit_retention, Cli};

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
        use std::io::IsTerminal;
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stdout().is_terminal())
            .init();
    }
    if let Some(cmd) = &cli.command {
        return match scim_server::config::run_command(&cli, cmd).await {
            Ok(out) => {
                print!("{out}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("scim-server: {e}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("scim-server: cannot listen on {}: {e}", cli.listen);
            return std::process::ExitCode::from(2);
        }
    };
    let mut bound = listener.local_addr().unwrap_or(cli.listen);
    let mut cli = cli;
    if bound.ip().is_unspecified() {
        // Listening on every interface: the only address known for locations is loopback.
        if cli.public_url.is_none() && !cli.trust_forwarded_headers {
            tracing::warn!("listening on all interfaces without --public-url: meta.location will name 127.0.0.1; set --public-url to the address clients use");
        }
        bound.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let base = format!("http://{bound}{}", cli.base_path.trim_end_matches('/'));
    if cli.public_url.is_none() && !cli.trust_forwarded_headers {
        cli.public_url = Some(base.clone());
    }
    let built = match build(&cli).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("scim-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let json_logs = cli.log_format == "json";
    // In JSON log mode stdout carries only log records: the banner becomes one.
    if json_logs {
        tracing::info!(endpoint = %base, "serving SCIM 2.0");
    } else {
        println!("SCIM 2.0 endpoint: {base}");
    }
    match &built.new_token {
        Some(t) => announce_first_token(t, &base, &cli.database_url, json_logs),
        None if json_logs => tracing::info!("using the configured or previously created tokens"),
        None => println!("Using the configured or previously created bearer tokens."),
    }
    spawn_audit_retention(built.store.clone(), cli.audit_retention_days);
    if let Some(addr) = cli.metrics_listen {
        match serve_metrics(addr, built.state.clone()).await {
            Ok(bound) => tracing::info!(address = %bound, "metrics at http://{bound}/metrics"),
            Err(e) => {
                eprintln!("scim-server: cannot serve metrics on {addr}: {e}");
                return std::process::ExitCode::from(2);
            }
        }
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

/// The first-start token goes to the terminal only: to stderr when that is a terminal, else to a
/// file readable by the owner alone, whose path (never the token) is printed or logged.
fn announce_first_token(token: &str, base: &str, database_url: &str, json_logs: bool) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "Created a bearer token for tenant \"default\" (shown once; only its hash is stored):"
        );
        eprintln!();
        eprintln!("    {token}");
        eprintln!();
        eprintln!("Try it:");
        eprintln!("    curl -H 'Authorization: Bearer {token}' {base}/Users");
        if !json_logs {
            println!("The first-start token was shown on the terminal (stderr).");
        }
        return;
    }
    let dir = database_url
        .strip_prefix("sqlite://")
        .map(std::path::Path::new)
        .and_then(|p| p.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let path = dir.join("scim-first-token");
    match write_private(&path, token) {
        Ok(()) if json_logs => {
            tracing::info!(token_file = %path.display(), "created a bearer token for tenant \"default\"; read it from the file, then delete the file")
        }
        Ok(()) => {
            println!("Created a bearer token for tenant \"default\" (only its hash is stored).");
            println!(
                "First-start token file: {} (mode 0600; delete it once read)",
                path.display()
            );
            println!("Try it:");
            println!(
                "    curl -H \"Authorization: Bearer $(cat {})\" {base}/Users",
                path.display()
            );
        }
        Err(e) => {
            // Nowhere private to put it: say so rather than print a secret into a log.
            tracing::error!(path = %path.display(), error = %e, "cannot write the first-start token; restart with --token");
        }
    }
}

fn write_private(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(f, "{token}")?;
    f.sync_all()
}

/// Serves `/metrics` on its own listener with a Prometheus recorder installed for the process.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    state: scim_server::ScimState,
) -> Result<std::net::SocketAddr, String> {
    use metrics_exporter_prometheus::Matcher;
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("scim_request_duration_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ],
        )
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| e.to_string())?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let app = scim_server::config::metrics_app(state, handle);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}
