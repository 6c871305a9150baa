//! A host's resource limits (`cpu_max`, `memory_max`, `disk_max`, `processes`) and the verdict on
//! one report of its figures: each exceeded limit and each missing process is its own incident
//! (`heartbeat:web-1/disk:/`, `heartbeat:web-1/process:nginx`), with the value and the limit.
//!
//! The figures come from lookout-agent's report (with a heartbeat's ping); the limits and the
//! words are the same for every check that reads a host's figures.

use serde::Serialize;

use super::{CheckResult, Failure, FailureKind, Health, Measurement, Naming, kind};
use serde::Deserialize;

use crate::config::read::{self, Parse, Problem};
use crate::pings::Resources;

/// A figure over its limit.
pub const OVER_LIMIT: FailureKind = kind("over_limit", "资源超限", "over its limit");
/// A process that should run and does not.
pub const PROCESS_MISSING: FailureKind =
    kind("process_missing", "进程未运行", "process not running");
/// The kinds of every check that judges a host's figures.
pub const KINDS: &[FailureKind] = &[OVER_LIMIT, PROCESS_MISSING];

/// One host's limits. Nothing set: nothing judged. A group of keys (`cpu_max`, `memory_max`,
/// `disk_max`, `disks`, `processes`) in the settings of each type that judges a host's figures
/// (`#[serde(rename = "@limits")]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Limits {
    /// Highest CPU busy %.
    #[serde(rename = "cpu_max", default, deserialize_with = "percent")]
    pub cpu: Option<f64>,
    /// Highest memory used %.
    #[serde(rename = "memory_max", default, deserialize_with = "percent")]
    pub memory: Option<f64>,
    /// Highest disk used %, for each of [`Limits::disks`].
    #[serde(rename = "disk_max", default, deserialize_with = "percent")]
    pub disk: Option<f64>,
    /// The disks judged, by mount point (`/` when none is named): only these, whatever a report
    /// lists.
    #[serde(default = "root", deserialize_with = "disks")]
    pub disks: Vec<String>,
    /// Processes that must run, by exact name.
    #[serde(default, deserialize_with = "processes")]
    pub processes: Vec<String>,
}

pub use crate::pings::{is_disk_path, is_process_name};

/// A percentage above 0 and at most 100 (`85`, `85 %`).
fn percent<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let raw = String::deserialize(d)?;
    match raw.trim().trim_end_matches('%').trim().parse::<f64>() {
        Ok(value) if value > 0.0 && value <= 100.0 => Ok(Some(value)),
        _ => Err(Problem::new("is not a percentage above 0 and at most 100")
            .hint("write it like 85 (per cent)")
            .error()),
    }
}

fn root() -> Vec<String> {
    vec!["/".to_owned()]
}

/// The disks, by mount point; `/` when the list is empty.
fn disks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let disks: Vec<String> = read::parsed_list::<D, DiskPath>(d)?
        .into_iter()
        .map(|p| p.0)
        .collect();
    Ok(if disks.is_empty() { root() } else { disks })
}

struct DiskPath(String);

impl Parse for DiskPath {
    fn parse(raw: &str) -> Result<Self, Problem> {
        if is_disk_path(raw) {
            Ok(DiskPath(raw.to_owned()))
        } else {
            Err(
                Problem::new("is not an absolute path of letters, digits, / . _ or -")
                    .hint("name the disks by their mount points: disks: [\"/\", \"/data\"]"),
            )
        }
    }
}

/// Processes, by names `pgrep -x` can match.
fn processes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    read::parsed_list::<D, ProcessName>(d).map(|list| list.into_iter().map(|p| p.0).collect())
}

struct ProcessName(String);

impl Parse for ProcessName {
    fn parse(raw: &str) -> Result<Self, Problem> {
        if is_process_name(raw) {
            Ok(ProcessName(raw.to_owned()))
        } else {
            Err(Problem::new("is not a process name pgrep -x can match").hint(
                "give the exact name of the process (as ps -e shows it): 1 to 15 letters, digits, . _ or -, not starting with -",
            ))
        }
    }
}

