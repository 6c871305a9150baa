//! Settings from the environment: typed values, clear errors, secrets that never print.
//!
//! Every function reads its settings through [`Env`], a snapshot of variables, so tests can build one
//! from pairs instead of mutating the process environment.

pub mod read;
pub mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A setting that is missing or malformed. The message names the variable, the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{var} is not set: {hint}")]
    Missing { var: &'static str, hint: String },
    /// A variable is set to something that does not parse.
    #[error("{var}={value:?} is not valid ({reason}): {hint}")]
    Invalid {
        var: &'static str,
        /// The offending value, or `<redacted>` for a secret.
        value: String,
        reason: String,
        hint: String,
    },
}

impl ConfigError {
    /// A malformed value, quoted in the message.
    pub fn invalid(
        var: &'static str,
        value: &str,
        reason: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            var,
            value: value.to_owned(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `lookout.yaml` is malformed: the message has the file, line and column.
    #[error(transparent)]
    File(#[from] yaml::FileError),
    /// The HTTP client could not be built (the TLS backend failed to load).
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// A snapshot of environment variables: its own values laid over a shared base (each monitor of a
/// large `lookout.yaml` shares the function's variables instead of copying them: 10,000 copies
/// of a hundred variables took 100 MB).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: std::sync::Arc<HashMap<String, String>>,
    base: Option<std::sync::Arc<Env>>,
}

impl Env {
    /// The process environment, as it is now.
    pub fn from_process() -> Self {
        Env {
            vars: std::sync::Arc::new(std::env::vars().collect()),
            base: None,
        }
    }

    /// An environment made of these pairs (tests, or a secret merged over the process environment).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Env {
            vars: std::sync::Arc::new(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            base: None,
        }
    }

    /// Every variable and its value, the top layer's over the base's.
    fn flattened(&self) -> HashMap<String, String> {
        let mut all = self
            .base
            .as_ref()
            .map(|base| base.flattened())
            .unwrap_or_default();
        all.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }

    /// The same environment without these variables.
    pub fn without(&self, vars: &[&str]) -> Self {
        let mut all = self.flattened();
        all.retain(|k, _| !vars.contains(&k.as_str()));
        Env {
            vars: std::sync::Arc::new(all),
            base: None,
        }
    }

    /// The same environment with these values laid over it (sharing it, not copying it).
    pub fn overlaid(self, pairs: Vec<(String, String)>) -> Self {
        if pairs.is_empty() {
            return self;
        }
        Env {
            vars: std::sync::Arc::new(pairs.into_iter().collect()),
            base: Some(std::sync::Arc::new(self)),
        }
    }

    /// The value, trimmed; `None` when unset or blank.
    pub fn get(&self, var: &str) -> Option<&str> {
        match self.vars.get(var) {
            Some(value) => Some(value.trim()).filter(|v| !v.is_empty()),
            None => self.base.as_ref().and_then(|base| base.get(var)),
        }
    }

    /// A value that must be present.
    pub fn required(&self, var: &'static str, hint: &str) -> Result<&str, ConfigError> {
        self.get(var).ok_or_else(|| ConfigError::Missing {
            var,
            hint: hint.to_owned(),
        })
    }

    /// A number, or `None` when unset.
    pub fn number<T: FromStr>(
        &self,
        var: &'static str,
        hint: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(raw) => raw
                .parse::<T>()
                .map(Some)
                .map_err(|_| ConfigError::invalid(var, raw, "not a whole number", hint)),
        }
    }

    /// true or false (yes/no, 1/0), or `None` when unset.
    pub fn flag(&self, var: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(Some(true)),
                "false" | "no" | "0" => Ok(Some(false)),
                _ => Err(ConfigError::invalid(
                    var,
                    raw,
                    "not true or false",
                    "set it to true or false",
                )),
            },
        }
    }

    /// A whole number of at least 1, `default` when unset (zero would turn a rule off by accident).
    pub fn at_least_one<T>(
        &self,
        var: &'static str,
        default: T,
        hint: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialEq + From<u8>,
    {
        match self.number::<T>(var, hint)? {
            None => Ok(default),
            Some(n) if n == T::from(0) => {
                Err(ConfigError::invalid(var, "0", "must be at least 1", hint))
            }
            Some(n) => Ok(n),
        }
    }

    /// An http(s) service URL (an endpoint override), defaulting to the real service's `default`.
    pub fn service_url(&self, var: &'static str, default: &str) -> Result<url::Url, ConfigError> {
        let raw = self.get(var).unwrap_or(default);
        url::Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                ConfigError::invalid(
                    var,
                    &mask_userinfo(raw),
                    "not an http(s) URL",
                    format!("leave it unset for {default}, or set the service's full URL"),
                )
            })
    }

    /// A value that goes into a request header, an API's id field or a region: printable ASCII
    /// without spaces (anything else could never be sent), or `None` when unset.
    pub fn word(&self, var: &'static str, hint: &str) -> Result<Option<&str>, ConfigError> {
        let Some(value) = self.get(var) else {
            return Ok(None);
        };
        match word_problem(value) {
            None => Ok(Some(value)),
            Some(reason) => Err(ConfigError::invalid(var, value, reason, hint)),
        }
    }

    /// A value that must be present and be a word (see [`Env::word`]): `hint` says what to set.
    pub fn required_word(&self, var: &'static str, hint: &str) -> Result<&str, ConfigError> {
        self.required(var, hint)?;
        self.word(var, hint)?.ok_or_else(|| ConfigError::Missing {
            var,
            hint: hint.to_owned(),
        })
    }
}

