//! Answers to an alert from the alert: "I'm on it" (acknowledge) and "not now" (silence for a
//! while), given by a link in the message.
//!
//! Each link carries a token signed with HMAC-SHA256 under the stack's `LOOKOUT_ACTION_KEY`. It
//! binds the incident (its function, a hash of its key and its opening time), the action, the
//! channel the link was sent to, and an expiry. Nothing else is needed to act on it, and nothing in
//! it can be changed without the key: a token for an older incident of the same monitor, an
//! expired one, a changed one or one signed by another stack is refused alike.

use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::lifecycle::{Incident, Status};
use crate::config::read::{self, Problem};
use crate::config::{Secret, SettingKey};

/// How long a link works.
pub const LINK_DAYS: i64 = 7;
/// The local hour "until tomorrow" silences to.
pub const TOMORROW_HOUR: u32 = 9;
/// The longest name a person may sign an answer with.
pub const MAX_NAME_CHARS: usize = 40;
/// The most answers an incident keeps (the oldest silences go first; an acknowledgement stays), so
/// that a link pressed over and over cannot grow its state.
pub const MAX_ANSWERS: usize = 10;

const VERSION: u8 = 1;
const MAC_BYTES: usize = 16;
const KEY_HASH_BYTES: usize = 8;
const CHANNEL_HASH_BYTES: usize = 4;
const CONTEXT: &[u8] = b"lookout action link v1\0";

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// No further escalation for this incident; the channels told hear who took it.
    Acknowledge,
    /// No notices for an hour.
    SilenceHour,
    /// No notices for four hours.
    SilenceFourHours,
    /// No notices until 09:00 tomorrow, local time.
    SilenceTomorrow,
}

impl Action {
    /// Every action, in the order a message offers them.
    pub const ALL: [Action; 4] = [
        Action::Acknowledge,
        Action::SilenceHour,
        Action::SilenceFourHours,
        Action::SilenceTomorrow,
    ];

    fn code(self) -> u8 {
        match self {
            Action::Acknowledge => 1,
            Action::SilenceHour => 2,
            Action::SilenceFourHours => 3,
            Action::SilenceTomorrow => 4,
        }
    }

    fn of(code: u8) -> Option<Self> {
        Action::ALL.into_iter().find(|a| a.code() == code)
    }

    /// Until when a silence lasts, pressed at `now` in `timezone`; `None` for an acknowledgement.
    pub fn until<Z: TimeZone>(self, now: DateTime<Utc>, timezone: &Z) -> Option<DateTime<Utc>> {
        match self {
            Action::Acknowledge => None,
            Action::SilenceHour => Some(now + Duration::hours(1)),
            Action::SilenceFourHours => Some(now + Duration::hours(4)),
            Action::SilenceTomorrow => {
                let tomorrow = now.with_timezone(timezone).date_naive() + Duration::days(1);
                let nine = tomorrow.and_time(NaiveTime::from_hms_opt(TOMORROW_HOUR, 0, 0)?);
                // The earliest 09:00 when a clock change makes it twice; an hour later when it
                // makes it never.
                let local = timezone.from_local_datetime(&nine).earliest().or_else(|| {
                    timezone
                        .from_local_datetime(&(nine + Duration::hours(1)))
                        .earliest()
                })?;
                Some(local.with_timezone(&Utc))
            }
        }
    }
}

/// What someone answered, kept on the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Acknowledged, or silenced until a time.
    #[serde(flatten)]
    pub what: Answered,
    /// The channel whose link was pressed.
    pub via: String,
    /// The name the person gave, if any (a stranger's words: data, never markup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// An acknowledgement or a silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answered {
    /// Someone is on it.
    Acknowledged,
    /// Nothing until then.
    Silenced { until: DateTime<Utc> },
}

/// Where an incident stands with its answers.
impl Incident {
    /// The acknowledgement of the current incident, if any.
    pub fn acknowledged(&self) -> Option<&Answer> {
        self.answers
            .iter()
            .find(|a| a.what == Answered::Acknowledged)
    }

    /// Until when the current incident is silenced, if it is at `now`.
    pub fn silenced_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.answers
            .iter()
            .filter_map(|a| match a.what {
                Answered::Silenced { until } if until > now => Some(until),
                _ => None,
            })
            .max()
    }

    /// True while the incident is one an answer can be given to: open (or recovering) and opened
    /// at `began` (to the second).
    pub fn is_answerable(&self, began: i64) -> bool {
        matches!(self.status, Status::Open | Status::Recovering)
            && self.began_at.map(|b| b.timestamp()) == Some(began)
    }
}

