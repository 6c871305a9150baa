//! Heartbeat pings: what a host or a job reports to the `ingest` function, and the one record per
//! monitor the store keeps of them.
//!
//! The record is keyed by the SHA-256 of the monitor's token (the token itself is never stored).
//! Each ping is one conditional write: it is kept when it is newer than the record's last ping, and
//! not a repeat of the same signal within the monitor's minimum interval (a script in a loop).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The most of a ping's body kept with it (its end: the last lines say what went wrong).
pub const MAX_OUTPUT_BYTES: usize = 10 * 1024;
/// The shortest token a monitor may have.
pub const MIN_TOKEN_CHARS: usize = 16;
/// The longest token a monitor may have.
pub const MAX_TOKEN_CHARS: usize = 128;
/// Runs a record keeps open at once (the oldest is dropped past it: a job that never ends its runs).
pub const MAX_OPEN_RUNS: usize = 10;
/// Durations a record keeps, for the usual one (their median).
pub const MAX_DURATIONS: usize = 20;

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `/ping/<token>` or exit status 0: the job ran, or the host is alive.
    Success,
    /// `/ping/<token>/start`: a run began.
    Start,
    /// `/ping/<token>/fail` or a non-zero exit status: the job failed.
    Fail,
    /// `/ping/<token>/log`: a message only.
    Log,
    /// A ping the monitor does not count (a GET under `methods: post`, a body no keyword
    /// matches): answered, noted, never a signal.
    Ignored,
}

impl Signal {
    /// Its name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Success => "success",
            Signal::Start => "start",
            Signal::Fail => "fail",
            Signal::Log => "log",
            Signal::Ignored => "ignored",
        }
    }

    /// The signal of a stored name.
    pub fn parse(text: &str) -> Option<Signal> {
        [
            Signal::Success,
            Signal::Start,
            Signal::Fail,
            Signal::Log,
            Signal::Ignored,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// True for the signals that end a run (success or failure).
    pub fn ends_a_run(self) -> bool {
        matches!(self, Signal::Success | Signal::Fail)
    }
}

/// One ping, as the ingest function received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ping {
    /// What it says.
    pub signal: Signal,
    /// The exit status it reported (`/ping/<token>/<0-255>`).
    pub exit_status: Option<u8>,
    /// When it was received (the request's own time, so a replay is exact).
    pub at: DateTime<Utc>,
    /// Its body's end (at most [`MAX_OUTPUT_BYTES`]), when it had one and it was not a report.
    pub output: Option<String>,
    /// The host's resources, when its body was lookout-agent's report.
    pub resources: Option<Resources>,
    /// The run it belongs to (`?rid=<uuid>`, lower case), when it said.
    pub rid: Option<String>,
    /// The response time it reported, in milliseconds (Uptime Kuma's `ping`).
    pub ms: Option<u64>,
}

/// A run id as healthchecks takes it: a UUID in its 8-4-4-4-12 hex form, any case; `None` for
/// anything else. Kept in lower case.
pub fn run_id(text: &str) -> Option<String> {
    let groups: Vec<&str> = text.split('-').collect();
    let shaped = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    shaped.then(|| text.to_ascii_lowercase())
}

/// A run in progress: its id, when its start gave one, and when it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Its run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// A host's resources as `lookout-agent report` sends them in a ping's body (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// The host's name.
    pub host: String,
    /// CPU busy, percent of all cores.
    pub cpu: f64,
    /// Memory in use (not available to new work), percent.
    pub memory: f64,
    /// Used percent per path asked for.
    pub disks: std::collections::BTreeMap<String, f64>,
    /// Whether each process asked for runs.
    pub processes: std::collections::BTreeMap<String, bool>,
}

/// The most disks a report may give.
pub const MAX_REPORT_DISKS: usize = 32;
/// The most processes a report may give.
pub const MAX_REPORT_PROCESSES: usize = 64;
/// The fields of a report: a JSON object holding them all is one, and is read strictly.
const REPORT_FIELDS: [&str; 5] = ["host", "cpu", "memory", "disks", "processes"];

