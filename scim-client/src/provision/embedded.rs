//! The embedded default target: the project's own server, in process, on a local SQLite file,
//! listening on 127.0.0.1 only for as long as the command runs. `scim sync` with no target
//! provisions into it, so the walkthrough needs no other setup; `scim-server --database-url
//! sqlite://FILE` serves the same data afterwards (tenant `default`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::ProvisionError;

/// A running embedded server; stopped when dropped.
#[derive(Debug)]
pub struct Embedded {
    /// Base URL (`http://127.0.0.1:PORT/scim/v2`).
    pub url: String,
    token: String,
    task: tokio::task::JoinHandle<()>,
}

impl Embedded {
    /// Starts the server on the SQLite file at `db` (created when missing).
    pub async fn start(db: &Path) -> Result<Embedded, ProvisionError> {
        let url = format!("sqlite://{}", db.display());
        let store = Arc::new(
            scim_server::SqlStore::connect(&url)
                .await
                .map_err(|e| ProvisionError::Invalid(format!("embedded server {url}: {e}")))?,
        );
        // A fresh random token per run: the server is reachable only while the command runs.
        let token = super::source::hex(&rand::random::<[u8; 24]>());
        let auth = Arc::new(scim_server::TokenAuthenticator::new(
            &[(
                token.clone(),
                scim_server::config::DEFAULT_TENANT.to_string(),
            )],
            None,
        ));
        let state = scim_server::ScimState::new(store, auth, scim_server::Settings::default());
        let app = scim_server::config::app(state, "/scim/v2", Duration::from_secs(60));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ProvisionError::Invalid(format!("embedded server: {e}")))?;
        let addr = l
            .local_addr()
            .map_err(|e| ProvisionError::Invalid(format!("embedded server: {e}")))?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        Ok(Embedded {
            url: format!("http://{addr}/scim/v2"),
            token,
            task,
        })
    }

    /// The bearer token of this run.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.task.abort();
    }
}
