//! Settings read from their declaration. A type declares its keys once ([`SettingKey`]: key,
//! variable, default, hint, secrecy) and its settings as a serde struct whose fields are named by
//! those keys (or, for a variable no key stands for, by the variable). [`read`] deserializes the
//! struct from the variables: numbers, flags (`true`/`yes`/`1`), comma-separated lists and
//! `name=value` pairs are read the same way for every type, a field's own rules come from its
//! type ([`Parse`]) or a helper here ([`millis`], [`between`], …), and every error names the
//! variable, quotes the value (never a secret's) and gives the key's hint.

use std::fmt;
use std::time::Duration;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};

use super::{ConfigError, Env, Secret, SettingKey, mask_userinfo, word_problem};

/// Reads the settings `T` from `env` by these keys; a required field (neither `Option` nor with a
/// default) that is unset is a [`ConfigError::Missing`].
pub fn read<T: DeserializeOwned>(env: &Env, keys: &[&[SettingKey]]) -> Result<T, ConfigError> {
    let keys: Vec<&SettingKey> = keys.iter().flat_map(|k| k.iter()).collect();
    let mut entries = Vec::new();
    for key in &keys {
        let raw = match env.get(key.var) {
            Some(raw) => raw,
            None => match key.default {
                Some(default) => default,
                None => continue,
            },
        };
        if key.secret {
            crate::redact::register_with_parts(raw);
        }
        entries.push((name(key), raw.to_owned()));
    }
    T::deserialize(Fields {
        entries,
        names: keys.iter().map(|k| name(k)).collect(),
    })
    .map_err(|e| e.into_config(&keys))
}

/// A type's settings: a serde struct whose fields are its keys, and the rules across them.
pub trait Settings: DeserializeOwned {
    /// The keys the fields are read by (a type's keys, and its variables no key stands for).
    const KEYS: &'static [&'static [SettingKey]];

    /// The rules across keys, once each key is read (none unless it says so); `env` for what is
    /// not a key of its own (the time zone).
    fn checked(self, _env: &Env) -> Result<Self, ConfigError> {
        Ok(self)
    }
}

/// The settings `T` from `env`.
pub fn settings<T: Settings>(env: &Env) -> Result<T, ConfigError> {
    read::<T>(env, T::KEYS)?.checked(env)
}

/// The settings `T` from `env`; `None` when none of its own keys (the first group of its
/// [`Settings::KEYS`]: a channel's, not the Tencent Cloud key it shares) is set.
pub fn settings_if_set<T: Settings>(env: &Env) -> Result<Option<T>, ConfigError> {
    let own = T::KEYS.first().copied().unwrap_or_default();
    if own.iter().any(|k| env.is_set(k.var)) {
        settings(env).map(Some)
    } else {
        Ok(None)
    }
}

/// The field a key fills: the key, or the variable when no key stands for it.
fn name(key: &SettingKey) -> &'static str {
    if key.key.is_empty() { key.var } else { key.key }
}

/// Why a value is refused, and, when it knows better than its key, what to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    reason: String,
    hint: Option<String>,
    shown: Option<String>,
}

/// Between a problem's reason, its hint and what it quotes, as they pass through serde's
/// text-only errors.
const SEPARATOR: char = '\u{1f}';

impl Problem {
    /// The value is refused for `reason`; the key's hint says what to set.
    pub fn new(reason: impl Into<String>) -> Self {
        Problem {
            reason: reason.into(),
            hint: None,
            shown: None,
        }
    }

    /// What the message quotes instead of the value (`<certificate>` for a PEM text).
    pub fn quoting(self, shown: impl Into<String>) -> Self {
        Problem {
            shown: Some(shown.into()),
            ..self
        }
    }

    /// What to set, for this problem rather than the key's.
    pub fn hint(self, hint: impl Into<String>) -> Self {
        Problem {
            hint: Some(hint.into()),
            ..self
        }
    }

    /// As a deserializer's error.
    pub fn error<E: de::Error>(self) -> E {
        E::custom(self)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if self.hint.is_some() || self.shown.is_some() {
            let hint = self.hint.as_deref().unwrap_or_default();
            write!(f, "{SEPARATOR}{hint}")?;
        }
        if let Some(shown) = &self.shown {
            write!(f, "{SEPARATOR}{shown}")?;
        }
        Ok(())
    }
}

/// A value read from its text by its own rules (a URL, a domain name, a status range, …).
pub trait Parse: Sized {
    /// The value, or why `raw` is not one.
    fn parse(raw: &str) -> Result<Self, Problem>;
}

