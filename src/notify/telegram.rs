//! Telegram bot: `sendMessage` with `parse_mode: HTML` to one chat.
//!
//! `{"ok":true}` is delivered; `{"ok":false,"error_code":429,"parameters":{"retry_after":N}}` is
//! the flood limit and waits N seconds; 400 (a wrong chat, a message too long), 401 (a wrong
//! token) and 403 (the bot was removed) will not pass by retrying. The token sits in the URL path:
//! it never reaches a message.

use serde_json::{Value, json};

use super::DeliveryError;
use super::robot::{self, Reply, Request, RobotChannel, RobotType};
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};
use crate::config::read::{self, Problem};
use crate::config::{Secret, SettingKey, one};

/// `type: telegram` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "telegram",
    keys: &[
        one("bot_token", "TELEGRAM_BOT_TOKEN")
            .stack_secret()
            .doc("the bot's token from @BotFather")
            .hint("set it to the bot's token from @BotFather, like 123456:ABC-DEF..."),
        one("chat_id", "TELEGRAM_CHAT_ID")
            .doc("the chat (`-100...` for a group, `@channel` for a channel)")
            .hint("set it to the chat's id (-100... for a group) or @channelname"),
        one("base_url", "TELEGRAM_BASE_URL")
            .default("https://api.telegram.org")
            .doc("the Bot API; default `https://api.telegram.org`")
            .hint("leave it unset for https://api.telegram.org, or set it to a Bot API proxy"),
    ],
    after_minutes: one("after_minutes", "TELEGRAM_AFTER_MINUTES"),
    degraded: one("degraded", "TELEGRAM_DEGRADED").default("true"),
    variables: &[],
    validate: robot::validate::<Telegram>,
    preview: |digest, style| text(digest, style),
    build: robot::build::<Telegram>,
};

/// The most a message may be: 4,096 characters after entities are parsed; kept in bytes of the
/// escaped text, which is never fewer.
pub const TEXT_LIMIT: usize = 4096;

/// Telegram settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TelegramSettings {
    /// `TELEGRAM_BOT_TOKEN`: `123456:ABC-...` from @BotFather.
    #[serde(deserialize_with = "bot_token")]
    pub bot_token: Secret,
    /// `TELEGRAM_CHAT_ID`: the chat (`-100...` for a group, `@channel` for a channel).
    #[serde(deserialize_with = "read::word")]
    pub chat_id: String,
    /// `TELEGRAM_BASE_URL`: the Bot API (a proxy; tests).
    #[serde(deserialize_with = "read::parsed")]
    pub base_url: url::Url,
}

impl read::Settings for TelegramSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];
}

/// A bot token, `<digits>:<letters, digits, _ and ->`.
fn bot_token<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let token = <Secret as serde::Deserialize>::deserialize(d)?;
    let valid = token.expose().split_once(':').is_some_and(|(id, key)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if valid {
        Ok(token)
    } else {
        Err(Problem::new("not a bot token").error())
    }
}

/// Escapes text for Telegram's HTML: `<`, `>` and `&`.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message: the headline in bold, then each alert, escaped, within [`TEXT_LIMIT`].
pub fn text(digest: &Digest, style: &Style) -> String {
    let header = format!("<b>{}</b>", escape(&render::headline(digest, style)));
    let items: Vec<String> = digest
        .alerts
        .iter()
        // An `@name` in what came from outside would mention (and notify) that user.
        .map(|a| {
            escape(&render::escaped_item(a, style, digest.time, &|text| {
                text.replace('@', "＠")
            })) + &links(a, style)
        })
        .collect();
    render::fit(&header, &items, "\n", TEXT_LIMIT, style)
}

/// An alert's answer links as HTML links on one line ("<a href=…>Acknowledge</a> · …"); empty
/// without links. The URLs are lookout's own (base64url tokens), escaped all the same.
fn links(alert: &crate::alerting::Alert, style: &Style) -> String {
    let shown = render::html_links(alert, style, &|text| escape(text).replace('"', "&quot;"));
    if shown.is_empty() {
        return shown;
    }
    format!("\n  {shown}")
}

/// Reads the Bot API's answer.
pub fn read_reply(reply: &Value) -> Result<(), DeliveryError> {
    if reply.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let code = reply.get("error_code").and_then(Value::as_i64);
    let description = reply
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("no description");
    match code {
        Some(429) => {
            let wait = reply
                .pointer("/parameters/retry_after")
                .and_then(Value::as_u64)
                .map(std::time::Duration::from_secs);
            Err(robot::waiting(
                format!("Telegram's flood limit: {description}"),
                wait,
            ))
        }
        Some(401) => Err(DeliveryError::permanent(
            "401: Telegram refused the bot token: check bot_token",
        )),
        Some(code @ 500..=599) => Err(DeliveryError::retryable(format!("{code}: {description}"))),
        Some(code) => Err(DeliveryError::permanent(format!("{code}: {description}"))),
        None => Err(DeliveryError::retryable(
            "Telegram's answer is not the Bot API's",
        )),
    }
}

/// Telegram, on the robots' one channel.
pub struct Telegram;

/// Sends digests to a Telegram chat.
pub type TelegramNotifier = RobotChannel<Telegram>;

impl RobotType for Telegram {
    type Settings = TelegramSettings;
    const CHANNEL: &'static str = TYPE.name;
    const NAME: &'static str = "Telegram";
    const EXPLAINS_4XX: bool = true;

    fn request(settings: &TelegramSettings, digest: &Digest, style: &Style) -> Request {
        let url = format!(
            "{}/bot{}/sendMessage",
            settings.base_url.as_str().trim_end_matches('/'),
            settings.bot_token.expose()
        );
        let body = json!({
            "chat_id": settings.chat_id,
            "text": text(digest, style),
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        Request::json(url, &body)
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
    fn the_text_is_escaped_and_fits() {
        let alerts = (0..200)
            .map(|i| {
                fixtures::alert(
                    &format!("https://s{i}.example/?a=1&b=<2>"),
                    AlertState::Failing,
                    "down",
                )
            })
            .collect();
        let text = text(&fixtures::digest(alerts), &Style::default());
        assert!(text.len() <= TEXT_LIMIT);
        assert!(text.contains("&amp;b=&lt;2&gt;") && !text.contains("<2>"));
    }

    #[test]
    fn the_flood_limit_waits_as_told() {
        let error = read_reply(&json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}})).unwrap_err();
        assert!(error.retryable);
        assert_eq!(error.retry_after, Some(std::time::Duration::from_secs(3)));
        let long = read_reply(
            &json!({"ok": false, "error_code": 429, "parameters": {"retry_after": 600}}),
        )
        .unwrap_err();
        assert!(!long.retryable && long.owed);
    }
}
