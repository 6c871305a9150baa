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
    down: AtomicBool,
}

/// A stand-in for the ingest's `/event/<token>` and `/ping/<token>`: records every post it keeps,
/// and answers 503 while it is down.
async fn fake_ingest() -> (String, Arc<Received>) {
    let received = Arc::new(Received::default());
    let router = Router::new()
        .route(
            "/{kind}/{token}",
            post(
                |State(r): State<Arc<Received>>,
                 Path((kind, token)): Path<(String, String)>,
                 body: String| async move {
                    if r.down.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    if token != TOKEN {
                        return StatusCode::NOT_FOUND;
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
