//! heartbeat: hosts and jobs report in (they ping the `ingest` function); silence is the failure.
//!
//! The check reads each monitor's ping record and judges it at the tick's time, so a replayed tick
//! judges alike: a run that started and has not ended within `grace` is `run_too_long`; no ping
//! when one was due (after `period`, or the next time of the cron `schedule`) plus `grace` is
//! `late`, dated from when the ping became due, so the escalation ladder counts minutes offline;
//! a `/fail` or a non-zero exit status is `job_failed` until the next success. A monitor that never
//! pinged is waiting, not failing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub mod ingest;

use super::limits::{self, Limits};
use super::{
    Check, CheckResult, CheckType, Failure, Health, Measurement, Memory, Naming, SharedLedger,
    Words, kind,
};
use serde::Deserialize;

use crate::config::read::{self, Parse, Problem};
use crate::config::{
    ConfigError, Env, SettingKey, SetupError, list, one, parse_duration, variable,
};
use crate::pings::{self, PingRecord};
use crate::tick::Tick;
use ingest::{IngestCheck, IngestVerdict};

/// The function's name, as deployed.
pub const FUNCTION: &str = "heartbeat";

/// What a monitor remembers until it is first heard from: when a tick first saw it.
const FIRST_SEEN: &str = "first_seen";

/// When a tick first saw the monitor of `key` (kept in its memory; `now` for a new one), and the
/// memory that keeps it: for `never_reported` of heartbeat and supervisor monitors.
pub fn first_seen(
    memory: &Memory,
    key: &str,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, serde_json::Value) {
    let seen = memory
        .get(key)
        .and_then(|m| m.get(FIRST_SEEN))
        .and_then(|t| serde_json::from_value::<DateTime<Utc>>(t.clone()).ok())
        .unwrap_or(now)
        .min(now);
    (seen, serde_json::json!({ FIRST_SEEN: seen }))
}

/// The part of a monitor's keys that stands for its resource report as a whole.
const REPORT_PART: &str = "resources";

/// How long a monitor waits for a ping when it names neither `period` nor `schedule`.
const DEFAULT_PERIOD: Duration = Duration::from_secs(86_400);
/// The longest `period` or `grace`.
const MAX_SPAN: Duration = Duration::from_secs(366 * 86_400);
/// Lines of a job's output its failure message quotes.
const OUTPUT_LINES: usize = 3;
/// Characters of a job's output its failure message quotes.
const OUTPUT_CHARS: usize = 300;

/// `type: heartbeat` in `lookout.yaml`.
pub const TYPE: CheckType = CheckType {
    name: "heartbeat",
    function: FUNCTION,
    display: Words {
        zh: "心跳",
        en: "heartbeat",
    },
    kinds: &[
        kind("late", "心跳超时", "silent"),
        kind("job_failed", "任务失败", "job failed"),
        kind("run_too_long", "任务运行超时", "run too long"),
        kind("never_reported", "从未上报", "never reported"),
        ingest::INGEST_REFUSED,
    ],
    keys: &[
        one("token", "HEARTBEAT_TOKEN").secret().hint(TOKEN_HINT).doc("the secret in the ping URL: 16 to 128 letters, digits, `-` `.` `_` `~`, without `..`; give it as `\"${NAME}\"` from the stack's secret. Only its SHA-256 is stored"),
        one("period", "HEARTBEAT_PERIOD").hint("write it like 1m, 30m, 1h or 1d").doc("a ping is expected this long after the last one: `1m` to `366d`; default `1d`"),
        one("grace", "HEARTBEAT_GRACE").default("1h").hint("write it like 30s, 5m or 1h").doc("how late a ping may be, and how long a run (`/start` to its end) may take; default `1h`"),
        one("schedule", "HEARTBEAT_SCHEDULE").hint("write 5 cron fields (minute hour day-of-month month day-of-week), like \"0 2 * * *\"").doc("instead of `period`: a 5-field cron schedule (`\"0 2 * * *\"`) in the monitor's `timezone`; the next ping is due at its next time after the last one"),
        one("min_interval", "HEARTBEAT_MIN_INTERVAL").default("10s").hint("write it like 10s or 1m").doc("pings of the same kind closer than this are answered but not stored (a script in a loop); default `10s`, `0s` stores every one"),
        one("cpu_max", "HEARTBEAT_CPU_MAX").doc("with lookout-agent's report as the ping: the highest CPU busy %, above 0 and at most 100"),
        one("memory_max", "HEARTBEAT_MEMORY_MAX").doc("the highest memory used %"),
        one("disk_max", "HEARTBEAT_DISK_MAX").doc("the highest used % of each of `disks`"),
        list("disks", "HEARTBEAT_DISKS").doc("the mount points `disk_max` judges (absolute, letters, digits, `/ . _ -` only), as for `type: host`; default `[\"/\"]`. Only these are judged, whatever else a report lists; one the report does not give is a monitor error saying to add `--disk`"),
        list("processes", "HEARTBEAT_PROCESSES").doc("processes that must run, by exact name as `pgrep -x` matches it (1 to 15 letters, digits, `.` `_` `-`, not starting with `-`)"),
        one("methods", "HEARTBEAT_METHODS").default("any").hint("set it to any or post").doc("`post`: only POST pings count; a GET or HEAD (a link preview, a crawler) is answered and ignored; default `any`"),
        list("success_keywords", "HEARTBEAT_SUCCESS_KEYWORDS").doc("with any keyword list set, the ping's body decides: a body holding one of these (case-sensitive) is a success, whatever the URL said"),
        list("failure_keywords", "HEARTBEAT_FAILURE_KEYWORDS").doc("a body holding one of these is a failure (checked first)"),
        list("start_keywords", "HEARTBEAT_START_KEYWORDS").doc("a body holding one of these is a start (checked after failure and success)"),
        one("filter_default", "HEARTBEAT_FILTER_DEFAULT").default("ignore").hint("set it to ignore or fail").doc("with keywords: a body holding none of them is ignored (`ignore`, the default) or a failure (`fail`)"),
        one("slug", "HEARTBEAT_SLUG").hint("use 1 to 100 lower-case letters, digits, - or _ (not start, fail, log or a number)").doc("the monitor's name in `/ping/<ping_key>/<slug>` URLs; default its name in lower case, other characters as `-`"),
        one("never_reported", "HEARTBEAT_NEVER_REPORTED").default("wait").hint("set it to wait or alert").doc("`alert`: a monitor that has not pinged within `period` + `grace` of the first tick that saw it fails (\"never reported\"); `wait` (the default): it waits for its first ping"),
    ],
    variables: &[
        variable("INGEST_FUNCTION_NAME").stack().doc("the ingest function, whose throttles and errors explain a silence"),
        PING_KEY,
    ],
    host: None,
    validate: |env| Heartbeat::read(env).map(|_| ()),
    build: build_monitors,
};

