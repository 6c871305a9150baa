//! `make bench`: speed, cold start, memory and size against the targets, as a table.
//!
//! Everything runs against the local fakes of `tests/support` on 127.0.0.1. Each figure is the
//! median of several runs, with min and max. No figure here is asserted: the machines are shared
//! and noisy, so the table is for people to read (and docs/performance.md keeps the last one).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lookout::alerting::render::Style;
use lookout::checks::Check;
use lookout::checks::kafka_lag::{KafkaLagCheck, KafkaLagSettings};
use lookout::checks::site::{SiteCheck, SiteSettings};
use lookout::checks::speedtest::SpeedTestCheck;
use lookout::config::Env;
use lookout::notify::sms::{SmsNotifier, SmsSettings};
use lookout::notify::wecom::{WeComNotifier, WeComSettings};
use lookout::notify::{Channel, Notifier, fan_out};
use lookout::retry::Backoff;
use lookout::tick::{Tick, TickSource};
use support::chinaz::{FakeChinaz, FakeNode};
use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::tencent::{self, FakeTencent, INSTANCE_ID, topic};
use support::wecom::FakeWeCom;

struct Row {
    figure: String,
    runs: Vec<f64>,
    unit: &'static str,
    /// The ideal the figure is compared with (ratio = median / ideal), if any.
    ideal: Option<f64>,
    target: String,
    /// Whether the median meets the target.
    pass: bool,
}

fn stats(runs: &[f64]) -> (f64, f64, f64) {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

fn ratio_row(figure: String, runs: Vec<f64>, ideal_ms: f64) -> Row {
    let (median, _, _) = stats(&runs);
    Row {
        figure,
        pass: median / ideal_ms <= 1.3,
        runs,
        unit: "ms",
        ideal: Some(ideal_ms),
        target: "ratio <= 1.3".into(),
    }
}

fn tick() -> Tick {
    Tick {
        id: "bench".into(),
        time: chrono::Utc::now(),
        source: TickSource::Schedule,
    }
}

async fn time_ms<F: std::future::Future>(work: F) -> f64 {
    let started = Instant::now();
    work.await;
    started.elapsed().as_secs_f64() * 1000.0
}

async fn site_status(rows: &mut Vec<Row>) {
    let (address, _) = support::site::start().await;
    let urls: Vec<String> = (0..50)
        .map(|i| format!("http://{address}/slow/200?n={i}"))
        .collect();
    let env = Env::from_pairs([("SITE_URLS", urls.join(",")), ("SITE_RETRIES", "0".into())]);
    let check =
        SiteCheck::new(lookout::config::read::settings::<SiteSettings>(&env).expect("settings"))
            .expect("client");
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(time_ms(check.run(&tick(), &Default::default(), far_deadline())).await);
    }
    rows.push(ratio_row(
        "site-status: 50 URLs x 200 ms".into(),
        runs,
        200.0,
    ));
}

async fn speed_test(rows: &mut Vec<Row>) {
    for nodes in [8usize, 32, 128] {
        let fake = FakeChinaz::start(
            (0..nodes)
                .map(|i| FakeNode::new(i, 1 + (i % 5) as u8, &format!("node{i}"), 300, "300"))
                .collect(),
        )
        .await;
        let base = fake.base_url();
        for concurrency in [8usize, 32] {
            let env = Env::from_pairs([
                ("SPEEDTEST_TARGET", "www.example.com".to_owned()),
                ("SPEEDTEST_BASE_URL", base.clone()),
                ("SPEEDTEST_CONCURRENCY", concurrency.to_string()),
            ]);
            let check = SpeedTestCheck::read(&env).expect("settings");
            let mut runs = Vec::new();
            for _ in 0..3 {
                runs.push(time_ms(check.run(&tick(), &Default::default(), far_deadline())).await);
            }
            let ideal = nodes.div_ceil(concurrency) as f64 * 300.0;
            rows.push(ratio_row(
                format!("speed-test: {nodes} nodes x 300 ms, concurrency {concurrency}"),
                runs,
                ideal,
            ));
        }
    }
}

/// The ideal of a kafka-lag tick: each group's first page, then the rest, `PAGES_IN_FLIGHT` of a
/// group at a time and never faster than lookout's pace (`REQUEST_BURST` at once, then
/// `REQUESTS_PER_SECOND`: half the API's 100 a second, leaving the rest to the account's other
/// callers), each page `rtt_ms` long.
fn kafka_ideal_ms(groups: usize, pages: usize, rtt_ms: f64) -> f64 {
    use lookout::checks::kafka_lag::{PAGES_IN_FLIGHT, REQUEST_BURST, REQUESTS_PER_SECOND};
    let rest = pages.saturating_sub(1);
    // Rounds of a group's remaining pages, as if there were no pace.
    let rounds = rtt_ms + rest.div_ceil(PAGES_IN_FLIGHT) as f64 * rtt_ms;
    // The pace: the k-th request (from 0, all groups together) starts no earlier than
    // (k + 1 - burst) / rate seconds; the first pages go at 0, the others after one round trip.
    let total = groups * pages;
    let paced = (0..total)
        .map(|k| {
            let earliest = if k < groups { 0.0 } else { rtt_ms };
            let token =
                (k + 1).saturating_sub(REQUEST_BURST) as f64 * 1000.0 / REQUESTS_PER_SECOND as f64;
            earliest.max(token) + rtt_ms
        })
        .fold(0.0, f64::max);
    rounds.max(paced)
}

async fn kafka_lag(rows: &mut Vec<Row>) {
    // (groups, topics in each)
    for (groups, topics) in [(1usize, 50usize), (1, 500), (1, 2000), (10, 2000)] {
        let api = FakeTencent::start().await;
        let names: Vec<String> = (0..groups).map(|g| format!("billing-{g}")).collect();
        for name in &names {
            api.set_group(
                name,
                (0..topics)
                    .map(|i| topic(&format!("topic-{i:05}"), &[(10, 20), (30, 45)]))
                    .collect(),
            );
        }
        api.set_page_delay(Duration::from_millis(100));
        let env = Env::from_pairs([
            ("CKAFKA_INSTANCE_ID", INSTANCE_ID.to_owned()),
            ("CKAFKA_GROUPS", names.join(",")),
            ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID.into()),
            ("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY.into()),
            ("TENCENTCLOUD_CKAFKA_ENDPOINT", api.url()),
        ]);
        let mut runs = Vec::new();
        for _ in 0..3 {
            // Ticks are minutes apart: each starts with the request pace's bucket full, as a new
            // check's is.
            let check = KafkaLagCheck::new(
                lookout::config::read::settings::<KafkaLagSettings>(&env).expect("settings"),
            )
            .expect("client");
            let started = Instant::now();
            let results = check
                .run(&tick(), &Default::default(), far_deadline())
                .await;
            runs.push(started.elapsed().as_secs_f64() * 1000.0);
            // Every group read, no page refused by the API's limit.
            let errors = results
                .iter()
                .filter(|r| r.health == lookout::checks::Health::MonitorError)
                .count();
            assert_eq!(errors, 0, "a group was not read: {results:?}");
            // The fake's limit counts the last second: let it pass.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let pages = topics.div_ceil(50);
        let figure = if groups == 1 {
            format!(
                "kafka-lag: {topics} topics ({pages} page{}) x 100 ms",
                if pages == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "kafka-lag: {groups} groups x {topics} topics ({} pages, at lookout's pace of {} at once then {}/s; the API allows 100/s) x 100 ms",
                groups * pages,
                lookout::checks::kafka_lag::REQUEST_BURST,
                lookout::checks::kafka_lag::REQUESTS_PER_SECOND
            )
        };
        rows.push(ratio_row(
            figure,
            runs,
            kafka_ideal_ms(groups, pages, 100.0),
        ));
    }
}

async fn fan_out_three(rows: &mut Vec<Row>) {
    let first = FakeWeCom::start("key-one").await;
    let second = FakeWeCom::start("key-two").await;
    let api = FakeTencent::start().await;
    for robot in [&first, &second] {
        robot.set_delay(Duration::from_millis(200));
    }
    api.set_page_delay(Duration::from_millis(200));
    let wecom =
        |url: String| -> Box<dyn Notifier> {
            let settings = lookout::config::read::settings_if_set::<WeComSettings>(
                &Env::from_pairs([("WECOM_WEBHOOK_URL", url)]),
            )
            .unwrap()
            .unwrap();
            Box::new(WeComNotifier::new(settings, Style::default()).unwrap())
        };
    let sms_env = Env::from_pairs([
        ("SMS_PHONE_NUMBERS", "13800000000".to_owned()),
        ("SMS_SDK_APP_ID", "1400000001".into()),
        ("SMS_SIGN_NAME", "lookout".into()),
        ("SMS_TEMPLATE_ID", "1".into()),
        ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID.into()),
        ("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY.into()),
        ("TENCENTCLOUD_SMS_ENDPOINT", api.url()),
    ]);
    let sms: Box<dyn Notifier> = Box::new(
        SmsNotifier::new(
            lookout::config::read::settings_if_set::<SmsSettings>(&sms_env)
                .unwrap()
                .unwrap(),
            Style::default(),
        )
        .unwrap(),
    );
    let notifiers: Vec<Channel> = [
        ("ops", wecom(first.url())),
        ("dev", wecom(second.url())),
        ("sms", sms),
    ]
    .into_iter()
    .map(|(name, notifier)| Channel {
        name: name.to_owned(),
        notifier,
    })
    .collect();
    let mut runs = Vec::new();
    for i in 0..5 {
        // A different digest each run: the fake SMS service refuses the same text within 30 s.
        let digest = support::scripted::digest_with(i);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        runs.push(
            time_ms(fan_out(
                &notifiers,
                |_| Some(&digest),
                Backoff::default(),
                deadline,
            ))
            .await,
        );
    }
    rows.push(ratio_row(
        "fan-out: 3 channels x 200 ms".into(),
        runs,
        200.0,
    ));
}

/// A binary's environment: variable, value.
type Environment<'a> = Vec<(&'a str, &'a str)>;

/// Peak resident memory of a running process, in MB.
/// site-status with 2,000 monitors in lookout.yaml: reading and checking the file, and a whole
/// tick (every monitor checked against the local site) with its memory.
async fn config_file(rows: &mut Vec<Row>) {
    let (site, _) = support::site::start().await;
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("lookout.yaml");
    let mut text = String::from("defaults:\n  failure_threshold: 2\nmonitors:\n");
    for n in 0..2000 {
        text.push_str(&format!(
            "  - {{name: site-{n}, type: site, url: \"http://{site}/ok?n={n}\", keyword: Welcome, every: 5m}}\n"
        ));
    }
    std::fs::write(&path, text).expect("write lookout.yaml");
    let path = path.to_string_lossy().into_owned();
    let read = check_config_ms(Path::new(&path), true);
    let (median, _, _) = stats(&read);
    rows.push(Row {
        figure:
            "lookout.yaml of 2,000 monitors: read and checked (--check-config, process included)"
                .into(),
        pass: median <= 200.0,
        runs: read,
        unit: "ms",
        ideal: None,
        target: "<= 200 ms".into(),
    });
    // Files of up to 1 MiB are read at start: one of 80,000 keys in one mapping (a duplicate-key
    // check that compared every pair took 43 s on it), and one of as many site monitors as fit.
    let mut many_keys = String::from(
        "defaults:\n  failure_threshold: 2\nmonitors:\n  - name: s\n    type: site\n    url: http://a/\n    extra:\n",
    );
    let mut n = 0;
    while many_keys.len() < 1_000_000 {
        many_keys.push_str(&format!("      k{n}: v\n"));
        n += 1;
    }
    let mut many_monitors = String::from("defaults:\n  failure_threshold: 2\nmonitors:\n");
    let mut m = 0;
    loop {
        let line = format!(
            "  - {{name: site-{m}, type: site, url: \"http://{site}/ok?n={m}\", keyword: Welcome, every: 5m}}\n"
        );
        if many_monitors.len() + line.len() > 1_048_576 {
            break;
        }
        many_monitors.push_str(&line);
        m += 1;
    }
    for (figure, text, valid) in [
        (
            format!(
                "lookout.yaml of 1 MiB, {n} keys in one mapping: read and refused at its first unknown key"
            ),
            many_keys,
            false,
        ),
        (
            format!("lookout.yaml of 1 MiB, {m} monitors: read and checked"),
            many_monitors,
            true,
        ),
    ] {
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, text).expect("write the file");
        let read = check_config_ms(&big, valid);
        let (median, _, _) = stats(&read);
        rows.push(Row {
            figure: format!("{figure} (--check-config, process included)"),
            pass: median <= 1000.0,
            runs: read,
            unit: "ms",
            ideal: None,
            target: "<= 1,000 ms".into(),
        });
    }
    let (mut ticks, mut rss) = (Vec::new(), Vec::new());
    for run in 0..3 {
        let api = RuntimeApi::start().await;
        let state = dir.path().join(format!("state-{run}.json"));
        let state = state.to_string_lossy().into_owned();
        let function = api
            .spawn(
                "site-status",
                &[
                    ("LOOKOUT_CONFIG", path.as_str()),
                    ("STATE_FILE", state.as_str()),
                ],
            )
            .await;
        let started = Instant::now();
        let first = api
            .invoke(
                scheduled_event(
                    &format!("file-{run}"),
                    &chrono::Utc::now().format("%Y-%m-%dT%H:00:00Z").to_string(),
                ),
                Duration::from_secs(120),
            )
            .await;
        ticks.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(matches!(first, Outcome::Response(_)), "{first:?}");
        if let Some(mb) = function.pid().await.and_then(peak_rss_mb) {
            rss.push(mb);
        }
        function.stop().await;
    }
    rows.push(Row {
        figure: "site-status, 2,000 monitors from lookout.yaml: start and first tick (every one checked)".into(),
        pass: true,
        runs: ticks,
        unit: "ms",
        ideal: None,
        target: "-".into(),
    });
    let (rss_median, _, _) = stats(&rss);
    rows.push(Row {
        figure: "site-status, 2,000 monitors from lookout.yaml: peak resident memory".into(),
        pass: rss_median <= 64.0,
        runs: rss,
        unit: "MB",
        ideal: None,
        target: "<= 64 MB".into(),
    });
}

