//! Heartbeats end to end: the ingest binary under the Runtime API emulator with Function URL events,
//! replayed nights through the lifecycle (maintenance windows, the escalation ladder in minutes
//! offline), cron-scheduled jobs, and both functions on DynamoDB in moto.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use lookout::alerting::AlertState;
use lookout::alerting::state::SharedStore;
use lookout::alerting::state::dynamodb::DynamoDbStore;
use lookout::alerting::state::file::FileStore;
use lookout::alerting::state::memory::MemoryStore;
use lookout::checks::heartbeat;
use lookout::config::Env;
use lookout::ledger::Ledger;
use lookout::monitor::{Monitor, Watch};
use lookout::notify::Channel;
use lookout::pings::{Ping, Signal, token_hash};
use lookout::setup::file;
use serde_json::json;
use support::function_url::url_event;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::moto::{self, Moto};
use support::scripted::{Recorder, Sent, invocation, tick_at};

const WEB1_TOKEN: &str = "w1-Zq8d3kT0vYp2mXr7";
const WEB2_TOKEN: &str = "w2-Hf5nB9cL1sQe4uJa";
const BACKUP_TOKEN: &str = "bk-P3oW6yG8tN2iV0xC";
/// A well-formed token no monitor has.
const STRANGER: &str = "zz-Kk4Rr8Tt1Yy5Uu9Ii";

fn response(outcome: Outcome) -> (u16, String) {
    let Outcome::Response(value) = outcome else {
        panic!("the function failed: {outcome:?}");
    };
    (
        value["statusCode"].as_u64().expect("a status") as u16,
        value["body"].as_str().unwrap_or_default().to_owned(),
    )
}

const YAML: &str = r#"
monitors:
  - {name: web-1, type: heartbeat, token: "${WEB1_TOKEN}", period: 1m, grace: 30s}
  - {name: web-2, type: heartbeat, token: "${WEB2_TOKEN}", period: 1m, grace: 30s}
  - name: nightly-backup
    type: heartbeat
    token: "${BACKUP_TOKEN}"
    schedule: "0 2 * * *"
    timezone: Asia/Shanghai
    grace: 1h
"#;

fn tokens() -> Vec<(&'static str, &'static str)> {
    vec![
        ("WEB1_TOKEN", WEB1_TOKEN),
        ("WEB2_TOKEN", WEB2_TOKEN),
        ("BACKUP_TOKEN", BACKUP_TOKEN),
    ]
}

