//! host: a server's CPU, memory, disks and processes, read over SSH with nothing installed on it.
//!
//! One fixed command per host, built from validated names only and run under `LC_ALL=C`: two
//! `/proc/stat` samples a second apart, `MemTotal` and `MemAvailable`, `df -P -k` of each disk, and
//! `pgrep -x` of each process. Its output is read strictly; anything unexpected is a monitor error
//! quoting the line, never a guess. The figures are judged as lookout-agent's report is
//! ([`super::limits`]): each limit passed and each missing process is an incident of its own
//! (`host:db-1/cpu`, `host:db-1/process:postgres`), and while the host cannot be reached they are
//! suppressed, the host's own incident explaining them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::limits::Limits;
use super::{
    Check, CheckResult, CheckType, Failure, Health, Measurement, Memory, Naming, SharedLedger,
    Words, kind,
};
use serde::Deserialize;

use crate::config::read::{self, Parse, Problem};
use crate::config::{ConfigError, Env, Secret, SettingKey, SetupError, list, one, variable};
use crate::pings::Resources;
use crate::ssh::{self, HostKey, SshError, Target};
use crate::tick::Tick;

/// The function's name, as deployed.
pub const FUNCTION: &str = "host-check";
/// The longest one host may take, connect to last byte.
pub const HOST_DEADLINE: Duration = Duration::from_secs(20);
/// The first line of the command's output: the command is lookout's own.
const MARK: &str = "lookout-host-check 1";

/// `type: host` in `lookout.yaml`.
pub const TYPE: CheckType = CheckType {
    name: "host",
    function: FUNCTION,
    display: Words {
        zh: "主机",
        en: "host",
    },
    kinds: &[
        kind("unreachable", "主机不可达", "unreachable"),
        kind("auth", "SSH 密钥被拒绝", "SSH key refused"),
        kind("ssh", "SSH 失败", "SSH failed"),
        kind("host_key", "主机密钥已变", "host key changed"),
    ],
    keys: &[
        one("host", "HOST_ADDRESS")
            .doc("the server's name or IP address (alone: no `user@`, no `:port`)")
            .hint("give the server's name or IP address: host: 203.0.113.10"),
        one("port", "HOST_PORT")
            .default("22")
            .doc("its SSH port; default 22")
            .hint("give the SSH port, 1 to 65535"),
        one("user", "HOST_USER")
            .doc("the user to log in as (an unprivileged one is enough: it reads `/proc` and runs `df` and `pgrep`)")
            .hint("give the user to log in as: user: monitor"),
        one("private_key", "HOST_PRIVATE_KEY").secret()
            .hint("give the client's private key from the stack's secret: private_key: \"${DB1_SSH_KEY}\"").doc("the client's private key (Ed25519, ECDSA or RSA; OpenSSH or PEM text), from the stack's secret: `\"${DB1_SSH_KEY}\"`; read once at start. A key pasted on one line with `\\n` for its line breaks is taken"),
        one("private_key_passphrase", "HOST_PRIVATE_KEY_PASSPHRASE").secret().doc("its passphrase, when it has one (from the secret too)"),
        one("host_key", "HOST_KEY")
            .hint("give the server's key as ssh-keyscan prints it, or its SHA256: fingerprint: lookout never trusts a key it was not given")
            .doc("required: the server's key as `ssh-keyscan -t ed25519 <host>` prints it (with or without the host in front), or its `SHA256:` fingerprint. There is no trust on first use; a known_hosts line with a marker (`@revoked`, `@cert-authority`) is refused"),
        one("cpu_max", "HOST_CPU_MAX").doc("the highest CPU busy %, above 0 and at most 100"),
        one("memory_max", "HOST_MEMORY_MAX").doc("the highest memory used %"),
        one("disk_max", "HOST_DISK_MAX").doc("the highest used % of every disk"),
        list("disks", "HOST_DISKS").doc("mount points to read (absolute, letters, digits, `/ . _ -` only); default `[\"/\"]`"),
        list("processes", "HOST_PROCESSES").doc("processes that must run, by the name `pgrep -x` matches (1 to 15 letters, digits, `. _ -`, not starting with `-`: the kernel keeps 15 characters of a name)"),
    ],
    variables: &[variable("HOST_CONCURRENCY")
        .default("16")
        .doc("how many hosts are read at once; default 16")
        .hint("set it to how many hosts to check at once, e.g. 16")],
    host: None,
    validate: |env| HostSettings::read(env).map(|_| ()),
    build: build_monitors,
};

