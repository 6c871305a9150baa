//! lookout-agent: runs on the user's servers and pushes to the `ingest` function (no inbound
//! port). `lookout-agent supervisor` is a supervisord event listener: program crashes, fatal starts
//! and recoveries are spooled on disk and delivered in order to `POST <ingest>/event/<token>`; each
//! `TICK_60` is the host's heartbeat (`/ping/<token>`).

pub mod host;
pub mod listener;
pub mod sender;
pub mod spool;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{SecondsFormat, Utc};
use serde_json::json;
use tokio::sync::Notify;

use crate::config::Secret;
use listener::{Header, Notification, ProcessState};
use sender::Ingest;
use spool::Spool;

/// The stack's `IngestUrl`.
pub const INGEST_VAR: &str = "LOOKOUT_INGEST_URL";
/// The host's token (a secret: only from the environment, never a flag that `ps` shows).
pub const TOKEN_VAR: &str = "LOOKOUT_AGENT_TOKEN";
/// Where events wait for the ingest.
pub const SPOOL_VAR: &str = "LOOKOUT_AGENT_SPOOL";
/// The default spool.
pub const DEFAULT_SPOOL: &str = "/var/lib/lookout-agent";

const USAGE: &str = "usage: lookout-agent supervisor [--ingest-url URL] [--spool DIR] [--host NAME] [--spool-capacity N]
         lookout-agent report [--ingest-url URL] [--host NAME] [--every 60s] [--disk /]... [--process NAME]... [--once]
  supervisor: run as a supervisord [eventlistener:lookout]; report: the host's CPU, memory, disks and
  processes as its heartbeat (docs/agent.md). The token comes from LOOKOUT_AGENT_TOKEN, the ingest from
  --ingest-url or LOOKOUT_INGEST_URL, the spool from --spool or LOOKOUT_AGENT_SPOOL";

/// The flags each command takes (each with a value), and its switches.
const SUPERVISOR_FLAGS: &[&str] = &["--ingest-url", "--spool", "--host", "--spool-capacity"];
const REPORT_FLAGS: &[&str] = &["--ingest-url", "--host", "--every", "--disk", "--process"];
const REPORT_SWITCHES: &[&str] = &["--once"];

/// The agent's settings.
pub struct Settings {
    /// The ingest.
    pub ingest: url::Url,
    /// The host's token.
    pub token: Secret,
    /// The spool folder.
    pub spool: PathBuf,
    /// The host's name, as events name it.
    pub host: String,
    /// Events the spool keeps at most.
    pub capacity: usize,
}

/// The value of flag `--name` (the last one given), else of variable `var`.
fn flag_or_var(args: &[String], name: &str, var: &str) -> Option<String> {
    all_of(args, name)
        .pop()
        .or_else(|| std::env::var(var).ok())
        .filter(|v| !v.trim().is_empty())
}

/// This machine's name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

impl Settings {
    /// From the flags after the command (each of `flags` takes a value; `switches` do not), and
    /// the environment.
    pub fn from_args(
        args: &[String],
        flags: &[&str],
        switches: &[&str],
    ) -> Result<Settings, String> {
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let name = arg.split('=').next().unwrap_or_default();
            if switches.contains(&arg.as_str()) {
                continue;
            }
            if !flags.contains(&name) {
                return Err(format!("unknown argument {arg:?}\n{USAGE}"));
            }
            if !arg.contains('=') && rest.next().is_none() {
                return Err(format!("{arg} needs a value\n{USAGE}"));
            }
        }
        let ingest = flag_or_var(args, "ingest-url", INGEST_VAR).ok_or_else(|| {
            format!(
                "{INGEST_VAR} is not set: set it (or --ingest-url) to the stack's IngestUrl output"
            )
        })?;
        let ingest = url::Url::parse(ingest.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                format!("the ingest URL {ingest:?} is not an http(s) URL: set it to the stack's IngestUrl output")
            })?;
        let token = std::env::var(TOKEN_VAR)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                format!("{TOKEN_VAR} is not set: set it to the host's token (a key of the stack's secret)")
            })?;
        if !crate::pings::is_token(&token) {
            return Err(format!(
                "{TOKEN_VAR} is not a token: 16 to 128 letters, digits, - . _ or ~"
            ));
        }
        crate::redact::register(&token);
        let capacity =
            match flag_or_var(args, "spool-capacity", "LOOKOUT_AGENT_SPOOL_CAPACITY") {
                None => spool::DEFAULT_CAPACITY,
                Some(n) => n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("--spool-capacity {n:?} is not a whole number above 0")
                })?,
            };
        Ok(Settings {
            ingest,
            token: Secret::new(token),
            spool: PathBuf::from(
                flag_or_var(args, "spool", SPOOL_VAR).unwrap_or_else(|| DEFAULT_SPOOL.to_owned()),
            ),
            host: flag_or_var(args, "host", "LOOKOUT_AGENT_HOST").unwrap_or_else(hostname),
            capacity,
        })
    }
}