/// Five runs of `site-status --check-config` on the file at `path` (process start included), in
/// ms; each must find the file `valid` or not.
fn check_config_ms(path: &Path, valid: bool) -> Vec<f64> {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
                .arg("site-status")
                .arg("--check-config")
                .env_clear()
                .env("LOOKOUT_CONFIG", path)
                .output()
                .expect("run");
            assert_eq!(output.status.success(), valid, "{output:?}");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// Heartbeats on DynamoDB in moto: the ingest binary's answer to a ping (one conditional write
/// before it), cold and warm; and the heartbeat binary judging 1,000 monitors in one tick.
async fn heartbeats(rows: &mut Vec<Row>) {
    use base64::Engine as _;
    let moto = support::moto::Moto::start().await;
    support::dynamodb::table(&moto, "bench-state").await;
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("lookout.yaml");
    let mut text = String::from("monitors:\n");
    for n in 0..1000 {
        text.push_str(&format!(
            "  - {{name: host-{n}, type: heartbeat, token: bench-token-{n:012}, period: 1m, grace: 30s}}\n"
        ));
    }
    std::fs::write(&path, text).expect("write lookout.yaml");
    let path = path.to_string_lossy().into_owned();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("STATE_TABLE", "bench-state".into()));
    env.push(("LOOKOUT_CONFIG", path));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ping = |n: usize, at: chrono::DateTime<chrono::Utc>| {
        serde_json::json!({
            "version": "2.0",
            "rawPath": format!("/ping/bench-token-{n:012}"),
            "requestContext": {"http": {"method": "POST"}, "timeEpoch": at.timestamp_millis()},
            "body": base64::engine::general_purpose::STANDARD.encode("ok"),
            "isBase64Encoded": true,
        })
    };
    let (mut cold, mut warm, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..3 {
        let api = RuntimeApi::start().await;
        let started = Instant::now();
        let function = api.spawn("ingest", &env).await;
        let first = api
            .invoke(ping(run, chrono::Utc::now()), Duration::from_secs(30))
            .await;
        cold.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(
            matches!(&first, Outcome::Response(r) if r["statusCode"] == 200),
            "{first:?}"
        );
        for n in 0..100 {
            let again = Instant::now();
            let answer = api
                .invoke(
                    ping(n * 7 % 1000, chrono::Utc::now()),
                    Duration::from_secs(30),
                )
                .await;
            warm.push(again.elapsed().as_secs_f64() * 1000.0);
            assert!(
                matches!(&answer, Outcome::Response(r) if r["statusCode"] == 200),
                "{answer:?}"
            );
        }
        if let Some(mb) = function.pid().await.and_then(peak_rss_mb) {
            rss.push(mb);
        }
        function.stop().await;
    }
    let (cold_median, _, _) = stats(&cold);
    rows.push(Row {
        figure:
            "ingest, 1,000 heartbeat monitors: cold start to first ping kept (DynamoDB in moto)"
                .into(),
        pass: cold_median <= 100.0,
        runs: cold,
        unit: "ms",
        ideal: None,
        target: "<= 100 ms".into(),
    });
    let (warm_median, _, _) = stats(&warm);
    rows.push(Row {
        figure: "ingest: a ping answered, its one conditional write included (warm)".into(),
        pass: warm_median <= 20.0,
        runs: warm,
        unit: "ms",
        ideal: None,
        target: "<= 20 ms".into(),
    });
    let (rss_median, _, _) = stats(&rss);
    rows.push(Row {
        figure: "ingest: peak resident memory".into(),
        pass: rss_median <= 32.0,
        runs: rss,
        unit: "MB",
        ideal: None,
        target: "<= 32 MB".into(),
    });
    let (mut ticks, mut rss) = (Vec::new(), Vec::new());
    for run in 0..3 {
        let api = RuntimeApi::start().await;
        let function = api.spawn("heartbeat", &env).await;
        let started = Instant::now();
        let first = api
            .invoke(
                scheduled_event(
                    &format!("heartbeat-{run}"),
                    &chrono::Utc::now().format("%Y-%m-%dT%H:%M:00Z").to_string(),
                ),
                Duration::from_secs(120),
            )
            .await;
        ticks.push(started.elapsed().as_secs_f64() * 1000.0);
        let Outcome::Response(report) = &first else {
            panic!("{first:?}");
        };
        // The 1,000 monitors, and the ingest's refusals (a result of its own).
        assert_eq!(report["summary"]["checked"], 1001, "{}", report["summary"]);
        if let Some(mb) = function.pid().await.and_then(peak_rss_mb) {
            rss.push(mb);
        }
        function.stop().await;
    }
    let (tick_median, _, _) = stats(&ticks);
    rows.push(Row {
        figure:
            "heartbeat, 1,000 monitors: start and first tick (10 BatchGetItem, DynamoDB in moto)"
                .into(),
        pass: tick_median <= 2000.0,
        runs: ticks,
        unit: "ms",
        ideal: None,
        target: "<= 2000 ms".into(),
    });
    let (rss_median, _, _) = stats(&rss);
    rows.push(Row {
        figure: "heartbeat, 1,000 monitors: peak resident memory".into(),
        pass: rss_median <= 64.0,
        runs: rss,
        unit: "MB",
        ideal: None,
        target: "<= 64 MB".into(),
    });
}

/// The CPU time a process has had so far, user and system, in ms (`/proc/<pid>/stat`, in the
/// kernel's USER_HZ, 10 ms steps).
fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command (which may hold spaces), from field 3 on.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (user, system): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    // /proc counts in USER_HZ, 100 a second on Linux whatever the kernel's own tick.
    Some((user + system) * 10.0)
}

fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn binaries(rows: &mut Vec<Row>) {
    let (site, _) = support::site::start().await;
    let chinaz = FakeChinaz::start(
        (0..8)
            .map(|i| FakeNode::new(i, 1, &format!("node{i}"), 5, "50"))
            .collect(),
    )
    .await;
    let ckafka = FakeTencent::start().await;
    ckafka.set_group(
        "billing",
        (0..120)
            .map(|i| topic(&format!("t{i}"), &[(1, 2)]))
            .collect(),
    );
    let site_url = format!("http://{site}/ok");
    let chinaz_url = chinaz.base_url();
    let ckafka_url = ckafka.url();
    let functions: Vec<(&str, &str, Environment)> = vec![
        (
            "site-status",
            "site-status",
            vec![("SITE_URLS", site_url.as_str())],
        ),
        (
            "speed-test",
            "speed-test",
            vec![
                ("SPEEDTEST_TARGET", "www.example.com"),
                ("SPEEDTEST_BASE_URL", chinaz_url.as_str()),
            ],
        ),
        (
            "kafka-lag",
            "kafka-lag",
            vec![
                ("CKAFKA_INSTANCE_ID", INSTANCE_ID),
                ("CKAFKA_GROUPS", "billing"),
                ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID),
                ("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY),
                ("TENCENTCLOUD_CKAFKA_ENDPOINT", ckafka_url.as_str()),
            ],
        ),
    ];
    for (name, binary, env) in functions {
        let (mut cold, mut warm, mut rss) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..5 {
            let api = RuntimeApi::start().await;
            let event = scheduled_event(&format!("{name}-{run}-a"), "2026-11-23T02:10:00Z");
            let started = Instant::now();
            let function = api.spawn(binary, &env).await;
            let first = api.invoke(event, Duration::from_secs(30)).await;
            cold.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(matches!(first, Outcome::Response(_)), "{name}: {first:?}");
            let again = Instant::now();
            let second = api
                .invoke(
                    scheduled_event(&format!("{name}-{run}-b"), "2026-11-23T02:11:00Z"),
                    Duration::from_secs(30),
                )
                .await;
            warm.push(again.elapsed().as_secs_f64() * 1000.0);
            assert!(matches!(second, Outcome::Response(_)), "{name}: {second:?}");
            if let Some(mb) = function.pid().await.and_then(peak_rss_mb) {
                rss.push(mb);
            }
            function.stop().await;
        }
        let (cold_median, _, _) = stats(&cold);
        rows.push(Row {
            figure: format!("{name}: cold start to first response (x86_64, local)"),
            pass: cold_median <= 50.0,
            runs: cold,
            unit: "ms",
            ideal: None,
            target: "<= 50 ms".into(),
        });
        rows.push(Row {
            figure: format!("{name}: warm response"),
            pass: true,
            runs: warm,
            unit: "ms",
            ideal: None,
            target: "-".into(),
        });
        let (rss_median, _, _) = stats(&rss);
        rows.push(Row {
            figure: format!("{name}: peak resident memory"),
            pass: rss_median <= 32.0,
            runs: rss,
            unit: "MB",
            ideal: None,
            target: "<= 32 MB".into(),
        });
    }
}

/// The status rows' public site monitors `shop-0000`, ..., in groups of 20.
fn shop_monitors(count: usize) -> Vec<lookout::status::view::Listed> {
    (0..count)
        .map(|i| lookout::status::view::Listed {
            name: format!("shop-{i:04}"),
            kind: "site",
            function: "site-status",
            group: Some(format!("group {}", i / 20)),
        })
        .collect()
}

/// A site-status tick at `at` of the first `count` shop monitors: one in 500 down, the others up
/// in 80 to 380 ms.
fn shop_record(at: chrono::DateTime<chrono::Utc>, count: usize) -> lookout::history::Record {
    use lookout::history::{Entry, Record, State};
    Record {
        function: "site-status".into(),
        at,
        entries: (0..count)
            .map(|i| Entry {
                key: format!("site:shop-{i:04}"),
                state: if (i + at.timestamp() as usize / 60).is_multiple_of(500) {
                    State::Down
                } else {
                    State::Up
                },
                kind: None,
                ms: Some(80 + (i as u64 * 7 + at.timestamp() as u64 / 60) % 300),
                figure: None,
            })
            .collect(),
    }
}

/// A day's roll-up of the monitor `key`: a minute down in 1,440 checks.
fn shop_rollup(key: String, day: chrono::NaiveDate) -> lookout::history::Rollup {
    lookout::history::Rollup {
        key,
        day,
        checks: 1440,
        up: 1439,
        down: 1,
        errors: 0,
        degraded: 0,
        p50_ms: Some(120),
        p95_ms: Some(300),
        downtime_minutes: 1,
    }
}

/// The status page's look in the rows: English, UTC, no token in its links.
fn status_look() -> lookout::status::html::Look {
    lookout::status::html::Look {
        title: "Status".into(),
        description: None,
        language: lookout::alerting::render::Language::English,
        timezone: chrono_tz::UTC,
        link_suffix: String::new(),
    }
}