/// Why an answer changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unchanged {
    /// It was acknowledged already (by this answer or another).
    AlreadyAcknowledged(Answer),
    /// It is silenced as long already, or longer.
    AlreadySilenced(DateTime<Utc>),
}

/// Applies `action` to the incident, pressed via `via` by `by` at `now`: the incident as it is to
/// be kept, or why nothing changes. An acknowledgement stands for the rest of the incident; a
/// silence lengthens, never shortens, one already given.
pub fn apply<Z: TimeZone>(
    incident: &Incident,
    action: Action,
    via: &str,
    by: Option<String>,
    now: DateTime<Utc>,
    timezone: &Z,
) -> Result<Incident, Unchanged> {
    let what = match action.until(now, timezone) {
        None => Answered::Acknowledged,
        Some(until) => Answered::Silenced { until },
    };
    answer(incident, what, via, by, now)
}

/// Gives the incident this answer (from a link, or `lookout ack` / `lookout silence`): the
/// incident as it is to be kept, or why nothing changes.
pub fn answer(
    incident: &Incident,
    what: Answered,
    via: &str,
    by: Option<String>,
    now: DateTime<Utc>,
) -> Result<Incident, Unchanged> {
    if let Some(done) = incident.acknowledged() {
        return Err(Unchanged::AlreadyAcknowledged(done.clone()));
    }
    if let Answered::Silenced { until } = what
        && let Some(already) = incident.silenced_until(now).filter(|u| *u >= until)
    {
        return Err(Unchanged::AlreadySilenced(already));
    }
    let mut answered = incident.clone();
    answered.answers.push(Answer {
        what,
        via: via.to_owned(),
        by,
        at: now,
    });
    while answered.answers.len() > MAX_ANSWERS {
        match answered
            .answers
            .iter()
            .position(|a| a.what != Answered::Acknowledged)
        {
            Some(oldest) => answered.answers.remove(oldest),
            None => break,
        };
    }
    Ok(answered)
}

/// A name as a person typed it into the form: letters, digits, spaces and `. - _ '` only (nothing
/// any channel's markup could take for its own), spaces collapsed, at most [`MAX_NAME_CHARS`]
/// characters; `None` when nothing is left.
pub fn name_of(typed: &str) -> Option<String> {
    let name: String = typed
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| c.is_alphanumeric() || " .-_'".contains(*c))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// What a token says, once its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The function whose incident it is.
    pub function: String,
    /// The first bytes of SHA-256 of the incident key.
    pub key_hash: [u8; KEY_HASH_BYTES],
    /// The incident's opening time, in seconds since the epoch.
    pub began: i64,
    /// What it does.
    pub action: Action,
    /// The first bytes of SHA-256 of the channel it was sent to.
    pub channel_hash: [u8; CHANNEL_HASH_BYTES],
    /// Until when it works, in seconds since the epoch.
    pub expires: i64,
}

fn short_hash<const N: usize>(text: &str) -> [u8; N] {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = [0u8; N];
    out.copy_from_slice(&digest[..N]);
    out
}

impl Claim {
    /// True for the incident of this key.
    pub fn is_for(&self, key: &str) -> bool {
        short_hash::<KEY_HASH_BYTES>(key) == self.key_hash
    }

    /// The channel among `channels` the link was sent to.
    pub fn channel<'a>(
        &self,
        mut channels: impl Iterator<Item = &'a String>,
    ) -> Option<&'a String> {
        channels.find(|c| short_hash::<CHANNEL_HASH_BYTES>(c) == self.channel_hash)
    }
}

/// Why a token was refused. Every reason is answered alike (403, the same page); the reason is for
/// the log and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a token lookout makes, or its signature does not match (changed, or another stack's).
    Forged,
    /// Past its expiry.
    Expired,
}

/// The key answer links are signed with, in the stack's secret.
pub const ACTION_KEY: SettingKey = crate::config::variable("LOOKOUT_ACTION_KEY")
    .stack_secret()
    .doc("the key answer links (acknowledge, silence) are signed with: `make deploy` puts a random one in the stack's secret; changing it invalidates every link sent")
    .hint("use at least 32 characters (openssl rand -hex 32 makes one)");
