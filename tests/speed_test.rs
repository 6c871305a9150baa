//! speed-test against a fake chinaz-style service and a fake Globalping.

mod support;

use std::sync::Arc;
use std::time::Duration;

use lookout::alerting::policy::Policy;
use lookout::alerting::state::memory::MemoryStore;
use lookout::checks::speedtest::{SpeedTestCheck, SpeedTestMeasurement};
use lookout::checks::{Check, CheckResult, Health, Measurement};
use lookout::config::Env;
use lookout::monitor::{Invocation, Monitor};
use lookout::tick::{Tick, TickSource};
use support::chinaz::{FakeChinaz, FakeNode};
use support::globalping::{FakeGlobalping, probe};
use support::scripted::{Recorder, Sent};

fn tick() -> Tick {
    Tick {
        id: "t".into(),
        time: chrono::Utc::now(),
        source: TickSource::Schedule,
    }
}

fn chinaz_check(fake: &FakeChinaz, extra: &[(&str, &str)]) -> SpeedTestCheck {
    let base = fake.base_url();
    let mut env = vec![
        ("SPEEDTEST_TARGET", "www.example.com"),
        ("SPEEDTEST_BASE_URL", base.as_str()),
        ("SPEEDTEST_MAX_TOTAL_MS", "1000"),
    ];
    env.extend_from_slice(extra);
    SpeedTestCheck::read(&Env::from_pairs(env)).expect("settings")
}

async fn run(check: &SpeedTestCheck) -> CheckResult {
    check
        .run(&tick(), &Default::default(), far_deadline())
        .await
        .remove(0)
}

fn measured(result: &CheckResult) -> &SpeedTestMeasurement {
    match &result.measurement {
        Measurement::SpeedTest(m) => m,
        other => panic!("not a speed test: {other:?}"),
    }
}

fn five_nodes() -> Vec<FakeNode> {
    vec![
        FakeNode::new(1, 1, "江苏宿迁[电信]", 20, "212"),
        FakeNode::new(2, 3, "北京[联通]", 20, "180"),
        FakeNode::new(3, 4, "广东深圳[移动]", 20, "240"),
        FakeNode::new(4, 1, "浙江湖州[电信]", 20, "150"),
        FakeNode::new(5, 5, "香港[海外]", 20, "90"),
    ]
}

#[tokio::test]
async fn the_quorum_holds_back_a_single_slow_node() {
    let mut nodes = five_nodes();
    nodes[0].alltime = "3190".into();
    let fake = FakeChinaz::start(nodes).await;
    let result = run(&chinaz_check(&fake, &[])).await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
    let m = measured(&result);
    assert_eq!((m.nodes_measured, m.nodes_bad), (5, 1));
    assert_eq!(m.nodes[0].name, "江苏宿迁[电信]");
    assert_eq!(m.nodes[0].carrier, "电信");
    assert_eq!(m.nodes[0].total_ms, Some(3190));
    assert_eq!(m.nodes[0].connect_ms, Some(40));
}

#[tokio::test]
async fn three_bad_nodes_raise_one_alert_with_their_names_and_times() {
    let mut nodes = five_nodes();
    nodes[0].alltime = "3190".into();
    nodes[3].alltime = "2100毫秒".into();
    nodes[2].states = vec![0];
    let fake = FakeChinaz::start(nodes).await;
    let sent: Sent = Arc::default();
    let monitor = Monitor::new(
        Box::new(chinaz_check(&fake, &[])),
        vec![Box::new(Recorder::new("wecom", &sent))],
        Box::new(MemoryStore::default()),
        Policy::default(),
    );
    let report = monitor
        .tick(
            tick(),
            &Invocation::new("request-1", Duration::from_secs(10)),
        )
        .await;
    assert_eq!(report.results.len(), 1);
    assert_eq!(report.results[0].key, "speed-test:www.example.com");
    let recorded = sent.lock().unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].1.alerts.len(), 1, "one incident per target");
    let message = &recorded[0].1.alerts[0].message;
    assert!(
        message.starts_with("3/5 nodes bad: 电信 2, 移动 1; worst 广东深圳[移动] the node failed or timed out (state 0)"),
        "{message}"
    );
    assert!(
        message.contains(
            "浙江湖州[电信] total 2100 / connect 40 / download 60 ms (total 2100 ms > 1000 ms)"
        ),
        "{message}"
    );
    assert!(message.contains("江苏宿迁[电信] total 3190"), "{message}");
    assert_eq!(
        fake.attempts(&five_nodes()[2].guid),
        2,
        "a failed state is retried once"
    );
}

#[tokio::test]
async fn a_changed_page_is_a_monitor_error_not_a_slow_site() {
    let fake = FakeChinaz::start(five_nodes()).await;
    fake.change_the_page();
    let result = run(&chinaz_check(&fake, &[])).await;
    assert_eq!(result.health, Health::MonitorError);
    let message = &result.failure.as_ref().unwrap().message;
    assert!(
        message.starts_with("the speed-test page changed"),
        "{message}"
    );
    assert!(message.contains("globalping"), "{message}");
    assert_eq!(fake.node_requests(), 0);
}