/// The history and the status page: what a tick of 1,000 site monitors writes, and what a page of
/// 200 public monitors costs to draw (its own time) and to read (DynamoDB read units).
fn status(rows: &mut Vec<Row>) {
    use lookout::history::{CHUNK_BYTES, Record};
    use lookout::status::{html, view};
    let now = chrono::Utc::now();
    let tick = shop_record(now, 1000);
    let packed = tick.packed_chunks(CHUNK_BYTES);
    let bytes: usize = packed.iter().map(Vec::len).sum();
    // DynamoDB bills a write unit per KB of each item.
    let write_units: usize = packed.iter().map(|p| p.len().div_ceil(1024).max(1)).sum();
    rows.push(Row {
        figure: "history: one tick of 1,000 site monitors, deflated (DynamoDB items, bytes)".into(),
        runs: vec![bytes as f64],
        unit: "B",
        ideal: None,
        target: format!("{} item(s), {write_units} write units a tick", packed.len()),
        pass: packed.len() == 1,
    });
    // A page of 200 public monitors: a day of one-minute history and 90 days of roll-ups.
    let records: Vec<Record> = (0..1440)
        .map(|m| shop_record(now - chrono::Duration::minutes(1440 - m), 200))
        .collect();
    let day_bytes: usize = records
        .iter()
        .map(|r| {
            r.packed_chunks(CHUNK_BYTES)
                .iter()
                .map(Vec::len)
                .sum::<usize>()
        })
        .sum();
    let monitors = shop_monitors(200);
    let mut rollups = Vec::new();
    for back in 1..90 {
        let day = now.date_naive() - chrono::Duration::days(back);
        rollups.extend(monitors.iter().map(|m| shop_rollup(m.key(), day)));
    }
    let rollup_bytes: usize = rollups
        .iter()
        .map(|r| serde_json::to_string(r).map_or(0, |t| t.len()) + 60)
        .sum();
    let inputs = view::Inputs {
        monitors,
        recent: [(
            "site-status".to_owned(),
            view::Recent::of_records(&records, now),
        )]
        .into(),
        rollups,
        ..view::Inputs::default()
    };
    let look = status_look();
    let mut runs = Vec::new();
    let mut size = 0;
    for _ in 0..7 {
        let started = Instant::now();
        let page = view::page(&inputs, now);
        size = html::page(&look, &page).len();
        runs.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (median, ..) = stats(&runs);
    rows.push(Row {
        figure: format!(
            "status page of 200 monitors, a day of history: drawn ({} KB of HTML)",
            size / 1024
        ),
        pass: median <= 50.0,
        runs,
        unit: "ms",
        ideal: None,
        target: "<= 50 ms".into(),
    });
    // Eventually consistent reads: half a unit per 4 KB read, items summed per query page.
    let read_units =
        (day_bytes as f64 / 4096.0 / 2.0).ceil() + (rollup_bytes as f64 / 4096.0 / 2.0).ceil();
    rows.push(Row {
        figure: "status page of 200 monitors: DynamoDB read units per uncached view (24 h of history, 90 days of roll-ups)".into(),
        runs: vec![read_units],
        unit: "RRU",
        ideal: None,
        target: format!(
            "{} KB of history, {} KB of roll-ups; kept 30 s per instance",
            day_bytes / 1024,
            rollup_bytes / 1024
        ),
        pass: true,
    });
}

/// The status page's answer as its function gives it: 200 public monitors, a day of one-minute
/// history and 89 days of roll-ups in a store. The first view reads the store and draws the page;
/// the next, within 30 s, is the instance's kept page. Own time is measured over the memory store
/// (no network); read units over DynamoDB in moto, behind the counting proxy.
async fn status_views(rows: &mut Vec<Row>) {
    use lookout::alerting::state::SharedStore;
    use lookout::alerting::state::dynamodb::DynamoDbStore;
    use lookout::alerting::state::memory::MemoryStore;
    use lookout::history::{Record, Rollup};
    use lookout::status::{Request, StatusSite, html, view};
    let now = chrono::Utc::now();
    let monitors = shop_monitors(200);
    async fn fill(store: &SharedStore, monitors: &[view::Listed], records: &[Record]) {
        for record in records {
            store.append(record).await.expect("a history write");
        }
        let today = chrono::Utc::now().date_naive();
        for back in 1..90 {
            let day = today - chrono::Duration::days(back);
            let rollups: Vec<Rollup> = monitors.iter().map(|m| shop_rollup(m.key(), day)).collect();
            store
                .put_rollups("site-status", day, &rollups)
                .await
                .expect("roll-ups");
        }
    }
    let records: Vec<Record> = (0..1440)
        .map(|m| shop_record(now - chrono::Duration::minutes(1440 - m), monitors.len()))
        .collect();
    let get = Request {
        method: "GET".into(),
        path: "/".into(),
        ..Request::default()
    };
    // Own time: the memory store.
    let memory: SharedStore = std::sync::Arc::new(MemoryStore::default());
    fill(&memory, &monitors, &records).await;
    let (mut first, mut kept) = (Vec::new(), Vec::new());
    let mut parts: [Vec<f64>; 3] = Default::default();
    for _ in 0..7 {
        let site = StatusSite::new(
            monitors.clone(),
            status_look(),
            None,
            std::sync::Arc::clone(&memory),
        );
        let started = Instant::now();
        let answer = site.answer(&get, now).await;
        first.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let started = Instant::now();
        let again = site.answer(&get, now).await;
        kept.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(again.body, answer.body);
        // Its parts: the reads, the view, the HTML.
        let started = Instant::now();
        let inputs = site.gather(now).await.expect("the reads");
        parts[0].push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let page = view::page(&inputs, now);
        parts[1].push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let drawn = html::page(&status_look(), &page);
        parts[2].push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(drawn.len(), answer.body.len());
    }
    let [reads, viewed, drawn] = parts.map(|p| stats(&p).0);
    for (figure, runs, parts) in [
        (
            "first view (reads and draws)",
            first,
            format!(
                "; of which reading {reads:.0} ms, the view {viewed:.0} ms, its HTML {drawn:.0} ms"
            ),
        ),
        ("a view within 30 s (the kept page)", kept, String::new()),
    ] {
        let (median, ..) = stats(&runs);
        rows.push(Row {
            figure: format!("status page of 200 monitors, 24 h of history and 90 days of roll-ups: {figure}, own time"),
            pass: median <= 50.0,
            runs,
            unit: "ms",
            ideal: None,
            target: format!("<= 50 ms{parts}"),
        });
    }
    // Read units: DynamoDB (moto) behind the counting proxy.
    let moto = support::moto::Moto::start().await;
    support::dynamodb::table(&moto, "lookout-state").await;
    let filled: SharedStore =
        std::sync::Arc::new(DynamoDbStore::new(moto.dynamodb(), "lookout-state"));
    fill(&filled, &monitors, &records).await;
    let proxy = support::counting_proxy::CountingProxy::start(&moto.url).await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config())
            .endpoint_url(&proxy.url)
            .build(),
    );
    let counted: SharedStore = std::sync::Arc::new(DynamoDbStore::new(client, "lookout-state"));
    // One view (moto takes seconds over its 205 queries; the units are the same each time), then
    // one within 30 s.
    let site = StatusSite::new(
        monitors.clone(),
        status_look(),
        None,
        std::sync::Arc::clone(&counted),
    );
    proxy.take();
    let started = Instant::now();
    let answer = site.answer(&get, now).await;
    let wall = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let read = proxy.take();
    site.answer(&get, now).await;
    let again = proxy.take().len();
    rows.push(Row {
        figure: "status page of 200 monitors: DynamoDB read units of a first view (moto; the next views within 30 s read nothing)".into(),
        pass: again == 0,
        runs: vec![read_units_of(&read)],
        unit: "RRU",
        ideal: None,
        target: format!(
            "{} requests, {wall:.0} ms in moto; {again} requests for the kept page",
            read.len()
        ),
    });
}

/// Prices of late 2026, us-east-1, per 30-day month: what the cost rows multiply the measured
/// figures by.
mod price {
    pub const TICKS_A_MONTH: f64 = 43_200.0;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// arm64, per GB-second.
    pub const LAMBDA_GB_S: f64 = 0.000_013_333_4;
    pub const WRITE_UNIT: f64 = 0.625 / 1e6;
    pub const READ_UNIT: f64 = 0.125 / 1e6;
    pub const GB_MONTH: f64 = 0.25;
    pub const LOG_GB: f64 = 0.50;
    pub const METRIC: f64 = 0.30;
    /// Lambda's own START, END and REPORT lines of an invocation, in bytes.
    pub const LAMBDA_LOG_LINES: f64 = 330.0;
    pub const ALARM: f64 = 0.10;
    /// The share of a vCPU a 128 MB function gets: Lambda gives a whole one at 1,769 MB, and CPU
    /// in proportion to memory.
    pub const CPU_SHARE_128_MB: f64 = 128.0 / 1769.0;
    pub const SECRET: f64 = 0.40;

    /// The stack's fixed part: its alarms (counted in template.yaml) and the secret.
    pub fn fixed() -> f64 {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
                .unwrap_or_default();
        template.matches("Type: AWS::CloudWatch::Alarm").count() as f64 * ALARM + SECRET
    }
}

/// What a function's warm tick costs, measured through the emulator with its state in DynamoDB
/// (moto behind the counting proxy): the medians of its warm ticks.
#[derive(Clone, Copy, Debug, Default)]
struct TickCost {
    /// The tick's duration, as Lambda bills it (to the next millisecond).
    billed_ms: f64,
    writes: f64,
    write_units: f64,
    read_units: f64,
    /// What the function printed (its logs, EMF lines included) and Lambda's own lines.
    log_bytes: f64,
    /// The history item(s) written.
    history_bytes: f64,
    /// Distinct CloudWatch metrics its EMF lines draw, beyond the function's own totals.
    metrics: f64,
    peak_mb: f64,
    /// The process's CPU time a tick (user and system, the average of the warm ticks).
    cpu_ms: f64,
}

impl TickCost {
    /// A tick's (or a ping's) cost: its wall time, the DynamoDB requests it made, and what the
    /// function printed in it.
    fn of(ms: f64, requests: &[support::counting_proxy::Counted], printed: &str) -> TickCost {
        let written: Vec<_> = requests.iter().filter(|r| is_write(r)).collect();
        let sum = |bytes: &dyn Fn(&support::counting_proxy::Counted) -> f64| {
            written.iter().map(|r| bytes(r)).fold(0.0, |a, b| a + b)
        };
        TickCost {
            billed_ms: ms.ceil(),
            writes: written.len() as f64,
            write_units: sum(&|r| r.sent.div_ceil(1024).max(1) as f64),
            read_units: read_units_of(requests),
            log_bytes: printed.len() as f64 + price::LAMBDA_LOG_LINES,
            history_bytes: sum(&|r| if r.histories > 0 { r.sent as f64 } else { 0.0 }),
            metrics: monitor_metrics(printed) as f64,
            ..TickCost::default()
        }
    }

    /// The medians of `runs`, with the process's peak memory and its CPU time a tick.
    fn median(runs: &[TickCost], peak_mb: f64, cpu_ms: f64) -> TickCost {
        let median = |f: fn(&TickCost) -> f64| stats(&runs.iter().map(f).collect::<Vec<_>>()).0;
        TickCost {
            billed_ms: median(|t| t.billed_ms),
            writes: median(|t| t.writes),
            write_units: median(|t| t.write_units),
            read_units: median(|t| t.read_units),
            log_bytes: median(|t| t.log_bytes),
            history_bytes: median(|t| t.history_bytes),
            metrics: median(|t| t.metrics),
            peak_mb,
            cpu_ms,
        }
    }

    /// The tick's duration at 128 MB: at least its measured wall time, and at least its CPU time
    /// at the share of a vCPU Lambda gives 128 MB (this machine gave it whole cores).
    fn at_128_mb(&self) -> f64 {
        self.billed_ms
            .max((self.cpu_ms / price::CPU_SHARE_128_MB).ceil())
    }

