//! `lookout.yaml`: monitors judged by their own conditions, alerts routed to their own channels,
//! `every`, removed monitors, malformed files, and a file of 2,000 monitors under Lambda's limits.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use lookout::alerting::state::StateStore;
use lookout::alerting::state::memory::MemoryStore;
use lookout::checks::{self, CheckType};
use lookout::config::Env;
use lookout::monitor::{Invocation, Monitor};
use lookout::report::Report;
use lookout::setup::file::{self, FileError};
use lookout::tick::Tick;
use serde_json::Value;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::wecom::FakeWeCom;

const SITE: &CheckType = &checks::site::TYPE;

fn write(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("lookout.yaml");
    std::fs::write(&path, text).expect("write lookout.yaml");
    path.to_string_lossy().into_owned()
}

async fn assemble(env: &[(&str, &str)], store: &Arc<dyn StateStore>) -> Monitor {
    let env = Env::from_pairs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    match lookout::function::assemble(SITE, &env, Arc::clone(store)).await {
        Ok(monitor) => monitor,
        Err(error) => panic!("the file should be valid: {error}"),
    }
}

/// A scheduled tick at `time`.
fn tick_at(time: DateTime<Utc>) -> Tick {
    let stamp = time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Tick::from_event(
        &scheduled_event(&format!("tick-{stamp}"), &stamp),
        "request",
        time,
    )
}

async fn run(monitor: &Monitor, time: DateTime<Utc>) -> Report {
    monitor
        .tick(
            tick_at(time),
            &Invocation::new(format!("invocation-{time}"), Duration::from_secs(60)),
        )
        .await
}

/// The minute an hour ago, on a five-minute boundary, so a `5m` monitor is due on its first tick.
fn aligned_start() -> DateTime<Utc> {
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    hour_ago
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .expect("a whole hour")
}

fn texts(robot: &FakeWeCom) -> Vec<String> {
    robot
        .accepted()
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
}

#[tokio::test]
async fn each_monitor_has_its_own_conditions_and_each_alert_reaches_exactly_its_channels() {
    let (site, _) = support::site::start().await;
    let robot_a = FakeWeCom::start("key-a").await;
    let robot_b = FakeWeCom::start("key-b").await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = write(
        &dir,
        &format!(
            r#"
defaults:
  channels: [robot-a, robot-b]
  language: en
channels:
  robot-a: {{type: wecom, webhook_url: "${{ROBOT_A}}"}}
  robot-b: {{type: wecom, webhook_url: "${{ROBOT_B}}"}}
monitors:
  - {{name: shop, type: site, url: "http://{site}/ok", keyword: "Welcome to lookout", retries: 0}}
  - {{name: blog, type: site, url: "http://{site}/ok", keyword: "Add to cart", retries: 0, channels: [robot-b]}}
  - name: legacy
    type: site
    url: "http://{site}/status/201"
    expected_status: "200"
    retries: 0
  - {{name: api, type: site, url: "http://{site}/status/201", expected_status: [201, 204], retries: 0, channels: [robot-a]}}
"#
        ),
    );
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let env = [
        ("LOOKOUT_CONFIG", path.as_str()),
        ("ROBOT_A", &robot_a.url()),
        ("ROBOT_B", &robot_b.url()),
    ];
    let monitor = assemble(&env, &store).await;
    // Robot B refuses everything on the first tick.
    robot_b.answer_next(93000, 1);

    let start = aligned_start();
    let report = run(&monitor, start).await;
    let health: Vec<(String, Option<&str>)> = report
        .results
        .iter()
        .map(|r| (r.key.clone(), r.failure.as_ref().map(|f| f.kind)))
        .collect();
    assert_eq!(
        health,
        vec![
            ("site:shop".to_owned(), None),
            ("site:blog".to_owned(), Some("keyword")),
            ("site:legacy".to_owned(), Some("status")),
            ("site:api".to_owned(), None),
        ],
        "each monitor judged by its own keyword and expected status"
    );
    // Messages name the file's keys, not the variables they stand for.
    let blog = report.results[1].failure.as_ref().expect("a failure");
    assert!(
        blog.message.contains("(keyword)") && !blog.message.contains("SITE_"),
        "{}",
        blog.message
    );
    let refused = report.deliveries[1].error.as_deref().unwrap_or_default();
    assert!(
        refused.contains("check webhook_url") && !refused.contains("WECOM_"),
        "{refused}"
    );
    let routed: Vec<(&str, Vec<String>)> = report
        .alerts
        .iter()
        .map(|a| (a.key.as_str(), a.channels.clone()))
        .collect();
    assert_eq!(
        routed,
        vec![
            ("site:blog", vec!["robot-b".to_owned()]),
            (
                "site:legacy",
                vec!["robot-a".to_owned(), "robot-b".to_owned()]
            ),
        ]
    );
    let outcomes: Vec<(String, String)> = report
        .deliveries
        .iter()
        .map(|d| (d.channel.clone(), format!("{:?}", d.outcome)))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("robot-a".to_owned(), "Delivered".to_owned()),
            ("robot-b".to_owned(), "Failed".to_owned()),
        ]
    );
    let a = texts(&robot_a);
    assert_eq!(a.len(), 1);
    assert!(a[0].contains("legacy") && !a[0].contains("blog"), "{a:?}");
    assert!(robot_b.accepted().is_empty());

    // A minute later robot B works: it is owed both alerts; robot A, which has them, hears nothing.
    let report = run(&monitor, start + chrono::Duration::minutes(1)).await;
    assert_eq!(texts(&robot_a).len(), 1, "robot A is not told twice");
    let b = texts(&robot_b);
    assert_eq!(b.len(), 1, "{report:?}");
    assert!(b[0].contains("legacy") && b[0].contains("blog"), "{b:?}");
    let channels: Vec<&str> = report
        .deliveries
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    assert_eq!(channels, vec!["robot-b"]);
}

