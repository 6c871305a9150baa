//! kafka-lag: is a consumer group falling behind? Through Tencent Cloud CKafka's
//! `DescribeGroupOffsets` (2019-08-19), without any access to the brokers.
//!
//! A topic's lag is the sum of its partitions' lag. Besides the thresholds, two trend rules in the
//! manner of LinkedIn Burrow look at the last `KAFKA_LAG_TREND_WINDOW` ticks: a topic whose
//! committed offsets stood still while its log grew is *stalled*; one whose lag grew at every tick
//! is *falling behind*. Both alert even under the threshold.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    Check, CheckResult, CheckType, Failure, Health, Measurement, Memory, Naming, Words, kind,
};
use crate::config::read::{self, Parse, Problem};
use crate::config::{ConfigError, Env, SettingKey, SetupError, list, one, pairs, variable};
use crate::retry::{self, Backoff, Retryable};
use crate::tencent::{Credentials, Endpoint, TencentClient, TencentError};
use crate::tick::Tick;

/// The function's name, as deployed.
pub const FUNCTION: &str = "kafka-lag";

/// `type: kafka-lag` in `lookout.yaml`.
pub const TYPE: CheckType = CheckType {
    name: "kafka-lag",
    function: FUNCTION,
    display: Words {
        zh: "Kafka积压",
        en: "Kafka lag",
    },
    kinds: &[
        kind("lag", "消费积压超阈值", "lag over threshold"),
        kind("stalled", "消费停滞", "consumer stalled"),
        kind("falling_behind", "消费持续落后", "consumer falling behind"),
    ],
    keys: &[
        one("instance_id", "CKAFKA_INSTANCE_ID")
            .parameter()
            .doc("the CKafka instance (`ckafka-...`)")
            .hint("set it to the CKafka instance's id, e.g. ckafka-abc123"),
        one("region", "CKAFKA_REGION")
            .parameter()
            .default("ap-guangzhou")
            .doc("its region")
            .hint("set it to a Tencent Cloud region, e.g. ap-guangzhou"),
        list("groups", "CKAFKA_GROUPS")
            .parameter()
            .doc("the consumer groups")
            .hint("set it to consumer groups, comma-separated"),
        list("topics", "KAFKA_TOPICS")
            .parameter()
            .doc("only these topics; default every topic a group consumes")
            .hint("list the names exactly as CKafka shows them, comma-separated"),
        one("lag_threshold", "KAFKA_LAG_THRESHOLD")
            .parameter()
            .default("10000")
            .doc("a topic's lag above this fails")
            .hint("set it to a whole number of messages, e.g. 10000"),
        pairs("topic_thresholds", "KAFKA_LAG_TOPIC_THRESHOLDS")
            .parameter()
            .doc("a threshold per topic, `{audit: 200000}`")
            .hint("set it to overrides like orders=500,audit=200000"),
        one("trend_window", "KAFKA_LAG_TREND_WINDOW")
            .parameter()
            .default("5")
            .doc("ticks a lag must keep growing to fail")
            .hint("set it to a number of ticks from 2 to 100, or 0 to turn the trend rules off"),
    ],
    variables: &[
        variable("TENCENTCLOUD_CKAFKA_ENDPOINT")
            .default("https://ckafka.tencentcloudapi.com/")
            .doc("the CKafka API's endpoint")
            .hint("leave it unset for https://ckafka.tencentcloudapi.com/, or set the service's full URL"),
        crate::tencent::SECRET_ID,
        crate::tencent::SECRET_KEY,
        crate::tencent::SESSION_TOKEN,
    ],
    host: None,
    validate: |env| read::settings::<KafkaLagSettings>(env).map(|_| ()),
    build: build_monitors,
};

/// One check per monitor, sharing one paced API client: the API's rate limit is the account's,
/// whatever the instance.
fn build_monitors(
    monitors: Vec<(Env, Naming)>,
    _store: &super::SharedLedger,
) -> Result<Vec<Box<dyn Check>>, SetupError> {
    let mut client: Option<TencentClient> = None;
    let mut checks: Vec<Box<dyn Check>> = Vec::with_capacity(monitors.len());
    for (env, naming) in monitors {
        let settings = read::settings::<KafkaLagSettings>(&env)?;
        let client = match &client {
            Some(client) => client.clone(),
            None => client.insert(paced_client(&settings)?).clone(),
        };
        checks.push(Box::new(KafkaLagCheck {
            endpoint: settings.endpoint(),
            settings,
            client,
            backoff: Backoff::default(),
            naming,
        }));
    }
    Ok(checks)
}

