//! The email channel, through AWS SES v2 `SendEmail`.

use async_trait::async_trait;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{DeliveryError, Notifier, Receipt};
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};
use serde::Deserialize;

use crate::config::read::{self, Parse, Problem};
use crate::config::{ConfigError, Env, SettingKey, SetupError, list, one};

/// `type: email` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "email",
    keys: &[
        one("from", "EMAIL_FROM")
            .parameter()
            .doc("the sender, an SES-verified address")
            .hint("set it to a sender address verified in SES: alerts@example.com or lookout <alerts@example.com>"),
        list("to", "EMAIL_TO")
            .parameter()
            .doc("the recipients")
            .hint("set it to one or more recipients, written as name@example.com, comma-separated"),
    ],
    after_minutes: one("after_minutes", "EMAIL_AFTER_MINUTES").parameter(),
    degraded: one("degraded", "EMAIL_DEGRADED").default("true"),
    variables: &[],
    validate: |env| read::settings_if_set::<EmailSettings>(env).map(|s| s.is_some()),
    preview: |digest, style| {
        let email = layout(digest, style);
        format!("Subject: {}\n\n{}", email.subject, email.text)
    },
    build: |env, style, _store| {
        Box::pin(async move {
            Ok(match read::settings_if_set::<EmailSettings>(env)? {
                Some(settings) => Some(Box::new(
                    EmailNotifier::from_settings(settings, style).await?,
                ) as Box<dyn Notifier>),
                None => None,
            })
        })
    },
};

/// Recipients one `SendEmail` takes at most: more are sent in several messages.
pub const MAX_RECIPIENTS: usize = 50;

/// Email settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct EmailSettings {
    /// `EMAIL_FROM` as SES is given it: `alerts@example.com`, or `lookout <alerts@example.com>` with
    /// a non-ASCII name MIME-encoded.
    #[serde(deserialize_with = "sender")]
    pub from: String,
    /// `EMAIL_TO`: recipients, each once.
    #[serde(deserialize_with = "recipients")]
    pub to: Vec<String>,
}

/// Why an address cannot be used, if it cannot. SES takes 7-bit ASCII addresses only (a Unicode
/// domain must be written in Punycode), one `@`, nothing that could end a header.
pub fn address_problem(address: &str) -> Option<String> {
    if address.chars().any(|c| c.is_control()) {
        return Some("it holds a line break or another control character".into());
    }
    if address.contains(char::is_whitespace) {
        return Some("it holds a space".into());
    }
    if !address.is_ascii() {
        return Some("SES takes ASCII addresses only (write a Unicode domain in Punycode)".into());
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Some("it has no @".into());
    };
    if domain.contains('@') {
        return Some("it has more than one @".into());
    }
    if local.is_empty() || local.len() > 64 {
        return Some("the part before the @ is empty or longer than 64 characters".into());
    }
    let labels_ok = domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !labels_ok {
        return Some(format!("{domain:?} is not a domain name"));
    }
    if local.contains(['<', '>', '(', ')', '[', ']', ',', ';', ':', '"', '\\']) {
        return Some("the part before the @ holds a character mail headers reserve".into());
    }
    None
}

/// `EMAIL_FROM` as SES takes it, and the address alone: `addr`, `Name <addr>` or `"Name" <addr>`.
pub fn parse_sender(raw: &str) -> Result<(String, String), String> {
    let raw = raw.trim();
    let Some((name, rest)) = raw.split_once('<') else {
        return match address_problem(raw) {
            Some(problem) => Err(problem),
            None => Ok((raw.to_owned(), raw.to_owned())),
        };
    };
    let address = rest
        .strip_suffix('>')
        .ok_or("a display name must be followed by <address>")?
        .trim();
    if let Some(problem) = address_problem(address) {
        return Err(problem);
    }
    let name = name.trim().trim_matches('"').trim();
    if name.chars().any(|c| c.is_control()) {
        return Err("the display name holds a line break or another control character".into());
    }
    if name.contains(['"', '\\', '<', '>']) {
        return Err("the display name holds a quote or an angle bracket".into());
    }
    let shown = if name.is_empty() {
        address.to_owned()
    } else if name.is_ascii() {
        format!("\"{name}\" <{address}>")
    } else {
        // SES takes a Unicode display name only as a MIME encoded-word.
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
        format!("=?UTF-8?B?{encoded}?= <{address}>")
    };
    Ok((shown, address.to_owned()))
}