/// `ping_key` in `defaults` (`HEARTBEAT_PING_KEY`): the stack-wide key of `/ping/<ping_key>/<slug>`
/// URLs, for people who prefer a monitor's name to a token per job.
pub const PING_KEY: SettingKey = one("ping_key", "HEARTBEAT_PING_KEY")
    .secret()
    .hint("give it 16 to 128 letters, digits, - . _ or ~ from the stack's secret: ping_key: \"${PING_KEY}\"")
    .doc("in `defaults`: the key of `/ping/<ping_key>/<slug>` URLs, one for the whole stack; give it as `\"${PING_KEY}\"` from the stack's secret. Without it, slug URLs answer 404");

/// The stack's ping key (`HEARTBEAT_PING_KEY`, `ping_key` in `defaults`), checked as a token is.
pub fn ping_key(env: &Env) -> Result<Option<crate::config::Secret>, ConfigError> {
    match env.get(PING_KEY.var) {
        None => Ok(None),
        Some(key) if pings::is_token(key) => Ok(Some(crate::config::Secret::new(key.to_owned()))),
        Some(key) => Err(ConfigError::invalid(
            PING_KEY.var,
            "<redacted>",
            format!(
                "{} characters, not 16 to 128 letters, digits, - . _ or ~",
                key.chars().count()
            ),
            PING_KEY.hint,
        )),
    }
}

/// The slug a monitor named `name` gets when it names none: its name in lower case, each other
/// character than a letter, a digit, `-` or `_` as `-`.
pub fn default_slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// True for a slug: 1 to 100 lower-case letters, digits, `-` or `_`, and not a word a ping's URL
/// gives another meaning (`start`, `fail`, `log`, an exit status).
pub fn is_slug(slug: &str) -> bool {
    (1..=100).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
        && !matches!(slug, "start" | "fail" | "log")
        && !slug.bytes().all(|b| b.is_ascii_digit())
}

/// What a ping's body says, when a monitor's keywords decide (healthchecks' order: failure,
/// success, start; then the default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keywords {
    /// A body holding one of these is a success.
    pub success: Vec<String>,
    /// ... a failure (checked first).
    pub failure: Vec<String>,
    /// ... a start.
    pub start: Vec<String>,
    /// A body holding none is a failure (else it is ignored).
    pub default_fail: bool,
}

impl Keywords {
    /// The signal `body` gives (case-sensitive substrings).
    pub fn signal_of(&self, body: &str) -> pings::Signal {
        let holds = |words: &[String]| {
            words
                .iter()
                .any(|w| !w.is_empty() && body.contains(w.as_str()))
        };
        if holds(&self.failure) {
            pings::Signal::Fail
        } else if holds(&self.success) {
            pings::Signal::Success
        } else if holds(&self.start) {
            pings::Signal::Start
        } else if self.default_fail {
            pings::Signal::Fail
        } else {
            pings::Signal::Ignored
        }
    }
}

/// The heartbeat monitors of the configuration, by name: those `lookout.yaml` declares (each one's
/// name and settings, when it has `monitors`), else the one `HEARTBEAT_TOKEN` describes (named
/// `heartbeat`) in `env` (the file's defaults when there is one), else none. The ingest function and
/// the heartbeat function read them alike.
pub fn monitors(
    env: &Env,
    declared: Option<Vec<(&str, &Env)>>,
) -> Result<Vec<(String, Heartbeat)>, SetupError> {
    match declared {
        Some(monitors) => {
            let monitors: Vec<(String, Heartbeat)> = monitors
                .into_iter()
                .map(|(name, env)| Ok((name.to_owned(), Heartbeat::read(env)?)))
                .collect::<Result<_, ConfigError>>()?;
            each_token_once(monitors.iter().map(|(name, h)| (name.as_str(), h)))?;
            Ok(monitors)
        }
        None => {
            let naming = Naming::Function(FUNCTION);
            Ok(Heartbeat::of(env, &naming)?
                .map(|h| (FUNCTION.to_owned(), h))
                .into_iter()
                .collect())
        }
    }
}

/// Refuses two monitors with one token, or one slug: a ping could not say which of them it is.
fn each_token_once<'a>(
    monitors: impl Iterator<Item = (&'a str, &'a Heartbeat)>,
) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut slugs: HashMap<String, &str> = HashMap::new();
    for (name, heartbeat) in monitors {
        let slug = heartbeat.slug.clone().unwrap_or_else(|| default_slug(name));
        if let Some(first) = slugs.insert(slug.clone(), name) {
            return Err(ConfigError::invalid(
                "HEARTBEAT_SLUG",
                &slug,
                format!("monitors {first:?} and {name:?} have the same slug"),
                "give one of them a `slug` of its own: a ping by slug names its monitor by it",
            ));
        }
        if let Some(first) = seen.insert(&heartbeat.token_hash, name) {
            return Err(ConfigError::invalid(
                "HEARTBEAT_TOKEN",
                "<redacted>",
                format!("monitors {first:?} and {name:?} have the same token"),
                "give each heartbeat monitor a token of its own: a ping names its monitor by it",
            ));
        }
    }
    Ok(())
}

/// When a ping is expected.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Every `period` after the last one.
    Every(Duration),
    /// At the next time of a 5-field cron schedule, in a time zone.
    Schedule {
        /// The schedule as written.
        text: String,
        /// The schedule.
        cron: Box<croner::Cron>,
    },
}

