//! Notification channels: one [`Notifier`] trait, one module per channel.
//!
//! A channel is on when its configuration is present; with none, the console prints the alerts.
//! [`fan_out`] sends one digest to every channel at once, retrying what may pass, and reports each
//! channel's outcome. A failed channel never stops the others.

pub mod console;
pub mod dingtalk;
pub mod email;
pub mod feishu;
pub mod robot;
pub mod slack;
pub mod sms;
pub mod telegram;
pub mod webhook;
pub mod wecom;

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{BoxFuture, join_all};
use serde::Serialize;
use tokio::time::Instant;

use crate::alerting::Digest;
use crate::alerting::render::Style;
use crate::alerting::state::Budgets;
use crate::config::{Env, SetupError};
use crate::retry::{self, Backoff, Retryable};

/// One kind of channel, as `type:` names it in `lookout.yaml`. Adding a channel type is its file
/// plus one line in [`CHANNEL_TYPES`]; its keys are declared here once (see
/// [`crate::checks::CheckType`]).
pub struct ChannelType {
    /// `type:` in `lookout.yaml`, and the channel's name when it comes from variables (`wecom`).
    pub name: &'static str,
    /// Each channel key and the variable it stands for (`webhook_url` -> `WECOM_WEBHOOK_URL`).
    pub keys: &'static [crate::config::SettingKey],
    /// How old an incident must be before this channel joins it (`after_minutes` in
    /// `lookout.yaml`, `WECOM_AFTER_MINUTES`).
    pub after_minutes: crate::config::SettingKey,
    /// Whether this channel is told of a degraded monitor (failing from lookout only, reachable
    /// from elsewhere): `degraded` in `lookout.yaml`, `WECOM_DEGRADED`; its default is the type's
    /// (false for SMS, which wakes people).
    pub degraded: crate::config::SettingKey,
    /// The function's own variables the type reads that no key stands for (credentials,
    /// endpoints).
    pub variables: &'static [crate::config::SettingKey],
    /// Checks the channel's settings without building it: true when any of them is set.
    pub validate: fn(&Env) -> Result<bool, crate::config::ConfigError>,
    /// What a digest looks like on this channel, as a person reads it in a terminal: the message
    /// itself where it is text (WeCom's markdown, the email's subject and text, the SMS template's
    /// parameters), the request body where it is structured (a Feishu card, Slack blocks).
    pub preview: fn(&Digest, &Style) -> String,
    /// Builds the channel from its variables; `None` when none of them is set.
    pub build: BuildChannel,
}

/// Builds a channel from its variables and language, with the store it may keep budgets in.
pub type BuildChannel = for<'a> fn(
    &'a Env,
    Style,
    Arc<dyn Budgets>,
) -> BoxFuture<'a, Result<Option<Box<dyn Notifier>>, SetupError>>;

/// A request body as a preview shows it.
fn pretty(body: &serde_json::Value) -> String {
    serde_json::to_string_pretty(body).unwrap_or_default()
}

/// A channel from its settings (`None` when it is not configured) and its constructor: what most
/// channel types' `build` does.
pub fn built<S, N: Notifier + 'static>(
    settings: Result<Option<S>, crate::config::ConfigError>,
    new: impl FnOnce(S) -> Result<N, SetupError>,
) -> Result<Option<Box<dyn Notifier>>, SetupError> {
    match settings? {
        Some(settings) => Ok(Some(Box::new(new(settings)?))),
        None => Ok(None),
    }
}

/// Every channel type lookout has, in the order channels from variables are listed.
pub const CHANNEL_TYPES: &[ChannelType] = &[
    wecom::TYPE,
    email::TYPE,
    sms::TYPE,
    dingtalk::TYPE,
    feishu::TYPE,
    slack::TYPE,
    telegram::TYPE,
    webhook::TYPE,
];

