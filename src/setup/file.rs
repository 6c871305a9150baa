//! `lookout.yaml`: every monitor, its conditions and who hears about it, in one file.
//!
//! The file is read once at start. Each key of a monitor or channel stands for the variable of the
//! same meaning (`cert_min_days` for `SITE_CERT_MIN_DAYS`), so a monitor's settings are read by the
//! same code, with the same checks, as settings from variables. `${NAME}` takes a variable's value
//! (after the stack's secret is laid over the environment), so secrets never sit in the file.
//! Every complaint names the file, the line and the column, and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::alerting::outage::{OUTAGE_KEYS, OutageGuard};
use crate::alerting::policy::Policy;
use crate::alerting::{SHOWN_KEYS, Shown};
use crate::checks::{self, CheckType};
pub use crate::config::yaml::FileError;
use crate::config::yaml::{self, Key, Node, Position, Value};
use crate::config::{ConfigError, Env, SettingKey, Shape, list, one, read, windows};
use crate::notify::{self, ChannelType};

/// The variable naming the file.
pub const CONFIG_VAR: &str = "LOOKOUT_CONFIG";
/// The file read when [`CONFIG_VAR`] is not set, from the working directory (under Lambda, the
/// function's own directory, where `sam build` puts it next to `bootstrap`).
pub const DEFAULT_PATH: &str = "lookout.yaml";
/// The longest monitor or channel name.
const MAX_NAME_CHARS: usize = 64;
/// The longest interval `every` takes.
const MAX_EVERY: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest file read: thousands of monitors fit, and reading it stays well within Lambda's
/// 10 s start.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The longest single value (a URL, a key, a private key pasted in), `${NAME}` resolved.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// Keys only `defaults` takes: settings of the whole stack (`ping_key`).
pub const DEFAULT_ONLY_KEYS: &[SettingKey] = &[crate::checks::heartbeat::PING_KEY];

/// Every key `defaults` takes besides `channels`, by group.
const DEFAULTS_KEYS: &[&[SettingKey]] = &[
    LIFECYCLE_KEYS,
    STYLE_KEYS,
    SHOWN_KEYS,
    OUTAGE_KEYS,
    DEFAULT_ONLY_KEYS,
];

/// Keys of the lifecycle, in `defaults` and on each monitor.
pub const LIFECYCLE_KEYS: &[SettingKey] = &[
    one("failure_threshold", "ALERT_FAILURE_THRESHOLD"),
    one("recovery_threshold", "ALERT_RECOVERY_THRESHOLD"),
    list("escalation_minutes", "ALERT_ESCALATION_MINUTES"),
    one("repeat_minutes", "ALERT_REPEAT_MINUTES"),
    list("quiet_hours", "ALERT_QUIET_HOURS"),
    windows("maintenance", "ALERT_MAINTENANCE"),
    one("timezone", "ALERT_TIMEZONE"),
];
/// How messages read, in `defaults` and on each channel.
pub const STYLE_KEYS: &[SettingKey] = &[
    one("language", "ALERT_LANGUAGE"),
    one("timezone", "ALERT_TIMEZONE"),
];

/// The file, read and checked.
#[derive(Debug, Clone)]
pub struct LookoutFile {
    /// Where it was read from.
    pub path: String,
    /// Its channels; `None` when it has no `channels` (channels then come from variables).
    pub channels: Option<Vec<ChannelSpec>>,
    /// Its monitors, in the file's order; `None` when it has no `monitors` (the variables then
    /// describe the function's one monitor, as without a file, alerting `default_channels`).
    pub monitors: Option<Vec<MonitorSpec>>,
    /// The channels a monitor alerts when it names none.
    pub default_channels: Vec<String>,
    /// The policy of `defaults`, which closes the incidents of monitors removed from the file.
    pub policy: Policy,
    /// The environment with `defaults` laid over it: channels from variables are built from it,
    /// so `defaults.language` and `defaults.timezone` reach them.
    pub defaults: Env,
    /// The same with `status_page` laid over it, which the status page reads.
    pub status_page: Env,
}

impl LookoutFile {
    /// The monitors of one type, each one's name and settings: `None` when the file has no
    /// `monitors` (the variables then describe the function's one monitor).
    pub fn declared(&self, kind: &CheckType) -> Option<Vec<(&str, &Env)>> {
        self.monitors.as_ref().map(|monitors| {
            monitors
                .iter()
                .filter(|m| m.kind.name == kind.name)
                .map(|m| (m.name.as_str(), &m.env))
                .collect()
        })
    }
}

/// One channel of the file.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: &'static ChannelType,
    /// Its settings as variables (with the function's own, such as credentials).
    pub env: Env,
}