/// One host monitor's settings.
#[derive(Clone)]
pub struct HostSettings {
    /// Where to connect, and as whom.
    pub target: Target,
    /// The disks to read (absolute paths), `/` by default.
    pub disks: Vec<String>,
    /// The limits.
    pub limits: Limits,
    /// The one command run on the host, made once: fixed, its names validated, each quoted.
    pub command: String,
}

/// True for a host name or an IP address (v4, or v6 without brackets).
fn is_address(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
}

/// True for a user name a server takes.
fn is_user(text: &str) -> bool {
    (1..=32).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !text.starts_with('-')
}

/// A host monitor's keys, as read.
#[derive(Deserialize)]
struct HostKeys {
    #[serde(deserialize_with = "read::parsed")]
    host: HostName,
    #[serde(deserialize_with = "read::between::<_, u16, 1, 65535>")]
    port: u16,
    #[serde(deserialize_with = "read::parsed")]
    user: User,
    private_key: Secret,
    private_key_passphrase: Option<Secret>,
    #[serde(deserialize_with = "read::parsed")]
    host_key: HostKey,
    #[serde(rename = "@limits")]
    limits: Limits,
}

impl read::Settings for HostKeys {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];
}

struct HostName(String);

impl Parse for HostName {
    fn parse(raw: &str) -> Result<Self, Problem> {
        if is_address(raw) {
            Ok(HostName(raw.to_owned()))
        } else {
            Err(Problem::new("is not a host name or IP address").hint(
                "give the name or address alone, without user@ or :port (port: and user: are keys of their own)",
            ))
        }
    }
}

struct User(String);

impl Parse for User {
    fn parse(raw: &str) -> Result<Self, Problem> {
        if is_user(raw) {
            Ok(User(raw.to_owned()))
        } else {
            Err(Problem::new("is not a user name")
                .hint("give a user name of letters, digits, _ . or -"))
        }
    }
}

impl Parse for HostKey {
    fn parse(raw: &str) -> Result<Self, Problem> {
        HostKey::parse(raw).map_err(|reason| {
            Problem::new(reason).hint(
                "run ssh-keyscan -t ed25519 <host> (from a machine that trusts it) and give the line, or ssh-keygen -lf the key's .pub file",
            )
        })
    }
}

/// `HOST_CONCURRENCY`, for all the function's hosts.
#[derive(Deserialize)]
struct Slots {
    #[serde(rename = "HOST_CONCURRENCY", deserialize_with = "read::at_least_one")]
    concurrency: usize,
}

impl read::Settings for Slots {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.variables];
}

impl HostSettings {
    /// Reads and checks the settings; the private key is read (and decrypted) here, once.
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let keys = read::settings::<HostKeys>(env)?;
        let key = ssh::client_key(
            keys.private_key.expose(),
            keys.private_key_passphrase.as_ref().map(Secret::expose),
        )
        .map_err(|reason| {
            ConfigError::invalid(
                "HOST_PRIVATE_KEY",
                "<redacted>",
                reason,
                "an Ed25519, ECDSA or RSA key in OpenSSH or PEM form (ssh-keygen -t ed25519 makes one)",
            )
        })?;
        let disks = keys.limits.disks.clone();
        Ok(HostSettings {
            target: Target {
                host: keys.host.0,
                port: keys.port,
                user: keys.user.0,
                key,
                host_key: keys.host_key,
            },
            command: command_of(&disks, &keys.limits),
            disks,
            limits: keys.limits,
        })
    }
}