/// The status function's address, which the alerting functions' links point to.
pub const STATUS_URL: SettingKey = crate::config::variable("LOOKOUT_STATUS_URL")
    .stack()
    .doc("the status function's address, which answer links point to (the stack sets it)")
    .hint("give the status function's URL, such as https://abc.lambda-url.us-east-1.on.aws/");
/// The settings of answer links.
pub const ACTION_KEYS: &[SettingKey] = &[ACTION_KEY, STATUS_URL];

/// The settings answer links are made with.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionSettings {
    #[serde(rename = "LOOKOUT_ACTION_KEY", deserialize_with = "signing_key")]
    key: Secret,
    #[serde(
        rename = "LOOKOUT_STATUS_URL",
        default,
        deserialize_with = "read::parsed_some"
    )]
    base: Option<url::Url>,
}

impl read::Settings for ActionSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[ACTION_KEYS];
}

fn signing_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let key = Secret::new(read::word(d)?);
    if key.expose().chars().count() < 32 {
        return Err(Problem::new("shorter than 32 characters").error());
    }
    Ok(key)
}

/// The signer of the answer links a function's notices carry: `None` when the stack's action key
/// is not set (a local run, or a secret without one: said in the log when the status address is
/// set); a key that is set but unfit stops the function at start.
pub fn signer_from(env: &crate::config::Env) -> Result<Option<Signer>, crate::config::ConfigError> {
    if env.get("LOOKOUT_ACTION_KEY").is_none() {
        if env.get("LOOKOUT_STATUS_URL").is_some() {
            tracing::warn!(
                "alerts carry no acknowledge or silence links: LOOKOUT_ACTION_KEY is not in the stack's secret (make deploy puts a random one there)"
            );
        }
        return Ok(None);
    }
    Ok(Some(Signer::new(read::settings::<ActionSettings>(env)?)))
}

/// Signs and checks answer links.
#[derive(Debug, Clone)]
pub struct Signer {
    key: Secret,
    base: Option<url::Url>,
}

impl Signer {
    /// From the settings.
    pub fn new(settings: ActionSettings) -> Self {
        Signer {
            key: settings.key,
            base: settings.base,
        }
    }

    /// A signer from a key alone (the status function, which answers at its own address).
    pub fn of_key(key: Secret) -> Self {
        Signer { key, base: None }
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_BYTES] {
        let mut message = CONTEXT.to_vec();
        message.extend_from_slice(payload);
        let full = crate::signing::hmac_sha256(self.key.expose().as_bytes(), &message);
        let mut mac = [0u8; MAC_BYTES];
        mac.copy_from_slice(&full[..MAC_BYTES]);
        mac
    }

    /// The token of `action` on the incident `key` of `function` opened at `began`, sent to
    /// `channel` at `now`.
    pub fn token(
        &self,
        function: &str,
        key: &str,
        began: DateTime<Utc>,
        action: Action,
        channel: &str,
        now: DateTime<Utc>,
    ) -> String {
        let mut payload = vec![VERSION, action.code()];
        let name = function.as_bytes();
        payload.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        payload.extend_from_slice(&name[..name.len().min(255)]);
        payload.extend_from_slice(&short_hash::<KEY_HASH_BYTES>(key));
        payload.extend_from_slice(&seconds(began.timestamp()).to_be_bytes());
        payload.extend_from_slice(&short_hash::<CHANNEL_HASH_BYTES>(channel));
        let expires = now + Duration::days(LINK_DAYS);
        payload.extend_from_slice(&seconds(expires.timestamp()).to_be_bytes());
        let mac = self.mac(&payload);
        payload.extend_from_slice(&mac);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    }

    /// The link of a token, when the status function's address is known.
    pub fn link(&self, token: &str) -> Option<String> {
        let base = self.base.as_ref()?;
        let base = base.as_str().trim_end_matches('/');
        Some(format!("{base}/act/{token}"))
    }

    /// What a token says, if it is one this key signed and it has not expired at `now`. The
    /// signature is compared in constant time.
    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Result<Claim, Refused> {
        if token.len() > 400 {
            return Err(Refused::Forged);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| Refused::Forged)?;
        if bytes.len() < MAC_BYTES + 3 {
            return Err(Refused::Forged);
        }
        let (payload, mac) = bytes.split_at(bytes.len() - MAC_BYTES);
        let expected = self.mac(payload);
        let same = expected
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if !same {
            return Err(Refused::Forged);
        }
        let claim = parse(payload).ok_or(Refused::Forged)?;
        if claim.expires <= now.timestamp() {
            return Err(Refused::Expired);
        }
        Ok(claim)
    }
}