/// A [`Parse`] value as a field (in a list, each item is quoted on its own when refused).
pub struct Parsed<T>(pub T);

impl<'de, T: Parse> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        T::parse(&raw).map(Parsed).map_err(Problem::error)
    }
}

/// `deserialize_with` for a [`Parse`] field.
pub fn parsed<'de, D: Deserializer<'de>, T: Parse>(d: D) -> Result<T, D::Error> {
    Parsed::<T>::deserialize(d).map(|p| p.0)
}

/// `deserialize_with` for an optional [`Parse`] field (give it `default` too).
pub fn parsed_some<'de, D: Deserializer<'de>, T: Parse>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Parsed<T>>::deserialize(d).map(|p| p.map(|p| p.0))
}

/// `deserialize_with` for a list of [`Parse`] items.
pub fn parsed_list<'de, D: Deserializer<'de>, T: Parse>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Parsed<T>>::deserialize(d).map(|v| v.into_iter().map(|p| p.0).collect())
}

/// Milliseconds, more than zero (zero would always fail).
struct Millis(Duration);

impl Parse for Millis {
    fn parse(raw: &str) -> Result<Self, Problem> {
        let hint = "set it to a whole number of milliseconds, e.g. 5000";
        match raw.parse::<u64>() {
            Ok(0) => Err(Problem::new("must be more than 0 ms").hint(hint)),
            Ok(ms) => Ok(Millis(Duration::from_millis(ms))),
            Err(_) => Err(Problem::new("not a whole number").hint(hint)),
        }
    }
}

/// `deserialize_with` for a number of milliseconds (`timeout_ms`).
pub fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parsed::<D, Millis>(d).map(|m| m.0)
}

/// `deserialize_with` for an optional number of milliseconds (give it `default` too).
pub fn millis_some<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    parsed_some::<D, Millis>(d).map(|m| m.map(|m| m.0))
}

/// `deserialize_with` for a whole number from `MIN` to `MAX`.
pub fn between<'de, D, T, const MIN: u64, const MAX: u64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let n = u64::deserialize(d)?;
    if n < MIN {
        return Err(Problem::new(format!("less than {MIN}")).error());
    }
    if n > MAX {
        return Err(Problem::new(format!("more than {MAX}")).error());
    }
    T::try_from(n).map_err(|_| Problem::new(format!("more than {MAX}")).error())
}

/// `deserialize_with` for a whole number of at least 1 (zero would turn a rule off by accident).
pub fn at_least_one<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    between::<D, T, 1, { u64::MAX }>(d)
}

/// One line of text (a signature's name): no line break or other control character.
pub struct Line(pub String);

impl Parse for Line {
    fn parse(raw: &str) -> Result<Self, Problem> {
        if raw.chars().any(char::is_control) {
            Err(Problem::new(
                "it holds a line break or another control character",
            ))
        } else {
            Ok(Line(raw.to_owned()))
        }
    }
}

/// `deserialize_with` for a [`Line`].
pub fn line<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    parsed::<D, Line>(d).map(|l| l.0)
}

/// A value that goes into a request header, an API's id field or a region: printable ASCII
/// without spaces.
pub struct Word(pub String);

impl Parse for Word {
    fn parse(raw: &str) -> Result<Self, Problem> {
        match word_problem(raw) {
            None => Ok(Word(raw.to_owned())),
            Some(reason) => Err(Problem::new(reason)),
        }
    }
}

/// `deserialize_with` for a [`Word`].
pub fn word<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    parsed::<D, Word>(d).map(|w| w.0)
}

/// `deserialize_with` for a secret [`Word`] (give it `default` too when optional).
pub fn secret_word<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    parsed_some::<D, Word>(d).map(|w| w.map(|w| Secret::new(w.0)))
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// `raw` as an http(s) URL with a host, if it is one.
pub fn http_url(raw: &str) -> Option<url::Url> {
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

impl Parse for url::Url {
    fn parse(raw: &str) -> Result<Self, Problem> {
        http_url(raw).ok_or_else(|| Problem::new("not an http(s) URL"))
    }
}

/// `deserialize_with` for a secret http(s) URL (a robot's webhook: it carries the key).
pub fn secret_url<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let raw = String::deserialize(d)?;
    let secret = Secret::new(raw);
    match http_url(secret.expose()) {
        Some(_) => Ok(secret),
        None => Err(Problem::new("not an http(s) URL").error()),
    }
}

