//! Heartbeats that existing scripts already speak: healthchecks.io's run ids, durations, POST-only
//! monitors, keyword filters, answers and slug URLs, and Uptime Kuma's push, each as healthchecks'
//! and Kuma's own behaviour has it, through the ingest binary under the Runtime API emulator (state
//! in a file); then a replayed night through the ingest and heartbeat binaries.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lookout::alerting::state::file::FileStore;
use lookout::ledger::Ledger;
use lookout::pings::{PingRecord, Signal, token_hash};
use serde_json::{Value, json};
use support::function_url::url_event;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};

const BACKUP: &str = "bk-P3oW6yG8tN2iV0xC";
const DEPLOY: &str = "dp-Q8rT2yU6iO0pA4sD";
const FILTERED: &str = "fl-Z1xC5vB9nM3lK7jH";
const STRICT: &str = "st-G2fD6sA0pO4iU8yT";
const KUMA: &str = "ku-R5tY9uI3oP7aS1dF";
const WEB3: &str = "w3-J6kL0zX4cV8bN2mQ";
const WEB4: &str = "w4-W9eR3tY7uI1oP5aS";
const PING_KEY: &str = "pk-Sx8Dc2Fv6Gb0Hn4J";
const PROGRAMS: &str = "pg-T7yU1iO5pA9sD3fG";
/// A well-formed token no monitor has.
const STRANGER: &str = "zz-Kk4Rr8Tt1Yy5Uu9Ii";

const YAML: &str = r#"
defaults:
  ping_key: "${PING_KEY}"
  language: en
monitors:
  - {name: Nightly.Backup, type: heartbeat, token: "${BACKUP}", schedule: "0 2 * * *", timezone: UTC, grace: 1h}
  - {name: deploy, type: heartbeat, token: "${DEPLOY}", period: 1d, methods: post}
  - {name: filtered, type: heartbeat, token: "${FILTERED}", period: 1d, min_interval: 0s,
     success_keywords: [SUCCESS], failure_keywords: [FAIL, ERROR], start_keywords: [START]}
  - {name: strict, type: heartbeat, token: "${STRICT}", period: 1d, min_interval: 0s, methods: post,
     success_keywords: [SUCCESS], filter_default: fail}
  - {name: kuma-job, type: heartbeat, token: "${KUMA}", period: 5m, grace: 1m, min_interval: 0s}
  - {name: web-3, type: heartbeat, token: "${WEB3}", period: 5m, grace: 1m, never_reported: alert}
  - {name: web-4, type: heartbeat, token: "${WEB4}", period: 5m, grace: 1m}
  - {name: web-3-programs, type: supervisor, token: "${PROGRAMS}", never_reported: alert}
"#;

fn env_of(state: &str) -> Vec<(&'static str, String)> {
    vec![
        ("BACKUP", BACKUP.into()),
        ("DEPLOY", DEPLOY.into()),
        ("FILTERED", FILTERED.into()),
        ("STRICT", STRICT.into()),
        ("KUMA", KUMA.into()),
        ("WEB3", WEB3.into()),
        ("WEB4", WEB4.into()),
        ("PING_KEY", PING_KEY.into()),
        ("PROGRAMS", PROGRAMS.into()),
        ("STATE_FILE", state.into()),
    ]
}

/// The start of a test's replay: five hours ago, on the hour (a scheduled event more than a day
/// off the clock gives way to the clock).
fn t0() -> DateTime<Utc> {
    let hour = Utc::now().timestamp() / 3600 * 3600;
    DateTime::from_timestamp(hour - 5 * 3600, 0).unwrap()
}

struct Ingest {
    /// When its replay starts.
    t0: DateTime<Utc>,
    api: RuntimeApi,
    function: support::lambda::Function,
    store: FileStore,
    _dir: tempfile::TempDir,
    state: String,
}

/// An answer: status, headers, body.
type Answered = (u16, Value, String);

impl Ingest {
    async fn start() -> Ingest {
        let api = RuntimeApi::start().await;
        std::fs::write(api.task_root().join("lookout.yaml"), YAML).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json").display().to_string();
        let env = env_of(&state);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let function = api.spawn(env!("CARGO_BIN_EXE_ingest"), &pairs).await;
        Ingest {
            t0: t0(),
            api,
            function,
            store: FileStore::new(&state),
            state,
            _dir: dir,
        }
    }

