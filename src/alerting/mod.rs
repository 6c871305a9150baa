//! What the results mean for people: the alert lifecycle with its state, the policy, and how
//! alerts read in every channel.

pub mod answers;
pub mod lifecycle;
pub mod outage;
pub mod policy;
pub mod render;
pub mod state;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::Check;
use crate::tick::{Tick, TickSource};
use policy::Policy;

/// How a monitor is shown beyond its alerts: its own CloudWatch metrics, and the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Shown {
    /// `metrics`: its results draw CloudWatch metrics of their own (each a custom metric, billed
    /// monthly); without it only the function's totals are drawn.
    #[serde(default)]
    pub metrics: bool,
    /// `public`: it is on the status page.
    #[serde(default)]
    pub public: bool,
    /// `group`: the status page's group it is shown in.
    #[serde(default, deserialize_with = "group")]
    pub group: Option<String>,
}

fn group<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let group = crate::config::read::line(d)?;
    if group.chars().count() > 60 {
        return Err(crate::config::read::Problem::new("longer than 60 characters").error());
    }
    Ok(Some(group))
}

/// The keys of [`Shown`], in `defaults` and on each monitor.
pub const SHOWN_KEYS: &[crate::config::SettingKey] = &[
    crate::config::one("metrics", "LOOKOUT_METRICS")
        .default("false")
        .doc("`true`: the monitor's results draw CloudWatch metrics of their own (custom metrics are billed per metric and month: see docs/deploy.md); otherwise only the function's totals are drawn")
        .hint("set it to true or false"),
    crate::config::one("public", "LOOKOUT_PUBLIC")
        .default("false")
        .doc("`true`: the monitor is on the status page; nothing else is")
        .hint("set it to true or false"),
    crate::config::one("group", "LOOKOUT_GROUP")
        .doc("the status page's group the monitor is shown in")
        .hint("give the group a name of at most 60 characters, on one line"),
];

impl crate::config::read::Settings for Shown {
    const KEYS: &'static [&'static [crate::config::SettingKey]] = &[SHOWN_KEYS];
}

/// Something one channel is told about one incident key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The incident key (`site-status:https://example.com/`).
    pub key: String,
    /// The function that raised it.
    pub function: &'static str,
    /// What is affected, as the user named it.
    pub target: String,
    /// What is being said about it.
    pub state: AlertState,
    /// The last failure's kind (`timeout`, `status`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The last failure's sentence.
    pub message: String,
    /// When the failure began.
    pub since: DateTime<Utc>,
    /// When it recovered (recoveries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Which notice of the incident this is (1 for the first), for open incidents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// Why it goes out now rather than when it was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<AlertNote>,
    /// The channels it was sent to (in reports).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Who acknowledged it, via which channel and when (acknowledgements only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<answers::Answer>,
    /// The links that answer it (acknowledge, silence), for the channel it is sent to; only on a
    /// failing incident's notices, and only when the stack's action key and status address are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<answers::Links>,
}

/// What an alert says about its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The target is down, slow or wrong.
    Failing,
    /// The monitor could not check; the target may be fine.
    MonitorError,
    /// The incident is over.
    Recovered,
    /// Its target left the configuration: lookout no longer watches it.
    Retired,
    /// Someone said they are on it: no more escalation until it recovers.
    Acknowledged,
    /// Failing from lookout only: probes elsewhere reach the target. Told once, never escalated.
    Degraded,
}

impl AlertState {
    /// True for the states that tell of a failure (its sentence is shown); an ending or an
    /// acknowledgement does not repeat it.
    pub fn tells_failure(self) -> bool {
        matches!(
            self,
            AlertState::Failing | AlertState::MonitorError | AlertState::Degraded
        )
    }
}

/// Why an alert goes out late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertNote {
    /// Held during quiet hours, sent when they ended.
    QuietHours,
    /// A retry of a delivery that failed on an earlier tick.
    DeliveryFailed,
    /// It opened and closed while the channel was held by quiet hours.
    OpenedAndClosedUnheard,
    /// An invocation claimed it and ended before saying whether it arrived: it may be a repeat.
    Unconfirmed,
}

/// Everything one tick decided for one channel, sent as one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    /// The function that raised the alerts.
    pub function: &'static str,
    /// The tick's time.
    pub time: DateTime<Utc>,
    /// The alerts, in the order of the results.
    pub alerts: Vec<Alert>,
}

/// One monitor of a function: its check, the channels that hear of it, its policy and how often it
/// is checked.
pub struct Watch {
    /// What it checks.
    pub check: Box<dyn Check>,
    /// The channels its alerts go to, by name.
    pub channels: Vec<String>,
    /// Its thresholds, escalation and quiet hours.
    pub policy: Policy,
    /// How often it is checked (`every`); every tick when `None`.
    pub every: Option<Duration>,
    /// Its metrics and its place on the status page.
    pub shown: Shown,
}

impl Watch {
    /// True when the tick is one this monitor is checked on: every tick started by hand (a manual
    /// invoke, a local run), else the ticks whose time (to the nearest minute) is a whole number of
    /// `every` since the epoch. A function's schedule runs at least a minute apart, so `every`
    /// under a minute is every tick.
    pub fn is_due(&self, tick: &Tick, by_hand: bool) -> bool {
        let Some(every) = self.every else { return true };
        let minutes = every.as_secs() / 60;
        if minutes <= 1 || by_hand || tick.source == TickSource::Manual {
            return true;
        }
        let minute = (tick.time.timestamp() + 30).div_euclid(60);
        minute.rem_euclid(minutes as i64) == 0
    }
}
