//! supervisor: a host's supervisord programs, judged from the events lookout-agent pushed to the
//! ingest (`POST /event/<token>`), in the place of superlance's crashmail and fatalmailbatch.
//!
//! Each program is an incident (`supervisor:web-1-programs/api`). An unexpected exit, a failed
//! start (BACKOFF) or FATAL since the last tick opens it; a program whose last state is RUNNING and
//! that did not fail since the last tick closes it. A crash loop between two ticks is one entry
//! ("api exited 14 times since 10:02"), and one tick's entries are one digest per channel.
//!
//! Where the check got to is kept with each program's incident (the last event judged), so an
//! event the agent delivers late, after an ingest outage, is still judged once. A tick judges the
//! events up to its own time, so a retried tick judges alike.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::heartbeat::token_hash;
use super::{
    Check, CheckResult, CheckType, Failure, Health, Measurement, Memory, Naming, SharedLedger,
    Words, kind,
};
use crate::config::read;
use crate::config::{ConfigError, Env, SettingKey, SetupError, one};
use crate::events::ProcessEvent;
use crate::tick::Tick;

/// How far back a program seen for the first time is judged: older events are its history.
const FIRST_LOOK: Duration = Duration::hours(1);

/// `type: supervisor` in `lookout.yaml`, run by the heartbeat function.
pub const TYPE: CheckType = CheckType {
    name: "supervisor",
    function: super::heartbeat::FUNCTION,
    display: Words {
        zh: "进程守护",
        en: "programs",
    },
    kinds: &[
        kind("crashed", "程序崩溃", "crashed"),
        kind("fatal", "程序无法启动", "could not start"),
        kind("never_reported", "从未上报", "never reported"),
    ],
    keys: &[
        one("token", "SUPERVISOR_TOKEN").secret().hint(super::heartbeat::TOKEN_HINT).doc("the agent's token (as for a heartbeat; the host's heartbeat token is the one to use, so supervisord's `TICK_60` pings its heartbeat)"),
        one("host", "SUPERVISOR_HOST").hint("name the heartbeat monitor of the host: host: web-1").doc("the `heartbeat` monitor of the host: while it fails, the programs' failures tell nobody. It must be a heartbeat monitor of the file"),
        one("never_reported", "SUPERVISOR_NEVER_REPORTED").default("wait").hint("set it to wait or alert").doc("`alert`: a monitor whose agent has sent no event within an hour of the first tick that saw it fails (\"never reported\"); `wait` (the default): it waits"),
    ],
    variables: &[],
    host: Some("SUPERVISOR_HOST"),
    validate: |env| read::settings::<Supervisor>(env).map(|_| ()),
    build: build_monitors,
};

/// One supervisor monitor's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Supervisor {
    /// The SHA-256 of the token its agent sends events with.
    #[serde(rename = "token", deserialize_with = "token_hash")]
    pub token_hash: String,
    /// The heartbeat monitor of its host, when it names one.
    #[serde(default, deserialize_with = "word")]
    pub host: Option<String>,
    /// The zone of the times in messages (`ALERT_TIMEZONE`).
    #[serde(skip, default = "shanghai")]
    pub timezone: Tz,
    /// No event within [`NEVER_REPORTED_AFTER`] of the first tick that saw it fails.
    #[serde(deserialize_with = "super::heartbeat::never_reported")]
    pub never_reported: bool,
}

/// How long a supervisor monitor with `never_reported: alert` waits for its first event
/// (supervisord reports every program's start, so a running agent sends some at once).
pub const NEVER_REPORTED_AFTER: Duration = Duration::hours(1);

fn word<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    read::word(d).map(Some)
}

impl read::Settings for Supervisor {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];

    fn checked(self, env: &Env) -> Result<Self, ConfigError> {
        Ok(Supervisor {
            timezone: crate::config::timezone(env)?,
            ..self
        })
    }
}

/// Until [`read::Settings::checked`] reads `ALERT_TIMEZONE`.
fn shanghai() -> Tz {
    chrono_tz::Asia::Shanghai
}

/// The supervisor monitors of `lookout.yaml` (name and token hash): the ingest takes events for
/// their tokens. Without a file there are none (a supervisor monitor is described there).
pub fn monitors(declared: Option<Vec<(&str, &Env)>>) -> Result<Vec<(String, String)>, ConfigError> {
    let mut found: Vec<(String, String)> = Vec::new();
    for (name, env) in declared.into_iter().flatten() {
        let hash = read::settings::<Supervisor>(env)?.token_hash;
        if let Some((first, _)) = found.iter().find(|(_, h)| *h == hash) {
            return Err(ConfigError::invalid(
                "SUPERVISOR_TOKEN",
                "<redacted>",
                format!("monitors {first:?} and {:?} have the same token", name),
                "give each host's supervisor monitor its own token (its heartbeat's is fine)",
            ));
        }
        found.push((name.to_owned(), hash));
    }
    Ok(found)
}

