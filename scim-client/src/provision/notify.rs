//! Notifications: one event per person and run (joiner, mover, leaver) and one per failed
//! change, delivered to a webhook (JSON signed with HMAC-SHA256) and by e-mail over SMTP from
//! templates. Deliveries go through the same durable outbox as the changes, so a receiver that
//! is down gets the event on a later run.
//!
//! Webhook requests carry `X-Scim-Event`, `X-Scim-Timestamp` (Unix seconds) and
//! `X-Scim-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`; a receiver
//! recomputes the signature and rejects old timestamps.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::source::hex;

/// Where events go.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// A webhook.
    pub webhook: Option<WebhookConfig>,
    /// E-mail.
    pub email: Option<EmailConfig>,
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("webhook", &self.webhook)
            .field("email", &self.email)
            .finish()
    }
}

/// A webhook receiver.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// URL the events are POSTed to.
    pub url: String,
    /// The HMAC secret (prefer `secret_env`).
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// Environment variable holding the secret.
    pub secret_env: Option<String>,
    /// Which events to send (default: all).
    #[serde(default)]
    pub events: Vec<String>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret is never printed.
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("secret_env", &self.secret_env)
            .finish()
    }
}

impl WebhookConfig {
    fn secret(&self) -> Result<String, String> {
        if let Some(s) = &self.secret {
            return Ok(s.clone());
        }
        match &self.secret_env {
            Some(var) => {
                std::env::var(var).map_err(|_| format!("webhook secret: ${var} is not set"))
            }
            None => Err("webhook: give secret or secret_env".into()),
        }
    }
}

/// E-mail over SMTP.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP relay host.
    pub host: String,
    /// Port (default 25).
    #[serde(default = "default_port")]
    pub port: u16,
    /// SMTP user, if the relay needs one.
    pub username: Option<String>,
    /// Environment variable with the SMTP password.
    pub password_env: Option<String>,
    /// Sender.
    pub from: String,
    /// Who gets the new account's details: `person`, `manager`, or an address.
    #[serde(default = "default_joiner_to")]
    pub joiner_to: String,
    /// Who hears about leavers and failures (IT / security).
    pub security_to: String,
    /// Subject and body templates by event (`joiner`, `mover`, `leaver`, `failure`); the
    /// built-in ones are used for events not listed. Placeholders: `{name}`, `{userName}`,
    /// `{email}`, `{key}`, `{target}`, `{plan}`, `{changes}`, `{groups}`, `{error}`.
    #[serde(default)]
    pub templates: std::collections::BTreeMap<String, Template>,
}

fn default_port() -> u16 {
    25
}
fn default_joiner_to() -> String {
    "manager".into()
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish()
    }
}

/// A mail template.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Subject.
    pub subject: String,
    /// Body (plain text).
    pub body: String,
}

fn builtin(event: &str) -> Template {
    let (subject, body) = match event {
        "joiner" => (
            "[{target}] Account created for {name}",
            "Hello,\n\nan account was created for {name} in {target}.\n\nUser name: {userName}\nE-mail: {email}\nGroups: {groups}\n\nChanges: {changes}\nPlan: {plan}\n",
        ),
        "mover" => (
            "[{target}] Access changed for {name}",
            "The account of {name} ({userName}) in {target} changed.\n\nChanges: {changes}\nGroups: {groups}\nPlan: {plan}\n",
        ),
        "leaver" => (
            "[{target}] Access revoked for {name}",
            "The account of {name} ({userName}) in {target} was deprovisioned.\n\nRevoked: {changes}\nGroups removed: {groups}\nPlan: {plan}\n",
        ),
        _ => (
            "[{target}] Provisioning failed for {name}",
            "A change for {name} ({userName}) in {target} failed and was moved to the dead-letter list.\n\nChange: {changes}\nError: {error}\nPlan: {plan}\n",
        ),
    };
    Template {
        subject: subject.into(),
        body: body.into(),
    }
}