/// `deserialize_with` for a list of names kept in lower case (host names).
pub fn lowercase_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d).map(|v| v.into_iter().map(|s| s.to_ascii_lowercase()).collect())
}

/// A settings error on its way out of serde: the field and the item it is about.
#[derive(Debug)]
pub struct Error {
    field: Option<String>,
    item: Option<String>,
    problem: Problem,
    missing: bool,
}

impl Error {
    fn about(mut self, field: &str, item: &str) -> Self {
        self.field.get_or_insert_with(|| field.to_owned());
        self.item.get_or_insert_with(|| item.to_owned());
        self
    }

    fn item(mut self, item: &str) -> Self {
        self.item.get_or_insert_with(|| item.to_owned());
        self
    }

    fn into_config(self, keys: &[&SettingKey]) -> ConfigError {
        let key = self
            .field
            .as_deref()
            .and_then(|field| keys.iter().find(|k| name(k) == field));
        let Some(key) = key else {
            // A field without a declared key: the declaration and the struct disagree.
            let var = keys.first().map_or("LOOKOUT_CONFIG", |k| k.var);
            return ConfigError::invalid(
                var,
                "",
                format!(
                    "lookout's settings declare no key for {:?} ({})",
                    self.field.unwrap_or_default(),
                    self.problem.reason
                ),
                "report this: it is a bug in lookout",
            );
        };
        let hint = self.problem.hint.unwrap_or_else(|| hint_of(key));
        if self.missing {
            return ConfigError::Missing { var: key.var, hint };
        }
        // A secret, or what holds one (a URL with its key), is never quoted.
        let shown = match self.problem.shown {
            Some(shown) => shown,
            None => mask_userinfo(&self.item.unwrap_or_default()),
        };
        let value = if key.secret || crate::redact::scrub(&shown) != shown {
            crate::redact::REDACTED.to_owned()
        } else {
            shown
        };
        ConfigError::Invalid {
            var: key.var,
            value,
            reason: self.problem.reason,
            hint,
        }
    }
}

/// A key's hint, or one made from its doc.
pub fn hint_of(key: &SettingKey) -> String {
    if !key.hint.is_empty() {
        key.hint.to_owned()
    } else if !key.doc.is_empty() {
        format!("set it to {}", key.doc)
    } else {
        "see docs/configuration.md".to_owned()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.reason)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let text = msg.to_string();
        let mut parts = text.split(SEPARATOR);
        let mut problem = Problem::new(parts.next().unwrap_or_default());
        if let Some(hint) = parts.next().filter(|h| !h.is_empty()) {
            problem = problem.hint(hint);
        }
        if let Some(shown) = parts.next() {
            problem = problem.quoting(shown);
        }
        Error {
            field: None,
            item: None,
            problem,
            missing: false,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            field: Some(field.to_owned()),
            item: None,
            problem: Problem::new("not set"),
            missing: true,
        }
    }
}

