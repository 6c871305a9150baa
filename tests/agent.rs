//! lookout-agent under a scripted supervisord: the event listener protocol on its stdin and
//! stdout, the spool, and delivery to an ingest that goes away and comes back.

mod support;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const TOKEN: &str = "web-1-agent-token-3f9a";
const WITHIN: Duration = Duration::from_secs(20);

/// What the fake ingest received: `(kind, token, body)` in order.
#[derive(Default)]
struct Received {
    posts: Mutex<Vec<(String, String, String)>>,
    /// Every request, kept or not: its kind and when it came.
    attempts: Mutex<Vec<(String, std::time::Instant)>>,
    down: AtomicBool,
    /// The next requests answered 429 (throttled), as a Function URL past its concurrency does.
    throttled: std::sync::atomic::AtomicUsize,
    /// Each ping kept, as its path after the token and its query: `/start?rid=...`, `?rid=...`.
    runs: Mutex<Vec<String>>,
}

/// A stand-in for the ingest's `/event/<token>` and `/ping/<token>`: records every post it keeps,
/// and answers 503 while it is down. As strict as the ingest behind the stack's shield, where
/// CloudFront signs for the Function URL and a POST whose body's SHA-256 is not given in
/// `x-amz-content-sha256` is refused (403).
async fn fake_ingest() -> (String, Arc<Received>) {
    let received = Arc::new(Received::default());
    let router = Router::new()
        .route(
            "/ping/{token}/start",
            post(
                |State(r): State<Arc<Received>>,
                 Path(token): Path<String>,
                 uri: axum::http::Uri| async move {
                    if token != TOKEN {
                        return StatusCode::NOT_FOUND;
                    }
                    if r.down.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
                    r.runs.lock().unwrap().push(format!("/start{query}"));
                    StatusCode::OK
                },
            ),
        )
        .route(
            "/{kind}/{token}",
            post(
                |State(r): State<Arc<Received>>,
                 Path((kind, token)): Path<(String, String)>,
                 uri: axum::http::Uri,
                 headers: axum::http::HeaderMap,
                 body: String| async move {
                    let digest =
                        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
                    if headers
                        .get("x-amz-content-sha256")
                        .and_then(|v| v.to_str().ok())
                        != Some(digest.as_str())
                    {
                        return StatusCode::FORBIDDEN;
                    }
                    r.attempts
                        .lock()
                        .unwrap()
                        .push((kind.clone(), std::time::Instant::now()));
                    if r.throttled
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        return StatusCode::TOO_MANY_REQUESTS;
                    }
                    if r.down.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    if token != TOKEN {
                        return StatusCode::NOT_FOUND;
                    }
                    if kind == "ping" {
                        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
                        r.runs.lock().unwrap().push(query);
                    }
                    r.posts.lock().unwrap().push((kind, token, body));
                    StatusCode::OK
                },
            ),
        )
        .with_state(Arc::clone(&received));
    let address = support::serve(router).await;
    (format!("http://{address}"), received)
}

impl Received {
    fn events(&self) -> Vec<Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(kind, ..)| kind == "event")
            .map(|(_, _, body)| serde_json::from_str(body).expect("an event is JSON"))
            .collect()
    }

    fn pings(&self) -> usize {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(kind, ..)| kind == "ping")
            .count()
    }
}

/// The agent as supervisord runs it: a listener on pipes.
struct Listener {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// Everything it wrote on stdout.
    said: Vec<u8>,
}

impl Listener {
    fn start(ingest: &str, spool: &std::path::Path) -> Listener {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookout-agent"))
            .arg("supervisor")
            .env_clear()
            .env("LOOKOUT_INGEST_URL", ingest)
            .env("LOOKOUT_AGENT_TOKEN", TOKEN)
            .env("LOOKOUT_AGENT_SPOOL", spool)
            .env("LOOKOUT_AGENT_HOST", "web-1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the agent starts");
        Listener {
            stdin: child.stdin.take().expect("stdin"),
            stdout: child.stdout.take().expect("stdout"),
            child,
            said: Vec::new(),
        }
    }

