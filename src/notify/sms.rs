//! The SMS channel, through Tencent Cloud SMS `SendSms` (version 2021-01-11).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use sha2::{Digest as _, Sha256};

use super::{DeliveryError, Notifier, Receipt};
use crate::alerting::AlertState;
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};
use crate::alerting::state::Budgets;
use crate::alerting::state::memory::MemoryStore;
use crate::config::read::{self, Parse, Problem};
use crate::config::{ConfigError, Env, SettingKey, SetupError, list, one, variable};
use crate::tencent::{Credentials, Endpoint, TencentClient, TencentError};

/// `type: sms` in `lookout.yaml`.
pub const TYPE: super::ChannelType = super::ChannelType {
    name: "sms",
    keys: &[
        list("phone_numbers", "SMS_PHONE_NUMBERS")
            .parameter()
            .doc("the numbers, `+86...`, all of one region (mainland China or not)")
            .hint("the SMS channel is configured: set SMS_PHONE_NUMBERS to mobiles, comma-separated, written as 13800000000 or +8613800000000"),
        one("sdk_app_id", "SMS_SDK_APP_ID")
            .parameter()
            .doc("the SMS application's SdkAppId")
            .hint("the SMS channel is configured: set SMS_SDK_APP_ID to the SMS application's SdkAppId"),
        one("sign_name", "SMS_SIGN_NAME")
            .parameter()
            .doc("the approved signature (mainland numbers)")
            .hint("the SMS channel is configured: set SMS_SIGN_NAME to the approved signature's name"),
        one("template_id", "SMS_TEMPLATE_ID")
            .parameter()
            .doc("the approved template")
            .hint("the SMS channel is configured: set SMS_TEMPLATE_ID to the approved template's id"),
        one("region", "SMS_REGION")
            .parameter()
            .default("ap-guangzhou")
            .doc("the API's region; default `ap-guangzhou`")
            .hint("set it to a Tencent Cloud region, e.g. ap-guangzhou"),
        one("param_max_chars", "SMS_PARAM_MAX_CHARS")
            .parameter()
            .default("12")
            .doc("the most characters a template parameter may take")
            .hint("set it to the template variable length your account allows, e.g. 12"),
        one("daily_limit", "SMS_DAILY_LIMIT")
            .parameter()
            .default("10")
            .doc("messages a number may get a day")
            .hint("set it to the messages a number may receive a day, e.g. 10 (Tencent's default)"),
    ],
    after_minutes: one("after_minutes", "SMS_AFTER_MINUTES").parameter(),
    degraded: one("degraded", "SMS_DEGRADED").default("false"),
    variables: &[
        variable("TENCENTCLOUD_SMS_ENDPOINT")
            .default("https://sms.tencentcloudapi.com/")
            .doc("the SMS API's endpoint")
            .hint("leave it unset for https://sms.tencentcloudapi.com/, or set the service's full URL"),
        crate::tencent::SECRET_ID,
        crate::tencent::SECRET_KEY,
        crate::tencent::SESSION_TOKEN,
    ],
    validate: |env| read::settings_if_set::<SmsSettings>(env).map(|s| s.is_some()),
    preview: |digest, style| {
        let params = params(digest, style, DEFAULT_PARAM_MAX_CHARS);
        let shown: Vec<String> = params
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{{{}}} = {p}", i + 1))
            .collect();
        format!("template parameters: {}", shown.join(", "))
    },
    build: |env, style, store| {
        Box::pin(async move {
            Ok(match read::settings_if_set::<SmsSettings>(env)? {
                Some(settings) => Some(Box::new(
                    SmsNotifier::new(settings, style)?.with_budget(store),
                ) as Box<dyn Notifier>),
                None => None,
            })
        })
    },
};

/// Numbers one `SendSms` call takes at most.
const MAX_NUMBERS: usize = 200;
/// Messages a number may receive a day by default: Tencent's own limit, which individual accounts
/// cannot raise.
pub const DEFAULT_DAILY_LIMIT: u32 = 10;
/// How long a template parameter may be when `SMS_PARAM_MAX_CHARS` is not set.
pub const DEFAULT_PARAM_MAX_CHARS: usize = 12;
/// Codes that mean the message may have gone out although the call failed: never resent in the
/// same tick.
const AMBIGUOUS: [&str; 2] = ["InternalError.Timeout", "InternalError.SendAndRecvFail"];