/// Why a value cannot be a header value, an id or a region, if it cannot.
pub fn word_problem(value: &str) -> Option<&'static str> {
    if value.chars().any(char::is_control) {
        Some("it holds a line break or another control character")
    } else if !value.is_ascii() {
        Some("it holds non-ASCII characters, which no request header carries")
    } else if value.contains(' ') {
        Some("it holds a space")
    } else {
        None
    }
}

impl Env {
    /// True when the variable is set to a non-blank value.
    pub fn is_set(&self, var: &str) -> bool {
        self.get(var).is_some()
    }
}

/// A URL as it may be quoted in a message, well formed or not: a password in it becomes `***` (and
/// is registered as a secret, in case it is echoed elsewhere).
pub fn mask_userinfo(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return raw.to_owned();
    };
    let user = match userinfo.split_once(':') {
        Some((user, password)) => {
            crate::redact::register(password);
            format!("{user}:***")
        }
        None => userinfo.to_owned(),
    };
    format!("{scheme}://{user}@{host}{tail}")
}

/// A value that must never be printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value, and registers it to be scrubbed from anything shown
    /// ([`crate::redact`]).
    pub fn new(value: String) -> Self {
        crate::redact::register_with_parts(&value);
        Secret(value)
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a key of `lookout.yaml` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One value (`keyword: "Add to cart"`).
    One,
    /// A list, or one value as a list of one (`groups: [orders, billing]`).
    List,
    /// A mapping of names to values (`topic_thresholds: {audit: 200000}`).
    Pairs,
    /// A list of time windows, each `"04:00-04:30"` or `{from: <moment>, to: <moment>}` (written
    /// `<from>/<to>` in its variable).
    Windows,
    /// A mapping of settings, each one value or a list (`confirm: {probes: 3, locations: [CN,
    /// Europe]}`), written `probes=3;locations=CN|Europe` in its variable.
    Group,
}

/// A span of time written with its unit: `30s`, `5m`, `1h`, `2d` (`0s` is zero).
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("has no unit")?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| "does not start with a number")?;
    let seconds = match unit {
        "s" => number,
        "m" => number.saturating_mul(60),
        "h" => number.saturating_mul(3600),
        "d" => number.saturating_mul(86_400),
        _ => return Err("has a unit lookout does not know (s, m, h, d)"),
    };
    Ok(Duration::from_secs(seconds))
}