    /// `method path?query` with `body`, `seconds` after 01:00.
    async fn send(&self, method: &str, target: &str, body: &[u8], seconds: i64) -> Answered {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut event = url_event(
            method,
            path,
            body,
            self.t0 + chrono::Duration::seconds(seconds),
        );
        event["rawQueryString"] = json!(query);
        let Outcome::Response(answer) = self.api.invoke(event, Duration::from_secs(20)).await
        else {
            panic!("the function failed");
        };
        (
            answer["statusCode"].as_u64().unwrap() as u16,
            answer["headers"].clone(),
            answer["body"].as_str().unwrap_or_default().to_owned(),
        )
    }

    async fn ok(&self, method: &str, target: &str, body: &[u8], seconds: i64) {
        let (status, _, said) = self.send(method, target, body, seconds).await;
        let ok = if method == "HEAD" { "" } else { "OK" };
        assert_eq!((status, said.as_str()), (200, ok), "{method} {target}");
    }

    async fn record(&self, token: &str) -> PingRecord {
        let hash = token_hash(token);
        self.store
            .pings(std::slice::from_ref(&hash))
            .await
            .unwrap()
            .remove(&hash)
            .unwrap_or_else(|| panic!("no record for {token}"))
    }
}

const RID: &str = "0b9e2f5c-7a1d-4c3e-8f6a-2d4b6c8e0a13";
const OTHER_RID: &str = "9f8e7d6c-5b4a-4321-8fed-cba987654321";