#[tokio::test]
async fn replies_that_cannot_be_read_from_most_nodes_are_a_monitor_error() {
    let mut nodes = five_nodes();
    for node in nodes.iter_mut().take(3) {
        node.raw_reply = Some("<html>please enable JavaScript</html>".into());
    }
    let fake = FakeChinaz::start(nodes).await;
    let result = run(&chinaz_check(&fake, &[])).await;
    assert_eq!(result.health, Health::MonitorError);
    assert!(
        result
            .failure
            .unwrap()
            .message
            .contains("3 of 5 node replies cannot be read")
    );
}

#[tokio::test]
async fn odd_values_are_read_and_timeouts_are_bad() {
    let mut nodes = five_nodes();
    nodes[0].alltime = "<1".into();
    nodes[1].alltime = "超时".into();
    nodes[2].conntime = "n/a".into();
    let fake = FakeChinaz::start(nodes).await;
    let result = run(&chinaz_check(&fake, &[("SPEEDTEST_MIN_BAD_NODES", "1")])).await;
    let m = measured(&result);
    assert_eq!(m.nodes[0].total_ms, Some(0));
    assert_eq!(m.nodes[1].error.as_deref(), Some("timed out (超时)"));
    // A time that cannot be read is an unreadable reply, never a good node.
    assert!(
        m.nodes[2]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("unreadable") && e.contains("conntime")),
        "{:?}",
        m.nodes[2]
    );
    assert_eq!(m.nodes_bad, 2);
    assert_eq!(result.health, Health::Failing);
}

#[tokio::test]
async fn the_concurrency_bound_is_never_exceeded() {
    let nodes: Vec<FakeNode> = (0..24)
        .map(|i| FakeNode::new(i, 1, &format!("节点{i}[电信]"), 100, "100"))
        .collect();
    let fake = FakeChinaz::start(nodes).await;
    let result = run(&chinaz_check(&fake, &[("SPEEDTEST_CONCURRENCY", "4")])).await;
    assert_eq!(measured(&result).nodes_measured, 24);
    assert_eq!(fake.most_in_flight(), 4);
    // Results keep the page's order.
    let names: Vec<&str> = measured(&result)
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names[0], "节点0[电信]");
    assert_eq!(names[23], "节点23[电信]");
}

#[tokio::test]
async fn the_node_filter_picks_nodes_by_name_or_guid() {
    let fake = FakeChinaz::start(five_nodes()).await;
    let guid = five_nodes()[1].guid.clone();
    let filter = format!("电信,{guid}");
    let result = run(&chinaz_check(&fake, &[("SPEEDTEST_NODES", &filter)])).await;
    let names: Vec<&str> = measured(&result)
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["江苏宿迁[电信]", "北京[联通]", "浙江湖州[电信]"]
    );
    let nothing = run(&chinaz_check(&fake, &[("SPEEDTEST_NODES", "火星")])).await;
    assert_eq!(nothing.health, Health::MonitorError);
}

#[tokio::test]
async fn a_slow_node_times_out_on_its_own() {
    let mut nodes = five_nodes();
    nodes[4].delay = Duration::from_secs(5);
    let fake = FakeChinaz::start(nodes).await;
    let result = run(&chinaz_check(
        &fake,
        &[("SPEEDTEST_NODE_TIMEOUT_MS", "300")],
    ))
    .await;
    let m = measured(&result);
    assert_eq!(m.nodes[4].error.as_deref(), Some("timed out"));
    assert_eq!(m.nodes_bad, 1);
}

fn globalping_check(fake: &FakeGlobalping, extra: &[(&str, &str)]) -> SpeedTestCheck {
    let base = fake.base_url();
    let mut env = vec![
        ("SPEEDTEST_PROVIDER", "globalping"),
        ("SPEEDTEST_TARGET", "https://www.example.com/health"),
        ("GLOBALPING_BASE_URL", base.as_str()),
        ("GLOBALPING_LOCATIONS", "CN,Europe"),
        ("GLOBALPING_LIMIT", "4"),
        ("SPEEDTEST_MAX_TOTAL_MS", "1000"),
    ];
    env.extend_from_slice(extra);
    SpeedTestCheck::read(&Env::from_pairs(env)).expect("settings")
}

fn probes() -> Vec<serde_json::Value> {
    vec![
        probe("Shanghai", "CN", "China Telecom", "finished", Some(212)),
        probe("Beijing", "CN", "China Unicom", "failed", None),
        probe("Frankfurt", "DE", "Deutsche Telekom", "finished", Some(95)),
        probe("Paris", "FR", "Orange", "offline", None),
    ]
}