    /// Reads exactly `expected` from stdout.
    async fn expect(&mut self, expected: &str) {
        let mut buffer = vec![0; expected.len()];
        tokio::time::timeout(WITHIN, self.stdout.read_exact(&mut buffer))
            .await
            .expect("the agent answers in time")
            .expect("stdout is open");
        self.said.extend_from_slice(&buffer);
        assert_eq!(String::from_utf8_lossy(&buffer), expected);
    }

    /// Sends one notification, in pieces, and reads the answer and the next READY.
    async fn notify(&mut self, serial: u64, event: &str, payload: &str) {
        let header = format!(
            "ver:3.0 server:supervisor serial:{serial} pool:lookout poolserial:{serial} eventname:{event} len:{}\n",
            payload.len()
        );
        let whole = format!("{header}{payload}");
        // supervisord's writes may arrive split anywhere: header and payload both cut.
        let cut = [header.len() / 2, header.len() + payload.len() / 2];
        let mut from = 0;
        for to in cut.into_iter().chain([whole.len()]) {
            self.stdin
                .write_all(&whole.as_bytes()[from..to])
                .await
                .expect("write");
            self.stdin.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_millis(20)).await;
            from = to;
        }
        self.expect("RESULT 2\nOK").await;
        self.expect("READY\n").await;
    }

    async fn exited(mut self) -> Vec<u8> {
        drop(self.stdin);
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(WITHIN, self.stdout.read_to_end(&mut rest)).await;
        self.said.extend_from_slice(&rest);
        let status = tokio::time::timeout(WITHIN, self.child.wait())
            .await
            .expect("the agent ends when supervisord closes the pipe")
            .expect("status");
        assert!(status.success(), "{status:?}");
        self.said
    }
}

