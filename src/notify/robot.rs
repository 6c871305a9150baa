//! The robots' one channel: every channel type that posts JSON (WeCom, DingTalk, Feishu, Slack,
//! Telegram, the webhook) is a [`RobotType`], a body builder and an answer reader, on one
//! [`RobotChannel`]. The transport posts, reads the answer within a cap, and classifies what HTTP
//! says (network trouble, 5xx and 429 may pass; other statuses will not), so each robot only reads
//! its own answer codes. Reasons never carry the URL (it holds the key); `fan_out` scrubs them once
//! more.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{DeliveryError, Notifier, Receipt};
use crate::alerting::Digest;
use crate::alerting::render::Style;
use crate::alerting::state::Budgets;
use crate::config::{ConfigError, Env, SetupError, read};
use crate::http::{BodyError, caps, read_capped};

/// A channel type that posts JSON: what it is called, what it posts where, and how it reads the
/// answer. One file each; the posting is [`RobotChannel`]'s.
pub trait RobotType: Send + Sync + 'static {
    /// Its settings, read from its keys ([`crate::config::read`]).
    type Settings: read::Settings + Send + Sync + 'static;
    /// `type:` in `lookout.yaml` (`slack`).
    const CHANNEL: &'static str;
    /// Its name in reasons (`Slack`).
    const NAME: &'static str;
    /// It answers its refusals with a 4xx and a JSON body worth reading (Feishu, Telegram) rather
    /// than a bare status.
    const EXPLAINS_4XX: bool = false;

    /// What to post for a digest, and where (signed now, when the robot signs).
    fn request(settings: &Self::Settings, digest: &Digest, style: &Style) -> Request;

    /// What the robot's answer (2xx, or an explained 4xx) says: delivered, or why not.
    fn read(reply: &Reply) -> Result<(), DeliveryError>;
}

/// One post: where, the JSON body, and any headers of the robot's own.
#[derive(Debug, Clone)]
pub struct Request {
    /// The URL (it may hold the robot's key: never shown).
    pub url: String,
    /// The body, JSON.
    pub body: Vec<u8>,
    /// Extra headers (the webhook's signature).
    pub headers: Vec<(&'static str, String)>,
}

impl Request {
    /// A post of `body` to `url` with no extra header.
    pub fn json(url: impl Into<String>, body: &Value) -> Self {
        Request {
            url: url.into(),
            body: body.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }
}

/// A robot channel: its settings, its language, and the transport.
pub struct RobotChannel<R: RobotType> {
    settings: R::Settings,
    style: Style,
    robot: Robot,
}

impl<R: RobotType> RobotChannel<R> {
    /// A channel with its own HTTP client.
    pub fn new(settings: R::Settings, style: Style) -> Result<Self, SetupError> {
        Ok(RobotChannel {
            settings,
            style,
            robot: Robot::new(R::NAME)?,
        })
    }
}

#[async_trait]
impl<R: RobotType> Notifier for RobotChannel<R> {
    fn channel(&self) -> &'static str {
        R::CHANNEL
    }

    async fn deliver(&self, digest: &Digest) -> Result<Receipt, DeliveryError> {
        let request = R::request(&self.settings, digest, &self.style);
        let reply = self
            .robot
            .post(
                &request.url,
                &request.body,
                &request.headers,
                R::EXPLAINS_4XX,
            )
            .await?;
        R::read(&reply).map(|()| Receipt::default())
    }
}

/// A robot type's `validate` in [`super::ChannelType`]: true when any of its settings is set.
pub fn validate<R: RobotType>(env: &Env) -> Result<bool, ConfigError> {
    read::settings_if_set::<R::Settings>(env).map(|s| s.is_some())
}

/// A robot type's `build` in [`super::ChannelType`] (robots keep no budget).
pub fn build<R: RobotType>(
    env: &Env,
    style: Style,
    _budgets: Arc<dyn Budgets>,
) -> BoxFuture<'_, Result<Option<Box<dyn Notifier>>, SetupError>> {
    Box::pin(async move {
        super::built(read::settings_if_set::<R::Settings>(env), |s| {
            RobotChannel::<R>::new(s, style)
        })
    })
}

/// How long one post may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured within a tick: a longer wait is left to the next tick.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// A robot's answer that HTTP did not already refuse.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status (2xx, or a 4xx the robot explains in its body).
    pub status: u16,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// The body as text (Slack answers `ok`).
    pub text: String,
}

/// Posts to robots.
#[derive(Clone)]
pub struct Robot {
    /// Its name in reasons (`DingTalk`).
    name: &'static str,
    http: reqwest::Client,
}

impl Robot {
    /// A transport for the robot `name`, with its own HTTP client.
    pub fn new(name: &'static str) -> Result<Self, SetupError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))?;
        Ok(Robot { name, http })
    }

    /// Posts `body` (JSON) to `url` with these extra headers. A network failure, a 5xx or a 429 may
    /// pass (a 429's `Retry-After` is kept); a 4xx whose body the robot does not explain will not.
    /// `explains_4xx`: the robot answers its refusals with a 4xx and a JSON body worth reading
    /// (Telegram), rather than a bare status.
    pub async fn post(
        &self,
        url: &str,
        body: &[u8],
        headers: &[(&str, String)],
        explains_4xx: bool,
    ) -> Result<Reply, DeliveryError> {
        let name = self.name;
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (header, value) in headers {
            request = request.header(*header, value);
        }
        let response = request.send().await.map_err(|e| {
            DeliveryError::retryable(format!(
                "could not reach {name}: {}",
                crate::http::describe(&e)
            ))
        })?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let bytes = read_capped(response, caps::ROBOT)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => DeliveryError::retryable(format!(
                    "{name}'s answer was cut off: {}",
                    crate::http::describe(&e)
                )),
                // Not the robot's documented answer: whether it took the message is unknown, so it
                // is owed to the next tick rather than resent now.
                too_large => DeliveryError::permanent(format!("{name}'s answer: {too_large}")),
            })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let said = || {
            let short: String = text.chars().take(200).collect();
            if short.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", short.trim())
            }
        };
        match status {
            200..=299 => Ok(Reply { status, json, text }),
            // The robot's own words (Telegram's `parameters.retry_after`) come before HTTP's.
            400..=499 if explains_4xx && json.is_object() => Ok(Reply { status, json, text }),
            429 | 500..=599 => Err(waiting(
                format!("{name} answered HTTP {status}{}", said()),
                wait,
            )),
            _ => Err(DeliveryError::permanent(format!(
                "{name} answered HTTP {status}{}",
                said()
            ))),
        }
    }
}

/// `Retry-After` in seconds, when the answer has one.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// A failure that may pass: retried after `wait` when the robot asked for one that fits in a tick;
/// when it asks for longer, not retried now but owed to the next tick.
pub fn waiting(reason: String, wait: Option<Duration>) -> DeliveryError {
    match wait {
        Some(wait) if wait > LONGEST_WAIT => DeliveryError::permanent(format!(
            "{reason}; it asks to wait {} s, so it is left to the next tick",
            wait.as_secs()
        )),
        wait => DeliveryError::retryable(reason).after(wait),
    }
}
