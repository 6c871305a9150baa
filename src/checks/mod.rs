//! Checks: each function's measurement, kept apart from what is done about it.
//!
//! A check turns a tick into [`CheckResult`]s, one per incident key (a URL, a speed-test target,
//! a consumer group's topic). The alerting layer decides what the results mean for people.

pub mod kafka_lag;
pub mod site;
pub mod speedtest;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::tick::Tick;

/// One kind of check, run once per tick.
#[async_trait]
pub trait Check: Send + Sync {
    /// The function's name, as deployed (`site-status`).
    fn function(&self) -> &'static str;

    /// Measures every target, answering by `deadline` with what was measured by then. Never fails
    /// as a whole: a target that cannot be measured is a result with [`Health::MonitorError`] or
    /// [`Health::Failing`]; one the deadline left unfinished is a monitor error, never "down".
    /// `memory` holds what this check kept per incident key on earlier ticks
    /// ([`CheckResult::memory`]).
    async fn run(&self, tick: &Tick, memory: &Memory, deadline: Instant) -> Vec<CheckResult>;

    /// True when an incident key kept from earlier ticks is no longer watched (its target left the
    /// configuration), given this tick's results. By default: it has no result this tick.
    fn retired(&self, key: &str, results: &[CheckResult]) -> bool {
        !results.iter().any(|r| r.key == key)
    }

    /// What a local run prints besides the report (a table, say).
    fn local_summary(&self, _results: &[CheckResult]) -> Option<String> {
        None
    }
}

/// What a check kept per incident key between ticks (kafka-lag's offset history, say).
pub type Memory = HashMap<String, Value>;

/// The outcome for one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Incident key, unique across functions: `<function>:<target>`.
    pub key: String,
    /// What was checked, as the user named it (secrets removed).
    pub target: String,
    /// Whether the target is healthy.
    pub health: Health,
    /// Why it is not, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// What was measured.
    pub measurement: Measurement,
    /// What the check wants back on the next tick, kept with the incident's state.
    #[serde(skip)]
    pub memory: Option<Value>,
}

impl CheckResult {
    /// True unless the target is healthy.
    pub fn is_failing(&self) -> bool {
        self.health != Health::Ok
    }
}

/// Whether a target is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Everything the check asks for holds.
    Ok,
    /// The target is down, slow or wrong.
    Failing,
    /// The monitor could not check (a changed upstream page, refused credentials): not the target's
    /// fault, and never reported as the target being down.
    MonitorError,
}

/// Why a target is failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// A short machine-readable kind (`timeout`, `status`, ...).
    pub kind: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

/// What a check measured, per function.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Measurement {
    /// site-status.
    Site(site::SiteMeasurement),
    /// speed-test.
    SpeedTest(speedtest::SpeedTestMeasurement),
    /// kafka-lag.
    KafkaLag(kafka_lag::KafkaLagMeasurement),
}