fn paced_client(settings: &KafkaLagSettings) -> Result<TencentClient, SetupError> {
    Ok(
        TencentClient::new(settings.credentials.clone(), Duration::from_secs(10))
            .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))?
            .paced(REQUESTS_PER_SECOND, REQUEST_BURST),
    )
}
/// Topics per page: the API's maximum.
pub const PAGE_SIZE: u64 = 50;
/// Pages of one group in flight at once.
pub const PAGES_IN_FLIGHT: usize = 20;
/// Requests started at once, all groups together; then [`REQUESTS_PER_SECOND`]. At most 90 start
/// in any second, under the API's 100 whatever the jitter on the way, and a group of 2,000 topics
/// goes at once.
pub const REQUEST_BURST: usize = 40;
/// Requests started a second once the burst is spent.
pub const REQUESTS_PER_SECOND: usize = 50;
/// Pages read per group at most (10,000 topics): a larger `TotalCount` is a monitor error, not
/// a reason to build a billion requests.
pub const MAX_PAGES: u64 = 200;
/// Topics whose trend history is kept per group, the laggiest first (a state item stays small).
pub const MAX_REMEMBERED_TOPICS: usize = 500;

/// kafka-lag settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct KafkaLagSettings {
    /// `CKAFKA_INSTANCE_ID`.
    #[serde(deserialize_with = "read::word")]
    pub instance_id: String,
    /// `CKAFKA_REGION`.
    #[serde(deserialize_with = "read::word")]
    pub region: String,
    /// `CKAFKA_GROUPS`.
    #[serde(deserialize_with = "kafka_names")]
    pub groups: Vec<String>,
    /// `KAFKA_TOPICS`: only these topics (all the group consumes when empty).
    #[serde(default, deserialize_with = "kafka_names")]
    pub topics: Vec<String>,
    /// `KAFKA_LAG_THRESHOLD`.
    #[serde(rename = "lag_threshold")]
    pub threshold: u64,
    /// `KAFKA_LAG_TOPIC_THRESHOLDS`: per-topic overrides.
    #[serde(default)]
    pub topic_thresholds: BTreeMap<String, u64>,
    /// `KAFKA_LAG_TREND_WINDOW`: ticks of history for the trend rules (0: off).
    #[serde(deserialize_with = "trend_window")]
    pub trend_window: usize,
    /// `TENCENTCLOUD_CKAFKA_ENDPOINT`: the API's URL.
    #[serde(
        rename = "TENCENTCLOUD_CKAFKA_ENDPOINT",
        deserialize_with = "read::parsed"
    )]
    pub api: url::Url,
    /// `TENCENTCLOUD_SECRET_ID` / `_KEY` / `_SESSION_TOKEN`.
    #[serde(rename = "@tencent")]
    pub credentials: Credentials,
}

impl read::Settings for KafkaLagSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys, TYPE.variables];

    fn checked(self, _env: &Env) -> Result<Self, ConfigError> {
        if self.groups.is_empty() {
            return Err(ConfigError::Missing {
                var: "CKAFKA_GROUPS",
                hint: read::hint_of(&TYPE.keys[2]),
            });
        }
        Ok(self)
    }
}

impl KafkaLagSettings {
    /// Where `DescribeGroupOffsets` is called.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.api.clone(),
            service: "ckafka",
            version: "2019-08-19",
            region: self.region.clone(),
        }
    }

    /// The threshold that applies to a topic.
    pub fn threshold_for(&self, topic: &str) -> u64 {
        self.topic_thresholds
            .get(topic)
            .copied()
            .unwrap_or(self.threshold)
    }
}