/// One monitor of the file.
#[derive(Debug, Clone)]
pub struct MonitorSpec {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: &'static CheckType,
    /// Its settings as variables (with the function's own, such as credentials).
    pub env: Env,
    /// How often it is checked; every tick when `None`.
    pub every: Option<Duration>,
    /// The channels it alerts, by name.
    pub channels: Vec<String>,
    /// Its policy.
    pub policy: Policy,
    /// Its metrics and its place on the status page.
    pub shown: Shown,
}

impl fmt::Debug for ChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelType({})", self.name)
    }
}

impl fmt::Debug for CheckType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckType({})", self.name)
    }
}

/// Reads the file `LOOKOUT_CONFIG` names, or `lookout.yaml` when it is there; `None` when neither
/// is (settings then come from variables alone).
pub fn from_env(env: &Env) -> Result<Option<LookoutFile>, FileError> {
    let (path, named) = match (env.get(CONFIG_VAR), env.get("LAMBDA_TASK_ROOT")) {
        (Some(path), _) => (path.to_owned(), true),
        // Under Lambda, next to bootstrap, wherever the working directory is.
        (None, Some(root)) => (format!("{root}/{DEFAULT_PATH}"), false),
        (None, None) => (DEFAULT_PATH.to_owned(), false),
    };
    let text = match read_within(&path) {
        Ok(text) => text,
        Err(_) if !named && !std::path::Path::new(&path).exists() => return Ok(None),
        Err(why) => {
            return Err(FileError {
                path,
                at: Position { line: 1, column: 1 },
                message: format!("could not be read: {why}"),
            });
        }
    };
    load(&path, &text, env).map(Some)
}

/// The file's text, or why it cannot be read: it is looked at before anything is read, so a
/// file larger than [`MAX_FILE_BYTES`] costs nothing.
fn read_within(path: &str) -> Result<String, String> {
    use std::io::Read;
    let too_large = |size: u64| {
        format!(
            "it is {} KiB, more than the {} KiB lookout reads: keep it under 1 MiB (thousands of monitors take a few hundred KiB)",
            size.div_ceil(1024),
            MAX_FILE_BYTES / 1024
        )
    };
    let unreadable = |e: std::io::Error| {
        format!("{e}: set {CONFIG_VAR} to the path of lookout.yaml, or unset it")
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_large(size));
    }
    let mut bytes = Vec::new();
    // A file that grows while it is read is held to the limit too.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "it is not UTF-8 text (byte {} is not): save it as UTF-8",
            e.utf8_error().valid_up_to() + 1
        )
    })
}