/// Which supervisord this listener serves: the boot, and its parent's pid and start time. A
/// restarted supervisord numbers its events from 1 again; this tells its events apart.
fn supervisord_instance() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_owned())
        .unwrap_or_default();
    let parent = std::os::unix::process::parent_id();
    // Field 22 of /proc/<pid>/stat, counted after the command's closing parenthesis.
    let started = std::fs::read_to_string(format!("/proc/{parent}/stat"))
        .ok()
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().nth(19).map(str::to_owned)
        })
        .unwrap_or_default();
    format!("{boot}/{parent}/{started}")
}

/// True for the states lookout is told of: a crash (an exit that was not expected), a program that
/// could not start (FATAL), one that keeps failing to start (BACKOFF), and RUNNING (the recovery).
pub fn forwarded(state: &ProcessState) -> bool {
    match state.state.as_str() {
        "EXITED" => state.expected == Some(false),
        "FATAL" | "BACKOFF" | "RUNNING" => true,
        _ => false,
    }
}

/// An event as the ingest receives it. `id` is its idempotency key: the host, the supervisord
/// instance and the event's serial.
pub fn event_json(
    host: &str,
    instance: &str,
    header: &Header,
    state: &ProcessState,
    dropped: u64,
) -> serde_json::Value {
    json!({
        "id": format!("{host}/{instance}/{}", header.serial),
        "host": host,
        "process": state.process,
        "group": state.group,
        "from_state": state.from_state,
        "state": state.state,
        "expected": state.expected,
        "pid": state.pid,
        "serial": header.serial,
        "at": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "dropped": dropped,
    })
}

/// `lookout-agent supervisor`: the listener on stdin/stdout, the sender on a thread of its own.
fn supervisor(args: &[String]) -> ExitCode {
    let settings = match Settings::from_args(args, SUPERVISOR_FLAGS, &[]) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("lookout-agent: {error}");
            return ExitCode::from(2);
        }
    };
    let spool = match Spool::open(&settings.spool, settings.capacity) {
        Ok(spool) => Arc::new(spool),
        Err(error) => {
            eprintln!(
                "lookout-agent: the spool {} could not be opened ({error}): create it, writable by the listener's user, or set {SPOOL_VAR}",
                settings.spool.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let ingest = match Ingest::new(&settings.ingest, settings.token.clone()) {
        Ok(ingest) => ingest,
        Err(error) => {
            eprintln!("lookout-agent: {error}");
            return ExitCode::FAILURE;
        }
    };
    let wake = Arc::new(Notify::new());
    let tick = Arc::new(AtomicBool::new(false));
    {
        let (spool, wake, tick) = (Arc::clone(&spool), Arc::clone(&wake), Arc::clone(&tick));
        let started = std::thread::Builder::new()
            .name("sender".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(sender::run(ingest, spool, wake, tick)),
                    Err(error) => tracing::error!(%error, "the sender could not start"),
                }
            });
        if let Err(error) = started {
            eprintln!("lookout-agent: the sender could not start: {error}");
            return ExitCode::FAILURE;
        }
    }
    let instance = supervisord_instance();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let listened = listener::listen(
        &mut stdin.lock(),
        &mut stdout.lock(),
        |header, notification| {
            match notification {
                Notification::Process(state) if forwarded(&state) => {
                    let event =
                        event_json(&settings.host, &instance, header, &state, spool.dropped());
                    spool.push(&event.to_string())?;
                    tracing::info!(process = %state.process, state = %state.state, serial = header.serial, "event kept");
                }
                Notification::Tick => tick.store(true, Ordering::SeqCst),
                _ => return Ok(()),
            }
            wake.notify_one();
            Ok(())
        },
    );
    match listened {
        // supervisord closed the pipe: what is spooled goes out on the next start.
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lookout-agent: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Every value of a flag that may be repeated (`--disk / --disk /data`).
fn all_of(args: &[String], name: &str) -> Vec<String> {
    let flag = format!("--{name}");
    let mut values = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if *arg == flag {
            values.extend(rest.next().cloned());
        } else if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
            values.push(value.to_owned());
        }
    }
    values
}