/// SMS settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SmsSettings {
    /// `SMS_PHONE_NUMBERS`, in E.164 (`+8613800000000`).
    #[serde(deserialize_with = "phone_numbers")]
    pub phone_numbers: Vec<String>,
    /// `SMS_SDK_APP_ID`.
    #[serde(deserialize_with = "read::word")]
    pub sdk_app_id: String,
    /// `SMS_SIGN_NAME`: the approved signature.
    #[serde(deserialize_with = "read::line")]
    pub sign_name: String,
    /// `SMS_TEMPLATE_ID`: the approved template, with two variables.
    #[serde(deserialize_with = "read::word")]
    pub template_id: String,
    /// `SMS_PARAM_MAX_CHARS`: the longest a template variable may be.
    #[serde(deserialize_with = "read::at_least_one")]
    pub param_max_chars: usize,
    /// `SMS_DAILY_LIMIT`: messages a number may receive a calendar day (Beijing time).
    #[serde(deserialize_with = "read::at_least_one")]
    pub daily_limit: u32,
    /// `SMS_REGION`: the API's region.
    #[serde(deserialize_with = "read::word")]
    pub region: String,
    /// `TENCENTCLOUD_SMS_ENDPOINT`: the API's URL.
    #[serde(
        rename = "TENCENTCLOUD_SMS_ENDPOINT",
        deserialize_with = "read::parsed"
    )]
    pub api: url::Url,
    /// `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY` / `TENCENTCLOUD_SESSION_TOKEN`.
    #[serde(rename = "@tencent")]
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

/// Numbers in E.164, each once: 13800000000 and +8613800000000 are one number, and get one
/// message.
fn phone_numbers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let mut numbers: Vec<String> = Vec::new();
    for PhoneNumber(number) in read::parsed_list::<D, PhoneNumber>(d)? {
        if !numbers.contains(&number) {
            numbers.push(number);
        }
    }
    Ok(numbers)
}

struct PhoneNumber(String);

impl Parse for PhoneNumber {
    fn parse(raw: &str) -> Result<Self, Problem> {
        normalize_phone_number(raw)
            .map(PhoneNumber)
            .ok_or_else(|| Problem::new("not an 11-digit mainland mobile or an E.164 number"))
    }
}

impl read::Settings for SmsSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys, TYPE.variables];

    fn checked(self, _env: &Env) -> Result<Self, ConfigError> {
        if self.phone_numbers.is_empty() {
            return Err(ConfigError::Missing {
                var: "SMS_PHONE_NUMBERS",
                hint: read::hint_of(&TYPE.keys[0]),
            });
        }
        if self.phone_numbers.len() > MAX_NUMBERS {
            return Err(ConfigError::invalid(
                "SMS_PHONE_NUMBERS",
                &format!("{} numbers", self.phone_numbers.len()),
                "more than 200 numbers",
                "list at most 200 numbers",
            ));
        }
        Ok(self)
    }
}

impl SmsSettings {
    /// Where `SendSms` is called.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.api.clone(),
            service: "sms",
            version: "2021-01-11",
            region: self.region.clone(),
        }
    }
}

/// The `SendSms` request body for some of the numbers.
pub fn send_sms_body(settings: &SmsSettings, numbers: &[String], params: &[String]) -> Value {
    json!({
        "PhoneNumberSet": numbers,
        "SmsSdkAppId": settings.sdk_app_id,
        "SignName": settings.sign_name,
        "TemplateId": settings.template_id,
        "TemplateParamSet": params,
    })
}

/// True for a mainland China number.
fn is_mainland(number: &str) -> bool {
    number.starts_with("+86")
}

/// The requests to make: mainland and international numbers apart (one request mixing them is
/// refused whole), at most 200 numbers each.
pub fn batches(numbers: &[String]) -> Vec<Vec<String>> {
    let (mainland, international): (Vec<String>, Vec<String>) =
        numbers.iter().cloned().partition(|n| is_mainland(n));
    [mainland, international]
        .into_iter()
        .flat_map(|group| {
            group
                .chunks(MAX_NUMBERS)
                .map(<[String]>::to_vec)
                .collect::<Vec<_>>()
        })
        .filter(|batch| !batch.is_empty())
        .collect()
}