/// What the check keeps with a program's incident between ticks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Kept {
    /// The last event judged: its time and id.
    seen: Option<(DateTime<Utc>, String)>,
    /// The state it was last in.
    state: String,
    /// Whether that state is down (an unexpected exit, BACKOFF, FATAL).
    down: bool,
    /// Since when it has been failing, while it is.
    since: Option<DateTime<Utc>>,
    /// Unexpected exits since then.
    exits: u32,
    /// Failed starts (BACKOFF) since then.
    failed_starts: u32,
}

/// What a program's events say at a tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramMeasurement {
    /// The host, as its agent names it.
    pub host: String,
    /// `group:process`, or the process when the group has its name (supervisord's own naming).
    pub program: String,
    /// Its last state (`RUNNING`, `EXITED`, `BACKOFF`, `FATAL`).
    pub state: String,
    /// Unexpected exits since it began failing.
    pub exits: u32,
    /// Failed starts since it began failing.
    pub failed_starts: u32,
    /// Since when it has been failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

/// The state of the monitor's own result (not a program's): the events were read.
const READ: &str = "read";
/// The state of the monitor's own result when the events could not be read.
const UNREAD: &str = "unknown";

/// The metric points of a program: its exits since it began failing (none for the monitor's own
/// result).
pub fn points(m: &ProgramMeasurement, function: &str) -> Vec<crate::metrics::Point> {
    if m.state == READ || m.state == UNREAD {
        return Vec::new();
    }
    vec![crate::metrics::Point {
        dimensions: vec![vec!["Function", "Host", "Program"]],
        fields: serde_json::json!({
            "Function": function,
            "Host": m.host,
            "Program": m.program,
            "Exits": m.exits,
            "State": m.state,
        }),
        metrics: vec![("Exits", "Count")],
    }]
}

/// supervisord's name of an event's program: `group:process`, or the process alone when the group
/// has its name or there is none.
fn program_of(event: &ProcessEvent) -> String {
    if event.group.is_empty() || event.group == event.process {
        event.process.clone()
    } else {
        format!("{}:{}", event.group, event.process)
    }
}

/// True for an event that is a failure: an unexpected exit, a failed start, or supervisord giving up.
fn is_failure(event: &ProcessEvent) -> bool {
    match event.state.as_str() {
        "EXITED" => event.expected != Some(true),
        "BACKOFF" | "FATAL" => true,
        _ => false,
    }
}