/// `lookout-agent report`: the host's resources as the body of its heartbeat, every `--every`
/// (or once). A report that does not reach the ingest is not kept: a late one would say the host
/// was alive when it was not.
fn report(args: &[String]) -> ExitCode {
    let settings = match Settings::from_args(args, REPORT_FLAGS, REPORT_SWITCHES) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("lookout-agent: {error}");
            return ExitCode::from(2);
        }
    };
    let every = match all_of(args, "every").last() {
        None => std::time::Duration::from_secs(60),
        Some(text) => match crate::config::parse_duration(text) {
            Ok(every) if every >= std::time::Duration::from_secs(10) => every,
            _ => {
                eprintln!(
                    "lookout-agent: --every {text:?} is not a duration of 10s or more, like 60s or 5m"
                );
                return ExitCode::from(2);
            }
        },
    };
    let once = args.iter().any(|a| a == "--once");
    let disks = all_of(args, "disk");
    let disks = if disks.is_empty() {
        vec!["/".to_owned()]
    } else {
        disks
    };
    let processes = all_of(args, "process");
    let ingest = match Ingest::new(&settings.ingest, settings.token.clone()) {
        Ok(ingest) => ingest,
        Err(error) => {
            eprintln!("lookout-agent: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lookout-agent: could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        loop {
            let started = tokio::time::Instant::now();
            let within = sender::RIDE_OUT.min(every);
            // A run from cron (`--once`) is one run of a job: started, then ended by the report,
            // under one run id, so a report that hangs is a run too long, and its duration kept.
            let rid = once.then(|| run_id(&settings.host));
            if let Some(rid) = &rid {
                let tail = format!("/start?rid={rid}");
                if !matches!(
                    ingest
                        .post_riding_out_at("ping", &tail, String::new(), false, within)
                        .await,
                    sender::Posted::Kept
                ) {
                    tracing::warn!("the run's start did not reach the ingest");
                }
            }
            let tail = rid.map(|rid| format!("?rid={rid}")).unwrap_or_default();
            let sent = match host::read(&settings.host, &disks, &processes).await {
                Ok(resources) => {
                    let body = serde_json::to_string(&resources).unwrap_or_default();
                    // A busy ingest is tried again for a minute (at most until the next report).
                    match ingest
                        .post_riding_out_at("ping", &tail, body, true, within)
                        .await
                    {
                        sender::Posted::Kept => true,
                        sender::Posted::Later(why)
                        | sender::Posted::Refused(why)
                        | sender::Posted::Busy(why) => {
                            tracing::warn!(reason = %why, "the report did not reach the ingest");
                            false
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "the host's figures could not be read");
                    false
                }
            };
            if once {
                return if sent {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                };
            }
            tokio::time::sleep_until(started + every).await;
        }
    })
}

/// A run id for one run of `report --once`: a UUID's form, unique to the host, the process and the
/// moment (the ingest takes any; healthchecks' form is what it checks).
fn run_id(host: &str) -> String {
    use sha2::Digest as _;
    let seed = format!(
        "{host}/{}/{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    );
    let h = hex::encode(sha2::Sha256::digest(seed.as_bytes()));
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The agent's `main`.
pub fn main() -> ExitCode {
    // Logs go to standard error: standard output is supervisord's.
    {
        use tracing_subscriber::prelude::*;
        let filter = crate::function::log_filter(
            std::env::var("RUST_LOG").ok().as_deref(),
            tracing_subscriber::filter::LevelFilter::INFO,
        );
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(crate::redact::ScrubbedStderr)
            .with_ansi(false)
            .compact();
        tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("supervisor") => supervisor(&args[1..]),
        Some("report") => report(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_a_uuid_the_ingest_takes() {
        let rid = run_id("web-1");
        assert_eq!(crate::pings::run_id(&rid), Some(rid.clone()), "{rid}");
        assert_ne!(rid, run_id("web-2"));
    }
}