/// Reads and checks `text`, the contents of `path`, against the environment `env`.
pub fn load(path: &str, text: &str, env: &Env) -> Result<LookoutFile, FileError> {
    let fail = |at: Position, message: String| FileError {
        path: path.to_owned(),
        at,
        message: crate::redact::scrub(&message).into_owned(),
    };
    let document = yaml::parse(text).map_err(|e| fail(e.at, e.message))?;
    let top = match &document.value {
        Value::Map(entries) => entries.as_slice(),
        Value::Null => &[],
        other => {
            return Err(fail(
                document.at,
                format!(
                    "the file is {}: it is a mapping with `defaults`, `channels` and `monitors`",
                    other.kind()
                ),
            ));
        }
    };
    let reader = Reader { path, env };
    reader.known_keys(
        top,
        &["defaults", "channels", "monitors", "status_page"],
        "the file",
    )?;
    let defaults = reader.section(top, "defaults");
    let defaults_entries = match defaults {
        Some(node) => reader.mapping(node, "`defaults`")?,
        None => &[],
    };
    let mut default_keys: Vec<&str> = vec!["channels"];
    for key in DEFAULTS_KEYS.iter().copied().flatten() {
        if !default_keys.contains(&key.key) {
            default_keys.push(key.key);
        }
    }
    reader.known_keys(defaults_entries, &default_keys, "`defaults`")?;

    // The function's own settings stay; those a monitor or channel of the file takes are the
    // file's to give.
    let check_vars: Vec<&str> = checks::CHECK_TYPES
        .iter()
        .flat_map(|t| t.keys.iter().map(|k| k.var))
        .collect();
    let monitors_node = reader.section(top, "monitors");
    if monitors_node.is_some()
        && let Some(var) = check_vars.iter().find(|var| env.get(var).is_some())
    {
        return Err(fail(
            monitors_node.map_or(document.at, |n| n.at),
            format!(
                "{var} is set, and the file describes the monitors: move it into the monitors that need it, or clear it"
            ),
        ));
    }
    let channels_node = reader.section(top, "channels");
    let mut removed: Vec<&str> = Vec::new();
    if monitors_node.is_some() {
        removed.extend(&check_vars);
    }
    if channels_node.is_some() {
        for kind in notify::CHANNEL_TYPES {
            removed.extend(kind.keys.iter().map(|k| k.var));
            removed.push(kind.after_minutes.var);
            removed.push(kind.degraded.var);
        }
    }
    let base = env.without(&removed);

    // Defaults, as variables.
    let default_settings: Vec<&SettingKey> = DEFAULTS_KEYS.iter().copied().flatten().collect();
    let default_vars = reader.settings(defaults_entries, &default_settings, "`defaults`")?;
    let defaults_env = overlay(&base, &default_vars);
    let defaults_error = |error: ConfigError| {
        let at = default_vars
            .iter()
            .find(|(var, ..)| Some(var.as_str()) == var_of(&error))
            .map_or(defaults.map_or(document.at, |n| n.at), |(_, _, at)| *at);
        fail(
            at,
            format!(
                "`defaults`: {}",
                in_words(&error, &|var| key_of(var, DEFAULTS_KEYS))
            ),
        )
    };
    let policy =
        Policy::from_env(&defaults_env, &crate::notify::delays()).map_err(defaults_error)?;
    read::settings::<Shown>(&defaults_env).map_err(defaults_error)?;
    read::settings::<OutageGuard>(&defaults_env).map_err(defaults_error)?;
    crate::checks::heartbeat::ping_key(&defaults_env).map_err(defaults_error)?;

    // The status page.
    let status_page_env = match reader.section(top, "status_page") {
        None => defaults_env.clone(),
        Some(node) => {
            let entries = reader.mapping(node, "`status_page`")?;
            let keys: Vec<&str> = super::STATUS_PAGE_KEYS.iter().map(|k| k.key).collect();
            reader.known_keys(entries, &keys, "`status_page`")?;
            let settings: Vec<&SettingKey> = super::STATUS_PAGE_KEYS.iter().collect();
            let vars = reader.settings(entries, &settings, "`status_page`")?;
            let page_env = overlay(&defaults_env, &vars);
            read::settings::<super::StatusPage>(&page_env).map_err(|error| {
                let at = vars
                    .iter()
                    .find(|(var, ..)| Some(var.as_str()) == var_of(&error))
                    .map_or(node.at, |(_, _, at)| *at);
                fail(
                    at,
                    format!(
                        "`status_page`: {}",
                        in_words(&error, &|var| key_of(var, &[super::STATUS_PAGE_KEYS]))
                    ),
                )
            })?;
            page_env
        }
    };

    // Channels.
    let channels = match channels_node {
        None => None,
        Some(node) => Some(reader.channels(node, &defaults_env)?),
    };
    let channel_names: Vec<String> = match &channels {
        Some(channels) => channels.iter().map(|c| c.name.clone()).collect(),
        None => {
            let mut names = Vec::new();
            for kind in notify::CHANNEL_TYPES {
                // A channel from variables that is malformed is reported when the function builds it.
                if (kind.validate)(env).unwrap_or(true) {
                    names.push(kind.name.to_owned());
                }
            }
            if names.is_empty() {
                names.push("console".to_owned());
            }
            names
        }
    };
    let after: BTreeMap<String, i64> = match &channels {
        Some(specs) => specs
            .iter()
            .filter_map(|c| {
                let minutes = c.env.get(c.kind.after_minutes.var)?.parse::<i64>().ok()?;
                Some((c.name.clone(), minutes))
            })
            .collect(),
        None => policy.channel_after_minutes.clone(),
    };
    // Whether each channel is told of degraded monitors: its `degraded`, else its type's default.
    let degraded: BTreeMap<String, bool> = match &channels {
        Some(specs) => specs
            .iter()
            .filter_map(|c| {
                let rule = c.kind.rule();
                let takes = c.env.flag(rule.degraded).ok().flatten();
                let takes = takes.unwrap_or(rule.degraded_default);
                (!takes).then(|| (c.name.clone(), false))
            })
            .collect(),
        None => policy.channel_degraded.clone(),
    };
    let default_channels = match defaults_entries.iter().find(|(k, _)| k.name == "channels") {
        Some((_, node)) => reader.routes(node, &channel_names, "`defaults`")?,
        None => channel_names.clone(),
    };
    let mut policy = policy;
    policy.channel_after_minutes = after.clone();
    policy.channel_degraded = degraded.clone();

    // Monitors.
    let mut monitors: Vec<MonitorSpec> = Vec::new();
    let mut names: BTreeMap<String, Position> = BTreeMap::new();
    // Monitors that name their host's heartbeat monitor: (place, name, where).
    let mut hosts: Vec<(String, String, Position)> = Vec::new();
    let items = match monitors_node {
        None => &[][..],
        Some(node) => match &node.value {
            Value::List(items) => items.as_slice(),
            Value::Null => &[][..],
            other => {
                return Err(fail(
                    node.at,
                    format!(
                        "`monitors` is {}: it is a list of monitors, each starting with `- name:`",
                        other.kind()
                    ),
                ));
            }
        },
    };
    for (index, item) in items.iter().enumerate() {
        let place = format!("monitor {}", index + 1);
        let entries = reader.mapping(item, &place)?;
        let name = reader.name(entries, item.at, &place)?;
        let place = format!("monitor {name:?}");
        if let Some(first) = names.insert(name.clone(), item.at) {
            return Err(fail(
                item.at,
                format!(
                    "{place} is named twice (first at line {}): give each monitor a name of its own",
                    first.line
                ),
            ));
        }
        let kind_name = reader.required_scalar(entries, "type", item.at, &place)?;
        let kind = checks::check_type(&kind_name.0).ok_or_else(|| {
            fail(
                kind_name.1,
                format!(
                    "{place}: type {:?} is not a check lookout has: use one of {}",
                    kind_name.0,
                    names_of(checks::CHECK_TYPES.iter().map(|t| t.name))
                ),
            )
        })?;
        let mut allowed: Vec<&str> = vec!["name", "type", "every", "channels"];
        allowed.extend(LIFECYCLE_KEYS.iter().map(|k| k.key));
        allowed.extend(SHOWN_KEYS.iter().map(|k| k.key));
        allowed.extend(kind.keys.iter().map(|k| k.key));
        reader.known_keys(entries, &allowed, &format!("{place} (type {})", kind.name))?;
        let settings: Vec<&SettingKey> = kind
            .keys
            .iter()
            .chain(LIFECYCLE_KEYS)
            .chain(SHOWN_KEYS)
            .collect();
        let vars = reader.settings(entries, &settings, &place)?;
        let monitor_env = overlay(&defaults_env, &vars);
        let explain = |error: &ConfigError| {
            let at = vars
                .iter()
                .find(|(var, ..)| Some(var.as_str()) == var_of(error))
                .map(|(_, _, at)| *at)
                .or_else(|| {
                    default_vars
                        .iter()
                        .find(|(var, ..)| Some(var.as_str()) == var_of(error))
                        .map(|(_, _, at)| *at)
                })
                .unwrap_or(item.at);
            fail(
                at,
                format!(
                    "{place}: {}",
                    in_words(error, &|var| {
                        key_of(var, &[kind.keys, LIFECYCLE_KEYS, SHOWN_KEYS])
                    })
                ),
            )
        };
        (kind.validate)(&monitor_env).map_err(|e| explain(&e))?;
        let shown = read::settings::<Shown>(&monitor_env).map_err(|e| explain(&e))?;
        let mut monitor_policy =
            Policy::from_env(&monitor_env, &crate::notify::delays()).map_err(|e| explain(&e))?;
        monitor_policy.channel_after_minutes = after.clone();
        monitor_policy.channel_degraded = degraded.clone();
        let every = match entries.iter().find(|(k, _)| k.name == "every") {
            None => None,
            Some((_, node)) => {
                let (text, at) = reader.scalar(node, "every", &place)?;
                Some(parse_every(&text).map_err(|reason| {
                    fail(
                        at,
                        format!(
                            "{place}: every {text:?} {reason}: write it like 30s, 5m, 1h or 1d"
                        ),
                    )
                })?)
            }
        };
        let routes = match entries.iter().find(|(k, _)| k.name == "channels") {
            Some((_, node)) => reader.routes(node, &channel_names, &place)?,
            None => default_channels.clone(),
        };
        if let Some(host_var) = kind.host {
            hosts.extend(
                vars.iter()
                    .filter(|(var, ..)| var == host_var)
                    .map(|(_, value, at)| (place.clone(), value.clone(), *at)),
            );
        }
        monitors.push(MonitorSpec {
            name,
            kind,
            env: monitor_env,
            every,
            channels: routes,
            policy: monitor_policy,
            shown,
        });
    }
    for (place, host, at) in hosts {
        let heartbeat = checks::heartbeat::TYPE.name;
        if !monitors
            .iter()
            .any(|m| m.name == host && m.kind.name == heartbeat)
        {
            let known = names_of(
                monitors
                    .iter()
                    .filter(|m| m.kind.name == heartbeat)
                    .map(|m| m.name.as_str()),
            );
            let fix = if known.is_empty() {
                "add a heartbeat monitor for the host (the agent's TICK_60 pings it) and name it here".to_owned()
            } else {
                format!("name the host's heartbeat monitor ({known})")
            };
            return Err(fail(
                at,
                format!("{place}: host {host:?} is not a monitor of type heartbeat: {fix}"),
            ));
        }
    }
    Ok(LookoutFile {
        path: path.to_owned(),
        channels,
        monitors: monitors_node.is_some().then_some(monitors),
        default_channels,
        policy,
        defaults: defaults_env,
        status_page: status_page_env,
    })
}

