//! What the results mean for people: the alert lifecycle with its state, the policy, and how
//! alerts read in every channel.

pub mod lifecycle;
pub mod policy;
pub mod render;
pub mod state;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
}

impl AlertState {
    /// True for the states that end an incident (the last failure's words are not repeated).
    pub fn is_ending(self) -> bool {
        matches!(self, AlertState::Recovered | AlertState::Retired)
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
