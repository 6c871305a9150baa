//! A Lambda Runtime API emulator as strict as Lambda, and the real `bootstrap` binaries run under it.
//!
//! What Lambda does and the emulator does too (`shared/protocols.md`):
//! - every template parameter the test leaves out reaches the function as a *blank* variable, as
//!   CloudFormation passes it (`RUST_LOG=""`);
//! - the variables the function is configured with total at most 4 KB;
//! - the process may open 1,024 file descriptors;
//! - the deadline (`Lambda-Runtime-Deadline-Ms`) is enforced: at it the process is killed, and the
//!   next invocation starts a new one (a cold start);
//! - an asynchronous invocation that fails (an error, a timeout, a crash) is retried twice with the
//!   same request id, then goes to the on-failure destination.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Lambda's limit on the configured environment variables, keys and values together.
pub const ENVIRONMENT_LIMIT: usize = 4096;
/// Lambda's limit on open file descriptors.
pub const DESCRIPTOR_LIMIT: u32 = 1024;

/// What one invocation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`.
    Response(Value),
    /// `POST /runtime/invocation/{id}/error`.
    Error(Value),
    /// No answer by the deadline: the process was killed.
    Timeout,
    /// The process exited while the invocation was in progress.
    Crash,
}

impl Outcome {
    /// True for anything but a response.
    pub fn failed(&self) -> bool {
        !matches!(self, Outcome::Response(_))
    }
}

/// How the function is started again after a kill: binary, variables, descriptor limit.
#[derive(Clone)]
struct Configuration {
    binary: String,
    /// `_HANDLER`, the template's `Handler`: which function the one bootstrap is.
    handler: Option<&'static str>,
    env: Vec<(String, String)>,
    descriptors: u32,
}

struct Process {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

struct Shared {
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<(HeaderMap, Value)>>,
    events: Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    timeout: Mutex<Duration>,
    configuration: Mutex<Option<Configuration>>,
    processes: Mutex<Vec<Process>>,
    output_dir: tempfile::TempDir,
    /// `LAMBDA_TASK_ROOT`: the function's code folder.
    task_root: tempfile::TempDir,
    dead_letters: Mutex<Vec<Value>>,
    spawned: AtomicU64,
}

/// The emulator: hands out events on `/next` and collects what the function posts back.
pub struct RuntimeApi {
    pub address: SocketAddr,
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<(String, Value)>,
    next_id: AtomicU64,
    /// The wait between asynchronous attempts (Lambda waits one, then two minutes).
    pub retry_delay: Duration,
}

/// The function as the test sees it: everything its processes printed.
pub struct Function {
    shared: Arc<Shared>,
}

impl RuntimeApi {
    /// Starts the emulator on 127.0.0.1:0, with a 60 s function timeout.
    pub async fn start() -> Self {
        let (queue, events) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            waiting: Mutex::default(),
            init_error: Mutex::default(),
            events: Mutex::new(events),
            timeout: Mutex::new(Duration::from_secs(60)),
            configuration: Mutex::default(),
            processes: Mutex::default(),
            output_dir: tempfile::tempdir().expect("a folder for the function's output"),
            task_root: tempfile::tempdir().expect("a folder for the function's code"),
            dead_letters: Mutex::default(),
            spawned: AtomicU64::new(0),
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
            next_id: AtomicU64::default(),
            retry_delay: Duration::from_millis(50),
        }
    }

    /// The function's timeout (the template's `Timeout`): each invocation's deadline is this far off.
    pub async fn set_timeout(&self, timeout: Duration) {
        *self.shared.timeout.lock().await = timeout;
    }

    /// Starts a real binary of this package against the emulator, the way Lambda would, with its
    /// state in a file of its own (unless `env` names a `STATE_TABLE` or another `STATE_FILE`).
    /// A function's binary (`CARGO_BIN_EXE_site-status`, or just the function's name) is run as it
    /// is deployed: the one bootstrap (`lookout`) as `$LAMBDA_TASK_ROOT/bootstrap`, told its
    /// function by `_HANDLER`.
    pub async fn spawn(&self, binary: &str, env: &[(&str, &str)]) -> Function {
        self.spawn_limited(binary, env, DESCRIPTOR_LIMIT).await
    }