/// The verdict on one program at `now`: its events since `kept.seen` (oldest first, all its own),
/// and what is kept for the next tick. Pure.
fn judge(
    program: &str,
    events: &[&ProcessEvent],
    kept: Option<&Kept>,
    now: DateTime<Utc>,
    timezone: Tz,
) -> (Health, Option<Failure>, Kept) {
    let first_look = now - FIRST_LOOK;
    let new: Vec<&ProcessEvent> = events
        .iter()
        .copied()
        .filter(|e| match kept.and_then(|k| k.seen.as_ref()) {
            Some((at, id)) => (e.at, &e.id) > (*at, id),
            None => e.at > first_look,
        })
        .collect();
    let mut next = kept.cloned().unwrap_or_default();
    if let Some(last) = events.last() {
        next.seen = Some((last.at, last.id.clone()));
        next.state.clone_from(&last.state);
        next.down = is_failure(last);
    }
    let failures: Vec<&ProcessEvent> = new.iter().copied().filter(|e| is_failure(e)).collect();
    if failures.is_empty() && !next.down {
        next.since = None;
        next.exits = 0;
        next.failed_starts = 0;
        return (Health::Ok, None, next);
    }
    if let Some(first) = failures.first() {
        next.since.get_or_insert(first.at);
    }
    next.exits += failures.iter().filter(|e| e.state == "EXITED").count() as u32;
    next.failed_starts += failures.iter().filter(|e| e.state == "BACKOFF").count() as u32;
    let local = |at: DateTime<Utc>| at.with_timezone(&timezone).format("%H:%M").to_string();
    let since = next.since.unwrap_or(now);
    let exits = match next.exits {
        0 => None,
        1 => Some(format!("exited unexpectedly at {}", local(since))),
        n => Some(format!("exited {n} times since {}", local(since))),
    };
    let last_failure = failures.last().map_or(String::new(), |e| {
        let pid = e.pid.map(|p| format!(", pid {p}")).unwrap_or_default();
        format!(" (last at {}{pid})", local(e.at))
    });
    let dropped = new.iter().map(|e| e.dropped).max().unwrap_or(0);
    let dropped = if dropped > 0 {
        format!("; the agent's spool was full and dropped {dropped} older events")
    } else {
        String::new()
    };
    let (kind, message) = match next.state.as_str() {
        "FATAL" => (
            "fatal",
            format!(
                "{program} could not be started: supervisord gave up (FATAL){}{}",
                exits.map(|e| format!("; it {e}")).unwrap_or_default(),
                since_for(&next, &local)
            ),
        ),
        "BACKOFF" => (
            "crashed",
            format!(
                "{program} keeps failing to start ({} failed starts since {}){}",
                next.failed_starts.max(1),
                local(since),
                exits.map(|e| format!("; it {e}")).unwrap_or_default()
            ),
        ),
        "EXITED" => (
            "crashed",
            format!(
                "{program} {} and is not running{last_failure}",
                exits.unwrap_or_else(|| "exited unexpectedly".into())
            ),
        ),
        _ => (
            "crashed",
            format!(
                "{program} {}{last_failure}, running again",
                exits.unwrap_or_else(|| format!("failed to start since {}", local(since)))
            ),
        ),
    };
    let failure = Failure {
        kind,
        message: format!("{message}{dropped}"),
    };
    (Health::Failing, Some(failure), next)
}

/// " (failing since 10:02)" for a program that exited before it went FATAL, else nothing.
fn since_for(kept: &Kept, local: &dyn Fn(DateTime<Utc>) -> String) -> String {
    match (kept.since, kept.exits) {
        (Some(since), 0) => format!(" (failing since {})", local(since)),
        _ => String::new(),
    }
}

/// One supervisor monitor.
pub struct SupervisorCheck {
    naming: Naming,
    supervisor: Supervisor,
    /// The incident key of its host's heartbeat.
    host_key: Option<String>,
    store: SharedLedger,
}

fn build_monitors(
    monitors: Vec<(Env, Naming)>,
    store: &SharedLedger,
) -> Result<Vec<Box<dyn Check>>, SetupError> {
    let mut built: Vec<Box<dyn Check>> = Vec::with_capacity(monitors.len());
    for (env, naming) in monitors {
        let supervisor = read::settings::<Supervisor>(&env)?;
        let host_key = supervisor.host.as_ref().map(|host| {
            Naming::Monitor {
                kind: super::heartbeat::TYPE.name,
                name: host.clone(),
            }
            .whole(host)
        });
        built.push(Box::new(SupervisorCheck {
            naming,
            supervisor,
            host_key,
            store: std::sync::Arc::clone(store),
        }));
    }
    Ok(built)
}

impl SupervisorCheck {
    fn name(&self) -> &str {
        match &self.naming {
            Naming::Monitor { name, .. } => name,
            Naming::Function(function) => function,
        }
    }
}