#[tokio::test]
async fn a_monitor_checked_every_five_minutes_runs_on_the_due_ticks_only() {
    let (site, _) = support::site::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = write(
        &dir,
        &format!(
            "monitors:\n  - {{name: often, type: site, url: \"http://{site}/ok\"}}\n  - {{name: slow, type: site, url: \"http://{site}/ok\", every: 5m}}\n"
        ),
    );
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let monitor = assemble(&[("LOOKOUT_CONFIG", &path)], &store).await;
    let start = aligned_start();
    let mut slow_at = Vec::new();
    for minute in 0..12 {
        // EventBridge's time is the minute; a few seconds of delivery jitter changes nothing.
        let time =
            start + chrono::Duration::minutes(minute) + chrono::Duration::seconds(minute % 3);
        let report = run(&monitor, time).await;
        let keys: Vec<&str> = report.results.iter().map(|r| r.key.as_str()).collect();
        assert!(
            keys.contains(&"site:often"),
            "minute {minute}: {keys:?} {report:?}"
        );
        if keys.contains(&"site:slow") {
            slow_at.push(minute);
        }
    }
    assert_eq!(slow_at, vec![0, 5, 10]);
}

#[tokio::test]
async fn only_a_monitor_that_says_metrics_draws_its_own_and_every_tick_draws_the_totals() {
    let (site, _) = support::site::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = write(
        &dir,
        &format!(
            "monitors:\n  - {{name: drawn, type: site, url: \"http://{site}/ok\", metrics: true}}\n  - {{name: quiet, type: site, url: \"http://{site}/ok\"}}\n"
        ),
    );
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let monitor = assemble(&[("LOOKOUT_CONFIG", &path)], &store).await;
    let report = run(&monitor, aligned_start()).await;
    assert_eq!(report.results.len(), 2);
    let points: Vec<_> = report.points().collect();
    assert_eq!(
        points.len(),
        2,
        "the totals and the one monitor that says metrics"
    );
    assert_eq!(points[0].fields["MonitorsChecked"], 2);
    assert_eq!(points[1].fields["Url"], format!("http://{site}/ok"));
    assert!(report.metered.contains("site:drawn") && !report.metered.contains("site:quiet"));
}

#[tokio::test]
async fn a_removed_monitor_closes_its_incident_with_one_notice() {
    let (site, _) = support::site::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let both = format!(
        "monitors:\n  - {{name: shop, type: site, url: \"http://{site}/ok\"}}\n  - {{name: legacy, type: site, url: \"http://{site}/status/503\", retries: 0}}\n"
    );
    let path = write(&dir, &both);
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let start = aligned_start();
    let monitor = assemble(&[("LOOKOUT_CONFIG", &path)], &store).await;
    let report = run(&monitor, start).await;
    assert_eq!(report.alerts.len(), 1);
    assert_eq!(report.alerts[0].key, "site:legacy");

    // legacy leaves the file.
    write(
        &dir,
        &format!("monitors:\n  - {{name: shop, type: site, url: \"http://{site}/ok\"}}\n"),
    );
    let monitor = assemble(&[("LOOKOUT_CONFIG", &path)], &store).await;
    let report = run(&monitor, start + chrono::Duration::minutes(1)).await;
    let said: Vec<(&str, String)> = report
        .alerts
        .iter()
        .map(|a| (a.key.as_str(), format!("{:?}", a.state)))
        .collect();
    assert_eq!(said, vec![("site:legacy", "Retired".to_owned())]);
    for minute in 2..5 {
        let report = run(&monitor, start + chrono::Duration::minutes(minute)).await;
        assert!(
            report.alerts.is_empty(),
            "minute {minute}: {:?}",
            report.alerts
        );
    }
}