    /// Dollars a month at `ticks` a month and 128 MB: Lambda (its requests when `invocations`:
    /// one more monitor adds none; the duration [`TickCost::at_128_mb`]), DynamoDB (with a roll-up
    /// per monitor a day), the history kept 400 days, logs, and the custom metrics.
    fn month(&self, ticks: f64, monitors: f64, invocations: bool) -> Month {
        let requests = if invocations {
            price::LAMBDA_REQUEST
        } else {
            0.0
        };
        Month {
            lambda: ticks * (requests + self.at_128_mb() / 1000.0 * 0.125 * price::LAMBDA_GB_S),
            dynamodb: ticks
                * (self.write_units * price::WRITE_UNIT + self.read_units * price::READ_UNIT)
                + monitors * 30.0 * price::WRITE_UNIT,
            history: self.history_bytes * ticks * 400.0 / 30.0 / 1e9 * price::GB_MONTH,
            logs: self.log_bytes * ticks / 1e9 * price::LOG_GB,
            metrics: self.metrics * price::METRIC,
        }
    }

    /// What one more monitor adds: the difference between `many` monitors and one, per monitor.
    fn each_further(one: &TickCost, many: &TickCost, count: usize) -> TickCost {
        let per = |a: f64, b: f64| ((b - a) / (count - 1) as f64).max(0.0);
        TickCost {
            billed_ms: per(one.billed_ms, many.billed_ms),
            writes: per(one.writes, many.writes),
            write_units: per(one.write_units, many.write_units),
            read_units: per(one.read_units, many.read_units),
            log_bytes: per(one.log_bytes, many.log_bytes),
            history_bytes: per(one.history_bytes, many.history_bytes),
            metrics: many.metrics / count as f64,
            peak_mb: per(one.peak_mb, many.peak_mb),
            cpu_ms: per(one.cpu_ms, many.cpu_ms),
        }
    }
}

/// A month's dollars, by what bills them.
#[derive(Clone, Copy, Debug, Default)]
struct Month {
    lambda: f64,
    dynamodb: f64,
    history: f64,
    logs: f64,
    metrics: f64,
}

impl Month {
    fn total(&self) -> f64 {
        self.lambda + self.dynamodb + self.history + self.logs + self.metrics
    }

    fn plus(self, other: Month) -> Month {
        Month {
            lambda: self.lambda + other.lambda,
            dynamodb: self.dynamodb + other.dynamodb,
            history: self.history + other.history,
            logs: self.logs + other.logs,
            metrics: self.metrics + other.metrics,
        }
    }
}

/// Distinct metrics drawn by the EMF lines of `output` that name more than the function (the
/// monitors' own; the function's three totals are counted in the fixed part).
fn monitor_metrics(output: &str) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    for line in output.lines().filter(|l| l.contains("\"_aws\"")) {
        let Ok(line) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(directives) = line["_aws"]["CloudWatchMetrics"].as_array() else {
            continue;
        };
        for directive in directives {
            for dimensions in directive["Dimensions"].as_array().into_iter().flatten() {
                let names: Vec<&str> = dimensions
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(serde_json::Value::as_str)
                    .collect();
                if names.iter().all(|n| *n == "Function") {
                    continue;
                }
                let values: Vec<String> =
                    names.iter().map(|n| format!("{n}={}", line[*n])).collect();
                for metric in directive["Metrics"].as_array().into_iter().flatten() {
                    seen.insert(format!("{}|{}", metric["Name"], values.join(",")));
                }
            }
        }
    }
    seen.len()
}

/// The moto behind the counting proxy that the cost rows share.
struct Counted {
    moto: support::moto::Moto,
    proxy: support::counting_proxy::CountingProxy,
    tables: std::sync::atomic::AtomicUsize,
}

impl Counted {
    async fn start() -> Counted {
        let moto = support::moto::Moto::start().await;
        let proxy = support::counting_proxy::CountingProxy::start(&moto.url).await;
        Counted {
            moto,
            proxy,
            tables: Default::default(),
        }
    }

    /// `function` with these monitors, its state in a table of its own: the medians of `ticks`
    /// warm ticks (a first tick starts the process and is left out), one minute apart. The first
    /// `pinged` heartbeat tokens (`bench-ping-token-0000`, ...) ping the ingest once before.
    async fn measure(
        &self,
        function: &str,
        yaml: &str,
        env: &[(&str, &str)],
        ticks: usize,
        pinged: usize,
    ) -> TickCost {
        let n = self
            .tables
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let table = format!("cost-{n}");
        support::dynamodb::table(&self.moto, &table).await;
        if pinged > 0 {
            self.ping(&table, yaml, pinged).await;
        }
        let api = RuntimeApi::start().await;
        std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
        let mut all = counted_env(&self.moto, &self.proxy, &table);
        all.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let process = api.spawn(function, &all).await;
        let start = chrono::Utc::now().timestamp() / 60 * 60 - 3 * 3600;
        let mut runs: Vec<TickCost> = Vec::new();
        let mut printed = 0;
        self.proxy.take();
        let pid = process.pid().await;
        let mut cpu_before = 0.0;
        for minute in 0..=ticks {
            if minute == 1 {
                cpu_before = pid.and_then(cpu_ms).unwrap_or(0.0);
            }
            let event = scheduled_event(
                &format!("{table}-{minute}"),
                &event_time(start, minute as i64),
            );
            let started = Instant::now();
            let outcome = api.invoke(event, Duration::from_secs(300)).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            assert!(
                matches!(outcome, Outcome::Response(_)),
                "{function}: {outcome:?}"
            );
            let requests = self.proxy.take();
            let output = process.output().await;
            if minute > 0 {
                runs.push(TickCost::of(ms, &requests, &output[printed..]));
            }
            printed = output.len();
        }
        let peak_mb = process.pid().await.and_then(peak_rss_mb).unwrap_or(0.0);
        let cpu = pid.and_then(cpu_ms).unwrap_or(0.0) - cpu_before;
        process.stop().await;
        TickCost::median(&runs, peak_mb, cpu / ticks as f64)
    }

    /// The heartbeat tokens `bench-ping-token-0000` ... of `count` monitors (of `yaml`) each
    /// pinged once through the ingest, its state in `table`: what each ping cost. A token each: a
    /// ping of the same signal within a monitor's `min_interval` is not written again, and real
    /// pings come a period apart.
    async fn ping(&self, table: &str, yaml: &str, count: usize) -> Vec<TickCost> {
        let api = RuntimeApi::start().await;
        std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
        let env = counted_env(&self.moto, &self.proxy, table);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let process = api.spawn("ingest", &env).await;
        let mut costs = Vec::new();
        let mut printed = 0;
        self.proxy.take();
        for i in 0..count {
            let event = support::function_url::url_event(
                "GET",
                &format!("/ping/bench-ping-token-{i:04}"),
                b"",
                chrono::Utc::now(),
            );
            let started = Instant::now();
            let outcome = api.invoke(event, Duration::from_secs(30)).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let Outcome::Response(answer) = &outcome else {
                panic!("{outcome:?}")
            };
            assert_eq!(answer["statusCode"], 200, "{answer}");
            let output = process.output().await;
            costs.push(TickCost::of(ms, &self.proxy.take(), &output[printed..]));
            printed = output.len();
        }
        process.stop().await;
        costs
    }
}

/// One type of monitor for the cost table: its function, the settings of its `i`th monitor (a
/// flow mapping's inside), the variables the function needs, and how many make "many".
struct Kind {
    name: &'static str,
    unit: String,
    function: &'static str,
    monitor: Box<dyn Fn(usize) -> String>,
    env: Vec<(&'static str, String)>,
    many: usize,
}

impl Kind {
    /// The lookout.yaml of `n` of its monitors, `metrics: true` on each when `metrics`.
    fn yaml(&self, n: usize, metrics: bool) -> String {
        let extra = if metrics { ", metrics: true" } else { "" };
        yaml_of((0..n).map(|i| format!("{{{}{extra}}}", (self.monitor)(i))))
    }

