//! Notification channels: one [`Notifier`] trait, one module per channel.

pub mod console;

use async_trait::async_trait;
use futures::future::join_all;
use serde::Serialize;

use crate::alerting::Digest;
use crate::config::Env;

/// A channel that can deliver a tick's digest.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The channel's name in reports (`console`, `wecom`, `email`, `sms`).
    fn channel(&self) -> &'static str;

    /// Delivers the digest once. The error says why, and never carries a secret.
    async fn deliver(&self, digest: &Digest) -> Result<(), DeliveryError>;
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// What went wrong, with no secret in it.
    pub reason: String,
}

/// One channel's outcome for one digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The channel's name.
    pub channel: &'static str,
    /// Whether it arrived.
    pub outcome: DeliveryOutcome,
    /// Attempts made.
    pub attempts: u32,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a delivery arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The channel accepted it.
    Delivered,
    /// It did not arrive.
    Failed,
}

/// The channels configured in this environment; the console alone when none is.
pub fn from_env(_env: &Env) -> Vec<Box<dyn Notifier>> {
    vec![Box::new(console::ConsoleNotifier)]
}

/// Sends the digest to every channel at once; one channel's failure never stops another.
pub async fn fan_out(notifiers: &[Box<dyn Notifier>], digest: &Digest) -> Vec<Delivery> {
    join_all(notifiers.iter().map(|notifier| async move {
        let result = notifier.deliver(digest).await;
        if let Err(error) = &result {
            tracing::warn!(channel = notifier.channel(), reason = %error, "delivery failed");
        }
        Delivery {
            channel: notifier.channel(),
            outcome: if result.is_ok() {
                DeliveryOutcome::Delivered
            } else {
                DeliveryOutcome::Failed
            },
            attempts: 1,
            error: result.err().map(|e| e.reason),
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    struct Broken;

    #[async_trait]
    impl Notifier for Broken {
        fn channel(&self) -> &'static str {
            "broken"
        }
        async fn deliver(&self, _: &Digest) -> Result<(), DeliveryError> {
            Err(DeliveryError {
                reason: "HTTP 500".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_failed_channel_does_not_stop_the_others() {
        let notifiers: Vec<Box<dyn Notifier>> =
            vec![Box::new(Broken), Box::new(console::ConsoleNotifier)];
        let digest = Digest {
            function: "site-status",
            time: Utc::now(),
            alerts: vec![],
        };
        let deliveries = fan_out(&notifiers, &digest).await;
        assert_eq!(deliveries[0].outcome, DeliveryOutcome::Failed);
        assert_eq!(deliveries[0].error.as_deref(), Some("HTTP 500"));
        assert_eq!(deliveries[1].outcome, DeliveryOutcome::Delivered);
    }
}