/// A valid file to break, line by line.
const VALID: &str = r#"defaults:
  channels: [ops]
  failure_threshold: 2
channels:
  ops: {type: wecom, webhook_url: "${WEBHOOK}"}
monitors:
  - name: shop
    type: site
    url: https://shop.example.com/
    keyword: Add to cart
"#;

fn load(text: &str, env: &[(&str, &str)]) -> Result<file::LookoutFile, FileError> {
    let mut pairs = vec![(
        "WEBHOOK".to_owned(),
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc".to_owned(),
    )];
    pairs.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    file::load("lookout.yaml", text, &Env::from_pairs(pairs))
}

#[test]
fn a_valid_file_reads_into_monitors_and_channels() {
    let file = load(VALID, &[]).expect("valid");
    let monitors = file.monitors.expect("monitors");
    assert_eq!(monitors.len(), 1);
    let shop = &monitors[0];
    assert_eq!((shop.name.as_str(), shop.kind.name), ("shop", "site"));
    assert_eq!(shop.env.get("SITE_KEYWORD"), Some("Add to cart"));
    assert_eq!(shop.policy.failure_threshold, 2);
    assert_eq!(shop.channels, vec!["ops".to_owned()]);
    let channels = file.channels.expect("channels");
    assert_eq!(channels[0].name, "ops");
}

#[test]
fn a_monitor_says_whether_it_draws_metrics_and_is_on_the_status_page() {
    let text = VALID
        .replace("  failure_threshold: 2\n", "  failure_threshold: 2\n  metrics: true\n")
        .replace(
            "    keyword: Add to cart\n",
            "    keyword: Add to cart\n    public: true\n    group: Shop 商店\n  - name: blog\n    type: site\n    url: https://blog.example.com/\n    metrics: false\n",
        );
    let monitors = load(&text, &[]).expect("valid").monitors.expect("monitors");
    let shown: Vec<_> = monitors.iter().map(|m| m.shown.clone()).collect();
    assert!(
        shown[0].metrics && shown[0].public,
        "defaults.metrics reaches it"
    );
    assert_eq!(shown[0].group.as_deref(), Some("Shop 商店"));
    assert!(!shown[1].metrics && !shown[1].public && shown[1].group.is_none());
    let error = load(
        &VALID.replace(
            "    keyword: Add to cart\n",
            "    keyword: Add to cart\n    public: sometimes\n",
        ),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("lookout.yaml:11:13")
            && error.contains("`public`")
            && error.contains("not true or false"),
        "{error}"
    );
    let error = load(
        &VALID.replace(
            "  failure_threshold: 2\n",
            "  failure_threshold: 2\n  metrics: lots\n",
        ),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("lookout.yaml:4:12") && error.contains("`defaults`"),
        "{error}"
    );
}

/// A broken file, the variables it is read with, where the error must point, and words it must say.
type Case = (
    String,
    &'static [(&'static str, &'static str)],
    (usize, usize),
    &'static str,
);