/// One heartbeat monitor's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// The SHA-256 of its token (the token itself is not kept).
    pub token_hash: String,
    /// When pings are expected.
    pub expect: Expect,
    /// How late a ping may be, and how long a run may take.
    pub grace: Duration,
    /// Pings of the same signal closer than this are not stored.
    pub min_interval: Duration,
    /// The zone of the schedule and of the times in messages.
    pub timezone: Tz,
    /// The host's resource limits, judged on lookout-agent's reports.
    pub limits: Limits,
    /// Only POST pings count (`methods: post`).
    pub post_only: bool,
    /// The body decides the signal, when any keyword list is set.
    pub keywords: Option<Keywords>,
    /// Its slug (`slug`), when it named one (else its name's: [`default_slug`]).
    pub slug: Option<String>,
    /// A monitor that never pinged fails after `period` + `grace` (`never_reported: alert`).
    pub never_reported_alert: bool,
}

/// A span of time (`30s`, `5m`, `1h`, `2d`), at most 366 days.
struct Span(Duration);

impl Parse for Span {
    fn parse(raw: &str) -> Result<Self, Problem> {
        let value = parse_duration(raw).map_err(Problem::new)?;
        if value > MAX_SPAN {
            return Err(Problem::new("is longer than 366 days"));
        }
        Ok(Span(value))
    }
}

fn span<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    read::parsed::<D, Span>(d).map(|s| s.0)
}

/// `period`: a span of at least a minute.
fn period<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let period = span(d)?;
    if period < Duration::from_secs(60) {
        return Err(Problem::new("is under a minute (lookout judges once a minute)").error());
    }
    Ok(Some(period))
}

/// `schedule`: 5 cron fields, as written and as read.
struct Schedule(String, croner::Cron);

impl Parse for Schedule {
    fn parse(raw: &str) -> Result<Self, Problem> {
        parse_schedule(raw)
            .map(|cron| Schedule(raw.to_owned(), cron))
            .map_err(Problem::new)
    }
}

/// A monitor token's hash, the token checked (16 to 128 URL-safe characters): the token itself
/// is a secret (its key says so: registered when read) and never kept.
pub struct TokenHash(pub String);

impl Parse for TokenHash {
    fn parse(token: &str) -> Result<Self, Problem> {
        if !pings::is_token(token) {
            return Err(Problem::new(format!(
                "{} characters, of which {} are not letters, digits, - . _ or ~",
                token.chars().count(),
                token.chars().filter(|c| !pings::is_token_char(*c)).count()
            ))
            .hint("use 16 to 128 letters, digits, - . _ or ~ (openssl rand -hex 16 makes one)"));
        }
        Ok(TokenHash(pings::token_hash(token)))
    }
}

/// `deserialize_with` for a monitor token, kept as its hash.
pub fn token_hash<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    read::parsed::<D, TokenHash>(d).map(|t| t.0)
}

/// What the token key's hint says, for each type that takes a monitor token.
pub const TOKEN_HINT: &str = "give the monitor a secret token of 16 to 128 letters, digits, - . _ or ~, from the stack's secret: token: \"${WEB1_TOKEN}\"";

/// A heartbeat monitor's keys, as read.
#[derive(Deserialize)]
struct HeartbeatKeys {
    #[serde(rename = "token", deserialize_with = "token_hash")]
    token_hash: String,
    #[serde(default, deserialize_with = "period")]
    period: Option<Duration>,
    #[serde(default, deserialize_with = "read::parsed_some")]
    schedule: Option<Schedule>,
    #[serde(deserialize_with = "span")]
    grace: Duration,
    #[serde(deserialize_with = "span")]
    min_interval: Duration,
    #[serde(rename = "@limits")]
    limits: Limits,
    #[serde(deserialize_with = "methods")]
    methods: bool,
    #[serde(default)]
    success_keywords: Vec<String>,
    #[serde(default)]
    failure_keywords: Vec<String>,
    #[serde(default)]
    start_keywords: Vec<String>,
    #[serde(deserialize_with = "filter_default")]
    filter_default: bool,
    #[serde(default, deserialize_with = "slug")]
    slug: Option<String>,
    #[serde(deserialize_with = "never_reported")]
    never_reported: bool,
}

/// One of two words, as a flag: `yes` when it is the second.
fn either<'de, D: serde::Deserializer<'de>>(d: D, no: &str, yes: &str) -> Result<bool, D::Error> {
    let text = String::deserialize(d)?;
    match text.trim().to_ascii_lowercase() {
        t if t == no => Ok(false),
        t if t == yes => Ok(true),
        _ => Err(Problem::new(format!("not {no} or {yes}")).error()),
    }
}

fn methods<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    either(d, "any", "post")
}

fn filter_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    either(d, "ignore", "fail")
}

/// `never_reported`: `wait` or `alert` (true), for heartbeat and supervisor monitors.
pub fn never_reported<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    either(d, "wait", "alert")
}

fn slug<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let slug = String::deserialize(d)?;
    if !is_slug(&slug) {
        return Err(Problem::new(
            "not a slug (lower-case letters, digits, - or _; not start, fail, log or a number)",
        )
        .error());
    }
    Ok(Some(slug))
}

impl read::Settings for HeartbeatKeys {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];
}

impl Heartbeat {
    /// A monitor's settings, or `None` when no token is set and it is not a monitor of
    /// `lookout.yaml` (the function then has nothing to watch).
    pub fn of(env: &Env, naming: &Naming) -> Result<Option<Self>, ConfigError> {
        if matches!(naming, Naming::Function(_)) && env.get("HEARTBEAT_TOKEN").is_none() {
            return Ok(None);
        }
        Self::read(env).map(Some)
    }

