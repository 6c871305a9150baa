//! A generic webhook: the digest as JSON, for any tool of the team's own.
//!
//! The body (documented in docs/channels.md): `{"source": "lookout", "function", "time", "alerts":
//! [{"key", "target", "state", "kind", "message", "since", "until", "step", "note", "links",
//! "answer"}]}` (`links` on a failing notice when answer links are on; `answer` on an
//! acknowledgement). With a
//! secret, `X-Lookout-Timestamp` (unix seconds) and `X-Lookout-Signature: sha256=<hex HMAC-SHA256
//! of timestamp + "." + body>` let the receiver check where it came from and when. 2xx is
//! delivered; 429 and 5xx are retried (after `Retry-After`); other statuses are not.

use chrono::Utc;
use serde_json::{Value, json};

use super::DeliveryError;
use super::robot::{self, Reply, Request, RobotChannel, RobotType};
use crate::alerting::Digest;
use crate::alerting::render::Style;
use crate::config::{Secret, SettingKey, one, read};
use crate::signing;

/// `type: webhook` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "webhook",
    keys: &[
        one("url", "WEBHOOK_URL")
            .doc("the http(s) URL that receives the alerts (kept secret: URLs often carry a token)")
            .hint("set it to the http(s) URL that receives the alerts"),
        one("secret", "WEBHOOK_SECRET")
            .stack_secret()
            .doc("signs each post"),
    ],
    after_minutes: one("after_minutes", "WEBHOOK_AFTER_MINUTES"),
    degraded: one("degraded", "WEBHOOK_DEGRADED").default("true"),
    variables: &[],
    validate: robot::validate::<Webhook>,
    preview: |digest, _style| super::pretty(&request_body(digest)),
    build: robot::build::<Webhook>,
};

/// The signature's header.
pub const SIGNATURE_HEADER: &str = "X-Lookout-Signature";
/// The timestamp's header.
pub const TIMESTAMP_HEADER: &str = "X-Lookout-Timestamp";

/// Webhook settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct WebhookSettings {
    /// `WEBHOOK_URL`: where to post (treated as a secret: URLs often carry a token).
    #[serde(deserialize_with = "read::secret_url")]
    pub url: Secret,
    /// `WEBHOOK_SECRET`: signs each post, when set.
    pub secret: Option<Secret>,
}

impl read::Settings for WebhookSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];
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
            "links": a.links,
            "answer": a.answer,
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

/// Webhook, on the robots' one channel.
pub struct Webhook;

/// Posts digests to a webhook.
pub type WebhookNotifier = RobotChannel<Webhook>;

impl RobotType for Webhook {
    type Settings = WebhookSettings;
    const CHANNEL: &'static str = TYPE.name;
    const NAME: &'static str = "the webhook";

    fn request(settings: &WebhookSettings, digest: &Digest, _style: &Style) -> Request {
        let mut request = Request::json(settings.url.expose(), &request_body(digest));
        if let Some(secret) = &settings.secret {
            let timestamp = Utc::now().timestamp();
            request
                .headers
                .push((TIMESTAMP_HEADER, timestamp.to_string()));
            request.headers.push((
                SIGNATURE_HEADER,
                signature(secret.expose(), timestamp, &request.body),
            ));
        }
        request
    }

    fn read(_reply: &Reply) -> Result<(), DeliveryError> {
        // 2xx is delivered; 429 and 5xx are retried by the transport; other statuses are not.
        Ok(())
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