#[async_trait]
impl Check for SupervisorCheck {
    fn function(&self) -> &'static str {
        super::heartbeat::FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    async fn run(&self, tick: &Tick, memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        let name = self.name().to_owned();
        let whole = self.naming.whole(&name);
        let events = match super::read_by(deadline, self.store.events(&self.supervisor.token_hash))
            .await
        {
            Ok(events) => events,
            Err(why) => {
                let message = format!("not checked: could not read the events of {name}: {why}");
                return vec![CheckResult::monitor_error(
                    whole,
                    name.clone(),
                    message,
                    Measurement::Program(ProgramMeasurement {
                        host: name,
                        program: String::new(),
                        state: UNREAD.into(),
                        exits: 0,
                        failed_starts: 0,
                        since: None,
                    }),
                )];
            }
        };
        // The tick judges what had happened by its time, so a late retry of it judges alike; a
        // later event is the next tick's.
        let events: Vec<ProcessEvent> = events.into_iter().filter(|e| e.at <= tick.time).collect();
        let mut programs: BTreeMap<String, Vec<&ProcessEvent>> = BTreeMap::new();
        for event in &events {
            programs.entry(program_of(event)).or_default().push(event);
        }
        // A program still down whose events the store has forgotten is still judged.
        for key in memory.keys() {
            if let Some(program) = self.naming.path_of(key)
                && let Some(kept) = kept_of(memory, key)
                && kept.down
            {
                programs.entry(program.to_owned()).or_default();
            }
        }
        let host = events.last().map_or(name.clone(), |e| e.host.clone());
        let mut results = Vec::with_capacity(programs.len() + 1);
        for (program, events) in &programs {
            let key = self.naming.part(program);
            let kept = kept_of(memory, &key);
            let (health, failure, next) = judge(
                program,
                events,
                kept.as_ref(),
                tick.time,
                self.supervisor.timezone,
            );
            results.push(CheckResult {
                key,
                target: self.naming.shown_part(program),
                health,
                failure,
                measurement: Measurement::Program(ProgramMeasurement {
                    host: host.clone(),
                    program: program.clone(),
                    state: next.state.clone(),
                    exits: next.exits,
                    failed_starts: next.failed_starts,
                    since: next.since,
                }),
                since: next.since,
                memory: serde_json::to_value(&next).ok(),
            });
        }
        let failing = results.iter().filter(|r| r.is_failing()).count();
        // Never heard from: remembered from the first tick that saw it, failing an hour later
        // when it says `never_reported: alert`.
        let (mut health, mut failure, mut remembered) = (Health::Ok, None, None);
        if events.is_empty() && programs.is_empty() {
            let (first_seen, kept) = super::heartbeat::first_seen(memory, &whole, tick.time);
            remembered = Some(kept);
            if self.supervisor.never_reported && tick.time > first_seen + NEVER_REPORTED_AFTER {
                health = Health::Failing;
                failure = Some(Failure {
                    kind: "never_reported",
                    message: format!(
                        "{name} has never reported since it was added at {} (is lookout-agent installed and listening to supervisord?)",
                        first_seen
                            .with_timezone(&self.supervisor.timezone)
                            .format("%m-%d %H:%M")
                    ),
                });
            }
        }
        results.insert(
            0,
            CheckResult {
                key: whole,
                target: name,
                health,
                failure,
                measurement: Measurement::Program(ProgramMeasurement {
                    host,
                    program: match programs.len() {
                        1 => format!("1 program, {failing} failing"),
                        n => format!("{n} programs, {failing} failing"),
                    },
                    state: READ.into(),
                    exits: 0,
                    failed_starts: 0,
                    since: None,
                }),
                memory: remembered,
                since: None,
            },
        );
        results
    }

    /// A program fails because its host does: the host's heartbeat first.
    fn depends_on(&self, key: &str) -> Option<String> {
        self.host_key.clone().filter(|host| host != key)
    }

