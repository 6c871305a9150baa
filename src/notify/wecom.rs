//! The WeCom (企业微信) group robot channel.

use serde_json::{Value, json};

use super::DeliveryError;
use super::robot::{self, Reply, Request, RobotChannel, RobotType};
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};
use crate::alerting::{Alert, AlertState};
use crate::config::read::{self, Parse, Problem};
use crate::config::{Secret, SettingKey, list, one};
use chrono::{DateTime, Utc};

/// `type: wecom` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "wecom",
    keys: &[
        one("webhook_url", "WECOM_WEBHOOK_URL")
            .stack_secret()
            .doc("the robot's webhook URL, with its key")
            .hint("set it to the robot's full webhook URL, https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."),
        list("mention_mobiles", "WECOM_MENTION_MOBILES")
            .parameter()
            .doc("mobiles to @-mention, or `@all`")
            .hint("set it to mobiles, comma-separated, e.g. 13800001111,13900002222, or @all"),
    ],
    after_minutes: one("after_minutes", "WECOM_AFTER_MINUTES").parameter(),
    degraded: one("degraded", "WECOM_DEGRADED").default("true"),
    variables: &[],
    validate: robot::validate::<WeCom>,
    preview: |digest, style| markdown(digest, style),
    build: robot::build::<WeCom>,
};

/// WeCom robot settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct WeComSettings {
    /// `WECOM_WEBHOOK_URL`: the full webhook URL; its `key` is a secret (registered alone, as
    /// written and decoded, by [`Secret::new`]: a robot can echo it on its own).
    #[serde(deserialize_with = "read::secret_url")]
    pub webhook_url: Secret,
    /// `WECOM_MENTION_MOBILES`: mobiles to @-mention, or `@all`.
    #[serde(default, deserialize_with = "mentions")]
    pub mention_mobiles: Vec<String>,
}

impl read::Settings for WeComSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];
}

/// Mobiles to @-mention: 11 digits each, or `@all`.
fn mentions<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    read::parsed_list::<D, Mention>(d).map(|list| list.into_iter().map(|m| m.0).collect())
}

struct Mention(String);

impl Parse for Mention {
    fn parse(raw: &str) -> Result<Self, Problem> {
        let is_mobile = raw.len() == 11 && raw.chars().all(|c| c.is_ascii_digit());
        if raw == "@all" || is_mobile {
            Ok(Mention(raw.to_owned()))
        } else {
            Err(Problem::new("not an 11-digit mobile number or @all"))
        }
    }
}

/// The request body for a digest: markdown, or text when people are to be @-mentioned (markdown
/// messages cannot mention by mobile).
pub fn request_body(digest: &Digest, style: &Style, mention_mobiles: &[String]) -> Value {
    if mention_mobiles.is_empty() {
        json!({"msgtype": "markdown", "markdown": {"content": markdown(digest, style)}})
    } else {
        json!({"msgtype": "text", "text": {
            "content": text(digest, style),
            "mentioned_mobile_list": mention_mobiles,
        }})
    }
}

/// Reads the robot's answer: `errcode` 0 is delivered.
pub fn read_reply(status: u16, body: &[u8]) -> Result<(), DeliveryError> {
    if status >= 500 || status == 429 {
        return Err(DeliveryError::retryable(format!(
            "WeCom answered HTTP {status}"
        )));
    }
    if status != 200 {
        return Err(DeliveryError::permanent(format!(
            "WeCom answered HTTP {status}"
        )));
    }
    let reply: Value = serde_json::from_slice(body)
        .map_err(|_| DeliveryError::retryable("WeCom's answer is not JSON"))?;
    let code = reply.get("errcode").and_then(Value::as_i64);
    let message = reply
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match code {
        Some(0) => Ok(()),
        Some(45009) => Err(DeliveryError::retryable(
            "45009: over 20 messages a minute for this robot",
        )),
        Some(93000) => Err(DeliveryError::permanent(
            "93000: the webhook key is invalid: check WECOM_WEBHOOK_URL",
        )),
        Some(code) => Err(DeliveryError::permanent(format!("{code}: {message}"))),
        None => Err(DeliveryError::retryable("WeCom's answer has no errcode")),
    }
}

/// WeCom, on the robots' one channel.
pub struct WeCom;

/// Posts digests to a WeCom group robot.
pub type WeComNotifier = RobotChannel<WeCom>;

impl RobotType for WeCom {
    type Settings = WeComSettings;
    const CHANNEL: &'static str = TYPE.name;
    const NAME: &'static str = "WeCom";