impl Resources {
    /// The report a ping's body is, if it is one: `None` for a job's output (anything but a JSON
    /// object with the report's fields); `Some(Err(why))` for a report that is not one lookout
    /// takes (an unknown field, a percentage outside 0-100, a disk that is not an absolute path, a
    /// process name `processes` would refuse, too many of either). `why` never quotes the body.
    pub fn of_body(body: &[u8]) -> Option<Result<Resources, String>> {
        if !body.trim_ascii_start().starts_with(b"{") {
            return None;
        }
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(body).ok()?;
        if !REPORT_FIELDS.iter().all(|f| object.contains_key(*f)) {
            return None;
        }
        if body.len() > MAX_OUTPUT_BYTES {
            return Some(Err(format!("a report is at most {MAX_OUTPUT_BYTES} bytes")));
        }
        let report: Resources = match serde_json::from_value(serde_json::Value::Object(object)) {
            Ok(report) => report,
            Err(_) => {
                return Some(Err(
                    "a report is {host, cpu, memory, disks: {path: percent}, processes: {name: true|false}} and nothing else".into(),
                ));
            }
        };
        Some(report.checked())
    }

    /// The report, if every name and figure in it is one the configuration would take.
    fn checked(self) -> Result<Resources, String> {
        let percent = |v: f64| v.is_finite() && (0.0..=100.0).contains(&v);
        if !is_host_name(&self.host) {
            return Err("`host` is not a host name (1 to 253 letters, digits, . _ or -)".into());
        }
        if !percent(self.cpu) || !percent(self.memory) {
            return Err("`cpu` and `memory` are percentages, 0 to 100".into());
        }
        if self.disks.len() > MAX_REPORT_DISKS {
            return Err(format!("a report gives at most {MAX_REPORT_DISKS} disks"));
        }
        if !self.disks.keys().all(|d| is_disk_path(d)) {
            return Err("a disk is named by its absolute path of letters, digits, / . _ or - (at most 255 bytes)".into());
        }
        if !self.disks.values().all(|v| percent(*v)) {
            return Err("a disk's figure is a percentage, 0 to 100".into());
        }
        if self.processes.len() > MAX_REPORT_PROCESSES {
            return Err(format!(
                "a report gives at most {MAX_REPORT_PROCESSES} processes"
            ));
        }
        if !self.processes.keys().all(|p| is_process_name(p)) {
            return Err("a process is named as ps -e shows it: 1 to 15 letters, digits, . _ or -, not starting with -".into());
        }
        Ok(self)
    }
}

/// True for a host's name as a report gives it.
pub fn is_host_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// True for a disk as a monitor or a report names it: its absolute path, of letters, digits and
/// `/ . _ -` (no shell metacharacter, no space, no markup), without `..`, at most 255 bytes.
pub fn is_disk_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 255
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
        && !path.split('/').any(|part| part == "..")
}

/// True for a process name `pgrep -x` can find: the kernel keeps 15 characters of a name, so a
/// longer one never matches; one starting with `-` would be read as an option (`-n` makes pgrep
/// find the newest process of any name).
pub fn is_process_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// What the store keeps of a monitor's pings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingRecord {
    /// The monitor's name (for a person reading the table).
    pub monitor: String,
    /// The last ping kept, whatever it said.
    pub last_at: DateTime<Utc>,
    /// What it said.
    pub last_signal: Signal,
    /// The last success or failure.
    pub ended_at: Option<DateTime<Utc>>,
    /// Whether that was a success.
    pub ended_ok: bool,
    /// Its exit status, when it reported one.
    pub exit_status: Option<u8>,
    /// The last `/start`.
    pub started_at: Option<DateTime<Utc>>,
    /// The last output: an ending's body, or a later start's or log's.
    pub output: Option<String>,
    /// The last resource report (lookout-agent's), kept until the next one.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// When it came.
    #[serde(default)]
    pub resources_at: Option<DateTime<Utc>>,
    /// Runs started and not ended, oldest first (at most [`MAX_OPEN_RUNS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<Run>,
    /// How long the last ending's run took, in seconds, when it ended one it knew the start of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration: Option<i64>,
    /// The last runs' durations, in seconds, oldest first (at most [`MAX_DURATIONS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub durations: Vec<i64>,
    /// The run id of the last ping kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rid: Option<String>,
    /// The response time the last ping reported (Uptime Kuma's `ping`), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ms: Option<u64>,
    /// Pings answered and not counted (see [`Signal::Ignored`]), and the last one's time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ignored: u64,
    /// When the last ignored ping came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored_at: Option<DateTime<Utc>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PingRecord {
    /// True when `ping` is worth keeping over this record: newer than its last ping, and not the
    /// same signal again within `min_interval` (a resource report always is: its figures are new).
    /// An ignored ping is noted at most once per `min_interval`; a ping of another run (its run id
    /// differs) is never a repeat.
    pub fn takes(&self, ping: &Ping, min_interval: chrono::Duration) -> bool {
        if ping.signal == Signal::Ignored {
            return self
                .ignored_at
                .is_none_or(|at| ping.at - at >= min_interval);
        }
        let another_run = ping.rid.is_some() && ping.rid != self.last_rid;
        let newer = ping.at > self.last_at || (another_run && ping.at == self.last_at);
        newer
            && (ping.signal != self.last_signal
                || ping.at - self.last_at >= min_interval
                || ping.resources.is_some()
                || another_run)
    }

    /// The runs still open: [`PingRecord::runs`], or for a record kept before runs were, its last
    /// start when no ending came after it.
    pub fn open_runs(&self) -> Vec<Run> {
        if !self.runs.is_empty() {
            return self.runs.clone();
        }
        self.started_at
            .filter(|started| self.ended_at.is_none_or(|ended| *started > ended))
            .map(|started_at| {
                vec![Run {
                    rid: None,
                    started_at,
                }]
            })
            .unwrap_or_default()
    }

    /// The usual duration of a run, in seconds: the median of the last ones, when there are any.
    pub fn usual_duration(&self) -> Option<i64> {
        median(self.durations.clone())
    }

    /// The usual duration of the runs before the last one (what the last one is compared with).
    pub fn usual_before_last(&self) -> Option<i64> {
        let before = self.durations.len().saturating_sub(1);
        median(self.durations[..before].to_vec())
    }
}