/// A key of `lookout.yaml` and the variable it stands for: the file's settings are read as these
/// variables, so a key means exactly what its variable means. A type's keys, declared once in its
/// module, are where the deployment's list of variables ([`crate::setup::settings`]), which are
/// secrets, and the key tables of docs/configuration.md and the README come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingKey {
    /// The key (`cert_min_days`); empty for a variable of the function that no key stands for
    /// (`SITE_CONCURRENCY`).
    pub key: &'static str,
    /// The variable (`SITE_CERT_MIN_DAYS`).
    pub var: &'static str,
    /// What it takes.
    pub shape: Shape,
    /// Where its value comes from once deployed: a key of `lookout.yaml` unless said otherwise.
    pub source: Source,
    /// A secret: never shown, given in `lookout.yaml` as `${NAME}` from the stack's secret.
    pub secret: bool,
    /// What it means, for the docs' key tables (one line of Markdown).
    pub doc: &'static str,
    /// What to set when it is missing or malformed (the fix in its error).
    pub hint: &'static str,
    /// The value read when it is unset (`None`: it is optional, or required when the settings
    /// say so).
    pub default: Option<&'static str>,
}

impl SettingKey {
    /// Also a stack parameter (`SITE_URLS`).
    pub const fn parameter(self) -> Self {
        SettingKey {
            source: Source::Parameter,
            ..self
        }
    }

    /// A secret: never shown; in `lookout.yaml`, give it as `${NAME}` from the stack's secret.
    pub const fn secret(self) -> Self {
        SettingKey {
            secret: true,
            ..self
        }
    }

    /// A secret the stack's secret has a placeholder for (`WECOM_WEBHOOK_URL`).
    pub const fn stack_secret(self) -> Self {
        SettingKey {
            source: Source::Secret,
            secret: true,
            ..self
        }
    }

    /// Set by the stack itself (a resource's name).
    pub const fn stack(self) -> Self {
        SettingKey {
            source: Source::Stack,
            ..self
        }
    }

    /// What it means, for the docs.
    pub const fn doc(self, doc: &'static str) -> Self {
        SettingKey { doc, ..self }
    }

    /// What to set when it is missing or malformed.
    pub const fn hint(self, hint: &'static str) -> Self {
        SettingKey { hint, ..self }
    }

    /// The value read when it is unset, written as its variable would be (`"2"`, `"5000"`).
    pub const fn default(self, default: &'static str) -> Self {
        SettingKey {
            default: Some(default),
            ..self
        }
    }

    /// The variable as the deployment lists it, read by `function` (`None`: every function).
    pub const fn setting(&self, function: Option<&'static str>) -> Setting {
        Setting {
            name: self.var,
            source: self.source,
            function,
        }
    }
}

const fn key(key: &'static str, var: &'static str, shape: Shape) -> SettingKey {
    SettingKey {
        key,
        var,
        shape,
        source: Source::File,
        secret: false,
        doc: "",
        hint: "",
        default: None,
    }
}

/// A key taking one value.
pub const fn one(key_name: &'static str, var: &'static str) -> SettingKey {
    key(key_name, var, Shape::One)
}

/// A key taking a list.
pub const fn list(key_name: &'static str, var: &'static str) -> SettingKey {
    key(key_name, var, Shape::List)
}

/// A key taking a mapping (written `name=value,...` in its variable).
pub const fn pairs(key_name: &'static str, var: &'static str) -> SettingKey {
    key(key_name, var, Shape::Pairs)
}

/// A key taking a group of settings (written `name=value;name=a|b` in its variable).
pub const fn group(key_name: &'static str, var: &'static str) -> SettingKey {
    key(key_name, var, Shape::Group)
}

/// A key taking time windows (daily, or one-off `{from, to}` spans).
pub const fn windows(key_name: &'static str, var: &'static str) -> SettingKey {
    key(key_name, var, Shape::Windows)
}

/// A variable of the function that no key of `lookout.yaml` stands for (`SITE_CONCURRENCY`: it
/// bounds all the type's monitors together); a stack parameter unless said otherwise.
pub const fn variable(var: &'static str) -> SettingKey {
    key("", var, Shape::One).parameter()
}

