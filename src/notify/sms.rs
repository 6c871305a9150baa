//! The SMS channel, through Tencent Cloud SMS `SendSms` (version 2021-01-11).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{DeliveryError, Notifier};
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};
use crate::config::{ConfigError, Env, SetupError};
use crate::tencent::{Credentials, Endpoint, TencentClient, TencentError};

/// Numbers one `SendSms` call takes at most.
const MAX_NUMBERS: usize = 200;

/// SMS settings.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// `SMS_PHONE_NUMBERS`, in E.164 (`+8613800000000`).
    pub phone_numbers: Vec<String>,
    /// `SMS_SDK_APP_ID`.
    pub sdk_app_id: String,
    /// `SMS_SIGN_NAME`: the approved signature.
    pub sign_name: String,
    /// `SMS_TEMPLATE_ID`: the approved template, with two variables.
    pub template_id: String,
    /// `SMS_PARAM_MAX_CHARS`: the longest a template variable may be.
    pub param_max_chars: usize,
    /// `SMS_REGION` and `TENCENTCLOUD_SMS_ENDPOINT`.
    pub endpoint: Endpoint,
    /// `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY` / `TENCENTCLOUD_SESSION_TOKEN`.
    pub credentials: Credentials,
}

/// An 11-digit mainland number becomes `+86…`; other numbers must already be in E.164.
pub fn normalize_phone_number(raw: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if raw.len() == 11 && raw.starts_with('1') && digits(raw) {
        Some(format!("+86{raw}"))
    } else if let Some(rest) = raw.strip_prefix('+') {
        (digits(rest) && (7..=15).contains(&rest.len())).then(|| raw.to_owned())
    } else {
        None
    }
}

/// A number fit to show: `+86138****1111`.
pub fn mask_phone_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