/// A comma-separated list of Kafka names (groups, topics), each once. Kafka allows ASCII letters,
/// digits, `.`, `_` and `-`, at most 249 of them: anything else names nothing CKafka could have.
fn kafka_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let mut names: Vec<String> = Vec::new();
    for KafkaName(name) in read::parsed_list::<D, KafkaName>(d)? {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

struct KafkaName(String);

impl Parse for KafkaName {
    fn parse(raw: &str) -> Result<Self, Problem> {
        let valid = raw.len() <= 249
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(KafkaName(raw.to_owned()))
        } else {
            Err(Problem::new(
                "not a Kafka name (ASCII letters, digits, '.', '_' and '-', at most 249)",
            )
            .hint("list the names exactly as CKafka shows them, comma-separated"))
        }
    }
}

/// Ticks of history for the trend rules: 0 (off), or 2 to 100.
fn trend_window<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match read::between::<D, usize, 0, 100>(d)? {
        1 => Err(Problem::new("a trend needs 2 to 100 ticks").error()),
        n => Ok(n),
    }
}

/// One partition as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionLag {
    /// The partition number.
    pub partition: i64,
    /// Its lag.
    pub lag: u64,
    /// A non-zero `ErrorCode`, when the API reported one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
}

/// One topic of a group, summed over its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicLag {
    /// The topic.
    pub topic: String,
    /// The sum of its partitions' lag.
    pub lag: u64,
    /// The sum of committed offsets.
    pub committed: u64,
    /// The sum of log end offsets.
    pub log_end: u64,
    /// Every partition, worst first.
    pub partitions: Vec<PartitionLag>,
}

/// Why a group could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn unsigned(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_i64().map(|n| n.max(0) as u64))
}

/// Reads one page: `Result.TotalCount` and the topics in `Result.TopicList`.
pub fn parse_page(response: &Value) -> Result<(u64, Vec<TopicLag>), String> {
    let result = response.get("Result").ok_or("no Result in the answer")?;
    let total = result
        .get("TotalCount")
        .and_then(unsigned)
        .ok_or("no TotalCount in the answer")?;
    let list = match result.get("TopicList") {
        Some(Value::Array(list)) => list.as_slice(),
        Some(Value::Null) | None => &[],
        Some(_) => return Err("TopicList is not a list".into()),
    };
    let topics = list
        .iter()
        .map(|entry| {
            let topic = entry
                .get("Topic")
                .and_then(Value::as_str)
                .ok_or("a topic entry without a Topic")?
                .to_owned();
            // The SDK models say `Partitions` may be null: a topic with no partitions to report.
            let partitions: &[Value] = match entry.get("Partitions") {
                Some(Value::Array(list)) => list,
                Some(Value::Null) | None => &[],
                Some(_) => return Err("a topic's Partitions is not a list"),
            };
            let (mut lag, mut committed, mut log_end) = (0u64, 0u64, 0u64);
            let mut parts = Vec::with_capacity(partitions.len());
            for p in partitions {
                let offset = p.get("Offset").and_then(unsigned).unwrap_or(0);
                let end = p.get("LogEndOffset").and_then(unsigned).unwrap_or(0);
                let part_lag = p
                    .get("Lag")
                    .and_then(unsigned)
                    .unwrap_or_else(|| end.saturating_sub(offset));
                lag = lag.saturating_add(part_lag);
                committed = committed.saturating_add(offset);
                log_end = log_end.saturating_add(end);
                parts.push(PartitionLag {
                    partition: p.get("Partition").and_then(Value::as_i64).unwrap_or(-1),
                    lag: part_lag,
                    error_code: p
                        .get("ErrorCode")
                        .and_then(Value::as_i64)
                        .filter(|c| *c != 0),
                });
            }
            parts.sort_by(|a, b| b.lag.cmp(&a.lag).then(a.partition.cmp(&b.partition)));
            Ok(TopicLag {
                topic,
                lag,
                committed,
                log_end,
                partitions: parts,
            })
        })
        .collect::<Result<Vec<_>, &str>>()?;
    Ok((total, topics))
}

/// A group's lag: the sum of its topics', saturating (lags near the largest number never wrap).
pub fn total_lag(topics: &[TopicLag]) -> u64 {
    topics
        .iter()
        .fold(0u64, |total, t| total.saturating_add(t.lag))
}

/// One tick's figures for a topic: `[committed, log_end, lag]`.
pub type Sample = [u64; 3];