#[tokio::test]
async fn the_ingest_function_answers_every_row_of_the_protocol_and_never_prints_a_token() {
    let api = RuntimeApi::start().await;
    std::fs::write(api.task_root().join("lookout.yaml"), YAML).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_path = state.display().to_string();
    let mut env = tokens();
    env.push(("STATE_FILE", &state_path));
    let function = api.spawn(env!("CARGO_BIN_EXE_ingest"), &env).await;
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let send = |method: &'static str, path: String, body: Vec<u8>, time: DateTime<Utc>| {
        let api = &api;
        async move {
            response(
                api.invoke(
                    url_event(method, &path, &body, time),
                    Duration::from_secs(20),
                )
                .await,
            )
        }
    };
    let store = FileStore::new(&state);
    let record = |token: &str| {
        let store = &store;
        let hash = token_hash(token);
        async move {
            store
                .pings(std::slice::from_ref(&hash))
                .await
                .unwrap()
                .remove(&hash)
        }
    };

    // A run of the backup: start, a log line, exit status 0.
    let ok = (200, "OK".to_owned());
    assert_eq!(
        send("GET", format!("/ping/{BACKUP_TOKEN}/start"), vec![], at(0)).await,
        ok
    );
    let r = record(BACKUP_TOKEN).await.expect("kept");
    assert_eq!(
        (r.started_at, r.ended_at, r.monitor.as_str()),
        (Some(at(0)), None, "nightly-backup")
    );
    assert_eq!(
        send(
            "POST",
            format!("/ping/{BACKUP_TOKEN}/log"),
            b"copied 12 GB".to_vec(),
            at(60)
        )
        .await,
        ok
    );
    assert_eq!(
        record(BACKUP_TOKEN).await.unwrap().output.as_deref(),
        Some("copied 12 GB")
    );
    assert_eq!(
        send("POST", format!("/ping/{BACKUP_TOKEN}/0"), vec![], at(120)).await,
        ok
    );
    let r = record(BACKUP_TOKEN).await.unwrap();
    assert_eq!(
        (r.ended_at, r.ended_ok, r.exit_status, r.output),
        (Some(at(120)), true, Some(0), None)
    );
    // It fails the next time, with an exit status and its output (sent as a file, so the Function
    // URL hands it over in base64); then /fail without one.
    let binary = support::function_url::url_event_of(
        "POST",
        &format!("/ping/{BACKUP_TOKEN}/3"),
        Some("application/octet-stream"),
        b"rsync: No space left on device\n",
        at(200),
    );
    assert_eq!(binary["isBase64Encoded"], true);
    assert_eq!(
        response(api.invoke(binary, Duration::from_secs(20)).await),
        ok
    );
    let r = record(BACKUP_TOKEN).await.unwrap();
    assert_eq!((r.ended_ok, r.exit_status), (false, Some(3)));
    assert_eq!(r.output.as_deref(), Some("rsync: No space left on device"));
    assert_eq!(
        send("GET", format!("/ping/{BACKUP_TOKEN}/fail"), vec![], at(300)).await,
        ok
    );
    assert_eq!(record(BACKUP_TOKEN).await.unwrap().exit_status, None);

    // A host: GET, POST and HEAD are successes; a repeat within 10 s stores nothing new.
    assert_eq!(
        send("GET", format!("/ping/{WEB1_TOKEN}"), vec![], at(0)).await,
        ok
    );
    assert_eq!(
        send("POST", format!("/ping/{WEB1_TOKEN}"), vec![], at(5)).await,
        ok
    );
    assert_eq!(
        record(WEB1_TOKEN).await.unwrap().last_at,
        at(0),
        "a repeat within 10 s"
    );
    assert_eq!(
        send("HEAD", format!("/ping/{WEB1_TOKEN}/"), vec![], at(30)).await,
        (200, String::new())
    );
    assert_eq!(record(WEB1_TOKEN).await.unwrap().last_at, at(30));
    // A replayed older ping changes nothing.
    assert_eq!(
        send("GET", format!("/ping/{WEB1_TOKEN}/fail"), vec![], at(20)).await,
        ok
    );
    assert!(record(WEB1_TOKEN).await.unwrap().ended_ok);

    // Unknown tokens, long or short: one answer.
    let unknown = send("GET", format!("/ping/{STRANGER}"), vec![], at(40)).await;
    assert_eq!(unknown.0, 404);
    for path in [
        format!("/ping/{STRANGER}/start"),
        "/ping/abc".to_owned(),
        format!("/ping/{}", &WEB1_TOKEN[..15]),
        format!("/ping/{WEB1_TOKEN}x"),
    ] {
        assert_eq!(
            send("GET", path.clone(), vec![], at(41)).await,
            unknown,
            "{path}"
        );
    }
    // Malformed paths.
    for path in [
        format!("/ping/{WEB1_TOKEN}/../{WEB2_TOKEN}"),
        format!("/ping/..%2F{WEB1_TOKEN}"),
        format!("/ping/{WEB1_TOKEN}%2Fstart"),
        format!("/ping/{WEB1_TOKEN}/256"),
        format!("/ping/{WEB1_TOKEN}/Restart"),
        format!("/ping/{WEB1_TOKEN}/start/now"),
    ] {
        let (status, body) = send("GET", path.clone(), vec![], at(42)).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    assert_eq!(send("GET", "/".into(), vec![], at(42)).await.0, 404);
    // A body over 1 MB, and another method.
    let (status, _) = send(
        "POST",
        format!("/ping/{WEB1_TOKEN}"),
        vec![b'x'; 2 << 20],
        at(50),
    )
    .await;
    assert_eq!(status, 413);
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        let (status, _) = send(method, format!("/ping/{WEB1_TOKEN}"), vec![], at(51)).await;
        assert_eq!(status, 405, "{method}");
    }
    // A body over 10 KB (and under 1 MB) is kept by its end.
    let mut long = vec![b'.'; 100_000];
    long.extend_from_slice(b"\nthe end\n");
    assert_eq!(
        send("POST", format!("/ping/{BACKUP_TOKEN}/log"), long, at(400)).await,
        ok
    );
    let output = record(BACKUP_TOKEN).await.unwrap().output.unwrap();
    assert!(
        output.len() <= 10 * 1024 + 3 && output.ends_with("the end"),
        "{}",
        output.len()
    );
    // Not a Function URL event at all.
    let (status, _) = response(
        api.invoke(json!({"hello": "world"}), Duration::from_secs(20))
            .await,
    );
    assert_eq!(status, 400);

    let printed = function.stop().await;
    for token in [
        WEB1_TOKEN,
        WEB2_TOKEN,
        BACKUP_TOKEN,
        STRANGER,
        &WEB1_TOKEN[..15],
    ] {
        assert!(!printed.contains(token), "a token was printed:\n{printed}");
    }
    let kept = std::fs::read_to_string(&state).unwrap();
    assert!(!kept.contains(WEB1_TOKEN) && kept.contains(&token_hash(WEB1_TOKEN)));
    assert!(!printed.contains("panicked"), "{printed}");
    assert_eq!(function.starts(), 1, "one process answered everything");
}

/// Shanghai wall-clock time on 2026-12-01 (`day` days later), as UTC.
fn local(day: i64, hour: u32, minute: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2026, 12, 1, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::days(day)
}

/// The heartbeat function's monitor of `yaml`, alerting a recording channel, on `store`.
fn heartbeat_monitor(yaml: &str, store: &SharedStore, sent: &Sent) -> Monitor {
    let env = Env::from_pairs(tokens());
    let file = file::load("lookout.yaml", yaml, &env).expect("a valid file");
    let specs: Vec<_> = file.monitors.clone().unwrap_or_default();
    let checks = (heartbeat::TYPE.build)(
        specs
            .iter()
            .map(|m| {
                let naming = lookout::checks::Naming::Monitor {
                    kind: "heartbeat",
                    name: m.name.clone(),
                };
                (m.env.clone(), naming)
            })
            .collect(),
        &(store.clone() as lookout::checks::SharedLedger),
    )
    .expect("the checks");
    let watches = checks
        .into_iter()
        .zip(&specs)
        .map(|(check, spec)| Watch {
            check,
            channels: vec!["ops".into()],
            policy: spec.policy.clone(),
            every: spec.every,
            shown: spec.shown.clone(),
        })
        .collect();
    let channel =
        Channel::from(Box::new(Recorder::new("ops", sent)) as Box<dyn lookout::notify::Notifier>);
    Monitor::watching(
        "heartbeat",
        watches,
        vec![channel],
        Arc::clone(store),
        file.policy,
    )
}