/// Drops the oldest (first) of `items` past the last `most`.
fn keep_last<T>(items: &mut Vec<T>, most: usize) {
    let excess = items.len().saturating_sub(most);
    items.drain(..excess);
}

/// The median of `values` (the upper one of an even count), when there are any.
fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    (!values.is_empty()).then(|| values[values.len() / 2])
}

impl PingRecord {
    /// The record after `ping` (`previous` is the record before it, if any).
    pub fn after(previous: Option<&PingRecord>, monitor: &str, ping: &Ping) -> PingRecord {
        let mut record = previous.cloned().unwrap_or(PingRecord {
            monitor: monitor.to_owned(),
            last_at: ping.at,
            last_signal: ping.signal,
            ended_at: None,
            ended_ok: false,
            exit_status: None,
            started_at: None,
            output: None,
            resources: None,
            resources_at: None,
            runs: Vec::new(),
            last_duration: None,
            durations: Vec::new(),
            last_rid: None,
            last_ms: None,
            ignored: 0,
            ignored_at: None,
        });
        record.monitor = monitor.to_owned();
        if ping.signal == Signal::Ignored {
            record.ignored += 1;
            record.ignored_at = Some(ping.at);
            return record;
        }
        record.runs = record.open_runs();
        if ping.resources.is_some() {
            record.resources.clone_from(&ping.resources);
            record.resources_at = Some(ping.at);
        }
        record.last_at = ping.at;
        record.last_signal = ping.signal;
        record.last_rid.clone_from(&ping.rid);
        if ping.ms.is_some() {
            record.last_ms = ping.ms;
        }
        match ping.signal {
            Signal::Success | Signal::Fail => {
                record.ended_at = Some(ping.at);
                record.ended_ok = ping.signal == Signal::Success;
                record.exit_status = ping.exit_status;
                record.output.clone_from(&ping.output);
                record.last_duration = record.end_run(ping);
                if let Some(seconds) = record.last_duration {
                    record.durations.push(seconds);
                    keep_last(&mut record.durations, MAX_DURATIONS);
                }
            }
            Signal::Start => {
                record.started_at = Some(ping.at);
                // A start without a run id replaces the last one without (a run that never
                // ended: the job crashed); one with a run id is a run of its own.
                record.runs.retain(|run| run.rid != ping.rid);
                record.runs.push(Run {
                    rid: ping.rid.clone(),
                    started_at: ping.at,
                });
                keep_last(&mut record.runs, MAX_OPEN_RUNS);
                if ping.output.is_some() {
                    record.output.clone_from(&ping.output);
                }
            }
            Signal::Log => {
                if ping.output.is_some() {
                    record.output.clone_from(&ping.output);
                }
            }
            Signal::Ignored => {}
        }
        record
    }