/// The command for these disks and the limits' processes (all validated before they get here).
fn command_of(disks: &[String], limits: &Limits) -> String {
    let disks: Vec<String> = disks.iter().map(|d| format!("'{d}'")).collect();
    let processes: Vec<String> = limits.processes.iter().map(|p| format!("'{p}'")).collect();
    let mut command = format!(
        "LC_ALL=C; export LC_ALL; echo '{MARK}'; head -n 1 /proc/stat; sleep 1; head -n 1 /proc/stat; \
         grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; df -P -k {}",
        disks.join(" ")
    );
    if !processes.is_empty() {
        command.push_str(&format!(
            "; for p in {}; do if pgrep -x -- \"$p\" >/dev/null 2>&1; then echo \"process $p 1\"; else echo \"process $p 0\"; fi; done",
            processes.join(" ")
        ));
    }
    command.push_str("; echo end");
    command
}

/// Reads the command's output: the host's figures, or the first line that is not what was asked.
pub fn parse(
    output: &str,
    host: &str,
    disks: &[String],
    processes: &[String],
) -> Result<Resources, String> {
    let mut lines = output.lines();
    let mut next = |what: &str| {
        lines
            .next()
            .ok_or_else(|| format!("the output ended before {what}"))
    };
    let unexpected =
        |line: &str, what: &str| format!("expected {what}, got {}", crate::procfs::quoted(line));
    let mark = next("its first line")?;
    if mark != MARK {
        return Err(unexpected(
            mark,
            "lookout's mark (is the login shell printing a banner?)",
        ));
    }
    let before = next("the CPU sample")?;
    let after = next("the second CPU sample")?;
    let cpu = crate::procfs::cpu_percent(before, after)?;
    let total = next("MemTotal")?;
    let available = next("MemAvailable")?;
    let memory = crate::procfs::memory_percent(&format!("{total}\n{available}"))?;
    let header = next("df's header")?;
    if !header.starts_with("Filesystem") {
        return Err(unexpected(header, "df -P's header"));
    }
    let mut used = BTreeMap::new();
    for disk in disks {
        let line = next(&format!("df's line for {disk} (does it exist?)"))?;
        let percent = crate::procfs::df_percent(line)
            .map_err(|why| format!("{why} (df -P's line for {disk})"))?;
        used.insert(disk.clone(), percent);
    }
    let mut running = BTreeMap::new();
    for process in processes {
        let line = next(&format!("whether {process} runs"))?;
        let state = line
            .strip_prefix("process ")
            .and_then(|rest| rest.strip_prefix(process.as_str()))
            .and_then(|rest| rest.strip_prefix(' '));
        match state {
            Some("1") => running.insert(process.clone(), true),
            Some("0") => running.insert(process.clone(), false),
            _ => return Err(unexpected(line, &format!("whether {process} runs"))),
        };
    }
    let end = next("its last line")?;
    if end != "end" {
        return Err(unexpected(end, "its last line"));
    }
    Ok(Resources {
        host: host.to_owned(),
        cpu,
        memory,
        disks: used,
        processes: running,
    })
}

/// What was read of a host, or how it failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostMeasurement {
    /// The monitor.
    pub host: String,
    /// Where it was reached.
    pub address: String,
    /// Milliseconds from connect to the command's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<u64>,
    /// The figures read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub figures: Option<Resources>,
}

/// One host monitor.
pub struct HostCheck {
    naming: Naming,
    settings: Option<HostSettings>,
    /// Shared by the function's hosts: at most `HOST_CONCURRENCY` at once.
    slots: Arc<Semaphore>,
}

fn build_monitors(
    monitors: Vec<(Env, Naming)>,
    _store: &SharedLedger,
) -> Result<Vec<Box<dyn Check>>, SetupError> {
    let concurrency = match monitors.first() {
        Some((env, _)) => read::settings::<Slots>(env)?.concurrency,
        None => 1,
    };
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut built: Vec<Box<dyn Check>> = Vec::with_capacity(monitors.len());
    for (env, naming) in monitors {
        // Without the file and without HOST_ADDRESS the function has nothing to watch.
        let settings = if matches!(naming, Naming::Function(_)) && env.get("HOST_ADDRESS").is_none()
        {
            None
        } else {
            Some(HostSettings::read(&env)?)
        };
        built.push(Box::new(HostCheck {
            naming,
            settings,
            slots: Arc::clone(&slots),
        }));
    }
    Ok(built)
}

