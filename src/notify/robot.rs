//! The chat robots' shared transport: post JSON to a webhook, read the answer within a cap, and
//! classify what HTTP says (network trouble, 5xx and 429 may pass; other statuses will not), so
//! each robot only reads its own answer codes. Reasons never carry the URL (it holds the key);
//! `fan_out` scrubs them once more.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::DeliveryError;
use crate::config::SetupError;
use crate::http::{BodyError, caps, read_capped};

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

/// A robot's webhook URL from `var`: an http(s) URL, kept secret (it carries the robot's key).
/// `None` when unset. The value never appears in the error.
pub fn webhook_url(
    env: &crate::config::Env,
    var: &'static str,
    hint: &str,
) -> Result<Option<crate::config::Secret>, crate::config::ConfigError> {
    let Some(url) = env.secret(var) else {
        return Ok(None);
    };
    let parsed = url::Url::parse(url.expose()).ok();
    if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
        return Err(crate::config::ConfigError::invalid(
            var,
            crate::redact::REDACTED,
            "not an http(s) URL",
            hint,
        ));
    }
    Ok(Some(url))
}

/// `true`/`false` (also `yes`/`no`, `1`/`0`) from `var`; `false` when unset.
pub fn flag(
    env: &crate::config::Env,
    var: &'static str,
) -> Result<bool, crate::config::ConfigError> {
    match env.get(var).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "no" | "0") => Ok(false),
        Some("true" | "yes" | "1") => Ok(true),
        Some(other) => Err(crate::config::ConfigError::invalid(
            var,
            other,
            "not true or false",
            "set it to true or false",
        )),
    }
}