/// The sender as SES takes it ([`parse_sender`]).
fn sender<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    parse_sender(&raw)
        .map(|(shown, _)| shown)
        .map_err(|reason| Problem::new(reason).error())
}

/// An address SES takes ([`address_problem`]).
struct Address(String);

impl Parse for Address {
    fn parse(raw: &str) -> Result<Self, Problem> {
        match address_problem(raw) {
            None => Ok(Address(raw.to_owned())),
            Some(reason) => Err(Problem::new(reason)),
        }
    }
}

/// Recipients, each once (addresses that differ only in case are one).
fn recipients<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let mut to: Vec<String> = Vec::new();
    for Address(address) in read::parsed_list::<D, Address>(d)? {
        if !to.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
            to.push(address);
        }
    }
    Ok(to)
}

impl read::Settings for EmailSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];

    fn checked(self, _env: &Env) -> Result<Self, ConfigError> {
        if self.to.is_empty() {
            return Err(ConfigError::Missing {
                var: "EMAIL_TO",
                hint: read::hint_of(&TYPE.keys[1]),
            });
        }
        Ok(self)
    }
}

/// The SES `EmailContent` for a digest: subject, text and HTML, all UTF-8.
pub fn email_content(digest: &Digest, style: &Style) -> Result<EmailContent, DeliveryError> {
    let mail = layout(digest, style);
    let content = |data: String| {
        Content::builder()
            .data(data)
            .charset("UTF-8")
            .build()
            .map_err(|e| DeliveryError::permanent(format!("could not build the email: {e}")))
    };
    let message = Message::builder()
        .subject(content(mail.subject)?)
        .body(
            Body::builder()
                .text(content(mail.text)?)
                .html(content(mail.html)?)
                .build(),
        )
        .build();
    Ok(EmailContent::builder().simple(message).build())
}

/// Sends digests by email through SES v2.
pub struct EmailNotifier {
    settings: EmailSettings,
    style: Style,
    client: aws_sdk_sesv2::Client,
    /// Batches of recipients a digest already went to, so a retry skips them.
    sent: std::sync::Mutex<std::collections::HashSet<(u64, usize)>>,
}

impl EmailNotifier {
    /// A notifier with an SES client from the shared AWS configuration.
    pub async fn from_settings(settings: EmailSettings, style: Style) -> Result<Self, SetupError> {
        let config = crate::aws::sdk_config().await;
        if config.region().is_none() {
            return Err(ConfigError::Missing {
                var: "AWS_REGION",
                hint: "the email channel sends through SES in a region: set AWS_REGION, e.g. ap-southeast-1".into(),
            }
            .into());
        }
        Ok(Self::new(
            settings,
            style,
            aws_sdk_sesv2::Client::new(&config),
        ))
    }

    /// A notifier with this SES client.
    pub fn new(settings: EmailSettings, style: Style, client: aws_sdk_sesv2::Client) -> Self {
        EmailNotifier {
            settings,
            style,
            client,
            sent: std::sync::Mutex::default(),
        }
    }
}

/// Names a failed `SendEmail` and whether to try again.
pub fn classify(error: &SdkError<SendEmailError>) -> DeliveryError {
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let status = service.raw().status().as_u16();
            let code = err.code().unwrap_or("UnknownError");
            let message = err.message().unwrap_or_default();
            let mut reason = format!("SES {code} (HTTP {status}): {message}");
            if err.is_message_rejected() || err.is_mail_from_domain_not_verified_exception() {
                reason.push_str(": verify EMAIL_FROM in SES, and leave the SES sandbox to mail unverified recipients");
            }
            let throttled = err.is_too_many_requests_exception()
                || err.is_limit_exceeded_exception()
                || code.contains("Throttl");
            if throttled || status >= 500 || status == 429 {
                DeliveryError::retryable(reason)
            } else {
                DeliveryError::permanent(reason)
            }
        }
        SdkError::TimeoutError(_) => DeliveryError::retryable("SES did not answer in time"),
        SdkError::DispatchFailure(failure) => DeliveryError::retryable(format!(
            "could not reach SES{}",
            if failure.is_io() {
                " (connection failed)"
            } else {
                ""
            }
        )),
        SdkError::ResponseError(_) => DeliveryError::retryable("SES's answer could not be read"),
        _ => DeliveryError::permanent(
            "the SES request could not be built: check AWS credentials and AWS_REGION",
        ),
    }
}