/// What the trend rules found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trend {
    /// Committed offsets stood still while the log grew.
    Stalled { grown: u64 },
    /// Lag grew at every tick.
    FallingBehind { lags: Vec<u64> },
}

/// Applies the trend rules to a window of samples, oldest first (exactly `window` of them).
pub fn trend(samples: &[Sample], window: usize) -> Option<Trend> {
    if window < 2 || samples.len() < window {
        return None;
    }
    let recent = &samples[samples.len() - window..];
    let (first, last) = (recent[0], recent[window - 1]);
    if last[2] == 0 {
        return None;
    }
    if recent.iter().all(|s| s[0] == first[0]) && last[1] > first[1] {
        return Some(Trend::Stalled {
            grown: last[1] - first[1],
        });
    }
    if recent.windows(2).all(|pair| pair[1][2] > pair[0][2]) {
        return Some(Trend::FallingBehind {
            lags: recent.iter().map(|s| s[2]).collect(),
        });
    }
    None
}

/// What kafka-lag keeps per group between ticks: recent samples of topics with lag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMemory {
    /// Per topic, the last samples, oldest first.
    pub topics: BTreeMap<String, Vec<Sample>>,
}

/// A topic as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicMeasurement {
    /// The consumer group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The summed lag.
    pub lag: u64,
    /// The threshold that applies.
    pub threshold: u64,
    /// Partitions in the topic.
    pub partitions: usize,
    /// The worst partitions (at most 3).
    pub worst_partitions: Vec<PartitionLag>,
    /// Partitions with a non-zero `ErrorCode`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partition_errors: Vec<PartitionLag>,
    /// The trend rule that fired, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<&'static str>,
}

/// A group as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMeasurement {
    /// The consumer group.
    pub group: String,
    /// Topics read.
    pub topics: usize,
    /// Pages fetched.
    pub pages: u64,
    /// The group's total lag.
    pub total_lag: u64,
}

/// Either figure of a kafka-lag result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum KafkaLagMeasurement {
    /// A group, or why it could not be read.
    Group(GroupMeasurement),
    /// A topic of a group.
    Topic(TopicMeasurement),
}

/// The kafka-lag check.
pub struct KafkaLagCheck {
    settings: KafkaLagSettings,
    endpoint: Endpoint,
    client: TencentClient,
    backoff: Backoff,
    naming: Naming,
}

struct ApiError(TencentError);

impl Retryable for ApiError {
    fn is_retryable(&self) -> bool {
        self.0.is_retryable()
    }
}

impl KafkaLagCheck {
    /// The check with its signed API client.
    pub fn new(settings: KafkaLagSettings) -> Result<Self, SetupError> {
        Ok(KafkaLagCheck {
            endpoint: settings.endpoint(),
            client: paced_client(&settings)?,
            settings,
            backoff: Backoff::default(),
            naming: Naming::Function(FUNCTION),
        })
    }

    /// The same check with another retry backoff.
    pub fn with_backoff(self, backoff: Backoff) -> Self {
        KafkaLagCheck { backoff, ..self }
    }

    fn describe(&self, error: &TencentError, group: &str) -> String {
        let id = &self.settings.instance_id;
        match error.code() {
            Some(code) if code.starts_with("AuthFailure") => format!(
                "Tencent Cloud refused the credentials ({error}): check TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY and that this machine's clock is right"
            ),
            Some("InvalidParameterValue.InstanceNotExist") => format!(
                "CKafka instance {id} does not exist in {} ({error}): check CKAFKA_INSTANCE_ID and CKAFKA_REGION",
                self.settings.region
            ),
            Some(code) if code.starts_with("ResourceNotFound") => format!(
                "consumer group {group} or instance {id} was not found ({error}): check CKAFKA_GROUPS and CKAFKA_INSTANCE_ID"
            ),
            _ => format!("DescribeGroupOffsets failed for group {group}: {error}"),
        }
    }