/// Seconds since the epoch as four bytes (until 2106).
fn seconds(at: i64) -> u32 {
    u32::try_from(at.max(0)).unwrap_or(u32::MAX)
}

fn parse(payload: &[u8]) -> Option<Claim> {
    let mut rest = payload;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    if take(1)?[0] != VERSION {
        return None;
    }
    let action = Action::of(take(1)?[0])?;
    let length = usize::from(take(1)?[0]);
    let function = String::from_utf8(take(length)?.to_vec()).ok()?;
    let key_hash = take(KEY_HASH_BYTES)?.try_into().ok()?;
    let began = i64::from(u32::from_be_bytes(take(4)?.try_into().ok()?));
    let channel_hash = take(CHANNEL_HASH_BYTES)?.try_into().ok()?;
    let expires = i64::from(u32::from_be_bytes(take(4)?.try_into().ok()?));
    Some(Claim {
        function,
        key_hash,
        began,
        action,
        channel_hash,
        expires,
    })
    .filter(|_| rest.is_empty())
}

/// The links of one alert, as a channel shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Links {
    /// `Acknowledge`.
    pub acknowledge: String,
    /// `Silence 1 h`.
    pub silence_1h: String,
    /// `Silence 4 h`.
    pub silence_4h: String,
    /// `Silence until tomorrow 09:00`.
    pub silence_until_tomorrow: String,
}