    /// Ends the run `ending` belongs to; its duration in seconds when its start is known. With a
    /// run id, the run of that id (none: no other run ends, as healthchecks does); without, the
    /// last run without one, else the last run (whose duration is not known: its start said a run
    /// id the end did not).
    fn end_run(&mut self, ending: &Ping) -> Option<i64> {
        let at = match &ending.rid {
            Some(rid) => self
                .runs
                .iter()
                .position(|run| run.rid.as_ref() == Some(rid))?,
            None => match self.runs.iter().rposition(|run| run.rid.is_none()) {
                Some(at) => at,
                None => {
                    self.runs.pop();
                    return None;
                }
            },
        };
        let run = self.runs.remove(at);
        Some((ending.at - run.started_at).num_seconds().max(0))
    }
}

/// The hex SHA-256 of a token: how the store and the ingest function know a monitor.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// True for a token: [`MIN_TOKEN_CHARS`] to [`MAX_TOKEN_CHARS`] letters, digits and `-._~` (a
/// URL's path carries them as they are), without `..` (which a path must not hold). The one rule
/// for a monitor's token in the configuration, the agent's, and the ingest's paths.
pub fn is_token(token: &str) -> bool {
    (MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&token.len())
        && token.chars().all(is_token_char)
        && !token.contains("..")
}