    fn request(settings: &WeComSettings, digest: &Digest, style: &Style) -> Request {
        Request::json(
            settings.webhook_url.expose(),
            &request_body(digest, style, &settings.mention_mobiles),
        )
    }

    fn read(reply: &Reply) -> Result<(), DeliveryError> {
        read_reply(reply.status, reply.text.as_bytes())
    }
}

/// WeCom's limit for a markdown message, in bytes of UTF-8.
pub const WECOM_MARKDOWN_LIMIT: usize = 4096;
/// WeCom's limit for a text message, in bytes of UTF-8.
pub const WECOM_TEXT_LIMIT: usize = 2048;
/// The longest a single item may be in a WeCom digest, so one huge message cannot crowd out the rest.
const ITEM_LIMIT: usize = 1024;

fn markdown_item(alert: &Alert, style: &Style, now: DateTime<Utc>) -> String {
    let color = match alert.state {
        AlertState::Failing => "warning",
        AlertState::MonitorError | AlertState::Degraded | AlertState::Acknowledged => "comment",
        AlertState::Recovered | AlertState::Retired => "info",
    };
    // The target and the check's sentence come from outside (host, program and job names, a
    // job's output): text, never markup.
    let mut item = format!(
        "><font color=\"{color}\">{}</font> `{}`\n>{}",
        render::title(alert, style),
        render::markdown_text(&alert.target),
        style.detail(alert, now)
    );
    if alert.state.tells_failure() {
        item.push_str(&format!(
            "\n>{}",
            render::markdown_text(&alert.message).replace('\n', "\n>")
        ));
    }
    // The links go after the cap: a long message never cuts one in half.
    let links = render::markdown_links(alert, style);
    let mut item = cap_item(item);
    if !links.is_empty() {
        item.push_str("\n>");
        item.push_str(&links);
    }
    item
}

fn cap_item(item: String) -> String {
    if item.len() > ITEM_LIMIT {
        format!(
            "{}…",
            render::truncate_bytes(&item, ITEM_LIMIT - '…'.len_utf8())
        )
    } else {
        item
    }
}

/// The WeCom markdown digest: at most [`WECOM_MARKDOWN_LIMIT`] bytes; when items do not fit, it ends
/// with how many were left out.
pub fn markdown(digest: &Digest, style: &Style) -> String {
    let title = if style.zh() {
        "lookout 告警"
    } else {
        "lookout alert"
    };
    let header = format!(
        "## {title} · {}\n**{}** · {}",
        style.watched(digest),
        style.counts(digest),
        style.time(digest.time)
    );
    let items: Vec<String> = digest
        .alerts
        .iter()
        .map(|a| markdown_item(a, style, digest.time))
        .collect();
    render::fit(&header, &items, "\n\n", WECOM_MARKDOWN_LIMIT, style)
}

