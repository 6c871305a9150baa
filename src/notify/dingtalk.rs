//! DingTalk (钉钉) custom group robot: a signed markdown message.
//!
//! The 加签 secret signs each post: `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(
//! key = secret, message = timestamp + "\n" + secret))) as query parameters. `errcode` 0 is
//! delivered; 310000 (a wrong signature, a missing keyword, an address not allowed, a timestamp
//! off) and 300001 (an unknown token) will not pass by retrying; 130101 is the 20-a-minute throttle,
//! which lasts ten minutes, so the notice is owed to the next tick rather than retried now.

use chrono::Utc;
use serde_json::{Value, json};

use super::DeliveryError;
use super::robot::{self, Reply, Request, RobotChannel, RobotType};
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};
use crate::config::{ConfigError, Env, Secret, list, one};
use crate::signing;

/// `type: dingtalk` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "dingtalk",
    keys: &[
        one("webhook_url", "DINGTALK_WEBHOOK_URL")
            .stack_secret()
            .doc("the robot's webhook URL"),
        one("secret", "DINGTALK_SECRET")
            .stack_secret()
            .doc("the robot's 加签 secret, `SEC...`"),
        list("at_mobiles", "DINGTALK_AT_MOBILES").doc("mobiles to @-mention"),
        one("at_all", "DINGTALK_AT_ALL").doc("`true` or `false`: @-mention everyone"),
    ],
    after_minutes: one("after_minutes", "DINGTALK_AFTER_MINUTES"),
    variables: &[],
    validate: robot::validate::<DingTalk>,
    preview: |digest, style| {
        let body = request_body(digest, style, &[], false);
        body["markdown"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    },
    build: robot::build::<DingTalk>,
};

/// The most a markdown message's text may be, in bytes.
pub const TEXT_LIMIT: usize = 20_000;

/// DingTalk settings.
#[derive(Debug, Clone)]
pub struct DingTalkSettings {
    /// `DINGTALK_WEBHOOK_URL`: `https://oapi.dingtalk.com/robot/send?access_token=...`.
    pub webhook_url: Secret,
    /// `DINGTALK_SECRET`: the robot's 加签 secret (`SEC...`), when it signs.
    pub secret: Option<Secret>,
    /// `DINGTALK_AT_MOBILES`: mobiles to @-mention.
    pub at_mobiles: Vec<String>,
    /// `DINGTALK_AT_ALL`: @-mention everyone.
    pub at_all: bool,
}

impl DingTalkSettings {
    /// `None` when the channel is not configured.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        const HINT: &str = "set it to the robot's webhook URL, https://oapi.dingtalk.com/robot/send?access_token=...";
        let Some(webhook_url) = robot::webhook_url(env, "DINGTALK_WEBHOOK_URL", HINT)? else {
            if env.is_set("DINGTALK_SECRET") || env.is_set("DINGTALK_AT_MOBILES") {
                return Err(ConfigError::Missing {
                    var: "DINGTALK_WEBHOOK_URL",
                    hint: HINT.into(),
                });
            }
            return Ok(None);
        };
        let has_token = url::Url::parse(webhook_url.expose()).ok().is_some_and(|u| {
            u.query_pairs()
                .any(|(k, v)| k == "access_token" && !v.is_empty())
        });
        if !has_token {
            return Err(ConfigError::invalid(
                "DINGTALK_WEBHOOK_URL",
                crate::redact::REDACTED,
                "it has no access_token",
                HINT,
            ));
        }
        let secret = env.secret("DINGTALK_SECRET");
        if let Some(secret) = &secret
            && !secret.expose().starts_with("SEC")
        {
            return Err(ConfigError::invalid(
                "DINGTALK_SECRET",
                crate::redact::REDACTED,
                "a robot's signing secret starts with SEC",
                "copy the secret from the robot's security settings (加签), SEC...",
            ));
        }
        let at_mobiles: Vec<String> = env
            .list("DINGTALK_AT_MOBILES")
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Some(bad) = at_mobiles.iter().find(|m| {
            m.is_empty()
                || !m
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '+' || c == '-')
        }) {
            return Err(ConfigError::invalid(
                "DINGTALK_AT_MOBILES",
                bad,
                "not a mobile number",
                "set it to the mobiles to @-mention, comma-separated, e.g. 13800000000",
            ));
        }
        Ok(Some(DingTalkSettings {
            webhook_url,
            secret,
            at_mobiles,
            at_all: env.flag("DINGTALK_AT_ALL")?,
        }))
    }
}

/// `sign` for `timestamp_ms`, before URL encoding.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    signing::base64(&signing::hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// The request body: a markdown message whose text names the @-mentioned mobiles (DingTalk shows a
/// mention only when the text contains `@<mobile>`).
pub fn request_body(digest: &Digest, style: &Style, at_mobiles: &[String], at_all: bool) -> Value {
    let mentions: String = at_mobiles.iter().map(|m| format!(" @{m}")).collect();
    let mentions = if mentions.is_empty() {
        String::new()
    } else {
        format!("\n\n{}", mentions.trim_start())
    };
    // Markdown keeps a line break only after two spaces.
    let items: Vec<String> = digest
        .alerts
        .iter()
        .map(|a| {
            render::escaped_item(a, style, digest.time, &render::markdown_text)
                .replace('\n', "  \n")
        })
        .collect();
    let body = render::fit(
        &render::headline(digest, style),
        &items,
        "  \n",
        TEXT_LIMIT.saturating_sub(mentions.len()),
        style,
    );
    let text = format!("{body}{mentions}");
    json!({
        "msgtype": "markdown",
        "markdown": {"title": render::headline(digest, style), "text": text},
        "at": {"atMobiles": at_mobiles, "isAtAll": at_all},
    })
}