/// Each number's `Code` in `SendStatusSet`.
pub fn read_send_status(response: &Value) -> Result<Vec<(String, String)>, DeliveryError> {
    let Some(statuses) = response.get("SendStatusSet").and_then(Value::as_array) else {
        return Err(DeliveryError::permanent(
            "SendSms answered without a SendStatusSet",
        ));
    };
    Ok(statuses
        .iter()
        .map(|s| {
            let text = |field: &str| s.get(field).and_then(Value::as_str).unwrap_or("?");
            (text("PhoneNumber").to_owned(), text("Code").to_owned())
        })
        .collect())
}

fn api_error(error: &TencentError) -> DeliveryError {
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

/// True when a failed call may still have sent its messages.
fn is_ambiguous(error: &TencentError) -> bool {
    matches!(error, TencentError::Timeout(_))
        || error.code().is_some_and(|code| AMBIGUOUS.contains(&code))
}

/// What became of one number in one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// Tencent took the message.
    Sent,
    /// Our daily budget held it back.
    Held,
    /// Tencent's own limit refused it (`LimitExceeded.*`): resending cannot help today.
    Limited(String),
    /// The call failed in a way that may have sent it: not resent in this tick.
    Unconfirmed(String),
    /// It was refused, or the call failed before sending: worth another try.
    Failed(String),
    /// The call failed in a way a retry in this tick may pass.
    Retry(String),
}

/// Sends digests as SMS through Tencent Cloud, within each number's daily budget.
pub struct SmsNotifier {
    settings: SmsSettings,
    endpoint: Endpoint,
    style: Style,
    client: TencentClient,
    budget: Arc<dyn Budgets>,
    /// Numbers a digest already went to (or may have), so a retry in the tick skips them.
    done: std::sync::Mutex<HashSet<(u64, String)>>,
}

impl SmsNotifier {
    /// A notifier with its own signed API client, counting each number's messages in this process
    /// only (see [`SmsNotifier::with_budget`]).
    pub fn new(settings: SmsSettings, style: Style) -> Result<Self, SetupError> {
        let client = TencentClient::new(settings.credentials.clone(), Duration::from_secs(10))
            .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))?;
        Ok(SmsNotifier {
            endpoint: settings.endpoint(),
            settings,
            style,
            client,
            budget: Arc::new(MemoryStore::default()),
            done: std::sync::Mutex::default(),
        })
    }

    /// The same notifier counting each number's messages of the day in `store`, shared by every
    /// function of the stack.
    pub fn with_budget(self, store: Arc<dyn Budgets>) -> Self {
        SmsNotifier {
            budget: store,
            ..self
        }
    }

    fn is_done(&self, fingerprint: u64, number: &str) -> bool {
        self.done
            .lock()
            .is_ok_and(|done| done.contains(&(fingerprint, number.to_owned())))
    }

    fn mark_done(&self, fingerprint: u64, number: &str) {
        if let Ok(mut done) = self.done.lock() {
            if done.len() > 10_000 {
                done.clear();
            }
            done.insert((fingerprint, number.to_owned()));
        }
    }

    /// Spends a message of the number's day; true when it may be sent.
    async fn spend(&self, number: &str, now: DateTime<Utc>) -> bool {
        let (key, expires) = budget_key(number, now);
        match self
            .budget
            .spend(&key, self.settings.daily_limit, expires)
            .await
        {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::warn!(%error, "the SMS budget could not be read: sending without it");
                true
            }
        }
    }

    async fn refund(&self, number: &str, now: DateTime<Utc>) {
        let (key, _) = budget_key(number, now);
        if let Err(error) = self.budget.refund(&key).await {
            tracing::warn!(%error, "an SMS budget could not be given back");
        }
    }

    /// Sends one batch; each number's fate.
    async fn send(&self, numbers: &[String], params: &[String]) -> Vec<(String, Fate)> {
        let body = send_sms_body(&self.settings, numbers, params);
        let all = |fate: Fate| numbers.iter().map(|n| (n.clone(), fate.clone())).collect();
        match self.client.call(&self.endpoint, "SendSms", &body).await {
            Ok(response) => match read_send_status(&response) {
                Ok(statuses) => numbers
                    .iter()
                    .map(|number| {
                        let code = statuses
                            .iter()
                            .find(|(n, _)| n == number)
                            .map_or("no status", |(_, c)| c.as_str());
                        let fate = match code {
                            "Ok" => Fate::Sent,
                            // A number's own status can be a timeout too: it may have gone.
                            c if AMBIGUOUS.contains(&c) => Fate::Unconfirmed(c.to_owned()),
                            c if c.starts_with("LimitExceeded") => Fate::Limited(c.to_owned()),
                            c => Fate::Failed(c.to_owned()),
                        };
                        (number.clone(), fate)
                    })
                    .collect(),
                Err(error) => all(Fate::Failed(error.reason)),
            },
            Err(error) if is_ambiguous(&error) => all(Fate::Unconfirmed(error.to_string())),
            Err(error) => {
                let reason = api_error(&error);
                if reason.retryable {
                    all(Fate::Retry(reason.reason))
                } else {
                    all(Fate::Failed(reason.reason))
                }
            }
        }
    }
}