    /// `n` of its monitors (`metrics: true` when `metrics`) over `ticks` warm ticks; heartbeats
    /// ping the ingest once first.
    async fn measure(&self, counted: &Counted, n: usize, metrics: bool, ticks: usize) -> TickCost {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let pinged = if self.function == "heartbeat" { n } else { 0 };
        counted
            .measure(self.function, &self.yaml(n, metrics), &env, ticks, pinged)
            .await
    }
}

fn yaml_of(lines: impl Iterator<Item = String>) -> String {
    std::iter::once("monitors:\n".to_owned())
        .chain(lines.map(|l| format!("  - {l}\n")))
        .collect()
}

/// What monitors cost a month, each figure from the bench's own measurements: one monitor of each
/// type (alone, and each further one) at 1 and 5 minutes, and 10 to 10,000 site monitors. Prints
/// the rows, and writes the tables into docs/deploy.md between its `make bench: cost` markers.
async fn cost(rows: &mut Vec<Row>) {
    let counted = Counted::start().await;
    let (site, _) = support::site::start().await;
    // A port each: a tcp monitor's metrics are per address.
    let mut ports = Vec::new();
    for _ in 0..100 {
        ports.push(answering_port(Duration::from_millis(100)).await);
    }
    let dns = support::dns::server().await;
    dns.set_delay(Duration::from_millis(50));
    let dns_address = dns.address;
    let chinaz = FakeChinaz::start(
        (0..32)
            .map(|i| FakeNode::new(i, 1 + (i % 5) as u8, &format!("node{i}"), 300, "300"))
            .collect(),
    )
    .await;
    let ckafka = FakeTencent::start().await;
    for g in 0..5 {
        ckafka.set_group(
            &format!("group-{g}"),
            (0..50)
                .map(|i| topic(&format!("topic-{i:03}"), &[(10, 20), (30, 45)]))
                .collect(),
        );
    }
    ckafka.set_page_delay(Duration::from_millis(100));
    let sshd_dir = tempfile::tempdir().expect("a folder");
    let sshd = Path::new("/usr/sbin/sshd").exists().then(|| {
        let client = support::sshd::key_pair(sshd_dir.path(), "client", "ed25519", "");
        (support::sshd::Sshd::start(&[&client.public]), client)
    });
    let mut kinds = vec![
        Kind {
            name: "site",
            unit: "a URL answering in 200 ms".into(),
            function: "site-status",
            monitor: Box::new(move |i| {
                format!("name: s{i}, type: site, url: \"http://{site}/slow/200?n={i}\", retries: 0")
            }),
            env: vec![],
            many: 100,
        },
        Kind {
            name: "tcp",
            unit: "a port answering in 100 ms".into(),
            function: "site-status",
            monitor: Box::new(move |i| {
                format!(
                    "name: p{i}, type: tcp, address: \"{}\", expect: OK",
                    ports[i]
                )
            }),
            env: vec![],
            many: 100,
        },
        Kind {
            name: "dns",
            unit: "a name answered in 50 ms".into(),
            function: "site-status",
            monitor: Box::new(move |i| {
                format!(
                    "name: n{i}, type: dns, domain: n{i}.many.test, server: \"{dns_address}\", expect: 192.0.2.10"
                )
            }),
            env: vec![],
            many: 100,
        },
        Kind {
            name: "speed-test",
            unit: "32 chinaz nodes x 300 ms".into(),
            function: "speed-test",
            monitor: Box::new(|i| {
                format!("name: sp{i}, type: speed-test, target: t{i}.example.com, provider: chinaz")
            }),
            env: vec![("SPEEDTEST_BASE_URL", chinaz.base_url())],
            many: 3,
        },
        Kind {
            name: "kafka-lag",
            unit: "a group of 50 topics, 100 ms a page".into(),
            function: "kafka-lag",
            monitor: Box::new(|i| {
                format!(
                    "name: k{i}, type: kafka-lag, instance_id: {INSTANCE_ID}, groups: [group-{i}]"
                )
            }),
            env: vec![
                ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID.into()),
                ("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY.into()),
                ("TENCENTCLOUD_CKAFKA_ENDPOINT", ckafka.url()),
            ],
            many: 5,
        },
        Kind {
            name: "heartbeat",
            unit: "judged each tick; its pings are the ingest's (below)".into(),
            function: "heartbeat",
            monitor: Box::new(|i| {
                format!(
                    "name: h{i}, type: heartbeat, token: bench-ping-token-{i:04}, period: 1m, grace: 30s"
                )
            }),
            env: vec![],
            many: 100,
        },
    ];
    if let Some((sshd, client)) = &sshd {
        let (port, user, host_key) = (sshd.port, sshd.user.clone(), sshd.host_key.clone());
        kinds.push(Kind {
            name: "host",
            unit: "a server over SSH, a 1 s CPU sample".into(),
            function: "host-check",
            monitor: Box::new(move |i| format!("name: db{i}, type: host, host: 127.0.0.1, port: {port}, user: {user}, private_key: \"${{BENCH_SSH_KEY}}\", host_key: \"{host_key}\", cpu_max: 100, memory_max: 100, disk_max: 100")),
            env: vec![("BENCH_SSH_KEY", client.private.clone())],
            many: 10,
        });
    }
    let monthly = [
        ("1 minute", price::TICKS_A_MONTH),
        ("5 minutes", price::TICKS_A_MONTH / 5.0),
    ];
    let mut table = String::from(
        "| monitor | what was measured | alone: a warm tick | each further one: a tick | alone, every minute | alone, every 5 minutes | each further one, every minute | every 5 minutes | `metrics: true` adds |\n|---|---|---|---|---:|---:|---:|---:|---|\n",
    );
    for kind in &kinds {
        let one = kind.measure(&counted, 1, false, 4).await;
        let many = kind.measure(&counted, kind.many, false, 4).await;
        let with_metrics = kind.measure(&counted, kind.many, true, 2).await;
        let further = TickCost::each_further(&one, &many, kind.many);
        // What metrics add per monitor: its own metrics and their EMF bytes.
        let metric_bytes = ((with_metrics.log_bytes - many.log_bytes) / kind.many as f64).max(0.0);
        let per_metrics = with_metrics.metrics / kind.many as f64;
        let metrics_month =
            per_metrics * price::METRIC + metric_bytes * price::TICKS_A_MONTH / 1e9 * price::LOG_GB;
        let alone: Vec<Month> = monthly
            .iter()
            .map(|(_, t)| one.month(*t, 1.0, true))
            .collect();
        let more: Vec<Month> = monthly
            .iter()
            .map(|(_, t)| further.month(*t, 1.0, false))
            .collect();
        let tick = |t: &TickCost| {
            format!(
                "{:.1} ms ({:.1} ms of CPU; {:.0} ms at 128 MB), {:.2} writes ({:.2} WRU), {:.2} RRU, {:.0} B of logs, {:.1} B of history",
                t.billed_ms,
                t.cpu_ms,
                t.at_128_mb(),
                t.writes,
                t.write_units,
                t.read_units,
                t.log_bytes,
                t.history_bytes
            )
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | ${:.3} | ${:.3} | ${:.4} | ${:.4} | {per_metrics:.1} metric(s), ${metrics_month:.2} a month |\n",
            kind.name,
            kind.unit,
            tick(&one),
            tick(&further),
            alone[0].total(),
            alone[1].total(),
            more[0].total(),
            more[1].total(),
        ));
        rows.push(Row {
            figure: format!("cost a month: one {} monitor alone, every minute / every 5 minutes", kind.name),
            pass: true,
            runs: vec![alone[0].total()],
            unit: "$",
            ideal: None,
            target: format!(
                "${:.3} at 5 min; each further one ${:.4} / ${:.4}; metrics: true adds ${metrics_month:.2}",
                alone[1].total(),
                more[0].total(),
                more[1].total()
            ),
        });
    }
    // The ingest's share of a heartbeat: a ping a period.
    let heartbeat = kinds
        .iter()
        .find(|k| k.function == "heartbeat")
        .expect("the heartbeat kind");
    let ping = ingest_ping_cost(&counted, heartbeat).await;
    let per_ping = ping.month(1.0, 0.0, true);
    table.push_str(&format!(
        "| heartbeat's pings | a ping to the ingest (a read, a conditional write) | {:.0} ms, {:.1} writes ({:.1} WRU), {:.1} RRU, {:.2} KB of logs | | ${:.3} | ${:.3} | ${:.3} | ${:.3} | |\n",
        ping.billed_ms,
        ping.writes,
        ping.write_units,
        ping.read_units,
        ping.log_bytes / 1024.0,
        per_ping.total() * price::TICKS_A_MONTH,
        per_ping.total() * price::TICKS_A_MONTH / 5.0,
        per_ping.total() * price::TICKS_A_MONTH,
        per_ping.total() * price::TICKS_A_MONTH / 5.0,
    ));
    rows.push(Row {
        figure:
            "cost a month: a heartbeat's pings, one a minute / one every 5 minutes (the ingest)"
                .into(),
        pass: true,
        runs: vec![per_ping.total() * price::TICKS_A_MONTH],
        unit: "$",
        ideal: None,
        target: format!(
            "${:.3} at 5 min",
            per_ping.total() * price::TICKS_A_MONTH / 5.0
        ),
    });
    // 10 to 10,000 site monitors, every minute, metrics off.
    let mut sites = String::from(
        "| site monitors | a warm tick (wall time, CPU time, the duration at 128 MB's share of a vCPU; peak memory) | DynamoDB a tick | logs a tick | history a tick | Lambda | DynamoDB | history kept (400 days) | logs | the function's totals (3 metrics) | all in, with the stack's fixed ${fixed:.2} |\n|---|---|---|---|---|---:|---:|---:|---:|---:|---:|\n",
    ).replace("{fixed:.2}", &format!("{:.2}", price::fixed()));
    let totals = Month {
        metrics: 3.0 * price::METRIC,
        ..Month::default()
    };
    for monitors in [10usize, 100, 1000, 10_000] {
        let yaml = kinds[0].yaml(monitors, false);
        let ticks = if monitors >= 10_000 { 3 } else { 5 };
        let measured = counted.measure("site-status", &yaml, &[], ticks, 0).await;
        let month = measured.month(price::TICKS_A_MONTH, monitors as f64, true);
        let total = month.plus(totals).total() + price::fixed();
        sites.push_str(&format!(
            "| {monitors} | {:.0} ms here, {:.0} ms of CPU: {:.0} ms at 128 MB; {:.0} MB | {:.0} writes ({:.0} WRU), {:.0} RRU | {:.1} KB | {:.1} KB | ${:.2} | ${:.2} | ${:.2} | ${:.2} | ${:.2} | **${total:.2}** (${:.4} a monitor) |\n",
            measured.billed_ms,
            measured.cpu_ms,
            measured.at_128_mb(),
            measured.peak_mb,
            measured.writes,
            measured.write_units,
            measured.read_units,
            measured.log_bytes / 1024.0,
            measured.history_bytes / 1024.0,
            month.lambda,
            month.dynamodb,
            month.history,
            month.logs,
            totals.metrics,
            total / monitors as f64,
        ));
        rows.push(Row {
            figure: format!("cost a month: {monitors} site monitors at 1 minute, metrics off, all in"),
            pass: monitors < 1000 || total <= 10.0 * (monitors / 1000) as f64,
            runs: vec![total],
            unit: "$",
            ideal: None,
            target: format!(
                "a tick {:.0} ms, peak {:.0} MB; Lambda ${:.2}, DynamoDB ${:.2}, history ${:.2}, logs ${:.2}",
                measured.billed_ms, measured.peak_mb, month.lambda, month.dynamodb, month.history, month.logs
            ),
        });
    }
    write_cost_tables(&table, &sites);
}

/// A ping's cost to the ingest: the medians over 20 pings of a heartbeat monitor, through the
/// emulator (the ingest's Function URL events), its state in DynamoDB behind the proxy.
async fn ingest_ping_cost(counted: &Counted, heartbeat: &Kind) -> TickCost {
    let table = "cost-ingest";
    support::dynamodb::table(&counted.moto, table).await;
    let pings = counted.ping(table, &heartbeat.yaml(21, false), 21).await;
    // The first ping starts the process.
    TickCost::median(&pings[1..], 0.0, 0.0)
}