#[test]
fn every_malformed_file_gets_its_own_message_with_line_and_column() {
    let replace = |from: &str, to: &str| {
        assert!(VALID.contains(from), "{from}");
        VALID.replacen(from, to, 1)
    };
    let cases: Vec<Case> = vec![
        (
            replace("keyword: Add to cart", "keyword: [Add"),
            &[],
            (11, 1),
            "not valid YAML",
        ),
        (
            "- just\n- a list\n".into(),
            &[],
            (1, 1),
            "the file is a list",
        ),
        (
            replace("monitors:", "monitor:"),
            &[],
            (6, 1),
            "did you mean `monitors`",
        ),
        (
            replace("keyword:", "keywrod:"),
            &[],
            (10, 5),
            "did you mean `keyword`",
        ),
        (replace("name: shop", "name:"), &[], (7, 5), "has no `name`"),
        (
            replace("name: shop", "name: my shop"),
            &[],
            (7, 11),
            "is not a name",
        ),
        (
            format!("{VALID}  - {{name: shop, type: site, url: https://b.example.com/}}\n"),
            &[],
            (11, 6),
            "named twice",
        ),
        (
            replace("type: site", "type: ping"),
            &[],
            (8, 11),
            "not a check lookout has",
        ),
        (
            replace("channels: [ops]", "channels: ops"),
            &[],
            (2, 13),
            "takes a list of channel names",
        ),
        (
            replace("channels: [ops]", "channels: [ops, pager]"),
            &[],
            (2, 19),
            "\"pager\", which is not defined",
        ),
        (
            replace("keyword: Add to cart", "keyword: [a, b]"),
            &[],
            (10, 14),
            "takes a single value",
        ),
        (
            replace("keyword: Add to cart", "expected_status: \"abc\""),
            &[],
            (10, 22),
            "`expected_status`: \"abc\" is not valid",
        ),
        (
            replace("${WEBHOOK}", "${NO_SUCH_VARIABLE}"),
            &[],
            (5, 35),
            "${NO_SUCH_VARIABLE}, which is not set",
        ),
        (
            replace("keyword: Add to cart", "every: 90s"),
            &[],
            (10, 12),
            "not whole minutes",
        ),
        (
            replace("keyword: Add to cart", "every: 5 minutes"),
            &[],
            (10, 12),
            "unit lookout does not know",
        ),
        (
            replace("type: wecom,", "type: pager,"),
            &[],
            (5, 15),
            "not a channel lookout has",
        ),
        (
            replace(", webhook_url: \"${WEBHOOK}\"", ""),
            &[],
            (5, 9),
            "sets none of its keys",
        ),
        (
            replace("failure_threshold: 2", "failure_threshold: 0"),
            &[],
            (3, 22),
            "`failure_threshold`",
        ),
        (
            replace("  failure_threshold: 2\n", "  channels: [ops]\n"),
            &[],
            (3, 3),
            "given twice",
        ),
        (
            replace("    url: https://shop.example.com/\n", ""),
            &[],
            (7, 5),
            "`url` is not set",
        ),
        (
            VALID.into(),
            &[("SITE_KEYWORD", "Buy")],
            (7, 3),
            "SITE_KEYWORD is set",
        ),
        (
            replace("keyword: Add to cart", "url: x"),
            &[],
            (10, 5),
            "`url` is given twice",
        ),
        (
            replace("    keyword: Add to cart\n", "    quiet_hours: 23-07\n"),
            &[],
            (10, 18),
            "`quiet_hours`",
        ),
        (
            "monitors:\n  shop: {type: site}\n".into(),
            &[],
            (2, 3),
            "`monitors` is a mapping",
        ),
        (
            replace("keyword: Add to cart", "keyword: &k x"),
            &[],
            (10, 17),
            "anchors",
        ),
    ];
    assert!(cases.len() >= 15);
    let mut messages = Vec::new();
    let mut wrong = Vec::new();
    for (text, env, (line, column), words) in cases {
        let error = match std::panic::catch_unwind(|| load(&text, env)) {
            Ok(Ok(_)) => panic!("accepted:\n{text}"),
            Ok(Err(error)) => error,
            Err(_) => panic!("panicked on:\n{text}"),
        };
        let shown = error.to_string();
        if !shown.contains(words) || (error.at.line, error.at.column) != (line, column) {
            wrong.push(format!("expected {line}:{column} {words:?}, got {shown}"));
        }
        assert!(
            shown.starts_with(&format!("lookout.yaml:{}: ", error.at)),
            "{shown}"
        );
        assert!(!shown.contains("key=abc"), "a secret in {shown}");
        messages.push(shown);
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let distinct: std::collections::HashSet<&String> = messages.iter().collect();
    assert_eq!(distinct.len(), messages.len(), "{messages:#?}");
}

#[test]
fn a_missing_file_named_by_lookout_config_is_an_error_and_no_file_is_none() {
    let env = Env::from_pairs([("LOOKOUT_CONFIG", "/nonexistent/lookout.yaml")]);
    let error = file::from_env(&env).unwrap_err().to_string();
    assert!(
        error.contains("/nonexistent/lookout.yaml:1:1: could not be read"),
        "{error}"
    );
    // Without LOOKOUT_CONFIG, no lookout.yaml in the working directory means variables alone.
    assert!(!std::path::Path::new(file::DEFAULT_PATH).exists());
    assert!(file::from_env(&Env::default()).unwrap().is_none());
}

#[test]
fn the_example_file_is_valid() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/lookout.example.yaml"))
            .expect("lookout.example.yaml");
    // db-1's keys are read at start: real ones, made for the test.
    let keys = tempfile::tempdir().unwrap();
    let client = support::sshd::key_pair(keys.path(), "client", "ed25519", "");
    let server = support::sshd::key_pair(keys.path(), "server", "ed25519", "");
    let env = Env::from_pairs([
        (
            "WECOM_WEBHOOK_URL",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=example",
        ),
        ("TENCENTCLOUD_SECRET_ID", "AKIDexample"),
        ("TENCENTCLOUD_SECRET_KEY", "example"),
        ("WEB1_PING_TOKEN", "example-token-web-1"),
        ("BACKUP_PING_TOKEN", "example-token-backup"),
        ("DB1_SSH_KEY", client.private.as_str()),
        ("DB1_HOST_KEY", server.public.as_str()),
    ]);
    let file = file::load("lookout.example.yaml", &text, &env).unwrap_or_else(|e| panic!("{e}"));
    let kinds: std::collections::BTreeSet<&str> = file
        .monitors
        .iter()
        .flatten()
        .map(|m| m.kind.name)
        .collect();
    assert_eq!(
        kinds.len(),
        checks::CHECK_TYPES.len(),
        "the example shows every check type"
    );
}

