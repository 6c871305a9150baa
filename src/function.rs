//! A deployed function: its check and channels, run once per tick, under Lambda or locally.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing_subscriber::filter::{LevelFilter, Targets};

use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use crate::alerting::state;
use crate::checks::{self, CheckType};
use crate::config::{Env, SetupError};
use crate::monitor::{Invocation, Monitor};
use crate::report::Report;
use crate::setup::{self, file};
use crate::tick::Tick;
use crate::{metrics, redact, secrets};

/// Time kept back from the invocation's deadline to send the answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);
/// How long a local run may take, as long as the longest deployed function (speed-test).
const LOCAL_RUN_TIME: Duration = Duration::from_secs(300);

/// A binary's whole `main`: settings, then the Lambda loop, or one local tick when
/// `AWS_LAMBDA_RUNTIME_API` is not set; `--check-config` only reads and checks the settings
/// (`lookout.yaml` with every monitor and channel in it) and says what it found.
///
/// The function runs the monitors of its check type (`site-status` runs `type: site`). A bad setting
/// stops the function here with its message (reported to Lambda's `/runtime/init/error` when under
/// Lambda), never a panic.
pub fn main(function: &'static str, args: &[String]) -> ExitCode {
    let Some(kind) = checks::check_type_of(function) else {
        eprintln!("{function}: no check type runs in this function");
        return ExitCode::FAILURE;
    };
    if args.first().map(String::as_str) == Some("--check-config") {
        return check_config();
    }
    launch(
        function,
        |in_lambda| build(kind, in_lambda),
        |built, in_lambda| async move {
            match built {
                Built::Monitor(monitor) if in_lambda => serve(*monitor).await,
                Built::Monitor(monitor) => run_once(*monitor).await,
                Built::Skipped(why) => {
                    eprintln!("{function}: skipped: {why}");
                    ExitCode::SUCCESS
                }
            }
        },
    )
}

/// What a function's start-up made.
enum Built {
    /// The function, ready to tick.
    Monitor(Box<Monitor>),
    /// A local run with nothing to check: why, and what would turn it on.
    Skipped(String),
}

/// How every binary starts: the AWS credentials registered as secrets, logging, a single-threaded
/// runtime; then what `build` makes at cold start, handed to `run` (with whether this is Lambda).
/// A start-up failure is reported where it is seen: Lambda's init error, or standard error.
pub(crate) fn launch<T, B, R>(
    name: &str,
    build: impl FnOnce(bool) -> B,
    run: impl FnOnce(T, bool) -> R,
) -> ExitCode
where
    B: std::future::Future<Output = Result<T, SetupError>>,
    R: std::future::Future<Output = ExitCode>,
{
    let runtime_api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|v| !v.is_empty());
    // The SDK reads these itself: they are secrets all the same.
    for var in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Ok(value) = std::env::var(var) {
            redact::register(&value);
        }
    }
    init_logging(runtime_api.is_some());
    // A panic's message is text that leaves the process too.
    std::panic::set_hook(Box::new(|info| {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("{}\n", redact::scrub(&info.to_string())).as_bytes(),
        );
    }));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let in_lambda = runtime_api.is_some();
        match build(in_lambda).await {
            Ok(built) => run(built, in_lambda).await,
            Err(error) => {
                let error = redact::scrub(&error.to_string()).into_owned();
                match &runtime_api {
                    Some(api) => {
                        tracing::error!(%error, "configuration error");
                        report_init_error(api, &error).await;
                    }
                    None => eprintln!("{name}: configuration error: {error}"),
                }
                ExitCode::FAILURE
            }
        }
    })
}

/// Everything a function needs, built once at cold start: the secret laid over the environment,
/// the monitors (from `lookout.yaml`, else from variables), their policies, the channels, the
/// state store.
///
/// A local run of a function that nothing configures is skipped (the others still run); under
/// Lambda it is the configuration error it always was.
async fn build(kind: &'static CheckType, in_lambda: bool) -> Result<Built, SetupError> {
    let env = secrets::with_secret(Env::from_process()).await?;
    // The file is read first: a malformed one is the error to report, whatever else is wrong.
    let file = file::from_env(&env)?;
    if !in_lambda && let Some(why) = setup::unconfigured(kind, &env, file.as_ref()) {
        return Ok(Built::Skipped(why));
    }
    let store: Arc<dyn state::StateStore> = Arc::from(state::from_env(&env, in_lambda).await?);
    let setup = setup::assemble_from(kind, &env, file, &store).await?;
    Ok(Built::Monitor(Box::new(monitor_of(kind, setup, store))))
}