/// What a recording channel heard, in order: (tick, monitor, state, step, kind, since, until).
type Heard = (
    DateTime<Utc>,
    String,
    AlertState,
    Option<u32>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn heard(sent: &Sent) -> Vec<Heard> {
    sent.lock()
        .unwrap()
        .iter()
        .flat_map(|(_, digest)| {
            digest.alerts.iter().map(|a| {
                (
                    digest.time,
                    a.target.clone(),
                    a.state,
                    a.step,
                    a.kind.clone(),
                    a.since,
                    a.until,
                )
            })
        })
        .collect()
}

async fn ping(
    store: &SharedStore,
    token: &str,
    monitor: &str,
    signal: Signal,
    at: DateTime<Utc>,
    output: Option<&str>,
    exit_status: Option<u8>,
) {
    let ping = Ping {
        signal,
        exit_status,
        at,
        output: output.map(str::to_owned),
        resources: None,
        rid: None,
        ms: None,
    };
    store
        .record_ping(
            &token_hash(token),
            monitor,
            &ping,
            chrono::Duration::seconds(10),
        )
        .await
        .expect("kept");
}

/// The night of the scripts lookout replaces: web-1 pings every minute and is offline from 03:58
/// to 05:40, across the 04:00-04:30 maintenance window; web-2 is offline only inside the window.
#[tokio::test]
async fn a_replayed_night_escalates_in_minutes_offline_and_maintenance_holds_what_it_expects() {
    let yaml = r#"
defaults: {escalation_minutes: [1, 10, 60, 240, 1440], timezone: Asia/Shanghai}
monitors:
  - {name: web-1, type: heartbeat, token: "${WEB1_TOKEN}", period: 1m, grace: 30s, maintenance: ["04:00-04:30"]}
  - {name: web-2, type: heartbeat, token: "${WEB2_TOKEN}", period: 1m, grace: 30s, maintenance: ["04:00-04:30"]}
"#;
    let store: SharedStore = Arc::new(MemoryStore::default());
    let sent: Sent = Default::default();
    let monitor = heartbeat_monitor(yaml, &store, &sent);
    let web1_offline = |t: DateTime<Utc>| local(0, 3, 58) <= t && t < local(0, 5, 40);
    let web2_offline = |t: DateTime<Utc>| local(0, 4, 5) <= t && t < local(0, 4, 20);
    let mut reports = Vec::new();
    let mut time = local(0, 3, 30);
    while time <= local(0, 6, 30) {
        // The minute's pings arrive before the minute's tick.
        if !web1_offline(time) {
            ping(
                &store,
                WEB1_TOKEN,
                "web-1",
                Signal::Success,
                time,
                None,
                None,
            )
            .await;
        }
        if !web2_offline(time) {
            ping(
                &store,
                WEB2_TOKEN,
                "web-2",
                Signal::Success,
                time,
                None,
                None,
            )
            .await;
        }
        reports.push((time, monitor.tick(tick_at(time), &invocation()).await));
        time += chrono::Duration::minutes(1);
    }
    let web1 = "web-1".to_owned();
    assert_eq!(
        heard(&sent),
        vec![
            (
                local(0, 3, 59),
                web1.clone(),
                AlertState::Failing,
                Some(1),
                Some("late".into()),
                local(0, 3, 58),
                None
            ),
            // The 10-minute step came due inside the window: it goes out once, when the window ends.
            (
                local(0, 4, 30),
                web1.clone(),
                AlertState::Failing,
                Some(2),
                Some("late".into()),
                local(0, 3, 58),
                None
            ),
            (
                local(0, 4, 58),
                web1.clone(),
                AlertState::Failing,
                Some(3),
                Some("late".into()),
                local(0, 3, 58),
                None
            ),
            (
                local(0, 5, 40),
                web1.clone(),
                AlertState::Recovered,
                None,
                Some("late".into()),
                local(0, 3, 58),
                Some(local(0, 5, 40))
            ),
        ],
        "web-2, offline only inside the window, is never heard of"
    );
    let first = &sent.lock().unwrap()[0].1.alerts[0];
    assert_eq!(
        first.message,
        "web-1 silent for 2 min (last ping 03:57, expected every 1 min + 30 s)"
    );
    // Inside the window the report shows the failure as maintenance.
    let (_, inside) = reports.iter().find(|(t, _)| *t == local(0, 4, 10)).unwrap();
    let inside = serde_json::to_value(inside).unwrap();
    let health: Vec<(&str, &str)> = inside["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["target"].as_str().unwrap(), r["health"].as_str().unwrap()))
        .collect();
    assert_eq!(
        health,
        vec![("web-1", "maintenance"), ("web-2", "maintenance")]
    );
    assert_eq!(inside["summary"]["failing"], 0);
    let (_, after) = reports.last().unwrap();
    assert!(after.results.iter().all(|r| !r.is_failing()) && after.incidents.is_empty());
}

/// Three nightly jobs on one cron schedule: one that does not run, one that fails with output,
/// one that hangs.
#[tokio::test]
async fn cron_jobs_alert_when_late_failed_with_output_or_running_too_long() {
    let yaml = r#"
defaults: {timezone: Asia/Shanghai}
monitors:
  - {name: silent-job, type: heartbeat, token: "${WEB1_TOKEN}", schedule: "0 2 * * *", grace: 1h}
  - {name: failing-job, type: heartbeat, token: "${WEB2_TOKEN}", schedule: "0 2 * * *", grace: 1h}
  - {name: hanging-job, type: heartbeat, token: "${BACKUP_TOKEN}", schedule: "0 2 * * *", grace: 1h}
"#;
    let store: SharedStore = Arc::new(MemoryStore::default());
    let sent: Sent = Default::default();
    let monitor = heartbeat_monitor(yaml, &store, &sent);
    type Event = (
        DateTime<Utc>,
        &'static str,
        &'static str,
        Signal,
        Option<&'static str>,
        Option<u8>,
    );
    let mut events: Vec<Event> = Vec::new();
    // Night one: every job runs and succeeds.
    for (token, name) in [
        (WEB1_TOKEN, "silent-job"),
        (WEB2_TOKEN, "failing-job"),
        (BACKUP_TOKEN, "hanging-job"),
    ] {
        events.push((local(0, 2, 0), token, name, Signal::Start, None, None));
        events.push((local(0, 2, 10), token, name, Signal::Success, None, None));
    }
    // Night two: silent-job never starts; failing-job exits 2 with output; hanging-job starts only.
    events.push((
        local(1, 2, 0),
        WEB2_TOKEN,
        "failing-job",
        Signal::Start,
        None,
        None,
    ));
    events.push((
        local(1, 2, 20),
        WEB2_TOKEN,
        "failing-job",
        Signal::Fail,
        Some("pg_dump: error: connection refused\nexit 2"),
        Some(2),
    ));
    events.push((
        local(1, 2, 0),
        BACKUP_TOKEN,
        "hanging-job",
        Signal::Start,
        None,
        None,
    ));
    events.sort_by_key(|e| e.0);
    let mut events = events.into_iter().peekable();
    let mut time = local(0, 1, 55);
    while time <= local(1, 3, 30) {
        while let Some((at, token, name, signal, output, status)) = events.next_if(|e| e.0 <= time)
        {
            ping(&store, token, name, signal, at, output, status).await;
        }
        monitor.tick(tick_at(time), &invocation()).await;
        time += chrono::Duration::minutes(5);
    }
    // Each job's first notice. Ages count from when the ping was due, so a job an hour late is
    // first heard of at the ladder's 60-minute step (#3), as minutes offline.
    let mut first: Vec<Heard> = Vec::new();
    for h in heard(&sent) {
        if !first.iter().any(|f| f.1 == h.1) {
            first.push(h);
        }
    }
    let first: Vec<_> = first
        .into_iter()
        .map(|h| (h.0, h.1, h.3, h.4, h.5))
        .collect();
    assert_eq!(
        first,
        vec![
            (
                local(1, 2, 20),
                "failing-job".into(),
                Some(1),
                Some("job_failed".into()),
                local(1, 2, 20)
            ),
            (
                local(1, 3, 5),
                "silent-job".into(),
                Some(3),
                Some("late".into()),
                local(1, 2, 0)
            ),
            (
                local(1, 3, 5),
                "hanging-job".into(),
                Some(1),
                Some("run_too_long".into()),
                local(1, 3, 0)
            ),
        ]
    );
    let mut messages: Vec<(String, String)> = Vec::new();
    for (_, digest) in sent.lock().unwrap().iter() {
        for alert in &digest.alerts {
            if !messages.iter().any(|(target, _)| *target == alert.target) {
                messages.push((alert.target.clone(), alert.message.clone()));
            }
        }
    }
    let messages: Vec<String> = messages.into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        messages,
        vec![
            "failing-job failed with exit status 2 at 02:20 after 20 min, usually 10 min; last output: pg_dump: error: connection refused | exit 2",
            "silent-job silent for 1 d 55 min (last ping 12-01 02:10, expected by the schedule \"0 2 * * *\" (Asia/Shanghai) + 1 h)",
            // Each job ran 10 min the night before.
            "hanging-job has been running for 1 h 5 min (started 02:00), longer than its grace of 1 h; its runs usually take 10 min",
        ]
    );
}

/// Two pings for one monitor racing on DynamoDB: whatever the order they land in, the later one
/// is what stays; then the ingest binary keeps pings there and the heartbeat binary judges them.
#[tokio::test]
async fn on_dynamodb_the_later_of_two_racing_pings_stays_and_both_functions_share_the_table() {
    let moto = Moto::start().await;
    support::dynamodb::table(&moto, "lookout-state").await;
    let store = DynamoDbStore::new(moto.dynamodb(), "lookout-state");
    let hash = token_hash(WEB1_TOKEN);
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let interval = chrono::Duration::seconds(10);
    for round in 0..8i64 {
        let base = round * 100;
        let (early, late) = (
            Ping {
                signal: Signal::Start,
                exit_status: None,
                at: at(base),
                output: Some("begin".into()),
                resources: None,
                rid: None,
                ms: None,
            },
            Ping {
                signal: Signal::Success,
                exit_status: None,
                at: at(base + 30),
                output: None,
                resources: None,
                rid: None,
                ms: None,
            },
        );
        let (a, b) = if round % 2 == 0 {
            (&early, &late)
        } else {
            (&late, &early)
        };
        let (first, second) = tokio::join!(
            store.record_ping(&hash, "web-1", a, interval),
            store.record_ping(&hash, "web-1", b, interval)
        );
        assert!(
            first.unwrap() || second.unwrap(),
            "round {round}: one of them is kept"
        );
        let record = store
            .pings(std::slice::from_ref(&hash))
            .await
            .unwrap()
            .remove(&hash)
            .unwrap();
        assert_eq!(
            (record.last_at, record.last_signal),
            (at(base + 30), Signal::Success),
            "round {round}"
        );
        assert_eq!(
            (record.ended_at, record.ended_ok, record.output),
            (Some(at(base + 30)), true, None)
        );
    }
    // The same signal within the interval is not stored; an older one is refused.
    let repeat = Ping {
        signal: Signal::Success,
        exit_status: None,
        at: at(735),
        output: None,
        resources: None,
        rid: None,
        ms: None,
    };
    assert!(
        !store
            .record_ping(&hash, "web-1", &repeat, interval)
            .await
            .unwrap()
    );
    let older = Ping {
        signal: Signal::Fail,
        exit_status: Some(1),
        at: at(10),
        output: None,
        resources: None,
        rid: None,
        ms: None,
    };
    assert!(
        !store
            .record_ping(&hash, "web-1", &older, interval)
            .await
            .unwrap()
    );
    assert!(store.pings(std::slice::from_ref(&hash)).await.unwrap()[&hash].ended_ok);

    // The binaries: ingest keeps a ping of web-2 in the table, heartbeat reads both.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.yaml");
    std::fs::write(&config, YAML).unwrap();
    let config = config.display().to_string();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("STATE_TABLE", "lookout-state".into()));
    env.push(("LOOKOUT_CONFIG", config));
    env.extend(tokens().into_iter().map(|(k, v)| (k, v.to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let now = Utc::now();
    let ingest_api = RuntimeApi::start().await;
    let ingest = ingest_api.spawn(env!("CARGO_BIN_EXE_ingest"), &env).await;
    let answer = ingest_api
        .invoke(
            url_event("GET", &format!("/ping/{WEB2_TOKEN}"), b"", now),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(response(answer), (200, "OK".to_owned()));
    let heartbeat_api = RuntimeApi::start().await;
    let heartbeat = heartbeat_api
        .spawn(env!("CARGO_BIN_EXE_heartbeat"), &env)
        .await;
    let time = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let outcome = heartbeat_api
        .invoke(scheduled_event("tick-1", &time), Duration::from_secs(30))
        .await;
    let Outcome::Response(report) = outcome else {
        panic!("{outcome:?}\n{}", heartbeat.stop().await);
    };
    let statuses: Vec<(String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_owned(),
                r["measurement"]["status"]
                    .as_str()
                    .or(r["health"].as_str())
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("web-1".to_owned(), "late".to_owned()), // its last ping was 2026-12-01 02:12
            ("web-2".to_owned(), "up".to_owned()),
            ("nightly-backup".to_owned(), "waiting".to_owned()),
            // The ingest refused nothing while web-1 was due: its silence is judged.
            ("ingest".to_owned(), "ok".to_owned()),
        ]
    );
    let printed = format!("{}{}", ingest.stop().await, heartbeat.stop().await);
    for token in [WEB1_TOKEN, WEB2_TOKEN, BACKUP_TOKEN] {
        assert!(!printed.contains(token), "a token was printed:\n{printed}");
    }
}

/// A token too short, or two monitors sharing one, stops both functions at start with the
/// monitor named and the token never shown.
#[tokio::test]
async fn a_bad_token_stops_ingest_and_heartbeat_at_start_without_showing_it() {
    let short = "tooshort-1";
    let cases = [
        (
            YAML.to_owned(),
            vec![
                ("WEB1_TOKEN", short),
                ("WEB2_TOKEN", WEB2_TOKEN),
                ("BACKUP_TOKEN", BACKUP_TOKEN),
            ],
            "monitor \"web-1\": `token`",
        ),
        (
            YAML.to_owned(),
            vec![
                ("WEB1_TOKEN", WEB2_TOKEN),
                ("WEB2_TOKEN", WEB2_TOKEN),
                ("BACKUP_TOKEN", BACKUP_TOKEN),
            ],
            "monitors \"web-1\" and \"web-2\" have the same token",
        ),
        // The ingest refuses a path holding `..`: a token holding it would never be taken.
        (
            YAML.to_owned(),
            vec![
                ("WEB1_TOKEN", "abcdefgh..ijklmnop"),
                ("WEB2_TOKEN", WEB2_TOKEN),
                ("BACKUP_TOKEN", BACKUP_TOKEN),
            ],
            "monitor \"web-1\": `token`",
        ),
    ];
    for (yaml, env, words) in cases {
        for binary in [
            env!("CARGO_BIN_EXE_ingest"),
            env!("CARGO_BIN_EXE_heartbeat"),
        ] {
            let api = RuntimeApi::start().await;
            std::fs::write(api.task_root().join("lookout.yaml"), &yaml).unwrap();
            let function = api.spawn(binary, &env).await;
            let (_, error) = api
                .init_error(Duration::from_secs(20))
                .await
                .expect("a start-up error");
            let message = error["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains(words), "{binary}: {message}");
            assert!(function.exited(Duration::from_secs(10)).await.is_some());
            let printed = function.stop().await;
            for token in [short, WEB2_TOKEN, "abcdefgh..ijklmnop"] {
                assert!(
                    !printed.contains(token) && !message.contains(token),
                    "{printed}"
                );
            }
        }
    }
}

/// What a host with a valid token sends is data: a report naming disks or processes the
/// configuration would refuse (markup, mentions, a relative path, `-n`, too many) is answered 400
/// with what is wrong, quoting none of it, and nothing of it is kept; a resent event, stamped
/// anew, is kept once with its first time; an event older than the events' memory is refused.
#[tokio::test]
async fn a_hostile_report_or_event_is_refused_and_a_resent_event_is_kept_once() {
    const PROGRAMS_TOKEN: &str = "pg-Lm3Nb7Vc1Xz5Qw9E";
    let api = RuntimeApi::start().await;
    std::fs::write(
        api.task_root().join("lookout.yaml"),
        format!(
            "{YAML}  - {{name: web-1-programs, type: supervisor, token: \"${{PROGRAMS_TOKEN}}\", host: web-1}}\n"
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_path = state.display().to_string();
    let mut env = tokens();
    env.push(("PROGRAMS_TOKEN", PROGRAMS_TOKEN));
    env.push(("STATE_FILE", &state_path));
    let function = api.spawn(env!("CARGO_BIN_EXE_ingest"), &env).await;
    let now = Utc::now();
    let post = |path: String, body: String| {
        let api = &api;
        async move {
            response(
                api.invoke(
                    support::function_url::url_event_of(
                        "POST",
                        &path,
                        Some("application/json"),
                        body.as_bytes(),
                        now,
                    ),
                    Duration::from_secs(20),
                )
                .await,
            )
        }
    };
    let report = |disks: serde_json::Value, processes: serde_json::Value, host: &str| {
        json!({"host": host, "cpu": 12.5, "memory": 40, "disks": disks, "processes": processes})
            .to_string()
    };
    let many: serde_json::Map<String, serde_json::Value> =
        (0..400).map(|n| (format!("/d{n}"), json!(1))).collect();
    for (body, says) in [
        (
            report(
                json!({"/\n\n**ALL CLEAR** <@all> [x](http://evil)": 3}),
                json!({}),
                "web-1",
            ),
            "absolute path",
        ),
        (
            report(json!({"data": 3}), json!({}), "web-1"),
            "absolute path",
        ),
        (
            report(json!({"/": 3}), json!({"-n": true}), "web-1"),
            "process",
        ),
        (report(json!({"/": 3}), json!({}), "<@all>"), "`host`"),
        (
            report(serde_json::Value::Object(many), json!({}), "web-1"),
            "at most 32 disks",
        ),
    ] {
        let (status, answer) = post(format!("/ping/{WEB1_TOKEN}"), body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer.contains("malformed report") && answer.contains(says),
            "{answer}"
        );
        for quoted in ["ALL CLEAR", "<@all>", "evil", "-n", "/d399"] {
            assert!(!answer.contains(quoted), "{answer}");
        }
    }
    let store = FileStore::new(&state);
    let hash = token_hash(WEB1_TOKEN);
    assert!(
        store
            .pings(std::slice::from_ref(&hash))
            .await
            .unwrap()
            .is_empty(),
        "nothing of a refused report is kept"
    );
    let (status, _) = post(
        format!("/ping/{WEB1_TOKEN}"),
        report(json!({"/": 96.2}), json!({"nginx": true}), "web-1"),
    )
    .await;
    assert_eq!(status, 200);

    // One crash, delivered, then resent by supervisord and stamped 1.5 s later by the agent.
    let event = |at: DateTime<Utc>| {
        json!({
            "id": "web-1/boot/1/7", "host": "web-1", "process": "api", "group": "api",
            "from_state": "RUNNING", "state": "EXITED", "expected": false, "pid": 4001,
            "serial": 7, "at": at.to_rfc3339(), "dropped": 0
        })
        .to_string()
    };
    let first = now - chrono::Duration::seconds(10);
    for at in [first, first + chrono::Duration::milliseconds(1500)] {
        let (status, answer) = post(format!("/event/{PROGRAMS_TOKEN}"), event(at)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let kept = store.events(&token_hash(PROGRAMS_TOKEN)).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].at, first);
    let (status, answer) = post(
        format!("/event/{PROGRAMS_TOKEN}"),
        event(now - chrono::Duration::hours(25)).replace("web-1/boot/1/7", "web-1/boot/1/8"),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("more than 24 h"), "{answer}");
    let printed = function.stop().await;
    assert!(
        !printed.contains("ALL CLEAR") && !printed.contains(WEB1_TOKEN),
        "{printed}"
    );
}

/// A ping is acknowledged only once it is kept: when the store refuses the write, the sender is
/// told to try again (503 with Retry-After), never 200.
#[tokio::test]
async fn a_ping_the_store_could_not_keep_is_not_acknowledged() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.yaml");
    std::fs::write(&config, YAML).unwrap();
    let config = config.display().to_string();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("STATE_TABLE", "no-such-table".into()));
    env.push(("LOOKOUT_CONFIG", config));
    env.extend(tokens().into_iter().map(|(k, v)| (k, v.to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let api = RuntimeApi::start().await;
    let function = api.spawn(env!("CARGO_BIN_EXE_ingest"), &env).await;
    let outcome = api
        .invoke(
            url_event("GET", &format!("/ping/{WEB1_TOKEN}"), b"", Utc::now()),
            Duration::from_secs(30),
        )
        .await;
    let Outcome::Response(answer) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(answer["statusCode"], 503, "{answer}");
    assert_eq!(answer["headers"]["retry-after"], "5");
    let printed = function.stop().await;
    assert!(
        printed.contains("could not keep a ping") && !printed.contains(WEB1_TOKEN),
        "{printed}"
    );
}

/// An hour of a host with lookout-agent: its disk over the limit, a program crashing and coming
/// back, then the host offline for twenty minutes (its heartbeat checked every five), a program
/// crashing meanwhile, and the host back. The host's silence is told; what it explains is not,
/// even on the ticks its own heartbeat is not checked; what is still broken when it is back is.
#[tokio::test]
async fn a_silent_host_suppresses_its_programs_and_figures_until_it_is_back() {
    use lookout::events::ProcessEvent;
    use lookout::pings::Resources;

    let yaml = r#"
defaults: {escalation_minutes: [0], repeat_minutes: 0, timezone: Asia/Shanghai}
monitors:
  - {name: web-1, type: heartbeat, token: "${WEB1_TOKEN}", period: 1m, grace: 30s, every: 5m, disk_max: 90}
  - {name: web-1-programs, type: supervisor, token: "${WEB1_TOKEN}", host: web-1}
"#;
    let env = Env::from_pairs(tokens());
    let file = file::load("lookout.yaml", yaml, &env).expect("a valid file");
    let store: SharedStore = Arc::new(MemoryStore::default());
    let sent: Sent = Default::default();
    let watches = lookout::setup::watches_of(
        &heartbeat::TYPE,
        &file,
        &(store.clone() as lookout::checks::SharedLedger),
    )
    .expect("the watches")
    .into_iter()
    .map(|w| Watch {
        channels: vec!["ops".into()],
        ..w
    })
    .collect();
    let channel =
        Channel::from(Box::new(Recorder::new("ops", &sent)) as Box<dyn lookout::notify::Notifier>);
    let monitor = Monitor::watching(
        "heartbeat",
        watches,
        vec![channel],
        Arc::clone(&store),
        file.policy,
    );
    let hash = token_hash(WEB1_TOKEN);
    let event = |serial: u64, process: &str, state: &str, at: DateTime<Utc>| ProcessEvent {
        id: format!("web-1/boot/{serial}"),
        host: "web-1".into(),
        process: process.into(),
        group: process.into(),
        from_state: String::new(),
        state: state.into(),
        expected: (state == "EXITED").then_some(false),
        pid: Some(4000),
        serial,
        at,
        dropped: 0,
    };
    let events = [
        (
            local(0, 10, 2),
            event(
                1,
                "api",
                "EXITED",
                local(0, 10, 2) + chrono::Duration::seconds(10),
            ),
        ),
        (
            local(0, 10, 2),
            event(
                2,
                "api",
                "RUNNING",
                local(0, 10, 2) + chrono::Duration::seconds(11),
            ),
        ),
        (
            local(0, 10, 20),
            event(
                3,
                "worker",
                "EXITED",
                local(0, 10, 20) + chrono::Duration::seconds(10),
            ),
        ),
    ];
    let offline = |t: DateTime<Utc>| local(0, 10, 10) <= t && t < local(0, 10, 30);
    let mut reports = Vec::new();
    let mut time = local(0, 10, 0);
    while time <= local(0, 10, 40) {
        if !offline(time) {
            let disk = if time < local(0, 10, 30) { 95.0 } else { 50.0 };
            let ping = Ping {
                signal: Signal::Success,
                exit_status: None,
                at: time,
                output: None,
                resources: Some(Resources {
                    host: "web-1".into(),
                    cpu: 10.0,
                    memory: 30.0,
                    disks: [("/".to_owned(), disk)].into(),
                    processes: Default::default(),
                }),
                rid: None,
                ms: None,
            };
            store
                .record_ping(&hash, "web-1", &ping, chrono::Duration::seconds(10))
                .await
                .expect("kept");
        }
        for (minute, event) in &events {
            if *minute == time {
                store
                    // The stores forget by the real clock; this hour is a replay.
                    .record_event(&hash, event, Utc::now() + chrono::Duration::hours(1))
                    .await
                    .expect("kept");
            }
        }
        reports.push((time, monitor.tick(tick_at(time), &invocation()).await));
        time += chrono::Duration::minutes(1);
    }
    let told: Vec<(DateTime<Utc>, String, AlertState)> = heard(&sent)
        .into_iter()
        .map(|(at, target, state, ..)| (at, target, state))
        .collect();
    assert_eq!(
        told,
        vec![
            (
                local(0, 10, 0),
                "web-1/disk:/".to_owned(),
                AlertState::Failing
            ),
            (
                local(0, 10, 3),
                "web-1-programs/api".to_owned(),
                AlertState::Failing
            ),
            (
                local(0, 10, 4),
                "web-1-programs/api".to_owned(),
                AlertState::Recovered
            ),
            (local(0, 10, 15), "web-1".to_owned(), AlertState::Failing),
            (local(0, 10, 30), "web-1".to_owned(), AlertState::Recovered),
            (
                local(0, 10, 30),
                "web-1/disk:/".to_owned(),
                AlertState::Recovered
            ),
            (
                local(0, 10, 30),
                "web-1-programs/worker".to_owned(),
                AlertState::Failing
            ),
        ]
    );
    // While the host was silent, the worker's crash was shown as suppressed, on the ticks its
    // heartbeat was checked and on those it was not.
    for minute in [21, 25] {
        let (_, report) = reports
            .iter()
            .find(|(t, _)| *t == local(0, 10, minute))
            .unwrap();
        let report = serde_json::to_value(report).unwrap();
        let worker = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "supervisor:web-1-programs/worker")
            .unwrap_or_else(|| panic!("10:{minute}: {report}"));
        assert_eq!(worker["health"], "suppressed", "10:{minute}: {worker}");
    }
}

/// The ingest throttled (CloudWatch's `Throttles` of its function, read from moto over the AWS
/// JSON protocol) in the minutes three hosts' pings were due: one monitor error saying so and
/// nothing per host. The same silence with a healthy ingest: each host silent, as ever. Then the
/// ingest's own count of the 503s it answered, with no CloudWatch at all, explains it too.
#[tokio::test]
async fn a_throttled_ingest_is_one_monitor_error_and_silence_with_a_healthy_ingest_alerts_per_host()
{
    const INGEST_FUNCTION: &str = "lookout-IngestFunction-Q1w2E3";
    const HOSTS_YAML: &str = r#"
defaults: {failure_threshold: 1, language: en, timezone: UTC}
channels:
  ops: {type: wecom, webhook_url: "${OPS_WECOM}"}
monitors:
  - {name: web-1, type: heartbeat, token: "${WEB1_TOKEN}", period: 1m, grace: 30s}
  - {name: web-2, type: heartbeat, token: "${WEB2_TOKEN}", period: 1m, grace: 30s}
  - {name: web-3, type: heartbeat, token: "${BACKUP_TOKEN}", period: 1m, grace: 30s}
"#;
    let moto = Moto::start().await;
    // The tick ten seconds into a minute; every host last pinged ten minutes before.
    let tick = lookout::alerting::state::minute_of(Utc::now()) + chrono::Duration::seconds(10);
    let minute = lookout::alerting::state::minute_of(tick);
    moto.put_metric(
        "AWS/Lambda",
        "Throttles",
        ("FunctionName", INGEST_FUNCTION),
        &[
            (minute - chrono::Duration::minutes(2), 60.0),
            (minute - chrono::Duration::minutes(1), 40.0),
        ],
    )
    .await;
    // Another function's throttles say nothing of the ingest.
    moto.put_metric(
        "AWS/Lambda",
        "Throttles",
        ("FunctionName", "someone-else"),
        &[(minute - chrono::Duration::minutes(1), 999.0)],
    )
    .await;

    let run = |function: &'static str, seed_refusals: bool, ping_age: i64| {
        let moto = &moto;
        async move {
            let robot = support::wecom::FakeWeCom::start("ops-key").await;
            let api = RuntimeApi::start().await;
            std::fs::write(api.task_root().join("lookout.yaml"), HOSTS_YAML).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let state = dir.path().join("state.json");
            let store = FileStore::new(&state);
            for token in [WEB1_TOKEN, WEB2_TOKEN, BACKUP_TOKEN] {
                let ping = Ping {
                    signal: Signal::Success,
                    exit_status: None,
                    at: tick - chrono::Duration::minutes(ping_age),
                    output: None,
                    resources: None,
                    rid: None,
                    ms: None,
                };
                store
                    .record_ping(&token_hash(token), "host", &ping, chrono::Duration::zero())
                    .await
                    .unwrap();
            }
            if seed_refusals {
                for _ in 0..7 {
                    store
                        .record_ingest_refusal(minute - chrono::Duration::seconds(30))
                        .await
                        .unwrap();
                }
            }
            let state = state.display().to_string();
            let webhook = robot.url();
            let mut env: Vec<(&str, String)> = moto.env();
            env.extend(tokens().into_iter().map(|(k, v)| (k, v.to_owned())));
            env.push(("STATE_FILE", state));
            env.push(("OPS_WECOM", webhook));
            if !function.is_empty() {
                env.push(("INGEST_FUNCTION_NAME", function.to_owned()));
            }
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let heartbeat = api.spawn(env!("CARGO_BIN_EXE_heartbeat"), &env).await;
            let time = tick.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let outcome = api
                .invoke(scheduled_event("tick-1", &time), Duration::from_secs(30))
                .await;
            let Outcome::Response(report) = outcome else {
                panic!("{outcome:?}\n{}", heartbeat.stop().await);
            };
            let printed = heartbeat.stop().await;
            let health: Vec<(String, String)> = report["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["target"].as_str().unwrap().to_owned(),
                        r["health"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            let said: Vec<String> = robot
                .accepted()
                .iter()
                .map(|m| {
                    m["markdown"]["content"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            (health, said, report, printed)
        }
    };
    let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };

    let (health, said, report, printed) = run(INGEST_FUNCTION, false, 10).await;
    assert_eq!(
        health,
        pairs(&[
            ("web-1", "suppressed"),
            ("web-2", "suppressed"),
            ("web-3", "suppressed"),
            ("ingest", "monitor_error"),
        ]),
        "{report}\n{printed}"
    );
    let since = (minute - chrono::Duration::minutes(2)).format("%H:%M");
    assert_eq!(said.len(), 1, "one digest: {said:#?}");
    assert!(
        said[0].contains(&format!(
            "the ingest refused 100 requests since {since} (throttled): silence of 3 hosts is not trusted"
        )),
        "{}",
        said[0]
    );
    assert!(!said[0].contains("silent for"), "{}", said[0]);
    assert!(!printed.contains(moto::SECRET_ACCESS_KEY), "{printed}");

    // A healthy ingest (a function CloudWatch counted nothing for): each silence is told.
    let (health, said, report, _) = run("lookout-IngestFunction-healthy", false, 10).await;
    assert_eq!(
        health,
        pairs(&[
            ("web-1", "failing"),
            ("web-2", "failing"),
            ("web-3", "failing"),
            ("ingest", "ok"),
        ]),
        "{report}"
    );
    assert_eq!(said.len(), 1, "{said:#?}");
    assert_eq!(
        said[0].matches("silent for 10 min").count(),
        3,
        "{}",
        said[0]
    );

    // A silence a minute and a half old: CloudWatch may not have the minutes that would explain
    // it yet (Lambda's metrics arrive a minute or two late), so it waits, nobody told.
    let (health, said, report, _) = run("lookout-IngestFunction-healthy", false, 2).await;
    assert_eq!(
        health,
        pairs(&[
            ("web-1", "suppressed"),
            ("web-2", "suppressed"),
            ("web-3", "suppressed"),
            ("ingest", "ok"),
        ]),
        "{report}"
    );
    assert!(said.is_empty(), "{said:#?}");
    assert!(report.to_string().contains("not judged yet"), "{report}");

    // No CloudWatch (a local run): the 503s the ingest counted in the store explain it.
    let (health, said, report, _) = run("", true, 10).await;
    assert_eq!(
        health[3],
        ("ingest".to_owned(), "monitor_error".to_owned()),
        "{report}"
    );
    assert!(
        said[0].contains("the ingest refused 7 requests since")
            && said[0].contains("(answered 5xx)"),
        "{}",
        said[0]
    );
}