    /// While the events could not be read, every program keeps its incident.
    fn retired(&self, key: &str, results: &[CheckResult]) -> bool {
        // Unread (perhaps suppressed, the host being silent): its failure says so.
        let whole = self.naming.whole(self.name());
        let unread = results
            .iter()
            .any(|r| r.key == whole && r.failure.as_ref().is_some_and(|f| f.kind == "monitor"));
        !unread && !results.iter().any(|r| r.key == key)
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        let lines: Vec<String> = results
            .iter()
            .filter_map(|r| match &r.measurement {
                Measurement::Program(m) if m.state == READ => {
                    Some(super::summary_line(r, &m.program))
                }
                Measurement::Program(m) => {
                    let mut figures = m.state.clone();
                    if m.exits > 0 {
                        figures.push_str(&format!(", {} exits", m.exits));
                    }
                    if let Some(since) = m.since {
                        figures.push_str(&format!(
                            " since {}",
                            since
                                .with_timezone(&self.supervisor.timezone)
                                .format("%H:%M")
                        ));
                    }
                    Some(super::summary_line(r, &figures))
                }
                _ => None,
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

fn kept_of(memory: &Memory, key: &str) -> Option<Kept> {
    serde_json::from_value(memory.get(key)?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    /// 10:mm:ss Shanghai time on 2026-12-01.
    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        SHANGHAI
            .with_ymd_and_hms(2026, 12, 1, 10, minute, second)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn event(
        serial: u64,
        state: &str,
        expected: Option<bool>,
        when: DateTime<Utc>,
    ) -> ProcessEvent {
        ProcessEvent {
            id: format!("web-1/boot/{serial}"),
            host: "web-1".into(),
            process: "api".into(),
            group: "api".into(),
            from_state: String::new(),
            state: state.into(),
            expected,
            pid: Some(4000 + serial as u32),
            serial,
            at: when,
            dropped: 0,
        }
    }

    #[test]
    fn a_crash_loop_between_two_ticks_is_one_entry_and_running_closes_it() {
        let mut events = Vec::new();
        for i in 0..14 {
            events.push(event(2 * i, "EXITED", Some(false), at(2 + i as u32, 0)));
            events.push(event(2 * i + 1, "RUNNING", None, at(2 + i as u32, 1)));
        }
        let all: Vec<&ProcessEvent> = events.iter().collect();
        let (health, failure, kept) = judge("api", &all, None, at(16, 0), SHANGHAI);
        assert_eq!(health, Health::Failing);
        let failure = failure.unwrap();
        assert_eq!(failure.kind, "crashed");
        assert_eq!(
            failure.message,
            "api exited 14 times since 10:02 (last at 10:15, pid 4026), running again"
        );
        assert_eq!((kept.exits, kept.state.as_str()), (14, "RUNNING"));
        // The next tick: nothing new, RUNNING: closed.
        let (health, failure, kept) = judge("api", &all, Some(&kept), at(17, 0), SHANGHAI);
        assert_eq!((health, failure), (Health::Ok, None));
        assert_eq!((kept.exits, kept.since), (0, None));
    }

    #[test]
    fn fatal_stays_open_until_running_and_an_expected_exit_is_not_a_crash() {
        let events = [
            event(1, "BACKOFF", None, at(2, 0)),
            event(2, "BACKOFF", None, at(2, 2)),
            event(3, "FATAL", None, at(2, 5)),
        ];
        let all: Vec<&ProcessEvent> = events.iter().collect();
        let (health, failure, kept) = judge("api", &all, None, at(3, 0), SHANGHAI);
        assert_eq!(health, Health::Failing);
        let failure = failure.unwrap();
        assert_eq!(failure.kind, "fatal");
        assert_eq!(
            failure.message,
            "api could not be started: supervisord gave up (FATAL) (failing since 10:02)"
        );
        // Later ticks with nothing new: still down.
        let (health, _, kept) = judge("api", &all, Some(&kept), at(30, 0), SHANGHAI);
        assert_eq!(health, Health::Failing);
        let mut later = events.to_vec();
        later.push(event(4, "RUNNING", None, at(31, 0)));
        let all: Vec<&ProcessEvent> = later.iter().collect();
        let (health, ..) = judge("api", &all, Some(&kept), at(32, 0), SHANGHAI);
        assert_eq!(health, Health::Ok);
        let calm = [event(9, "EXITED", Some(true), at(40, 0))];
        let all: Vec<&ProcessEvent> = calm.iter().collect();
        assert_eq!(judge("api", &all, None, at(41, 0), SHANGHAI).0, Health::Ok);
    }

    #[test]
    fn history_older_than_the_first_look_is_not_news_and_late_events_are_judged_once() {
        let old = [
            event(1, "EXITED", Some(false), at(2, 0)),
            event(2, "RUNNING", None, at(2, 1)),
        ];
        let all: Vec<&ProcessEvent> = old.iter().collect();
        let (health, _, kept) = judge("api", &all, None, at(2, 0) + Duration::hours(2), SHANGHAI);
        assert_eq!(
            health,
            Health::Ok,
            "a crash two hours before the first look"
        );
        // An event delivered late (older than the tick, newer than what was seen) is news once.
        let mut late = old.to_vec();
        late.push(event(3, "EXITED", Some(false), at(50, 0)));
        late.push(event(4, "RUNNING", None, at(50, 1)));
        let all: Vec<&ProcessEvent> = late.iter().collect();
        let now = at(2, 0) + Duration::hours(3);
        let (health, failure, kept) = judge("api", &all, Some(&kept), now, SHANGHAI);
        assert_eq!(health, Health::Failing);
        assert!(
            failure
                .unwrap()
                .message
                .contains("exited unexpectedly at 10:50")
        );
        let (health, ..) = judge(
            "api",
            &all,
            Some(&kept),
            now + Duration::minutes(1),
            SHANGHAI,
        );
        assert_eq!(health, Health::Ok);
    }

    #[test]
    fn programs_are_named_as_supervisord_names_them() {
        let mut e = event(1, "EXITED", Some(false), at(2, 0));
        assert_eq!(program_of(&e), "api");
        e.process = "api_01".into();
        assert_eq!(program_of(&e), "api:api_01");
        e.group = String::new();
        assert_eq!(program_of(&e), "api_01");
    }
}
