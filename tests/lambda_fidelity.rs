//! The real binaries under Lambda's own limits and habits, through the strict emulator: blank
//! parameters, 1,024 descriptors, the deadline, asynchronous retries, event times far off.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};

const SITE: &str = env!("CARGO_BIN_EXE_site-status");
const WITHIN: Duration = Duration::from_secs(60);

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn report(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(report) => report,
        other => panic!("expected a report, got {other:?}"),
    }
}

#[tokio::test]
async fn a_blank_rust_log_parameter_logs_at_info_as_if_unset() {
    let (site, _) = support::site::start().await;
    let api = RuntimeApi::start().await;
    let url = format!("http://{site}/status/503");
    // RUST_LOG is left out, so the emulator passes it blank, as CloudFormation does.
    let function = api
        .spawn(SITE, &[("SITE_URLS", &url), ("SITE_RETRIES", "0")])
        .await;
    report(
        api.invoke(scheduled_event("blank-log", &now_rfc3339()), WITHIN)
            .await,
    );
    let stderr = function.stop().await;
    let lines: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v.get("level").is_some())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["message"] == "check finished"),
        "no INFO log line with RUST_LOG blank:\n{stderr}"
    );
}

#[tokio::test]
async fn events_from_1970_or_2999_are_ticks_of_the_clock_not_of_their_time() {
    let (site, _) = support::site::start().await;
    let api = RuntimeApi::start().await;
    let url = format!("http://{site}/status/503");
    let _function = api
        .spawn(SITE, &[("SITE_URLS", &url), ("SITE_RETRIES", "0")])
        .await;
    let first = report(
        api.invoke(scheduled_event("now", &now_rfc3339()), WITHIN)
            .await,
    );
    assert_eq!(first["alerts"][0]["step"], 1);
    for (id, far) in [
        ("future", "2999-01-01T00:00:00Z"),
        ("past", "1970-01-01T00:00:00Z"),
    ] {
        let later = report(api.invoke(scheduled_event(id, far), WITHIN).await);
        let time: chrono::DateTime<chrono::Utc> = later["tick"]["time"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("a tick time");
        assert!(
            (chrono::Utc::now() - time).num_seconds().abs() < 60,
            "{id}: the clock's time, not {time}"
        );
        assert_eq!(
            later["alerts"],
            serde_json::json!([]),
            "{id}: the incident is minutes old, no step is due"
        );
    }
}

/// A site-status function whose only channel is a fake WeCom robot; the robot and a failing URL.
async fn site_with_robot(
    api: &RuntimeApi,
) -> (support::lambda::Function, support::wecom::FakeWeCom) {
    let (site, _) = support::site::start().await;
    let robot = support::wecom::FakeWeCom::start("retry-robot-key").await;
    let url = format!("http://{site}/status/503");
    let function = api
        .spawn(
            SITE,
            &[
                ("SITE_URLS", &url),
                ("SITE_RETRIES", "0"),
                ("WECOM_WEBHOOK_URL", &robot.url()),
            ],
        )
        .await;
    (function, robot)
}

#[tokio::test]
async fn lambdas_retry_of_a_tick_whose_channel_failed_delivers_it_once() {
    let api = RuntimeApi::start().await;
    let (_function, robot) = site_with_robot(&api).await;
    robot.answer_next(93000, 1);
    let attempts = api
        .invoke_async(scheduled_event("retried", &now_rfc3339()), WITHIN)
        .await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        matches!(attempts[0], Outcome::Error(_)),
        "every channel failed: {attempts:?}"
    );
    let report = report(attempts[1].clone());
    assert_eq!(
        report["duplicate"], false,
        "an unfinished tick is not a duplicate"
    );
    assert_eq!(report["alerts"][0]["note"], "delivery_failed");
    assert_eq!(robot.accepted().len(), 1);
    assert!(api.dead_letters().await.is_empty());
    // The event delivered again later (EventBridge's at-least-once) is a finished tick now.
    let again = report_of(
        api.invoke(scheduled_event("retried", &now_rfc3339()), WITHIN)
            .await,
    );
    assert_eq!(again["duplicate"], true);
    assert_eq!(robot.accepted().len(), 1, "never twice");
}

fn report_of(outcome: Outcome) -> Value {
    report(outcome)
}

#[tokio::test]
async fn a_tick_that_fails_all_its_attempts_reaches_the_failure_destination() {
    let api = RuntimeApi::start().await;
    let (_function, robot) = site_with_robot(&api).await;
    robot.answer_next(93000, 3);
    let event = scheduled_event("doomed", &now_rfc3339());
    let attempts = api.invoke_async(event.clone(), WITHIN).await;
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(Outcome::failed), "{attempts:?}");
    assert_eq!(
        robot.requests(),
        3,
        "each attempt tried to deliver what it owed"
    );
    assert_eq!(api.dead_letters().await, vec![event]);
    // The next scheduled tick still owes the notice, and delivers it.
    let next = report(
        api.invoke(scheduled_event("next", &now_rfc3339()), WITHIN)
            .await,
    );
    assert_eq!(next["alerts"][0]["note"], "delivery_failed");
    assert_eq!(robot.accepted().len(), 1);
}

