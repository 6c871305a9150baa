//! speed-test: how fast is the site from many regions and carriers?
//!
//! A [`SpeedTestProvider`] measures the target from its nodes; the check judges each node and raises
//! one incident per target when at least `SPEEDTEST_MIN_BAD_NODES` nodes are bad. A provider that
//! cannot measure (its page changed, its API refused) is a monitor error, never a slow site.

pub mod chinaz;
pub mod globalping;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;
use tokio::time::Instant;

use super::{
    Check, CheckResult, CheckType, Failure, Health, Measurement, Memory, Naming, Words, kind,
};
use crate::config::read::{self, Parse, Problem};
use crate::config::{Env, SettingKey, SetupError, list, one, variable};
use crate::tick::Tick;

/// The function's name, as deployed.
pub const FUNCTION: &str = "speed-test";

const MILLIS_HINT: &str = "set it to a whole number of milliseconds, e.g. 3000";

/// `type: speed-test` in `lookout.yaml`.
pub const TYPE: CheckType = CheckType {
    name: "speed-test",
    function: FUNCTION,
    display: Words {
        zh: "测速",
        en: "speed test",
    },
    kinds: &[kind("speed", "节点测速异常", "slow nodes")],
    keys: &[
        one("target", "SPEEDTEST_TARGET")
            .parameter()
            .doc("the URL or host to measure")
            .hint("set it to the host or URL to measure, e.g. www.example.com"),
        one("provider", "SPEEDTEST_PROVIDER")
            .parameter()
            .default("chinaz")
            .doc("`chinaz` (default) or `globalping`")
            .hint("set it to chinaz or globalping"),
        list("nodes", "SPEEDTEST_NODES")
            .parameter()
            .doc("the nodes to measure from"),
        one("concurrency", "SPEEDTEST_CONCURRENCY")
            .parameter()
            .default("8")
            .doc("nodes measured at once")
            .hint("set it to how many node requests may be in flight at once, 1 to 64"),
        one("node_timeout_ms", "SPEEDTEST_NODE_TIMEOUT_MS")
            .parameter()
            .default("10000")
            .doc("how long one node may take"),
        one("max_total_ms", "SPEEDTEST_MAX_TOTAL_MS")
            .parameter()
            .doc("a node slower than this in all is bad")
            .hint(MILLIS_HINT),
        one("max_connect_ms", "SPEEDTEST_MAX_CONNECT_MS")
            .parameter()
            .doc("a node slower than this to connect is bad")
            .hint(MILLIS_HINT),
        one("max_download_ms", "SPEEDTEST_MAX_DOWNLOAD_MS")
            .parameter()
            .doc("a node slower than this to download is bad")
            .hint(MILLIS_HINT),
        one("min_bad_nodes", "SPEEDTEST_MIN_BAD_NODES")
            .parameter()
            .default("2")
            .doc("how many bad nodes fail the target")
            .hint("set it to a whole number of nodes, 1 or more"),
        list("locations", "GLOBALPING_LOCATIONS")
            .parameter()
            .doc("Globalping's locations to measure from"),
        one("limit", "GLOBALPING_LIMIT")
            .parameter()
            .default("10")
            .doc("Globalping probes per measurement")
            .hint("set it to how many probes to use, 1 to 500"),
    ],
    variables: &[
        variable("SPEEDTEST_BASE_URL")
            .default("https://tool.chinaz.com")
            .doc("the chinaz-style API")
            .hint("leave it unset for https://tool.chinaz.com, or set the service's full URL"),
        globalping::BASE_URL,
        globalping::TOKEN,
    ],
    host: None,
    validate: |env| match SpeedTestCheck::read(env) {
        Ok(_) => Ok(()),
        Err(SetupError::Config(error)) => Err(error),
        // Building a client is not the monitor's fault: the function reports it when it starts.
        Err(_) => Ok(()),
    },
    build: |monitors, _store| {
        monitors
            .into_iter()
            .map(|(env, naming)| {
                let check = SpeedTestCheck::read(&env)?.with_naming(naming);
                Ok(Box::new(check) as Box<dyn Check>)
            })
            .collect()
    },
};

/// One node's measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SpeedTestNode {
    /// The node's name (`江苏宿迁[电信]`, `Frankfurt, DE`).
    pub name: String,
    /// The carrier (`电信`) or network (`Deutsche Telekom`).
    pub carrier: String,
    /// Where it is (a region or a country).
    pub region: String,
    /// The HTTP status the node saw.
    pub status: Option<u16>,
    /// Total time, ms.
    pub total_ms: Option<u64>,
    /// DNS time, ms.
    pub dns_ms: Option<u64>,
    /// Connect time, ms.
    pub connect_ms: Option<u64>,
    /// Download time, ms.
    pub download_ms: Option<u64>,
    /// Why the node has no measurement, when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the node is bad, when it is (filled in by the check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad: Option<String>,
    /// The invocation's deadline came before the node's answer: it says nothing about the site.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unmeasured: bool,
}