#[tokio::test]
async fn a_file_of_two_thousand_monitors_runs_under_lambdas_limits() {
    let (site, hits) = support::site::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut text = String::from("monitors:\n");
    for n in 0..2000 {
        let path = if n % 500 == 7 { "status/503" } else { "ok" };
        text.push_str(&format!(
            "  - {{name: site-{n}, type: site, url: \"http://{site}/{path}?n={n}\", retries: 0}}\n"
        ));
    }
    let path = write(&dir, &text);
    let api = RuntimeApi::start().await;
    let state = dir.path().join("state.json");
    let state = state.to_string_lossy();
    // The environment stays small: the monitors are in the file, not in variables.
    let function = api
        .spawn(
            env!("CARGO_BIN_EXE_site-status"),
            &[("LOOKOUT_CONFIG", &path), ("STATE_FILE", &state)],
        )
        .await;
    let time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let outcome = api
        .invoke(
            scheduled_event("two-thousand", &time),
            Duration::from_secs(120),
        )
        .await;
    let Outcome::Response(report) = outcome else {
        panic!("{outcome:?}\n{}", function.stderr().await);
    };
    assert_eq!(report["summary"]["checked"], 2000, "{}", report["summary"]);
    assert_eq!(report["summary"]["failing"], 4);
    assert_eq!(hits.count(), 2000);
    assert!(hits.most_in_flight() <= 256, "{}", hits.most_in_flight());
    let keys: Vec<&str> = report["alerts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        vec![
            "site:site-7",
            "site:site-507",
            "site:site-1007",
            "site:site-1507"
        ]
    );
    let _: &Value = &report;
}

#[tokio::test]
async fn the_file_bundled_next_to_bootstrap_is_read_and_a_bad_one_stops_the_start() {
    let (site, _) = support::site::start().await;
    let api = RuntimeApi::start().await;
    std::fs::write(
        api.task_root().join("lookout.yaml"),
        format!("monitors:\n  - {{name: home, type: site, url: \"http://{site}/ok\"}}\n"),
    )
    .expect("bundle lookout.yaml");
    let _function = api.spawn(env!("CARGO_BIN_EXE_site-status"), &[]).await;
    let time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let Outcome::Response(report) = api
        .invoke(scheduled_event("bundled", &time), Duration::from_secs(30))
        .await
    else {
        panic!("the function failed");
    };
    assert_eq!(report["results"][0]["key"], "site:home");

    let api = RuntimeApi::start().await;
    std::fs::write(
        api.task_root().join("lookout.yaml"),
        "monitors:\n  - {name: home, type: site, url: \"http://x/\", keywrod: Welcome}\n",
    )
    .expect("bundle lookout.yaml");
    let function = api.spawn(env!("CARGO_BIN_EXE_site-status"), &[]).await;
    let (_, error) = api
        .init_error(Duration::from_secs(10))
        .await
        .expect("a start-up error");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("lookout.yaml:2:48: monitor \"home\" (type site) has an unknown key `keywrod`: did you mean `keyword`?"),
        "{message}"
    );
    assert!(function.exited(Duration::from_secs(10)).await.is_some());
}

/// The start-up error of site-status under the Runtime API emulator with `text` bundled as its
/// `lookout.yaml` and `env` set, and everything it printed.
async fn init_error_of(text: &str, env: &[(&str, &str)]) -> (String, String) {
    let api = RuntimeApi::start().await;
    std::fs::write(api.task_root().join("lookout.yaml"), text).expect("bundle lookout.yaml");
    let function = api.spawn(env!("CARGO_BIN_EXE_site-status"), env).await;
    let (_, error) = api
        .init_error(Duration::from_secs(20))
        .await
        .expect("a start-up error");
    assert!(function.exited(Duration::from_secs(10)).await.is_some());
    let printed = function.stop().await;
    (
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        printed,
    )
}

#[tokio::test]
async fn a_file_or_a_value_too_large_is_refused_at_start_saying_its_size_and_the_limit() {
    let monitor = "monitors:\n  - {name: home, type: site, url: \"http://127.0.0.1:9/\"}\n";
    let mut large = monitor.to_owned();
    while large.len() <= 1_100_000 {
        large.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let (error, _) = init_error_of(&large, &[]).await;
    assert!(
        error.contains("lookout.yaml:1:1: could not be read: it is 1075 KiB, more than the 1024 KiB lookout reads"),
        "{error}"
    );
    let long = format!(
        "monitors:\n  - {{name: home, type: site, url: \"http://127.0.0.1:9/{}\"}}\n",
        "a".repeat(9000)
    );
    let (error, _) = init_error_of(&long, &[]).await;
    assert!(
        error.contains(
            ":2:35: monitor \"home\": `url` is 9 KiB long, more than the 8 KiB a value may be"
        ),
        "{error}"
    );

    // A mapping of as many keys as 1 MiB holds is read (each key once, not against every other)
    // and refused at the first key the monitor does not take.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut keys = String::from(
        "monitors:\n  - name: home\n    type: site\n    url: http://127.0.0.1:9/\n    extra:\n",
    );
    let mut n = 0;
    while keys.len() < 1_040_000 {
        keys.push_str(&format!("      k{n}: v\n"));
        n += 1;
    }
    let path = write(&dir, &keys);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_site-status"))
        .arg("--check-config")
        .env_clear()
        .env("LOOKOUT_CONFIG", &path)
        .output()
        .expect("run");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && said.contains(":5:5: monitor \"home\" (type site) has an unknown key `extra`"),
        "{said}"
    );
}