/// Puts the cost tables into docs/deploy.md, between `<!-- make bench: cost -->` and
/// `<!-- /make bench: cost -->`, with the prices they were computed at.
fn write_cost_tables(per_type: &str, sites: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy.md");
    let Ok(doc) = std::fs::read_to_string(path) else {
        return;
    };
    let (open, close) = ("<!-- make bench: cost -->", "<!-- /make bench: cost -->");
    let (Some(from), Some(to)) = (doc.find(open), doc.find(close)) else {
        println!("(docs/deploy.md has no `{open}` markers: the cost tables were not written)");
        return;
    };
    let body = format!(
        "{open}\n_Written by `make bench` (`BENCH_ONLY=cost`) on {} ({} cores), from its own measurements._\n\n### One monitor of each type\n\n{per_type}\n### 10 to 10,000 site monitors, every minute, metrics off\n\n{sites}",
        chrono::Utc::now().format("%Y-%m-%d"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let written = format!("{}{body}{}", &doc[..from], &doc[to..]);
    std::fs::write(path, written).expect("docs/deploy.md");
}

/// A scheduled event's time, `minute` minutes after `start` (seconds since the epoch): within a
/// day of the clock, as a tick's time must be.
fn event_time(start: i64, minute: i64) -> String {
    chrono::DateTime::from_timestamp(start + minute * 60, 0)
        .expect("a time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A function's variables for its state in `table` of moto, reached through the counting proxy.
fn counted_env(
    moto: &support::moto::Moto,
    proxy: &support::counting_proxy::CountingProxy,
    table: &str,
) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = moto.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL_DYNAMODB");
    env.push(("AWS_ENDPOINT_URL_DYNAMODB", proxy.url.clone()));
    env.push(("STATE_TABLE", table.into()));
    env
}

/// The read units of the reads among `requests` (an upper bound, from the bytes answered).
fn read_units_of(requests: &[support::counting_proxy::Counted]) -> f64 {
    requests
        .iter()
        .filter(|r| {
            ["GetItem", "Query", "BatchGetItem", "Scan"]
                .iter()
                .any(|op| r.operation.ends_with(op))
        })
        .map(support::counting_proxy::Counted::read_units)
        .fold(0.0, |a, b| a + b)
}

/// A DynamoDB write, by its operation.
fn is_write(request: &support::counting_proxy::Counted) -> bool {
    [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
    ]
    .iter()
    .any(|op| request.operation.ends_with(op))
}

/// site-status at the sizes where users outgrow one invocation: the real bootstrap under the
/// emulator (Lambda's 1,024 descriptors), `lookout.yaml` beside it, state in DynamoDB (moto behind
/// the counting proxy).
async fn scale(rows: &mut Vec<Row>) {
    let (site, _) = support::site::start().await;
    let moto = support::moto::Moto::start().await;
    let proxy = support::counting_proxy::CountingProxy::start(&moto.url).await;
    let concurrency = 256.0;
    let env_of = |table: &str| counted_env(&moto, &proxy, table);

    // 10,000 healthy monitors, 200 ms each: three ticks, the first a cold start, and the first of
    // its day: it rolls up yesterday, 1,440 ticks of the same 10,000 monitors, kept beforehand.
    let monitors = 10_000usize;
    let client = support::dynamodb::table(&moto, "scale-10k").await;
    let start = chrono::Utc::now().timestamp() / 60 * 60 - 3600;
    let at = |minute: i64| event_time(start, minute);
    let today = chrono::DateTime::from_timestamp(start, 0)
        .expect("a time")
        .date_naive();
    let yesterday = today.pred_opt().expect("a day");
    let kept = Instant::now();
    keep_a_day(&client, "scale-10k", yesterday, monitors, &site.to_string()).await;
    let kept = kept.elapsed().as_secs_f64();
    let api = RuntimeApi::start().await;
    api.set_timeout(Duration::from_secs(120)).await;
    let yaml = yaml_of((0..monitors).map(|i| {
        format!("{{name: s{i:05}, type: site, url: \"http://{site}/slow/200?n={i}\", retries: 0}}")
    }));
    std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
    let env = env_of("scale-10k");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = api.spawn("site-status", &env).await;
    let (mut wall, mut false_failures, mut state_writes, mut history) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let pid = function.pid().await;
    let (mut cpu, mut first) = (Vec::new(), (0.0, 0.0, 0usize));
    for minute in 0..3 {
        proxy.take();
        let cpu_before = pid.and_then(cpu_ms).unwrap_or(0.0);
        let event = scheduled_event(&format!("scale-{minute}"), &at(minute));
        let started = Instant::now();
        let outcome = api.invoke(event, Duration::from_secs(150)).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let Outcome::Response(report) = outcome else {
            panic!("{outcome:?}")
        };
        let requests = proxy.take();
        if minute == 0 {
            let read = requests.iter().filter(|r| r.histories > 0 && !is_write(r));
            first = (
                ms,
                pid.and_then(cpu_ms).unwrap_or(0.0) - cpu_before,
                read.count(),
            );
            continue;
        }
        wall.push(ms);
        cpu.push(pid.and_then(cpu_ms).unwrap_or(0.0) - cpu_before);
        false_failures.push(report["summary"]["failing"].as_f64().unwrap_or(f64::NAN));
        state_writes.push(
            requests
                .iter()
                .filter(|r| is_write(r))
                .map(|r| r.incidents as f64)
                .sum::<f64>(),
        );
        let written: Vec<_> = requests
            .iter()
            .filter(|r| is_write(r) && r.histories > 0)
            .collect();
        history.push((
            written.len() as f64,
            written.iter().map(|r| r.sent).sum::<usize>() as f64,
        ));
    }
    let rss = function.pid().await.and_then(peak_rss_mb).unwrap_or(0.0);
    function.stop().await;
    let ideal = (monitors as f64 / concurrency).ceil() * 200.0;
    let (failures, ..) = stats(&false_failures);
    let (ratio, ..) = stats(&wall);
    let ratio = ratio / ideal;
    rows.push(Row {
        figure: format!(
            "site-status: {monitors} monitors x 200 ms, ulimit -n 1024, DynamoDB: a warm tick (concurrency 256)"
        ),
        pass: failures == 0.0 && ratio <= 1.3 && rss <= 96.0,
        runs: wall.clone(),
        unit: "ms",
        ideal: Some(ideal),
        target: format!(
            "ratio <= 1.3; {failures:.0} false failures (0); peak RSS {rss:.0} MB (<= 96 MB); {:.0} ms of CPU a tick, so {:.1} s at 128 MB's share of a vCPU",
            stats(&cpu).0,
            stats(&cpu).0 / price::CPU_SHARE_128_MB / 1000.0
        ),
    });
    let (writes, ..) = stats(&state_writes);
    rows.push(Row {
        figure: format!(
            "site-status: {monitors} monitors, all healthy, nothing changed: incident writes a tick"
        ),
        pass: writes == 0.0,
        runs: state_writes,
        unit: "writes",
        ideal: None,
        target: "0".into(),
    });
    // Yesterday's roll-ups, as the first tick kept them: every 100th monitor's (one Query each).
    let store = lookout::alerting::state::dynamodb::DynamoDbStore::new(client, "scale-10k");
    let sampled: Vec<String> = (0..monitors)
        .step_by(100)
        .map(|i| day_key(i, &site.to_string()))
        .collect();
    let rolled = lookout::alerting::state::History::rollups(&store, &sampled, yesterday, yesterday)
        .await
        .map_or(0, |r| r.len());
    let (first_ms, first_cpu, pages) = first;
    let (warm_ms, ..) = stats(&wall);
    let (warm_cpu, ..) = stats(&cpu);
    rows.push(Row {
        figure: format!(
            "site-status: {monitors} monitors, the first tick of a day: yesterday's 1,440 ticks rolled up as they are read, DynamoDB"
        ),
        pass: rolled == sampled.len() && rss <= 96.0,
        runs: vec![first_ms],
        unit: "ms",
        ideal: None,
        target: format!(
            "{rolled} of {} sampled roll-ups kept; peak RSS {rss:.0} MB with it (<= 96 MB); {:.0} ms and {:.0} ms of CPU more than a warm tick ({:.0} s at 128 MB's share); the day read in {pages} requests; kept beforehand in {kept:.0} s",
            sampled.len(),
            first_ms - warm_ms,
            first_cpu - warm_cpu,
            (first_cpu - warm_cpu) / price::CPU_SHARE_128_MB / 1000.0
        ),
    });
    let (items, bytes) = history[history.len() - 1];
    rows.push(Row {
        figure: format!("history: one tick of {monitors} monitors written (deflated)"),
        pass: items <= 1.0,
        runs: vec![bytes / monitors as f64],
        unit: "B/monitor",
        ideal: None,
        target: format!("{items:.0} write of {:.0} KB (one write)", bytes / 1024.0),
    });

    // 2,000 monitors failing at once (200 ms, then 503), one channel: on DynamoDB and on a file.
    let failing = 2_000usize;
    let wecom = FakeWeCom::start("scale-robot").await;
    // Each run is a fresh function and store (the tick that opens the incidents), three a store,
    // in a moto of their own (not the one holding the day of 10,000 monitors above).
    let moto = support::moto::Moto::start().await;
    let proxy = support::counting_proxy::CountingProxy::start(&moto.url).await;
    let env_of = |table: &str| counted_env(&moto, &proxy, table);
    let checks = (failing as f64 / concurrency).ceil() * 200.0;
    for store in ["DynamoDB", "file"] {
        let dynamodb = store == "DynamoDB";
        let (mut wall, mut moto_busy) = (Vec::new(), Vec::new());
        let (mut right, mut incidents, mut deliveries, mut messages) = (true, 0.0, 0, 0);
        let (mut per_incident, mut requests_made) = (0.0f64, 0usize);
        for run in 0..3 {
            let api = RuntimeApi::start().await;
            api.set_timeout(Duration::from_secs(120)).await;
            let yaml = yaml_of((0..failing).map(|i| {
                format!("{{name: f{i:04}, type: site, url: \"http://{site}/slow/200/503?n={i}\", retries: 0}}")
            }));
            std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
            let table = format!("scale-failing-{}-{run}", store.to_lowercase());
            let dir = tempfile::tempdir().expect("a folder");
            let state = dir.path().join("state.json").display().to_string();
            let mut env = if dynamodb {
                support::dynamodb::table(&moto, &table).await;
                env_of(&table)
            } else {
                vec![("STATE_FILE", state.clone())]
            };
            env.push(("WECOM_WEBHOOK_URL", wecom.url()));
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let function = api.spawn("site-status", &env).await;
            let told_before = wecom.accepted().len();
            proxy.take();
            let event = scheduled_event(&format!("failing-{store}-{run}"), &at(10));
            let started = Instant::now();
            let outcome = api.invoke(event, Duration::from_secs(150)).await;
            wall.push(started.elapsed().as_secs_f64() * 1000.0);
            let Outcome::Response(report) = outcome else {
                panic!("{outcome:?}")
            };
            let requests = proxy.take();
            function.stop().await;
            incidents = report["summary"]["open_incidents"].as_f64().unwrap_or(0.0);
            deliveries = report["deliveries"].as_array().map_or(0, Vec::len);
            messages = wecom.accepted().len() - told_before;
            let writes: f64 = requests
                .iter()
                .filter(|r| is_write(r))
                .map(|r| r.incidents as f64)
                .sum();
            per_incident = per_incident.max(writes / incidents.max(1.0));
            requests_made = requests.len();
            moto_busy.push(support::counting_proxy::busy(&requests).as_secs_f64() * 1000.0);
            right &= deliveries == 1 && incidents == failing as f64;
        }
        let (ms, ..) = stats(&wall);
        rows.push(Row {
            figure: format!("site-status: {failing} monitors failing at once, {store}: the tick that opens them"),
            pass: ms <= 2.0 * checks && right && (!dynamodb || per_incident <= 2.0),
            runs: wall,
            unit: "ms",
            ideal: Some(checks),
            target: format!(
                "<= 2 x the checks' {checks:.0} ms; {incidents:.0} incidents, {deliveries} delivery ({messages} WeCom messages) a run{}",
                if dynamodb {
                    format!(
                        "; {per_incident:.1} incident writes each (<= 2); {requests_made} requests, moto answering for {:.0} ms of it",
                        stats(&moto_busy).0
                    )
                } else {
                    String::new()
                }
            ),
        });
    }
}

/// A monitor's key in the day kept for the scale rows.
fn day_key(i: usize, site: &str) -> String {
    format!("site:s{i:05}/http://{site}/slow/200?n={i}")
}

/// Keeps a whole `day` of one-minute ticks of `monitors` site monitors in `table`, as site-status
/// writes them (one `append` a tick), their response times spread over 400 ms and a few down.
async fn keep_a_day(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    day: chrono::NaiveDate,
    monitors: usize,
    site: &str,
) {
    use futures::StreamExt as _;
    use lookout::alerting::state::History as _;
    let store = lookout::alerting::state::dynamodb::DynamoDbStore::new(client.clone(), table);
    let keys: Vec<String> = (0..monitors).map(|i| day_key(i, site)).collect();
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let (store, keys) = (&store, &keys);
    futures::stream::iter(0..1440i64)
        .map(|minute| async move {
            let record = day_tick(keys, midnight, minute);
            store.append(&record).await.expect("a tick kept");
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// Minute `minute` of the day kept for the scale rows: each monitor's response time spread over
/// 400 ms, a few down.
fn day_tick(
    keys: &[String],
    midnight: chrono::DateTime<chrono::Utc>,
    minute: i64,
) -> lookout::history::Record {
    use lookout::history::{Entry, Record, State};
    Record {
        function: "site-status".into(),
        at: midnight + chrono::Duration::minutes(minute),
        entries: keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let down = (i as i64 * 13 + minute) % 997 == 0;
                Entry {
                    key: key.clone(),
                    state: if down { State::Down } else { State::Up },
                    kind: down.then(|| "status".to_owned()),
                    ms: Some(150 + (i as u64 * 31 + minute as u64 * 7) % 400),
                    figure: None,
                }
            })
            .collect(),
    }
}

/// The daily roll-up's own work at 10,000 monitors: a day of 1,440 ticks, deflated as the store
/// keeps it, inflated and counted one chunk at a time (`history::DayTally`), in this process.
fn rollup_day(rows: &mut Vec<Row>) {
    use lookout::history::{CHUNK_BYTES, DayTally, pack, unpack};
    let monitors = 10_000;
    let keys: Vec<String> = (0..monitors)
        .map(|i| day_key(i, "127.0.0.1:8080"))
        .collect();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).expect("a day");
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let packed: Vec<Vec<u8>> = (0..1440)
        .flat_map(|minute| day_tick(&keys, midnight, minute).chunks(CHUNK_BYTES))
        .map(|chunk| pack(&chunk))
        .collect();
    let (mut inflating, mut counting, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    let mut rolled = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let mut inflated = 0;
        for chunk in &packed {
            inflated += unpack(chunk).expect("inflates").len();
        }
        inflating.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let mut tally = DayTally::new(day);
        for chunk in &packed {
            tally
                .add(&unpack(chunk).expect("inflates"))
                .expect("counted");
        }
        rolled = tally.rollups().len();
        whole.push(started.elapsed().as_secs_f64() * 1000.0);
        counting.push(whole[whole.len() - 1] - inflating[inflating.len() - 1]);
        assert!(inflated > 0);
    }
    let (ms, ..) = stats(&whole);
    let bytes: usize = packed.iter().map(Vec::len).sum();
    rows.push(Row {
        figure: format!(
            "history: a day of {monitors} monitors (1,440 ticks, {:.0} MB deflated) rolled up a chunk at a time: own time",
            bytes as f64 / 1e6
        ),
        pass: rolled == monitors,
        runs: whole,
        unit: "ms",
        ideal: None,
        target: format!(
            "{rolled} roll-ups; inflating {:.0} ms, counting {:.0} ms; {:.0} s at 128 MB's share of a vCPU",
            stats(&inflating).0,
            stats(&counting).0,
            ms / price::CPU_SHARE_128_MB / 1000.0
        ),
    });
}

/// The ingest's own time per ping and its pings a second, and the heartbeat function's own work
/// judging 10,000 monitors: in this process (no Lambda loop), on each store.
async fn ingest_rate(rows: &mut Vec<Row>) {
    use lookout::alerting::state::StateStore;
    use lookout::checks::heartbeat::{self, Heartbeat};
    use lookout::ingest::Ingest;
    use std::sync::Arc;
    let token = |n: usize| format!("bench-token-{n:012}");
    let monitors = |count: usize| -> Vec<(String, Heartbeat)> {
        (0..count)
            .map(|n| {
                let env = Env::from_pairs([
                    ("HEARTBEAT_TOKEN", token(n)),
                    ("HEARTBEAT_PERIOD", "1m".into()),
                    ("HEARTBEAT_GRACE", "30s".into()),
                ]);
                (
                    format!("host-{n}"),
                    Heartbeat::read(&env).expect("a monitor"),
                )
            })
            .collect()
    };
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let ping = |n: usize, i: usize| {
        serde_json::json!({
            "version": "2.0",
            "rawPath": format!("/ping/{}", token(n)),
            "rawQueryString": "",
            "requestContext": {"http": {"method": "POST"},
                               "timeEpoch": (start + chrono::Duration::milliseconds(i as i64 * 20)).timestamp_millis()},
            "body": "ok",
        })
    };
    let percentile = |runs: &[f64], p: usize| {
        let mut sorted = runs.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        sorted[(sorted.len() - 1) * p / 100]
    };
    // Own time: the memory store (no I/O), 10,000 pings over 1,000 monitors.
    let store: Arc<dyn StateStore> =
        Arc::new(lookout::alerting::state::memory::MemoryStore::default());
    let ingest = Ingest::new(monitors(1000), Vec::new(), store.clone());
    let mut own = Vec::new();
    for i in 0..10_000 {
        let event = ping(i * 7 % 1000, i);
        let started = Instant::now();
        let answer = ingest.handle(&event).await;
        own.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(answer["statusCode"], 200);
    }
    let (p50, p99) = (percentile(&own, 50), percentile(&own, 99));
    rows.push(Row {
        figure:
            "ingest: the handler's own time per ping (1,000 monitors, memory store, 10,000 pings)"
                .into(),
        pass: p99 <= 2.0,
        runs: own,
        unit: "ms",
        ideal: None,
        target: format!("p50 {p50:.3} ms, p99 {p99:.3} ms (p99 <= 2 ms)"),
    });
    // Pings a second by one instance (Lambda gives an instance one request at a time).
    let dir = tempfile::tempdir().expect("a folder");
    let moto = support::moto::Moto::start().await;
    let client = support::dynamodb::table(&moto, "bench-rate").await;
    let dynamodb: Arc<dyn StateStore> = Arc::new(
        lookout::alerting::state::dynamodb::DynamoDbStore::new(client, "bench-rate"),
    );
    for (name, store, count) in [
        (
            "file store",
            Arc::new(lookout::alerting::state::file::FileStore::new(
                dir.path().join("state.json"),
            )) as Arc<dyn StateStore>,
            1000usize,
        ),
        ("DynamoDB in moto", dynamodb, 300),
    ] {
        let ingest = Ingest::new(monitors(1000), Vec::new(), store);
        let started = Instant::now();
        for i in 0..count {
            let answer = ingest.handle(&ping(i * 7 % 1000, i)).await;
            assert_eq!(answer["statusCode"], 200, "{answer}");
        }
        let rate = count as f64 / started.elapsed().as_secs_f64();
        rows.push(Row {
            figure: format!("ingest: pings answered a second by one instance, {name} (a read and a conditional write each)"),
            pass: true,
            runs: vec![rate],
            unit: "pings/s",
            ideal: None,
            target: "-".into(),
        });
    }
    // The heartbeat function's own work: 10,000 monitors judged in one tick (memory store, each
    // having pinged), the whole tick (read, judge, decide, record).
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("lookout.yaml");
    let mut text = String::from("monitors:\n");
    for n in 0..10_000 {
        text.push_str(&format!(
            "  - {{name: h{n}, type: heartbeat, token: {}, period: 5m, grace: 1m}}\n",
            token(n)
        ));
    }
    std::fs::write(&path, text).expect("lookout.yaml");
    let env = Env::from_pairs([("LOOKOUT_CONFIG", path.display().to_string())]);
    let mut judged = Vec::new();
    for run in 0..3 {
        let store: Arc<dyn StateStore> =
            Arc::new(lookout::alerting::state::memory::MemoryStore::default());
        let monitor = lookout::function::assemble(&heartbeat::TYPE, &env, store.clone())
            .await
            .expect("the heartbeat monitor");
        let ingest = Ingest::new(monitors(10_000), Vec::new(), store.clone());
        for n in 0..10_000 {
            ingest.handle(&ping(n, n)).await;
        }
        let invocation =
            lookout::monitor::Invocation::new(format!("r{run}"), Duration::from_secs(60));
        let tick = Tick {
            id: format!("judge-{run}"),
            time: start + chrono::Duration::minutes(5),
            source: TickSource::Schedule,
        };
        let started = Instant::now();
        let report = monitor.tick(tick, &invocation).await;
        judged.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(
            report.results.len(),
            10_001,
            "10,000 monitors and the ingest's own"
        );
    }
    let (median, ..) = stats(&judged);
    rows.push(Row {
        figure: "heartbeat: 10,000 heartbeat monitors judged in one tick (memory store: own work)"
            .into(),
        pass: median <= 1000.0,
        runs: judged,
        unit: "ms",
        ideal: None,
        target: "<= 1 s".into(),
    });
}

/// What a site check costs in CPU, over plain HTTP and over HTTPS (a TLS handshake each: lookout
/// keeps no connection between checks, to measure connect and TLS as a visitor meets them): 1,000
/// site monitors through the bootstrap, the file store, three warm ticks. The local certificate is
/// not one lookout trusts, so these monitors skip its verification (`tls_skip_verify_hosts`); the
/// handshake is otherwise whole.
async fn tls(rows: &mut Vec<Row>) {
    let certificates = support::site::TestCertificates::self_signed();
    let secure = support::site::start_tls(&certificates).await;
    let (plain, _) = support::site::start().await;
    let monitors = 1000usize;
    for (scheme, address) in [("http", plain), ("https", secure)] {
        let api = RuntimeApi::start().await;
        let yaml = yaml_of((0..monitors).map(|i| {
            format!(
                "{{name: s{i}, type: site, url: \"{scheme}://{address}/ok?n={i}\", retries: 0, tls_skip_verify_hosts: [127.0.0.1]}}"
            )
        }));
        std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
        let function = api.spawn("site-status", &[]).await;
        let pid = function.pid().await;
        let start = chrono::Utc::now().timestamp() / 60 * 60 - 3600;
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        for minute in 0..4 {
            let before = pid.and_then(cpu_ms).unwrap_or(0.0);
            let (ms, _) = passing_tick(&api, scheme, start, minute).await;
            if minute > 0 {
                wall.push(ms);
                cpu.push(pid.and_then(cpu_ms).unwrap_or(0.0) - before);
            }
        }
        function.stop().await;
        let (per_tick, ..) = stats(&cpu);
        rows.push(Row {
            figure: format!(
                "site-status: {monitors} {} sites answering at once: the tick's CPU time",
                scheme.to_uppercase()
            ),
            pass: true,
            runs: cpu,
            unit: "ms",
            ideal: None,
            target: format!(
                "{:.2} ms of CPU a check; a tick {:.0} ms here, {:.1} s at 128 MB's share of a vCPU",
                per_tick / monitors as f64,
                stats(&wall).0,
                per_tick / price::CPU_SHARE_128_MB / 1000.0
            ),
        });
    }
}

/// The scheduled tick `minute` minutes after `start` of the function `api` runs: its wall time and
/// its report, in which no monitor fails.
async fn passing_tick(
    api: &RuntimeApi,
    name: &str,
    start: i64,
    minute: i64,
) -> (f64, serde_json::Value) {
    let started = Instant::now();
    let outcome = api
        .invoke(
            scheduled_event(&format!("{name}-{minute}"), &event_time(start, minute)),
            Duration::from_secs(120),
        )
        .await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let Outcome::Response(report) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(report["summary"]["failing"], 0, "{}", report["summary"]);
    (ms, report)
}

/// A local port that answers `OK\r\n` `delay` after each connection, then waits (5 s at most) for
/// the client to close first, so the closed connections' TIME_WAIT stays with the client. With this
/// side closing first, a whole bench run had ticks of 1.1 s among ticks of 445 ms (a SYN sent again
/// after a second); with the client closing first the runs since had at most one such tick.
async fn answering_port(delay: Duration) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if socket.write_all(b"OK\r\n").await.is_ok() {
                    let mut rest = [0u8; 64];
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), socket.read(&mut rest)).await;
                }
            });
        }
    });
    address
}

