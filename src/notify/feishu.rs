//! Feishu (飞书) / Lark custom bot: a signed interactive card with a coloured header.
//!
//! Signed in the body: `timestamp` (seconds) and `sign` = base64(HMAC-SHA256(key = `timestamp`,
//! a line break and the secret; message = empty)), the reverse of DingTalk's order. `code` 0 is
//! delivered; 19021 is a signature (or timestamp) refusal, 19001 an unknown hook: neither passes by
//! retrying; 9499 and 11232 are the bot's rate limits (100 a minute, 5 a second) and may pass.

use chrono::Utc;
use serde_json::{Value, json};

use super::DeliveryError;
use super::robot::{self, Reply, Request, RobotChannel, RobotType};
use crate::alerting::render::{self, Style};
use crate::alerting::{AlertState, Digest};
use crate::config::read::{self, Parse, Problem};
use crate::config::{ConfigError, Env, Secret, SettingKey, one};
use crate::signing;

/// `type: feishu` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "feishu",
    keys: &[
        one("webhook_url", "FEISHU_WEBHOOK_URL")
            .stack_secret()
            .doc("the bot's webhook URL, or only its hook id")
            .hint(HINT),
        one("secret", "FEISHU_SECRET")
            .stack_secret()
            .doc("the signing secret"),
        one("domain", "FEISHU_DOMAIN")
            .default("feishu")
            .doc("`feishu`, the default, or `lark`")
            .hint("set it to feishu (open.feishu.cn) or lark (open.larksuite.com)"),
    ],
    after_minutes: one("after_minutes", "FEISHU_AFTER_MINUTES"),
    degraded: one("degraded", "FEISHU_DEGRADED").default("true"),
    variables: &[],
    validate: robot::validate::<Feishu>,
    preview: |digest, style| super::pretty(&card(digest, style)),
    build: robot::build::<Feishu>,
};

/// The most a request body may be (Feishu refuses more than 20 KB); the card's text is cut to fit
/// with room for the rest of the body.
pub const BODY_LIMIT: usize = 20 * 1024;
const TEXT_LIMIT: usize = BODY_LIMIT - 2 * 1024;

/// Feishu settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct FeishuSettings {
    /// `FEISHU_WEBHOOK_URL`: the bot's webhook, or only its hook id (the URL is then built on
    /// `domain`'s host).
    pub webhook_url: Secret,
    /// `FEISHU_SECRET`: the signing secret, when the bot signs.
    pub secret: Option<Secret>,
    /// `FEISHU_DOMAIN`: Feishu's host or Lark's.
    #[serde(deserialize_with = "read::parsed")]
    pub domain: Domain,
}

impl read::Settings for FeishuSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];

    fn checked(self, _env: &Env) -> Result<Self, ConfigError> {
        checked(self)
    }
}

/// Feishu (`open.feishu.cn`) or Lark (`open.larksuite.com`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    /// `feishu` or `lark`.
    pub name: &'static str,
    /// Its API host.
    pub host: &'static str,
}

/// Feishu's own host, and Lark's.
const DOMAINS: [Domain; 2] = [
    Domain {
        name: "feishu",
        host: "open.feishu.cn",
    },
    Domain {
        name: "lark",
        host: "open.larksuite.com",
    },
];

impl Parse for Domain {
    fn parse(raw: &str) -> Result<Self, Problem> {
        DOMAINS
            .into_iter()
            .find(|d| d.name.eq_ignore_ascii_case(raw))
            .ok_or_else(|| Problem::new("not feishu or lark"))
    }
}

const HINT: &str = "set it to the bot's webhook URL, https://open.feishu.cn/open-apis/bot/v2/hook/... (or only the hook id)";