/// Where a setting's value comes from once deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A stack parameter, passed as an environment variable.
    Parameter,
    /// A key of the Secrets Manager secret (`LOOKOUT_SECRET_ARN`).
    Secret,
    /// Set by the stack itself (a resource's name or ARN).
    Stack,
    /// Only for local runs (never set under Lambda).
    Local,
    /// A key of `lookout.yaml` (its variable is how the code reads it; locally it may also be
    /// set as a variable, and once deployed as a key of the stack's secret).
    File,
}

/// One variable the functions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The variable's name.
    pub name: &'static str,
    /// Where its value comes from once deployed.
    pub source: Source,
    /// The function that reads it; `None` when every function does.
    pub function: Option<&'static str>,
}

const fn setting(name: &'static str, source: Source, function: Option<&'static str>) -> Setting {
    Setting {
        name,
        source,
        function,
    }
}

/// The variables every function reads that belong to no check or channel type (the lifecycle, the
/// state, the logs). With each type's declared keys and variables they make
/// [`crate::setup::settings`], to which `tests/deployment.rs` holds `template.yaml` and the code.
pub const SETTINGS: &[Setting] = &[
    setting("ALERT_LANGUAGE", Source::Parameter, None),
    setting("ALERT_TIMEZONE", Source::Parameter, None),
    setting("ALERT_FAILURE_THRESHOLD", Source::Parameter, None),
    setting("ALERT_RECOVERY_THRESHOLD", Source::Parameter, None),
    setting("ALERT_ESCALATION_MINUTES", Source::Parameter, None),
    setting("ALERT_REPEAT_MINUTES", Source::Parameter, None),
    setting("ALERT_QUIET_HOURS", Source::Parameter, None),
    setting("ALERT_MAINTENANCE", Source::Parameter, None),
    setting("STATE_TABLE", Source::Stack, None),
    setting("STATE_FILE", Source::Local, None),
    setting("LOOKOUT_SECRET_ARN", Source::Stack, None),
    setting("LOOKOUT_CONFIG", Source::Local, None),
    setting("RUST_LOG", Source::Parameter, None),
];

/// `ALERT_TIMEZONE`: the zone times are told in (Asia/Shanghai unless set).
pub fn timezone(env: &Env) -> Result<chrono_tz::Tz, ConfigError> {
    match env.get("ALERT_TIMEZONE") {
        None => Ok(chrono_tz::Asia::Shanghai),
        Some(raw) => raw.parse::<chrono_tz::Tz>().map_err(|_| {
            ConfigError::invalid(
                "ALERT_TIMEZONE",
                raw,
                "not an IANA time zone",
                "set it to a zone name such as Asia/Shanghai, Europe/Berlin or UTC",
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_count_as_unset() {
        let env = Env::from_pairs([("A", "  "), ("B", " x ")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some("x"));
        assert_eq!(env.get("C"), None);
    }

    #[test]
    fn passwords_in_urls_are_masked_even_when_the_url_is_malformed() {
        assert_eq!(
            mask_userinfo("https://ops:s3cret-pw@exa mple.com/x"),
            "https://ops:***@exa mple.com/x"
        );
        assert_eq!(
            mask_userinfo("https://example.com/a@b"),
            "https://example.com/a@b"
        );
        assert_eq!(mask_userinfo("not a url"), "not a url");
        assert_eq!(crate::redact::scrub("echo s3cret-pw"), "echo <redacted>");
    }

    #[test]
    fn words_refuse_what_no_header_carries() {
        let env = Env::from_pairs([
            ("A", "ap-guangzhou"),
            ("B", "ap-广州"),
            ("C", "ckafka-1\r\nX-Evil: 1"),
            ("D", "two words"),
            ("E", "tok\u{7f}en"),
        ]);
        assert_eq!(env.word("A", "h").unwrap(), Some("ap-guangzhou"));
        for var in ["B", "C", "D", "E"] {
            let var: &'static str = Box::leak(var.to_owned().into_boxed_str());
            assert!(env.word(var, "h").is_err(), "{var}");
        }
        assert_eq!(env.word("MISSING", "h").unwrap(), None);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }
}
