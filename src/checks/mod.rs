//! Checks: each function's measurement, kept apart from what is done about it.
//!
//! A check turns a tick into [`CheckResult`]s, one per incident key (a URL, a speed-test target,
//! a consumer group's topic). The alerting layer decides what the results mean for people.

pub mod confirm;
pub mod dns;
pub mod heartbeat;
pub mod host;
pub mod kafka_lag;
pub mod limits;
pub mod site;
pub mod speedtest;
pub mod supervisor;
pub mod tcp;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::{ConfigError, Env, SetupError};
use crate::tick::Tick;

/// One kind of check, as `type:` names it in `lookout.yaml`. Adding a check type is its module plus
/// one line in [`CHECK_TYPES`]: its keys, declared here once (with their defaults and hints), are
/// what the file reads, what the deployment lists ([`crate::setup::settings`]) and what the docs'
/// key tables show; its settings are a serde struct whose fields are those keys, read by
/// [`crate::config::read`], so a type writes only its values' own rules and those across keys.
pub struct CheckType {
    /// `type:` in `lookout.yaml` (`site`), and the first part of its monitors' incident keys.
    pub name: &'static str,
    /// The function that runs its monitors (`site-status`).
    pub function: &'static str,
    /// What it watches, in a word or two, in Chinese and English (no URL or domain: SMS carriers
    /// reject those).
    pub display: Words,
    /// The failure kinds its results carry, in words (`monitor` is everyone's: see
    /// [`MONITOR_ERROR`]).
    pub kinds: &'static [FailureKind],
    /// Each monitor key and the variable it stands for (`cert_min_days` -> `SITE_CERT_MIN_DAYS`):
    /// a monitor's settings are read as these variables, so both read alike.
    pub keys: &'static [crate::config::SettingKey],
    /// The function's own variables the type reads that no key stands for (`SITE_CONCURRENCY`,
    /// credentials and endpoints).
    pub variables: &'static [crate::config::SettingKey],
    /// The variable that names the `heartbeat` monitor of the host its targets are on
    /// (`SUPERVISOR_HOST`): `lookout.yaml` must describe that monitor.
    pub host: Option<&'static str>,
    /// Checks one monitor's settings without building anything.
    pub validate: fn(&Env) -> Result<(), ConfigError>,
    /// Builds the checks of these monitors (their settings as variables, their naming), sharing
    /// what they can: one HTTP client, one paced API client.
    pub build: BuildChecks,
}

/// Builds the checks of a type's monitors: each monitor's settings as variables, and its naming;
/// the function's state store, for a check that reads what was recorded there (heartbeat pings).
/// One check per monitor, in their order; any after those are the type's own checks about all its
/// monitors (heartbeat's ingest), told to every channel its monitors tell.
pub type BuildChecks =
    fn(Vec<(Env, Naming)>, &SharedLedger) -> Result<Vec<Box<dyn Check>>, SetupError>;

/// The ledger of what hosts and jobs sent, for the checks that judge it (heartbeat, supervisor).
pub type SharedLedger = std::sync::Arc<dyn crate::ledger::Ledger>;

/// Something said in both languages messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    /// 中文.
    pub zh: &'static str,
    /// English.
    pub en: &'static str,
}

/// A failure kind (`Failure::kind`) and how messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureKind {
    /// The machine-readable kind (`timeout`).
    pub kind: &'static str,
    /// How messages name it.
    pub words: Words,
}

/// A failure kind in both languages.
pub const fn kind(kind: &'static str, zh: &'static str, en: &'static str) -> FailureKind {
    FailureKind {
        kind,
        words: Words { zh, en },
    }
}

/// The kind every check uses when it could not check: never "the target is down".
pub const MONITOR_ERROR: FailureKind = kind("monitor", "无法检查", "cannot check");

/// The words for a failure kind, whichever check reports it.
pub fn failure_words(kind: &str) -> Option<Words> {
    if kind == MONITOR_ERROR.kind {
        return Some(MONITOR_ERROR.words);
    }
    if let Some(shared) = limits::KINDS.iter().find(|k| k.kind == kind) {
        return Some(shared.words);
    }
    CHECK_TYPES
        .iter()
        .flat_map(|t| t.kinds.iter())
        .find(|k| k.kind == kind)
        .map(|k| k.words)
}

/// Every check type lookout has.
pub const CHECK_TYPES: &[CheckType] = &[
    site::TYPE,
    speedtest::TYPE,
    kafka_lag::TYPE,
    heartbeat::TYPE,
    supervisor::TYPE,
    host::TYPE,
    tcp::TYPE,
    dns::TYPE,
];