#[tokio::test]
async fn every_part_and_every_escaped_form_of_a_secret_stays_out_of_start_up_errors() {
    // A value with a comma is a list of two URLs to site-status: the first part alone, which
    // holds the password, must not be quoted.
    let file = "monitors:\n  - {name: shop, type: site, url: \"${SHOP_URL}\"}\n";
    let (error, printed) = init_error_of(
        file,
        &[("SHOP_URL", "https://admin:Hunter2Secret,Tail@shop.example/")],
    )
    .await;
    assert!(error.contains("lookout.yaml:2:"), "{error}");
    for text in [&error, &printed] {
        assert!(!text.contains("Hunter2Secret"), "{text}");
        assert!(!text.contains("Tail@"), "{text}");
    }
    // Rust's `{:?}` escapes a control character and a zero-width space: the escaped form is
    // scrubbed as well as the raw one.
    let file = "monitors:\n  - {name: api, type: site, url: \"https://example.com/\", expected_status: \"${STATUS}\"}\n";
    for secret in ["s3cr\u{1}et-value-99", "s3cr\u{200b}et-value-98"] {
        let (error, printed) = init_error_of(file, &[("STATUS", secret)]).await;
        assert!(error.contains("`expected_status`"), "{error}");
        for text in [&error, &printed] {
            assert!(!text.contains("et-value-9"), "{text}");
        }
    }
}

#[test]
fn check_config_says_what_the_file_holds_or_where_it_is_wrong() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = write(
        &dir,
        "monitors:\n  - {name: home, type: site, url: \"https://example.com/\"}\n  - {name: speed, type: speed-test, target: example.com}\n",
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-lag"))
        .arg("--check-config")
        .env_clear()
        .env("LOOKOUT_CONFIG", &path)
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("valid: 2 monitors (site 1, speed-test 1)"),
        "{said}"
    );
    write(&dir, "monitors:\n  - {name: home, type: site}\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-lag"))
        .arg("--check-config")
        .env_clear()
        .env("LOOKOUT_CONFIG", &path)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains(":2:6: monitor \"home\": `url` is not set"),
        "{said}"
    );
}