/// A function's monitor from `env` (the secret already laid over it): the monitors of `kind` in
/// `lookout.yaml` when there is one, else the one its variables describe; the channels; `store`.
pub async fn assemble(
    kind: &'static CheckType,
    env: &Env,
    store: Arc<dyn state::StateStore>,
) -> Result<Monitor, SetupError> {
    let setup = setup::assemble_from(kind, env, file::from_env(env)?, &store).await?;
    Ok(monitor_of(kind, setup, store))
}

/// The function's monitor: what setup made of the configuration, on `store`.
fn monitor_of(kind: &CheckType, setup: setup::Setup, store: Arc<dyn state::StateStore>) -> Monitor {
    Monitor::watching(
        kind.function,
        setup.watches,
        setup.channels,
        store,
        setup.policy,
    )
    .with_answers(setup.answers)
    .with_outage_guard(setup.outage)
    .with_confirmer(setup.confirmer)
}

/// `--check-config`: reads `lookout.yaml` (or the variables) and every monitor and channel in it,
/// building nothing that reaches the network, and says what it found.
fn check_config() -> ExitCode {
    let env = Env::from_process();
    match file::from_env(&env) {
        Ok(Some(file)) => {
            let monitors = match &file.monitors {
                Some(monitors) => {
                    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
                    for monitor in monitors {
                        *counts.entry(monitor.kind.name).or_default() += 1;
                    }
                    let counts: Vec<String> =
                        counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
                    format!("{} monitors ({})", monitors.len(), counts.join(", "))
                }
                None => "monitors from variables".to_owned(),
            };
            let channels = match &file.channels {
                Some(channels) => format!("{} channels", channels.len()),
                None => "channels from variables".to_owned(),
            };
            println!("{}: valid: {monitors}, {channels}", file.path);
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!(
                "no {} here and {} is not set: settings come from variables",
                file::DEFAULT_PATH,
                file::CONFIG_VAR
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{}", redact::scrub(&error.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// The invocation failed as a whole: every channel failed to deliver, so the platform's retry and
/// failure queue keep the alert.
#[derive(Debug, thiserror::Error)]
#[error("no channel delivered the alerts: {0}")]
struct Undelivered(String);

/// The invocation: its request id and deadline (unix milliseconds), less a margin for the answer.
fn invocation(request_id: &str, deadline_ms: u64) -> Invocation {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default();
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Invocation::new(request_id, left.saturating_sub(DEADLINE_MARGIN))
}

async fn serve(monitor: Monitor) -> ExitCode {
    let monitor = Arc::new(monitor);
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let monitor = Arc::clone(&monitor);
        guarded(async move {
            let request_id = &event.context.request_id;
            let tick = Tick::from_event(&event.payload, request_id, Utc::now());
            let report = monitor
                .tick(tick, &invocation(request_id, event.context.deadline))
                .await;
            metrics::print(&metrics::emf_lines(report.tick.time, report.points()));
            let answer = answer_of(&report);
            if let Some(failures) = report.undelivered() {
                // The answer is an error, so the report goes to the log instead.
                tracing::error!(report = %answer, "every channel failed");
                return Err(Diagnostic {
                    error_type: "Undelivered".into(),
                    error_message: redact::scrub(&Undelivered(failures).to_string()).into_owned(),
                });
            }
            Ok::<Value, Diagnostic>(answer)
        })
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime loop stopped");
            ExitCode::FAILURE
        }
    }
}

/// An invocation's answer, whatever happens in it: a panic becomes an error whose message is
/// scrubbed like every other text that leaves the process (the runtime's own report of a panic
/// would quote it as it is).
pub(crate) async fn guarded(
    invocation: impl std::future::Future<Output = Result<Value, Diagnostic>>,
) -> Result<Value, Diagnostic> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(invocation)
        .catch_unwind()
        .await
    {
        Ok(answer) => answer.map_err(|error| Diagnostic {
            error_message: redact::scrub(&error.error_message).into_owned(),
            ..error
        }),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the invocation panicked");
            Err(Diagnostic {
                error_type: "Panic".into(),
                error_message: redact::scrub(message).into_owned(),
            })
        }
    }
}