/// Reads the robot's answer.
pub fn read_reply(reply: &Value) -> Result<(), DeliveryError> {
    let message = reply
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match reply.get("errcode").and_then(Value::as_i64) {
        Some(0) => Ok(()),
        Some(310000) => Err(DeliveryError::permanent(format!(
            "310000: DingTalk refused the message ({}): {message}",
            refusal(message)
        ))),
        Some(300001) => Err(DeliveryError::permanent(format!(
            "300001: DingTalk does not know this robot's token: check webhook_url ({message})"
        ))),
        Some(130101) => Err(DeliveryError::permanent(format!(
            "130101: over 20 messages a minute: DingTalk holds this robot for 10 minutes, so the alerts wait for the next tick ({message})"
        ))),
        Some(code) => Err(DeliveryError::permanent(format!("{code}: {message}"))),
        None => Err(DeliveryError::retryable("DingTalk's answer has no errcode")),
    }
}

/// Which check refused a 310000, from its message (Chinese today, English on older robots).
fn refusal(message: &str) -> &'static str {
    let lower = message.to_lowercase();
    if message.contains("签名不匹配") || lower.contains("sign not match") {
        "the signature does not match: check secret"
    } else if message.contains("过期") || lower.contains("timestamp") {
        "the timestamp is more than an hour off: check this machine's clock"
    } else if message.contains("关键词") || lower.contains("keywords") {
        "the text lacks the robot's keyword: add it to the robot or use 加签"
    } else if message.contains("ip") || lower.contains("ip") {
        "this address is not allowed: add it to the robot's IP list or use 加签"
    } else {
        "its security settings"
    }
}

/// The webhook URL, signed now when the robot has a secret.
fn signed_url(settings: &DingTalkSettings) -> String {
    let base = settings.webhook_url.expose();
    match &settings.secret {
        None => base.to_owned(),
        Some(secret) => {
            let timestamp = Utc::now().timestamp_millis();
            let sign: String =
                url::form_urlencoded::byte_serialize(sign(secret.expose(), timestamp).as_bytes())
                    .collect();
            format!("{base}&timestamp={timestamp}&sign={sign}")
        }
    }
}

/// DingTalk, on the robots' one channel.
pub struct DingTalk;

/// Posts digests to a DingTalk robot.
pub type DingTalkNotifier = RobotChannel<DingTalk>;

impl RobotType for DingTalk {
    type Settings = DingTalkSettings;
    const CHANNEL: &'static str = TYPE.name;
    const NAME: &'static str = "DingTalk";
    fn settings(env: &Env) -> Result<Option<DingTalkSettings>, ConfigError> {
        DingTalkSettings::from_env(env)
    }

    fn request(settings: &DingTalkSettings, digest: &Digest, style: &Style) -> Request {
        let body = request_body(digest, style, &settings.at_mobiles, settings.at_all);
        Request::json(signed_url(settings), &body)
    }

    fn read(reply: &Reply) -> Result<(), DeliveryError> {
        read_reply(&reply.json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::AlertState;
    use crate::alerting::render::fixtures;

    #[test]
    fn the_signature_follows_dingtalks_recipe() {
        // key = secret, message = timestamp + "\n" + secret, base64.
        let expected = signing::base64(&signing::hmac_sha256(b"SECabc", b"1700000000000\nSECabc"));
        assert_eq!(sign("SECabc", 1_700_000_000_000), expected);
    }

    #[test]
    fn mentions_are_in_the_text_and_the_text_fits() {
        let alerts = (0..500)
            .map(|i| {
                fixtures::alert(
                    &format!("https://site-{i}.example/"),
                    AlertState::Failing,
                    &"x".repeat(200),
                )
            })
            .collect();
        let body = request_body(
            &fixtures::digest(alerts),
            &Style::default(),
            &["13800000000".into()],
            false,
        );
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(text.len() <= TEXT_LIMIT, "{}", text.len());
        assert!(
            text.ends_with("@13800000000"),
            "{}",
            &text[text.len() - 40..]
        );
        assert_eq!(body["at"]["atMobiles"][0], "13800000000");
    }

    #[test]
    fn refusals_say_which_check_refused() {
        let wrong_sign = read_reply(&json!({"errcode": 310000, "errmsg": "错误描述:机器人发送签名不匹配;解决方案:请确认签名和生成签名的时间戳必须都放在调用的请求URL中"})).unwrap_err();
        assert!(!wrong_sign.retryable && wrong_sign.owed);
        assert!(
            wrong_sign.reason.contains("signature does not match"),
            "{}",
            wrong_sign.reason
        );
        let english =
            read_reply(&json!({"errcode": 310000, "errmsg": "sign not match"})).unwrap_err();
        assert!(english.reason.contains("signature does not match"));
        let throttled =
            read_reply(&json!({"errcode": 130101, "errmsg": "send too fast"})).unwrap_err();
        assert!(!throttled.retryable && throttled.owed);
        assert!(read_reply(&json!({"errcode": 0, "errmsg": "ok"})).is_ok());
    }
}