/// tcp: 1,000 monitors of a port that answers `OK` 100 ms after each connection, through the real
/// bootstrap under the emulator (`ulimit -n 1024`): they run 256 at once (`CONNECTION_SLOTS`).
async fn tcp(rows: &mut Vec<Row>) {
    let address = answering_port(Duration::from_millis(100)).await.to_string();
    let monitors = 1000usize;
    let api = RuntimeApi::start().await;
    let yaml = yaml_of(
        (0..monitors)
            .map(|n| format!("{{name: p{n}, type: tcp, address: \"{address}\", expect: OK}}")),
    );
    std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
    let function = api.spawn("site-status", &[]).await;
    let start = chrono::Utc::now().timestamp() / 60 * 60 - 3600;
    let mut wall = Vec::new();
    for minute in 0..6 {
        let (ms, _) = passing_tick(&api, "tcp", start, minute).await;
        if minute > 0 {
            wall.push(ms);
        }
    }
    function.stop().await;
    rows.push(ratio_row(
        format!("tcp: {monitors} ports x 100 ms (an answer expected), ulimit -n 1024: a warm tick"),
        wall,
        (monitors as f64 / lookout::monitor::CONNECTION_SLOTS as f64).ceil() * 100.0,
    ));
}

/// 1,000 dns monitors, each name answered by the local server of `support::dns` after 50 ms, through
/// the bootstrap under `ulimit -n 1024`: at most `CONNECTION_SLOTS` ask at once.
async fn dns(rows: &mut Vec<Row>) {
    let server = support::dns::server().await;
    let monitors = 1000usize;
    let slots = lookout::monitor::CONNECTION_SLOTS;
    // Answered after 50 ms, then at once: the second is the tick's own time for 1,000 dns monitors.
    for delay in [50u64, 0] {
        server.set_delay(Duration::from_millis(delay));
        let api = RuntimeApi::start().await;
        let yaml = yaml_of((0..monitors).map(|n| {
                format!(
                    "{{name: n{n}, type: dns, domain: n{n}.many.test, server: \"{}\", expect: 192.0.2.10}}",
                    server.address
                )
}));
        std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
        let function = api.spawn("site-status", &[]).await;
        let start = chrono::Utc::now().timestamp() / 60 * 60 - 3600;
        let (mut wall, mut lookups) = (Vec::new(), Vec::new());
        for minute in 0..6 {
            let (ms, report) = passing_tick(&api, &format!("dns-{delay}"), start, minute).await;
            if minute > 0 {
                wall.push(ms);
                // Each lookup's own time, as the check measured it.
                let text = report["results"].to_string();
                lookups.extend(
                    text.match_indices("\"elapsed_ms\":")
                        .filter_map(|(at, key)| {
                            let rest = &text[at + key.len()..];
                            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
                            rest[..end].parse::<f64>().ok()
                        }),
                );
            }
        }
        function.stop().await;
        let (p50, _, most) = stats(&lookups);
        if delay > 0 {
            let mut row = ratio_row(
                format!(
                    "dns: {monitors} names x {delay} ms from a local server, ulimit -n 1024, {slots} at once: a warm tick"
                ),
                wall,
                (monitors as f64 / slots as f64).ceil() * delay as f64,
            );
            row.target =
                format!("ratio <= 1.3; a lookup {p50:.0} ms (median), {most:.0} ms at most");
            rows.push(row);
        } else {
            rows.push(Row {
                figure: format!(
                    "dns: the same {monitors} names answered at once: the tick's own time"
                ),
                pass: true,
                runs: wall,
                unit: "ms",
                ideal: None,
                target: format!("a lookup {p50:.0} ms (median), {most:.0} ms at most"),
            });
        }
    }
}