#[tokio::test]
async fn a_crash_between_claiming_and_sending_is_made_good_by_lambdas_retry() {
    let api = std::sync::Arc::new(RuntimeApi::start().await);
    let (function, robot) = site_with_robot(&api).await;
    robot.stall_next(1);
    let invoking = {
        let api = std::sync::Arc::clone(&api);
        tokio::spawn(async move {
            api.invoke_async(scheduled_event("crashed", &now_rfc3339()), WITHIN)
                .await
        })
    };
    // The notice is claimed and on its way when the process dies.
    while robot.requests() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    function.kill().await;
    let attempts = invoking.await.expect("the invocation task");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0], Outcome::Crash);
    let retried = report(attempts[1].clone());
    assert_eq!(retried["alerts"][0]["step"], 1);
    assert_eq!(retried["alerts"][0]["note"], "unconfirmed");
    assert_eq!(robot.accepted().len(), 1);
    assert_eq!(function.starts(), 2, "a new process after the crash");
}

#[tokio::test]
async fn a_silent_target_with_retries_is_answered_before_the_deadline_as_a_monitor_error() {
    let silent = support::site::silent_server().await;
    let api = RuntimeApi::start().await;
    api.set_timeout(Duration::from_secs(6)).await;
    let url = format!("http://{silent}/");
    // SITE_TIMEOUT_MS stays 10 s and SITE_RETRIES is 2: 30 s of trying against a 6 s timeout.
    let _function = api
        .spawn(SITE, &[("SITE_URLS", &url), ("SITE_RETRIES", "2")])
        .await;
    let outcome = api
        .invoke(scheduled_event("silent", &now_rfc3339()), WITHIN)
        .await;
    let report = report(outcome);
    let result = &report["results"][0];
    assert_eq!(result["health"], "monitor_error", "{result}");
    assert_eq!(result["failure"]["kind"], "monitor");
    assert!(
        result["failure"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("time ran out"),
        "{result}"
    );
    assert_eq!(report["alerts"][0]["state"], "monitor_error");
}

#[tokio::test]
async fn a_stalled_speed_test_node_is_answered_before_the_deadline_unmeasured() {
    use support::chinaz::{FakeChinaz, FakeNode};
    let mut nodes: Vec<FakeNode> = (1..=4)
        .map(|i| FakeNode::new(i, 1, &format!("节点{i}[电信]"), 20, "200"))
        .collect();
    nodes[3].delay = Duration::from_secs(120);
    let fake = FakeChinaz::start(nodes).await;
    let api = RuntimeApi::start().await;
    api.set_timeout(Duration::from_secs(6)).await;
    let base = fake.base_url();
    let _function = api
        .spawn(
            env!("CARGO_BIN_EXE_speed-test"),
            &[
                ("SPEEDTEST_TARGET", "www.example.com"),
                ("SPEEDTEST_BASE_URL", &base),
            ],
        )
        .await;
    let report = report(
        api.invoke(scheduled_event("stalled", &now_rfc3339()), WITHIN)
            .await,
    );
    let result = &report["results"][0];
    assert_eq!(result["health"], "monitor_error", "{result}");
    assert_eq!(result["measurement"]["nodes_measured"], 3);
    assert_eq!(
        result["measurement"]["nodes_bad"], 0,
        "unmeasured is not bad"
    );
    assert_eq!(result["measurement"]["nodes"][3]["unmeasured"], true);
}

#[tokio::test]
async fn two_thousand_healthy_urls_under_lambdas_descriptor_limit_are_all_up() {
    let (site, hits) = support::site::start().await;
    let urls: Vec<String> = (0..2000).map(|i| format!("http://{site}/?{i}")).collect();
    // 2,000 URLs are more than Lambda's 4 KB of variables: they come from the stack's secret.
    let moto = support::moto::Moto::start().await;
    let secret = serde_json::json!({"SITE_URLS": urls.join(",")}).to_string();
    let arn = moto.create_secret("lookout-many-urls", &secret).await;
    let api = RuntimeApi::start().await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("LOOKOUT_SECRET_ARN", arn));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = api.spawn(SITE, &pairs).await;
    let report = report(
        api.invoke(scheduled_event("many", &now_rfc3339()), WITHIN)
            .await,
    );
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 2000);
    let unhealthy: Vec<&Value> = results.iter().filter(|r| r["health"] != "ok").collect();
    assert!(
        unhealthy.is_empty(),
        "{} of 2000 not ok, e.g. {}",
        unhealthy.len(),
        unhealthy[0]
    );
    assert!(hits.most_in_flight() <= 256, "{}", hits.most_in_flight());
    assert!(report["alerts"].as_array().is_some_and(Vec::is_empty));
    drop(function);
}

#[tokio::test]
async fn running_out_of_descriptors_is_a_monitor_error_never_the_targets_fault() {
    let (site, _) = support::site::start().await;
    let urls: Vec<String> = (0..100).map(|i| format!("http://{site}/?{i}")).collect();
    let api = RuntimeApi::start().await;
    let joined = urls.join(",");
    // Fewer descriptors than checks in flight: some connections cannot even be opened.
    let _function = api
        .spawn_limited(
            SITE,
            &[
                ("SITE_URLS", &joined),
                ("SITE_CONCURRENCY", "100"),
                ("SITE_RETRIES", "0"),
            ],
            48,
        )
        .await;
    let report = report(
        api.invoke(scheduled_event("starved", &now_rfc3339()), WITHIN)
            .await,
    );
    let results = report["results"].as_array().expect("results");
    let starved: Vec<&Value> = results
        .iter()
        .filter(|r| r["health"] == "monitor_error")
        .collect();
    assert!(!starved.is_empty(), "the limit was reached");
    for result in &starved {
        assert!(
            result["failure"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("open files"),
            "{result}"
        );
    }
    assert!(
        results.iter().all(|r| r["health"] != "failing"),
        "never reported as the target being down"
    );
}