/// The check type `type:` names, if any.
pub fn check_type(name: &str) -> Option<&'static CheckType> {
    CHECK_TYPES.iter().find(|t| t.name == name)
}

/// The check type a function is named for (the first of those it runs).
pub fn check_type_of(function: &str) -> Option<&'static CheckType> {
    CHECK_TYPES.iter().find(|t| t.function == function)
}

/// Every check type a function runs, the one it is named for first (`heartbeat` runs `heartbeat`
/// and `supervisor` monitors: both judge what hosts sent to the ingest).
pub fn check_types_of(function: &str) -> Vec<&'static CheckType> {
    CHECK_TYPES
        .iter()
        .filter(|t| t.function == function)
        .collect()
}

/// How a check names its incident keys and targets: after its function when its settings come
/// from variables (`site-status:https://example.com/`), after its monitor when they come from
/// `lookout.yaml` (`site:shop`), so renaming a URL does not orphan its incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    /// Settings from variables: keys are `<function>:<target>`.
    Function(&'static str),
    /// A monitor of `lookout.yaml`: keys are `<type>:<name>[/<part>]`.
    Monitor {
        /// Its `type`.
        kind: &'static str,
        /// Its `name`.
        name: String,
    },
}

impl Naming {
    /// The key of a check's whole target (a site's URL, a speed test's host).
    pub fn whole(&self, target: &str) -> String {
        match self {
            Naming::Function(function) => format!("{function}:{target}"),
            Naming::Monitor { kind, name } => format!("{kind}:{name}"),
        }
    }

    /// The key of one part of a check's targets (a consumer group, a group's topic).
    pub fn part(&self, path: &str) -> String {
        match self {
            Naming::Function(function) => format!("{function}:{path}"),
            Naming::Monitor { kind, name } => format!("{kind}:{name}/{path}"),
        }
    }

    /// The part a key made by [`Naming::part`] names.
    pub fn path_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        match self {
            Naming::Function(function) => key.strip_prefix(function)?.strip_prefix(':'),
            Naming::Monitor { kind, name } => key
                .strip_prefix(kind)?
                .strip_prefix(':')?
                .strip_prefix(name.as_str())?
                .strip_prefix('/'),
        }
    }

    /// True when the key is one this naming makes.
    pub fn owns(&self, key: &str) -> bool {
        match self {
            Naming::Function(function) => key
                .strip_prefix(function)
                .is_some_and(|rest| rest.starts_with(':')),
            Naming::Monitor { .. } => key == self.whole("") || self.path_of(key).is_some(),
        }
    }

    /// What a person reads as the target: the monitor's name first, when it has one.
    pub fn shown(&self, target: &str) -> String {
        match self {
            Naming::Function(_) => target.to_owned(),
            Naming::Monitor { name, .. } if name == target => target.to_owned(),
            Naming::Monitor { name, .. } => format!("{name} ({target})"),
        }
    }

    /// What a person reads as one part of the targets.
    pub fn shown_part(&self, path: &str) -> String {
        match self {
            Naming::Function(_) => path.to_owned(),
            Naming::Monitor { name, .. } => format!("{name}/{path}"),
        }
    }
}

/// One kind of check, run once per tick.
#[async_trait]
pub trait Check: Send + Sync {
    /// The function's name, as deployed (`site-status`).
    fn function(&self) -> &'static str;

    /// How it names its incident keys.
    fn naming(&self) -> &Naming;

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

    /// The incident key a failure of `key` depends on (the heartbeat of the host a program or a
    /// disk is on): while that one fails, this one's failures are [`Health::Suppressed`].
    fn depends_on(&self, _key: &str) -> Option<String> {
        None
    }

    /// What a local run prints besides the report (a table, say).
    fn local_summary(&self, _results: &[CheckResult]) -> Option<String> {
        None
    }

    /// True when a run holds a connection of its own (a tcp or dns monitor): the tick bounds how
    /// many such runs are in flight, as Lambda allows 1,024 descriptors. A check that bounds its
    /// own connections (site, with `SITE_CONCURRENCY`) says false.
    fn holds_a_connection(&self) -> bool {
        false
    }

    /// What probes elsewhere should measure to confirm this failing result (`confirm` of the
    /// monitor), when its failure is one a single vantage point's network can cause.
    fn elsewhere(&self, _result: &CheckResult) -> Option<confirm::Elsewhere> {
        None
    }
}