/// 50 host monitors, all logging in to the local sshd (the way they would to 50 servers), each
/// taking its two CPU samples a second apart, `HOST_CONCURRENCY` 16: against one host alone.
async fn host_check(rows: &mut Vec<Row>) {
    use lookout::checks::{Health, Naming, SharedLedger, host};
    if !Path::new("/usr/sbin/sshd").exists() {
        println!("(no host-check row: /usr/sbin/sshd is missing; `make sshd` installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("a folder");
    let client = support::sshd::key_pair(dir.path(), "client", "ed25519", "");
    let sshd = support::sshd::Sshd::start(&[&client.public]);
    let ledger: SharedLedger =
        std::sync::Arc::new(lookout::alerting::state::memory::MemoryStore::default());
    let concurrency = 16usize;
    let monitors = |count: usize| {
        (0..count)
            .map(|i| {
                let env = Env::from_pairs([
                    ("HOST_ADDRESS", "127.0.0.1".to_owned()),
                    ("HOST_PORT", sshd.port.to_string()),
                    ("HOST_USER", sshd.user.clone()),
                    ("HOST_PRIVATE_KEY", client.private.clone()),
                    ("HOST_KEY", sshd.host_key.clone()),
                    ("HOST_CONCURRENCY", concurrency.to_string()),
                ]);
                let naming = Naming::Monitor {
                    kind: "host",
                    name: format!("db-{i}"),
                };
                (env, naming)
            })
            .collect::<Vec<_>>()
    };
    let run = |count: usize| {
        let checks = (host::TYPE.build)(monitors(count), &ledger).expect("the checks");
        async move {
            let (now, memory) = (tick(), Default::default());
            let started = Instant::now();
            let results = futures::future::join_all(
                checks.iter().map(|c| c.run(&now, &memory, far_deadline())),
            )
            .await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let failed: Vec<_> = results
                .iter()
                .flatten()
                .filter(|r| matches!(r.health, Health::Failing | Health::MonitorError))
                .collect();
            assert!(failed.is_empty(), "{failed:?}");
            ms
        }
    };
    let mut single = Vec::new();
    for _ in 0..3 {
        single.push(run(1).await);
    }
    let mut many = Vec::new();
    for _ in 0..3 {
        many.push(run(50).await);
    }
    let (one, ..) = stats(&single);
    rows.push(Row {
        figure:
            "host-check: one host through the local sshd (log in, 1 s CPU sample, memory, disks)"
                .into(),
        pass: true,
        runs: single,
        unit: "ms",
        ideal: None,
        target: "-".into(),
    });
    rows.push(ratio_row(
        format!("host-check: 50 hosts through the local sshd, concurrency {concurrency}"),
        many,
        50usize.div_ceil(concurrency) as f64 * one,
    ));
}

/// One side of the comparison with the original scripts: a function's cold start (spawned to its
/// first answer, that first tick included), its warm ticks and its peak resident memory.
struct Side {
    cold: Vec<f64>,
    warm: Vec<f64>,
    init: Vec<f64>,
    rss: Vec<f64>,
}

/// Runs a function (lookout's bootstrap under `binary`, or a script) `runs` times from cold, two
/// ticks each, against the same fakes.
async fn side(binary: &str, env: &[(&str, &str)], script: Option<&str>, runs: i64) -> Side {
    let mut side = Side {
        cold: Vec::new(),
        warm: Vec::new(),
        init: Vec::new(),
        rss: Vec::new(),
    };
    let start = chrono::Utc::now().timestamp() / 60 * 60 - 3600;
    for run in 0..runs {
        let api = RuntimeApi::start().await;
        let binary = match script {
            Some(handler) => {
                // The original approach: Python, run by awslambdaric from the function's folder.
                let folder = api.task_root();
                std::fs::copy(
                    concat!(env!("CARGO_MANIFEST_DIR"), "/benches/original/handler.py"),
                    folder.join("handler.py"),
                )
                .expect("handler.py");
                let wrapper = folder.join("python-function");
                std::fs::write(
                    &wrapper,
                    format!(
                        "#!/bin/sh\nexec {}/.venv/bin/python -m awslambdaric handler.{handler}\n",
                        env!("CARGO_MANIFEST_DIR")
                    ),
                )
                .expect("the wrapper");
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
                    .expect("executable");
                wrapper.display().to_string()
            }
            None => binary.to_owned(),
        };
        let started = Instant::now();
        let function = api.spawn(&binary, env).await;
        let first = api
            .invoke(
                scheduled_event(&format!("side-{run}-a"), &event_time(start, 2 * run)),
                Duration::from_secs(120),
            )
            .await;
        side.cold.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(
            matches!(first, Outcome::Response(_)),
            "{binary}: {first:?}\n{}",
            function.output().await
        );
        let again = Instant::now();
        let second = api
            .invoke(
                scheduled_event(&format!("side-{run}-b"), &event_time(start, 2 * run + 1)),
                Duration::from_secs(120),
            )
            .await;
        side.warm.push(again.elapsed().as_secs_f64() * 1000.0);
        assert!(
            matches!(second, Outcome::Response(_)),
            "{binary}: {second:?}"
        );
        if let Some(mb) = function.pid().await.and_then(peak_rss_mb) {
            side.rss.push(mb);
        }
        function.stop().await;
    }
    side
}

/// lookout next to what it replaces, in the same run: the original scripts' approach (a Python
/// handler under awslambdaric, one request at a time, urllib with a 2.5 s timeout, regular
/// expressions over the speed test's replies) and lookout's functions, on the same 64 speed-test
/// nodes x 300 ms and the same 20 sites x 200 ms, through the same emulator.
async fn original(rows: &mut Vec<Row>) {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let ric = std::process::Command::new(python)
        .args(["-c", "import awslambdaric"])
        .status()
        .is_ok_and(|s| s.success());
    if !ric {
        println!("(no side-by-side rows: awslambdaric is not in .venv; `make tools` installs it)");
        return;
    }
    let chinaz = FakeChinaz::start(
        (0..64)
            .map(|i| FakeNode::new(i, 1 + (i % 5) as u8, &format!("node{i}"), 300, "300"))
            .collect(),
    )
    .await;
    let (site, _) = support::site::start().await;
    let urls: Vec<String> = (0..20)
        .map(|i| format!("http://{site}/slow/200?n={i}"))
        .collect();
    let urls = urls.join(",");
    let base = chinaz.base_url();
    let speed_env = [
        ("SPEEDTEST_TARGET", "www.example.com"),
        ("SPEEDTEST_BASE_URL", base.as_str()),
    ];
    let site_env = [("SITE_URLS", urls.as_str()), ("SITE_RETRIES", "0")];
    for (what, binary, env, handler) in [
        (
            "64 speed-test nodes x 300 ms",
            "speed-test",
            &speed_env[..],
            "speed",
        ),
        ("20 sites x 200 ms", "site-status", &site_env[..], "sites"),
    ] {
        // Two runs of the script (its 64 nodes take 20 s a tick), three of lookout.
        let mut script = side(binary, env, Some(handler), 2).await;
        let mut ours = side(binary, env, None, 3).await;
        // The start itself: what the first tick takes beyond a warm one.
        for side in [&mut script, &mut ours] {
            side.init = side
                .cold
                .iter()
                .zip(&side.warm)
                .map(|(cold, warm)| (cold - warm).max(0.0))
                .collect();
        }
        for (figure, unit, theirs, mine) in [
            (
                "cold start, first tick included",
                "ms",
                &script.cold,
                &ours.cold,
            ),
            (
                "the start alone (cold minus warm)",
                "ms",
                &script.init,
                &ours.init,
            ),
            ("a warm tick", "ms", &script.warm, &ours.warm),
            ("peak resident memory", "MB", &script.rss, &ours.rss),
        ] {
            let (median, ..) = stats(mine);
            let (them, ..) = stats(theirs);
            rows.push(Row {
                figure: format!("{what}, the original scripts' approach (Python, awslambdaric, one at a time): {figure}"),
                pass: true,
                runs: theirs.clone(),
                unit,
                ideal: None,
                target: "-".into(),
            });
            rows.push(Row {
                figure: format!("{what}, lookout's {binary}: {figure}"),
                pass: median <= them,
                runs: mine.clone(),
                unit,
                ideal: None,
                target: format!("{:.2} of the original's", median / them),
            });
        }
    }
}

/// The first run and the demo, as `make run` and `make demo` start them on a fresh clone: the
/// whole process, stand-ins included.
fn first_run(rows: &mut Vec<Row>) {
    for (figure, args, limit) in [
        (
            "first run (`make run`, nothing configured): every function once against the stand-ins",
            &["first-run"][..],
            5_000.0,
        ),
        (
            "demo (`lookout demo --fast`): six hours of 5-minute ticks replayed",
            &["demo", "--fast"][..],
            2_000.0,
        ),
    ] {
        let mut runs = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
                .args(args)
                .env_clear()
                .output()
                .expect("lookout runs");
            assert!(output.status.success(), "{output:?}");
            runs.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let (median, ..) = stats(&runs);
        rows.push(Row {
            figure: figure.into(),
            pass: median <= limit,
            runs,
            unit: "ms",
            ideal: None,
            target: format!("<= {limit:.0} ms"),
        });
    }
}

fn zipped_size(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o755);
        zip.start_file("bootstrap", options).ok()?;
        zip.write_all(&bytes).ok()?;
        zip.finish().ok()?;
    }
    Some(buffer.into_inner().len() as u64)
}

fn sizes(rows: &mut Vec<Row>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Every function is the one bootstrap: `make build-check` holds them to the same file. The
    // deployed one is `make build`'s (arm64 by default, the release profile with thin LTO); the
    // bench's own is built without LTO, so it is not the one sized.
    let built = root.join(".aws-sam/build/SiteStatusFunction/bootstrap");
    let (path, arch) = match std::fs::read(&built) {
        // The ELF header's machine: 0xb7 is aarch64, 0x3e x86-64.
        Ok(bytes) if bytes.len() > 19 => {
            (built, if bytes[18] == 0xb7 { "arm64" } else { "x86_64" })
        }
        _ => {
            println!(
                "(no .aws-sam/build bootstrap to size: `make build` builds the deployed one; the bench's own is built without LTO)"
            );
            return;
        }
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return;
    };
    let size = meta.len() as f64 / 1_048_576.0;
    rows.push(Row {
        figure: format!("bootstrap (every function): {arch}, stripped"),
        pass: true,
        runs: vec![size],
        unit: "MB",
        ideal: None,
        target: "-".into(),
    });
    if let Some(zipped) = zipped_size(&path) {
        let mb = zipped as f64 / 1_048_576.0;
        rows.push(Row {
            figure: format!("bootstrap (every function): {arch}, zipped"),
            pass: mb <= 6.0,
            runs: vec![mb],
            unit: "MB",
            ideal: None,
            target: "<= 6 MB".into(),
        });
    }
}

fn print(rows: &[Row]) {
    println!();
    println!("| figure | median | min | max | ratio | target | met |");
    println!("|---|---:|---:|---:|---:|---|---|");
    for row in rows {
        let (median, min, max) = stats(&row.runs);
        let unit = row.unit;
        let ratio = row.ideal.map_or_else(
            || "-".into(),
            |ideal| format!("{:.2} (ideal {ideal:.0} ms)", median / ideal),
        );
        println!(
            "| {} | {median:.1} {unit} | {min:.1} {unit} | {max:.1} {unit} | {ratio} | {} | {} |",
            row.figure,
            row.target,
            if row.pass { "yes" } else { "NO" }
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // BENCH_ONLY=kafka (site, speed, kafka, fan-out, file, heartbeats, first-run, status, binaries, cost, rollup, scale, ingest-rate, tcp, dns, host, original, tls, sizes) runs one
    // part.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only == part;
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        if wanted("site") {
            site_status(&mut rows).await;
        }
        if wanted("speed") {
            speed_test(&mut rows).await;
        }
        if wanted("kafka") {
            kafka_lag(&mut rows).await;
        }
        if wanted("fan-out") {
            fan_out_three(&mut rows).await;
        }
        if wanted("file") {
            config_file(&mut rows).await;
        }
        if wanted("heartbeats") {
            heartbeats(&mut rows).await;
        }
        if wanted("first-run") {
            first_run(&mut rows);
        }
        if wanted("status") {
            status(&mut rows);
            status_views(&mut rows).await;
        }
        if wanted("binaries") {
            binaries(&mut rows).await;
        }
        if wanted("cost") {
            cost(&mut rows).await;
        }
        if wanted("tcp") {
            tcp(&mut rows).await;
        }
        if wanted("tls") {
            tls(&mut rows).await;
        }
        if wanted("original") {
            original(&mut rows).await;
        }
        if wanted("host") {
            host_check(&mut rows).await;
        }
        if wanted("dns") {
            dns(&mut rows).await;
        }
        if wanted("ingest-rate") {
            ingest_rate(&mut rows).await;
        }
        if wanted("rollup") {
            rollup_day(&mut rows);
        }
        if wanted("scale") {
            scale(&mut rows).await;
        }
        if wanted("sizes") {
            sizes(&mut rows);
        }
        rows
    });
    println!(
        "lookout benchmark, {} on {} ({} cores)",
        chrono::Utc::now().format("%Y-%m-%d"),
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    print(&rows);
}

/// A deadline no check here comes near.
fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(600)
}