#[tokio::test]
async fn healthchecks_ping_cases_that_apply() {
    let ingest = Ingest::start().await;
    let b = |action: &str| format!("/ping/{BACKUP}{action}");

    // Every answer: OK, the body limit, any origin, never cached.
    let (status, headers, body) = ingest.send("GET", &b(""), b"", 0).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert_eq!(headers["ping-body-limit"], "10240");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["cache-control"], "no-store");
    let (status, headers, body) = ingest
        .send("GET", &format!("/ping/{STRANGER}"), b"", 1)
        .await;
    assert_eq!(status, 404, "unknown stays 404, never `OK (not found)`");
    assert_ne!(body, "OK (not found)");
    assert_eq!(headers["ping-body-limit"], "10240");

    // A start sets its run id, any case; an invalid one is 400.
    ingest
        .ok("GET", &b(&format!("/start?rid={RID}")), b"", 10)
        .await;
    let upper = OTHER_RID.to_uppercase();
    ingest
        .ok("GET", &b(&format!("/start?rid={upper}")), b"", 11)
        .await;
    let record = ingest.record(BACKUP).await;
    let rids: Vec<Option<&str>> = record.runs.iter().map(|r| r.rid.as_deref()).collect();
    assert_eq!(
        rids,
        [Some(RID), Some(OTHER_RID)],
        "two runs open, kept in lower case"
    );
    for bad in [
        "12345",
        "684e2e73-017e-465f-8149-d70b7c5aaa490",
        "0b9e2f5c7a1d4c3e8f6a2d4b6c8e0a13",
    ] {
        let (status, _, _) = ingest
            .send("GET", &b(&format!("/start?rid={bad}")), b"", 12)
            .await;
        assert_eq!(status, 400, "{bad}");
    }

    // An end whose rid matches no run ends none and keeps no duration.
    ingest
        .ok(
            "GET",
            &b("?rid=11111111-2222-4333-8444-555555555555"),
            b"",
            20,
        )
        .await;
    let record = ingest.record(BACKUP).await;
    assert_eq!((record.runs.len(), record.last_duration), (2, None));
    // The matching end ends its own run and keeps its duration; the other run stays open.
    ingest.ok("GET", &b(&format!("?rid={RID}")), b"", 40).await;
    let record = ingest.record(BACKUP).await;
    assert_eq!(record.last_duration, Some(30));
    assert_eq!(record.runs.len(), 1);
    // An end without a rid while only a run with one is open clears it, without a duration.
    ingest.ok("GET", &b("/0"), b"", 60).await;
    let record = ingest.record(BACKUP).await;
    assert_eq!((record.runs.len(), record.last_duration), (0, None));
    // Without run ids: a success after a start ends it, with its duration.
    ingest.ok("GET", &b("/start"), b"", 100).await;
    ingest.ok("POST", &b(""), b"done", 110).await;
    let record = ingest.record(BACKUP).await;
    assert_eq!(record.last_duration, Some(10));
    assert_eq!(record.durations, [30, 10]);

    // Exit statuses: 0 is success, 1 to 255 failure, 256 refused; the fail endpoint fails.
    for (n, (code, ok)) in [("0", true), ("1", false), ("255", false)]
        .into_iter()
        .enumerate()
    {
        ingest
            .ok("GET", &b(&format!("/{code}")), b"", 200 + n as i64 * 20)
            .await;
        let record = ingest.record(BACKUP).await;
        assert_eq!(record.ended_ok, ok, "{code}");
    }
    assert_eq!(ingest.send("GET", &b("/256"), b"", 300).await.0, 400);
    ingest.ok("POST", &b("/fail"), b"boom", 310).await;
    assert!(!ingest.record(BACKUP).await.ended_ok);
    // Bad unicode is taken; a log is a message only.
    ingest.ok("POST", &b(""), b"Hello \xe9 World", 320).await;
    let record = ingest.record(BACKUP).await;
    assert_eq!(record.output.as_deref(), Some("Hello \u{FFFD} World"));
    assert!(record.ended_ok);
    ingest.ok("POST", &b("/log"), b"hello", 330).await;
    let record = ingest.record(BACKUP).await;
    assert_eq!((record.last_signal, record.ended_ok), (Signal::Log, true));
    assert_eq!(
        record.ended_at,
        Some(ingest.t0 + chrono::Duration::seconds(320))
    );

    // POST only: a GET (a link preview) is answered and ignored; a POST counts.
    let d = format!("/ping/{DEPLOY}");
    ingest.ok("GET", &d, b"", 400).await;
    ingest.ok("HEAD", &d, b"", 420).await;
    let record = ingest.record(DEPLOY).await;
    assert_eq!((record.ignored, record.ended_at), (2, None));
    ingest.ok("POST", &d, b"", 440).await;
    assert!(ingest.record(DEPLOY).await.ended_ok);

    // Keywords: failure first, then success, then start; none matching is ignored.
    let f = format!("/ping/{FILTERED}");
    let signal = async |body: &[u8], at: i64| {
        ingest.ok("POST", &f, body, at).await;
        let record = ingest.record(FILTERED).await;
        if record.ignored_at == Some(ingest.t0 + chrono::Duration::seconds(at)) {
            Signal::Ignored
        } else {
            record.last_signal
        }
    };
    assert_eq!(signal(b"SUCCESS!", 500).await, Signal::Success);
    assert_eq!(signal(b"hello world", 501).await, Signal::Ignored);
    assert_eq!(signal(b"FAIL!", 502).await, Signal::Fail);
    assert_eq!(signal(b"---", 503).await, Signal::Ignored);
    assert_eq!(signal(b"STARTING", 504).await, Signal::Start);
    assert_eq!(
        signal(b"SUCCESS with an ERROR", 505).await,
        Signal::Fail,
        "failure first"
    );
    assert_eq!(
        signal(b"success", 506).await,
        Signal::Ignored,
        "case-sensitive"
    );
    // The URL says fail, the body says success: the body decides.
    ingest
        .ok("POST", &format!("{f}/fail"), b"SUCCESS", 507)
        .await;
    assert!(ingest.record(FILTERED).await.ended_ok);
    // filter_default: fail, and POST only, which comes first.
    let s = format!("/ping/{STRICT}");
    ingest.ok("POST", &s, b"no keywords", 600).await;
    assert!(
        !ingest.record(STRICT).await.ended_ok,
        "no keyword: a failure"
    );
    ingest.ok("POST", &s, b"SUCCESS", 601).await;
    assert!(ingest.record(STRICT).await.ended_ok);
    ingest.ok("GET", &s, b"", 602).await;
    let record = ingest.record(STRICT).await;
    assert!(
        record.ended_ok && record.ignored == 1,
        "methods before keywords"
    );

    // Slugs under the stack's ping key: the name in lower case, `-` for the rest.
    let slug = |rest: &str| format!("/ping/{PING_KEY}/nightly-backup{rest}");
    ingest.ok("GET", &slug("/start"), b"", 700).await;
    ingest.ok("GET", &slug(""), b"", 705).await;
    let record = ingest.record(BACKUP).await;
    assert_eq!(
        record.last_duration,
        Some(5),
        "the slug's pings are the token's"
    );
    let unknown = ingest
        .send("GET", &format!("/ping/{STRANGER}"), b"", 710)
        .await;
    for path in [
        format!("/ping/{STRANGER}/nightly-backup"),
        format!("/ping/{PING_KEY}/no-such-job"),
        format!("/ping/{PING_KEY}/no-such-job/start"),
    ] {
        let answer = ingest.send("GET", &path, b"", 711).await;
        assert_eq!((answer.0, &answer.2), (404, &unknown.2), "{path}");
    }
    assert_eq!(
        ingest
            .send("GET", &format!("/ping/{PING_KEY}/Nightly-Backup"), b"", 712)
            .await
            .0,
        400
    );

    // Nothing printed a token, a ping key or a run's body.
    let printed = format!(
        "{}{}",
        ingest.function.output().await,
        ingest.function.stderr().await
    );
    for secret in [BACKUP, DEPLOY, FILTERED, PING_KEY] {
        assert!(!printed.contains(secret), "{secret} printed");
    }
    let _ = &ingest.state;
}