/// A number's budget of the day (Beijing time, as Tencent counts it), and when it is forgotten.
fn budget_key(number: &str, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let day = now.with_timezone(&Shanghai).date_naive();
    let hashed = hex::encode(&Sha256::digest(number.as_bytes())[..8]);
    let forget = (day + chrono::Days::new(1))
        .and_hms_opt(1, 0, 0)
        .and_then(|t| t.and_local_timezone(Shanghai).earliest())
        .map_or(now + chrono::Duration::days(1), |t| t.with_timezone(&Utc));
    (format!("sms#{hashed}#{day}"), forget)
}

#[async_trait]
impl Notifier for SmsNotifier {
    fn channel(&self) -> &'static str {
        "sms"
    }

    async fn deliver(&self, digest: &Digest) -> Result<Receipt, DeliveryError> {
        let params = params(digest, &self.style, self.settings.param_max_chars);
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            format!("{digest:?}").hash(&mut hasher);
            hasher.finish()
        };
        let now = Utc::now();
        let mut fates: Vec<(String, Fate)> = Vec::new();
        let mut allowed: Vec<String> = Vec::new();
        let mut earlier = 0;
        for number in &self.settings.phone_numbers {
            if self.is_done(fingerprint, number) {
                earlier += 1;
            } else if self.spend(number, now).await {
                allowed.push(number.clone());
            } else {
                fates.push((number.clone(), Fate::Held));
            }
        }
        let sends = batches(&allowed);
        let sends = sends.iter().map(|batch| self.send(batch, &params));
        for (number, fate) in futures::future::join_all(sends).await.into_iter().flatten() {
            match &fate {
                Fate::Sent | Fate::Unconfirmed(_) => self.mark_done(fingerprint, &number),
                // Not sent: the message of the day is given back.
                Fate::Failed(_) | Fate::Retry(_) => self.refund(&number, now).await,
                Fate::Held | Fate::Limited(_) => {}
            }
            fates.push((number, fate));
        }
        judge(&fates, earlier, self.settings.daily_limit)
    }
}

/// One delivery's outcome from each number's fate: delivered when any number got it (the others
/// noted), else retried, owed or dropped as the failures allow.
fn judge(
    fates: &[(String, Fate)],
    earlier: usize,
    daily_limit: u32,
) -> Result<Receipt, DeliveryError> {
    let describe = |(number, fate): &(String, Fate)| {
        let shown = mask_phone_number(number);
        match fate {
            Fate::Held => Some(format!(
                "{shown} held back: it had its {daily_limit} messages today (SMS_DAILY_LIMIT)"
            )),
            Fate::Limited(code) | Fate::Failed(code) | Fate::Retry(code) => {
                Some(format!("{shown} {code}"))
            }
            Fate::Unconfirmed(why) => Some(format!("{shown} may have been sent ({why})")),
            Fate::Sent => None,
        }
    };
    let problems: Vec<String> = fates.iter().filter_map(describe).collect();
    let sent = fates.iter().filter(|(_, f)| *f == Fate::Sent).count() + earlier;
    let retry = fates.iter().any(|(_, f)| matches!(f, Fate::Retry(_)));
    if retry {
        return Err(DeliveryError::retryable(problems.join("; ")));
    }
    if problems.is_empty() {
        return Ok(Receipt::default());
    }
    let total = fates.len() + earlier;
    let summary = format!(
        "SMS not delivered to {} of {total} numbers: {}",
        problems.len(),
        problems.join("; ")
    );
    if sent > 0 {
        return Ok(Receipt {
            note: Some(summary),
        });
    }
    let spent = fates
        .iter()
        .all(|(_, f)| matches!(f, Fate::Held | Fate::Limited(_)));
    if spent {
        // Resending today can only be refused again.
        Err(DeliveryError::dropped(summary))
    } else {
        Err(DeliveryError::permanent(summary))
    }
}

