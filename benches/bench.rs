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

async fn kafka_lag(rows: &mut Vec<Row>) {
    for topics in [50usize, 500, 2000] {
        let api = FakeTencent::start().await;
        api.set_group(
            "billing",
            (0..topics)
                .map(|i| topic(&format!("topic-{i:05}"), &[(10, 20), (30, 45)]))
                .collect(),
        );
        api.set_page_delay(Duration::from_millis(100));
        let env = Env::from_pairs([
            ("CKAFKA_INSTANCE_ID", INSTANCE_ID.to_owned()),
            ("CKAFKA_GROUPS", "billing".into()),
            ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID.into()),
            ("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY.into()),
            ("TENCENTCLOUD_CKAFKA_ENDPOINT", api.url()),
        ]);
        let check = KafkaLagCheck::new(
            lookout::config::read::settings::<KafkaLagSettings>(&env).expect("settings"),
        )
        .expect("client");
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(time_ms(check.run(&tick(), &Default::default(), far_deadline())).await);
            // Ticks are minutes apart: the request pace's bucket is full again by the next one.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // The first page, then the rest: 20 in flight at most, and no more than the API's 100
        // requests in any second.
        let pages = topics.div_ceil(50);
        let rest = pages.saturating_sub(1) as f64;
        let rounds = (rest / 20.0).ceil() * 100.0;
        let paced = if rest > 100.0 {
            (rest - 100.0) * 10.0 + 100.0
        } else {
            0.0
        };
        rows.push(ratio_row(
            format!(
                "kafka-lag: {topics} topics ({pages} page{}) x 100 ms",
                if pages == 1 { "" } else { "s" }
            ),
            runs,
            100.0 + rounds.max(paced),
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
        assert_eq!(report["summary"]["checked"], 1000, "{report}");
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

/// The history and the status page: what a tick of 1,000 site monitors writes, and what a page of
/// 200 public monitors costs to draw (its own time) and to read (DynamoDB read units).
fn status(rows: &mut Vec<Row>) {
    use lookout::history::{CHUNK_BYTES, Entry, Record, Rollup, State};
    use lookout::status::{html, view};
    let now = chrono::Utc::now();
    let record = |at: chrono::DateTime<chrono::Utc>, monitors: usize| Record {
        function: "site-status".into(),
        at,
        entries: (0..monitors)
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
    };
    let tick = record(now, 1000);
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
        .map(|m| record(now - chrono::Duration::minutes(1440 - m), 200))
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
    let monitors: Vec<view::Listed> = (0..200)
        .map(|i| view::Listed {
            name: format!("shop-{i:04}"),
            kind: "site",
            function: "site-status",
            group: Some(format!("group {}", i / 20)),
        })
        .collect();
    let mut rollups = Vec::new();
    for back in 1..90 {
        let day = now.date_naive() - chrono::Duration::days(back);
        for monitor in &monitors {
            rollups.push(Rollup {
                key: monitor.key(),
                day,
                checks: 1440,
                up: 1439,
                down: 1,
                errors: 0,
                degraded: 0,
                p50_ms: Some(120),
                p95_ms: Some(300),
                downtime_minutes: 1,
            });
        }
    }
    let rollup_bytes: usize = rollups
        .iter()
        .map(|r| serde_json::to_string(r).map_or(0, |t| t.len()) + 60)
        .sum();
    let inputs = view::Inputs {
        monitors,
        records: [("site-status".to_owned(), records)].into(),
        rollups,
        ..view::Inputs::default()
    };
    let look = html::Look {
        title: "Status".into(),
        description: None,
        language: lookout::alerting::render::Language::English,
        timezone: chrono_tz::UTC,
        link_suffix: String::new(),
    };
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
    pub const SECRET: f64 = 0.40;

    /// The stack's fixed part: its alarms (counted in template.yaml) and the secret.
    pub fn fixed() -> f64 {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
                .unwrap_or_default();
        template.matches("Type: AWS::CloudWatch::Alarm").count() as f64 * ALARM + SECRET
    }
}

/// What N site monitors checked every minute cost a month, all in, with metrics off: a real
/// site-status bootstrap through the Lambda emulator, 128 MB, its state in DynamoDB (moto behind a
/// proxy that counts every request and its bytes), each site answering in 200 ms. Lambda's
/// duration, the DynamoDB requests and the log bytes of a warm tick are measured; the prices above
/// turn them into dollars.
async fn cost(rows: &mut Vec<Row>) {
    let (site, _) = support::site::start().await;
    let moto = support::moto::Moto::start().await;
    support::dynamodb::table(&moto, "lookout-state").await;
    let proxy = support::counting_proxy::CountingProxy::start(&moto.url).await;
    for monitors in [10usize, 100, 1000] {
        let api = RuntimeApi::start().await;
        let yaml: String = std::iter::once("monitors:\n".to_owned())
            .chain((0..monitors).map(|i| {
                format!(
                    "  - {{name: site-{i:04}, type: site, url: \"http://{site}/slow/200?n={i}\", retries: 0}}\n"
                )
            }))
            .collect();
        std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
        let env = counted_env(&moto, &proxy, "lookout-state");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let function = api.spawn("site-status", &env).await;
        let (mut wall, mut writes, mut write_units, mut read_units, mut log_bytes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut printed = 0;
        for minute in 0..6 {
            let event = scheduled_event(
                &format!("cost-{monitors}-{minute}"),
                &format!("2026-12-06T06:{:02}:00Z", 10 + minute),
            );
            let started = Instant::now();
            let outcome = api.invoke(event, Duration::from_secs(120)).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
            let requests = proxy.take();
            let output = function.output().await.len();
            // The first tick starts the process and writes what a first tick writes: the warm ones
            // are the month's ticks.
            if minute > 0 {
                wall.push(ms);
                let written: Vec<_> = requests.iter().filter(|r| is_write(r)).collect();
                writes.push(written.len() as f64);
                // Upper bounds from the bytes: a write unit per KB sent, a read unit per 4 KB
                // answered (at least one each).
                write_units.push(
                    written
                        .iter()
                        .map(|r| r.sent.div_ceil(1024).max(1) as f64)
                        .sum::<f64>(),
                );
                read_units.push(
                    requests
                        .iter()
                        .filter(|r| {
                            ["GetItem", "Query", "BatchGetItem", "Scan"]
                                .iter()
                                .any(|op| r.operation.ends_with(op))
                        })
                        .map(|r| r.received.div_ceil(4096).max(1) as f64)
                        .sum::<f64>(),
                );
                log_bytes.push((output - printed) as f64 + price::LAMBDA_LOG_LINES);
            }
            printed = output;
        }
        let rss = function.pid().await.and_then(peak_rss_mb).unwrap_or(0.0);
        function.stop().await;
        let (ms, ..) = stats(&wall);
        let (wus, ..) = stats(&write_units);
        let (rus, ..) = stats(&read_units);
        let (logs, ..) = stats(&log_bytes);
        let history = history_bytes(monitors);
        let lambda = price::TICKS_A_MONTH
            * (price::LAMBDA_REQUEST + ms.ceil() / 1000.0 * 0.125 * price::LAMBDA_GB_S);
        // Roll-ups: one small write per monitor per day.
        let dynamodb = price::TICKS_A_MONTH * (wus * price::WRITE_UNIT + rus * price::READ_UNIT)
            + monitors as f64 * 30.0 * price::WRITE_UNIT;
        // The history is kept 400 days: its size once the table is full.
        let kept = history as f64 * price::TICKS_A_MONTH * 400.0 / 30.0 / 1e9 * price::GB_MONTH;
        let log = logs * price::TICKS_A_MONTH / 1e9 * price::LOG_GB;
        // Each function's three totals.
        let metrics = 3.0 * price::METRIC;
        let total = lambda + dynamodb + kept + log + metrics + price::fixed();
        rows.push(Row {
            figure: format!("site-status, {monitors} sites x 200 ms at 1 minute: a warm tick (128 MB, DynamoDB)"),
            pass: true,
            runs: wall,
            unit: "ms",
            ideal: None,
            target: format!(
                "{:.0} writes ({wus:.0} WRU), {rus:.0} RRU, {:.1} KB of logs, {:.1} KB of history; peak {rss:.0} MB",
                stats(&writes).0,
                logs / 1024.0,
                history as f64 / 1024.0
            ),
        });
        rows.push(Row {
            figure: format!("cost a month: {monitors} site monitors at 1 minute, metrics off, all in"),
            pass: monitors < 1000 || total <= 10.0,
            runs: vec![total],
            unit: "$",
            ideal: None,
            target: format!(
                "Lambda ${lambda:.2}, DynamoDB ${dynamodb:.2}, history kept ${kept:.2}, logs ${log:.2}, metrics ${metrics:.2}, fixed ${:.2}{}",
                price::fixed(),
                if monitors == 1000 { "; <= $10" } else { "" }
            ),
        });
    }
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

    // 10,000 healthy monitors, 200 ms each: three ticks, the first a cold start.
    let monitors = 10_000usize;
    support::dynamodb::table(&moto, "scale-10k").await;
    let api = RuntimeApi::start().await;
    api.set_timeout(Duration::from_secs(120)).await;
    let yaml: String = std::iter::once("monitors:\n".to_owned())
        .chain((0..monitors).map(|i| {
            format!("  - {{name: s{i:05}, type: site, url: \"http://{site}/slow/200?n={i}\", retries: 0}}\n")
        }))
        .collect();
    std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
    let env = env_of("scale-10k");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = api.spawn("site-status", &env).await;
    let (mut wall, mut false_failures, mut state_writes, mut history) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let start = chrono::Utc::now().timestamp() / 60 * 60 - 3600;
    let at = |minute: i64| event_time(start, minute);
    for minute in 0..3 {
        proxy.take();
        let event = scheduled_event(&format!("scale-{minute}"), &at(minute));
        let started = Instant::now();
        let outcome = api.invoke(event, Duration::from_secs(150)).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let Outcome::Response(report) = outcome else {
            panic!("{outcome:?}")
        };
        let requests = proxy.take();
        if minute == 0 {
            continue;
        }
        wall.push(ms);
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
            "ratio <= 1.3; {failures:.0} false failures (0); peak RSS {rss:.0} MB (<= 96 MB)"
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
    for store in ["DynamoDB", "file"] {
        let api = RuntimeApi::start().await;
        api.set_timeout(Duration::from_secs(120)).await;
        let yaml: String = std::iter::once("monitors:\n".to_owned())
            .chain((0..failing).map(|i| {
                format!("  - {{name: f{i:04}, type: site, url: \"http://{site}/slow/200/503?n={i}\", retries: 0}}\n")
            }))
            .collect();
        std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
        let table = format!("scale-failing-{}", store.to_lowercase());
        let dir = tempfile::tempdir().expect("a folder");
        let state = dir.path().join("state.json").display().to_string();
        let mut env = match store {
            "DynamoDB" => {
                support::dynamodb::table(&moto, &table).await;
                env_of(&table)
            }
            _ => vec![("STATE_FILE", state.clone())],
        };
        env.push(("WECOM_WEBHOOK_URL", wecom.url()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let function = api.spawn("site-status", &env).await;
        let told_before = wecom.accepted().len();
        proxy.take();
        let event = scheduled_event(&format!("failing-{store}"), &at(10));
        let started = Instant::now();
        let outcome = api.invoke(event, Duration::from_secs(150)).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let Outcome::Response(report) = outcome else {
            panic!("{outcome:?}")
        };
        let requests = proxy.take();
        function.stop().await;
        let incidents = report["summary"]["open_incidents"].as_f64().unwrap_or(0.0);
        let deliveries = report["deliveries"].as_array().map_or(0, Vec::len);
        let messages = wecom.accepted().len() - told_before;
        let writes: f64 = requests
            .iter()
            .filter(|r| is_write(r))
            .map(|r| r.incidents as f64)
            .sum();
        let per_incident = writes / incidents.max(1.0);
        let checks = (failing as f64 / concurrency).ceil() * 200.0;
        let dynamodb = store == "DynamoDB";
        rows.push(Row {
            figure: format!("site-status: {failing} monitors failing at once, {store}: the tick that opens them"),
            pass: ms <= 2.0 * checks
                && deliveries == 1
                && incidents == failing as f64
                && (!dynamodb || per_incident <= 2.0),
            runs: vec![ms],
            unit: "ms",
            ideal: Some(checks),
            target: format!(
                "<= 2 x the checks' {checks:.0} ms; {incidents:.0} incidents, {deliveries} delivery ({messages} WeCom messages){}",
                if dynamodb {
                    format!("; {per_incident:.1} incident writes each (<= 2)")
                } else {
                    String::new()
                }
            ),
        });
    }
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

/// tcp: 1,000 monitors of a port that answers `OK` 100 ms after each connection, through the real
/// bootstrap under the emulator (`ulimit -n 1024`): they run 256 at once (`CONNECTION_SLOTS`).
async fn tcp(rows: &mut Vec<Row>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("its address").to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = socket.write_all(b"OK\r\n").await;
            });
        }
    });
    let monitors = 1000usize;
    let api = RuntimeApi::start().await;
    let yaml: String = std::iter::once("monitors:\n".to_owned())
        .chain((0..monitors).map(|n| {
            format!("  - {{name: p{n}, type: tcp, address: \"{address}\", expect: OK}}\n")
        }))
        .collect();
    std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("lookout.yaml");
    let function = api.spawn("site-status", &[]).await;
    let start = chrono::Utc::now().timestamp() / 60 * 60 - 3600;
    let mut wall = Vec::new();
    for minute in 0..6 {
        let time = event_time(start, minute);
        let started = Instant::now();
        let outcome = api
            .invoke(
                scheduled_event(&format!("tcp-{minute}"), &time),
                Duration::from_secs(60),
            )
            .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let Outcome::Response(report) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(report["summary"]["failing"], 0, "{}", report["summary"]);
        if minute > 0 {
            wall.push(ms);
        }
    }
    function.stop().await;
    rows.push(ratio_row(
        format!("tcp: {monitors} ports x 100 ms (an answer expected), ulimit -n 1024: a warm tick"),
        wall,
        (monitors as f64 / 256.0).ceil() * 100.0,
    ));
}

/// The deflated history of one tick of `monitors` healthy site monitors.
fn history_bytes(monitors: usize) -> usize {
    use lookout::history::{CHUNK_BYTES, Entry, Record, State};
    Record {
        function: "site-status".into(),
        at: chrono::Utc::now(),
        entries: (0..monitors)
            .map(|i| Entry {
                key: format!("site:site-{i:04}"),
                state: State::Up,
                kind: None,
                ms: Some(200 + (i as u64 * 7) % 40),
                figure: None,
            })
            .collect(),
    }
    .packed_chunks(CHUNK_BYTES)
    .iter()
    .map(Vec::len)
    .sum()
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
    // Every function is the one bootstrap: `make build-check` holds them to the same file.
    let path = root.join(".aws-sam/build/SiteStatusFunction/bootstrap");
    let Ok(meta) = std::fs::metadata(&path) else {
        println!(
            "(no {} : run `make build` first to size the arm64 bootstrap)",
            path.display()
        );
        return;
    };
    let size = meta.len() as f64 / 1_048_576.0;
    rows.push(Row {
        figure: "bootstrap (every function): arm64, stripped".into(),
        pass: true,
        runs: vec![size],
        unit: "MB",
        ideal: None,
        target: "-".into(),
    });
    if let Some(zipped) = zipped_size(&path) {
        let mb = zipped as f64 / 1_048_576.0;
        rows.push(Row {
            figure: "bootstrap (every function): arm64, zipped".into(),
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
    // BENCH_ONLY=kafka (site, speed, kafka, fan-out, file, heartbeats, first-run, status, binaries, cost, scale, ingest-rate, tcp, sizes) runs one
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
        if wanted("ingest-rate") {
            ingest_rate(&mut rows).await;
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