/// Why a provider could not measure: a monitor error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

/// A multi-node speed-test service.
#[async_trait]
pub trait SpeedTestProvider: Send + Sync {
    /// The provider's name in reports (`chinaz`, `globalping`).
    fn name(&self) -> &'static str;

    /// Measures `target` (`SPEEDTEST_TARGET`: a host or a URL) from the provider's nodes, finishing
    /// by `deadline`.
    async fn measure(
        &self,
        target: &str,
        deadline: Instant,
    ) -> Result<Vec<SpeedTestNode>, ProviderError>;
}

/// speed-test settings shared by every provider, from `SPEEDTEST_*` variables (each provider
/// reads its own from the same keys).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct SpeedTestSettings {
    /// `SPEEDTEST_TARGET`: the host (or URL) to measure.
    #[serde(deserialize_with = "target")]
    pub target: String,
    /// `SPEEDTEST_PROVIDER`.
    #[serde(deserialize_with = "read::parsed")]
    pub provider: Provider,
    /// `SPEEDTEST_MAX_TOTAL_MS`.
    pub max_total_ms: Option<u64>,
    /// `SPEEDTEST_MAX_CONNECT_MS`.
    pub max_connect_ms: Option<u64>,
    /// `SPEEDTEST_MAX_DOWNLOAD_MS`.
    pub max_download_ms: Option<u64>,
    /// `SPEEDTEST_MIN_BAD_NODES`: alert only when at least this many nodes are bad.
    #[serde(deserialize_with = "read::at_least_one")]
    pub min_bad_nodes: usize,
}

impl read::Settings for SpeedTestSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys, TYPE.variables];
}

/// The target: one host or URL.
struct Target(String);

impl Parse for Target {
    fn parse(raw: &str) -> Result<Self, Problem> {
        if raw.contains(char::is_whitespace) || raw.contains(',') {
            Err(Problem::new("one host or URL, without spaces or commas"))
        } else {
            Ok(Target(raw.to_owned()))
        }
    }
}

fn target<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    read::parsed::<D, Target>(d).map(|t| t.0)
}

/// The provider that measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// chinaz-style nodes.
    Chinaz,
    /// Globalping's probes.
    Globalping,
}

impl Parse for Provider {
    fn parse(raw: &str) -> Result<Self, Problem> {
        match raw {
            "chinaz" => Ok(Provider::Chinaz),
            "globalping" => Ok(Provider::Globalping),
            _ => Err(Problem::new("not a provider lookout knows")),
        }
    }
}

impl SpeedTestSettings {
    /// Why a node is bad, if it is: it failed, answered outside 200-399, or is over a threshold.
    /// A node the deadline left unmeasured is not bad: nothing is known of it.
    pub fn judge(&self, node: &SpeedTestNode) -> Option<String> {
        if node.unmeasured {
            return None;
        }
        if let Some(error) = &node.error {
            return Some(error.clone());
        }
        match node.status {
            Some(status) if !(200..=399).contains(&status) => {
                return Some(format!("HTTP {status}"));
            }
            None => return Some("no HTTP status".into()),
            _ => {}
        }
        let over = |value: Option<u64>, limit: Option<u64>, what: &str| match (value, limit) {
            (Some(v), Some(l)) if v > l => Some(format!("{what} {v} ms > {l} ms")),
            _ => None,
        };
        over(node.total_ms, self.max_total_ms, "total")
            .or_else(|| over(node.connect_ms, self.max_connect_ms, "connect"))
            .or_else(|| over(node.download_ms, self.max_download_ms, "download"))
    }
}

/// The host part of a target (`https://www.example.com/x` -> `www.example.com`).
pub fn host_of(target: &str) -> String {
    url::Url::parse(target)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| target.trim_end_matches('/').to_owned())
}

/// What one speed test measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpeedTestMeasurement {
    /// The provider that measured.
    pub provider: &'static str,
    /// Nodes measured.
    pub nodes_measured: usize,
    /// Nodes judged bad.
    pub nodes_bad: usize,
    /// Every node.
    pub nodes: Vec<SpeedTestNode>,
}

/// The speed-test check: one provider, one target.
pub struct SpeedTestCheck {
    settings: SpeedTestSettings,
    provider: Box<dyn SpeedTestProvider>,
    naming: Naming,
}