/// A hook id becomes its URL on the domain's host; a URL must be an http(s) one, and a public
/// hook must be on the domain's host (said now, rather than refused at the first alert).
fn checked(mut settings: FeishuSettings) -> Result<FeishuSettings, ConfigError> {
    let domain = settings.domain;
    let raw = settings.webhook_url.expose();
    if raw.contains("://") {
        let Some(url) = read::http_url(raw) else {
            return Err(ConfigError::invalid(
                "FEISHU_WEBHOOK_URL",
                crate::redact::REDACTED,
                "not an http(s) URL",
                HINT,
            ));
        };
        if let Some(other) = DOMAINS
            .iter()
            .find(|d| url.host_str() == Some(d.host) && **d != domain)
        {
            return Err(ConfigError::invalid(
                "FEISHU_DOMAIN",
                domain.name,
                format!("the webhook is on {}", other.host),
                format!("set it to {}", other.name),
            ));
        }
    } else {
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConfigError::invalid(
                "FEISHU_WEBHOOK_URL",
                crate::redact::REDACTED,
                "neither a URL nor a hook id",
                HINT,
            ));
        }
        settings.webhook_url = Secret::new(format!(
            "https://{}/open-apis/bot/v2/hook/{raw}",
            domain.host
        ));
    }
    Ok(settings)
}

/// `sign` for `timestamp` (seconds).
pub fn sign(secret: &str, timestamp: i64) -> String {
    let key = format!("{timestamp}\n{secret}");
    signing::base64(&signing::hmac_sha256(key.as_bytes(), b""))
}

/// The card: a header coloured by the digest's worst state, the alerts as lark_md.
pub fn card(digest: &Digest, style: &Style) -> Value {
    let template = match render::headline_state(digest) {
        AlertState::Failing => "red",
        AlertState::MonitorError | AlertState::Degraded => "orange",
        AlertState::Recovered => "green",
        AlertState::Retired => "grey",
        AlertState::Acknowledged => "blue",
    };
    let items: Vec<String> = digest
        .alerts
        .iter()
        .map(|a| render::escaped_item(a, style, digest.time, &render::markdown_text))
        .collect();
    let header = format!("{} · {}", style.counts(digest), style.time(digest.time));
    let div = |text: &str| json!({"tag": "div", "text": {"tag": "lark_md", "content": text}});
    let elements = if digest.alerts.iter().all(|a| a.links.is_none()) {
        vec![div(&render::fit(&header, &items, "\n", TEXT_LIMIT, style))]
    } else {
        // An alert with answer links is a text of its own followed by its buttons; the others
        // are gathered into texts between them. What does not fit is counted at the end.
        let mut elements = vec![div(&header)];
        let mut size = header.len();
        let mut gathered: Vec<&str> = Vec::new();
        for (shown, (alert, item)) in digest.alerts.iter().zip(&items).enumerate() {
            let buttons = alert.links.as_ref().map(|links| buttons(links, style));
            let cost = item.len() + buttons.as_ref().map_or(0, |b| b.to_string().len());
            if size + cost + 64 > TEXT_LIMIT {
                if !gathered.is_empty() {
                    elements.push(div(&gathered.join("\n")));
                    gathered.clear();
                }
                elements.push(div(&style.more(items.len() - shown)));
                break;
            }
            size += cost;
            gathered.push(item);
            if let Some(buttons) = buttons {
                elements.push(div(&gathered.join("\n")));
                gathered.clear();
                elements.push(buttons);
            }
        }
        if !gathered.is_empty() {
            elements.push(div(&gathered.join("\n")));
        }
        elements
    };
    json!({
        "header": {
            "title": {"tag": "plain_text", "content": format!("lookout · {}", style.watched(digest))},
            "template": template,
        },
        "elements": elements,
    })
}

/// An alert's answer links as a row of buttons that open them (a card's `action` module).
fn buttons(links: &crate::alerting::answers::Links, style: &Style) -> Value {
    let actions: Vec<Value> = links
        .each()
        .iter()
        .map(|(action, url)| {
            json!({
                "tag": "button",
                "text": {"tag": "plain_text", "content": style.action(*action)},
                "type": if *action == crate::alerting::answers::Action::Acknowledge { "primary" } else { "default" },
                "url": url,
            })
        })
        .collect();
    json!({"tag": "action", "actions": actions})
}