impl HostCheck {
    fn name(&self, settings: &HostSettings) -> String {
        match &self.naming {
            Naming::Monitor { name, .. } => name.clone(),
            Naming::Function(_) => settings.target.host.clone(),
        }
    }
}

/// The failure of a host that could not be read, in its kind.
fn failure_of(name: &str, error: SshError) -> (Health, Failure) {
    let (health, kind, message) = match error {
        SshError::Unreachable(why) => (
            Health::Failing,
            "unreachable",
            format!("{name} is unreachable: {why}"),
        ),
        SshError::HostKeyChanged { was, now } => (
            Health::MonitorError,
            "host_key",
            format!(
                "{name}'s host key changed (was {was}, now {now}): if you rotated it, update host_key"
            ),
        ),
        SshError::Auth(why) => (
            Health::MonitorError,
            "auth",
            format!("{name}: {why}: add its public key to the user's ~/.ssh/authorized_keys"),
        ),
        SshError::Ssh(why) => (Health::Failing, "ssh", format!("{name}: {why}")),
    };
    (health, Failure { kind, message })
}

#[async_trait]
impl Check for HostCheck {
    fn function(&self) -> &'static str {
        FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    async fn run(&self, _tick: &Tick, _memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        let Some(settings) = &self.settings else {
            return Vec::new();
        };
        let name = self.name(settings);
        let address = format!("{}:{}", settings.target.host, settings.target.port);
        let whole = |health, failure, took_ms, figures| CheckResult {
            key: self.naming.whole(&settings.target.host),
            target: self.naming.shown(&address),
            health,
            failure,
            measurement: Measurement::Host(HostMeasurement {
                host: name.clone(),
                address: address.clone(),
                took_ms,
                figures,
            }),
            memory: None,
            since: None,
        };
        let Ok(Ok(_slot)) = tokio::time::timeout_at(deadline, self.slots.acquire()).await else {
            let failure = Failure {
                kind: "monitor",
                message: format!(
                    "not checked: the invocation's time ran out before {name}'s turn (raise HOST_CONCURRENCY or the function's timeout)"
                ),
            };
            return vec![whole(Health::MonitorError, Some(failure), None, None)];
        };
        let started = Instant::now();
        let own_deadline = deadline.min(started + HOST_DEADLINE);
        let output = ssh::run(&settings.target, &settings.command, own_deadline).await;
        let took_ms = Some(started.elapsed().as_millis() as u64);
        let figures = match output {
            Err(error) => {
                let (health, failure) = failure_of(&name, error);
                return vec![whole(health, Some(failure), took_ms, None)];
            }
            Ok(output) => parse(
                &output.stdout,
                &name,
                &settings.disks,
                &settings.limits.processes,
            )
            .map_err(|why| {
                let status = output
                    .status
                    .filter(|s| *s != 0)
                    .map(|s| format!(" (exit status {s})"))
                    .unwrap_or_default();
                format!("{name}'s figures could not be read{status}: {why}")
            }),
        };
        match figures {
            Err(message) => {
                let failure = Failure {
                    kind: "monitor",
                    message,
                };
                vec![whole(Health::MonitorError, Some(failure), took_ms, None)]
            }
            Ok(figures) => {
                let mut results = settings.limits.judge(&name, &self.naming, &figures);
                results.insert(0, whole(Health::Ok, None, took_ms, Some(figures)));
                results
            }
        }
    }

    /// A figure fails because the host does: the host's own incident first.
    fn depends_on(&self, key: &str) -> Option<String> {
        let whole = self.naming.whole(&self.settings.as_ref()?.target.host);
        (key != whole).then_some(whole)
    }