#[tokio::test]
async fn uptime_kumas_push_script_is_answered_as_kuma_answers() {
    let ingest = Ingest::start().await;
    let api = Arc::new(RuntimeApi::start().await);
    std::fs::write(api.task_root().join("lookout.yaml"), YAML).unwrap();
    let env = env_of(&ingest.state);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _function = api.spawn(env!("CARGO_BIN_EXE_ingest"), &pairs).await;
    let url = support::function_url::serve(Arc::clone(&api)).await;
    let http = reqwest::Client::new();
    // As Kuma's push monitor page shows it: curl "<url>/api/push/<token>?status=up&msg=OK&ping="
    let push = async |query: &str| {
        let answer = http
            .get(format!("{url}/api/push/{KUMA}?{query}"))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let kind = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (status, kind, answer.json::<Value>().await.unwrap())
    };
    let (status, kind, body) = push("status=up&msg=OK&ping=").await;
    assert_eq!(
        (status, kind.as_str(), body),
        (200, "application/json", json!({"ok": true}))
    );
    let hash = token_hash(KUMA);
    let store = &ingest.store;
    let record = async || {
        store
            .pings(std::slice::from_ref(&hash))
            .await
            .unwrap()
            .remove(&hash)
            .unwrap()
    };
    let kept = record().await;
    assert!(kept.ended_ok && kept.last_ms.is_none());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        push("status=down&msg=disk%20full%20on%20%2Fdata").await.0,
        200
    );
    let kept = record().await;
    assert!(!kept.ended_ok);
    assert_eq!(kept.output.as_deref(), Some("disk full on /data"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(push("status=up&msg=OK&ping=87.4").await.0, 200);
    let kept = record().await;
    assert_eq!((kept.ended_ok, kept.last_ms), (true, Some(87)));
    // POST works as GET does; so does the same token on the healthchecks path.
    let posted = http
        .post(format!("{url}/api/push/{KUMA}?status=up"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let pinged = http.get(format!("{url}/ping/{KUMA}")).send().await.unwrap();
    assert_eq!(pinged.text().await.unwrap(), "OK");
    // Unknown: Kuma's own answer. Garbage status: 400 saying what is taken.
    let stranger = http
        .get(format!("{url}/api/push/{STRANGER}?status=up&msg=OK&ping="))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 404);
    assert_eq!(
        stranger.json::<Value>().await.unwrap(),
        json!({"ok": false, "msg": "Monitor not found or not active."})
    );
    let (status, _, body) = push("status=sideways").await;
    assert_eq!((status, body["ok"].clone()), (400, json!(false)));
    assert!(body["msg"].as_str().unwrap().contains("up or down"));
}

/// One heartbeat tick at `time`, on the ingest's state.
async fn heartbeat_tick(state: &str, time: DateTime<Utc>) -> Value {
    let api = RuntimeApi::start().await;
    std::fs::write(api.task_root().join("lookout.yaml"), YAML).unwrap();
    let env = env_of(state);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _function = api.spawn(env!("CARGO_BIN_EXE_heartbeat"), &pairs).await;
    let event = scheduled_event(
        &format!("tick-{}", time.timestamp()),
        &time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    match api.invoke(event, Duration::from_secs(90)).await {
        Outcome::Response(report) => report,
        other => panic!("{other:?}"),
    }
}

fn result_of<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no {key}: {report}"))
}

#[tokio::test]
async fn a_replayed_night_of_overlapping_runs_a_link_preview_and_hosts_never_heard_from() {
    let ingest = Ingest::start().await;
    let at = |minutes: i64| ingest.t0 + chrono::Duration::minutes(minutes);
    let seconds = |t: DateTime<Utc>| (t - ingest.t0).num_seconds();
    // Times as messages say them: web-3 in the default zone, the backup in UTC.
    let clock = |minutes: i64, zone: chrono_tz::Tz| {
        at(minutes).with_timezone(&zone).format("%H:%M").to_string()
    };
    // 01:00: the first tick sees every monitor; none has pinged.
    let report = heartbeat_tick(&ingest.state, at(0)).await;
    assert_eq!(
        result_of(&report, "heartbeat:web-3")["health"],
        "ok",
        "waiting"
    );
    // A link preview fetches the deploy hook (GET): answered, ignored.
    ingest
        .ok("GET", &format!("/ping/{DEPLOY}"), b"", seconds(at(2)))
        .await;
    // 01:07: web-3 (never_reported: alert) expected by 01:06; web-4 waits as ever; deploy is
    // still waiting, never marked done by the preview.
    let report = heartbeat_tick(&ingest.state, at(7)).await;
    let web3 = result_of(&report, "heartbeat:web-3");
    assert_eq!(web3["health"], "failing", "{report}");
    assert_eq!(web3["failure"]["kind"], "never_reported");
    assert!(
        web3["failure"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "web-3 has never reported since it was added at {}",
                clock(0, chrono_tz::Asia::Shanghai)
            )),
        "{web3}"
    );
    assert_eq!(result_of(&report, "heartbeat:web-4")["health"], "ok");
    assert_eq!(
        result_of(&report, "supervisor:web-3-programs")["health"],
        "ok",
        "an hour to send its first event"
    );
    assert_eq!(
        result_of(&report, "heartbeat:web-4")["measurement"]["status"],
        "waiting"
    );
    assert_eq!(
        result_of(&report, "heartbeat:deploy")["measurement"]["status"],
        "waiting"
    );
    // web-3 reports at last: its incident closes on the next tick.
    ingest
        .ok("GET", &format!("/ping/{WEB3}"), b"", seconds(at(8)))
        .await;
    let report = heartbeat_tick(&ingest.state, at(9)).await;
    assert_eq!(result_of(&report, "heartbeat:web-3")["health"], "ok");

    // The backup: two runs overlap (one at minute 60, a rerun at minute 90).
    let b = |rest: &str| format!("/ping/{BACKUP}{rest}");
    ingest
        .ok(
            "POST",
            &b(&format!("/start?rid={RID}")),
            b"",
            seconds(at(60)),
        )
        .await;
    ingest
        .ok(
            "POST",
            &b(&format!("/start?rid={OTHER_RID}")),
            b"",
            seconds(at(90)),
        )
        .await;
    ingest
        .ok(
            "POST",
            &b(&format!("/0?rid={RID}")),
            b"done",
            seconds(at(101)),
        )
        .await;
    // A Kuma push with its response time: shown as the job's response time.
    let (status, _, body) = ingest
        .send(
            "GET",
            &format!("/api/push/{KUMA}?status=up&msg=OK&ping=87"),
            b"",
            seconds(at(104)),
        )
        .await;
    assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#));
    let report = heartbeat_tick(&ingest.state, at(105)).await;
    // The programs' agent never sent an event: an hour after it was added, it fails.
    let programs = result_of(&report, "supervisor:web-3-programs");
    assert_eq!(programs["failure"]["kind"], "never_reported", "{programs}");
    assert!(
        programs["failure"]["message"]
            .as_str()
            .unwrap()
            .starts_with("web-3-programs has never reported since it was added at"),
        "{programs}"
    );
    let kuma = result_of(&report, "heartbeat:kuma-job");
    assert_eq!(
        (&kuma["health"], &kuma["measurement"]["response_ms"]),
        (&json!("ok"), &json!(87))
    );
    let backup = result_of(&report, "heartbeat:Nightly.Backup");
    assert_eq!(backup["health"], "ok", "{backup}");
    assert_eq!(backup["measurement"]["open_runs"], 1);
    assert_eq!(backup["measurement"]["last_run_seconds"], 41 * 60);
    // 03:35: the rerun has been open longer than its grace: judged on its own start.
    let report = heartbeat_tick(&ingest.state, at(155)).await;
    let backup = result_of(&report, "heartbeat:Nightly.Backup");
    assert_eq!(backup["failure"]["kind"], "run_too_long", "{backup}");
    let said = backup["failure"]["message"].as_str().unwrap();
    assert!(
        said.starts_with(&format!(
            "Nightly.Backup has been running for 1 h 5 min (started {})",
            clock(90, chrono_tz::UTC)
        )) && said.contains("its runs usually take 41 min"),
        "{said}"
    );
}