fn exited(serial: u64, process: &str) -> (u64, &'static str, String) {
    (
        serial,
        "PROCESS_STATE_EXITED",
        format!(
            "processname:{process} groupname:{process} from_state:RUNNING expected:0 pid:{}",
            4000 + serial
        ),
    )
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = tokio::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < WITHIN, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_listener_speaks_supervisords_protocol_and_forwards_crashes_and_ticks() {
    let (ingest, received) = fake_ingest().await;
    let spool = tempfile::tempdir().expect("a spool folder");
    let mut agent = Listener::start(&ingest, spool.path());
    agent.expect("READY\n").await;

    let (serial, event, payload) = exited(1, "api");
    agent.notify(serial, event, &payload).await;
    // An exit the program's exitcodes expect is not a crash: answered, not forwarded.
    agent
        .notify(
            2,
            "PROCESS_STATE_EXITED",
            "processname:cron groupname:cron from_state:RUNNING expected:1 pid:77",
        )
        .await;
    // A payload of `len` bytes holding spaces, colons and a newline (a log line): read whole.
    agent
        .notify(
            3,
            "PROCESS_LOG_STDERR",
            "processname:api groupname:api pid:4001 channel:stderr\nERROR db: connect: refused  (retry: 3)",
        )
        .await;
    agent
        .notify(
            4,
            "PROCESS_STATE_FATAL",
            "processname:worker groupname:jobs from_state:BACKOFF",
        )
        .await;
    agent.notify(5, "TICK_60", "when:1764748800").await;
    agent
        .notify(
            6,
            "PROCESS_STATE_RUNNING",
            "processname:api groupname:api from_state:STARTING pid:4102",
        )
        .await;

    until("three events and a ping reach the ingest", || {
        received.events().len() == 3 && received.pings() == 1
    })
    .await;
    let events = received.events();
    let summary: Vec<(String, String, u64)> = events
        .iter()
        .map(|e| {
            (
                e["process"].as_str().unwrap_or_default().to_owned(),
                e["state"].as_str().unwrap_or_default().to_owned(),
                e["serial"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("api".into(), "EXITED".into(), 1),
            ("worker".into(), "FATAL".into(), 4),
            ("api".into(), "RUNNING".into(), 6),
        ]
    );
    assert_eq!(events[0]["host"], "web-1");
    assert_eq!(events[0]["expected"], false);
    assert_eq!(events[0]["pid"], 4001);
    assert_eq!(events[1]["group"], "jobs");
    assert_eq!(events[1]["from_state"], "BACKOFF");
    assert!(
        events[0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("web-1/") && id.ends_with("/1")),
        "{}",
        events[0]
    );

    let said = agent.exited().await;
    // Standard output carried the protocol and nothing else.
    let protocol = format!("READY\n{}", "RESULT 2\nOKREADY\n".repeat(6));
    assert_eq!(String::from_utf8_lossy(&said), protocol);
    assert!(
        std::fs::read_dir(spool.path())
            .expect("the spool")
            .filter_map(Result::ok)
            .all(|e| !e.file_name().to_string_lossy().ends_with(".json")),
        "a delivered event leaves the spool"
    );
}

#[tokio::test]
async fn events_wait_out_an_ingest_outage_and_an_agent_restart_and_arrive_once_in_order() {
    let (ingest, received) = fake_ingest().await;
    received.down.store(true, Ordering::SeqCst);
    let spool = tempfile::tempdir().expect("a spool folder");

    let mut agent = Listener::start(&ingest, spool.path());
    agent.expect("READY\n").await;
    for serial in 1..=4 {
        let (serial, event, payload) = exited(serial, &format!("app{serial}"));
        agent.notify(serial, event, &payload).await;
    }
    // The ingest is away: each event was answered OK only once it was on disk. Then the agent dies
    // without warning.
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.child.kill().await.expect("killed");
    assert!(received.events().is_empty());

    let mut agent = Listener::start(&ingest, spool.path());
    agent.expect("READY\n").await;
    for serial in 5..=6 {
        let (serial, event, payload) = exited(serial, &format!("app{serial}"));
        agent.notify(serial, event, &payload).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    received.down.store(false, Ordering::SeqCst);
    until("every event reaches the ingest", || {
        received.events().len() >= 6
    })
    .await;
    // A moment more: nothing arrives twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let serials: Vec<u64> = received
        .events()
        .iter()
        .map(|e| e["serial"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(serials, vec![1, 2, 3, 4, 5, 6]);
    agent.exited().await;
}

/// A spool on a small tmpfs that turns read-only (as ext4 with `errors=remount-ro` does) while
/// the ingest is away: once the ingest is back, each event is posted once, out of the queue though
/// its file cannot be removed, and nothing floods. Needs to mount (root or CAP_SYS_ADMIN): where
/// it cannot, it says so and checks nothing.
#[tokio::test]
async fn a_spool_turned_read_only_never_floods_the_ingest() {
    let (ingest, received) = fake_ingest().await;
    received.down.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("a folder");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let mount = |args: &[&str]| {
        std::process::Command::new("mount")
            .args(args)
            .output()
            .map(|o| {
                (
                    o.status.success(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
            })
            .unwrap_or_else(|e| (false, e.to_string()))
    };
    let target = spool.display().to_string();
    let (mounted, why) = mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs", &target]);
    if !mounted {
        eprintln!(
            "SKIPPED a_spool_turned_read_only_never_floods_the_ingest: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {why}"
        );
        return;
    }
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .args(["-l", &self.0])
                .status();
        }
    }
    let _unmount = Unmount(target.clone());

    let mut agent = Listener::start(&ingest, &spool);
    agent.expect("READY\n").await;
    for serial in 1..=3 {
        let (serial, event, payload) = exited(serial, &format!("app{serial}"));
        agent.notify(serial, event, &payload).await;
    }
    let (read_only, why) = mount(&["-o", "remount,ro", &target]);
    assert!(read_only, "remount read-only: {why}");
    received.down.store(false, Ordering::SeqCst);
    until("every event reaches the ingest", || {
        received.events().len() >= 3
    })
    .await;
    // Three seconds more: a loop on an undeletable file would post thousands of times.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let serials: Vec<u64> = received
        .events()
        .iter()
        .map(|e| e["serial"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(serials, vec![1, 2, 3], "each once");
    let posts = received
        .attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|(kind, _)| kind == "event")
        .count();
    assert!(
        posts <= 12,
        "{posts} event posts: the outage's retries and one each after"
    );
    // The files are still there: the file system would not let them go.
    let left = std::fs::read_dir(&spool)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count();
    assert_eq!(left, 3);
    agent.child.kill().await.expect("killed");
}

/// Files in the spool that cannot be events (not UTF-8, not JSON, a folder, a number past u64)
/// are moved to bad/, counted as dropped, and the events after them delivered.
#[tokio::test]
async fn spool_files_that_are_not_events_are_set_aside_and_the_rest_delivered() {
    let (ingest, received) = fake_ingest().await;
    let spool = tempfile::tempdir().expect("a spool folder");
    let event = |serial: u64| {
        serde_json::json!({
            "id": format!("web-1/boot/1/{serial}"), "host": "web-1", "process": "api",
            "group": "api", "from_state": "RUNNING", "state": "EXITED", "expected": false,
            "pid": 4000, "serial": serial, "at": "2026-12-06T02:00:00.000Z", "dropped": 0
        })
        .to_string()
    };
    let path = |n: u64| spool.path().join(format!("{n:020}.json"));
    std::fs::write(path(1), event(1)).unwrap();
    std::fs::write(path(2), [0xff, 0xfe, b'{']).unwrap();
    std::fs::write(path(3), "not json").unwrap();
    std::fs::create_dir(path(4)).unwrap();
    std::fs::write(spool.path().join("99999999999999999999.json"), event(9)).unwrap();
    std::fs::write(path(5), event(5)).unwrap();

    let mut agent = Listener::start(&ingest, spool.path());
    agent.expect("READY\n").await;
    let (serial, kind, payload) = exited(6, "api");
    agent.notify(serial, kind, &payload).await;
    until("the good events reach the ingest", || {
        received.events().len() >= 3
    })
    .await;
    let events = received.events();
    let serials: Vec<u64> = events
        .iter()
        .map(|e| e["serial"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(serials, vec![1, 5, 6]);
    assert_eq!(
        events[2]["dropped"], 4,
        "the new event counts what was set aside"
    );
    let aside = std::fs::read_dir(spool.path().join("bad")).unwrap().count();
    assert_eq!(aside, 4);
    assert_eq!(
        std::fs::read_to_string(spool.path().join("dropped"))
            .unwrap()
            .trim(),
        "4"
    );
    let said = agent.exited().await;
    assert!(!String::from_utf8_lossy(&said).contains("FAIL"));
}

/// A throttled ingest (429, as a Function URL past its reserved concurrency answers) is ridden
/// out: a report and a TICK_60 ping are tried again with jittered backoff until they are kept.
#[tokio::test]
async fn a_throttled_ingest_is_ridden_out_by_the_report_and_the_heartbeat() {
    let (ingest, received) = fake_ingest().await;
    received.throttled.store(2, Ordering::SeqCst);
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(env!("CARGO_BIN_EXE_lookout-agent"))
            .args(["report", "--once", "--host", "web-1"])
            .env_clear()
            .env("LOOKOUT_INGEST_URL", &ingest)
            .env("LOOKOUT_AGENT_TOKEN", TOKEN)
            .output(),
    )
    .await
    .expect("in time")
    .expect("runs");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(received.pings(), 1);
    let tries: Vec<std::time::Instant> = received
        .attempts
        .lock()
        .unwrap()
        .iter()
        .map(|(_, at)| *at)
        .collect();
    assert_eq!(tries.len(), 3, "two refused, one kept");
    assert!(
        tries[1] - tries[0] >= Duration::from_millis(400),
        "it waited: {tries:?}"
    );

    received.throttled.store(2, Ordering::SeqCst);
    let spool = tempfile::tempdir().expect("a spool folder");
    let mut agent = Listener::start(&ingest, spool.path());
    agent.expect("READY\n").await;
    agent.notify(1, "TICK_60", "when:1764748800").await;
    until("the heartbeat gets through", || received.pings() == 2).await;
    agent.exited().await;
}

#[test]
fn a_bad_setting_is_refused_with_what_to_do_and_the_token_never_shows() {
    let run = |env: &[(&str, &str)]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lookout-agent"))
            .arg("supervisor")
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(output.stdout.is_empty(), "nothing on supervisord's stdout");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let said = run(&[("LOOKOUT_AGENT_TOKEN", TOKEN)]);
    assert!(said.contains("LOOKOUT_INGEST_URL is not set"), "{said}");
    let said = run(&[
        ("LOOKOUT_INGEST_URL", "ftp://x"),
        ("LOOKOUT_AGENT_TOKEN", TOKEN),
    ]);
    assert!(said.contains("is not an http(s) URL"), "{said}");
    let said = run(&[("LOOKOUT_INGEST_URL", "https://x.example/")]);
    assert!(said.contains("LOOKOUT_AGENT_TOKEN is not set"), "{said}");
    let said = run(&[
        ("LOOKOUT_INGEST_URL", "https://x.example/"),
        ("LOOKOUT_AGENT_TOKEN", "short secret!"),
    ]);
    assert!(said.contains("is not a token"), "{said}");
    assert!(!said.contains("short secret!"), "{said}");
}

#[tokio::test]
async fn report_posts_plausible_figures_of_this_machine_as_the_hosts_heartbeat() {
    let (ingest, received) = fake_ingest().await;
    // This test's own process runs; the other name runs nowhere.
    let running = std::fs::read_to_string("/proc/self/comm").expect("this process's name");
    let running = running.trim().to_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_lookout-agent"))
        .args(["report", "--once", "--disk", "/", "--process", &running])
        .args(["--process", "no-such-daemon"])
        .env_clear()
        .env("LOOKOUT_INGEST_URL", &ingest)
        .env("LOOKOUT_AGENT_TOKEN", TOKEN)
        .env("LOOKOUT_AGENT_HOST", "web-1")
        .output()
        .await
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty());
    let posts = received.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let (kind, _, body) = &posts[0];
    assert_eq!(kind, "ping", "the report is the host's heartbeat");
    let report: Value = serde_json::from_str(body).expect("JSON");
    assert!(
        matches!(
            lookout::pings::Resources::of_body(body.as_bytes()),
            Some(Ok(_))
        ),
        "the ingest reads it as a resource report: {body}"
    );
    assert_eq!(report["host"], "web-1");
    for figure in [&report["cpu"], &report["memory"], &report["disks"]["/"]] {
        let value = figure.as_f64().unwrap_or(-1.0);
        assert!((0.0..=100.0).contains(&value), "{report}");
    }
    assert!(
        report["memory"].as_f64().unwrap_or_default() > 0.0,
        "{report}"
    );
    assert_eq!(report["processes"][running.as_str()], true, "{report}");
    assert_eq!(report["processes"]["no-such-daemon"], false, "{report}");
    // A run from cron: its start, then the report, under one run id the ingest takes.
    let runs = received.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let rid = runs[1]
        .strip_prefix("?rid=")
        .expect("the report names its run");
    assert!(lookout::pings::run_id(rid).is_some(), "{rid}");
    assert_eq!(runs[0], format!("/start?rid={rid}"));

    // The ingest away: tried again until the next report would be due (10 s here), not kept for
    // later, and the exit says it did not arrive.
    received.down.store(true, Ordering::SeqCst);
    let output = Command::new(env!("CARGO_BIN_EXE_lookout-agent"))
        .args(["report", "--once", "--every", "10s"])
        .env_clear()
        .env("LOOKOUT_INGEST_URL", &ingest)
        .env("LOOKOUT_AGENT_TOKEN", TOKEN)
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("did not reach the ingest"), "{said}");
    assert!(!said.contains(TOKEN), "{said}");
}

/// The configuration of the end-to-end tests: web-1's heartbeat (with a process that runs nowhere)
/// and its supervisord programs, on one token, told to a WeCom robot.
const WEB1_YAML: &str = r#"
defaults: {language: en, timezone: Asia/Shanghai}
channels:
  ops: {type: wecom, webhook_url: "${WECOM_URL}"}
monitors:
  - {name: web-1, type: heartbeat, token: "${WEB1_TOKEN}", period: 1m, grace: 30s, processes: [no-such-daemon]}
  - {name: web-1-programs, type: supervisor, token: "${WEB1_TOKEN}", host: web-1}
"#;

/// agent -> ingest (its Function URL, under the emulator) -> the store -> the heartbeat function's
/// tick (under the emulator) -> one WeCom digest naming the crashed program and the missing
/// process; then, the host silent, its programs' new crashes tell nobody and the recovery still
/// goes out.
#[tokio::test]
async fn agent_events_reach_one_wecom_digest_and_a_silent_host_suppresses_its_programs() {
    use lookout::alerting::state::file::FileStore;
    use lookout::ledger::Ledger;
    use support::lambda::{Outcome, RuntimeApi, scheduled_event};

    let robot = support::wecom::FakeWeCom::start("web-1-robot-key").await;
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("state.json").display().to_string();
    let robot_url = robot.url();
    let env = [
        ("WEB1_TOKEN", TOKEN),
        ("STATE_FILE", state.as_str()),
        ("WECOM_URL", robot_url.as_str()),
    ];
    let api = Arc::new(RuntimeApi::start().await);
    std::fs::write(api.task_root().join("lookout.yaml"), WEB1_YAML).unwrap();
    let _function = api.spawn(env!("CARGO_BIN_EXE_ingest"), &env).await;
    let url = support::function_url::serve(Arc::clone(&api)).await;
    let heartbeat_api = RuntimeApi::start().await;
    std::fs::write(heartbeat_api.task_root().join("lookout.yaml"), WEB1_YAML).unwrap();
    let heartbeat = heartbeat_api
        .spawn(env!("CARGO_BIN_EXE_heartbeat"), &env)
        .await;

    let spool = tempfile::tempdir().expect("a spool folder");
    let mut agent = Listener::start(&url, spool.path());
    agent.expect("READY\n").await;
    for serial in 1..=3 {
        let (serial, event, payload) = exited(serial, "api");
        agent.notify(serial, event, &payload).await;
    }
    agent
        .notify(
            4,
            "PROCESS_STATE_RUNNING",
            "processname:api groupname:api from_state:STARTING pid:5001",
        )
        .await;
    agent.notify(5, "TICK_60", "when:1764748800").await;
    let store = FileStore::new(&state);
    let hash = lookout::pings::token_hash(TOKEN);
    let started = tokio::time::Instant::now();
    loop {
        let events = store.events(&hash).await.unwrap();
        let pinged = !store
            .pings(std::slice::from_ref(&hash))
            .await
            .unwrap()
            .is_empty();
        if events.len() == 4 && pinged {
            let states: Vec<(u64, &str)> = events
                .iter()
                .map(|e| (e.serial, e.state.as_str()))
                .collect();
            assert_eq!(
                states,
                vec![(1, "EXITED"), (2, "EXITED"), (3, "EXITED"), (4, "RUNNING")]
            );
            assert!(
                events
                    .iter()
                    .all(|e| e.host == "web-1" && e.process == "api")
            );
            break;
        }
        assert!(
            started.elapsed() < WITHIN,
            "events reach the store: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.exited().await;
    let reported = Command::new(env!("CARGO_BIN_EXE_lookout-agent"))
        .args(["report", "--once", "--process", "no-such-daemon"])
        .env_clear()
        .env("LOOKOUT_INGEST_URL", &url)
        .env("LOOKOUT_AGENT_TOKEN", TOKEN)
        .env("LOOKOUT_AGENT_HOST", "web-1")
        .output()
        .await
        .expect("runs");
    assert!(reported.status.success(), "{reported:?}");

    // The tick: one digest, the crash loop as one entry, the missing process beside it.
    let tick = |id: &str, at: chrono::DateTime<chrono::Utc>| {
        scheduled_event(id, &at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    };
    let now = chrono::Utc::now() + chrono::Duration::seconds(1);
    let Outcome::Response(report) = heartbeat_api.invoke(tick("tick-1", now), WITHIN).await else {
        panic!("the heartbeat function answers: {}", heartbeat.stop().await);
    };
    let messages = robot.accepted();
    assert_eq!(messages.len(), 1, "one digest: {messages:?}\n{report}");
    let text = messages[0].to_string();
    assert!(text.contains("web-1-programs/api"), "{text}");
    assert!(text.contains("api exited 3 times since"), "{text}");
    assert!(
        text.contains("no process named no-such-daemon is running"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");

    // The host falls silent; a program crashes meanwhile (its event delivered, the host's pings
    // lost): the host's silence is told, the new crash is not, api's recovery is.
    let later = now + chrono::Duration::minutes(5);
    let crash = serde_json::json!({
        "id": "web-1/boot/99", "host": "web-1", "process": "worker", "group": "worker",
        "from_state": "RUNNING", "state": "EXITED", "expected": false, "pid": 4999,
        "serial": 99, "at": (later - chrono::Duration::minutes(1)).to_rfc3339(), "dropped": 0
    });
    let kept = support::function_url::url_event(
        "POST",
        &format!("/event/{TOKEN}"),
        crash.to_string().as_bytes(),
        later,
    );
    let support::lambda::Outcome::Response(answer) = api.invoke(kept, WITHIN).await else {
        panic!("the ingest answers");
    };
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let Outcome::Response(report) = heartbeat_api.invoke(tick("tick-2", later), WITHIN).await
    else {
        panic!("the heartbeat function answers: {}", heartbeat.stop().await);
    };
    let messages = robot.accepted();
    assert_eq!(messages.len(), 2, "{messages:?}\n{report}");
    let text = messages[1].to_string();
    assert!(text.contains("web-1 silent for"), "{text}");
    assert!(
        text.contains("web-1-programs/api"),
        "api's recovery: {text}"
    );
    assert!(
        !text.contains("worker"),
        "the silent host's crash is not told: {text}"
    );
    let worker = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "supervisor:web-1-programs/worker")
        .unwrap_or_else(|| panic!("worker is judged: {report}"));
    assert_eq!(worker["health"], "suppressed", "{worker}");

    // A resend (the agent died after the ingest kept it, before it forgot it) is not kept twice.
    let resent = support::function_url::url_event(
        "POST",
        &format!("/event/{TOKEN}"),
        serde_json::to_string(&store.events(&hash).await.unwrap()[0])
            .unwrap()
            .as_bytes(),
        chrono::Utc::now(),
    );
    let support::lambda::Outcome::Response(answer) = api.invoke(resent, WITHIN).await else {
        panic!("the ingest answers");
    };
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(store.events(&hash).await.unwrap().len(), 5);

    // What the ingest refuses, and says why, without the token.
    let http = reqwest::Client::new();
    for (method, path, body, status, says) in [
        ("GET", format!("/event/{TOKEN}"), "", 405, "POST"),
        (
            "POST",
            "/event/".to_owned(),
            "{}",
            400,
            "POST /event/<token>",
        ),
        (
            "POST",
            format!("/event/{TOKEN}"),
            "{\"state\":\"EXITED\"}",
            400,
            "malformed event",
        ),
        (
            "POST",
            "/event/unknown-token-000000".to_owned(),
            "{}",
            404,
            "no monitor has this token",
        ),
    ] {
        let response = http
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let text = response.text().await.unwrap();
        assert!(text.contains(says), "{text}");
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[test]
fn every_variable_the_agent_reads_is_in_its_reference() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/agent.md"))
        .expect("docs/agent.md");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/agent");
    let mut read = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/agent") {
        let text = std::fs::read_to_string(entry.expect("a file").path()).expect("source");
        for literal in text.split('"').skip(1).step_by(2) {
            if literal.starts_with("LOOKOUT_")
                && literal.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                read.push(literal.to_owned());
            }
        }
    }
    assert!(read.len() >= 5, "{read:?}");
    for variable in read {
        assert!(
            docs.contains(&format!("`{variable}`")),
            "{variable} is in docs/agent.md"
        );
    }
}
