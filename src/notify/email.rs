//! The email channel, through AWS SES v2 `SendEmail`.

use async_trait::async_trait;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{DeliveryError, Notifier};
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};
use crate::config::{ConfigError, Env, SetupError};

/// Email settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// `EMAIL_FROM`: a sender identity verified in SES.
    pub from: String,
    /// `EMAIL_TO`: recipients.
    pub to: Vec<String>,
}

impl EmailSettings {
    /// `None` when the channel is not configured.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        if !env.is_set("EMAIL_FROM") && !env.is_set("EMAIL_TO") {
            return Ok(None);
        }
        let from = env
            .required(
                "EMAIL_FROM",
                "EMAIL_TO is set: set EMAIL_FROM to a sender address verified in SES",
            )?
            .to_owned();
        let to: Vec<String> = env
            .list("EMAIL_TO")
            .into_iter()
            .map(str::to_owned)
            .collect();
        if to.is_empty() {
            return Err(ConfigError::Missing {
                var: "EMAIL_TO",
                hint: "EMAIL_FROM is set: set EMAIL_TO to one or more recipients, comma-separated"
                    .into(),
            });
        }
        for (var, address) in
            std::iter::once(("EMAIL_FROM", &from)).chain(to.iter().map(|a| ("EMAIL_TO", a)))
        {
            let looks_like_address = address
                .rsplit_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if !looks_like_address {
                return Err(ConfigError::invalid(
                    var,
                    address,
                    "not an email address",
                    "write addresses as name@example.com, comma-separated",
                ));
            }
        }
        Ok(Some(EmailSettings { from, to }))
    }
}

/// The SES `EmailContent` for a digest: subject, text and HTML, all UTF-8.
pub fn email_content(digest: &Digest, style: &Style) -> Result<EmailContent, DeliveryError> {
    let mail = render::email(digest, style);
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

#[async_trait]
impl Notifier for EmailNotifier {
    fn channel(&self) -> &'static str {
        "email"
    }

    async fn deliver(&self, digest: &Digest) -> Result<(), DeliveryError> {
        let content = email_content(digest, &self.style)?;
        self.client
            .send_email()
            .from_email_address(&self.settings.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(self.settings.to.clone()))
                    .build(),
            )
            .content(content)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_both_addresses() {
        assert_eq!(EmailSettings::from_env(&Env::default()).unwrap(), None);
        let only_from = Env::from_pairs([("EMAIL_FROM", "alerts@example.com")]);
        assert!(
            EmailSettings::from_env(&only_from)
                .unwrap_err()
                .to_string()
                .starts_with("EMAIL_TO is not set")
        );
        let only_to = Env::from_pairs([("EMAIL_TO", "ops@example.com")]);
        assert!(
            EmailSettings::from_env(&only_to)
                .unwrap_err()
                .to_string()
                .starts_with("EMAIL_FROM is not set")
        );
        let bad = Env::from_pairs([
            ("EMAIL_FROM", "alerts@example.com"),
            ("EMAIL_TO", "ops@example.com, nobody"),
        ]);
        assert!(
            EmailSettings::from_env(&bad)
                .unwrap_err()
                .to_string()
                .contains("EMAIL_TO=\"nobody\"")
        );
        let good = Env::from_pairs([
            ("EMAIL_FROM", "alerts@example.com"),
            ("EMAIL_TO", "a@example.com,b@example.com"),
        ]);
        assert_eq!(EmailSettings::from_env(&good).unwrap().unwrap().to.len(), 2);
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
}