    /// As [`RuntimeApi::spawn`], with another descriptor limit (lower than Lambda's, to exhaust it).
    pub async fn spawn_limited(
        &self,
        binary: &str,
        env: &[(&str, &str)],
        descriptors: u32,
    ) -> Function {
        let state_file = self.shared.output_dir.path().join("state.json");
        let mut variables: Vec<(String, String)> =
            vec![("STATE_FILE".into(), state_file.display().to_string())];
        variables.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let function = function_of(binary);
        for setting in lookout::setup::settings() {
            let deployed = setting.source == lookout::config::Source::Parameter
                && setting.function.is_none_or(|f| Some(f) == function);
            if deployed && !variables.iter().any(|(k, _)| k == setting.name) {
                variables.push((setting.name.to_owned(), String::new()));
            }
        }
        let size: usize = variables
            .iter()
            .filter(|(k, _)| !k.starts_with("AWS_") && k != "STATE_FILE")
            .map(|(k, v)| k.len() + v.len())
            .sum();
        assert!(
            size <= ENVIRONMENT_LIMIT,
            "Lambda refuses {size} bytes of environment variables (4 KB at most): put long values in the stack's secret"
        );
        let binary = match function {
            Some(_) => {
                let bootstrap = self.shared.task_root.path().join("bootstrap");
                if !bootstrap.exists() {
                    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lookout"), &bootstrap)
                        .expect("the bootstrap in the function's folder");
                }
                bootstrap.display().to_string()
            }
            None => binary.to_owned(),
        };
        let configuration = Configuration {
            binary,
            handler: function,
            env: variables,
            descriptors,
        };
        *self.shared.configuration.lock().await = Some(configuration.clone());
        start_process(&self.shared, &configuration, self.address).await;
        Function {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The function's code folder (`LAMBDA_TASK_ROOT`), where a bundled lookout.yaml goes.
    pub fn task_root(&self) -> &std::path::Path {
        self.shared.task_root.path()
    }

    fn request_id(&self) -> String {
        format!("request-{}", self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    /// Hands the function an event (a synchronous invoke) and waits for what came of it.
    pub async fn invoke(&self, event: Value, within: Duration) -> Outcome {
        let id = self.request_id();
        self.attempt(&id, event, within).await
    }

    /// An asynchronous invoke, as EventBridge makes one: up to three attempts with the same request
    /// id; when all fail the event goes to the on-failure destination. Returns every attempt.
    pub async fn invoke_async(&self, event: Value, within: Duration) -> Vec<Outcome> {
        let id = self.request_id();
        let mut attempts = Vec::new();
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(self.retry_delay).await;
            }
            let outcome = self.attempt(&id, event.clone(), within).await;
            let failed = outcome.failed();
            attempts.push(outcome);
            if !failed {
                return attempts;
            }
        }
        self.shared.dead_letters.lock().await.push(event);
        attempts
    }

    /// Events that failed all their attempts (the on-failure destination).
    pub async fn dead_letters(&self) -> Vec<Value> {
        self.shared.dead_letters.lock().await.clone()
    }

    async fn attempt(&self, id: &str, event: Value, within: Duration) -> Outcome {
        // A killed or crashed environment is replaced before the next event, as Lambda does.
        let alive = live_process(&self.shared).await;
        if !alive {
            let configuration = self.shared.configuration.lock().await.clone();
            if let Some(configuration) = configuration {
                start_process(&self.shared, &configuration, self.address).await;
            }
        }
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().await.insert(id.to_owned(), tx);
        self.queue
            .send((id.to_owned(), event))
            .expect("queue the event");
        tokio::time::timeout(within, rx)
            .await
            .expect("the invocation ended in time")
            .expect("the emulator kept the request")
    }

    /// Waits for a start-up error report: its headers and body.
    pub async fn init_error(&self, within: Duration) -> Option<(HeaderMap, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Some(report) = self.shared.init_error.lock().await.clone() {
                return Some(report);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Function {
    /// Everything the function's processes printed so far, stdout and stderr, process by process.
    pub async fn output(&self) -> String {
        let processes = self.shared.processes.lock().await;
        let mut text = String::new();
        for process in processes.iter() {
            for path in [&process.stdout, &process.stderr] {
                if let Ok(bytes) = tokio::fs::read(path).await {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
        text
    }

    /// What the processes printed on standard error only.
    pub async fn stderr(&self) -> String {
        let processes = self.shared.processes.lock().await;
        let mut text = String::new();
        for process in processes.iter() {
            if let Ok(bytes) = tokio::fs::read(&process.stderr).await {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        text
    }

    /// The current process's id.
    pub async fn pid(&self) -> Option<u32> {
        self.shared
            .processes
            .lock()
            .await
            .last()
            .and_then(|p| p.child.id())
    }

    /// Waits for the current process to exit; its status.
    pub async fn exited(&self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Some(process) = self.shared.processes.lock().await.last_mut()
                && let Ok(Some(status)) = process.child.try_wait()
            {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// How many processes have been started (1 + the restarts after kills and crashes).
    pub fn starts(&self) -> u64 {
        self.shared.spawned.load(Ordering::SeqCst)
    }

    /// Kills the current process, as a crash would (an invocation in progress ends as
    /// [`Outcome::Crash`]; the next one starts a new process).
    pub async fn kill(&self) {
        if let Some(process) = self.shared.processes.lock().await.last_mut() {
            let _ = process.child.start_kill();
            let _ = process.child.wait().await;
        }
    }

    /// Stops every process; what they printed.
    pub async fn stop(&self) -> String {
        for process in self.shared.processes.lock().await.iter_mut() {
            let _ = process.child.start_kill();
            let _ = process.child.wait().await;
        }
        self.output().await
    }
}

/// The function a binary is (`site-status` for `.../site-status`).
/// One scheduled tick of `function` (a binary or a function's name) with `yaml` as the
/// `lookout.yaml` bundled next to its bootstrap: each result's health by incident key, and the
/// report.
pub async fn one_tick_with_file(function: &str, yaml: &str) -> (HashMap<String, String>, Value) {
    let api = RuntimeApi::start().await;
    std::fs::write(api.task_root().join("lookout.yaml"), yaml).expect("bundle lookout.yaml");
    let _function = api.spawn(function, &[]).await;
    let outcome = api
        .invoke(
            scheduled_event("tick-1", "2026-12-06T06:00:00Z"),
            Duration::from_secs(30),
        )
        .await;
    let Outcome::Response(report) = outcome else {
        panic!("{outcome:?}")
    };
    let healths = healths(&report).into_iter().collect();
    (healths, report)
}

/// Each result's incident key and health, from a function's report, in its order.
pub fn healths(report: &Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["key"].as_str()?.to_owned(),
                r["health"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn function_of(binary: &str) -> Option<&'static str> {
    let name = std::path::Path::new(binary).file_name()?.to_str()?;
    lookout::bootstrap::functions()
        .into_iter()
        .find(|f| *f == name)
}

async fn live_process(shared: &Shared) -> bool {
    let mut processes = shared.processes.lock().await;
    processes
        .last_mut()
        .is_some_and(|p| matches!(p.child.try_wait(), Ok(None)))
}

async fn start_process(shared: &Shared, configuration: &Configuration, address: SocketAddr) {
    let n = shared.spawned.fetch_add(1, Ordering::SeqCst);
    let stdout = shared.output_dir.path().join(format!("stdout-{n}"));
    let stderr = shared.output_dir.path().join(format!("stderr-{n}"));
    let file = |path: &PathBuf| std::fs::File::create(path).expect("an output file");
    // `ulimit -n` in sh sets the soft and the hard limit, as Lambda's are. Where the machine's own
    // hard limit is lower, that lower one stands: the function still has at most this many.
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {} 2>/dev/null; exec \"$0\"",
            configuration.descriptors
        ))
        .arg(&configuration.binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "lookout-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        // The function's own folder, where `sam build` puts lookout.yaml next to bootstrap; also the
        // working directory, as under Lambda.
        .env("LAMBDA_TASK_ROOT", shared.task_root.path())
        .current_dir(shared.task_root.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(configuration.handler.map(|h| ("_HANDLER", h)))
        .envs(configuration.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(file(&stdout))
        .stderr(file(&stderr))
        .kill_on_drop(true)
        .spawn()
        .expect("start the function binary");
    shared.processes.lock().await.push(Process {
        child,
        stdout,
        stderr,
    });
}

async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let Some((id, event)) = shared.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let timeout = *shared.timeout.lock().await;
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        + timeout;
    tokio::spawn(watch(Arc::clone(&shared), id.clone(), timeout));
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, value.parse().expect("header value"));
    };
    set("lambda-runtime-aws-request-id", id);
    set(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string(),
    );
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

/// Ends an invocation that is not answered by its deadline (killing the process), or whose process
/// exits before answering.
async fn watch(shared: Arc<Shared>, id: String, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if !shared.waiting.lock().await.contains_key(&id) {
            return;
        }
        let timed_out = tokio::time::Instant::now() >= deadline;
        let crashed = {
            let mut processes = shared.processes.lock().await;
            let current = processes.last_mut();
            match current {
                Some(process) if timed_out => {
                    let _ = process.child.start_kill();
                    let _ = process.child.wait().await;
                    false
                }
                Some(process) => !matches!(process.child.try_wait(), Ok(None)),
                None => true,
            }
        };
        if timed_out || crashed {
            if let Some(tx) = shared.waiting.lock().await.remove(&id) {
                let _ = tx.send(if timed_out {
                    Outcome::Timeout
                } else {
                    Outcome::Crash
                });
            }
            return;
        }
    }
}

async fn finish(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.waiting.lock().await.remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        // Too late (past the deadline) or unknown: Lambda answers 400 or 410.
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
    *shared.init_error.lock().await = Some((headers, value));
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
