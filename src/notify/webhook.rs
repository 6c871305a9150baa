//! A generic webhook: the digest as JSON, for any tool of the team's own.
//!
//! The body (documented in docs/channels.md): `{"source": "lookout", "function", "time", "alerts":
//! [{"key", "target", "state", "kind", "message", "since", "until", "step", "note"}]}`. With a
//! secret, `X-Lookout-Timestamp` (unix seconds) and `X-Lookout-Signature: sha256=<hex HMAC-SHA256
//! of timestamp + "." + body>` let the receiver check where it came from and when. 2xx is
//! delivered; 429 and 5xx are retried (after `Retry-After`); other statuses are not.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};

use super::robot::{self, Robot};
use super::{DeliveryError, Notifier, Receipt};
use crate::alerting::Digest;
use crate::alerting::render::Style;
use crate::config::{ConfigError, Env, Secret, SetupError, one};
use crate::signing;

/// `type: webhook` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "webhook",
    keys: &[one("url", "WEBHOOK_URL"), one("secret", "WEBHOOK_SECRET")],
    after_minutes: "WEBHOOK_AFTER_MINUTES",
    validate: |env| WebhookSettings::from_env(env).map(|s| s.is_some()),
    preview: |digest, _style| super::pretty(&request_body(digest)),
    build: |env, style, _store| {
        Box::pin(async move {
            super::built(WebhookSettings::from_env(env), |s| {
                WebhookNotifier::new(s, style)
            })
        })
    },
};

/// The signature's header.
pub const SIGNATURE_HEADER: &str = "X-Lookout-Signature";
/// The timestamp's header.
pub const TIMESTAMP_HEADER: &str = "X-Lookout-Timestamp";

/// Webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `WEBHOOK_URL`: where to post (treated as a secret: URLs often carry a token).
    pub url: Secret,
    /// `WEBHOOK_SECRET`: signs each post, when set.
    pub secret: Option<Secret>,
}

impl WebhookSettings {
    /// `None` when the channel is not configured.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        const HINT: &str = "set it to the http(s) URL that receives the alerts";
        let Some(url) = robot::webhook_url(env, "WEBHOOK_URL", HINT)? else {
            if env.is_set("WEBHOOK_SECRET") {
                return Err(ConfigError::Missing {
                    var: "WEBHOOK_URL",
                    hint: HINT.into(),
                });
            }
            return Ok(None);
        };
        Ok(Some(WebhookSettings {
            url,
            secret: env.secret("WEBHOOK_SECRET"),
        }))
    }
}

/// The body: the digest, in the documented schema.
pub fn request_body(digest: &Digest) -> Value {
    json!({
        "source": "lookout",
        "function": digest.function,
        "time": digest.time,
        "alerts": digest.alerts.iter().map(|a| json!({
            "key": a.key,
            "target": a.target,
            "state": a.state,
            "kind": a.kind,
            "message": a.message,
            "since": a.since,
            "until": a.until,
            "step": a.step,
            "note": a.note,
        })).collect::<Vec<_>>(),
    })
}

/// `sha256=<hex>` of `timestamp + "." + body` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!(
        "sha256={}",
        hex::encode(signing::hmac_sha256(secret.as_bytes(), &message))
    )
}

/// Posts digests to a webhook.
pub struct WebhookNotifier {
    settings: WebhookSettings,
    robot: Robot,
}

impl WebhookNotifier {
    /// A notifier with its own HTTP client (the layout is JSON: the style is the receiver's).
    pub fn new(settings: WebhookSettings, _style: Style) -> Result<Self, SetupError> {
        Ok(WebhookNotifier {
            settings,
            robot: Robot::new("the webhook")?,
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn channel(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, digest: &Digest) -> Result<Receipt, DeliveryError> {
        let body = request_body(digest).to_string().into_bytes();
        let mut headers = Vec::new();
        if let Some(secret) = &self.settings.secret {
            let timestamp = Utc::now().timestamp();
            headers.push((TIMESTAMP_HEADER, timestamp.to_string()));
            headers.push((
                SIGNATURE_HEADER,
                signature(secret.expose(), timestamp, &body),
            ));
        }
        self.robot
            .post(self.settings.url.expose(), &body, &headers, false)
            .await
            .map(|_| Receipt::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature("k", 1, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature("k", 2, b"{}"));
        assert_ne!(a, signature("k", 1, b"{ }"));
    }
}
