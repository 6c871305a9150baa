//! How alerts read: the vocabulary every channel shares (states, failure kinds, times, the
//! headline, plain text) and the length budget. Each channel lays its messages out in its own file
//! (`notify/wecom.rs`, ...). Chinese by default, English with `ALERT_LANGUAGE=en`.
//!
//! The frame (headlines, states, failure kinds, times) is translated; the detail sentence of each
//! failure is the check's own words.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::answers::Action;
use super::{Alert, AlertNote, AlertState, Digest};
use crate::config::{ConfigError, Env};

/// The language messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// 中文 (the default).
    Chinese,
    /// English.
    English,
}

/// How messages are written: language and the time zone of the times in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// `ALERT_LANGUAGE`: `zh` (default) or `en`.
    pub language: Language,
    /// `ALERT_TIMEZONE`: an IANA zone, default `Asia/Shanghai`.
    pub timezone: Tz,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            language: Language::Chinese,
            timezone: chrono_tz::Asia::Shanghai,
        }
    }
}

impl Style {
    /// Reads `ALERT_LANGUAGE` and `ALERT_TIMEZONE`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let language = match env
            .get("ALERT_LANGUAGE")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("zh") | Some("zh-cn") | Some("cn") => Language::Chinese,
            Some("en") | Some("en-us") | Some("en-gb") => Language::English,
            Some(_) => {
                return Err(ConfigError::invalid(
                    "ALERT_LANGUAGE",
                    env.get("ALERT_LANGUAGE").unwrap_or_default(),
                    "not a language lookout writes",
                    "set it to zh (Chinese, the default) or en (English)",
                ));
            }
        };
        let timezone = crate::config::timezone(env)?;
        Ok(Style { language, timezone })
    }

    pub fn zh(&self) -> bool {
        self.language == Language::Chinese
    }

    /// A time as people read it: local, to the minute, with its UTC offset.
    pub fn time(&self, time: DateTime<Utc>) -> String {
        time.with_timezone(&self.timezone)
            .format("%Y-%m-%d %H:%M (UTC%:z)")
            .to_string()
    }

    pub fn state(&self, state: AlertState) -> &'static str {
        match (state, self.zh()) {
            (AlertState::Failing, true) => "故障",
            (AlertState::Failing, false) => "FAILING",
            (AlertState::MonitorError, true) => "监控异常",
            (AlertState::MonitorError, false) => "MONITOR ERROR",
            (AlertState::Recovered, true) => "恢复",
            (AlertState::Recovered, false) => "RECOVERED",
            (AlertState::Retired, true) => "停止监控",
            (AlertState::Retired, false) => "NO LONGER MONITORED",
            (AlertState::Acknowledged, true) => "已确认",
            (AlertState::Acknowledged, false) => "ACKNOWLEDGED",
            (AlertState::Degraded, true) => "局部不可达",
            (AlertState::Degraded, false) => "DEGRADED",
        }
    }

    /// An answer link's words: "确认处理" / "Acknowledge", …
    pub fn action(&self, action: Action) -> &'static str {
        match (action, self.zh()) {
            (Action::Acknowledge, true) => "确认处理",
            (Action::Acknowledge, false) => "Acknowledge",
            (Action::SilenceHour, true) => "静默 1 小时",
            (Action::SilenceHour, false) => "Silence 1 h",
            (Action::SilenceFourHours, true) => "静默 4 小时",
            (Action::SilenceFourHours, false) => "Silence 4 h",
            (Action::SilenceTomorrow, true) => "静默至明天 09:00",
            (Action::SilenceTomorrow, false) => "Silence until tomorrow 09:00",
        }
    }

    /// A time as a clock and its zone's name: "10:14 (Asia/Shanghai)", with the date when it is
    /// not `reference`'s day.
    pub fn clock_in_zone(&self, time: DateTime<Utc>, reference: DateTime<Utc>) -> String {
        format!("{} ({})", self.clock(time, reference), self.timezone.name())
    }

    /// "4 小时 40 分钟" / "4 h 40 min".
    pub fn duration(&self, minutes: i64) -> String {
        let minutes = minutes.max(0);
        let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
        let units = if self.zh() {
            [" 天", " 小时", " 分钟"]
        } else {
            [" d", " h", " min"]
        };
        let parts: Vec<String> = [days, hours, mins]
            .iter()
            .zip(units)
            .filter(|(n, _)| **n > 0)
            .map(|(n, unit)| format!("{n}{unit}"))
            .collect();
        if parts.is_empty() {
            format!("0{}", units[2])
        } else {
            parts.join(" ")
        }
    }

    /// A local clock time, with the date when it is not `reference`'s day.
    fn clock(&self, time: DateTime<Utc>, reference: DateTime<Utc>) -> String {
        let local = time.with_timezone(&self.timezone);
        if local.date_naive() == reference.with_timezone(&self.timezone).date_naive() {
            local.format("%H:%M").to_string()
        } else {
            local.format("%m-%d %H:%M").to_string()
        }
    }

    pub fn note(&self, note: Option<AlertNote>) -> &'static str {
        match (note, self.zh()) {
            (Some(AlertNote::QuietHours), true) => "[静默期间] ",
            (Some(AlertNote::QuietHours), false) => "[held in quiet hours] ",
            (Some(AlertNote::DeliveryFailed), true) => "[重发] ",
            (Some(AlertNote::DeliveryFailed), false) => "[resent] ",
            (Some(AlertNote::OpenedAndClosedUnheard), true) => "[静默期间发生并已恢复] ",
            (Some(AlertNote::OpenedAndClosedUnheard), false) => {
                "[opened and closed in quiet hours] "
            }
            (Some(AlertNote::Unconfirmed), true) => "[重发，可能重复] ",
            (Some(AlertNote::Unconfirmed), false) => "[resent, may repeat] ",
            (None, _) => "",
        }
    }

    /// The line under an alert's headline: how long, since when, which notice; or the downtime.
    pub fn detail(&self, alert: &Alert, now: DateTime<Utc>) -> String {
        match (alert.state, alert.until) {
            (AlertState::Recovered, Some(until)) => {
                let down = self.duration((until - alert.since).num_minutes());
                let (from, to) = (self.clock(alert.since, until), self.clock(until, until));
                if self.zh() {
                    format!("故障持续 {down}，{from} 至 {to}")
                } else {
                    format!("down {down}, from {from} to {to}")
                }
            }
            (AlertState::Acknowledged, _) => {
                let Some(answer) = &alert.answer else {
                    return String::new();
                };
                let when = self.clock_in_zone(answer.at, now);
                let by = answer.by.as_deref().map(markdown_text);
                match (by, self.zh()) {
                    (Some(by), true) => format!(
                        "{by} 已通过 {} 确认处理（{when}）：不再升级通知，恢复时仍会通知",
                        answer.via
                    ),
                    (None, true) => format!(
                        "已通过 {} 确认处理（{when}）：不再升级通知，恢复时仍会通知",
                        answer.via
                    ),
                    (Some(by), false) => format!(
                        "acknowledged by {by} via {} at {when}: no more escalation; the recovery will still be sent",
                        answer.via
                    ),
                    (None, false) => format!(
                        "acknowledged via {} at {when}: no more escalation; the recovery will still be sent",
                        answer.via
                    ),
                }
            }
            (AlertState::Retired, Some(until)) => {
                let since = self.clock(alert.since, until);
                if self.zh() {
                    format!("已从配置中移除，不再监控；此前自 {since} 起异常，结果未知")
                } else {
                    format!(
                        "removed from the configuration, no longer watched; it had been failing since {since}, and how it ended is unknown"
                    )
                }
            }
            _ => {
                let age = self.duration((now - alert.since).num_minutes());
                let from = self.clock(alert.since, now);
                let step = alert.step.unwrap_or(1);
                let mut text = if self.zh() {
                    format!("已持续 {age}（自 {from}）· 第 {step} 次通知")
                } else {
                    format!("for {age} (since {from}) · notice {step}")
                };
                if alert.state == AlertState::MonitorError {
                    text.push_str(if self.zh() {
                        " · 监控本身无法检查，目标可能正常"
                    } else {
                        " · the monitor could not check; the target may be fine"
                    });
                }
                if alert.state == AlertState::Degraded {
                    text.push_str(if self.zh() {
                        " · 其他地区可以访问，不再升级通知"
                    } else {
                        " · reachable from elsewhere; not escalated"
                    });
                }
                text
            }
        }
    }

    /// What a function watches, in a word or two (no URL or domain: SMS carriers reject those):
    /// its check's own words.
    pub fn function(&self, function: &str) -> &'static str {
        let words = crate::checks::check_type_of(function).map(|t| t.display);
        match (words, self.zh()) {
            (Some(words), true) => words.zh,
            (Some(words), false) => words.en,
            (None, true) => "监控",
            (None, false) => "monitor",
        }
    }

    /// What a digest's alerts watch, in a word or two: their check type's own words when every
    /// alert is of one type (`type: tcp` in site-status reads "port"), else the function's.
    pub fn watched(&self, digest: &super::Digest) -> &'static str {
        let type_of = |alert: &super::Alert| {
            alert
                .key
                .split(':')
                .next()
                .and_then(crate::checks::check_type)
        };
        let mut types = digest.alerts.iter().map(type_of);
        let one = match types.next().flatten() {
            Some(first) if types.all(|t| t.is_some_and(|t| t.name == first.name)) => Some(first),
            _ => None,
        };
        match one {
            Some(kind) if self.zh() => kind.display.zh,
            Some(kind) => kind.display.en,
            None => self.function(digest.function),
        }
    }

    /// A failure kind in words: the words of the check that reports it.
    pub fn kind(&self, kind: &str) -> String {
        match crate::checks::failure_words(kind) {
            Some(words) if self.zh() => words.zh.to_owned(),
            Some(words) => words.en.to_owned(),
            None => kind.to_owned(),
        }
    }

    /// "2 项故障，1 项监控异常" / "2 failing, 1 monitor error".
    pub fn counts(&self, digest: &Digest) -> String {
        let mut parts = Vec::new();
        for state in [
            AlertState::Failing,
            AlertState::MonitorError,
            AlertState::Degraded,
            AlertState::Recovered,
            AlertState::Acknowledged,
            AlertState::Retired,
        ] {
            let n = digest.alerts.iter().filter(|a| a.state == state).count();
            if n > 0 {
                parts.push(if self.zh() {
                    format!("{n} 项{}", self.state(state))
                } else {
                    format!("{n} {}", self.state(state).to_lowercase())
                });
            }
        }
        parts.join(if self.zh() { "，" } else { ", " })
    }

    pub fn more(&self, left: usize) -> String {
        if self.zh() {
            format!("……另有 {left} 项未列出")
        } else {
            format!("... {left} more not shown")
        }
    }
}