/// Each channel type's variables the policy reads (`SMS_AFTER_MINUTES`, `SMS_DEGRADED`), for
/// [`crate::alerting::policy::Policy::from_env`].
pub fn delays() -> Vec<crate::alerting::policy::ChannelRule> {
    CHANNEL_TYPES.iter().map(ChannelType::rule).collect()
}

impl ChannelType {
    /// What the policy reads of a channel of this type named `channel`.
    pub fn rule(&self) -> crate::alerting::policy::ChannelRule {
        crate::alerting::policy::ChannelRule {
            channel: self.name,
            after: self.after_minutes.var,
            degraded: self.degraded.var,
            degraded_default: self.degraded.default == Some("true"),
        }
    }
}

/// The channel type `type:` names, if any.
pub fn channel_type(name: &str) -> Option<&'static ChannelType> {
    CHANNEL_TYPES.iter().find(|t| t.name == name)
}

/// A channel as the user named it: two channels may share a type (two WeCom robots), and each keeps
/// its own progress.
pub struct Channel {
    /// Its name (`ops`; the type's name when it comes from variables).
    pub name: String,
    /// What delivers to it.
    pub notifier: Box<dyn Notifier>,
}

impl From<Box<dyn Notifier>> for Channel {
    /// The channel named after its type, as channels from variables are.
    fn from(notifier: Box<dyn Notifier>) -> Self {
        Channel {
            name: notifier.channel().to_owned(),
            notifier,
        }
    }
}

/// A channel that can deliver a tick's digest.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The channel's type (`console`, `wecom`, `email`, `sms`).
    fn channel(&self) -> &'static str;

    /// Delivers the digest once. The error says why, and never carries a secret.
    async fn deliver(&self, digest: &Digest) -> Result<Receipt, DeliveryError>;
}

/// What a channel says of a delivery it made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// Something the report should say: part of it was held back, say.
    pub note: Option<String>,
}

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// What went wrong, with no secret in it.
    pub reason: String,
    /// True when a later attempt in the same tick may succeed (rate limits, 5xx, timeouts).
    pub retryable: bool,
    /// True when the notice stays owed to the next tick; false when resending can never help (a
    /// daily budget is spent).
    pub owed: bool,
    /// How long the other side asked to wait before the next attempt (`Retry-After`).
    pub retry_after: Option<std::time::Duration>,
}

impl DeliveryError {
    /// A failure that another attempt may not see.
    pub fn retryable(reason: impl Into<String>) -> Self {
        DeliveryError {
            reason: reason.into(),
            retryable: true,
            owed: true,
            retry_after: None,
        }
    }

    /// A failure that will not go away within the tick: owed to the next one.
    pub fn permanent(reason: impl Into<String>) -> Self {
        DeliveryError {
            reason: reason.into(),
            retryable: false,
            owed: true,
            retry_after: None,
        }
    }

    /// A failure no resend can help: not retried, not owed.
    pub fn dropped(reason: impl Into<String>) -> Self {
        DeliveryError {
            reason: reason.into(),
            retryable: false,
            owed: false,
            retry_after: None,
        }
    }
}

impl DeliveryError {
    /// The same error, with the wait the other side asked for.
    pub fn after(self, wait: Option<std::time::Duration>) -> Self {
        DeliveryError {
            retry_after: wait,
            ..self
        }
    }
}

impl Retryable for DeliveryError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }
}

/// One channel's outcome for one digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The channel's name.
    pub channel: String,
    /// Whether it arrived.
    pub outcome: DeliveryOutcome,
    /// Attempts made.
    pub attempts: u32,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the channel said of a delivery it made (part of it held back, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Whether a delivery arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The channel accepted it.
    Delivered,
    /// It did not arrive: owed, and tried again on the next tick.
    Failed,
    /// It did not arrive and is not owed: resending could never help (a daily budget is spent).
    Dropped,
}