/// A health as local summaries write it.
pub fn health_word(health: Health) -> &'static str {
    match health {
        Health::Ok => "ok",
        Health::Failing => "FAILING",
        Health::MonitorError => "CANNOT CHECK",
        Health::Maintenance => "maintenance",
        Health::Suppressed => "suppressed",
        Health::Degraded => "DEGRADED",
    }
}

/// One line of a local run's summary for `result`: its health, what, the check's own figures, and
/// the failure's sentence below when there is one.
pub fn summary_line(result: &CheckResult, figures: &str) -> String {
    let health = health_word(result.health);
    let mut line = format!("{health:<12} {}", result.target);
    if !figures.is_empty() {
        line.push_str(&format!(": {figures}"));
    }
    if let Some(failure) = &result.failure {
        for said in failure.message.lines() {
            line.push_str(&format!("\n{:<12} {said}", ""));
        }
    }
    line
}

/// `text` padded with spaces to `width` terminal columns, counting a CJK character as two (city
/// and carrier names in tables).
pub fn pad(text: &str, width: usize) -> String {
    let wide = |c: char| {
        matches!(c, '\u{1100}'..='\u{115F}' | '\u{2E80}'..='\u{A4CF}' | '\u{AC00}'..='\u{D7A3}'
            | '\u{F900}'..='\u{FAFF}' | '\u{FE30}'..='\u{FE4F}' | '\u{FF00}'..='\u{FF60}'
            | '\u{FFE0}'..='\u{FFE6}')
    };
    let columns: usize = text.chars().map(|c| if wide(c) { 2 } else { 1 }).sum();
    format!("{text}{}", " ".repeat(width.saturating_sub(columns)))
}

/// A state-store read of a check (heartbeat pings, a host's events) by the checks' deadline: what
/// it read, or why not, in words.
pub async fn read_by<T, E: std::fmt::Display>(
    deadline: Instant,
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => {
            Err("the state store did not answer before the invocation's time ran out".to_owned())
        }
    }
}

/// What a check kept per incident key between ticks (kafka-lag's offset history, say).
pub type Memory = HashMap<String, Value>;

/// The outcome for one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Incident key, unique across functions: `<function>:<target>`, or `<type>:<monitor>[/<part>]`
    /// for a monitor of `lookout.yaml`.
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
    /// When the failure began by the check's own evidence (a heartbeat's missed ping): an incident
    /// opened by this result counts its age from then, not from the tick.
    #[serde(skip)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

impl CheckResult {
    /// The result's line in the tick's history.
    pub fn history_entry(&self) -> crate::history::Entry {
        use crate::history::State;
        let (ms, figure) = self.measurement.headline();
        crate::history::Entry {
            key: self.key.clone(),
            state: match self.health {
                Health::Ok => State::Up,
                Health::Failing => State::Down,
                Health::MonitorError => State::Error,
                Health::Maintenance | Health::Suppressed => State::Excused,
                Health::Degraded => State::Degraded,
            },
            kind: match (&self.failure, &self.measurement) {
                (Some(failure), _) => Some(failure.kind.to_owned()),
                // A heartbeat monitor that never had a ping is waiting, not up.
                (None, Measurement::Heartbeat(m)) if m.status == "waiting" => {
                    Some("waiting".to_owned())
                }
                (None, _) => None,
            },
            ms,
            figure,
        }
    }

    /// A result for a target that could not be checked: a monitor error saying `message`.
    pub fn monitor_error(
        key: String,
        target: String,
        message: String,
        measurement: Measurement,
    ) -> CheckResult {
        CheckResult {
            key,
            target,
            health: Health::MonitorError,
            failure: Some(Failure {
                kind: MONITOR_ERROR.kind,
                message,
            }),
            measurement,
            memory: None,
            since: None,
        }
    }