    async fn page(
        &self,
        group: &str,
        offset: u64,
        deadline: Instant,
    ) -> Result<(u64, Vec<TopicLag>), QueryError> {
        let mut body = json!({
            "InstanceId": self.settings.instance_id,
            "Group": group,
            "Offset": offset,
            "Limit": PAGE_SIZE,
        });
        if !self.settings.topics.is_empty() {
            body["Topics"] = json!(self.settings.topics);
        }
        let call = retry::retry(self.backoff, deadline, |_| async {
            self.client
                .call(&self.endpoint, "DescribeGroupOffsets", &body)
                .await
                .map_err(ApiError)
        });
        let (result, _) = tokio::time::timeout_at(deadline, call).await.map_err(|_| {
            QueryError(format!(
                "group {group} was not read before the invocation's time ran out: raise the function's timeout, or watch fewer topics (KAFKA_TOPICS)"
            ))
        })?;
        let response = result.map_err(|ApiError(e)| QueryError(self.describe(&e, group)))?;
        parse_page(&response).map_err(|e| {
            QueryError(format!(
                "the CKafka API's answer is not the documented JSON: {e}"
            ))
        })
    }

    /// Every topic of a group: the first page, then the rest at once.
    pub async fn group_lag(
        &self,
        group: &str,
        deadline: Instant,
    ) -> Result<(Vec<TopicLag>, u64), QueryError> {
        let (total, mut topics) = self.page(group, 0, deadline).await?;
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        if pages > MAX_PAGES {
            return Err(QueryError(format!(
                "group {group} reports {total} topics, more than lookout reads ({} at most, {MAX_PAGES} pages): list the topics to watch in KAFKA_TOPICS",
                MAX_PAGES * PAGE_SIZE
            )));
        }
        // Requests are made as they are needed, never all up front.
        let mut next = 1;
        let mut in_flight = futures::stream::FuturesOrdered::new();
        loop {
            while in_flight.len() < PAGES_IN_FLIGHT && next < pages {
                in_flight.push_back(self.page(group, next * PAGE_SIZE, deadline));
                next += 1;
            }
            match in_flight.next().await {
                Some(page) => topics.extend(page?.1),
                None => return Ok((topics, pages)),
            }
        }
    }

    /// The results for one group.
    fn judge(
        &self,
        group: &str,
        topics: Vec<TopicLag>,
        pages: u64,
        memory: Option<&Value>,
    ) -> Vec<CheckResult> {
        let window = self.settings.trend_window;
        let mut remembered: GroupMemory = memory
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        let mut kept = GroupMemory::default();
        let mut results = Vec::with_capacity(topics.len() + 1);
        results.push(CheckResult {
            since: None,
            key: self.naming.part(group),
            target: self.naming.shown_part(group),
            health: Health::Ok,
            failure: None,
            measurement: Measurement::KafkaLag(KafkaLagMeasurement::Group(GroupMeasurement {
                group: group.to_owned(),
                topics: topics.len(),
                pages,
                total_lag: total_lag(&topics),
            })),
            memory: None,
        });
        for topic in topics {
            let threshold = self.settings.threshold_for(&topic.topic);
            let mut samples = remembered.topics.remove(&topic.topic).unwrap_or_default();
            samples.push([topic.committed, topic.log_end, topic.lag]);
            let fired = trend(&samples, window);
            if window > 0 && topic.lag > 0 {
                let start = samples.len().saturating_sub(window);
                kept.topics
                    .insert(topic.topic.clone(), samples[start..].to_vec());
            }
            let worst: Vec<String> = topic
                .partitions
                .iter()
                .take(3)
                .map(|p| format!("p{} {}", p.partition, p.lag))
                .collect();
            let worst = worst.join(", ");
            let failure = if topic.lag > threshold {
                Some(Failure {
                    kind: "lag",
                    message: format!(
                        "lag {} over the threshold {threshold} across {} partitions (worst: {worst})",
                        topic.lag,
                        topic.partitions.len()
                    ),
                })
            } else {
                match &fired {
                    Some(Trend::Stalled { grown }) => Some(Failure {
                        kind: "stalled",
                        message: format!(
                            "stalled: committed offsets have not moved for {window} ticks while the log grew by {grown}; lag {} (threshold {threshold})",
                            topic.lag
                        ),
                    }),
                    Some(Trend::FallingBehind { lags }) => Some(Failure {
                        kind: "falling_behind",
                        message: format!(
                            "falling behind: lag grew at each of the last {window} ticks ({}); threshold {threshold}",
                            lags.iter()
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(" → ")
                        ),
                    }),
                    None => None,
                }
            };
            let errors: Vec<PartitionLag> = topic
                .partitions
                .iter()
                .filter(|p| p.error_code.is_some())
                .cloned()
                .collect();
            results.push(CheckResult {
                since: None,
                key: self.naming.part(&format!("{group}/{}", topic.topic)),
                target: self.naming.shown_part(&format!("{group}/{}", topic.topic)),
                health: if failure.is_some() {
                    Health::Failing
                } else {
                    Health::Ok
                },
                failure,
                measurement: Measurement::KafkaLag(KafkaLagMeasurement::Topic(TopicMeasurement {
                    group: group.to_owned(),
                    lag: topic.lag,
                    threshold,
                    partitions: topic.partitions.len(),
                    worst_partitions: topic.partitions.into_iter().take(3).collect(),
                    partition_errors: errors,
                    trend: fired.map(|t| match t {
                        Trend::Stalled { .. } => "stalled",
                        Trend::FallingBehind { .. } => "falling_behind",
                    }),
                    topic: topic.topic,
                })),
                memory: None,
            });
        }
        if kept.topics.len() > MAX_REMEMBERED_TOPICS {
            // Keep the laggiest: they are the ones a trend could fire on.
            let mut by_lag: Vec<(String, Vec<Sample>)> =
                std::mem::take(&mut kept.topics).into_iter().collect();
            by_lag.sort_by(|a, b| {
                let lag = |s: &[Sample]| s.last().map_or(0, |x| x[2]);
                lag(&b.1).cmp(&lag(&a.1)).then(a.0.cmp(&b.0))
            });
            by_lag.truncate(MAX_REMEMBERED_TOPICS);
            kept.topics = by_lag.into_iter().collect();
        }
        results[0].memory = serde_json::to_value(&kept).ok();
        results
    }
}