/// The digest's worst state: failing, then a monitor error, then a recovery, then retirement.
pub fn headline_state(digest: &Digest) -> AlertState {
    [
        AlertState::Failing,
        AlertState::MonitorError,
        AlertState::Degraded,
        AlertState::Recovered,
        AlertState::Acknowledged,
    ]
    .into_iter()
    .find(|state| digest.alerts.iter().any(|a| a.state == *state))
    .unwrap_or(AlertState::Retired)
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

pub fn headline(digest: &Digest, style: &Style) -> String {
    format!(
        "[lookout] {} · {} · {}",
        style.watched(digest),
        style.counts(digest),
        style.time(digest.time)
    )
}

/// "故障 · 状态码异常 · target" (the kind is left out of recoveries).
pub fn title(alert: &Alert, style: &Style) -> String {
    let kind = match (alert.state, &alert.kind) {
        (AlertState::Recovered | AlertState::Retired | AlertState::Acknowledged, _) | (_, None) => {
            String::new()
        }
        (_, Some(kind)) => format!(" · {}", style.kind(kind)),
    };
    format!(
        "{}{}{kind}",
        style.note(alert.note),
        style.state(alert.state)
    )
}

/// An alert as plain text, its answer links (if any) on lines of their own.
pub fn plain_item(alert: &Alert, style: &Style, now: DateTime<Utc>) -> String {
    escaped_item(alert, style, now, &|text| text.to_owned()) + &plain_links(alert, style)
}

/// [`plain_item`] with what came from outside (the target and the check's sentence, which quote
/// host, process and group names and a job's output) passed through `escape`, a channel's own
/// escaping; lookout's own words around them are left as they are.
pub fn escaped_item(
    alert: &Alert,
    style: &Style,
    now: DateTime<Utc>,
    escape: &dyn Fn(&str) -> String,
) -> String {
    let mut item = format!(
        "- {} · {}\n  {}",
        title(alert, style),
        escape(&alert.target),
        style.detail(alert, now)
    );
    if alert.state.tells_failure() {
        item.push_str(&format!(
            "\n  {}",
            escape(&alert.message).replace('\n', "\n  ")
        ));
    }
    item
}

/// An alert's answer links as plain text lines ("  Acknowledge: https://…"); empty without links.
pub fn plain_links(alert: &Alert, style: &Style) -> String {
    let Some(links) = &alert.links else {
        return String::new();
    };
    links
        .each()
        .iter()
        .map(|(action, url)| format!("\n  {}: {url}", style.action(*action)))
        .collect()
}

/// An alert's answer links as HTML anchors on one line ("<a href=…>Acknowledge</a> · …"), the URL
/// and the words through `escape` (the channel's own HTML escaping); empty without links.
pub fn html_links(alert: &Alert, style: &Style, escape: &dyn Fn(&str) -> String) -> String {
    let Some(links) = &alert.links else {
        return String::new();
    };
    links
        .each()
        .iter()
        .map(|(action, url)| {
            format!(
                "<a href=\"{}\">{}</a>",
                escape(url),
                escape(style.action(*action))
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// An alert's answer links as markdown links on one line ("[Acknowledge](…) · [Silence 1 h](…)"),
/// for the chat markdowns that take `[text](url)`; empty without links. The URLs are lookout's
/// own (base64url tokens), never a stranger's text.
pub fn markdown_links(alert: &Alert, style: &Style) -> String {
    let Some(links) = &alert.links else {
        return String::new();
    };
    links
        .each()
        .iter()
        .map(|(action, url)| format!("[{}]({url})", style.action(*action)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Text for a chat markdown that has no escape of its own (WeCom's and DingTalk's markdown,
/// Feishu's lark_md): each character that could open a tag, a mention, a link, an image, code,
/// emphasis, strike-through or a heading is replaced by its full-width twin, which reads the same
/// and means nothing to the renderer; a line that would start a list or underline a heading
/// (`-`, `=`, `+`) starts with a twin instead. Text in, text out: no input makes markup.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut line_start = true;
    for c in text.chars() {
        let twin = match c {
            '<' => Some('＜'),
            '>' => Some('＞'),
            '[' => Some('［'),
            ']' => Some('］'),
            '`' => Some('ˋ'),
            '*' => Some('＊'),
            '#' => Some('＃'),
            '@' => Some('＠'),
            '&' => Some('＆'),
            '~' => Some('～'),
            '\\' => Some('＼'),
            '|' => Some('｜'),
            '-' | '=' | '+' if line_start => Some(match c {
                '-' => '‐',
                '=' => '＝',
                _ => '＋',
            }),
            _ => None,
        };
        out.push(twin.unwrap_or(c));
        if c == '\n' {
            line_start = true;
        } else if !c.is_whitespace() {
            line_start = false;
        }
    }
    out
}

/// The markup a chat could read in `text`: what [`markdown_text`] replaces, and a line opening a
/// list or a heading. For the tests of every channel's layout: escaped text has none of it.
pub fn markup_in(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .chars()
        .filter(|c| "<>[]`*#@&~\\|".contains(*c))
        .map(String::from)
        .collect();
    found.extend(
        text.lines()
            .map(str::trim_start)
            .filter(|line| line.starts_with(['-', '=', '+']))
            .map(|line| line.chars().take(1).collect::<String>()),
    );
    found
}

/// Plain text: a headline, then each alert. Used by the console and as the email's text part.
pub fn plain_text(digest: &Digest, style: &Style) -> String {
    let mut text = headline(digest, style);
    for alert in &digest.alerts {
        text.push('\n');
        text.push_str(&plain_item(alert, style, digest.time));
    }
    text
}

/// Joins a header and items within `limit` bytes; when items do not fit, the text ends with how many
/// were left out.
pub fn fit(header: &str, items: &[String], separator: &str, limit: usize, style: &Style) -> String {
    let mut out = truncate_bytes(header, limit).to_owned();
    for (shown, item) in items.iter().enumerate() {
        let left_after = items.len() - shown - 1;
        let reserve = if left_after > 0 {
            style.more(left_after).len() + separator.len()
        } else {
            0
        };
        if out.len() + separator.len() + item.len() + reserve <= limit {
            out.push_str(separator);
            out.push_str(item);
            continue;
        }
        let tail = format!("{separator}{}", style.more(items.len() - shown));
        out = truncate_bytes(&out, limit.saturating_sub(tail.len())).to_owned();
        out.push_str(&tail);
        return out;
    }
    out
}

/// Alerts and digests for the layouts' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use chrono::TimeZone;

    pub fn time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
    }

    pub fn alert(target: &str, state: AlertState, message: &str) -> Alert {
        Alert {
            key: format!("site-status:{target}"),
            function: "site-status",
            target: target.into(),
            state,
            kind: Some("status".into()),
            message: message.into(),
            since: time() - chrono::Duration::minutes(12),
            until: None,
            step: Some(2),
            note: None,
            channels: vec![],
            answer: None,
            links: None,
        }
    }

    pub fn digest(alerts: Vec<Alert>) -> Digest {
        Digest {
            function: "site-status",
            time: time(),
            alerts,
        }
    }

    pub fn english() -> Style {
        Style {
            language: Language::English,
            ..Style::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_digest_of_one_types_alerts_says_what_that_type_watches() {
        let keyed = |key: &str| Alert {
            key: key.into(),
            ..alert("x", AlertState::Failing, "down")
        };
        let ports = digest(vec![keyed("tcp:cache"), keyed("tcp:db")]);
        assert_eq!(Style::default().watched(&ports), "端口");
        assert_eq!(english().watched(&ports), "port");
        // Mixed, or named after the function (settings from variables): the function's words.
        let mixed = digest(vec![keyed("tcp:cache"), keyed("site:shop")]);
        assert_eq!(english().watched(&mixed), "site status");
        let variables = digest(vec![alert("https://a/", AlertState::Failing, "down")]);
        assert_eq!(english().watched(&variables), "site status");
    }

    #[test]
    fn style_reads_language_and_zone_and_refuses_unknown_ones() {
        let style = Style::from_env(&Env::default()).unwrap();
        assert_eq!(style, Style::default());
        let en = Style::from_env(&Env::from_pairs([
            ("ALERT_LANGUAGE", "en"),
            ("ALERT_TIMEZONE", "Europe/Berlin"),
        ]))
        .unwrap();
        assert_eq!(en.language, Language::English);
        assert_eq!(en.timezone, chrono_tz::Europe::Berlin);
        let bad = Style::from_env(&Env::from_pairs([("ALERT_LANGUAGE", "fr")])).unwrap_err();
        assert!(bad.to_string().contains("ALERT_LANGUAGE=\"fr\""));
        let zone =
            Style::from_env(&Env::from_pairs([("ALERT_TIMEZONE", "Mars/Olympus")])).unwrap_err();
        assert!(zone.to_string().contains("ALERT_TIMEZONE=\"Mars/Olympus\""));
    }

    #[test]
    fn times_are_local_with_their_offset() {
        assert_eq!(
            Style::default().time(time()),
            "2026-11-23 10:00 (UTC+08:00)"
        );
    }

    #[test]
    fn plain_text_is_chinese_by_default_and_english_on_request() {
        let d = digest(vec![alert(
            "https://a.example/",
            AlertState::Failing,
            "answered 503",
        )]);
        assert_eq!(
            plain_text(&d, &Style::default()),
            "[lookout] 站点状态 · 1 项故障 · 2026-11-23 10:00 (UTC+08:00)\n- 故障 · 状态码异常 · https://a.example/\n  已持续 12 分钟（自 09:48）· 第 2 次通知\n  answered 503"
        );
        assert_eq!(
            plain_text(&d, &english()),
            "[lookout] site status · 1 failing · 2026-11-23 10:00 (UTC+08:00)\n- FAILING · unexpected status · https://a.example/\n  for 12 min (since 09:48) · notice 2\n  answered 503"
        );
    }

    #[test]
    fn a_recovery_says_how_long_it_was_down_and_from_when_to_when() {
        let mut recovered = alert("https://a.example/", AlertState::Recovered, "answered 503");
        recovered.since = Utc.with_ymd_and_hms(2026, 11, 23, 0, 10, 0).unwrap();
        recovered.until = Some(Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap());
        recovered.step = None;
        let d = digest(vec![recovered.clone()]);
        assert_eq!(
            plain_text(&d, &english()),
            "[lookout] site status · 1 recovered · 2026-11-23 10:00 (UTC+08:00)\n- RECOVERED · https://a.example/\n  down 4 h 50 min, from 08:10 to 13:00"
        );
        assert!(
            plain_text(&d, &Style::default()).contains("故障持续 4 小时 50 分钟，08:10 至 13:00")
        );
        recovered.note = Some(AlertNote::OpenedAndClosedUnheard);
        let held = plain_text(&digest(vec![recovered]), &Style::default());
        assert!(
            held.contains("- [静默期间发生并已恢复] 恢复 · https://a.example/"),
            "{held}"
        );
        assert_eq!(english().duration(1441), "1 d 1 min");
        assert_eq!(Style::default().duration(0), "0 分钟");
    }

    #[test]
    fn a_monitor_error_says_the_target_may_be_fine() {
        let d = digest(vec![alert(
            "https://a/",
            AlertState::MonitorError,
            "no node list",
        )]);
        assert!(
            plain_text(&d, &english())
                .contains("the monitor could not check; the target may be fine")
        );
    }
}
