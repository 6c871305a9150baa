//! kafka-lag against a fake CKafka API that verifies TC3 signatures and paginates.

mod support;

use std::sync::Arc;
use std::time::Duration;

use lookout::alerting::policy::Policy;
use lookout::alerting::state::memory::MemoryStore;
use lookout::checks::kafka_lag::{
    GroupMeasurement, KafkaLagCheck, KafkaLagMeasurement, KafkaLagSettings, TopicMeasurement,
};
use lookout::checks::{Check, CheckResult, Health, Measurement};
use lookout::config::Env;
use lookout::monitor::{Invocation, Monitor};
use lookout::retry::Backoff;
use lookout::tick::{Tick, TickSource};
use support::scripted::{Recorder, Sent};
use support::tencent::{self, FakeTencent, INSTANCE_ID, topic};

fn check(api: &FakeTencent, extra: &[(&str, &str)]) -> KafkaLagCheck {
    let url = api.url();
    let mut env = vec![
        ("CKAFKA_INSTANCE_ID", INSTANCE_ID),
        ("CKAFKA_GROUPS", "billing"),
        ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID),
        ("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY),
        ("TENCENTCLOUD_CKAFKA_ENDPOINT", url.as_str()),
        ("KAFKA_LAG_THRESHOLD", "1000"),
    ];
    env.extend_from_slice(extra);
    let settings = lookout::config::read::settings::<KafkaLagSettings>(&Env::from_pairs(env))
        .expect("settings");
    KafkaLagCheck::new(settings)
        .expect("client")
        .with_backoff(Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(80),
            max_attempts: 5,
        })
}

fn tick(n: i64) -> Tick {
    Tick {
        id: format!("tick-{n}"),
        time: chrono::Utc::now() + chrono::Duration::minutes(5 * n),
        source: TickSource::Schedule,
    }
}

async fn run(check: &KafkaLagCheck) -> Vec<CheckResult> {
    check
        .run(&tick(0), &Default::default(), far_deadline())
        .await
}

fn group(result: &CheckResult) -> &GroupMeasurement {
    match &result.measurement {
        Measurement::KafkaLag(KafkaLagMeasurement::Group(g)) => g,
        other => panic!("not a group: {other:?}"),
    }
}

fn topic_of(result: &CheckResult) -> &TopicMeasurement {
    match &result.measurement {
        Measurement::KafkaLag(KafkaLagMeasurement::Topic(t)) => t,
        other => panic!("not a topic: {other:?}"),
    }
}

fn topics(n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| topic(&format!("topic-{i:04}"), &[(100, 110), (200, 205)]))
        .collect()
}

#[tokio::test]
async fn every_page_of_a_group_is_read() {
    let api = FakeTencent::start().await;
    for (n, pages) in [(0, 1), (1, 1), (50, 1), (51, 2), (120, 3)] {
        let name = format!("group-{n}");
        api.set_group(&name, topics(n));
        let results = check(&api, &[("CKAFKA_GROUPS", &name)])
            .run(&tick(0), &Default::default(), far_deadline())
            .await;
        assert_eq!(results.len(), n + 1, "{n} topics and the group");
        assert_eq!(group(&results[0]).topics, n);
        assert_eq!(group(&results[0]).pages, pages as u64);
        assert_eq!(api.pages(&name), pages, "{n} topics take {pages} pages");
        assert_eq!(group(&results[0]).total_lag, 15 * n as u64);
        assert!(results.iter().all(|r| r.health == Health::Ok));
    }
    let offsets: Vec<u64> = api
        .received()
        .iter()
        .filter(|r| r.body["Group"] == "group-120")
        .map(|r| r.body["Offset"].as_u64().unwrap())
        .collect();
    let mut sorted = offsets.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 50, 100]);
    assert!(
        api.received()
            .iter()
            .all(|r| r.body["Limit"] == 50 && r.region == "ap-guangzhou")
    );
}

