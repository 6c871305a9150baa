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
use crate::config::read::{self, Parse, Problem};
use crate::config::{Secret, SettingKey, list, one};
use crate::signing;

/// `type: dingtalk` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "dingtalk",
    keys: &[
        one("webhook_url", "DINGTALK_WEBHOOK_URL")
            .stack_secret()
            .doc("the robot's webhook URL")
            .hint("set it to the robot's webhook URL, https://oapi.dingtalk.com/robot/send?access_token=..."),
        one("secret", "DINGTALK_SECRET")
            .stack_secret()
            .doc("the robot's 加签 secret, `SEC...`")
            .hint("copy the secret from the robot's security settings (加签), SEC..."),
        list("at_mobiles", "DINGTALK_AT_MOBILES")
            .doc("mobiles to @-mention")
            .hint("set it to the mobiles to @-mention, comma-separated, e.g. 13800000000"),
        one("at_all", "DINGTALK_AT_ALL").doc("`true` or `false`: @-mention everyone"),
    ],
    after_minutes: one("after_minutes", "DINGTALK_AFTER_MINUTES"),
    degraded: one("degraded", "DINGTALK_DEGRADED").default("true"),
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
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DingTalkSettings {
    /// `DINGTALK_WEBHOOK_URL`: `https://oapi.dingtalk.com/robot/send?access_token=...`.
    #[serde(deserialize_with = "webhook")]
    pub webhook_url: Secret,
    /// `DINGTALK_SECRET`: the robot's 加签 secret (`SEC...`), when it signs.
    #[serde(default, deserialize_with = "read::parsed_some")]
    pub secret: Option<SigningSecret>,
    /// `DINGTALK_AT_MOBILES`: mobiles to @-mention.
    #[serde(default, deserialize_with = "mobiles")]
    pub at_mobiles: Vec<String>,
    /// `DINGTALK_AT_ALL`: @-mention everyone.
    #[serde(default)]
    pub at_all: bool,
}

impl read::Settings for DingTalkSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];
}

/// The webhook: an http(s) URL with its `access_token`.
fn webhook<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let url = read::secret_url(d)?;
    let has_token = url::Url::parse(url.expose()).ok().is_some_and(|u| {
        u.query_pairs()
            .any(|(k, v)| k == "access_token" && !v.is_empty())
    });
    if has_token {
        Ok(url)
    } else {
        Err(Problem::new("it has no access_token").error())
    }
}

/// The robot's 加签 secret, `SEC...`.
#[derive(Debug, Clone)]
pub struct SigningSecret(pub Secret);

impl Parse for SigningSecret {
    fn parse(raw: &str) -> Result<Self, Problem> {
        if raw.starts_with("SEC") {
            Ok(SigningSecret(Secret::new(raw.to_owned())))
        } else {
            Err(Problem::new("a robot's signing secret starts with SEC"))
        }
    }
}

/// Mobiles to @-mention.
fn mobiles<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    read::parsed_list::<D, Mobile>(d).map(|list| list.into_iter().map(|m| m.0).collect())
}

/// A mobile to @-mention: digits, `+` and `-`.
struct Mobile(String);

impl Parse for Mobile {
    fn parse(raw: &str) -> Result<Self, Problem> {
        if raw
            .chars()
            .all(|c| c.is_ascii_digit() || c == '+' || c == '-')
        {
            Ok(Mobile(raw.to_owned()))
        } else {
            Err(Problem::new("not a mobile number"))
        }
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
            let mut item = render::escaped_item(a, style, digest.time, &render::markdown_text);
            let links = render::markdown_links(a, style);
            if !links.is_empty() {
                item.push_str("\n  ");
                item.push_str(&links);
            }
            item.replace('\n', "  \n")
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
                url::form_urlencoded::byte_serialize(sign(secret.0.expose(), timestamp).as_bytes())
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