impl SmsSettings {
    /// `None` when the channel is not configured.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let own = [
            "SMS_PHONE_NUMBERS",
            "SMS_SDK_APP_ID",
            "SMS_SIGN_NAME",
            "SMS_TEMPLATE_ID",
        ];
        if !own.iter().any(|v| env.is_set(v)) {
            return Ok(None);
        }
        let needed = |var: &'static str, what: &str| {
            env.required(
                var,
                &format!("the SMS channel is configured: set {var} to {what}"),
            )
            .map(str::to_owned)
        };
        needed(
            "SMS_PHONE_NUMBERS",
            "mobiles, comma-separated (13800000000 or +8613800000000)",
        )?;
        let phone_numbers = env
            .list("SMS_PHONE_NUMBERS")
            .into_iter()
            .map(|raw| {
                normalize_phone_number(raw).ok_or_else(|| {
                    ConfigError::invalid(
                        "SMS_PHONE_NUMBERS",
                        raw,
                        "not an 11-digit mainland mobile or an E.164 number",
                        "write numbers as 13800000000 or +8613800000000, comma-separated",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if phone_numbers.len() > MAX_NUMBERS {
            return Err(ConfigError::invalid(
                "SMS_PHONE_NUMBERS",
                &format!("{} numbers", phone_numbers.len()),
                "more than 200 numbers",
                "list at most 200 numbers",
            ));
        }
        let param_max_chars = env.at_least_one(
            "SMS_PARAM_MAX_CHARS",
            12usize,
            "set it to the template variable length your account allows, e.g. 12",
        )?;
        let region = env.get("SMS_REGION").unwrap_or("ap-guangzhou").to_owned();
        Ok(Some(SmsSettings {
            phone_numbers,
            sdk_app_id: needed("SMS_SDK_APP_ID", "the SMS application's SdkAppId")?,
            sign_name: needed("SMS_SIGN_NAME", "the approved signature's name")?,
            template_id: needed("SMS_TEMPLATE_ID", "the approved template's id")?,
            param_max_chars,
            endpoint: Endpoint::from_env(
                env,
                "TENCENTCLOUD_SMS_ENDPOINT",
                "sms",
                "2021-01-11",
                region,
            )?,
            credentials: Credentials::from_env(env, "the SMS channel")?,
        }))
    }
}

/// The `SendSms` request body.
pub fn send_sms_body(settings: &SmsSettings, params: &[String]) -> Value {
    json!({
        "PhoneNumberSet": settings.phone_numbers,
        "SmsSdkAppId": settings.sdk_app_id,
        "SignName": settings.sign_name,
        "TemplateId": settings.template_id,
        "TemplateParamSet": params,
    })
}

/// Reads `SendStatusSet`: delivered only when every number's `Code` is `Ok`. A rejected number is
/// not retried (a resend would repeat the message to the numbers that got it).
pub fn read_send_status(response: &Value) -> Result<(), DeliveryError> {
    let Some(statuses) = response.get("SendStatusSet").and_then(Value::as_array) else {
        return Err(DeliveryError::permanent(
            "SendSms answered without a SendStatusSet",
        ));
    };
    let rejected: Vec<String> = statuses
        .iter()
        .filter(|s| s.get("Code").and_then(Value::as_str) != Some("Ok"))
        .map(|s| {
            let number = s.get("PhoneNumber").and_then(Value::as_str).unwrap_or("?");
            let code = s.get("Code").and_then(Value::as_str).unwrap_or("no code");
            format!("{} {code}", mask_phone_number(number))
        })
        .collect();
    if rejected.is_empty() {
        Ok(())
    } else {
        Err(DeliveryError::permanent(format!(
            "SMS rejected for {} of {} numbers: {}",
            rejected.len(),
            statuses.len(),
            rejected.join("; ")
        )))
    }
}

fn api_error(error: TencentError) -> DeliveryError {
    let reason = if error.is_auth_failure() {
        format!(
            "Tencent Cloud refused the credentials ({error}): check TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY and the clock"
        )
    } else {
        format!("SendSms failed: {error}")
    };
    if error.is_retryable() {
        DeliveryError::retryable(reason)
    } else {
        DeliveryError::permanent(reason)
    }
}

/// Sends digests as SMS through Tencent Cloud.
pub struct SmsNotifier {
    settings: SmsSettings,
    style: Style,
    client: TencentClient,
}

impl SmsNotifier {
    /// A notifier with its own signed API client.
    pub fn new(settings: SmsSettings, style: Style) -> Result<Self, SetupError> {
        let client = TencentClient::new(settings.credentials.clone(), Duration::from_secs(10))
            .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))?;
        Ok(SmsNotifier {
            settings,
            style,
            client,
        })
    }
}

#[async_trait]
impl Notifier for SmsNotifier {
    fn channel(&self) -> &'static str {
        "sms"
    }

    async fn deliver(&self, digest: &Digest) -> Result<(), DeliveryError> {
        let params = render::sms_params(digest, &self.style, self.settings.param_max_chars);
        let body = send_sms_body(&self.settings, &params);
        let response = self
            .client
            .call(&self.settings.endpoint, "SendSms", &body)
            .await
            .map_err(api_error)?;
        read_send_status(&response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("SMS_PHONE_NUMBERS", "13800000000, +8613900000000"),
            ("SMS_SDK_APP_ID", "1400000000"),
            ("SMS_SIGN_NAME", "lookout"),
            ("SMS_TEMPLATE_ID", "123456"),
            ("TENCENTCLOUD_SECRET_ID", "AKIDexample"),
            ("TENCENTCLOUD_SECRET_KEY", "secret-key-example"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn numbers_are_normalized_and_masked() {
        assert_eq!(
            normalize_phone_number("13800000000").as_deref(),
            Some("+8613800000000")
        );
        assert_eq!(
            normalize_phone_number("+14155550100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(normalize_phone_number("0800"), None);
        assert_eq!(normalize_phone_number("+86abc"), None);
        assert_eq!(mask_phone_number("+8613800001111"), "+86138****1111");
    }

    #[test]
    fn settings_read_defaults_and_refuse_gaps() {
        let settings = SmsSettings::from_env(&env(&[])).unwrap().unwrap();
        assert_eq!(
            settings.phone_numbers,
            vec!["+8613800000000", "+8613900000000"]
        );
        assert_eq!(settings.param_max_chars, 12);
        assert_eq!(settings.endpoint.region, "ap-guangzhou");
        assert_eq!(settings.endpoint.host(), "sms.tencentcloudapi.com");
        assert!(SmsSettings::from_env(&Env::default()).unwrap().is_none());
        let no_template = Env::from_pairs([("SMS_PHONE_NUMBERS", "13800000000")]);
        assert!(SmsSettings::from_env(&no_template).is_err());
        let bad_number = env(&[("SMS_PHONE_NUMBERS", "12345")]);
        assert!(
            SmsSettings::from_env(&bad_number)
                .unwrap_err()
                .to_string()
                .contains("SMS_PHONE_NUMBERS=\"12345\"")
        );
        let no_key = Env::from_pairs([
            ("SMS_PHONE_NUMBERS", "13800000000"),
            ("SMS_SDK_APP_ID", "1"),
            ("SMS_SIGN_NAME", "s"),
            ("SMS_TEMPLATE_ID", "t"),
            ("TENCENTCLOUD_SECRET_ID", "AKID"),
        ]);
        assert!(
            SmsSettings::from_env(&no_key)
                .unwrap_err()
                .to_string()
                .starts_with("TENCENTCLOUD_SECRET_KEY is not set")
        );
    }

    #[test]
    fn the_body_follows_the_api() {
        let settings = SmsSettings::from_env(&env(&[])).unwrap().unwrap();
        let body = send_sms_body(&settings, &["站点状态".into(), "1项故障".into()]);
        assert_eq!(
            body["PhoneNumberSet"],
            json!(["+8613800000000", "+8613900000000"])
        );
        assert_eq!(body["SmsSdkAppId"], "1400000000");
        assert_eq!(body["SignName"], "lookout");
        assert_eq!(body["TemplateId"], "123456");
        assert_eq!(body["TemplateParamSet"], json!(["站点状态", "1项故障"]));
    }

    #[test]
    fn each_number_status_is_read() {
        let ok = json!({"SendStatusSet": [{"PhoneNumber": "+8613800000000", "Code": "Ok"}]});
        assert_eq!(read_send_status(&ok), Ok(()));
        let partial = json!({"SendStatusSet": [
            {"PhoneNumber": "+8613800000000", "Code": "Ok"},
            {"PhoneNumber": "+8613900001111", "Code": "FailedOperation.PhoneNumberInBlacklist"}
        ]});
        let error = read_send_status(&partial).unwrap_err();
        assert!(!error.retryable);
        assert_eq!(
            error.reason,
            "SMS rejected for 1 of 2 numbers: +86139****1111 FailedOperation.PhoneNumberInBlacklist"
        );
        assert!(read_send_status(&json!({})).is_err());
    }
}