/// The variables that are set, by field. A field named `@…` (`#[serde(rename = "@tencent")]`) is
/// a group of keys read as a struct of its own from the same variables (the Tencent Cloud key).
#[derive(Clone)]
struct Fields {
    entries: Vec<(&'static str, String)>,
    names: Vec<&'static str>,
}

impl<'de> Deserializer<'de> for Fields {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_struct("", &[], visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if let Some(field) = fields
            .iter()
            .find(|f| !f.starts_with('@') && !self.names.contains(f))
        {
            return Err(Error {
                field: Some((*field).to_owned()),
                item: None,
                problem: Problem::new("no key is declared for it"),
                missing: false,
            });
        }
        let groups: Vec<&'static str> = fields
            .iter()
            .copied()
            .filter(|f| f.starts_with('@'))
            .collect();
        visitor.visit_map(FieldAccess {
            entries: self.entries.clone().into_iter(),
            groups: groups.into_iter(),
            fields: self,
            current: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct FieldAccess {
    entries: std::vec::IntoIter<(&'static str, String)>,
    groups: std::vec::IntoIter<&'static str>,
    fields: Fields,
    /// The field whose value comes next, and its text (`None` for a group).
    current: Option<(&'static str, Option<String>)>,
}

impl<'de> de::MapAccess<'de> for FieldAccess {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let (field, raw) = match self.entries.next() {
            Some((field, raw)) => (field, Some(raw)),
            None => match self.groups.next() {
                Some(group) => (group, None),
                None => return Ok(None),
            },
        };
        self.current = Some((field, raw));
        seed.deserialize(field.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.current.take() {
            Some((field, Some(raw))) => seed
                .deserialize(Value(&raw))
                .map_err(|e| e.about(field, &raw)),
            _ => seed.deserialize(self.fields.clone()),
        }
    }
}

/// One variable's text, read as its field's type asks.
struct Value<'a>(&'a str);

macro_rules! numbers {
    ($($method:ident $visit:ident $ty:ty, $reason:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0.parse::<$ty>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(Problem::new($reason).error()),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Value<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_string(self.0.to_owned())
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => visitor.visit_bool(true),
            "false" | "no" | "0" => visitor.visit_bool(false),
            _ => Err(Problem::new("not true or false")
                .hint("set it to true or false")
                .error()),
        }
    }

    numbers! {
        deserialize_u8 visit_u8 u8, "not a whole number";
        deserialize_u16 visit_u16 u16, "not a whole number";
        deserialize_u32 visit_u32 u32, "not a whole number";
        deserialize_u64 visit_u64 u64, "not a whole number";
        deserialize_i8 visit_i8 i8, "not a whole number";
        deserialize_i16 visit_i16 i16, "not a whole number";
        deserialize_i32 visit_i32 i32, "not a whole number";
        deserialize_i64 visit_i64 i64, "not a whole number";
        deserialize_f32 visit_f32 f32, "not a number";
        deserialize_f64 visit_f64 f64, "not a number";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Items(items(self.0)))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Pairs {
            items: items(self.0),
            value: None,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self.0.to_owned().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple
        tuple_struct struct identifier ignored_any
    }
}

/// A list's items: comma-separated, trimmed, blank ones dropped.
fn items(raw: &str) -> std::vec::IntoIter<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
}

struct Items(std::vec::IntoIter<String>);

impl<'de> de::SeqAccess<'de> for Items {
    type Error = Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(item) = self.0.next() else {
            return Ok(None);
        };
        seed.deserialize(Value(&item))
            .map(Some)
            .map_err(|e| e.item(&item))
    }
}

/// `name=value,...`.
struct Pairs {
    items: std::vec::IntoIter<String>,
    value: Option<(String, String)>,
}

impl<'de> de::MapAccess<'de> for Pairs {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let Some((name, value)) = item
            .split_once('=')
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        else {
            return Err(Problem::new("not name=value").error::<Error>().item(&item));
        };
        let key = seed.deserialize(Value(&name)).map_err(|e| e.item(&item))?;
        self.value = Some((value, item));
        Ok(Some(key))
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (value, item) = self.value.take().unwrap_or_default();
        seed.deserialize(Value(&value)).map_err(|e| e.item(&item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{list, one, pairs, variable};
    use std::collections::BTreeMap;

    const KEYS: &[SettingKey] = &[
        one("timeout_ms", "T_TIMEOUT_MS").default("5000"),
        one("retries", "T_RETRIES").hint("set it to 0 to 10"),
        list("hosts", "T_HOSTS").hint("set it to hosts"),
        pairs("limits", "T_LIMITS").hint("set it to name=number"),
        one("token", "T_TOKEN").secret().hint("copy the token"),
        one("on", "T_ON"),
        one("name", "T_NAME").hint("name it"),
        variable("T_CONCURRENCY").default("8"),
    ];

    #[derive(Debug, Deserialize)]
    struct Settings {
        #[serde(rename = "timeout_ms", deserialize_with = "millis")]
        timeout: Duration,
        #[serde(default, deserialize_with = "between::<_, u32, 0, 10>")]
        retries: u32,
        #[serde(default)]
        hosts: Vec<String>,
        #[serde(default)]
        limits: BTreeMap<String, u64>,
        #[serde(default, deserialize_with = "secret_word")]
        token: Option<Secret>,
        #[serde(default)]
        on: bool,
        name: String,
        #[serde(
            rename = "T_CONCURRENCY",
            deserialize_with = "between::<_, usize, 1, 900>"
        )]
        concurrency: usize,
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        read(&Env::from_pairs(pairs.iter().copied()), &[KEYS])
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        settings(pairs).unwrap_err().to_string()
    }

    #[test]
    fn values_defaults_lists_pairs_and_flags_are_read() {
        let s = settings(&[
            ("T_NAME", "web"),
            ("T_RETRIES", "3"),
            ("T_HOSTS", " a, ,b "),
            ("T_LIMITS", "orders=5, audit = 7"),
            ("T_ON", "Yes"),
        ])
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.retries, 3);
        assert_eq!(s.hosts, ["a", "b"]);
        assert_eq!(s.limits["audit"], 7);
        assert!(s.on);
        assert_eq!(s.concurrency, 8);
        assert_eq!(s.name, "web");
        assert!(s.token.is_none());
    }

    #[test]
    fn errors_name_the_variable_quote_the_item_and_hint() {
        assert_eq!(error(&[]), "T_NAME is not set: name it");
        assert_eq!(
            error(&[("T_NAME", "x"), ("T_RETRIES", "11")]),
            "T_RETRIES=\"11\" is not valid (more than 10): set it to 0 to 10"
        );
        assert_eq!(
            error(&[("T_NAME", "x"), ("T_TIMEOUT_MS", "ten")]),
            "T_TIMEOUT_MS=\"ten\" is not valid (not a whole number): set it to a whole number of milliseconds, e.g. 5000"
        );
        assert!(error(&[("T_NAME", "x"), ("T_TIMEOUT_MS", "0")]).contains("more than 0 ms"));
        assert_eq!(
            error(&[("T_NAME", "x"), ("T_LIMITS", "a=1,b")]),
            "T_LIMITS=\"b\" is not valid (not name=value): set it to name=number"
        );
        assert_eq!(
            error(&[("T_NAME", "x"), ("T_LIMITS", "a=many")]),
            "T_LIMITS=\"a=many\" is not valid (not a whole number): set it to name=number"
        );
        assert!(error(&[("T_NAME", "x"), ("T_ON", "maybe")]).contains("not true or false"));
        assert!(error(&[("T_NAME", "x"), ("T_CONCURRENCY", "0")]).contains("less than 1"));
    }

    #[test]
    fn a_secret_is_never_quoted() {
        let text = error(&[("T_NAME", "x"), ("T_TOKEN", "tok en-hunter3")]);
        assert!(text.starts_with("T_TOKEN=\"<redacted>\""), "{text}");
        assert!(!text.contains("hunter3"), "{text}");
        assert_eq!(crate::redact::scrub("say tok en-hunter3"), "say <redacted>");
    }

    #[test]
    fn a_field_without_a_declared_key_is_a_bug_said_at_once() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Wrong {
            undeclared: Option<String>,
        }
        let error = read::<Wrong>(&Env::default(), &[KEYS]).unwrap_err();
        assert!(error.to_string().contains("\"undeclared\""), "{error}");
    }

    impl super::Settings for Settings {
        const KEYS: &'static [&'static [SettingKey]] = &[KEYS, GROUPED];
    }