impl Limits {
    /// True when nothing is to be judged.
    pub fn is_empty(&self) -> bool {
        self.cpu.is_none()
            && self.memory.is_none()
            && self.disk.is_none()
            && self.processes.is_empty()
    }

    /// The verdict on `report` of the host `name`: one result per limit and per process.
    pub fn judge(&self, name: &str, naming: &Naming, report: &Resources) -> Vec<CheckResult> {
        let mut results = Vec::new();
        let figure = |part: String, what: String, value: f64, limit: f64| {
            let over = value > limit;
            result(
                naming,
                &part,
                over.then(|| Failure {
                    kind: OVER_LIMIT.kind,
                    message: format!(
                        "{name} {what} at {} % (limit {} %)",
                        shown(value),
                        shown(limit)
                    ),
                }),
                ResourceMeasurement {
                    host: name.to_owned(),
                    resource: part.clone(),
                    value: Some(value),
                    limit: Some(limit),
                    running: None,
                },
            )
        };
        if let Some(limit) = self.cpu {
            results.push(figure("cpu".into(), "CPU".into(), report.cpu, limit));
        }
        if let Some(limit) = self.memory {
            results.push(figure(
                "memory".into(),
                "memory".into(),
                report.memory,
                limit,
            ));
        }
        if let Some(limit) = self.disk {
            for path in &self.disks {
                let part = format!("disk:{path}");
                match report.disks.get(path) {
                    Some(used) => results.push(figure(part, format!("disk {path}"), *used, limit)),
                    None => results.push(unreported(
                        naming,
                        name,
                        &part,
                        format!(
                            "{name}'s report does not give disk {path}: add --disk {path} to its lookout-agent report"
                        ),
                    )),
                }
            }
        }
        for process in &self.processes {
            let part = format!("process:{process}");
            let running = report.processes.get(process).copied();
            let failure = match running {
                Some(true) => None,
                Some(false) => Some(Failure {
                    kind: PROCESS_MISSING.kind,
                    message: format!("{name}: no process named {process} is running"),
                }),
                None => {
                    results.push(unreported(
                        naming,
                        name,
                        &part,
                        format!(
                            "{name}'s report does not say whether {process} runs: add --process {process} to its lookout-agent report"
                        ),
                    ));
                    continue;
                }
            };
            results.push(result(
                naming,
                &part,
                failure,
                ResourceMeasurement {
                    host: name.to_owned(),
                    resource: part.clone(),
                    value: None,
                    limit: None,
                    running,
                },
            ));
        }
        results
    }
}

/// A monitor error for a figure the report does not give.
fn unreported(naming: &Naming, name: &str, part: &str, message: String) -> CheckResult {
    let mut checked = result(
        naming,
        part,
        Some(Failure {
            kind: super::MONITOR_ERROR.kind,
            message,
        }),
        ResourceMeasurement {
            host: name.to_owned(),
            resource: part.to_owned(),
            value: None,
            limit: None,
            running: None,
        },
    );
    checked.health = Health::MonitorError;
    checked
}

/// 96.2 as "96.2", 85.0 as "85".
fn shown(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
}

fn result(
    naming: &Naming,
    part: &str,
    failure: Option<Failure>,
    measurement: ResourceMeasurement,
) -> CheckResult {
    CheckResult {
        key: naming.part(part),
        target: naming.shown_part(part),
        health: if failure.is_some() {
            Health::Failing
        } else {
            Health::Ok
        },
        failure,
        measurement: Measurement::Resource(measurement),
        memory: None,
        since: None,
    }
}

/// One of a host's figures against its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceMeasurement {
    /// The host (its monitor's name).
    pub host: String,
    /// `cpu`, `memory`, `disk:<path>` or `process:<name>`.
    pub resource: String,
    /// Percent used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// For a process: whether it runs (`None`: the report does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