impl SpeedTestCheck {
    /// A check with this provider.
    pub fn new(settings: SpeedTestSettings, provider: Box<dyn SpeedTestProvider>) -> Self {
        SpeedTestCheck {
            settings,
            provider,
            naming: Naming::Function(FUNCTION),
        }
    }

    /// The same check, naming its incident after a monitor of `lookout.yaml`.
    pub fn with_naming(self, naming: Naming) -> Self {
        SpeedTestCheck { naming, ..self }
    }

    /// The check `SPEEDTEST_PROVIDER` asks for, with its settings and the provider's.
    pub fn read(env: &Env) -> Result<Self, SetupError> {
        let settings = read::settings::<SpeedTestSettings>(env)?;
        let provider: Box<dyn SpeedTestProvider> = match settings.provider {
            Provider::Chinaz => Box::new(chinaz::Chinaz::new(read::settings(env)?)?),
            Provider::Globalping => Box::new(globalping::Globalping::new(read::settings(env)?)?),
        };
        Ok(SpeedTestCheck::new(settings, provider))
    }

    /// Judges the nodes and words the result.
    pub fn evaluate(
        &self,
        mut nodes: Vec<SpeedTestNode>,
    ) -> (Health, Option<Failure>, SpeedTestMeasurement) {
        for node in &mut nodes {
            node.bad = self.settings.judge(node);
        }
        let bad: Vec<&SpeedTestNode> = nodes.iter().filter(|n| n.bad.is_some()).collect();
        let unmeasured = nodes.iter().filter(|n| n.unmeasured).count();
        let (health, failure) = if bad.len() >= self.settings.min_bad_nodes {
            let failure = Failure {
                kind: "speed",
                message: describe(&bad, nodes.len()),
            };
            (Health::Failing, Some(failure))
        } else if unmeasured > 0 {
            // Too few known-bad nodes to alert, but not a complete measurement either.
            let failure = Failure {
                kind: "monitor",
                message: format!(
                    "measured only {} of {} nodes before the invocation's time ran out ({} bad): lower SPEEDTEST_NODE_TIMEOUT_MS, raise SPEEDTEST_CONCURRENCY, filter SPEEDTEST_NODES, or raise the function's timeout",
                    nodes.len() - unmeasured,
                    nodes.len(),
                    bad.len()
                ),
            };
            (Health::MonitorError, Some(failure))
        } else {
            (Health::Ok, None)
        };
        let measurement = SpeedTestMeasurement {
            provider: self.provider.name(),
            nodes_measured: nodes.len() - unmeasured,
            nodes_bad: bad.len(),
            nodes,
        };
        (health, failure, measurement)
    }
}

/// "5/32 nodes slow: 电信 3, 移动 2; worst 浙江湖州[电信] total 3190 ms", then the bad nodes by carrier.
fn describe(bad: &[&SpeedTestNode], total: usize) -> String {
    let mut by_carrier: BTreeMap<&str, Vec<&SpeedTestNode>> = BTreeMap::new();
    for node in bad {
        by_carrier
            .entry(node.carrier.as_str())
            .or_default()
            .push(node);
    }
    let mut carriers: Vec<(&str, Vec<&SpeedTestNode>)> = by_carrier.into_iter().collect();
    carriers.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let counts: Vec<String> = carriers
        .iter()
        .map(|(c, n)| format!("{c} {}", n.len()))
        .collect();
    let all_slow = bad
        .iter()
        .all(|n| n.error.is_none() && n.status.is_some_and(|s| (200..=399).contains(&s)));
    let worst = bad
        .iter()
        .max_by_key(|n| (n.error.is_some(), n.total_ms.unwrap_or(u64::MAX)))
        .map(|n| match (&n.error, n.total_ms) {
            (None, Some(total)) => format!("{} total {total} ms", n.name),
            _ => format!("{} {}", n.name, n.bad.as_deref().unwrap_or("failed")),
        })
        .unwrap_or_default();
    let mut text = format!(
        "{}/{total} nodes {}: {}; worst {worst}",
        bad.len(),
        if all_slow { "slow" } else { "bad" },
        counts.join(", ")
    );
    for (carrier, nodes) in carriers {
        text.push_str(&format!("\n{carrier}:"));
        for node in nodes {
            text.push_str(&format!("\n  {} {}", node.name, timings(node)));
        }
    }
    text
}