#[tokio::test]
async fn globalping_polls_until_finished_and_maps_every_probe() {
    let fake = FakeGlobalping::start(probes(), 2).await;
    let result = run(&globalping_check(&fake, &[])).await;
    let m = measured(&result);
    assert_eq!(m.provider, "globalping");
    assert_eq!(m.nodes_measured, 4);
    assert_eq!(m.nodes[0].name, "Shanghai, CN");
    assert_eq!(m.nodes[0].carrier, "China Telecom");
    assert_eq!(
        (
            m.nodes[0].status,
            m.nodes[0].total_ms,
            m.nodes[0].connect_ms
        ),
        (Some(200), Some(212), Some(70))
    );
    assert!(
        m.nodes[1]
            .error
            .as_deref()
            .unwrap()
            .starts_with("the probe's request failed")
    );
    assert_eq!(m.nodes[3].error.as_deref(), Some("the probe is offline"));
    assert_eq!(
        result.health,
        Health::Failing,
        "two bad probes meet the quorum of 2"
    );
    let (body, authorization) = &fake.created()[0];
    assert_eq!(body["target"], "www.example.com");
    assert_eq!(body["measurementOptions"]["request"]["path"], "/health");
    assert_eq!(
        body["locations"],
        serde_json::json!([{"country": "CN"}, {"magic": "Europe"}])
    );
    assert_eq!(authorization, &None);
    let polls = fake.polls();
    assert_eq!(polls.len(), 3, "two in-progress answers, then finished");
    for pair in polls.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(500),
            "polled faster than every 500 ms"
        );
    }
}

#[tokio::test]
async fn globalping_rate_limits_are_waited_out_when_the_reset_comes_before_the_deadline() {
    let fake = FakeGlobalping::start(probes(), 0).await;
    // 499 of the hour's 500 probes are spent; the window resets in a second.
    fake.spend(499, Duration::from_secs(1));
    let result = run(&globalping_check(
        &fake,
        &[("GLOBALPING_TOKEN", "gp-token-secret")],
    ))
    .await;
    assert_eq!(measured(&result).nodes_measured, 4, "{result:?}");
    let (status, headers) = &fake.refused()[0];
    assert_eq!(*status, 429);
    assert!(
        headers.get("retry-after").is_none(),
        "the POST limiter sends no Retry-After"
    );
    assert_eq!(headers["x-ratelimit-reset"], "1");
    assert_eq!(
        fake.created()[0].1.as_deref(),
        Some("Bearer gp-token-secret")
    );
    assert!(
        !serde_json::to_string(&result)
            .unwrap()
            .contains("gp-token-secret")
    );
}

#[tokio::test]
async fn a_globalping_limit_that_resets_after_the_deadline_is_reported_at_once() {
    let limited = FakeGlobalping::start(probes(), 0).await;
    limited.spend(249, Duration::from_secs(3600));
    let started = std::time::Instant::now();
    let result = run(&globalping_check(&limited, &[])).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "no waiting for an hour"
    );
    assert_eq!(result.health, Health::MonitorError);
    let message = result.failure.unwrap().message;
    assert!(
        message.contains("resets in 3600 s") && message.contains("GLOBALPING_TOKEN"),
        "{message}"
    );
    assert!(limited.created().is_empty());
}

#[tokio::test]
async fn globalping_locations_ports_and_queries_reach_the_api_as_it_expects_them() {
    let fake = FakeGlobalping::start(probes(), 0).await;
    let result = run(&globalping_check(
        &fake,
        &[
            (
                "SPEEDTEST_TARGET",
                "https://www.example.com:8443/health?deep=1",
            ),
            ("GLOBALPING_LOCATIONS", "AS,country:AS,CN,Europe"),
        ],
    ))
    .await;
    assert_eq!(measured(&result).nodes_measured, 4, "{result:?}");
    let (body, _) = &fake.created()[0];
    assert_eq!(
        body["locations"],
        serde_json::json!([{"continent": "AS"}, {"country": "AS"}, {"country": "CN"}, {"magic": "Europe"}])
    );
    assert_eq!(body["measurementOptions"]["port"], 8443);
    assert_eq!(body["measurementOptions"]["request"]["query"], "deep=1");
    // A continent written as a country is refused by the API, as by the fake.
    let refused = run(&globalping_check(
        &fake,
        &[("GLOBALPING_LOCATIONS", "country:EU")],
    ))
    .await;
    assert_eq!(refused.health, Health::MonitorError);
    assert!(
        refused.failure.unwrap().message.contains("HTTP 400"),
        "the fake refuses what Globalping refuses"
    );
}

#[tokio::test]
async fn locally_the_binary_prints_the_node_table_and_the_report() {
    let fake = FakeChinaz::start(five_nodes()).await;
    let base = fake.base_url();
    let state = tempfile::tempdir().expect("a temporary folder");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_speed-test"))
        .env_clear()
        .env("STATE_FILE", state.path().join("state.json"))
        .env("SPEEDTEST_TARGET", "www.example.com")
        .env("SPEEDTEST_BASE_URL", &base)
        .output()
        .await
        .expect("run speed-test");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("node") && stderr.contains("carrier") && stderr.contains("download"),
        "{stderr}"
    );
    assert!(
        stderr.contains("江苏宿迁[电信]") && stderr.contains("212"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["function"], "speed-test");
    assert_eq!(report["results"][0]["measurement"]["nodes_measured"], 5);
}

/// A deadline no check here comes near.
fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(600)
}