    /// Keys of a group read as a struct of its own, and not counted as the type's own.
    const GROUPED: &[SettingKey] = &[variable("T_KEY_ID").hint("set the key")];

    #[test]
    fn nothing_of_its_own_set_is_no_settings() {
        let none: Option<Settings> =
            settings_if_set(&Env::from_pairs([("T_KEY_ID", "k")])).unwrap();
        assert!(none.is_none());
        let error = settings_if_set::<Settings>(&Env::from_pairs([("T_ON", "1")])).unwrap_err();
        assert_eq!(error.to_string(), "T_NAME is not set: name it");
    }

    #[derive(Debug, Deserialize)]
    struct Grouped {
        #[serde(rename = "@key")]
        key: Key,
        name: String,
    }

    #[derive(Debug, Deserialize)]
    struct Key {
        #[serde(rename = "T_KEY_ID", deserialize_with = "word")]
        id: String,
    }

    #[test]
    fn a_group_is_read_from_the_same_variables_and_its_errors_name_its_variables() {
        let keys: &[&[SettingKey]] = &[KEYS, GROUPED];
        let env = Env::from_pairs([("T_NAME", "web"), ("T_KEY_ID", "AKID1")]);
        let grouped: Grouped = read(&env, keys).unwrap();
        assert_eq!(
            (grouped.key.id.as_str(), grouped.name.as_str()),
            ("AKID1", "web")
        );
        let missing = read::<Grouped>(&Env::from_pairs([("T_NAME", "web")]), keys).unwrap_err();
        assert_eq!(missing.to_string(), "T_KEY_ID is not set: set the key");
        let bad = read::<Grouped>(
            &Env::from_pairs([("T_NAME", "web"), ("T_KEY_ID", "a b")]),
            keys,
        )
        .unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("T_KEY_ID=\"a b\" is not valid (it holds a space)"),
            "{bad}"
        );
    }
}