/// Fills a template from an event.
pub fn render(t: &str, event: &Value) -> String {
    let p = &event["person"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let list = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let name = Some(s(&p["displayName"]))
        .filter(|x| !x.is_empty())
        .or_else(|| Some(s(&p["userName"])).filter(|x| !x.is_empty()))
        .unwrap_or_else(|| s(&p["key"]));
    t.replace("{name}", &name)
        .replace("{userName}", &s(&p["userName"]))
        .replace("{email}", &s(&p["email"]))
        .replace("{key}", &s(&p["key"]))
        .replace("{target}", &s(&event["target"]))
        .replace("{plan}", &s(&event["plan_id"]))
        .replace("{changes}", &list(&event["changes"]))
        .replace("{groups}", &list(&event["groups"]))
        .replace("{error}", &s(&event["error"]))
}

/// HMAC-SHA256 signature header value for a webhook body.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// A delivery failure: whether a later attempt could succeed.
#[derive(Debug)]
pub struct DeliveryError {
    /// Retrying later could help.
    pub retryable: bool,
    /// What failed.
    pub message: String,
}

/// Sends an event to the webhook.
pub async fn deliver_webhook(
    http: &reqwest::Client,
    cfg: &WebhookConfig,
    event: &Value,
) -> Result<(), DeliveryError> {
    let secret = cfg.secret().map_err(|m| DeliveryError {
        retryable: false,
        message: m,
    })?;
    let body = serde_json::to_vec(event).expect("JSON");
    let ts = chrono::Utc::now().timestamp();
    let r = http
        .post(&cfg.url)
        .header("content-type", "application/json")
        .header("x-scim-event", event["event"].as_str().unwrap_or_default())
        .header("x-scim-timestamp", ts.to_string())
        .header("x-scim-signature", signature(&secret, ts, &body))
        .body(body)
        .send()
        .await
        .map_err(|e| DeliveryError {
            retryable: true,
            message: format!("webhook {}: {e}", cfg.url),
        })?;
    let status = r.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(DeliveryError {
            retryable: status == 408 || status == 429 || status >= 500,
            message: format!("webhook {} answered {status}", cfg.url),
        })
    }
}

/// The recipients of an event's mail.
pub fn recipients(cfg: &EmailConfig, event: &Value) -> Vec<String> {
    let p = &event["person"];
    match event["event"].as_str().unwrap_or_default() {
        "joiner" => {
            let to = match cfg.joiner_to.as_str() {
                "person" => p["email"].as_str().map(str::to_string),
                "manager" => p["manager_email"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| Some(cfg.security_to.clone())),
                addr => Some(addr.to_string()),
            };
            to.into_iter().collect()
        }
        "mover" => p["manager_email"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect(),
        _ => vec![cfg.security_to.clone()],
    }
}

/// Sends an event by e-mail (plain SMTP to the configured relay).
pub async fn deliver_email(cfg: &EmailConfig, event: &Value) -> Result<(), DeliveryError> {
    use lettre::message::{header::ContentType, Mailbox};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let kind = event["event"].as_str().unwrap_or("failure");
    let to = recipients(cfg, event);
    if to.is_empty() {
        return Ok(());
    }
    let t = cfg
        .templates
        .get(kind)
        .cloned()
        .unwrap_or_else(|| builtin(kind));
    let bad = |m: String| DeliveryError {
        retryable: false,
        message: m,
    };
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| bad(format!("from {:?}: {e}", cfg.from)))?;
    let mut b = Message::builder()
        .from(from)
        .subject(render(&t.subject, event))
        .header(ContentType::TEXT_PLAIN);
    for r in &to {
        let mb: Mailbox = r
            .parse()
            .map_err(|e| bad(format!("recipient {r:?}: {e}")))?;
        b = b.to(mb);
    }
    let msg = b
        .body(render(&t.body, event))
        .map_err(|e| bad(e.to_string()))?;
    let mut tb = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host).port(cfg.port);
    if let Some(u) = &cfg.username {
        let pw = cfg
            .password_env
            .as_ref()
            .and_then(|v| std::env::var(v).ok())
            .unwrap_or_default();
        tb = tb.credentials(Credentials::new(u.clone(), pw));
    }
    tb.build().send(msg).await.map_err(|e| DeliveryError {
        retryable: !e.is_permanent(),
        message: format!("SMTP {}:{}: {e}", cfg.host, cfg.port),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signatures_templates_recipients_and_no_secrets_in_debug() {
        // RFC 4231 test case 2 style: a known key and message.
        let s = signature("key", 1700000000, b"{}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert_eq!(s, signature("key", 1700000000, b"{}"));
        assert_ne!(s, signature("key2", 1700000000, b"{}"));
        assert_ne!(s, signature("key", 1700000001, b"{}"));
        let ev = json!({"event": "joiner", "target": "app", "plan_id": "p1",
            "person": {"key": "E1", "userName": "ada", "displayName": "Ada L", "email": "ada@x", "manager_email": "boss@x"},
            "changes": ["create"], "groups": ["eng", "ops"]});
        assert_eq!(
            render("{name} <{email}> in {target}: {groups}", &ev),
            "Ada L <ada@x> in app: eng, ops"
        );
        let mut cfg: EmailConfig =
            toml::from_str("host = \"h\"\nfrom = \"it@x\"\nsecurity_to = \"sec@x\"\n").unwrap();
        assert_eq!(recipients(&cfg, &ev), ["boss@x"]);
        cfg.joiner_to = "person".into();
        assert_eq!(recipients(&cfg, &ev), ["ada@x"]);
        assert_eq!(
            recipients(&cfg, &json!({"event": "leaver", "person": {}})),
            ["sec@x"]
        );
        let w = WebhookConfig {
            url: "http://x".into(),
            secret: Some("topsecret".into()),
            secret_env: None,
            events: vec![],
        };
        assert!(!format!("{w:?}").contains("topsecret"));
    }
}