async fn run_once(monitor: Monitor) -> ExitCode {
    let now = Utc::now();
    // Each local run is an invocation of its own: two at once must not take over each other's
    // claims.
    let request_id = format!(
        "local-{}-{}",
        std::process::id(),
        now.timestamp_nanos_opt().unwrap_or_default()
    );
    let tick = Tick::from_event(&Tick::synthetic_event(now), &request_id, now);
    let report = monitor
        // Someone asked for this run: every monitor is checked, whatever its `every`.
        .tick(tick, &Invocation::new(request_id, LOCAL_RUN_TIME).by_hand())
        .await;
    if let Some(summary) = monitor.local_summary(&report) {
        eprintln!("{}", redact::scrub(&summary));
    }
    match serde_json::to_string_pretty(&answer_of(&report)) {
        Ok(json) => {
            println!("{json}");
            match report.undelivered() {
                Some(failures) => {
                    eprintln!("{}", redact::scrub(&Undelivered(failures).to_string()));
                    ExitCode::FAILURE
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(error) => {
            eprintln!("could not print the report: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The report as it is answered and printed: scrubbed of every secret, and within Lambda's 6 MB
/// answer (a huge one is summarised).
fn answer_of(report: &Report) -> Value {
    let mut answer = report.fitted(crate::report::MAX_ANSWER_BYTES);
    redact::scrub_json(&mut answer);
    answer
}

/// Tells Lambda why start-up failed, so the console and logs show the message.
async fn report_init_error(api: &str, error: &str) {
    let body = serde_json::json!({
        "errorMessage": error,
        "errorType": "ConfigError",
    });
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
        .json(&body)
        .send()
        .await;
    if let Err(e) = sent {
        eprintln!(
            "could not report the error to the Lambda runtime API: {}",
            e.without_url()
        );
    }
}

/// Crates whose debug logs can show URLs and headers (the WeCom URL carries its key): they stay at
/// warn whatever `RUST_LOG` says.
const QUIET_DEPENDENCIES: &[&str] = &[
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "rustls",
    "aws_config",
    "aws_runtime",
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sdk_sesv2",
];

/// The log filter: `RUST_LOG` (`debug`, `lookout=debug,info`: a level, and levels per target) when
/// it is set to something it can read, else the default level, with [`QUIET_DEPENDENCIES`] at
/// warn. A blank `RUST_LOG` (CloudFormation passes a blank parameter as an empty variable) counts
/// as unset, as for every other setting: an empty filter would drop every line.
pub fn log_filter(rust_log: Option<&str>, default: LevelFilter) -> Targets {
    let filter = rust_log
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(default));
    QUIET_DEPENDENCIES.iter().fold(filter, |filter, target| {
        filter.with_target(*target, LevelFilter::WARN)
    })
}

/// JSON logs under Lambda; terse text on a terminal. `RUST_LOG` overrides the level.
fn init_logging(in_lambda: bool) {
    use tracing_subscriber::prelude::*;
    let rust_log = std::env::var("RUST_LOG").ok();
    let default = if in_lambda {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    };
    let filter = log_filter(rust_log.as_deref(), default);
    let layer = tracing_subscriber::fmt::layer().with_writer(redact::ScrubbedStderr);
    if in_lambda {
        let layer = layer
            .json()
            .with_current_span(false)
            .with_ansi(false)
            .without_time();
        tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .init();
    } else {
        tracing_subscriber::registry()
            .with(layer.compact().with_filter(filter))
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_sets_the_levels_and_the_chatty_crates_stay_at_warn() {
        let blank = log_filter(Some("  "), LevelFilter::INFO);
        assert!(blank.would_enable("lookout::monitor", &Level::INFO));
        assert!(!blank.would_enable("lookout::monitor", &Level::DEBUG));
        let debug = log_filter(Some("debug"), LevelFilter::INFO);
        assert!(debug.would_enable("lookout::checks::site", &Level::DEBUG));
        // The URL-bearing crates stay at warn, even when asked for by name.
        for asked in ["trace", "reqwest=trace,info", "hyper=debug"] {
            let filter = log_filter(Some(asked), LevelFilter::INFO);
            assert!(
                !filter.would_enable("reqwest::connect", &Level::DEBUG),
                "{asked}"
            );
            assert!(!filter.would_enable("hyper", &Level::INFO), "{asked}");
            assert!(filter.would_enable("hyper", &Level::WARN), "{asked}");
        }
        let targeted = log_filter(Some("lookout=debug,info"), LevelFilter::WARN);
        assert!(targeted.would_enable("lookout::status", &Level::DEBUG));
        assert!(targeted.would_enable("tower", &Level::INFO));
        assert!(!targeted.would_enable("tower", &Level::DEBUG));
        // What cannot be read is the default.
        let unread = log_filter(Some("lookout[span{x=1}]=debug"), LevelFilter::WARN);
        assert!(!unread.would_enable("lookout", &Level::INFO));
        assert!(unread.would_enable("lookout", &Level::WARN));
        assert!(log_filter(None, LevelFilter::INFO).would_enable("lookout", &Level::INFO));
    }
}