fn ms(value: Option<u64>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

fn timings(node: &SpeedTestNode) -> String {
    match &node.error {
        Some(error) => error.clone(),
        None => format!(
            "total {} / connect {} / download {} ms{}",
            ms(node.total_ms),
            ms(node.connect_ms),
            ms(node.download_ms),
            node.bad
                .as_ref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default()
        ),
    }
}

/// The table the original scripts printed: one row per node.
pub fn table(measurement: &SpeedTestMeasurement) -> String {
    let mut out = format!(
        "{:<24} {:<10} {:<16} {:>6} {:>8} {:>6} {:>8} {:>9}  {}\n",
        "node", "carrier", "region", "status", "total", "dns", "connect", "download", "bad"
    );
    for node in &measurement.nodes {
        out.push_str(&format!(
            "{} {} {} {:>6} {:>8} {:>6} {:>8} {:>9}  {}\n",
            super::pad(&node.name, 24),
            super::pad(&node.carrier, 10),
            super::pad(&node.region, 16),
            node.status.map_or_else(|| "-".into(), |s| s.to_string()),
            ms(node.total_ms),
            ms(node.dns_ms),
            ms(node.connect_ms),
            ms(node.download_ms),
            node.bad.as_deref().unwrap_or("")
        ));
    }
    out
}

#[async_trait]
impl Check for SpeedTestCheck {
    fn function(&self) -> &'static str {
        FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    async fn run(&self, _tick: &Tick, _memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        let target = self.settings.target.clone();
        let key = self.naming.whole(&target);
        let (health, failure, measurement) = match self.provider.measure(&target, deadline).await {
            Ok(nodes) => self.evaluate(nodes),
            Err(error) => (
                Health::MonitorError,
                Some(Failure {
                    kind: "monitor",
                    message: error.0,
                }),
                SpeedTestMeasurement {
                    provider: self.provider.name(),
                    nodes_measured: 0,
                    nodes_bad: 0,
                    nodes: Vec::new(),
                },
            ),
        };
        tracing::info!(
            target_host = %target,
            provider = measurement.provider,
            nodes = measurement.nodes_measured,
            bad = measurement.nodes_bad,
            "speed test finished"
        );
        vec![CheckResult {
            since: None,
            key,
            target: self.naming.shown(&target),
            health,
            failure,
            measurement: Measurement::SpeedTest(measurement),
            memory: None,
        }]
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        results.iter().find_map(|r| match &r.measurement {
            Measurement::SpeedTest(m) => Some(format!(
                "{}{}",
                table(m),
                super::summary_line(
                    r,
                    &format!("{} of {} nodes measured", m.nodes_measured, m.nodes.len())
                )
            )),
            _ => None,
        })
    }
}

/// Total, connect and download per carrier; the node is a property, graphed with Logs Insights:
/// every metric costs money each month, and nodes are many.
pub fn points(
    result: &CheckResult,
    speed: &SpeedTestMeasurement,
    function: &str,
) -> Vec<crate::metrics::Point> {
    speed
        .nodes
        .iter()
        .map(|node| {
            let mut fields = serde_json::json!({
                "Function": function,
                "Target": result.target,
                "Carrier": node.carrier,
                "Node": node.name,
                "Bad": node.bad,
            });
            let mut metrics = Vec::new();
            for (name, value) in [
                ("TotalMs", node.total_ms),
                ("ConnectMs", node.connect_ms),
                ("DownloadMs", node.download_ms),
            ] {
                if let Some(value) = value {
                    fields[name] = serde_json::json!(value);
                    metrics.push((name, "Milliseconds"));
                }
            }
            crate::metrics::Point {
                dimensions: vec![vec!["Function", "Target", "Carrier"]],
                fields,
                metrics,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, carrier: &str, total: u64) -> SpeedTestNode {
        SpeedTestNode {
            name: name.into(),
            carrier: carrier.into(),
            region: "".into(),
            status: Some(200),
            total_ms: Some(total),
            dns_ms: Some(10),
            connect_ms: Some(total / 3),
            download_ms: Some(total / 3),
            error: None,
            bad: None,
            unmeasured: false,
        }
    }

    struct Fixed;

    #[async_trait]
    impl SpeedTestProvider for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        async fn measure(&self, _: &str, _: Instant) -> Result<Vec<SpeedTestNode>, ProviderError> {
            Ok(vec![])
        }
    }

    fn check(pairs: &[(&str, &str)]) -> SpeedTestCheck {
        let mut all = vec![("SPEEDTEST_TARGET", "www.example.com")];
        all.extend_from_slice(pairs);
        SpeedTestCheck::new(
            read::settings::<SpeedTestSettings>(&Env::from_pairs(all)).unwrap(),
            Box::new(Fixed),
        )
    }

    #[test]
    fn settings_read_defaults_and_refuse_bad_values() {
        let s = read::settings::<SpeedTestSettings>(&Env::from_pairs([(
            "SPEEDTEST_TARGET",
            "https://www.example.com/x",
        )]))
        .unwrap();
        assert_eq!(host_of(&s.target), "www.example.com");
        assert_eq!(host_of("www.example.com"), "www.example.com");
        assert_eq!(s.min_bad_nodes, 2);
        assert!(
            read::settings::<SpeedTestSettings>(&Env::default())
                .unwrap_err()
                .to_string()
                .starts_with("SPEEDTEST_TARGET is not set")
        );
        for (var, value) in [
            ("SPEEDTEST_MIN_BAD_NODES", "0"),
            ("SPEEDTEST_MAX_TOTAL_MS", "fast"),
            ("SPEEDTEST_TARGET", "a.com,b.com"),
        ] {
            let env = Env::from_pairs([("SPEEDTEST_TARGET", "a.com"), (var, value)]);
            let text = read::settings::<SpeedTestSettings>(&env)
                .unwrap_err()
                .to_string();
            assert!(
                text.starts_with(var) && text.contains(&format!("{value:?}")),
                "{text}"
            );
        }
        let chinaz = |pairs: &[(&str, &str)]| {
            read::settings::<chinaz::ChinazSettings>(&Env::from_pairs(pairs.iter().copied()))
        };
        assert!(chinaz(&[("SPEEDTEST_CONCURRENCY", "0")]).is_err());
        assert!(chinaz(&[("SPEEDTEST_CONCURRENCY", "65")]).is_err());
        assert_eq!(chinaz(&[]).unwrap().concurrency, 8);
        let provider = Env::from_pairs([
            ("SPEEDTEST_TARGET", "a.com"),
            ("SPEEDTEST_PROVIDER", "pingdom"),
        ]);
        assert!(
            read::settings::<SpeedTestSettings>(&provider)
                .unwrap_err()
                .to_string()
                .starts_with("SPEEDTEST_PROVIDER=\"pingdom\"")
        );
    }

    #[test]
    fn the_quorum_holds_back_a_single_slow_node() {
        let c = check(&[("SPEEDTEST_MAX_TOTAL_MS", "1000")]);
        let (health, failure, m) = c.evaluate(vec![
            node("江苏宿迁[电信]", "电信", 3000),
            node("北京[联通]", "联通", 200),
        ]);
        assert_eq!(health, Health::Ok);
        assert_eq!(failure, None);
        assert_eq!(m.nodes_bad, 1);
        assert_eq!(m.nodes[0].bad.as_deref(), Some("total 3000 ms > 1000 ms"));
    }

    #[test]
    fn bad_nodes_are_summed_up_by_carrier_with_the_worst_named() {
        let c = check(&[("SPEEDTEST_MAX_TOTAL_MS", "1000")]);
        let mut failed = node("广东深圳[移动]", "移动", 0);
        failed.error = Some("timed out".into());
        failed.total_ms = None;
        let nodes = vec![
            node("浙江湖州[电信]", "电信", 3190),
            node("江苏宿迁[电信]", "电信", 1500),
            node("北京[联通]", "联通", 200),
            node("上海[移动]", "移动", 2100),
        ];
        let (health, failure, _) = c.evaluate(nodes.clone());
        assert_eq!(health, Health::Failing);
        let message = failure.unwrap().message;
        assert!(message.starts_with("3/4 nodes slow: 电信 2, 移动 1; worst 浙江湖州[电信] total 3190 ms\n电信:\n  浙江湖州[电信] total 3190"), "{message}");
        let mut with_failure = nodes;
        with_failure.push(failed);
        let (_, failure, _) = c.evaluate(with_failure);
        let message = failure.unwrap().message;
        assert!(
            message.starts_with("4/5 nodes bad: 电信 2, 移动 2; worst 广东深圳[移动] timed out"),
            "{message}"
        );
    }

    #[test]
    fn statuses_outside_200_399_are_bad() {
        let c = check(&[]);
        let mut n = node("a", "电信", 100);
        n.status = Some(502);
        assert_eq!(c.settings.judge(&n).as_deref(), Some("HTTP 502"));
        n.status = Some(301);
        assert_eq!(c.settings.judge(&n), None);
    }

    #[test]
    fn the_table_has_a_row_per_node() {
        let c = check(&[]);
        let (_, _, m) = c.evaluate(vec![node("江苏宿迁[电信]", "电信", 212)]);
        let t = table(&m);
        assert_eq!(t.lines().count(), 2);
        assert!(t.contains("江苏宿迁[电信]") && t.contains("212"));
    }
}