/// The WeCom text digest, used when people are @-mentioned by mobile (markdown messages cannot
/// mention by mobile): at most [`WECOM_TEXT_LIMIT`] bytes, cut the same way.
pub fn text(digest: &Digest, style: &Style) -> String {
    let items: Vec<String> = digest
        .alerts
        .iter()
        .map(|a| {
            cap_item(render::escaped_item(a, style, digest.time, &|t| {
                t.to_owned()
            })) + &render::plain_links(a, style)
        })
        .collect();
    render::fit(
        &render::headline(digest, style),
        &items,
        "\n",
        WECOM_TEXT_LIMIT,
        style,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::render::fixtures;
    use crate::alerting::render::truncate_bytes;
    use crate::alerting::{Alert, AlertState};
    use crate::config::Env;
    use chrono::Utc;

    fn digest() -> Digest {
        Digest {
            function: "site-status",
            time: Utc::now(),
            alerts: vec![Alert {
                key: "k".into(),
                function: "site-status",
                target: "https://a/".into(),
                state: AlertState::Failing,
                kind: Some("status".into()),
                message: "answered 503".into(),
                since: Utc::now(),
                until: None,
                step: Some(1),
                note: None,
                channels: vec![],
                answer: None,
                links: None,
            }],
        }
    }

    #[test]
    fn the_body_is_markdown_or_text_with_mentions() {
        let style = Style::default();
        let markdown = request_body(&digest(), &style, &[]);
        assert_eq!(markdown["msgtype"], "markdown");
        assert!(
            markdown["markdown"]["content"]
                .as_str()
                .unwrap()
                .contains("https://a/")
        );
        let text = request_body(&digest(), &style, &["13800001111".into(), "@all".into()]);
        assert_eq!(text["msgtype"], "text");
        assert_eq!(
            text["text"]["mentioned_mobile_list"],
            json!(["13800001111", "@all"])
        );
    }

    #[test]
    fn replies_are_read_by_errcode() {
        assert_eq!(read_reply(200, br#"{"errcode":0,"errmsg":"ok"}"#), Ok(()));
        assert!(
            read_reply(
                200,
                br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            )
            .unwrap_err()
            .retryable
        );
        for code in [93000, 40008, 44004, 40058] {
            let body = format!(r#"{{"errcode":{code},"errmsg":"no"}}"#);
            assert!(
                !read_reply(200, body.as_bytes()).unwrap_err().retryable,
                "{code}"
            );
        }
        assert!(read_reply(502, b"").unwrap_err().retryable);
        assert!(!read_reply(404, b"").unwrap_err().retryable);
        assert!(read_reply(200, b"<html>").unwrap_err().retryable);
    }

    #[test]
    fn settings_refuse_a_bad_url_without_quoting_it() {
        let env = Env::from_pairs([("WECOM_WEBHOOK_URL", "qyapi?key=SECRET-KEY-123")]);
        let text = read::settings_if_set::<WeComSettings>(&env)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("WECOM_WEBHOOK_URL") && !text.contains("SECRET-KEY-123"),
            "{text}"
        );
        let env = Env::from_pairs([
            ("WECOM_WEBHOOK_URL", "https://x/?key=k"),
            ("WECOM_MENTION_MOBILES", "123"),
        ]);
        assert!(
            read::settings_if_set::<WeComSettings>(&env)
                .unwrap_err()
                .to_string()
                .contains("WECOM_MENTION_MOBILES=\"123\"")
        );
        assert_eq!(
            read::settings_if_set::<WeComSettings>(&Env::default()).unwrap(),
            None
        );
        let only_mentions = Env::from_pairs([("WECOM_MENTION_MOBILES", "@all")]);
        assert!(read::settings_if_set::<WeComSettings>(&only_mentions).is_err());
    }
    #[test]
    fn wecom_markdown_fits_4096_bytes_and_says_how_many_were_left_out() {
        let long = "很长的错误信息".repeat(20);
        let alerts = (0..100)
            .map(|i| {
                fixtures::alert(
                    &format!("https://site-{i}.example/"),
                    AlertState::Failing,
                    &long,
                )
            })
            .collect();
        let text = markdown(&fixtures::digest(alerts), &Style::default());
        assert!(text.len() <= WECOM_MARKDOWN_LIMIT, "{}", text.len());
        let shown = text.matches("https://site-").count();
        assert!(shown > 3 && shown < 100, "{shown}");
        assert!(
            text.ends_with(&format!("……另有 {} 项未列出", 100 - shown)),
            "{text}"
        );
    }

    #[test]
    fn a_single_huge_item_is_cut_on_a_character_boundary() {
        let huge = "错".repeat(5000);
        let text = markdown(
            &fixtures::digest(vec![fixtures::alert(
                "https://a/",
                AlertState::Failing,
                &huge,
            )]),
            &Style::default(),
        );
        assert!(text.len() <= WECOM_MARKDOWN_LIMIT);
        assert!(text.ends_with('…'), "{text}");
        assert!(truncate_bytes("错误", 4) == "错");
    }

    #[test]
    fn the_wecom_text_digest_fits_2048_bytes() {
        let alerts = (0..60)
            .map(|i| {
                fixtures::alert(
                    &format!("https://site-{i}.example/"),
                    AlertState::Failing,
                    "answered 503 Service Unavailable",
                )
            })
            .collect();
        let text = super::text(&fixtures::digest(alerts), &fixtures::english());
        assert!(text.len() <= WECOM_TEXT_LIMIT, "{}", text.len());
        let shown = text.matches("https://site-").count();
        assert!(
            text.ends_with(&format!("... {} more not shown", 60 - shown)),
            "{text}"
        );
    }

    #[test]
    fn a_small_digest_is_whole() {
        let d = fixtures::digest(vec![
            fixtures::alert("https://a/", AlertState::Failing, "down"),
            fixtures::alert("https://b/", AlertState::MonitorError, "cannot check"),
        ]);
        let text = markdown(&d, &fixtures::english());
        assert!(
            text.starts_with("## lookout alert · site status\n**1 failing, 1 monitor error**"),
            "{text}"
        );
        assert!(text.contains("`https://a/`") && text.contains("`https://b/`"));
        assert!(!text.contains("more not shown"));
    }
}