    /// While the host cannot be read, its figures keep their incidents.
    fn retired(&self, key: &str, results: &[CheckResult]) -> bool {
        if results.iter().any(|r| r.key == key) {
            return false;
        }
        let unread = self.settings.as_ref().is_some_and(|s| {
            let whole = self.naming.whole(&s.target.host);
            results
                .iter()
                .any(|r| r.key == whole && r.failure.is_some())
        });
        !(unread && self.naming.owns(key))
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        let lines: Vec<String> = results
            .iter()
            .map(|r| match &r.measurement {
                Measurement::Host(m) => {
                    let figures = m.figures.as_ref().map_or(String::new(), |f| {
                        let disks: Vec<String> =
                            f.disks.iter().map(|(d, p)| format!("{d} {p} %")).collect();
                        format!(
                            "cpu {} %, memory {} %, {}",
                            f.cpu,
                            f.memory,
                            disks.join(", ")
                        )
                    });
                    super::summary_line(r, &figures)
                }
                _ => super::summary_line(r, ""),
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_is_read_strictly() {
        let disks = vec!["/".to_owned(), "/data".to_owned()];
        let processes = vec!["postgres".to_owned()];
        let good = format!(
            "{MARK}\ncpu  100 0 100 800 0 0 0 0 0 0\ncpu  150 0 150 900 0 0 0 0 0 0\n\
             MemTotal:       8000000 kB\nMemAvailable:   2000000 kB\n\
             Filesystem     1024-blocks    Used Available Capacity Mounted on\n\
             /dev/vda1        100000   96000      4000      96% /\n\
             /dev/vdb1        100000   10000     90000      10% /data\n\
             process postgres 1\nend\n"
        );
        let figures = parse(&good, "db-1", &disks, &processes).expect("figures");
        assert_eq!(figures.cpu, 50.0);
        assert_eq!(figures.memory, 75.0);
        assert_eq!(figures.disks["/"], 96.0);
        assert_eq!(figures.disks["/data"], 10.0);
        assert!(figures.processes["postgres"]);
        for (bad, says) in [
            (good.replace(MARK, "Welcome to db-1"), "Welcome"),
            (good.replace("MemAvailable", "MemFree"), "MemAvailable"),
            (
                good.replace("8000000 kB", "inf kB"),
                "MemTotal:       inf kB",
            ),
            (good.replace("96000      4000", "NaN 4000"), "/dev/vda1"),
            (good.replace("10000     90000", "-100 90000"), "/dev/vdb1"),
            (
                good.replace("cpu  150 0 150 900", "cpu  18446744073709551615 9 150 900"),
                "cpu  18446744073709551615 9 150 900",
            ),
            (
                good.replace("process postgres 1", "process postgres maybe"),
                "postgres",
            ),
            (
                good.replace(
                    "/dev/vdb1        100000   10000     90000      10% /data\n",
                    "",
                ),
                "postgres",
            ),
            (good.replace("\nend\n", "\n"), "ended"),
        ] {
            let error = parse(&bad, "db-1", &disks, &processes).expect_err(says);
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn the_command_is_fixed_and_names_only_validated_quoted_words() {
        let limits = Limits {
            processes: vec!["postgres".into()],
            ..Limits::default()
        };
        let quoted: Vec<String> = ["/", "/data"].iter().map(|d| format!("'{d}'")).collect();
        let command = command_of(&["/".into(), "/data".into()], &limits);
        assert!(command.starts_with("LC_ALL=C; export LC_ALL; echo 'lookout-host-check 1';"));
        assert!(command.contains(&format!("df -P -k {}", quoted.join(" "))));
        assert!(command.contains("for p in 'postgres'; do if pgrep -x -- \"$p\""));
        assert!(command.ends_with("; echo end"));
    }

    #[test]
    fn malicious_names_never_reach_the_command() {
        for bad in ["/data $(id)", "data", "/a;b", "/a b", "/../etc", "/x`id`"] {
            assert!(!crate::pings::is_disk_path(bad), "{bad}");
        }
        assert!(
            crate::pings::is_disk_path("/") && crate::pings::is_disk_path("/var/lib/postgresql-16")
        );
        assert!(!super::super::limits::is_process_name("nginx; rm -rf /"));
        assert!(!super::super::limits::is_process_name("-n"));
        assert!(!is_address("db-1 -oProxyCommand=x") && is_address("2001:db8::1"));
    }
}
