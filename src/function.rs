//! A deployed function: its check and channels, run once per tick, under Lambda or locally.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::alerting::{self, Digest};
use crate::checks::Check;
use crate::config::{Env, SetupError};
use crate::notify::{self, Notifier};
use crate::report::{Report, Summary};
use crate::tick::Tick;

/// A check and the channels its alerts go to.
pub struct Monitor {
    check: Box<dyn Check>,
    notifiers: Vec<Box<dyn Notifier>>,
}

impl Monitor {
    /// A monitor from its parts.
    pub fn new(check: Box<dyn Check>, notifiers: Vec<Box<dyn Notifier>>) -> Self {
        Monitor { check, notifiers }
    }

    /// Runs one tick: check, decide, deliver, report.
    pub async fn tick(&self, tick: Tick) -> Report {
        let function = self.check.function();
        let results = self.check.run(&tick).await;
        let alerts = alerting::alerts_for(function, &results, &tick);
        let deliveries = if alerts.is_empty() {
            Vec::new()
        } else {
            let digest = Digest {
                function,
                time: tick.time,
                alerts: alerts.clone(),
            };
            notify::fan_out(&self.notifiers, &digest).await
        };
        Report {
            function,
            summary: Summary {
                checked: results.len(),
                failing: results.iter().filter(|r| r.is_failing()).count(),
                alerts: alerts.len(),
            },
            tick,
            results,
            alerts,
            deliveries,
        }
    }
}

/// A binary's whole `main`: settings, then the Lambda loop, or one local tick when
/// `AWS_LAMBDA_RUNTIME_API` is not set.
///
/// `build_check` reads the function's own settings; a bad setting stops the function here with its
/// message (reported to Lambda's `/runtime/init/error` when under Lambda), never a panic.
pub fn main(
    function: &'static str,
    build_check: impl FnOnce(&Env) -> Result<Box<dyn Check>, SetupError>,
) -> ExitCode {
    let runtime_api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|v| !v.is_empty());
    init_logging(runtime_api.is_some());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{function}: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let env = Env::from_process();
        let monitor = match build_check(&env) {
            Ok(check) => Monitor::new(check, notify::from_env(&env)),
            Err(error) => {
                match &runtime_api {
                    Some(api) => {
                        tracing::error!(%error, "configuration error");
                        report_init_error(api, &error).await;
                    }
                    None => eprintln!("{function}: configuration error: {error}"),
                }
                return ExitCode::FAILURE;
            }
        };
        match runtime_api {
            Some(_) => serve(monitor).await,
            None => run_once(monitor).await,
        }
    })
}

async fn serve(monitor: Monitor) -> ExitCode {
    let monitor = Arc::new(monitor);
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let monitor = Arc::clone(&monitor);
        async move {
            let tick = Tick::from_event(&event.payload, &event.context.request_id, Utc::now());
            Ok::<Report, lambda_runtime::Error>(monitor.tick(tick).await)
        }
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime loop stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run_once(monitor: Monitor) -> ExitCode {
    let now = Utc::now();
    let tick = Tick::from_event(&Tick::synthetic_event(now), "local", now);
    let report = monitor.tick(tick).await;
    match serde_json::to_string_pretty(&report) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("could not print the report: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Tells Lambda why start-up failed, so the console and logs show the message.
async fn report_init_error(api: &str, error: &SetupError) {
    let body = serde_json::json!({
        "errorMessage": error.to_string(),
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

/// JSON logs under Lambda; terse text on a terminal. `RUST_LOG` overrides the level.
fn init_logging(in_lambda: bool) {
    use tracing_subscriber::EnvFilter;
    let default_level = if in_lambda { "info" } else { "warn" };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if in_lambda {
        builder
            .json()
            .with_current_span(false)
            .with_ansi(false)
            .without_time()
            .init();
    } else {
        builder.compact().init();
    }
}