/// True for a monitor's or channel's name: letters (any script), digits, `-`, `_`, `.`, at most
/// [`MAX_NAME_CHARS`].
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `env` with these variables laid over it.
fn overlay(env: &Env, vars: &[(String, String, Position)]) -> Env {
    env.clone().overlaid(
        vars.iter()
            .map(|(var, value, _)| (var.clone(), value.clone()))
            .collect(),
    )
}

/// `30s`, `5m`, `1h`, `1d`: under a minute means every tick; a minute or more must be whole
/// minutes (schedules run on whole minutes).
fn parse_every(text: &str) -> Result<Duration, &'static str> {
    let every = crate::config::parse_duration(text)?;
    let seconds = every.as_secs();
    if every.is_zero() {
        return Err("is zero");
    }
    if every > MAX_EVERY {
        return Err("is longer than 7 days");
    }
    if seconds > 60 && seconds % 60 != 0 {
        return Err("is over a minute but not whole minutes");
    }
    Ok(every)
}

/// The variable a setting error names.
fn var_of(error: &ConfigError) -> Option<&'static str> {
    match error {
        ConfigError::Missing { var, .. } | ConfigError::Invalid { var, .. } => Some(var),
    }
}

/// The key a variable stands for in these tables.
fn key_of(var: &str, tables: &[&[SettingKey]]) -> Option<&'static str> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .find(|k| k.var == var)
        .map(|k| k.key)
}