impl EmailNotifier {
    fn already_sent(&self, fingerprint: u64, batch: usize) -> bool {
        self.sent
            .lock()
            .is_ok_and(|sent| sent.contains(&(fingerprint, batch)))
    }

    fn mark_sent(&self, fingerprint: u64, batch: usize) {
        if let Ok(mut sent) = self.sent.lock() {
            if sent.len() > 1000 {
                sent.clear();
            }
            sent.insert((fingerprint, batch));
        }
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    fn channel(&self) -> &'static str {
        "email"
    }

    /// One message per batch of at most [`MAX_RECIPIENTS`]; a retry skips the batches that got it.
    async fn deliver(&self, digest: &Digest) -> Result<Receipt, DeliveryError> {
        let content = email_content(digest, &self.style)?;
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            format!("{content:?}").hash(&mut hasher);
            hasher.finish()
        };
        let batches: Vec<(usize, &[String])> = self
            .settings
            .to
            .chunks(MAX_RECIPIENTS)
            .enumerate()
            .filter(|(i, _)| !self.already_sent(fingerprint, *i))
            .collect();
        let sends = batches.iter().map(|(i, recipients)| {
            let request = self
                .client
                .send_email()
                .from_email_address(&self.settings.from)
                .destination(
                    Destination::builder()
                        .set_to_addresses(Some(recipients.to_vec()))
                        .build(),
                )
                .content(content.clone());
            async move { (*i, request.send().await) }
        });
        let mut failure: Option<DeliveryError> = None;
        for (i, outcome) in futures::future::join_all(sends).await {
            match outcome {
                Ok(_) => self.mark_sent(fingerprint, i),
                Err(error) => {
                    let error = classify(&error);
                    // A retry that may pass wins over a permanent refusal of another batch.
                    if failure.as_ref().is_none_or(|f| !f.retryable) {
                        failure = Some(error);
                    }
                }
            }
        }
        match failure {
            None => Ok(Receipt::default()),
            Some(error) => Err(error),
        }
    }
}