/// The metric points of a figure: its percent, per host and resource.
pub fn points(m: &ResourceMeasurement, function: &str) -> Vec<crate::metrics::Point> {
    let Some(value) = m.value else {
        return Vec::new();
    };
    vec![crate::metrics::Point {
        dimensions: vec![vec!["Function", "Host", "Resource"]],
        fields: serde_json::json!({
            "Function": function,
            "Host": m.host,
            "Resource": m.resource,
            "UsedPercent": value,
        }),
        metrics: vec![("UsedPercent", "Percent")],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::{ConfigError, Env, SettingKey, list, one};

    const KEYS: &[SettingKey] = &[
        one("cpu_max", "X_CPU_MAX"),
        one("memory_max", "X_MEMORY_MAX"),
        one("disk_max", "X_DISK_MAX"),
        list("disks", "X_DISKS"),
        list("processes", "X_PROCESSES"),
    ];

    fn read_limits(env: &Env) -> Result<Limits, ConfigError> {
        read::read(env, &[KEYS])
    }

    fn report() -> Resources {
        Resources {
            host: "web-1".into(),
            cpu: 91.25,
            memory: 40.0,
            disks: [("/".to_owned(), 96.2), ("/data".to_owned(), 12.0)].into(),
            processes: [("nginx".to_owned(), true), ("dockerd".to_owned(), false)].into(),
        }
    }

    #[test]
    fn each_limit_and_process_is_its_own_result_with_value_and_limit() {
        let limits = read_limits(&Env::from_pairs([
            ("X_CPU_MAX", "85"),
            ("X_MEMORY_MAX", "90%"),
            ("X_DISK_MAX", "95"),
            ("X_DISKS", "/, /data, /backup"),
            ("X_PROCESSES", "nginx, dockerd, redis-server"),
        ]))
        .unwrap();
        let naming = Naming::Monitor {
            kind: crate::checks::heartbeat::TYPE.name,
            name: "web-1".into(),
        };
        let results = limits.judge("web-1", &naming, &report());
        let seen: Vec<(&str, Health)> =
            results.iter().map(|r| (r.key.as_str(), r.health)).collect();
        assert_eq!(
            seen,
            [
                ("heartbeat:web-1/cpu", Health::Failing),
                ("heartbeat:web-1/memory", Health::Ok),
                ("heartbeat:web-1/disk:/", Health::Failing),
                ("heartbeat:web-1/disk:/data", Health::Ok),
                ("heartbeat:web-1/disk:/backup", Health::MonitorError),
                ("heartbeat:web-1/process:nginx", Health::Ok),
                ("heartbeat:web-1/process:dockerd", Health::Failing),
                ("heartbeat:web-1/process:redis-server", Health::MonitorError),
            ]
        );
        let said = |i: usize| results[i].failure.as_ref().unwrap().message.clone();
        assert_eq!(said(0), "web-1 CPU at 91.2 % (limit 85 %)");
        assert_eq!(said(2), "web-1 disk / at 96.2 % (limit 95 %)");
        assert!(said(4).contains("--disk /backup"), "{}", said(4));
        assert_eq!(said(6), "web-1: no process named dockerd is running");
        assert!(said(7).contains("--process redis-server"), "{}", said(7));
        // Only the disks the monitor names are judged, whatever else a report lists.
        let only_root = read_limits(&Env::from_pairs([("X_DISK_MAX", "95")])).unwrap();
        let mut listed = report();
        listed.disks.insert("/srv".into(), 99.0);
        let keys: Vec<String> = only_root
            .judge("web-1", &naming, &listed)
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys, ["heartbeat:web-1/disk:/"]);
        assert!(read_limits(&Env::from_pairs([("X_CPU_MAX", "1")])).is_ok());
    }

    #[test]
    fn bad_limits_and_names_are_refused_with_the_fix() {
        for (var, value) in [
            ("X_CPU_MAX", "0"),
            ("X_MEMORY_MAX", "101"),
            ("X_DISK_MAX", "lots"),
            ("X_PROCESSES", "nginx; rm -rf /"),
            ("X_PROCESSES", "a-process-name-too-long"),
            ("X_PROCESSES", "-n"),
            ("X_DISKS", "/data $(id)"),
            ("X_DISKS", "relative"),
        ] {
            let error = read_limits(&Env::from_pairs([(var, value)]))
                .expect_err(value)
                .to_string();
            assert!(error.contains(var), "{error}");
        }
        assert!(
            read_limits(&Env::from_pairs::<&str, &str>([]))
                .unwrap()
                .is_empty()
        );
    }
}