    /// Reads and checks the settings.
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let keys = read::settings::<HeartbeatKeys>(env)?;
        let expect = match (keys.schedule, keys.period) {
            (Some(Schedule(text, _)), Some(_)) => {
                return Err(ConfigError::invalid(
                    "HEARTBEAT_SCHEDULE",
                    &text,
                    "period is set too",
                    "give a monitor either a period or a schedule, not both",
                ));
            }
            (Some(Schedule(text, cron)), None) => Expect::Schedule {
                text,
                cron: Box::new(cron),
            },
            (None, period) => Expect::Every(period.unwrap_or(DEFAULT_PERIOD)),
        };
        Ok(Heartbeat {
            token_hash: keys.token_hash,
            expect,
            grace: keys.grace,
            min_interval: keys.min_interval,
            timezone: crate::config::timezone(env)?,
            limits: keys.limits,
            post_only: keys.methods,
            keywords: (!(keys.success_keywords.is_empty()
                && keys.failure_keywords.is_empty()
                && keys.start_keywords.is_empty()))
            .then_some(Keywords {
                success: keys.success_keywords,
                failure: keys.failure_keywords,
                start: keys.start_keywords,
                default_fail: keys.filter_default,
            }),
            slug: keys.slug,
            never_reported_alert: keys.never_reported,
        })
    }

    /// When the ping after one at `last` is due (without the grace).
    pub fn due_after(&self, last: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.expect {
            Expect::Every(period) => Some(last + chrono::Duration::from_std(*period).ok()?),
            Expect::Schedule { cron, .. } => cron
                .find_next_occurrence(&last.with_timezone(&self.timezone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// How its expectation reads: "every 1 min + 30 s", "\"0 2 * * *\" + 1 h".
    fn expectation(&self) -> String {
        let grace = words(self.grace.as_secs() as i64);
        match &self.expect {
            Expect::Every(period) => format!("every {} + {grace}", words(period.as_secs() as i64)),
            Expect::Schedule { text, .. } => {
                format!("by the schedule \"{text}\" ({}) + {grace}", self.timezone)
            }
        }
    }

    fn local(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
        let (at, now) = (
            at.with_timezone(&self.timezone),
            now.with_timezone(&self.timezone),
        );
        if at.date_naive() == now.date_naive() {
            at.format("%H:%M").to_string()
        } else {
            at.format("%m-%d %H:%M").to_string()
        }
    }
}

/// A 5-field cron schedule (minute hour day-of-month month day-of-week).
fn parse_schedule(text: &str) -> Result<croner::Cron, String> {
    let fields = text.split_whitespace().count();
    if fields != 5 {
        return Err(format!("has {fields} fields, not 5"));
    }
    croner::Cron::from_str(text).map_err(|e| e.to_string())
}

/// "45 s", "12 min", "1 h 5 min", "2 d 3 h".
fn words(seconds: i64) -> String {
    let seconds = seconds.max(0);
    if seconds < 60 {
        return format!("{seconds} s");
    }
    let minutes = seconds / 60;
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "min")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    let mut text = parts.into_iter().take(2).collect::<Vec<_>>().join(" ");
    if minutes < 10 && seconds % 60 != 0 {
        text.push_str(&format!(" {} s", seconds % 60));
    }
    text
}

/// What a heartbeat monitor's record says at a tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeartbeatMeasurement {
    /// The monitor.
    pub monitor: String,
    /// `waiting` (never pinged), `up`, `running`, `late`, `failed` or `running_too_long`.
    pub status: &'static str,
    /// The last ping, of any kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ping: Option<DateTime<Utc>>,
    /// When the next ping is due (without the grace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_due: Option<DateTime<Utc>>,
    /// Seconds since the last ping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silent_seconds: Option<i64>,
    /// The last run's exit status, when it reported one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<u8>,
    /// How long the last run took, in seconds, when its start was known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_seconds: Option<i64>,
    /// The usual run: the median of the last 20, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usual_run_seconds: Option<i64>,
    /// Runs started and not ended.
    #[serde(skip_serializing_if = "is_zero")]
    pub open_runs: usize,
    /// The response time the last ping reported (Uptime Kuma's `ping`), in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_ms: Option<u64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// "2 h 14 min, usually 41 min": a run's duration and the usual one, as messages say them.
fn run_words(seconds: i64, usual: Option<i64>) -> String {
    match usual {
        Some(usual) => format!("{}, usually {}", words(seconds), words(usual)),
        None => words(seconds),
    }
}

/// The metric points of a heartbeat: seconds since its last ping, per monitor.
pub fn points(m: &HeartbeatMeasurement, function: &str) -> Vec<crate::metrics::Point> {
    let Some(silent) = m.silent_seconds else {
        return Vec::new();
    };
    vec![crate::metrics::Point {
        dimensions: vec![vec!["Function", "Monitor"]],
        fields: serde_json::json!({
            "Function": function,
            "Monitor": m.monitor,
            "SilentSeconds": silent,
            "Status": m.status,
        }),
        metrics: vec![("SilentSeconds", "Seconds")],
    }]
}

/// The verdict on one record at `now` (pure: the same record and moment judge alike).
pub fn judge(
    heartbeat: &Heartbeat,
    name: &str,
    record: Option<&PingRecord>,
    now: DateTime<Utc>,
    first_seen: DateTime<Utc>,
) -> (
    Health,
    Option<Failure>,
    Option<DateTime<Utc>>,
    HeartbeatMeasurement,
) {
    let open = record.map(PingRecord::open_runs).unwrap_or_default();
    let mut measurement = HeartbeatMeasurement {
        monitor: name.to_owned(),
        status: "waiting",
        last_ping: record.map(|r| r.last_at),
        next_due: None,
        silent_seconds: record.map(|r| (now - r.last_at).num_seconds().max(0)),
        exit_status: record.and_then(|r| r.exit_status),
        last_run_seconds: record.and_then(|r| r.last_duration),
        usual_run_seconds: record.and_then(PingRecord::usual_duration),
        open_runs: open.len(),
        response_ms: record.and_then(|r| r.last_ms),
    };
    let grace = chrono::Duration::from_std(heartbeat.grace).unwrap_or(chrono::Duration::MAX);
    let running = open.first().map(|run| run.started_at);
    // The last sign of life a schedule counts from: the last ending, else the start of the first run.
    let Some(last) = record.and_then(|r| r.ended_at).or(running) else {
        // Never pinged (or only log messages so far): not yet a heartbeat. With
        // `never_reported: alert`, one expected since the first tick that saw it is silent.
        if heartbeat.never_reported_alert
            && let Some(due) = heartbeat.due_after(first_seen)
            && now > due + grace
        {
            measurement.status = "never_reported";
            let failure = Failure {
                kind: "never_reported",
                message: format!(
                    "{name} has never reported since it was added at {} (expected {}): is lookout-agent installed, or the job's ping in place?",
                    heartbeat.local(first_seen, now),
                    heartbeat.expectation()
                ),
            };
            return (Health::Failing, Some(failure), Some(due), measurement);
        }
        return (Health::Ok, None, None, measurement);
    };
    let Some(record) = record else {
        return (Health::Ok, None, None, measurement);
    };
    let due = heartbeat.due_after(last);
    measurement.next_due = due;
    if let Some(started) = running {
        // Each open run is judged: the oldest one past its grace is too long.
        let limit = started + grace;
        if now > limit {
            measurement.status = "running_too_long";
            let others = match open.len() {
                1 => String::new(),
                n => format!("; {n} runs are open"),
            };
            let usual = record
                .usual_duration()
                .map(|u| format!("; its runs usually take {}", words(u)))
                .unwrap_or_default();
            let failure = Failure {
                kind: "run_too_long",
                message: format!(
                    "{name} has been running for {} (started {}), longer than its grace of {}{usual}{others}{}",
                    words((now - started).num_seconds()),
                    heartbeat.local(started, now),
                    words(grace.num_seconds()),
                    last_output(record)
                ),
            };
            return (Health::Failing, Some(failure), Some(limit), measurement);
        }
        measurement.status = "running";
        return (Health::Ok, None, None, measurement);
    }
    if let Some(due) = due
        && now > due + grace
    {
        measurement.status = "late";
        let failure = Failure {
            kind: "late",
            message: format!(
                "{name} silent for {} (last ping {}, expected {})",
                words((now - record.last_at).num_seconds()),
                heartbeat.local(record.last_at, now),
                heartbeat.expectation()
            ),
        };
        return (Health::Failing, Some(failure), Some(due), measurement);
    }
    if !record.ended_ok {
        measurement.status = "failed";
        let ended = record.ended_at.unwrap_or(last);
        let status = record
            .exit_status
            .map(|s| format!(" with exit status {s}"))
            .unwrap_or_default();
        let ran = record
            .last_duration
            .map(|d| format!(" after {}", run_words(d, record.usual_before_last())))
            .unwrap_or_default();
        let failure = Failure {
            kind: "job_failed",
            message: format!(
                "{name} failed{status} at {}{ran}{}",
                heartbeat.local(ended, now),
                last_output(record)
            ),
        };
        return (Health::Failing, Some(failure), Some(ended), measurement);
    }
    measurement.status = "up";
    (Health::Ok, None, None, measurement)
}

/// The verdict on the host's last resource report: each limit's result, or one monitor error
/// (`<monitor>/resources`) when no report came within the heartbeat's expectation.
fn judge_resources(
    heartbeat: &Heartbeat,
    name: &str,
    naming: &Naming,
    record: &PingRecord,
    now: DateTime<Utc>,
) -> Vec<CheckResult> {
    let grace = chrono::Duration::from_std(heartbeat.grace).unwrap_or(chrono::Duration::MAX);
    let fresh = match (&record.resources, record.resources_at) {
        (Some(report), Some(at)) => heartbeat
            .due_after(at)
            .is_none_or(|due| now <= due + grace)
            .then_some(report)
            .ok_or_else(|| {
                format!(
                    "{name}'s last resource report came at {}, {} ago (expected {}): is lookout-agent report still running on it?",
                    heartbeat.local(at, now),
                    words((now - at).num_seconds()),
                    heartbeat.expectation()
                )
            }),
        _ => Err(format!(
            "{name} has resource limits and has sent no resource report: run lookout-agent report with its token on it (docs/agent.md)"
        )),
    };
    match fresh {
        Ok(report) => heartbeat.limits.judge(name, naming, report),
        Err(message) => vec![CheckResult::monitor_error(
            naming.part(REPORT_PART),
            naming.shown_part(REPORT_PART),
            message,
            Measurement::Resource(limits::ResourceMeasurement {
                host: name.to_owned(),
                resource: REPORT_PART.to_owned(),
                value: None,
                limit: None,
                running: None,
            }),
        )],
    }
}

/// "; last output: ..." with the output's last lines, or nothing.
fn last_output(record: &PingRecord) -> String {
    let Some(output) = record.output.as_deref() else {
        return String::new();
    };
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(OUTPUT_LINES)..].join(" | ");
    let count = tail.chars().count();
    let tail: String = if count > OUTPUT_CHARS {
        let kept: String = tail.chars().skip(count - OUTPUT_CHARS).collect();
        format!("…{kept}")
    } else {
        tail
    };
    format!("; last output: {tail}")
}

/// Ping records by token hash, or why they could not be read.
type Records = Result<Arc<HashMap<String, PingRecord>>, String>;

/// What one tick reads: the ping records, and what the ingest refused.
#[derive(Clone)]
struct Reading {
    records: Records,
    ingest: Arc<IngestVerdict>,
}

/// The ping records of every heartbeat monitor of the function, read once per tick, and the
/// ingest's refusals when a monitor is silent.
struct Ledger {
    store: SharedLedger,
    monitors: Vec<(String, Heartbeat)>,
    /// The ingest function's CloudWatch metrics (`INGEST_FUNCTION_NAME`), when the stack names it.
    ingest: Option<crate::cloudwatch::FunctionMetrics>,
    /// The last tick's id and what was read for it.
    read: Mutex<Option<(String, Reading)>>,
}

impl Ledger {
    async fn reading(&self, tick: &Tick) -> Reading {
        let mut read = self.read.lock().await;
        if let Some((id, reading)) = read.as_ref()
            && *id == tick.id
        {
            return reading.clone();
        }
        let hashes: Vec<String> = self
            .monitors
            .iter()
            .map(|(_, h)| h.token_hash.clone())
            .collect();
        let records = self
            .store
            .pings(&hashes)
            .await
            .map(Arc::new)
            .map_err(|e| e.to_string());
        let ingest = match &records {
            Ok(records) => ingest::verdict(self, records, tick.time).await,
            Err(_) => IngestVerdict::default(),
        };
        let reading = Reading {
            records,
            ingest: Arc::new(ingest),
        };
        *read = Some((tick.id.clone(), reading.clone()));
        reading
    }
}

/// One heartbeat monitor.
pub struct HeartbeatCheck {
    naming: Naming,
    /// `None`: a function without heartbeat monitors.
    heartbeat: Option<Heartbeat>,
    ledger: Arc<Ledger>,
}

fn build_monitors(
    monitors: Vec<(Env, Naming)>,
    store: &SharedLedger,
) -> Result<Vec<Box<dyn Check>>, SetupError> {
    let monitors_env = monitors.first().map(|(env, _)| env.clone());
    let mut built = Vec::with_capacity(monitors.len());
    for (env, naming) in monitors {
        built.push((Heartbeat::of(&env, &naming)?, naming));
    }
    each_token_once(
        built
            .iter()
            .filter_map(|(heartbeat, naming)| Some((name_of(naming), heartbeat.as_ref()?))),
    )?;
    // The ingest's CloudWatch metrics, when the stack names the function (every monitor's
    // variables hold the function's own).
    let ingest = match monitors_env
        .as_ref()
        .and_then(|env| Some((env, env.get(ingest::INGEST_FUNCTION_VAR)?)))
    {
        Some((env, function)) => Some(crate::cloudwatch::FunctionMetrics::from_env(env, function)?),
        None => None,
    };
    let ledger = Arc::new(Ledger {
        store: Arc::clone(store),
        monitors: built
            .iter()
            .filter_map(|(h, naming)| Some((name_of(naming).to_owned(), h.clone()?)))
            .collect(),
        ingest,
        read: Mutex::new(None),
    });
    let watched = !ledger.monitors.is_empty();
    let mut checks: Vec<Box<dyn Check>> = built
        .into_iter()
        .map(|(heartbeat, naming)| {
            Box::new(HeartbeatCheck {
                naming,
                heartbeat,
                ledger: Arc::clone(&ledger),
            }) as Box<dyn Check>
        })
        .collect();
    // One check about all of them: what the ingest refused while they were silent.
    if watched {
        checks.push(Box::new(IngestCheck {
            naming: Naming::Function("ingest"),
            ledger,
        }));
    }
    Ok(checks)
}

/// The result of a monitor whose pings could not be read: a monitor error, never "silent".
fn unread(key: String, name: String, error: &str) -> CheckResult {
    let message = format!("not checked: could not read the pings of {name}: {error}");
    CheckResult::monitor_error(
        key,
        name.clone(),
        message,
        Measurement::Heartbeat(HeartbeatMeasurement {
            monitor: name,
            status: "unknown",
            last_ping: None,
            next_due: None,
            silent_seconds: None,
            exit_status: None,
            last_run_seconds: None,
            usual_run_seconds: None,
            open_runs: 0,
            response_ms: None,
        }),
    )
}

/// A monitor's name: its name in `lookout.yaml`, or the function's.
fn name_of(naming: &Naming) -> &str {
    match naming {
        Naming::Monitor { name, .. } => name,
        Naming::Function(function) => function,
    }
}

#[async_trait]
impl Check for HeartbeatCheck {
    fn function(&self) -> &'static str {
        FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    async fn run(&self, tick: &Tick, memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        let Some(heartbeat) = &self.heartbeat else {
            return Vec::new();
        };
        let name = name_of(&self.naming).to_owned();
        let key = self.naming.whole(&name);
        let reading = match tokio::time::timeout_at(deadline, self.ledger.reading(tick)).await {
            Ok(reading) => reading,
            Err(_) => {
                return vec![unread(
                    key,
                    name,
                    "the state store did not answer before the invocation's time ran out",
                )];
            }
        };
        let records = match &reading.records {
            Ok(records) => records,
            Err(error) => return vec![unread(key, name, error)],
        };
        let record = records.get(&heartbeat.token_hash);
        // When the monitor was first seen, kept until its first ping (`never_reported`).
        let (first_seen, remembered) = first_seen(memory, &key, tick.time);
        let (mut health, mut failure, since, measurement) =
            judge(heartbeat, &name, record, tick.time, first_seen);
        let remembered = record.is_none().then_some(remembered);
        // Silence the ingest's refusals explain is not the host's: shown, not judged (the
        // ingest's own result says why), and what its report would have said waits too. A
        // silence too young for CloudWatch to have counted the refusals that would explain it
        // waits for them.
        let held = reading.ingest.held.contains(&heartbeat.token_hash);
        let untrusted = held || reading.ingest.untrusted.contains(&heartbeat.token_hash);
        if untrusted && let Some(failure) = failure.as_mut() {
            health = Health::Suppressed;
            failure.message.push_str(if held {
                " — not judged yet: the ingest's refusals reach CloudWatch up to 3 min late"
            } else {
                " — not judged: the ingest refused requests meanwhile (see ingest)"
            });
        }
        let mut results = vec![CheckResult {
            key,
            target: name.clone(),
            health,
            failure,
            measurement: Measurement::Heartbeat(measurement),
            memory: remembered,
            since,
        }];
        if let Some(record) = record
            && !heartbeat.limits.is_empty()
        {
            let report = self.naming.part(REPORT_PART);
            results.extend(
                judge_resources(heartbeat, &name, &self.naming, record, tick.time)
                    .into_iter()
                    .map(|mut result| {
                        if untrusted && result.key == report {
                            result.health = Health::Suppressed;
                        }
                        result
                    }),
            );
        }
        results
    }

    /// A resource, disk or process of the host fails because the host does: its heartbeat first.
    fn depends_on(&self, key: &str) -> Option<String> {
        let whole = self.naming.whole(name_of(&self.naming));
        (key != whole).then_some(whole)
    }

    /// A figure not judged this tick (no fresh report, or the pings unread) keeps its incident.
    fn retired(&self, key: &str, results: &[CheckResult]) -> bool {
        if results.iter().any(|r| r.key == key) {
            return false;
        }
        let whole = self.naming.whole(name_of(&self.naming));
        let report = self.naming.part(REPORT_PART);
        let unjudged = results.iter().any(|r| {
            (r.key == whole && r.health == Health::MonitorError)
                // Suppressed while the host is silent, and still not judged.
                || (r.key == report && r.failure.is_some())
        });
        !(unjudged && self.naming.owns(key))
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        let lines: Vec<String> = results
            .iter()
            .filter_map(|r| match &r.measurement {
                Measurement::Heartbeat(m) => {
                    let mut figures = m.status.to_owned();
                    if let Some(silent) = m.silent_seconds {
                        let minutes = silent / 60;
                        let ago = match minutes {
                            0..60 => format!("{minutes} min"),
                            _ => format!("{} h {} min", minutes / 60, minutes % 60),
                        };
                        figures.push_str(&format!(", last ping {ago} ago"));
                    }
                    Some(super::summary_line(r, &figures))
                }
                Measurement::Resource(m) => {
                    let figures = match (m.value, m.limit, m.running) {
                        (Some(value), Some(limit), _) => format!("{value} % (limit {limit} %)"),
                        (_, _, Some(running)) => {
                            (if running { "running" } else { "not running" }).to_owned()
                        }
                        _ => String::new(),
                    };
                    Some(super::summary_line(r, &figures))
                }
                _ => None,
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_decide_failure_first_then_success_then_start() {
        let keywords = Keywords {
            success: vec!["SUCCESS".into(), "done".into()],
            failure: vec!["FAIL".into()],
            start: vec!["START".into()],
            default_fail: false,
        };
        assert_eq!(keywords.signal_of("SUCCESS!"), Signal::Success);
        assert_eq!(keywords.signal_of("all done"), Signal::Success);
        assert_eq!(keywords.signal_of("SUCCESS but FAIL"), Signal::Fail);
        assert_eq!(keywords.signal_of("STARTING"), Signal::Start);
        assert_eq!(
            keywords.signal_of("success"),
            Signal::Ignored,
            "case-sensitive"
        );
        let strict = Keywords {
            default_fail: true,
            ..keywords
        };
        assert_eq!(strict.signal_of("nothing"), Signal::Fail);
        assert_eq!(default_slug("Nightly Backup.DB_2"), "nightly-backup-db_2");
        assert!(
            is_slug("nightly-backup") && !is_slug("start") && !is_slug("42") && !is_slug("Backup")
        );
    }
    use crate::pings::Signal;
    use chrono::TimeZone;

    fn heartbeat(pairs: &[(&str, &str)]) -> Result<Heartbeat, ConfigError> {
        let mut all = vec![
            ("HEARTBEAT_TOKEN", "0123456789abcdef0123"),
            ("ALERT_TIMEZONE", "Asia/Shanghai"),
        ];
        all.extend_from_slice(pairs);
        Heartbeat::read(&Env::from_pairs(all))
    }

    /// Shanghai local time on 2026-12-01 (UTC+8).
    fn local(h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 12, 1, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn record(signal: Signal, at: DateTime<Utc>) -> PingRecord {
        PingRecord::after(
            None,
            "m",
            &pings::Ping {
                signal,
                exit_status: None,
                at,
                output: None,
                resources: None,
                rid: None,
                ms: None,
            },
        )
    }

    #[test]
    fn figures_are_judged_on_a_fresh_report_and_a_missing_or_stale_one_is_one_monitor_error() {
        let host = heartbeat(&[
            ("HEARTBEAT_PERIOD", "1m"),
            ("HEARTBEAT_GRACE", "30s"),
            ("HEARTBEAT_DISK_MAX", "95"),
            ("HEARTBEAT_PROCESSES", "nginx"),
        ])
        .unwrap();
        let naming = Naming::Monitor {
            kind: TYPE.name,
            name: "web-1".into(),
        };
        let pinged = record(Signal::Success, local(10, 0));
        let keys = |results: &[CheckResult]| -> Vec<(String, Health)> {
            results.iter().map(|r| (r.key.clone(), r.health)).collect()
        };
        let none = judge_resources(&host, "web-1", &naming, &pinged, local(10, 0));
        assert_eq!(
            keys(&none),
            [("heartbeat:web-1/resources".to_owned(), Health::MonitorError)]
        );
        assert!(
            none[0]
                .failure
                .as_ref()
                .unwrap()
                .message
                .contains("lookout-agent report")
        );
        let mut reported = pinged.clone();
        reported.resources = Some(pings::Resources {
            host: "web-1".into(),
            cpu: 5.0,
            memory: 20.0,
            disks: [("/".to_owned(), 96.0)].into(),
            processes: [("nginx".to_owned(), false)].into(),
        });
        reported.resources_at = Some(local(10, 0));
        let fresh = judge_resources(&host, "web-1", &naming, &reported, local(10, 1));
        assert_eq!(
            keys(&fresh),
            [
                ("heartbeat:web-1/disk:/".to_owned(), Health::Failing),
                ("heartbeat:web-1/process:nginx".to_owned(), Health::Failing),
            ]
        );
        let stale = judge_resources(&host, "web-1", &naming, &reported, local(10, 5));
        assert_eq!(keys(&stale)[0].0, "heartbeat:web-1/resources");
        assert!(
            stale[0]
                .failure
                .as_ref()
                .unwrap()
                .message
                .contains("last resource report came at 10:00, 5 min ago"),
            "{stale:?}"
        );
    }

    #[test]
    fn settings_are_checked_and_name_the_variable() {
        let good = heartbeat(&[("HEARTBEAT_PERIOD", "1m"), ("HEARTBEAT_GRACE", "30s")]).unwrap();
        assert_eq!(good.expect, Expect::Every(Duration::from_secs(60)));
        assert_eq!(good.grace, Duration::from_secs(30));
        assert_eq!(good.min_interval, Duration::from_secs(10));
        for (var, value) in [
            ("HEARTBEAT_PERIOD", "30s"),
            ("HEARTBEAT_PERIOD", "1w"),
            ("HEARTBEAT_GRACE", "soon"),
            ("HEARTBEAT_SCHEDULE", "0 2 * *"),
            ("HEARTBEAT_SCHEDULE", "0 25 * * *"),
            ("HEARTBEAT_MIN_INTERVAL", "10"),
        ] {
            let error = heartbeat(&[(var, value)]).unwrap_err().to_string();
            assert!(error.starts_with(var), "{var}={value}: {error}");
        }
        let both = heartbeat(&[
            ("HEARTBEAT_PERIOD", "1h"),
            ("HEARTBEAT_SCHEDULE", "0 2 * * *"),
        ]);
        assert!(both.unwrap_err().to_string().contains("not both"));
        for token in ["short", "0123456789abcdef/0123", "0123456789abcdef 0123"] {
            let error = Heartbeat::read(&Env::from_pairs([("HEARTBEAT_TOKEN", token)]))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("HEARTBEAT_TOKEN") && !error.contains(token),
                "{error}"
            );
        }
    }

    #[test]
    fn a_period_host_is_late_after_period_and_grace_dated_from_when_it_was_due() {
        let host = heartbeat(&[("HEARTBEAT_PERIOD", "1m"), ("HEARTBEAT_GRACE", "30s")]).unwrap();
        let last = record(Signal::Success, local(10, 3));
        let at = |m: i64, s: i64| local(10, 3) + chrono::Duration::seconds(m * 60 + s);
        assert_eq!(
            judge(&host, "web-1", Some(&last), at(1, 30), at(1, 30)).0,
            Health::Ok
        );
        let (health, failure, since, m) = judge(&host, "web-1", Some(&last), at(12, 0), at(12, 0));
        assert_eq!((health, m.status), (Health::Failing, "late"));
        assert_eq!(since, Some(local(10, 4)));
        assert_eq!(
            failure.unwrap().message,
            "web-1 silent for 12 min (last ping 10:03, expected every 1 min + 30 s)"
        );
        let (health, _, _, m) = judge(&host, "web-1", None, at(600, 0), at(600, 0));
        assert_eq!((health, m.status), (Health::Ok, "waiting"));
    }

    #[test]
    fn a_scheduled_job_is_late_fails_with_its_output_and_runs_too_long() {
        let job = heartbeat(&[
            ("HEARTBEAT_SCHEDULE", "0 2 * * *"),
            ("HEARTBEAT_GRACE", "1h"),
        ])
        .unwrap();
        // Succeeded at 02:05 on the 1st: due 02:00 on the 2nd, late after 03:00.
        let done = record(Signal::Success, local(2, 5));
        let next_day = |h, m| local(h, m) + chrono::Duration::days(1);
        assert_eq!(
            judge(
                &job,
                "backup",
                Some(&done),
                next_day(2, 59),
                next_day(2, 59)
            )
            .0,
            Health::Ok
        );
        let (health, failure, since, _) =
            judge(&job, "backup", Some(&done), next_day(3, 1), next_day(3, 1));
        assert_eq!(health, Health::Failing);
        assert_eq!(since, Some(next_day(2, 0)));
        let failure = failure.unwrap();
        assert_eq!(failure.kind, "late");
        assert!(
            failure.message.contains("last ping 12-01 02:05"),
            "{}",
            failure.message
        );

        let failed = PingRecord::after(
            None,
            "backup",
            &pings::Ping {
                signal: Signal::Fail,
                exit_status: Some(3),
                at: local(2, 7),
                output: Some("dumping\nrsync: write failed: No space left on device\n".into()),
                resources: None,
                rid: None,
                ms: None,
            },
        );
        let (health, failure, since, m) =
            judge(&job, "backup", Some(&failed), local(2, 8), local(2, 8));
        let failure = failure.unwrap();
        assert_eq!(
            (health, failure.kind, since, m.exit_status),
            (Health::Failing, "job_failed", Some(local(2, 7)), Some(3))
        );
        assert_eq!(
            failure.message,
            "backup failed with exit status 3 at 02:07; last output: dumping | rsync: write failed: No space left on device"
        );

        let started = PingRecord::after(
            Some(&done),
            "backup",
            &pings::Ping {
                signal: Signal::Start,
                exit_status: None,
                at: next_day(2, 0),
                output: None,
                resources: None,
                rid: None,
                ms: None,
            },
        );
        assert_eq!(
            judge(
                &job,
                "backup",
                Some(&started),
                next_day(2, 59),
                next_day(2, 59)
            )
            .3
            .status,
            "running"
        );
        let (health, failure, since, _) = judge(
            &job,
            "backup",
            Some(&started),
            next_day(3, 12),
            next_day(3, 12),
        );
        let failure = failure.unwrap();
        assert_eq!(
            (health, failure.kind, since),
            (Health::Failing, "run_too_long", Some(next_day(3, 0)))
        );
        assert_eq!(
            failure.message,
            "backup has been running for 1 h 12 min (started 02:00), longer than its grace of 1 h"
        );
    }

    #[test]
    fn a_schedule_follows_daylight_saving_in_its_zone() {
        // 02:30 every day in Berlin: on 2026-03-29 the clocks skip from 02:00 to 03:00.
        let job = heartbeat(&[
            ("HEARTBEAT_SCHEDULE", "30 2 * * *"),
            ("ALERT_TIMEZONE", "Europe/Berlin"),
        ])
        .unwrap();
        let before = Utc.with_ymd_and_hms(2026, 3, 27, 1, 30, 0).unwrap(); // 02:30 CET
        let next = job.due_after(before).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 3, 28, 1, 30, 0).unwrap());
        let after_change = job
            .due_after(Utc.with_ymd_and_hms(2026, 3, 30, 0, 30, 0).unwrap())
            .unwrap();
        assert_eq!(
            after_change,
            Utc.with_ymd_and_hms(2026, 3, 31, 0, 30, 0).unwrap()
        ); // 02:30 CEST
    }

    #[test]
    fn two_monitors_may_not_share_a_token() {
        let env = Env::from_pairs([("HEARTBEAT_TOKEN", "0123456789abcdef0123")]);
        let store: SharedLedger = Arc::new(crate::alerting::state::memory::MemoryStore::default());
        let monitor = |name: &str| {
            let naming = Naming::Monitor {
                kind: TYPE.name,
                name: name.into(),
            };
            (env.clone(), naming)
        };
        let error = match build_monitors(vec![monitor("a"), monitor("b")], &store) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("two monitors with one token were accepted"),
        };
        assert!(
            error.contains("\"a\" and \"b\" have the same token"),
            "{error}"
        );
        assert!(!error.contains("0123456789abcdef0123"), "{error}");
        // One check, and the one about the ingest all of the type's monitors share.
        assert_eq!(build_monitors(vec![monitor("a")], &store).unwrap().len(), 2);
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(words(30), "30 s");
        assert_eq!(words(60), "1 min");
        assert_eq!(words(90), "1 min 30 s");
        assert_eq!(words(12 * 60 + 5), "12 min");
        assert_eq!(words(3600 + 300), "1 h 5 min");
        assert_eq!(words(2 * 86_400 + 3 * 3600 + 60), "2 d 3 h");
    }
}