    /// True when the target is down, could not be checked, or is unreachable from lookout only
    /// (not inside a maintenance window).
    pub fn is_failing(&self) -> bool {
        matches!(
            self.health,
            Health::Failing | Health::MonitorError | Health::Degraded
        )
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
    /// Failing inside a maintenance window: expected, not judged, nobody is told.
    Maintenance,
    /// Failing while what it depends on fails (a program on a host whose heartbeat is silent): the
    /// host's own alert explains it, so it is not judged and nobody is told; its recovery still is.
    Suppressed,
    /// Failing from lookout only: probes elsewhere reach the target (see [`confirm`]). An incident
    /// of its own kind: told to the channels that take it (`degraded`), never escalated.
    Degraded,
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
    /// heartbeat.
    Heartbeat(heartbeat::HeartbeatMeasurement),
    /// A host's resource, reported by lookout-agent with its heartbeat.
    Resource(limits::ResourceMeasurement),
    /// supervisor.
    Program(supervisor::ProgramMeasurement),
    /// host (what was read over SSH).
    Host(host::HostMeasurement),
    /// What the ingest refused while heartbeats were due.
    Ingest(heartbeat::ingest::IngestMeasurement),
    /// A check type's own figures, as it words them (`tcp`, `dns`): a new check type needs no
    /// variant of its own.
    Figures(Figures),
}

/// What a check measured, in its own terms: the figures a report shows and the metric points they
/// draw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The figures, shown in the report as they are (a JSON object).
    #[serde(flatten)]
    pub values: serde_json::Map<String, Value>,
    /// The response time, in milliseconds, its history keeps (`connect_ms` for `tcp`).
    #[serde(skip)]
    pub ms: Option<u64>,
    /// The metric points they draw.
    #[serde(skip)]
    pub points: Vec<crate::metrics::Point>,
}

/// What one probe of a target came to (a port for `tcp`, a name for `dns`): the figures it
/// gathered, and why it failed, if it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The figures, as the report shows them.
    pub figures: serde_json::Map<String, Value>,
    /// Why it failed (`MONITOR_ERROR`'s kind: it could not check).
    pub failure: Option<Failure>,
}

impl Probe {
    /// A probe that failed with `kind`, the figures gathered so far kept.
    pub fn failed(
        figures: serde_json::Map<String, Value>,
        kind: &'static str,
        message: String,
    ) -> Self {
        Probe {
            figures,
            failure: Some(Failure { kind, message }),
        }
    }

    /// The result for `target`: ok without a failure, a monitor error when it could not check,
    /// failing otherwise. Unless it could not check it draws one point for `function`, by
    /// `dimension` (`Address`), with `Up` and, when it was measured, the figure `timing.0` as the
    /// metric `timing.1` in milliseconds.
    pub fn result(
        self,
        function: &'static str,
        naming: &Naming,
        target: &str,
        dimension: &'static str,
        timing: (&str, &'static str),
    ) -> CheckResult {
        let health = match &self.failure {
            None => Health::Ok,
            Some(f) if f.kind == MONITOR_ERROR.kind => Health::MonitorError,
            Some(_) => Health::Failing,
        };
        let points = if health == Health::MonitorError {
            Vec::new()
        } else {
            let mut fields = serde_json::json!({
                "Function": function,
                dimension: target,
                "Up": u8::from(health == Health::Ok),
            });
            let mut metrics = vec![("Up", "Count")];
            if let Some(ms) = self.figures.get(timing.0) {
                fields[timing.1] = ms.clone();
                metrics.push((timing.1, "Milliseconds"));
            }
            vec![crate::metrics::Point {
                dimensions: vec![vec!["Function", dimension]],
                fields,
                metrics,
            }]
        };
        CheckResult {
            key: naming.whole(target),
            target: naming.shown(target),
            health,
            failure: self.failure,
            measurement: Measurement::Figures(Figures {
                ms: self.figures.get(timing.0).and_then(Value::as_u64),
                values: self.figures,
                points,
            }),
            memory: None,
            since: None,
        }
    }
}

impl Measurement {
    /// What the history keeps of it: the response or run time in milliseconds, and the check's
    /// one headline figure (a lag, bad nodes, a percentage, exits).
    pub fn headline(&self) -> (Option<u64>, Option<f64>) {
        match self {
            Measurement::Site(m) => (Some(m.elapsed_ms), None),
            Measurement::SpeedTest(m) => (None, Some(m.nodes_bad as f64)),
            Measurement::KafkaLag(kafka_lag::KafkaLagMeasurement::Group(m)) => {
                (None, Some(m.total_lag as f64))
            }
            Measurement::KafkaLag(kafka_lag::KafkaLagMeasurement::Topic(m)) => {
                (None, Some(m.lag as f64))
            }
            Measurement::Heartbeat(m) => (m.response_ms, m.silent_seconds.map(|s| s as f64)),
            Measurement::Resource(m) => (None, m.value),
            Measurement::Program(m) => (None, Some(f64::from(m.exits))),
            Measurement::Host(m) => (m.took_ms, m.figures.as_ref().map(|f| f.cpu)),
            Measurement::Ingest(m) => (None, Some(m.refused as f64)),
            Measurement::Figures(m) => (m.ms, None),
        }
    }