/// A setting error in the file's words: the key instead of the variable it stands for.
fn in_words(error: &ConfigError, key: &dyn Fn(&str) -> Option<&'static str>) -> String {
    match error {
        ConfigError::Missing { var, hint } => match key(var) {
            Some(key) => format!("`{key}` is not set: {}", hint.replace(var, key)),
            None => error.to_string(),
        },
        ConfigError::Invalid {
            var,
            value,
            reason,
            hint,
        } => match key(var) {
            Some(key) => format!(
                "`{key}`: {value:?} is not valid ({reason}): {}",
                hint.replace(var, key)
            ),
            None => error.to_string(),
        },
    }
}

fn names_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// Reads nodes of one file, naming it in every error.
struct Reader<'a> {
    path: &'a str,
    env: &'a Env,
}

impl Reader<'_> {
    fn fail(&self, at: Position, message: String) -> FileError {
        FileError {
            path: self.path.to_owned(),
            at,
            message: crate::redact::scrub(&message).into_owned(),
        }
    }

    /// The value of `key` among `entries`, unless it is missing or empty.
    fn section<'n>(&self, entries: &'n [(Key, Node)], key: &str) -> Option<&'n Node> {
        entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, node)| node)
            .filter(|node| node.value != Value::Null)
    }

    fn mapping<'n>(&self, node: &'n Node, place: &str) -> Result<&'n [(Key, Node)], FileError> {
        match &node.value {
            Value::Map(entries) => Ok(entries),
            other => Err(self.fail(
                node.at,
                format!(
                    "{place} is {}: it is a mapping of keys (`key: value`)",
                    other.kind()
                ),
            )),
        }
    }

    fn known_keys(
        &self,
        entries: &[(Key, Node)],
        allowed: &[&str],
        place: &str,
    ) -> Result<(), FileError> {
        for (key, _) in entries {
            if !allowed.contains(&key.name.as_str()) {
                let near = allowed
                    .iter()
                    .find(|a| close(a, &key.name))
                    .map(|a| format!("did you mean `{a}`? "))
                    .unwrap_or_default();
                return Err(self.fail(
                    key.at,
                    format!(
                        "{place} has an unknown key `{}`: {near}the keys it takes are {}",
                        key.name,
                        names_of(allowed.iter().copied())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A scalar, `${NAME}` references replaced.
    fn scalar(&self, node: &Node, key: &str, place: &str) -> Result<(String, Position), FileError> {
        match &node.value {
            Value::Scalar(text) => {
                let value = self.resolve(text, node.at, key, place)?;
                if value.len() > MAX_VALUE_BYTES {
                    return Err(self.fail(
                        node.at,
                        format!(
                            "{place}: `{key}` is {} KiB long, more than the {} KiB a value may be: give a shorter one",
                            value.len().div_ceil(1024),
                            MAX_VALUE_BYTES / 1024
                        ),
                    ));
                }
                Ok((value, node.at))
            }
            other => Err(self.fail(
                node.at,
                format!(
                    "{place}: `{key}` is {}: it takes a single value",
                    other.kind()
                ),
            )),
        }
    }

    fn required_scalar(
        &self,
        entries: &[(Key, Node)],
        key: &str,
        at: Position,
        place: &str,
    ) -> Result<(String, Position), FileError> {
        match entries.iter().find(|(k, _)| k.name == key) {
            Some((_, node)) if node.value != Value::Null => self.scalar(node, key, place),
            _ => Err(self.fail(at, format!("{place} has no `{key}`: add `{key}: ...`"))),
        }
    }

    fn name(
        &self,
        entries: &[(Key, Node)],
        at: Position,
        place: &str,
    ) -> Result<String, FileError> {
        let (name, name_at) = self.required_scalar(entries, "name", at, place)?;
        if !is_name(&name) {
            return Err(self.fail(
                name_at,
                format!(
                    "{place}: name {name:?} is not a name: use letters, digits, - _ and . (at most {MAX_NAME_CHARS})"
                ),
            ));
        }
        Ok(name)
    }

    /// A setting's value as its variable takes it: lists comma-separated, mappings `name=value`.
    fn value(&self, node: &Node, setting: &SettingKey, place: &str) -> Result<String, FileError> {
        let key = setting.key;
        let item = |node: &Node| -> Result<String, FileError> {
            let (text, at) = self.scalar(node, key, place)?;
            if text.contains(',') {
                return Err(self.fail(
                    at,
                    format!("{place}: an item of `{key}` holds a comma: give each item on its own"),
                ));
            }
            Ok(text)
        };
        match (&node.value, setting.shape) {
            (Value::Null, _) => Err(self.fail(
                node.at,
                format!("{place}: `{key}` has no value: give it one, or remove the key"),
            )),
            (Value::Scalar(_), Shape::One | Shape::List) => Ok(self.scalar(node, key, place)?.0),
            (Value::List(items), Shape::List) => {
                let items = items.iter().map(item).collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() {
                    return Err(self.fail(
                        node.at,
                        format!(
                            "{place}: `{key}` is an empty list: give it items, or remove the key"
                        ),
                    ));
                }
                Ok(items.join(","))
            }
            (Value::Scalar(_), Shape::Windows) => Ok(item(node)?),
            (Value::List(items), Shape::Windows) => {
                let items = items
                    .iter()
                    .map(|node| match &node.value {
                        Value::Map(entries) => self.span(node, entries, key, place),
                        _ => item(node),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() {
                    return Err(self.fail(
                        node.at,
                        format!(
                            "{place}: `{key}` is an empty list: give it windows, or remove the key"
                        ),
                    ));
                }
                Ok(items.join(","))
            }
            (Value::Map(entries), Shape::Pairs) => {
                let pairs = entries
                    .iter()
                    .map(|(name, value)| Ok(format!("{}={}", name.name, item(value)?)))
                    .collect::<Result<Vec<_>, FileError>>()?;
                Ok(pairs.join(","))
            }
            (Value::Map(entries), Shape::Group) => {
                // Each value one word or a list of them: `;`, `|` and `=` separate them.
                let part = |node: &Node| -> Result<String, FileError> {
                    let (text, at) = self.scalar(node, key, place)?;
                    if text.contains([';', '|', '=']) {
                        return Err(self.fail(
                            at,
                            format!("{place}: a value of `{key}` holds ; | or =, which it cannot"),
                        ));
                    }
                    Ok(text)
                };
                let pairs = entries
                    .iter()
                    .map(|(name, value)| {
                        let value = match &value.value {
                            Value::List(items) => items
                                .iter()
                                .map(part)
                                .collect::<Result<Vec<_>, _>>()?
                                .join("|"),
                            _ => part(value)?,
                        };
                        Ok(format!("{}={value}", name.name))
                    })
                    .collect::<Result<Vec<_>, FileError>>()?;
                Ok(pairs.join(";"))
            }
            (other, shape) => Err(self.fail(
                node.at,
                format!(
                    "{place}: `{key}` is {}: it takes {}",
                    other.kind(),
                    match shape {
                        Shape::One => "a single value",
                        Shape::List => "a list, like [a, b]",
                        Shape::Pairs => "a mapping, like {name: value}",
                        Shape::Group =>
                            "a mapping of settings, like {from: globalping, probes: 3, quorum: 2}",
                        Shape::Windows =>
                            "a list of windows, like [\"04:00-04:30\", {from: 2026-12-01T02:00+08:00, to: 2026-12-01T04:00+08:00}]",
                    }
                ),
            )),
        }
    }

    /// A one-off window `{from: <moment>, to: <moment>}`, as its variable writes it: `from/to`.
    fn span(
        &self,
        node: &Node,
        entries: &[(Key, Node)],
        key: &str,
        place: &str,
    ) -> Result<String, FileError> {
        let place = format!("{place}: a window of `{key}`");
        self.known_keys(entries, &["from", "to"], &place)?;
        let from = self.required_scalar(entries, "from", node.at, &place)?.0;
        let to = self.required_scalar(entries, "to", node.at, &place)?.0;
        Ok(format!("{from}/{to}"))
    }

    /// `${NAME}` replaced from the environment; `$${` is a literal `${`.
    fn resolve(
        &self,
        text: &str,
        at: Position,
        key: &str,
        place: &str,
    ) -> Result<String, FileError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(self.fail(
                    at,
                    format!("{place}: `{key}` has a `${{` without its `}}`: write ${{NAME}}"),
                ));
            };
            let name = &after[..end];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(self.fail(
                    at,
                    format!("{place}: `{key}` refers to ${{{name}}}, which is not a variable name: use letters, digits and _"),
                ));
            }
            match self.env.get(name) {
                Some(value) => {
                    // What `${NAME}` brings in is a secret until shown otherwise: never printed.
                    crate::redact::register_with_parts(value);
                    out.push_str(value);
                }
                None => {
                    return Err(self.fail(
                        at,
                        format!("{place}: `{key}` refers to ${{{name}}}, which is not set: set {name} in the environment or the stack's secret"),
                    ));
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The values of the keys among `entries` that are `settings`, each as its variable, with where
    /// it stands.
    fn settings(
        &self,
        entries: &[(Key, Node)],
        settings: &[&SettingKey],
        place: &str,
    ) -> Result<Vec<(String, String, Position)>, FileError> {
        let mut vars = Vec::new();
        for (key, node) in entries {
            if let Some(setting) = settings.iter().find(|s| s.key == key.name) {
                let value = self.value(node, setting, place)?;
                vars.push((setting.var.to_owned(), value, node.at));
            }
        }
        Ok(vars)
    }

    /// A list of channel names, each defined.
    fn routes(
        &self,
        node: &Node,
        defined: &[String],
        place: &str,
    ) -> Result<Vec<String>, FileError> {
        let Value::List(items) = &node.value else {
            return Err(self.fail(
                node.at,
                format!(
                    "{place}: `channels` is {}: it takes a list of channel names, like [ops, mail]",
                    node.value.kind()
                ),
            ));
        };
        let mut routes = Vec::new();
        for item in items {
            let (name, at) = self.scalar(item, "channels", place)?;
            if !defined.contains(&name) {
                return Err(self.fail(
                    at,
                    format!(
                        "{place} is routed to channel {name:?}, which is not defined: define it under `channels`, or use one of {}",
                        names_of(defined.iter().map(String::as_str))
                    ),
                ));
            }
            if !routes.contains(&name) {
                routes.push(name);
            }
        }
        Ok(routes)
    }

    fn channels(&self, node: &Node, defaults_env: &Env) -> Result<Vec<ChannelSpec>, FileError> {
        let entries = self.mapping(node, "`channels`")?;
        let mut specs = Vec::new();
        for (key, node) in entries {
            let name = &key.name;
            let place = format!("channel {name:?}");
            if !is_name(name) {
                return Err(self.fail(
                    key.at,
                    format!("{place} is not a name: use letters, digits, - _ and . (at most {MAX_NAME_CHARS})"),
                ));
            }
            let fields = self.mapping(node, &place)?;
            let (kind_name, kind_at) = self.required_scalar(fields, "type", node.at, &place)?;
            let kind = notify::channel_type(&kind_name).ok_or_else(|| {
                self.fail(
                    kind_at,
                    format!(
                        "{place}: type {kind_name:?} is not a channel lookout has: use one of {}",
                        names_of(notify::CHANNEL_TYPES.iter().map(|t| t.name))
                    ),
                )
            })?;
            let mut allowed = vec!["type", "after_minutes", "degraded"];
            allowed.extend(STYLE_KEYS.iter().map(|k| k.key));
            allowed.extend(kind.keys.iter().map(|k| k.key));
            self.known_keys(fields, &allowed, &format!("{place} (type {})", kind.name))?;
            let (after, degraded) = (kind.after_minutes, kind.degraded);
            let settings: Vec<&SettingKey> = kind
                .keys
                .iter()
                .chain(STYLE_KEYS)
                .chain([&after, &degraded])
                .collect();
            let vars = self.settings(fields, &settings, &place)?;
            let env = overlay(defaults_env, &vars);
            let explain = |error: &ConfigError| {
                let at = vars
                    .iter()
                    .find(|(var, ..)| Some(var.as_str()) == var_of(error))
                    .map_or(node.at, |(_, _, at)| *at);
                self.fail(
                    at,
                    format!(
                        "{place}: {}",
                        in_words(error, &|var| key_of(
                            var,
                            &[kind.keys, STYLE_KEYS, &[after, degraded]]
                        ))
                    ),
                )
            };
            match (kind.validate)(&env) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(self.fail(
                        node.at,
                        format!(
                            "{place} sets none of its keys: a {} channel takes {}",
                            kind.name,
                            names_of(kind.keys.iter().map(|k| k.key))
                        ),
                    ));
                }
                Err(error) => return Err(explain(&error)),
            }
            crate::alerting::render::Style::from_env(&env).map_err(|e| explain(&e))?;
            // after_minutes is read as the policy reads its variable.
            Policy::from_env(&env, &crate::notify::delays()).map_err(|e| explain(&e))?;
            specs.push(ChannelSpec {
                name: name.clone(),
                kind,
                env,
            });
        }
        Ok(specs)
    }
}

/// True when `typed` is one edit (or one swap) away from `known`: a likely typo.
fn close(known: &str, typed: &str) -> bool {
    let a: Vec<char> = known.chars().collect();
    let b: Vec<char> = typed.chars().collect();
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    // Levenshtein distance, small inputs.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    let swapped = a.len() == b.len() && {
        let diffs: Vec<usize> = (0..a.len()).filter(|i| a[*i] != b[*i]).collect();
        diffs.len() == 2
            && diffs[1] == diffs[0] + 1
            && a[diffs[0]] == b[diffs[1]]
            && a[diffs[1]] == b[diffs[0]]
    };
    previous[b.len()] <= 1 || swapped
}

/// `text` in the file's words: each variable a key stands for named by its key instead
/// (`(SITE_KEYWORD)` becomes `(keyword)`), so a message about a monitor of the file points at the
/// file.
pub fn in_file_words(text: &str, keys: &[SettingKey]) -> String {
    let mut keys: Vec<&SettingKey> = keys.iter().collect();
    // Longer names first, so no variable is replaced inside a longer one.
    keys.sort_by_key(|k| std::cmp::Reverse(k.var.len()));
    let mut out = text.to_owned();
    for key in keys {
        if out.contains(key.var) {
            out = out.replace(key.var, key.key);
        }
    }
    out
}

/// A monitor of the file: its check, whose failures speak in the file's words.
pub struct FileMonitor {
    check: Box<dyn crate::checks::Check>,
    keys: &'static [SettingKey],
}

impl FileMonitor {
    /// Wraps the check of a monitor of type `kind`.
    pub fn new(check: Box<dyn crate::checks::Check>, kind: &'static CheckType) -> Self {
        FileMonitor {
            check,
            keys: kind.keys,
        }
    }
}

#[async_trait::async_trait]
impl crate::checks::Check for FileMonitor {
    fn function(&self) -> &'static str {
        self.check.function()
    }

    fn naming(&self) -> &crate::checks::Naming {
        self.check.naming()
    }

    async fn run(
        &self,
        tick: &crate::tick::Tick,
        memory: &crate::checks::Memory,
        deadline: tokio::time::Instant,
    ) -> Vec<crate::checks::CheckResult> {
        let mut results = self.check.run(tick, memory, deadline).await;
        for failure in results.iter_mut().filter_map(|r| r.failure.as_mut()) {
            failure.message = in_file_words(&failure.message, self.keys);
        }
        results
    }

    fn retired(&self, key: &str, results: &[crate::checks::CheckResult]) -> bool {
        self.check.retired(key, results)
    }

    fn depends_on(&self, key: &str) -> Option<String> {
        self.check.depends_on(key)
    }

    fn local_summary(&self, results: &[crate::checks::CheckResult]) -> Option<String> {
        self.check.local_summary(results)
    }

    fn elsewhere(
        &self,
        result: &crate::checks::CheckResult,
    ) -> Option<crate::checks::confirm::Elsewhere> {
        self.check.elsewhere(result)
    }

    fn holds_a_connection(&self) -> bool {
        self.check.holds_a_connection()
    }
}

/// A channel of the file: its delivery errors and notes speak in the file's words.
pub struct FileChannel {
    notifier: Box<dyn notify::Notifier>,
    keys: &'static [SettingKey],
}

impl FileChannel {
    /// Wraps the notifier of a channel of type `kind`.
    pub fn new(notifier: Box<dyn notify::Notifier>, kind: &'static ChannelType) -> Self {
        FileChannel {
            notifier,
            keys: kind.keys,
        }
    }
}

#[async_trait::async_trait]
impl notify::Notifier for FileChannel {
    fn channel(&self) -> &'static str {
        self.notifier.channel()
    }

    async fn deliver(
        &self,
        digest: &crate::alerting::Digest,
    ) -> Result<notify::Receipt, notify::DeliveryError> {
        match self.notifier.deliver(digest).await {
            Ok(receipt) => Ok(notify::Receipt {
                note: receipt.note.map(|n| in_file_words(&n, self.keys)),
            }),
            Err(error) => Err(notify::DeliveryError {
                reason: in_file_words(&error.reason, self.keys),
                ..error
            }),
        }
    }
}