/// The channels configured in this environment; the console alone when none is.
///
/// A channel counts as configured when any of its variables is set; then all it needs must be.
///
/// `store` keeps what channels must remember across invocations (each number's SMS of the day).
pub async fn channels_from_env(
    env: &Env,
    store: Arc<dyn Budgets>,
) -> Result<Vec<Channel>, SetupError> {
    let style = Style::from_env(env)?;
    let mut channels: Vec<Channel> = Vec::new();
    for kind in CHANNEL_TYPES {
        if let Some(notifier) = (kind.build)(env, style, Arc::clone(&store)).await? {
            channels.push(Channel::from(notifier));
        }
    }
    if channels.is_empty() {
        channels.push(Channel::from(
            Box::new(console::ConsoleNotifier::new(style)) as Box<dyn Notifier>,
        ));
    }
    Ok(channels)
}

/// Sends each channel its digest (`digest_for(channel)`; channels without one are skipped), all at
/// once, each retrying what may pass until it is delivered, fails for good, or the next wait would
/// end past `deadline`; an attempt still waiting at `deadline` counts as failed.
pub async fn fan_out<'d>(
    channels: &[Channel],
    digest_for: impl Fn(&str) -> Option<&'d Digest>,
    backoff: Backoff,
    deadline: Instant,
) -> Vec<Delivery> {
    let sends = channels.iter().filter_map(|channel| {
        let digest = digest_for(&channel.name).filter(|d| !d.alerts.is_empty())?;
        let notifier = &channel.notifier;
        Some(async move {
            let channel = channel.name.as_str();
            let (result, attempts) = retry::retry(backoff, deadline, |attempt| async move {
                // An attempt ends at the deadline, so the invocation answers and records the
                // outcome instead of being killed mid-send.
                let result = tokio::time::timeout_at(deadline, notifier.deliver(digest))
                    .await
                    .unwrap_or_else(|_| {
                        Err(DeliveryError::retryable(
                            "no answer before the invocation's deadline (it may still arrive)",
                        ))
                    });
                if let Err(error) = &result {
                    tracing::warn!(channel, attempt, retryable = error.retryable, reason = %error, "delivery attempt failed");
                }
                result
            })
            .await;
            match result {
                Ok(receipt) => {
                    tracing::info!(channel, attempts, note = receipt.note.as_deref(), "delivered");
                    Delivery {
                        channel: channel.to_owned(),
                        outcome: DeliveryOutcome::Delivered,
                        attempts,
                        error: None,
                        note: receipt.note.map(|n| crate::redact::scrub(&n).into_owned()),
                    }
                }
                Err(error) => Delivery {
                    channel: channel.to_owned(),
                    outcome: if error.owed {
                        DeliveryOutcome::Failed
                    } else {
                        DeliveryOutcome::Dropped
                    },
                    attempts,
                    error: Some(crate::redact::scrub(&error.reason).into_owned()),
                    note: None,
                },
            }
        })
    });
    join_all(sends).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use chrono::Utc;

    struct Scripted {
        name: &'static str,
        failures: Vec<DeliveryError>,
        calls: AtomicU32,
        delay: Duration,
    }

    #[async_trait]
    impl Notifier for Scripted {
        fn channel(&self) -> &'static str {
            self.name
        }
        async fn deliver(&self, _: &Digest) -> Result<Receipt, DeliveryError> {
            tokio::time::sleep(self.delay).await;
            let n = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
            match self.failures.get(n) {
                Some(error) => Err(error.clone()),
                None => Ok(Receipt::default()),
            }
        }
    }

    fn scripted(name: &'static str, failures: Vec<DeliveryError>) -> Channel {
        answering_after(name, failures, Duration::from_millis(200))
    }

    fn answering_after(
        name: &'static str,
        failures: Vec<DeliveryError>,
        delay: Duration,
    ) -> Channel {
        Channel::from(Box::new(Scripted {
            name,
            failures,
            calls: AtomicU32::new(0),
            delay,
        }) as Box<dyn Notifier>)
    }

    fn digest() -> Digest {
        let now = Utc::now();
        Digest {
            function: "site-status",
            time: now,
            alerts: vec![crate::alerting::Alert {
                key: "site-status:https://a/".into(),
                function: "site-status",
                target: "https://a/".into(),
                state: crate::alerting::AlertState::Failing,
                kind: None,
                message: "down".into(),
                since: now,
                until: None,
                step: Some(1),
                note: None,
                channels: vec![],
                answer: None,
                links: None,
            }],
        }
    }

    /// A digest of one failing alert with answer links, and one recovery without.
    fn with_links() -> (Digest, crate::alerting::answers::Links) {
        let mut digest = digest();
        let links = crate::alerting::answers::Links {
            acknowledge: "https://status.example/act/ACK_TOKEN".into(),
            silence_1h: "https://status.example/act/S1_TOKEN".into(),
            silence_4h: "https://status.example/act/S4_TOKEN".into(),
            silence_until_tomorrow: "https://status.example/act/ST_TOKEN".into(),
        };
        digest.alerts[0].links = Some(links.clone());
        let mut recovered = digest.alerts[0].clone();
        recovered.state = crate::alerting::AlertState::Recovered;
        recovered.until = Some(recovered.since);
        recovered.links = None;
        digest.alerts.push(recovered);
        (digest, links)
    }

    #[test]
    fn each_channel_carries_the_answer_links_in_its_own_form() {
        use crate::alerting::render::Language;
        let (digest, links) = with_links();
        for language in [Language::English, Language::Chinese] {
            let style = Style {
                language,
                ..Style::default()
            };
            let words = |action| style.action(action);
            use crate::alerting::answers::Action::*;
            for kind in CHANNEL_TYPES {
                let shown = (kind.preview)(&digest, &style);
                let each = links.each();
                let expected: Vec<String> = match kind.name {
                    // Markdown links: `[words](url)`.
                    "wecom" | "dingtalk" => each
                        .iter()
                        .map(|(a, url)| format!("[{}]({url})", words(*a)))
                        .collect(),
                    // HTML links.
                    "telegram" => each
                        .iter()
                        .map(|(a, url)| format!("<a href=\"{url}\">{}</a>", words(*a)))
                        .collect(),
                    // Card buttons that open the link.
                    "feishu" => each
                        .iter()
                        .map(|(a, url)| {
                            format!(
                                "\"tag\": \"button\",\n          \"text\": {{\n            \"content\": \"{}\",\n            \"tag\": \"plain_text\"\n          }},\n          \"type\": \"{}\",\n          \"url\": \"{url}\"",
                                words(*a),
                                if *a == Acknowledge { "primary" } else { "default" }
                            )
                        })
                        .collect(),
                    // URL buttons of an actions block.
                    "slack" => each
                        .iter()
                        .map(|(a, url)| {
                            format!("\"text\": \"{}\",\n            \"type\": \"plain_text\"\n          }},\n          \"type\": \"button\",\n          \"url\": \"{url}\"", words(*a))
                        })
                        .collect(),
                    // The text part: a line per link.
                    "email" => each
                        .iter()
                        .map(|(a, url)| format!("\n  {}: {url}", words(*a)))
                        .collect(),
                    // Fields of the JSON.
                    "webhook" => vec![
                        format!("\"acknowledge\": \"{}\"", links.acknowledge),
                        format!("\"silence_1h\": \"{}\"", links.silence_1h),
                        format!("\"silence_4h\": \"{}\"", links.silence_4h),
                        format!(
                            "\"silence_until_tomorrow\": \"{}\"",
                            links.silence_until_tomorrow
                        ),
                    ],
                    // Fixed templates: no link.
                    "sms" => {
                        assert!(!shown.contains("status.example"), "{shown}");
                        continue;
                    }
                    other => panic!("{other}: say how it carries the links"),
                };
                for part in expected {
                    assert!(
                        shown.contains(&part),
                        "{}: no {part} in\n{shown}",
                        kind.name
                    );
                }
                // Once each: the recovery carries none.
                assert_eq!(
                    shown.matches("ACK_TOKEN").count(),
                    1,
                    "{}: {shown}",
                    kind.name
                );
            }
        }
        // The email's HTML part has them as anchors.
        let html = super::email::layout(&digest, &Style::default()).html;
        assert!(html.contains("<a href=\"https://status.example/act/ACK_TOKEN\">确认处理</a>"));
    }

    fn quick() -> Backoff {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(400),
            max_attempts: 4,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn channels_retry_on_their_own_and_one_failure_never_stops_another() {
        let notifiers = vec![
            scripted(
                "flaky",
                vec![
                    DeliveryError::retryable("45009"),
                    DeliveryError::retryable("45009"),
                ],
            ),
            scripted(
                "dead",
                vec![DeliveryError::permanent("93000: invalid webhook key"); 9],
            ),
            scripted("fine", vec![]),
        ];
        let d = digest();
        let started = Instant::now();
        let deliveries = fan_out(
            &notifiers,
            |_| Some(&d),
            quick(),
            started + Duration::from_secs(30),
        )
        .await;
        assert_eq!(deliveries[0].outcome, DeliveryOutcome::Delivered);
        assert_eq!(deliveries[0].attempts, 3);
        assert_eq!(deliveries[1].outcome, DeliveryOutcome::Failed);
        assert_eq!(deliveries[1].attempts, 1);
        assert_eq!(
            deliveries[1].error.as_deref(),
            Some("93000: invalid webhook key")
        );
        assert_eq!(
            deliveries[2],
            Delivery {
                channel: "fine".into(),
                outcome: DeliveryOutcome::Delivered,
                attempts: 1,
                error: None,
                note: None,
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn channels_run_at_once() {
        let notifiers = vec![
            scripted("a", vec![]),
            scripted("b", vec![]),
            scripted("c", vec![]),
        ];
        let d = digest();
        let started = Instant::now();
        fan_out(
            &notifiers,
            |_| Some(&d),
            quick(),
            started + Duration::from_secs(30),
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_before_the_deadline() {
        let notifiers = vec![scripted("busy", vec![DeliveryError::retryable("busy"); 9])];
        let d = digest();
        let started = Instant::now();
        let deliveries = fan_out(
            &notifiers,
            |_| Some(&d),
            quick(),
            started + Duration::from_millis(500),
        )
        .await;
        assert_eq!(deliveries[0].outcome, DeliveryOutcome::Failed);
        assert!(deliveries[0].attempts < 4);
        assert!(started.elapsed() <= Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_still_waiting_at_the_deadline_is_a_failure_in_time() {
        let notifiers = vec![answering_after("stalled", vec![], Duration::from_secs(600))];
        let d = digest();
        let started = Instant::now();
        let deliveries = fan_out(
            &notifiers,
            |_| Some(&d),
            quick(),
            started + Duration::from_secs(2),
        )
        .await;
        assert_eq!(deliveries[0].outcome, DeliveryOutcome::Failed);
        assert!(started.elapsed() <= Duration::from_secs(2));
    }

    #[test]
    fn every_channel_type_previews_a_digest_in_its_own_layout() {
        use crate::alerting::AlertState;
        use crate::alerting::render::fixtures::{alert, digest, english};
        let digest = digest(vec![
            alert(
                "https://shop.example.com/",
                AlertState::Failing,
                "answered 503",
            ),
            alert(
                "https://blog.example.com/",
                AlertState::Recovered,
                "answered 200",
            ),
        ]);
        let mut seen = std::collections::HashSet::new();
        for kind in CHANNEL_TYPES {
            let shown = (kind.preview)(&digest, &english());
            if kind.name == "sms" {
                // Carriers refuse URLs and domains: the parameters name what is watched.
                assert!(
                    shown.contains("{1} = ")
                        && shown.contains("{2} = ")
                        && !shown.contains("example.com"),
                    "{shown}"
                );
            } else {
                assert!(
                    shown.contains("shop.example.com") && shown.contains("answered 503"),
                    "{}: {shown}",
                    kind.name
                );
            }
            assert!(
                seen.insert(shown),
                "{} previews like another channel",
                kind.name
            );
        }
    }
}