/// An email: subject, text body and HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Carries the state, the first target and the time.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// The email for a digest.
pub fn layout(digest: &Digest, style: &Style) -> Email {
    let first = digest
        .alerts
        .first()
        .map(|a| a.target.as_str())
        .unwrap_or_default();
    let others = digest.alerts.len().saturating_sub(1);
    let target = match (others, style.zh()) {
        (0, _) => first.to_owned(),
        (n, true) => format!("{first} 等 {} 项", n + 1),
        (n, false) => format!("{first} and {n} more"),
    };
    let subject = format!(
        "[lookout] {} · {} · {} · {}",
        style.state(render::headline_state(digest)),
        style.watched(digest),
        target,
        style.time(digest.time)
    );
    let (state_h, target_h, when_h, detail_h) = if style.zh() {
        ("状态", "目标", "时间", "详情")
    } else {
        ("State", "Target", "When", "Detail")
    };
    let mut rows = String::new();
    for alert in &digest.alerts {
        let message = if !alert.state.tells_failure() {
            ""
        } else {
            &alert.message
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&render::title(alert, style)),
            escape_html(&alert.target),
            escape_html(&style.detail(alert, digest.time)),
            escape_html(message),
        ));
        let links = render::html_links(alert, style, &escape_html);
        if !links.is_empty() {
            rows.push_str(&format!("<tr><td colspan=\"4\">{links}</td></tr>"));
        }
    }
    let html = format!(
        "<!DOCTYPE html><html><body><h2>lookout · {}</h2><p>{} · {}</p>\
         <table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\
         <tr><th>{state_h}</th><th>{target_h}</th><th>{when_h}</th><th>{detail_h}</th></tr>{rows}</table></body></html>",
        escape_html(style.watched(digest)),
        escape_html(&style.counts(digest)),
        escape_html(&style.time(digest.time)),
    );
    Email {
        subject,
        text: render::plain_text(digest, style),
        html,
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::AlertState;
    use crate::alerting::render::fixtures::*;

    #[test]
    fn settings_need_both_addresses() {
        assert_eq!(
            read::settings_if_set::<EmailSettings>(&Env::default()).unwrap(),
            None
        );
        let only_from = Env::from_pairs([("EMAIL_FROM", "alerts@example.com")]);
        assert!(
            read::settings_if_set::<EmailSettings>(&only_from)
                .unwrap_err()
                .to_string()
                .starts_with("EMAIL_TO is not set")
        );
        let only_to = Env::from_pairs([("EMAIL_TO", "ops@example.com")]);
        assert!(
            read::settings_if_set::<EmailSettings>(&only_to)
                .unwrap_err()
                .to_string()
                .starts_with("EMAIL_FROM is not set")
        );
        let bad = Env::from_pairs([
            ("EMAIL_FROM", "alerts@example.com"),
            ("EMAIL_TO", "ops@example.com, nobody"),
        ]);
        assert!(
            read::settings_if_set::<EmailSettings>(&bad)
                .unwrap_err()
                .to_string()
                .contains("EMAIL_TO=\"nobody\"")
        );
        let good = Env::from_pairs([
            ("EMAIL_FROM", "alerts@example.com"),
            ("EMAIL_TO", "a@example.com,b@example.com"),
        ]);
        assert_eq!(
            read::settings_if_set::<EmailSettings>(&good)
                .unwrap()
                .unwrap()
                .to
                .len(),
            2
        );
    }

    #[test]
    fn senders_may_carry_a_display_name_and_unicode_names_are_encoded() {
        assert_eq!(
            parse_sender("alerts@example.com").unwrap(),
            ("alerts@example.com".into(), "alerts@example.com".into())
        );
        assert_eq!(
            parse_sender("lookout <alerts@example.com>").unwrap(),
            (
                "\"lookout\" <alerts@example.com>".into(),
                "alerts@example.com".into()
            )
        );
        let (shown, address) = parse_sender("\"监控 告警\" <alerts@example.com>").unwrap();
        assert_eq!(address, "alerts@example.com");
        assert_eq!(
            shown,
            "=?UTF-8?B?55uR5o6nIOWRiuitpg==?= <alerts@example.com>"
        );
        for bad in [
            "lookout <alerts@example.com",
            "look\r\nBcc: x <alerts@example.com>",
            "lookout <a@@example.com>",
            "<>",
        ] {
            assert!(parse_sender(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_ses_would_refuse_are_refused_at_start() {
        for bad in [
            "a@@example.com",
            "a b@example.com",
            "ops@example.com\r\nBcc: evil@example.com",
            "运维@example.com",
            "ops@例子.com",
            "ops@example",
            "ops@.example.com",
            "@example.com",
        ] {
            assert!(address_problem(bad).is_some(), "{bad:?}");
            let env = Env::from_pairs([("EMAIL_FROM", "alerts@example.com"), ("EMAIL_TO", bad)]);
            assert!(
                read::settings_if_set::<EmailSettings>(&env).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(address_problem("ops+alerts@xn--fsqu00a.com"), None);
        let twice = Env::from_pairs([
            ("EMAIL_FROM", "alerts@example.com"),
            ("EMAIL_TO", "ops@example.com, OPS@example.com"),
        ]);
        assert_eq!(
            read::settings_if_set::<EmailSettings>(&twice)
                .unwrap()
                .unwrap()
                .to
                .len(),
            1
        );
    }

    #[test]
    fn the_content_has_a_subject_and_both_bodies() {
        let digest = Digest {
            function: "site-status",
            time: chrono::Utc::now(),
            alerts: vec![],
        };
        let content = email_content(&digest, &Style::default()).unwrap();
        let message = content.simple().unwrap();
        assert!(message.subject().unwrap().data().starts_with("[lookout]"));
        let body = message.body().unwrap();
        assert!(body.text().is_some() && body.html().is_some());
        assert_eq!(body.html().unwrap().charset(), Some("UTF-8"));
    }
    #[test]
    fn the_email_subject_carries_state_target_and_time_and_html_is_escaped() {
        let d = digest(vec![
            alert(
                "https://a/?x=<b>",
                AlertState::Failing,
                "5 < 6 & \"quoted\"",
            ),
            alert("https://b/", AlertState::Failing, "down"),
        ]);
        let mail = layout(&d, &Style::default());
        assert_eq!(
            mail.subject,
            "[lookout] 故障 · 站点状态 · https://a/?x=<b> 等 2 项 · 2026-11-23 10:00 (UTC+08:00)"
        );
        assert!(
            mail.html.contains("5 &lt; 6 &amp; &quot;quoted&quot;"),
            "{}",
            mail.html
        );
        assert!(!mail.html.contains("<b>"));
        assert!(mail.text.contains("5 < 6"));
        let en = layout(&d, &english());
        assert!(
            en.subject
                .starts_with("[lookout] FAILING · site status · https://a/?x=<b> and 1 more · ")
        );
    }
}