impl Links {
    /// The links of every action on an incident, for one channel; `None` when the status
    /// function's address is not known.
    pub fn of(
        signer: &Signer,
        function: &str,
        key: &str,
        began: DateTime<Utc>,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Option<Links> {
        let link = |action| signer.link(&signer.token(function, key, began, action, channel, now));
        Some(Links {
            acknowledge: link(Action::Acknowledge)?,
            silence_1h: link(Action::SilenceHour)?,
            silence_4h: link(Action::SilenceFourHours)?,
            silence_until_tomorrow: link(Action::SilenceTomorrow)?,
        })
    }

    /// Each action with its link, in the order a message offers them.
    pub fn each(&self) -> [(Action, &str); 4] {
        [
            (Action::Acknowledge, &self.acknowledge),
            (Action::SilenceHour, &self.silence_1h),
            (Action::SilenceFourHours, &self.silence_4h),
            (Action::SilenceTomorrow, &self.silence_until_tomorrow),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(key: &str) -> Signer {
        Signer {
            key: Secret::new(key.to_owned()),
            base: Some(url::Url::parse("https://status.example.com/").unwrap()),
        }
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, hour, minute, 0).unwrap()
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_says_what_it_was_signed_with_and_nothing_else_passes() {
        let signer = signer(KEY);
        let token = signer.token(
            "site-status",
            "site:shop",
            at(2, 0),
            Action::SilenceHour,
            "wecom",
            at(2, 5),
        );
        assert!(token.len() < 80, "{token}");
        let claim = signer.check(&token, at(3, 0)).unwrap();
        assert_eq!(claim.function, "site-status");
        assert!(claim.is_for("site:shop") && !claim.is_for("site:blog"));
        assert_eq!(claim.began, at(2, 0).timestamp());
        assert_eq!(claim.action, Action::SilenceHour);
        let channels = ["dingtalk".to_owned(), "wecom".to_owned()];
        assert_eq!(claim.channel(channels.iter()), Some(&channels[1]));
        // Seven days, then no more.
        assert_eq!(
            signer.check(&token, at(2, 5) + Duration::days(LINK_DAYS)),
            Err(Refused::Expired)
        );
        // Another stack's key, any changed character, a truncation, rubbish: forged.
        assert_eq!(
            self::signer("another-stack-key-0123456789abcdef").check(&token, at(3, 0)),
            Err(Refused::Forged)
        );
        let mut bytes = token.clone().into_bytes();
        for i in 0..bytes.len() {
            let original = bytes[i];
            bytes[i] = if original == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes.clone()).unwrap();
            assert!(signer.check(&changed, at(3, 0)).is_err(), "byte {i}");
            bytes[i] = original;
        }
        for bad in ["", "x", &token[..token.len() - 1], "%%%%", &"A".repeat(500)] {
            assert_eq!(signer.check(bad, at(3, 0)), Err(Refused::Forged), "{bad}");
        }
        assert_eq!(
            signer.link(&token).unwrap(),
            format!("https://status.example.com/act/{token}")
        );
    }

    #[test]
    fn silences_end_when_they_say_and_tomorrow_is_nine_local() {
        let shanghai = chrono_tz::Asia::Shanghai;
        let now = at(2, 14); // 10:14 in Shanghai
        assert_eq!(Action::Acknowledge.until(now, &shanghai), None);
        assert_eq!(Action::SilenceHour.until(now, &shanghai), Some(at(3, 14)));
        assert_eq!(
            Action::SilenceFourHours.until(now, &shanghai),
            Some(at(6, 14))
        );
        // 09:00 on the 7th in Shanghai is 01:00 UTC.
        assert_eq!(
            Action::SilenceTomorrow.until(now, &shanghai),
            Some(Utc.with_ymd_and_hms(2026, 12, 7, 1, 0, 0).unwrap())
        );
        // Pressed at 23:30 local, tomorrow is the next day, not nine and a half hours on... it is.
        let late = Utc.with_ymd_and_hms(2026, 12, 6, 15, 30, 0).unwrap();
        assert_eq!(
            Action::SilenceTomorrow.until(late, &shanghai),
            Some(Utc.with_ymd_and_hms(2026, 12, 7, 1, 0, 0).unwrap())
        );
    }

    fn open_incident() -> Incident {
        let mut incident: Incident = serde_json::from_value(serde_json::json!({
            "key": "site:shop", "function": "site-status", "target": "https://shop/",
            "status": "open", "health": "failing", "kind": "status", "message": "503",
            "began_at": "2026-12-06T02:00:00Z", "recovering_since": null, "failures": 3,
            "successes": 0, "channels": {}, "updated_at": "2026-12-06T02:10:00Z"
        }))
        .unwrap();
        incident.answers.clear();
        incident
    }

    #[test]
    fn an_acknowledgement_stands_and_a_silence_only_lengthens() {
        let utc = Utc;
        let incident = open_incident();
        assert!(incident.is_answerable(at(2, 0).timestamp()));
        assert!(!incident.is_answerable(at(1, 0).timestamp()));
        let silenced = apply(
            &incident,
            Action::SilenceFourHours,
            "wecom",
            None,
            at(2, 15),
            &utc,
        )
        .unwrap();
        assert_eq!(silenced.silenced_until(at(2, 15)), Some(at(6, 15)));
        assert_eq!(silenced.silenced_until(at(6, 15)), None);
        assert_eq!(
            apply(
                &silenced,
                Action::SilenceHour,
                "email",
                None,
                at(2, 20),
                &utc
            ),
            Err(Unchanged::AlreadySilenced(at(6, 15)))
        );
        let acknowledged = apply(
            &silenced,
            Action::Acknowledge,
            "email",
            Some("Li Wei".into()),
            at(2, 30),
            &utc,
        )
        .unwrap();
        let answer = acknowledged.acknowledged().unwrap();
        assert_eq!(
            (answer.via.as_str(), answer.by.as_deref()),
            ("email", Some("Li Wei"))
        );
        // Twice is once.
        assert!(matches!(
            apply(
                &acknowledged,
                Action::Acknowledge,
                "wecom",
                None,
                at(2, 31),
                &utc
            ),
            Err(Unchanged::AlreadyAcknowledged(_))
        ));
        // Pressed over and over, a silence keeps only the latest few.
        let mut pressed = incident.clone();
        for minute in 0..100 {
            pressed = apply(
                &pressed,
                Action::SilenceHour,
                "wecom",
                None,
                at(3, 0) + Duration::minutes(minute),
                &utc,
            )
            .unwrap();
        }
        assert_eq!(pressed.answers.len(), MAX_ANSWERS);
        assert_eq!(pressed.silenced_until(at(3, 0)), Some(at(5, 39)));
        // Kept and read back.
        let text = serde_json::to_string(&acknowledged).unwrap();
        let back: Incident = serde_json::from_str(&text).unwrap();
        assert_eq!(back, acknowledged);
    }

    #[test]
    fn a_typed_name_is_one_short_line_of_text() {
        assert_eq!(name_of("  Li   Wei \n"), Some("Li Wei".into()));
        assert_eq!(name_of("\u{1b}[31mred\u{7}"), Some("31mred".into()));
        assert_eq!(name_of("<b>王伟</b> & *co*"), Some("b王伟b co".into()));
        assert_eq!(name_of(" \t "), None);
        assert_eq!(
            name_of(&"x".repeat(100)).unwrap().chars().count(),
            MAX_NAME_CHARS
        );
    }
}