#[test]
fn a_value_taken_from_a_variable_is_never_shown_in_an_error() {
    let text = "monitors:\n  - {name: api, type: site, url: \"https://example.com/\", expected_status: \"${STATUS_SECRET}\"}\n";
    let error = load(text, &[("STATUS_SECRET", "s3cr3t-value-77")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("`expected_status`"), "{error}");
    assert!(!error.contains("s3cr3t-value-77"), "{error}");
}

#[tokio::test]
async fn defaults_reach_the_channels_that_come_from_variables() {
    let (site, _) = support::site::start().await;
    let robot = FakeWeCom::start("key-env").await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = write(
        &dir,
        &format!(
            "defaults:\n  language: en\nmonitors:\n  - {{name: down, type: site, url: \"http://{site}/status/500\", retries: 0, channels: [wecom]}}\n"
        ),
    );
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let monitor = assemble(
        &[
            ("LOOKOUT_CONFIG", &path),
            ("WECOM_WEBHOOK_URL", &robot.url()),
        ],
        &store,
    )
    .await;
    let report = run(&monitor, aligned_start()).await;
    assert_eq!(report.deliveries.len(), 1, "{report:?}");
    let sent = texts(&robot);
    assert!(
        sent[0].contains("lookout alert") && !sent[0].contains("告警"),
        "{sent:?}"
    );
}

#[tokio::test]
async fn a_file_of_channels_only_keeps_the_monitor_its_variables_describe() {
    let (site, _) = support::site::start().await;
    let robot = FakeWeCom::start("key-only").await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = write(
        &dir,
        "defaults:\n  channels: [ops]\nchannels:\n  ops: {type: wecom, webhook_url: \"${OPS}\"}\n",
    );
    let down = format!("http://{site}/status/500");
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let monitor = assemble(
        &[
            ("LOOKOUT_CONFIG", &path),
            ("OPS", &robot.url()),
            ("SITE_URLS", &down),
            ("SITE_RETRIES", "0"),
        ],
        &store,
    )
    .await;
    let report = run(&monitor, aligned_start()).await;
    assert_eq!(report.results[0].key, format!("site-status:{down}"));
    let channels: Vec<&str> = report
        .deliveries
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    assert_eq!(channels, vec!["ops"]);
    assert_eq!(texts(&robot).len(), 1);
}

/// Heartbeat monitors and maintenance windows in the file: both shapes of window read, and every
/// bad value is refused at its own line and column, never showing the token.
#[test]
fn heartbeat_monitors_and_maintenance_windows_read_and_bad_ones_point_at_the_key() {
    let token = "s3cr3t-token-0123456789";
    let env = [("WEB1_TOKEN", token)];
    let text = r#"defaults:
  maintenance: ["23:50-00:10"]
monitors:
  - name: web-1
    type: heartbeat
    token: "${WEB1_TOKEN}"
    period: 1m
    grace: 30s
    maintenance:
      - "04:00-04:30"
      - {from: 2026-12-01T02:00+08:00, to: "2026-12-01T04:00+08:00"}
  - {name: backup, type: heartbeat, token: "${WEB1_TOKEN}", schedule: "0 2 * * *"}
"#;
    let file = load(text, &env).unwrap_or_else(|e| panic!("{e}"));
    let monitors = file.monitors.unwrap();
    assert_eq!(monitors[0].policy.maintenance.len(), 2);
    assert_eq!(monitors[1].policy.maintenance.len(), 1, "the default's");
    let at = |hour: u32, minute: u32| {
        use chrono::TimeZone;
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 12, 1, hour, minute, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    assert!(
        monitors[0].policy.in_maintenance(at(2, 30))
            && monitors[0].policy.in_maintenance(at(4, 10))
    );
    assert!(
        !monitors[0].policy.in_maintenance(at(23, 55))
            && monitors[1].policy.in_maintenance(at(23, 55))
    );
    let cases = [
        ("period: 1m", "period: 30s", (7, 13), "`period`"),
        ("grace: 30s", "grace: soon", (8, 12), "`grace`"),
        (
            "      - \"04:00-04:30\"",
            "      - \"04:00\"",
            (10, 7),
            "`maintenance`",
        ),
        (
            "to: \"2026-12-01T04:00+08:00\"",
            "until: \"2026-12-01T04:00+08:00\"",
            (11, 40),
            "unknown key `until`",
        ),
        (
            "schedule: \"0 2 * * *\"",
            "schedule: \"0 2 * *\"",
            (12, 71),
            "`schedule`",
        ),
        (
            "token: \"${WEB1_TOKEN}\"\n    period",
            "token: \"${WEB1_TOKEN}\"\n    schedule: \"0 2 * * *\"\n    period",
            (7, 15),
            "not both",
        ),
    ];
    each_points_at_its_key(text, &env, token, &cases);
    let short = load(text, &[("WEB1_TOKEN", "short")])
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("`token`") && short.contains("<redacted>") && !short.contains("\"short\""),
        "{short}"
    );
}

#[test]
fn agent_monitors_read_and_bad_limits_names_and_hosts_point_at_the_key() {
    let token = "s3cr3t-agent-token-0123456789";
    let env = [("WEB1_TOKEN", token)];
    let text = r#"monitors:
  - {name: web-1, type: heartbeat, token: "${WEB1_TOKEN}", period: 1m, cpu_max: 85, disk_max: 95, processes: [nginx, redis-server]}
  - {name: web-1-programs, type: supervisor, token: "${WEB1_TOKEN}", host: web-1}
"#;
    let file = load(text, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.monitors.unwrap().len(), 2);
    let cases = [
        ("cpu_max: 85", "cpu_max: 185", (2, 81), "`cpu_max`"),
        ("disk_max: 95", "disk_max: full", (2, 95), "`disk_max`"),
        (
            "[nginx, redis-server]",
            "[\"nginx; rm -rf /\"]",
            (2, 110),
            "`processes`",
        ),
        (
            "host: web-1}",
            "host: web-2}",
            (3, 76),
            "host \"web-2\" is not a monitor of type heartbeat: name the host's heartbeat monitor (web-1)",
        ),
        (
            "host: web-1}",
            "host: web-1, cpu_max: 80}",
            (3, 83),
            "unknown key `cpu_max`",
        ),
    ];
    each_points_at_its_key(text, &env, token, &cases);
}

/// Each case (`from` replaced by `to` in `text`) is refused at its line and column, in words that
/// contain what it says, without the token.
fn each_points_at_its_key(
    text: &str,
    env: &[(&str, &str)],
    token: &str,
    cases: &[(&str, &str, (usize, usize), &str)],
) {
    for &(from, to, (line, column), words) in cases {
        assert!(text.contains(from), "{from}");
        let bad = text.replacen(from, to, 1);
        let error = load(&bad, env).expect_err(to);
        let shown = error.to_string();
        assert!(shown.contains(words), "{to}: {shown}");
        assert_eq!(
            (error.at.line, error.at.column),
            (line, column),
            "{to}: {shown}"
        );
        assert!(!shown.contains(token), "{shown}");
    }
}

#[test]
fn confirm_is_a_group_of_settings_and_each_channel_says_whether_it_takes_degraded_monitors() {
    let text = r#"channels:
  ops: {type: wecom, webhook_url: "${WEBHOOK}"}
  pager: {type: sms, sdk_app_id: "1400000000", sign_name: lookout, template_id: "123456", phone_numbers: ["+8613800000000"]}
  quiet: {type: wecom, webhook_url: "${WEBHOOK}", degraded: false}
  loud: {type: sms, sdk_app_id: "1400000000", sign_name: lookout, template_id: "123456", phone_numbers: ["+8613800000000"], degraded: true}
monitors:
  - name: shop
    type: site
    url: https://shop.example.com/
    confirm: {from: globalping, locations: [CN, Europe, "North America"], probes: 5, quorum: 3}
  - {name: db, type: tcp, address: "db.example.com:5432", confirm: {probes: 3}}
"#;
    let file = load(
        text,
        &[
            ("TENCENTCLOUD_SECRET_ID", "id"),
            ("TENCENTCLOUD_SECRET_KEY", "key"),
        ],
    )
    .expect("valid");
    let monitors = file.monitors.expect("monitors");
    assert_eq!(
        monitors[0].env.get("SITE_CONFIRM"),
        Some("from=globalping;locations=CN|Europe|North America;probes=5;quorum=3")
    );
    assert_eq!(monitors[1].env.get("TCP_CONFIRM"), Some("probes=3"));
    let policy = &monitors[0].policy;
    let takes: Vec<bool> = ["ops", "pager", "quiet", "loud"]
        .iter()
        .map(|c| policy.takes_degraded(c))
        .collect();
    assert_eq!(
        takes,
        [true, false, false, true],
        "SMS is off unless it says so"
    );

    for (replaced, with, at, said) in [
        (
            "confirm: {probes: 3}",
            "confirm: {probes: 3, quorum: 4}",
            (11, 69),
            "quorum 4 is more than the 3 probes asked for",
        ),
        (
            "confirm: {probes: 3}",
            "confirm: yes",
            (11, 68),
            "it takes a mapping of settings",
        ),
        (
            "confirm: {probes: 3}",
            "confirm: {from: pingdom}",
            (11, 69),
            "not a prober lookout has",
        ),
        (
            "degraded: false}",
            "degraded: maybe}",
            (4, 61),
            "not true or false",
        ),
    ] {
        let bad = text.replacen(replaced, with, 1);
        let error = load(
            &bad,
            &[
                ("TENCENTCLOUD_SECRET_ID", "id"),
                ("TENCENTCLOUD_SECRET_KEY", "key"),
            ],
        )
        .expect_err(with)
        .to_string();
        assert!(error.contains(said), "{with}: {error}");
        assert!(
            error.contains(&format!("lookout.yaml:{}:{}", at.0, at.1)),
            "{with}: {error}"
        );
    }
}

#[test]
fn defaults_take_the_stacks_own_settings_and_refuse_a_short_ping_key() {
    let text = r#"defaults:
  canary: https://www.example.com/
  ping_key: "${PING_KEY}"
monitors:
  - {name: backup, type: heartbeat, token: "${TOKEN}", methods: post, success_keywords: [OK], slug: nightly}
"#;
    let env = [
        ("PING_KEY", "pk-0123456789abcdef"),
        ("TOKEN", "tk-0123456789abcdef"),
    ];
    let file = load(text, &env).expect("valid");
    assert_eq!(
        file.defaults.get("HEARTBEAT_PING_KEY"),
        Some("pk-0123456789abcdef")
    );
    let error = load(
        text,
        &[("PING_KEY", "short"), ("TOKEN", "tk-0123456789abcdef")],
    )
    .expect_err("a short key")
    .to_string();
    assert!(
        error.contains("lookout.yaml:3:13") && error.contains("ping_key"),
        "{error}"
    );
    assert!(!error.contains("short\""), "the key is not shown: {error}");
    let twice = text.replace(
        "slug: nightly}",
        "slug: nightly}\n  - {name: nightly, type: heartbeat, token: \"tk-fedcba9876543210\"}",
    );
    // Two monitors with one slug stop the ingest and the heartbeat function at start.
    let file = load(&twice, &env).expect("the file itself reads");
    let error = lookout::checks::heartbeat::monitors(
        &file.defaults,
        file.declared(&lookout::checks::heartbeat::TYPE),
    )
    .expect_err("one slug twice")
    .to_string();
    assert!(error.contains("the same slug"), "{error}");
}