#[async_trait]
impl Check for KafkaLagCheck {
    fn function(&self) -> &'static str {
        FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    async fn run(&self, _tick: &Tick, memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        let groups = self.settings.groups.iter().map(|group| async move {
            let key = self.naming.part(group);
            match self.group_lag(group, deadline).await {
                Ok((topics, pages)) => {
                    tracing::info!(group = %group, topics = topics.len(), pages, "group read");
                    self.judge(group, topics, pages, memory.get(&key))
                }
                Err(QueryError(message)) => {
                    tracing::warn!(group = %group, reason = %message, "group could not be read");
                    vec![CheckResult {
                        since: None,
                        // Keep the history: a failed read says nothing about the trend.
                        memory: memory.get(&key).cloned(),
                        key,
                        target: self.naming.shown_part(group),
                        health: Health::MonitorError,
                        failure: Some(Failure {
                            kind: "monitor",
                            message,
                        }),
                        measurement: Measurement::KafkaLag(KafkaLagMeasurement::Group(
                            GroupMeasurement {
                                group: group.clone(),
                                topics: 0,
                                pages: 0,
                                total_lag: 0,
                            },
                        )),
                    }]
                }
            }
        });
        futures::future::join_all(groups)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        if results.is_empty() {
            return None;
        }
        Some(lag_table(results))
    }

    /// A topic's incident is kept while its group could not be read this tick (nothing is known
    /// of its topics); otherwise a key without a result is no longer watched.
    fn retired(&self, key: &str, results: &[CheckResult]) -> bool {
        if results.iter().any(|r| r.key == key) {
            return false;
        }
        let group_unread = |group: &str| {
            results
                .iter()
                .any(|r| r.key == self.naming.part(group) && r.health == Health::MonitorError)
        };
        let group = self
            .naming
            .path_of(key)
            .and_then(|rest| rest.split_once('/'))
            .map(|(group, _)| group);
        !group.is_some_and(group_unread)
    }
}