    /// The metric points `result` draws, in its check's own terms.
    pub fn points(&self, result: &CheckResult, function: &str) -> Vec<crate::metrics::Point> {
        match self {
            Measurement::Site(m) => site::points(result, m, function),
            Measurement::SpeedTest(m) => speedtest::points(result, m, function),
            Measurement::KafkaLag(m) => kafka_lag::points(m, function),
            Measurement::Heartbeat(m) => heartbeat::points(m, function),
            Measurement::Resource(m) => limits::points(m, function),
            Measurement::Program(m) => supervisor::points(m, function),
            // Its figures are points of their own (`Resource`).
            Measurement::Host(_) => Vec::new(),
            // CloudWatch counts the ingest's throttles and errors itself.
            Measurement::Ingest(_) => Vec::new(),
            Measurement::Figures(figures) => figures.points.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_naming() {
        let by_function = Naming::Function("kafka-lag");
        assert_eq!(
            by_function.part("billing/orders"),
            "kafka-lag:billing/orders"
        );
        assert_eq!(
            by_function.path_of("kafka-lag:billing/orders"),
            Some("billing/orders")
        );
        assert!(by_function.owns("kafka-lag:billing") && !by_function.owns("kafka-lagx:billing"));
        let monitor = Naming::Monitor {
            kind: "kafka-lag",
            name: "orders".into(),
        };
        assert_eq!(
            monitor.part("billing/audit"),
            "kafka-lag:orders/billing/audit"
        );
        assert_eq!(monitor.path_of("kafka-lag:orders/billing"), Some("billing"));
        assert_eq!(monitor.path_of("kafka-lag:orders2/billing"), None);
        assert!(monitor.owns("kafka-lag:orders/billing"));
        assert!(!monitor.owns("kafka-lag:orders2/billing") && !monitor.owns("kafka-lag:order"));
        let site = Naming::Monitor {
            kind: "site",
            name: "shop".into(),
        };
        assert_eq!(site.whole("https://shop.example.com/"), "site:shop");
        assert!(site.owns("site:shop") && !site.owns("site:shopping"));
        assert_eq!(site.shown("https://x/"), "shop (https://x/)");
    }

    /// Every `kind: "..."` a check's source writes into a failure has its words: a kind without them
    /// would reach people as a bare identifier.
    #[test]
    fn every_failure_kind_a_check_reports_has_words() {
        let sources = [
            ("site", include_str!("site.rs")),
            ("speed-test", include_str!("speedtest/mod.rs")),
            ("speed-test", include_str!("speedtest/chinaz.rs")),
            ("speed-test", include_str!("speedtest/globalping.rs")),
            ("kafka-lag", include_str!("kafka_lag.rs")),
            ("heartbeat", include_str!("heartbeat.rs")),
            ("host", include_str!("host.rs")),
            ("supervisor", include_str!("supervisor.rs")),
        ];
        for (name, source) in sources {
            let kinds = check_type(name).expect("a type").kinds;
            for piece in source.split("kind: \"").skip(1) {
                let used = piece.split('"').next().unwrap_or_default();
                let known = used == MONITOR_ERROR.kind || kinds.iter().any(|k| k.kind == used);
                assert!(known, "{name} reports kind {used:?} without words");
            }
        }
        // Two types may report one kind (`timeout`), in the same words: a kind means one thing.
        let all: Vec<&FailureKind> = CHECK_TYPES
            .iter()
            .flat_map(|t| t.kinds.iter())
            .chain(limits::KINDS.iter())
            .collect();
        for a in &all {
            for b in all.iter().filter(|b| b.kind == a.kind) {
                assert_eq!(a.words, b.words, "{} means one thing", a.kind);
            }
        }
    }

    #[test]
    fn every_type_has_its_own_name_and_a_function_that_runs_it() {
        for (i, a) in CHECK_TYPES.iter().enumerate() {
            for b in &CHECK_TYPES[i + 1..] {
                assert!(a.name != b.name);
            }
            assert_eq!(check_type(a.name).map(|t| t.function), Some(a.function));
            assert!(check_types_of(a.function).iter().any(|t| t.name == a.name));
        }
        let heartbeat: Vec<&str> = check_types_of("heartbeat").iter().map(|t| t.name).collect();
        assert_eq!(heartbeat, ["heartbeat", "supervisor"]);
        assert_eq!(
            check_type_of("heartbeat").map(|t| t.name),
            Some("heartbeat")
        );
    }
}