/// The two SMS template parameters, `{1}` what is watched and `{2}` the counts, each at most
/// `max_chars` characters and free of URLs and domains (carriers reject them).
pub fn params(digest: &Digest, style: &Style, max_chars: usize) -> Vec<String> {
    let states = [
        AlertState::Failing,
        AlertState::MonitorError,
        AlertState::Degraded,
        AlertState::Recovered,
        AlertState::Acknowledged,
        AlertState::Retired,
    ];
    let counts: Vec<String> = states
        .into_iter()
        .filter_map(|state| {
            let n = digest.alerts.iter().filter(|a| a.state == state).count();
            (n > 0).then(|| match (state, style.zh()) {
                (_, true) => format!("{n}项{}", style.state(state)),
                (AlertState::Failing, false) => format!("{n} down"),
                (AlertState::MonitorError, false) => format!("{n} monitor err"),
                (AlertState::Recovered, false) => format!("{n} up"),
                (AlertState::Retired, false) => format!("{n} removed"),
                (AlertState::Acknowledged, false) => format!("{n} acked"),
                (AlertState::Degraded, false) => format!("{n} degraded"),
            })
        })
        .collect();
    let counts = counts.join(if style.zh() { "" } else { ", " });
    vec![
        render::truncate_chars(style.watched(digest), max_chars),
        render::truncate_chars(&counts, max_chars),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::render::fixtures::*;

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
        let settings = read::settings_if_set::<SmsSettings>(&env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            settings.phone_numbers,
            vec!["+8613800000000", "+8613900000000"]
        );
        assert_eq!(settings.param_max_chars, 12);
        assert_eq!(settings.endpoint().region, "ap-guangzhou");
        assert_eq!(settings.endpoint().host(), "sms.tencentcloudapi.com");
        assert!(
            read::settings_if_set::<SmsSettings>(&Env::default())
                .unwrap()
                .is_none()
        );
        let no_template = Env::from_pairs([("SMS_PHONE_NUMBERS", "13800000000")]);
        assert!(read::settings_if_set::<SmsSettings>(&no_template).is_err());
        let bad_number = env(&[("SMS_PHONE_NUMBERS", "12345")]);
        assert!(
            read::settings_if_set::<SmsSettings>(&bad_number)
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
            read::settings_if_set::<SmsSettings>(&no_key)
                .unwrap_err()
                .to_string()
                .starts_with("TENCENTCLOUD_SECRET_KEY is not set")
        );
    }

    #[test]
    fn the_body_follows_the_api() {
        let settings = read::settings_if_set::<SmsSettings>(&env(&[]))
            .unwrap()
            .unwrap();
        let body = send_sms_body(
            &settings,
            &settings.phone_numbers,
            &["站点状态".into(), "1项故障".into()],
        );
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
    fn mainland_and_international_numbers_go_apart() {
        let numbers: Vec<String> = [
            "+8613800000000",
            "+14155550100",
            "+8613900000000",
            "+85291234567",
        ]
        .iter()
        .map(|n| n.to_string())
        .collect();
        assert_eq!(
            batches(&numbers),
            vec![
                vec!["+8613800000000".to_owned(), "+8613900000000".to_owned()],
                vec!["+14155550100".to_owned(), "+85291234567".to_owned()],
            ]
        );
        let many: Vec<String> = (0..450).map(|i| format!("+86138{i:08}")).collect();
        let sizes: Vec<usize> = batches(&many).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![200, 200, 50]);
    }

    #[test]
    fn a_number_written_two_ways_counts_once() {
        let settings = read::settings_if_set::<SmsSettings>(&env(&[(
            "SMS_PHONE_NUMBERS",
            "13800000000, +8613800000000, 13900000000",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(
            settings.phone_numbers,
            vec!["+8613800000000", "+8613900000000"]
        );
        assert_eq!(settings.daily_limit, 10);
    }

    #[test]
    fn each_number_status_is_read() {
        let partial = json!({"SendStatusSet": [
            {"PhoneNumber": "+8613800000000", "Code": "Ok"},
            {"PhoneNumber": "+8613900001111", "Code": "FailedOperation.PhoneNumberInBlacklist"}
        ]});
        assert_eq!(
            read_send_status(&partial).unwrap(),
            vec![
                ("+8613800000000".to_owned(), "Ok".to_owned()),
                (
                    "+8613900001111".to_owned(),
                    "FailedOperation.PhoneNumberInBlacklist".to_owned()
                )
            ]
        );
        assert!(read_send_status(&json!({})).is_err());
    }

    fn fate(number: &str, fate: Fate) -> (String, Fate) {
        (number.to_owned(), fate)
    }

    #[test]
    fn a_delivery_is_judged_from_each_numbers_fate() {
        let a = "+8613800001111";
        let b = "+8613900002222";
        assert_eq!(judge(&[fate(a, Fate::Sent)], 0, 10), Ok(Receipt::default()));
        // Part delivered: delivered, with the rest noted (a resend would repeat it to the first).
        let partial = judge(&[fate(a, Fate::Sent), fate(b, Fate::Held)], 0, 10).unwrap();
        assert!(
            partial
                .note
                .as_deref()
                .unwrap()
                .contains("+86139****2222 held back"),
            "{partial:?}"
        );
        // Every number's day spent, by our budget or Tencent's limit: dropped, never owed.
        let spent = judge(
            &[
                fate(a, Fate::Held),
                fate(
                    b,
                    Fate::Limited("LimitExceeded.PhoneNumberDailyLimit".into()),
                ),
            ],
            0,
            10,
        )
        .unwrap_err();
        assert!(!spent.owed && !spent.retryable);
        // A timeout after sending: not retried in the tick, owed to the next.
        let unsure = judge(
            &[fate(a, Fate::Unconfirmed("InternalError.Timeout".into()))],
            0,
            10,
        )
        .unwrap_err();
        assert!(!unsure.retryable && unsure.owed, "{unsure:?}");
        let busy = judge(
            &[fate(a, Fate::Retry("RequestLimitExceeded".into()))],
            0,
            10,
        )
        .unwrap_err();
        assert!(busy.retryable);
        let refused = judge(
            &[fate(
                a,
                Fate::Failed("FailedOperation.PhoneNumberInBlacklist".into()),
            )],
            0,
            10,
        )
        .unwrap_err();
        assert!(refused.owed && !refused.retryable);
        // Numbers reached on an earlier attempt of the same digest count as delivered.
        assert!(
            judge(&[fate(b, Fate::Failed("x".into()))], 1, 10)
                .unwrap()
                .note
                .is_some()
        );
    }

    #[test]
    fn the_budget_is_counted_per_beijing_day() {
        use chrono::TimeZone;
        // 23:30 UTC on 1 May is 07:30 on 2 May in Beijing.
        let late = Utc.with_ymd_and_hms(2026, 5, 1, 23, 30, 0).unwrap();
        let (key, forget) = budget_key("+8613800000000", late);
        assert!(key.ends_with("#2026-05-02"), "{key}");
        assert!(
            !key.contains("13800000000"),
            "the number itself is not stored"
        );
        assert_eq!(forget, Utc.with_ymd_and_hms(2026, 5, 2, 17, 0, 0).unwrap());
    }
    #[test]
    fn sms_params_are_short_and_carry_no_url() {
        let d = digest(vec![
            alert("https://a.example/", AlertState::Failing, "x"),
            alert("https://b.example/", AlertState::Failing, "x"),
            alert("https://c.example/", AlertState::MonitorError, "x"),
        ]);
        assert_eq!(
            params(&d, &Style::default(), 12),
            vec!["站点状态", "2项故障1项监控异常"]
        );
        let en = params(&d, &english(), 12);
        assert_eq!(en, vec!["site status", "2 down, 1 mo"]);
        for p in params(&d, &Style::default(), 4).iter().chain(&en) {
            assert!(
                p.chars().count() <= 12 && !p.contains("://") && !p.contains('.'),
                "{p}"
            );
        }
    }
}