/// The lag per group and topic against its threshold, worst partition first; a group that could
/// not be read says why.
pub fn lag_table(results: &[CheckResult]) -> String {
    let mut out = format!(
        "{:<20} {:<24} {:>12} {:>12} {:>10}  {}\n",
        "group", "topic", "lag", "threshold", "partitions", "worst partition"
    );
    for result in results {
        let health = match result.health {
            Health::Ok => String::new(),
            other => format!("  {}", super::health_word(other)),
        };
        match &result.measurement {
            Measurement::KafkaLag(KafkaLagMeasurement::Topic(topic)) => {
                let worst = topic
                    .worst_partitions
                    .first()
                    .map_or_else(String::new, |p| format!("#{} lag {}", p.partition, p.lag));
                out.push_str(&format!(
                    "{:<20} {:<24} {:>12} {:>12} {:>10}  {worst}{health}\n",
                    topic.group, topic.topic, topic.lag, topic.threshold, topic.partitions
                ));
            }
            Measurement::KafkaLag(KafkaLagMeasurement::Group(group)) => {
                out.push_str(&format!(
                    "{:<20} {:<24} {:>12} {:>12} {:>10}  {health}\n",
                    group.group,
                    match group.topics {
                        1 => "(1 topic)".to_owned(),
                        n => format!("({n} topics)"),
                    },
                    group.total_lag,
                    "-",
                    "-"
                ));
            }
            _ => continue,
        }
        if let Some(failure) = &result.failure {
            out.push_str(&format!("{:<20} {}\n", "", failure.message));
        }
    }
    out
}