#[tokio::test]
async fn pages_and_groups_are_read_at_once() {
    let api = FakeTencent::start().await;
    api.set_group("billing", topics(300));
    api.set_group("audit", topics(10));
    api.set_page_delay(Duration::from_millis(100));
    let results = check(&api, &[("CKAFKA_GROUPS", "billing,audit")])
        .run(&tick(0), &Default::default(), far_deadline())
        .await;
    assert_eq!(results.len(), 300 + 10 + 2);
    assert_eq!(api.pages("billing"), 6);
    assert!(
        api.most_in_flight() >= 5,
        "pages after the first went out together: {}",
        api.most_in_flight()
    );
}

#[tokio::test]
async fn at_most_twenty_pages_of_a_group_are_in_flight() {
    let api = FakeTencent::start().await;
    api.set_group("billing", topics(2000));
    api.set_page_delay(Duration::from_millis(400));
    let results = run(&check(&api, &[])).await;
    assert_eq!(results.len(), 2001);
    assert_eq!(api.pages("billing"), 40);
    assert_eq!(api.most_in_flight(), 20, "the README's 20, not more");
}

#[tokio::test]
async fn many_groups_together_stay_under_the_apis_hundred_requests_a_second() {
    let api = FakeTencent::start().await;
    let names: Vec<String> = (0..6).map(|g| format!("group-{g}")).collect();
    for name in &names {
        api.set_group(name, topics(1000));
    }
    api.set_page_delay(Duration::from_millis(5));
    let groups = names.join(",");
    let results = check(&api, &[("CKAFKA_GROUPS", &groups)])
        .with_backoff(lookout::retry::Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(5),
            max_attempts: 1,
        })
        .run(&tick(0), &Default::default(), far_deadline())
        .await;
    assert!(
        results.iter().all(|r| r.health == Health::Ok),
        "no RequestLimitExceeded: {:?}",
        results.iter().find(|r| r.health != Health::Ok)
    );
    assert_eq!(results.len(), 6 * 1001);
    assert!(api.most_in_a_second() <= 100, "{}", api.most_in_a_second());
}

#[tokio::test]
async fn a_topic_with_null_partitions_is_a_topic_without_lag() {
    let api = FakeTencent::start().await;
    let mut listed = topics(2);
    listed.push(support::tencent::topic_without_partitions("empty"));
    api.set_group("billing", listed);
    let results = run(&check(&api, &[])).await;
    assert!(
        results.iter().all(|r| r.health == Health::Ok),
        "{results:?}"
    );
    let empty = results
        .iter()
        .find(|r| r.target == "billing/empty")
        .expect("the topic is reported");
    assert_eq!(topic_of(empty).lag, 0);
    assert_eq!(topic_of(empty).partitions, 0);
}

#[tokio::test]
async fn more_topics_than_lookout_reads_is_a_monitor_error_that_says_so() {
    let api = FakeTencent::start().await;
    api.set_group("billing", topics(10_001));
    let message = monitor_error(&check(&api, &[])).await;
    assert!(
        message.contains("10001 topics") && message.contains("KAFKA_TOPICS"),
        "{message}"
    );
    assert_eq!(
        api.pages("billing"),
        1,
        "no page after the first was asked for"
    );
}

#[tokio::test]
async fn a_topics_lag_is_the_sum_of_partitions_each_under_the_threshold() {
    let api = FakeTencent::start().await;
    api.set_group(
        "billing",
        vec![
            topic("orders", &[(0, 400), (0, 400), (0, 400)]),
            topic("audit", &[(0, 5)]),
        ],
    );
    let results = run(&check(&api, &[])).await;
    let orders = &results[1];
    assert_eq!(orders.key, "kafka-lag:billing/orders");
    assert_eq!(orders.health, Health::Failing);
    let failure = orders.failure.as_ref().unwrap();
    assert_eq!(failure.kind, "lag");
    assert_eq!(
        failure.message,
        "lag 1200 over the threshold 1000 across 3 partitions (worst: p0 400, p1 400, p2 400)"
    );
    assert_eq!(topic_of(orders).lag, 1200);
    assert_eq!(topic_of(orders).worst_partitions.len(), 3);
    assert_eq!(results[2].health, Health::Ok);
}

