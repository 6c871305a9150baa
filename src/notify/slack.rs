//! Slack incoming webhook: `text` (the notification's words) plus `blocks` (the digest as mrkdwn).
//! Slack answers `ok`; a 429 carries `Retry-After`; 4xx refusals (`invalid_payload`,
//! `channel_is_archived`, `no_service`) will not pass by retrying.

use serde_json::{Value, json};

use super::DeliveryError;
use super::robot::{self, Reply, Request, RobotChannel, RobotType};
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};
use crate::config::{Secret, SettingKey, one, read};

/// `type: slack` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "slack",
    keys: &[one("webhook_url", "SLACK_WEBHOOK_URL")
        .stack_secret()
        .doc("the incoming webhook's URL")
        .hint("set it to the incoming webhook's URL, https://hooks.slack.com/services/...")],
    after_minutes: one("after_minutes", "SLACK_AFTER_MINUTES"),
    degraded: one("degraded", "SLACK_DEGRADED").default("true"),
    variables: &[],
    validate: robot::validate::<Slack>,
    preview: |digest, style| super::pretty(&request_body(digest, style)),
    build: robot::build::<Slack>,
};

/// The most a section block's text may be (Slack refuses more than 3,000 characters); kept in
/// bytes, which is never more characters.
pub const SECTION_LIMIT: usize = 3000;
/// Section blocks per message at most (Slack allows 50; one is the headline).
const MAX_SECTIONS: usize = 10;
/// The most blocks a message may have.
const MAX_BLOCKS: usize = 50;

/// Slack settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SlackSettings {
    /// `SLACK_WEBHOOK_URL`: `https://hooks.slack.com/services/...`.
    #[serde(deserialize_with = "read::secret_url")]
    pub webhook_url: Secret,
}

impl read::Settings for SlackSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];
}

/// Escapes what Slack's mrkdwn reads as markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The request body: the headline as `text`, the alerts in section blocks, each within Slack's
/// limit; alerts past the last block are counted, "and N more".
pub fn request_body(digest: &Digest, style: &Style) -> Value {
    let headline = render::headline(digest, style);
    let items: Vec<String> = digest
        .alerts
        .iter()
        .map(|a| {
            escape(&render::escaped_item(a, style, digest.time, &|t| {
                t.to_owned()
            }))
        })
        .collect();
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*", escape(&headline))}}),
    ];
    if digest.alerts.iter().any(|a| a.links.is_some()) {
        // Each alert is a section of its own, followed by its answer buttons when it has links.
        for (shown, (alert, item)) in digest.alerts.iter().zip(&items).enumerate() {
            if blocks.len() + 3 > MAX_BLOCKS {
                let more = style.more(items.len() - shown);
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": more}}));
                break;
            }
            let text = render::truncate_chars(item, SECTION_LIMIT - 16);
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
            if let Some(links) = &alert.links {
                blocks.push(buttons(links, style, shown));
            }
        }
        return json!({"text": headline, "blocks": blocks});
    }
    let mut left = items.as_slice();
    while !left.is_empty() && blocks.len() < MAX_SECTIONS {
        // Each block takes what fits; the last one also says how many did not.
        let mut taken = 0;
        let mut size = 0;
        while taken < left.len() && size + left[taken].len() < SECTION_LIMIT - 64 {
            size += left[taken].len() + 1;
            taken += 1;
        }
        let last = blocks.len() + 1 == MAX_SECTIONS;
        let text = if taken == 0 || last {
            render::fit("", left, "\n", SECTION_LIMIT, style)
                .trim_start()
                .to_owned()
        } else {
            left[..taken].join("\n")
        };
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
        left = if taken == 0 || last {
            &[]
        } else {
            &left[taken..]
        };
    }
    json!({"text": headline, "blocks": blocks})
}

/// Slack, on the robots' one channel.
/// An alert's answer links as an `actions` block of URL buttons (they open the link; no
/// interactivity is needed of the webhook's app).
fn buttons(links: &crate::alerting::answers::Links, style: &Style, index: usize) -> Value {
    let elements: Vec<Value> = links
        .each()
        .iter()
        .enumerate()
        .map(|(i, (action, url))| {
            let mut button = json!({
                "type": "button",
                "text": {"type": "plain_text", "text": style.action(*action)},
                "url": url,
                "action_id": format!("lookout-{index}-{i}"),
            });
            if i == 0 {
                button["style"] = json!("primary");
            }
            button
        })
        .collect();
    json!({"type": "actions", "elements": elements})
}

pub struct Slack;

/// Posts digests to a Slack incoming webhook.
pub type SlackNotifier = RobotChannel<Slack>;

impl RobotType for Slack {
    type Settings = SlackSettings;
    const CHANNEL: &'static str = TYPE.name;
    const NAME: &'static str = "Slack";

    fn request(settings: &SlackSettings, digest: &Digest, style: &Style) -> Request {
        Request::json(settings.webhook_url.expose(), &request_body(digest, style))
    }

    fn read(_reply: &Reply) -> Result<(), DeliveryError> {
        // 2xx is delivered (Slack answers `ok`); 429 and 5xx are retried by the transport;
        // other refusals are not.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::AlertState;
    use crate::alerting::render::fixtures;

    #[test]
    fn every_block_fits_and_the_rest_are_counted() {
        let alerts = (0..300)
            .map(|i| {
                fixtures::alert(
                    &format!("https://s{i}.example/<b>"),
                    AlertState::Failing,
                    &"z".repeat(150),
                )
            })
            .collect();
        let body = request_body(&fixtures::digest(alerts), &fixtures::english());
        let blocks = body["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_SECTIONS);
        for block in blocks {
            let text = block["text"]["text"].as_str().unwrap();
            assert!(text.len() <= SECTION_LIMIT, "{}", text.len());
            assert!(!text.contains("<b>"), "escaped");
        }
        let last = blocks.last().unwrap()["text"]["text"].as_str().unwrap();
        assert!(last.contains("more"), "{last}");
    }
}