/// One metric per group (Sum: the group's lag; Maximum: its worst topic); the topic is a property,
/// graphed with Logs Insights.
pub fn points(measurement: &KafkaLagMeasurement, function: &str) -> Vec<crate::metrics::Point> {
    match measurement {
        KafkaLagMeasurement::Topic(topic) => vec![crate::metrics::Point {
            dimensions: vec![vec!["Function", "Group"]],
            fields: serde_json::json!({
                "Function": function,
                "Group": topic.group,
                "Topic": topic.topic,
                "Lag": topic.lag,
                "Threshold": topic.threshold,
            }),
            metrics: vec![("Lag", "Count")],
        }],
        KafkaLagMeasurement::Group(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("CKAFKA_INSTANCE_ID", "ckafka-abc123"),
            ("CKAFKA_GROUPS", "billing, audit"),
            ("TENCENTCLOUD_SECRET_ID", "AKIDexample"),
            ("TENCENTCLOUD_SECRET_KEY", "key"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn settings_read_defaults_overrides_and_refuse_bad_values() {
        let s = read::settings::<KafkaLagSettings>(&env(&[(
            "KAFKA_LAG_TOPIC_THRESHOLDS",
            "orders=500, audit=200000",
        )]))
        .unwrap();
        assert_eq!(s.groups, vec!["billing", "audit"]);
        let twice =
            read::settings::<KafkaLagSettings>(&env(&[("CKAFKA_GROUPS", "billing,audit,billing")]))
                .unwrap();
        assert_eq!(
            twice.groups,
            vec!["billing", "audit"],
            "a group listed twice is read once"
        );
        assert_eq!(s.threshold, 10_000);
        assert_eq!(s.threshold_for("orders"), 500);
        assert_eq!(s.threshold_for("other"), 10_000);
        assert_eq!(s.trend_window, 5);
        assert_eq!(s.endpoint().host(), "ckafka.tencentcloudapi.com");
        assert_eq!(s.endpoint().region, "ap-guangzhou");
        for (var, value) in [
            ("KAFKA_LAG_TOPIC_THRESHOLDS", "orders:500"),
            ("KAFKA_LAG_THRESHOLD", "lots"),
            ("KAFKA_LAG_TREND_WINDOW", "1"),
            ("CKAFKA_REGION", "ap-广州"),
            ("CKAFKA_INSTANCE_ID", "ckafka-1\r\nX: y"),
            ("CKAFKA_GROUPS", "billing, 账单"),
            ("KAFKA_TOPICS", "orders events"),
        ] {
            let text = read::settings::<KafkaLagSettings>(&env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(text.starts_with(var), "{text}");
        }
        let missing =
            read::settings::<KafkaLagSettings>(&env(&[]).without(&["CKAFKA_INSTANCE_ID"]))
                .unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("CKAFKA_INSTANCE_ID is not set")
        );
    }

    #[test]
    fn a_topics_lag_is_the_sum_of_its_partitions() {
        let page = json!({"Result": {"TotalCount": 1, "TopicList": [{"Topic": "orders", "Partitions": [
            {"Partition": 0, "Offset": 100, "LogEndOffset": 400, "Lag": 300, "ErrorCode": 0, "Metadata": ""},
            {"Partition": 1, "Offset": 50, "LogEndOffset": 950, "Lag": 900, "ErrorCode": 0},
            {"Partition": 2, "Offset": 10, "LogEndOffset": 20, "ErrorCode": 3}
        ]}]}});
        let (total, topics) = parse_page(&page).unwrap();
        assert_eq!(total, 1);
        let orders = &topics[0];
        assert_eq!(
            orders.lag, 1210,
            "300 + 900 + (20 - 10), not the last partition's"
        );
        assert_eq!((orders.committed, orders.log_end), (160, 1370));
        assert_eq!(orders.partitions[0].partition, 1, "worst first");
        assert_eq!(orders.partitions[2].error_code, Some(3));
    }

    #[test]
    fn lags_near_the_largest_number_saturate_instead_of_wrapping() {
        let max = u64::MAX;
        let page = json!({"Result": {"TotalCount": 2, "TopicList": [
            {"Topic": "a", "Partitions": [
                {"Partition": 0, "Offset": 0, "LogEndOffset": max, "Lag": max},
                {"Partition": 1, "Offset": 0, "LogEndOffset": max, "Lag": max}]},
            {"Topic": "b", "Partitions": [{"Partition": 0, "Offset": max, "LogEndOffset": 0}]}
        ]}});
        let (_, topics) = parse_page(&page).unwrap();
        assert_eq!(topics[0].lag, max);
        assert_eq!(
            topics[1].lag, 0,
            "a committed offset past the end is no lag"
        );
        let settings = read::settings::<KafkaLagSettings>(&env(&[])).unwrap();
        let check = KafkaLagCheck::new(settings).unwrap();
        let results = check.judge("g", topics.clone(), 1, None);
        match &results[0].measurement {
            Measurement::KafkaLag(KafkaLagMeasurement::Group(g)) => assert_eq!(g.total_lag, max),
            other => panic!("{other:?}"),
        }
        let samples = [[0, max, max], [0, max, max], [0, max, max]];
        assert_eq!(trend(&samples, 3), None);
    }

    #[test]
    fn null_partitions_are_a_topic_without_partitions() {
        let page = json!({"Result": {"TotalCount": 2, "TopicList": [
            {"Topic": "empty", "Partitions": null},
            {"Topic": "orders", "Partitions": [{"Partition": 0, "Offset": 1, "LogEndOffset": 5, "Lag": 4}]}
        ]}});
        let (_, topics) = parse_page(&page).unwrap();
        assert_eq!((topics[0].topic.as_str(), topics[0].lag), ("empty", 0));
        assert_eq!(topics[1].lag, 4);
    }

    #[test]
    fn answers_that_are_not_the_documented_json_are_refused() {
        for bad in [
            json!({}),
            json!({"Result": {}}),
            json!({"Result": {"TotalCount": 1, "TopicList": [{"Partitions": []}]}}),
            json!({"Result": {"TotalCount": 1, "TopicList": 5}}),
        ] {
            assert!(parse_page(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_page(&json!({"Result": {"TotalCount": 0, "TopicList": null}}))
                .unwrap()
                .1,
            vec![]
        );
    }

    #[test]
    fn the_trend_rules() {
        let stalled = [[100, 1000, 900], [100, 1100, 1000], [100, 1200, 1100]];
        assert_eq!(trend(&stalled, 3), Some(Trend::Stalled { grown: 200 }));
        let behind = [[100, 1000, 10], [150, 1100, 20], [200, 1300, 35]];
        assert_eq!(
            trend(&behind, 3),
            Some(Trend::FallingBehind {
                lags: vec![10, 20, 35]
            })
        );
        let keeping_up = [[100, 1000, 10], [200, 1100, 5], [300, 1300, 35]];
        assert_eq!(trend(&keeping_up, 3), None);
        let idle = [[100, 100, 0], [100, 100, 0], [100, 100, 0]];
        assert_eq!(trend(&idle, 3), None, "no lag, no alarm");
        assert_eq!(trend(&stalled[..2], 3), None, "not enough history yet");
        assert_eq!(trend(&stalled, 0), None, "off");
    }
}