/// The request body, signed at `timestamp` when there is a secret.
pub fn request_body(digest: &Digest, style: &Style, secret: Option<&str>, timestamp: i64) -> Value {
    let mut body = json!({"msg_type": "interactive", "card": card(digest, style)});
    if let Some(secret) = secret {
        body["timestamp"] = json!(timestamp.to_string());
        body["sign"] = json!(sign(secret, timestamp));
    }
    body
}

/// Reads the bot's answer.
pub fn read_reply(reply: &Value) -> Result<(), DeliveryError> {
    let message = reply.get("msg").and_then(Value::as_str).unwrap_or_default();
    // Older answers carry `StatusCode` instead of `code`.
    let code = reply
        .get("code")
        .or_else(|| reply.get("StatusCode"))
        .and_then(Value::as_i64);
    match code {
        Some(0) => Ok(()),
        Some(19021) => Err(DeliveryError::permanent(format!(
            "19021: Feishu refused the signature or its timestamp (check secret, and this machine's clock): {message}"
        ))),
        Some(19001) => Err(DeliveryError::permanent(format!(
            "19001: Feishu does not know this hook: check webhook_url and domain ({message})"
        ))),
        Some(code @ (9499 | 11232)) => Err(DeliveryError::retryable(format!(
            "{code}: Feishu's rate limit (100 a minute, 5 a second per bot): {message}"
        ))),
        Some(code) => Err(DeliveryError::permanent(format!("{code}: {message}"))),
        None => Err(DeliveryError::retryable("Feishu's answer has no code")),
    }
}

/// Feishu, on the robots' one channel.
pub struct Feishu;

/// Posts digests to a Feishu or Lark bot.
pub type FeishuNotifier = RobotChannel<Feishu>;

impl RobotType for Feishu {
    type Settings = FeishuSettings;
    const CHANNEL: &'static str = TYPE.name;
    const NAME: &'static str = "Feishu";
    const EXPLAINS_4XX: bool = true;

    fn request(settings: &FeishuSettings, digest: &Digest, style: &Style) -> Request {
        let body = request_body(
            digest,
            style,
            settings.secret.as_ref().map(Secret::expose),
            Utc::now().timestamp(),
        );
        Request::json(settings.webhook_url.expose(), &body)
    }

    fn read(reply: &Reply) -> Result<(), DeliveryError> {
        read_reply(&reply.json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::render::fixtures;
    use crate::config::Env;

    #[test]
    fn the_signature_is_keyed_by_timestamp_and_secret() {
        let expected = signing::base64(&signing::hmac_sha256(b"1700000000\nsecret", b""));
        assert_eq!(sign("secret", 1_700_000_000), expected);
    }

    #[test]
    fn the_card_is_coloured_by_the_worst_state_and_fits() {
        let alerts = (0..400)
            .map(|i| {
                fixtures::alert(
                    &format!("https://s{i}.example/"),
                    AlertState::MonitorError,
                    &"y".repeat(300),
                )
            })
            .collect();
        let body = request_body(&fixtures::digest(alerts), &Style::default(), Some("s"), 1);
        assert_eq!(body["card"]["header"]["template"], "orange");
        assert!(
            body.to_string().len() <= BODY_LIMIT,
            "{}",
            body.to_string().len()
        );
        assert_eq!(body["timestamp"], "1");
    }

    #[test]
    fn a_hook_id_is_built_on_its_domain_and_a_mismatch_is_refused() {
        let env = Env::from_pairs([("FEISHU_WEBHOOK_URL", "abc-123"), ("FEISHU_DOMAIN", "lark")]);
        let s = read::settings_if_set::<FeishuSettings>(&env)
            .unwrap()
            .unwrap();
        assert_eq!(
            s.webhook_url.expose(),
            "https://open.larksuite.com/open-apis/bot/v2/hook/abc-123"
        );
        let env = Env::from_pairs([(
            "FEISHU_WEBHOOK_URL",
            "https://open.larksuite.com/open-apis/bot/v2/hook/x",
        )]);
        let error = read::settings_if_set::<FeishuSettings>(&env)
            .unwrap_err()
            .to_string();
        assert!(error.contains("set it to lark"), "{error}");
    }
}