#[tokio::test]
async fn a_per_topic_override_applies_to_its_topic_only() {
    let api = FakeTencent::start().await;
    api.set_group(
        "billing",
        vec![topic("orders", &[(0, 600)]), topic("audit", &[(0, 600)])],
    );
    let results = run(&check(
        &api,
        &[("KAFKA_LAG_TOPIC_THRESHOLDS", "orders=500")],
    ))
    .await;
    assert_eq!(topic_of(&results[1]).threshold, 500);
    assert_eq!(results[1].health, Health::Failing);
    assert_eq!(topic_of(&results[2]).threshold, 1000);
    assert_eq!(results[2].health, Health::Ok);
}

#[tokio::test]
async fn the_topic_filter_is_sent_to_the_api() {
    let api = FakeTencent::start().await;
    api.set_group(
        "billing",
        vec![topic("orders", &[(0, 1)]), topic("audit", &[(0, 1)])],
    );
    let results = run(&check(&api, &[("KAFKA_TOPICS", "audit")])).await;
    assert_eq!(results.len(), 2);
    assert_eq!(topic_of(&results[1]).topic, "audit");
    assert_eq!(
        api.received()[0].body["Topics"],
        serde_json::json!(["audit"])
    );
}

async fn monitor_error(check: &KafkaLagCheck) -> String {
    let results = run(check).await;
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].health, Health::MonitorError);
    assert!(results[0].key.starts_with("kafka-lag:billing"));
    results[0].failure.as_ref().unwrap().message.clone()
}

#[tokio::test]
async fn api_errors_are_monitor_errors_that_say_what_to_fix() {
    let api = FakeTencent::start().await;
    api.set_group("billing", topics(3));
    let auth = monitor_error(&check(&api, &[("TENCENTCLOUD_SECRET_KEY", "a-wrong-key")])).await;
    assert!(
        auth.contains("AuthFailure.SignatureFailure")
            && auth.contains("TENCENTCLOUD_SECRET_KEY")
            && auth.contains("clock"),
        "{auth}"
    );
    assert!(!auth.contains("a-wrong-key"));
    let instance = monitor_error(&check(&api, &[("CKAFKA_INSTANCE_ID", "ckafka-gone")])).await;
    assert!(
        instance.contains("ckafka-gone") && instance.contains("CKAFKA_INSTANCE_ID"),
        "{instance}"
    );
    let group = monitor_error(&check(&api, &[("CKAFKA_GROUPS", "billing-typo")])).await;
    assert!(
        group.contains("billing-typo") && group.contains("CKAFKA_GROUPS"),
        "{group}"
    );
}

#[tokio::test]
async fn rate_limits_and_internal_errors_are_retried() {
    let api = FakeTencent::start().await;
    api.set_group("billing", topics(3));
    api.answer_next("RequestLimitExceeded", 2);
    api.answer_next("InternalError", 1);
    api.answer_next("ServiceUnavailable", 1);
    let results = run(&check(&api, &[])).await;
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].health, Health::Ok);
}

#[tokio::test]
async fn an_answer_that_is_not_the_documented_json_is_a_monitor_error() {
    let api = FakeTencent::start().await;
    api.set_group("billing", topics(3));
    api.answer_malformed();
    let message = monitor_error(&check(&api, &[])).await;
    assert!(message.contains("not the documented JSON"), "{message}");
}

