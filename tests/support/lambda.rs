//! A small Lambda Runtime API emulator, and the real `bootstrap` binaries run against it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

/// What a function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`.
    Response(Value),
    /// `POST /runtime/invocation/{id}/error`.
    Error(Value),
}

#[derive(Default)]
struct Inner {
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<(HeaderMap, Value)>>,
}

struct Shared {
    inner: Inner,
    events: Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
}

/// The emulator: hands out events on `/next` and collects what the function posts back.
pub struct RuntimeApi {
    pub address: SocketAddr,
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<(String, Value)>,
    next_id: std::sync::atomic::AtomicU64,
}

impl RuntimeApi {
    /// Starts the emulator on 127.0.0.1:0.
    pub async fn start() -> Self {
        let (queue, events) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            inner: Inner::default(),
            events: Mutex::new(events),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&shared));
        let address = super::serve(router).await;
        RuntimeApi {
            address,
            shared,
            queue,
            next_id: Default::default(),
        }
    }

    /// Hands the function an event and waits for its answer.
    pub async fn invoke(&self, event: Value, within: Duration) -> Outcome {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("request-{n}");
        let (tx, rx) = oneshot::channel();
        self.shared
            .inner
            .waiting
            .lock()
            .await
            .insert(id.clone(), tx);
        self.queue.send((id, event)).expect("queue the event");
        tokio::time::timeout(within, rx)
            .await
            .expect("the function answered in time")
            .expect("the emulator kept the request")
    }

    /// Waits for a start-up error report: its headers and body.
    pub async fn init_error(&self, within: Duration) -> Option<(HeaderMap, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Some(report) = self.shared.inner.init_error.lock().await.clone() {
                return Some(report);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Starts a real binary of this package against the emulator, the way Lambda would, with its
    /// state in a file of its own (unless `env` names a `STATE_TABLE` or another `STATE_FILE`).
    pub fn spawn(&self, binary: &str, env: &[(&str, &str)]) -> Child {
        static SPAWNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let state_file = std::env::temp_dir().join(format!(
            "lookout-test-{}-{n}-{}.json",
            std::process::id(),
            self.address.port()
        ));
        Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", self.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "lookout-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("STATE_FILE", state_file)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the function binary")
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let Some((id, event)) = shared.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
        + 60_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, value.parse().expect("header value"));
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:lookout-test".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into(),
    );
    (StatusCode::OK, headers, event.to_string())
}

async fn finish(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.inner.waiting.lock().await.remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    finish(&shared, &id, Outcome::Response(value)).await
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    finish(&shared, &id, Outcome::Error(value)).await
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    *shared.inner.init_error.lock().await = Some((headers, value));
    StatusCode::ACCEPTED
}

/// The scheduled event EventBridge sends (from `shared/protocols.md`).
pub fn scheduled_event(id: &str, time: &str) -> Value {
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
        "detail": {}
    })
}