/// A character a token may hold.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// A body as kept: its last [`MAX_OUTPUT_BYTES`] (cut at a character), decoded leniently; `None`
/// when it is empty or blank.
pub fn output_of(body: &[u8]) -> Option<String> {
    let start = body.len().saturating_sub(MAX_OUTPUT_BYTES);
    let text = String::from_utf8_lossy(&body[start..]);
    // A cut may leave half a character at the start: drop the replacement it became.
    let text = if start > 0 {
        text.trim_start_matches('\u{FFFD}')
    } else {
        &text
    };
    let text = text.trim_end();
    (!text.trim().is_empty()).then(|| {
        if start > 0 {
            format!("…{text}")
        } else {
            text.to_owned()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ping(signal: Signal, second: i64) -> Ping {
        Ping {
            signal,
            exit_status: None,
            at: Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap()
                + chrono::Duration::seconds(second),
            output: None,
            resources: None,
            rid: None,
            ms: None,
        }
    }

    #[test]
    fn a_record_keeps_newer_pings_and_drops_repeats_within_the_interval() {
        let interval = chrono::Duration::seconds(10);
        let record = PingRecord::after(None, "job", &ping(Signal::Start, 0));
        assert!(!record.takes(&ping(Signal::Start, 5), interval), "a repeat");
        assert!(record.takes(&ping(Signal::Start, 10), interval));
        assert!(
            record.takes(&ping(Signal::Success, 1), interval),
            "a quick run's end"
        );
        assert!(
            !record.takes(&ping(Signal::Success, 0), interval),
            "not newer"
        );
        assert!(!record.takes(&ping(Signal::Fail, -5), interval), "older");
        let ended = PingRecord::after(Some(&record), "job", &ping(Signal::Fail, 3));
        assert_eq!(ended.started_at, record.started_at);
        assert_eq!(
            (ended.ended_at, ended.ended_ok),
            (Some(ping(Signal::Fail, 3).at), false)
        );
        let logged = PingRecord::after(Some(&ended), "job", &ping(Signal::Log, 4));
        assert_eq!((logged.ended_at, logged.ended_ok), (ended.ended_at, false));
        assert_eq!(logged.last_signal, Signal::Log);
    }

    #[test]
    fn a_resource_report_is_kept_apart_from_output_and_always_taken() {
        let body = br#"{"host":"web-1","cpu":12.5,"memory":40,"disks":{"/":96.2},"processes":{"nginx":true}}"#;
        let report = Resources::of_body(body).expect("a report").expect("valid");
        assert_eq!((report.cpu, report.disks["/"]), (12.5, 96.2));
        for output in [
            &b"backup done"[..],
            br#"{"host":"web-1","cpu":1}"#,
            br#"{"status":"ok"}"#,
        ] {
            assert_eq!(Resources::of_body(output), None);
        }
        let hostile_disk = format!(
            r#"{{"host":"web-1","cpu":1,"memory":40,"disks":{{{}}},"processes":{{}}}}"#,
            (0..33)
                .map(|n| format!("\"/d{n}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        for (refused, says) in [
            (&br#"{"host":"web-1","cpu":120,"memory":40,"disks":{},"processes":{}}"#[..], "percentages"),
            (br#"{"host":"web-1","cpu":1,"memory":40,"disks":{},"processes":{},"x":1}"#, "nothing else"),
            (br#"{"host":"web-1","cpu":1,"memory":40,"disks":{"/\n\n**ALL CLEAR** <@all> [x](http://evil)":3},"processes":{}}"#, "absolute path"),
            (br#"{"host":"web-1","cpu":1,"memory":40,"disks":{"relative":3},"processes":{}}"#, "absolute path"),
            (br#"{"host":"web-1","cpu":1,"memory":40,"disks":{"/":3},"processes":{"-n":true}}"#, "process"),
            (br#"{"host":"<@all>","cpu":1,"memory":40,"disks":{},"processes":{}}"#, "`host`"),
            (hostile_disk.as_bytes(), "at most 32 disks"),
        ] {
            let why = Resources::of_body(refused).expect("a report").expect_err("refused");
            assert!(why.contains(says), "{why}");
            assert!(!why.contains("ALL CLEAR") && !why.contains("<@all>"), "{why}");
        }
        let tick = PingRecord::after(None, "web-1", &ping(Signal::Success, 0));
        let mut report_ping = ping(Signal::Success, 3);
        report_ping.resources = Some(report.clone());
        let interval = chrono::Duration::seconds(10);
        assert!(
            tick.takes(&report_ping, interval),
            "a report within the interval"
        );
        let reported = PingRecord::after(Some(&tick), "web-1", &report_ping);
        let next_tick = PingRecord::after(Some(&reported), "web-1", &ping(Signal::Success, 60));
        assert_eq!(next_tick.resources, Some(report));
        assert_eq!(next_tick.resources_at, Some(report_ping.at));
    }

    #[test]
    fn run_ids_are_uuids_in_any_case_kept_in_lower_case() {
        assert_eq!(
            run_id("04603D8B-EDF4-4E85-8F61-24BEDBCAAB59").as_deref(),
            Some("04603d8b-edf4-4e85-8f61-24bedbcaab59")
        );
        for bad in [
            "12345",
            "684e2e73-017e-465f-8149-d70b7c5aaa490",
            "684e2e73017e465f8149d70b7c5aaa49",
            "{684e2e73-017e-465f-8149-d70b7c5aaa49}",
            "684e2e73-017e-465f-8149-d70b7c5aaa4g",
            "",
        ] {
            assert_eq!(run_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_start_without_a_run_id_replaces_the_last_one_and_the_usual_run_is_the_median() {
        let mut record = PingRecord::after(None, "job", &ping(Signal::Start, 0));
        record = PingRecord::after(Some(&record), "job", &ping(Signal::Start, 60));
        assert_eq!(record.open_runs().len(), 1, "the crashed run is replaced");
        for (start, end) in [(100, 130), (200, 290), (300, 310)] {
            record = PingRecord::after(Some(&record), "job", &ping(Signal::Start, start));
            record = PingRecord::after(Some(&record), "job", &ping(Signal::Success, end));
        }
        assert_eq!(record.durations, [30, 90, 10]);
        assert_eq!(record.usual_duration(), Some(30));
        assert_eq!(record.usual_before_last(), Some(90), "30 and 90: the upper");
        // A record kept before runs were: its last start, unended, is its open run.
        let old = PingRecord {
            runs: Vec::new(),
            ..PingRecord::after(None, "job", &ping(Signal::Start, 0))
        };
        assert_eq!(old.open_runs().len(), 1);
    }

    #[test]
    fn output_keeps_the_end_of_a_long_body() {
        assert_eq!(output_of(b""), None);
        assert_eq!(output_of(b"  \n"), None);
        assert_eq!(output_of(b"done\n").as_deref(), Some("done"));
        let mut body = "界".repeat(5000).into_bytes();
        body.extend_from_slice(b"\nERROR: disk full\n");
        let kept = output_of(&body).unwrap();
        assert!(kept.len() <= MAX_OUTPUT_BYTES + "…".len());
        assert!(kept.starts_with("…界") && kept.ends_with("ERROR: disk full"));
    }

    #[test]
    fn tokens_are_url_safe_and_long_enough() {
        assert!(is_token("0123456789abcdef"));
        assert!(is_token("web-1.token_~AZaz09xx"));
        assert!(!is_token("short"));
        assert!(!is_token("0123456789abcdef/"));
        assert!(!is_token("0123456789abcdé"));
        assert!(!is_token(&"a".repeat(129)));
        // The ingest refuses a path holding `..`: no token may hold it.
        assert!(!is_token("abcdefgh..ijklmnop"));
        assert!(is_token("abcdefgh.ijklmnop"));
        assert_eq!(token_hash("abc").len(), 64);
    }
}