/// Runs ticks against a monitor while the fake's offsets move; returns the alerts per tick.
async fn replay(api: &FakeTencent, offsets: &[(u64, u64)], window: &str) -> Vec<Vec<String>> {
    let sent: Sent = Arc::default();
    let monitor = Monitor::new(
        Box::new(check(
            api,
            &[
                ("KAFKA_LAG_TREND_WINDOW", window),
                ("KAFKA_LAG_THRESHOLD", "100000"),
            ],
        )),
        vec![Box::new(Recorder::new("wecom", &sent))],
        Box::new(MemoryStore::default()),
        Policy::default(),
    );
    let mut per_tick = Vec::new();
    for (i, (committed, end)) in offsets.iter().enumerate() {
        api.set_group("billing", vec![topic("orders", &[(*committed, *end)])]);
        let report = monitor
            .tick(
                tick(i as i64),
                &Invocation::new(format!("request-{i}"), Duration::from_secs(10)),
            )
            .await;
        per_tick.push(
            report
                .alerts
                .iter()
                .map(|a| format!("{:?} {} {}", a.state, a.target, a.message))
                .collect(),
        );
    }
    per_tick
}

#[tokio::test]
async fn a_stalled_consumer_alerts_under_the_threshold() {
    let api = FakeTencent::start().await;
    let offsets = [(500, 600), (500, 700), (500, 800), (500, 900), (500, 1000)];
    let alerts = replay(&api, &offsets, "5").await;
    assert!(alerts[..4].iter().all(Vec::is_empty), "{alerts:?}");
    assert_eq!(
        alerts[4],
        vec![
            "Failing billing/orders stalled: committed offsets have not moved for 5 ticks while the log grew by 400; lag 500 (threshold 100000)"
        ]
    );
}

#[tokio::test]
async fn a_consumer_falling_behind_alerts_and_recovers_when_it_catches_up() {
    let api = FakeTencent::start().await;
    let offsets = [
        (100, 110),
        (150, 170),
        (200, 240),
        (260, 320),
        (300, 320),
        (320, 320),
    ];
    let alerts = replay(&api, &offsets, "4").await;
    assert!(alerts[..3].iter().all(Vec::is_empty), "{alerts:?}");
    assert_eq!(
        alerts[3],
        vec![
            "Failing billing/orders falling behind: lag grew at each of the last 4 ticks (10 → 20 → 40 → 60); threshold 100000"
        ]
    );
    assert!(
        alerts[4][0].starts_with("Recovered billing/orders"),
        "{alerts:?}"
    );
}

#[tokio::test]
async fn with_the_window_at_zero_the_trend_rules_are_off() {
    let api = FakeTencent::start().await;
    let offsets = [
        (500, 600),
        (500, 700),
        (500, 800),
        (500, 900),
        (500, 1000),
        (500, 1100),
    ];
    let alerts = replay(&api, &offsets, "0").await;
    assert!(alerts.iter().all(Vec::is_empty), "{alerts:?}");
}

#[tokio::test]
async fn locally_the_binary_reports_lag_per_group_and_topic() {
    let api = FakeTencent::start().await;
    api.set_group("billing", vec![topic("orders", &[(0, 5000), (0, 7000)])]);
    let state = tempfile::tempdir().expect("a temporary folder");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-lag"))
        .env_clear()
        .env("STATE_FILE", state.path().join("state.json"))
        .env("CKAFKA_INSTANCE_ID", INSTANCE_ID)
        .env("CKAFKA_GROUPS", "billing")
        .env("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY)
        .env("TENCENTCLOUD_CKAFKA_ENDPOINT", api.url())
        .output()
        .await
        .expect("run kafka-lag");
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["function"], "kafka-lag");
    assert_eq!(report["results"][1]["measurement"]["lag"], 12000);
    assert_eq!(report["alerts"][0]["target"], "billing/orders");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Kafka积压") && !stderr.contains(tencent::SECRET_KEY),
        "{stderr}"
    );
}

/// A deadline no check here comes near.
fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(600)
}
