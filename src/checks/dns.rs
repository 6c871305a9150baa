//! dns: does a name resolve, and to what? One record type of one name, through the system's
//! resolver or a given server, optionally expecting a value. Run by the site-status function, with
//! hickory-resolver (UDP, and TCP when an answer is truncated).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::system_conf::read_system_conf;
use hickory_resolver::{Resolver, TokioResolver};
use serde_json::{Map, json};
use tokio::time::Instant;

use super::{
    Check, CheckResult, CheckType, Failure, Measurement, Memory, Naming, Probe, Words, kind,
};
use crate::config::read::{self, Problem};
use crate::config::{ConfigError, Env, SettingKey, one};
use crate::tick::Tick;
use serde::Deserialize;

/// `type: dns` in `lookout.yaml`.
pub const TYPE: CheckType = CheckType {
    name: "dns",
    function: super::site::FUNCTION,
    display: Words {
        zh: "域名解析",
        en: "DNS",
    },
    kinds: &[
        kind("nxdomain", "域名不存在", "no such name"),
        kind("servfail", "解析服务器出错", "DNS server failure"),
        kind("timeout", "超时", "timeout"),
        kind("mismatch", "解析结果不符", "unexpected answer"),
    ],
    keys: &[
        one("domain", "DNS_DOMAIN")
            .doc("the name to resolve (`www.example.com`)")
            .hint("set it to a domain name, such as www.example.com"),
        one("record", "DNS_RECORD")
            .default("A")
            .doc("`A` (default), `AAAA`, `CNAME`, `MX`, `TXT` or `NS`")
            .hint("set it to A, AAAA, CNAME, MX, TXT or NS"),
        one("server", "DNS_SERVER").hint("set it to a server's address, such as 223.5.5.5, 127.0.0.1:5353 or [2001:db8::53]:53").doc("ask this server (`223.5.5.5`, `[2001:db8::53]:53`, `127.0.0.1:5353`) rather than the system's resolver"),
        one("expect", "DNS_EXPECT").doc("a value one of the records must hold, whole or in part (`192.0.2.10`, `mail.example.com`, `v=spf1`); without it, any record passes"),
        one("timeout_ms", "DNS_TIMEOUT_MS").default("5000").doc("how long each try may take (over UDP, then over TCP when the answer is truncated); default 5000, at most 60000"),
        super::confirm::key("DNS_CONFIRM"),
    ],
    variables: super::confirm::VARIABLES,
    host: None,
    validate: |env| read::settings::<DnsSettings>(env).map(drop),
    build: |monitors, _ledger| {
        // The system's resolver configuration, read once for every monitor that uses it.
        let mut system: Option<Servers> = None;
        monitors
            .into_iter()
            .map(|(env, naming)| {
                let settings = read::settings::<DnsSettings>(&env)?;
                let servers = servers_of(settings.server, &mut system);
                Ok(Box::new(DnsCheck {
                    settings,
                    naming,
                    servers,
                }) as Box<dyn Check>)
            })
            .collect()
    },
};

/// The record types a monitor may ask for.
const RECORDS: [(&str, RecordType); 6] = [
    ("A", RecordType::A),
    ("AAAA", RecordType::AAAA),
    ("CNAME", RecordType::CNAME),
    ("MX", RecordType::MX),
    ("TXT", RecordType::TXT),
    ("NS", RecordType::NS),
];

/// How much of an answer a message quotes.
const QUOTED: usize = 200;

/// One monitor's settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DnsSettings {
    /// `DNS_DOMAIN`, fully qualified.
    #[serde(rename = "domain", deserialize_with = "domain")]
    pub name: Name,
    /// `DNS_RECORD`.
    #[serde(deserialize_with = "record")]
    pub record: RecordType,
    /// `DNS_SERVER`: the server and its port.
    #[serde(default, deserialize_with = "server")]
    pub server: Option<SocketAddr>,
    /// `DNS_EXPECT`.
    pub expect: Option<String>,
    /// `DNS_TIMEOUT_MS`.
    #[serde(rename = "timeout_ms", deserialize_with = "read::millis")]
    pub timeout: Duration,
    /// `DNS_CONFIRM`: probes elsewhere confirm a name that does not resolve before it pages.
    #[serde(default, deserialize_with = "read::parsed_some")]
    pub confirm: Option<super::confirm::Confirm>,
}

impl read::Settings for DnsSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];

    fn checked(self, env: &Env) -> Result<Self, ConfigError> {
        if self.timeout > Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "DNS_TIMEOUT_MS",
                env.get("DNS_TIMEOUT_MS").unwrap_or_default(),
                "more than a minute",
                "set it to at most 60000",
            ));
        }
        Ok(self)
    }
}

/// `domain`: a name of letters, digits, `.`, `-` and `_`, fully qualified.
fn domain<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
    let raw = String::deserialize(d)?;
    let valid = raw.len() <= 253
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let mut name = Name::from_ascii(&raw)
        .ok()
        .filter(|_| valid && !raw.starts_with('.') && !raw.contains(".."))
        .ok_or_else(|| Problem::new("not a domain name").error())?;
    name.set_fqdn(true);
    Ok(name)
}

/// `record`: one of [`RECORDS`], in any case.
fn record<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RecordType, D::Error> {
    let raw = String::deserialize(d)?;
    RECORDS
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(&raw))
        .map(|(_, record)| *record)
        .ok_or_else(|| Problem::new("not a record type lookout asks for").error())
}

/// `server`: an IP address with an optional port.
fn server<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let raw = String::deserialize(d)?;
    server_address(&raw)
        .map(Some)
        .ok_or_else(|| Problem::new("not an IP address with an optional port").error())
}

impl DnsSettings {
    /// `A www.example.com`, as targets and keys read.
    pub fn target(&self) -> String {
        format!("{} {}", self.record, shown(&self.name))
    }
}

/// `1.2.3.4`, `1.2.3.4:5353`, `2001:db8::53` or `[2001:db8::53]:53`.
fn server_address(raw: &str) -> Option<SocketAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    raw.parse::<SocketAddr>().ok().filter(|a| a.port() > 0)
}

/// A name as people write it: without the root's dot.
fn shown(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_owned()
}

/// One record's value as text: an address, a name, `10 mail.example.com`, a TXT's strings.
fn value_of(data: &RData) -> Option<String> {
    Some(match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(aaaa) => aaaa.0.to_string(),
        RData::CNAME(cname) => shown(&cname.0),
        RData::NS(ns) => shown(&ns.0),
        RData::MX(mx) => format!("{} {}", mx.preference, shown(&mx.exchange)),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect::<Vec<_>>()
            .join(""),
        _ => return None,
    })
}

/// One monitor's check.
pub struct DnsCheck {
    settings: DnsSettings,
    naming: Naming,
    servers: Servers,
}

/// The servers a monitor asks and the options they come with, or why the system's cannot be read.
type Servers = Result<(ResolverConfig, ResolverOpts), String>;

/// `server` with UDP and TCP on its port, or the system's servers (read at start, once:
/// `system` keeps them for the next monitor).
fn servers_of(server: Option<SocketAddr>, system: &mut Option<Servers>) -> Servers {
    let Some(server) = server else {
        return system
            .get_or_insert_with(|| {
                read_system_conf()
                    .map_err(|e| format!("the system's resolver configuration cannot be read: {e}"))
            })
            .clone();
    };
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    let config = ResolverConfig::from_parts(
        None,
        Vec::new(),
        vec![NameServerConfig::new(server.ip(), true, vec![udp, tcp])],
    );
    Ok((config, ResolverOpts::default()))
}

impl DnsCheck {
    /// A resolver for one lookup: nothing cached from an earlier tick, no hosts file, one attempt
    /// (the monitor's timeout bounds it; a truncated answer is asked again over TCP).
    fn resolver(&self) -> Result<TokioResolver, String> {
        let (config, mut options) = self.servers.clone()?;
        options.timeout = self.settings.timeout;
        options.attempts = 1;
        options.cache_size = 0;
        options.use_hosts_file = ResolveHosts::Never;
        options.ndots = 0;
        Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| format!("the resolver could not be built: {e}"))
    }

    fn result(&self, probe: Probe) -> CheckResult {
        probe.result(
            super::site::FUNCTION,
            &self.naming,
            &self.settings.target(),
            "Name",
            ("elapsed_ms", "ResolveMs"),
        )
    }

    async fn lookup(&self) -> Probe {
        let s = &self.settings;
        let mut figures = Map::new();
        figures.insert("name".into(), json!(shown(&s.name)));
        figures.insert("record".into(), json!(s.record.to_string()));
        let resolver = match self.resolver() {
            Ok(resolver) => resolver,
            Err(message) => return Probe::failed(figures, super::MONITOR_ERROR.kind, message),
        };
        let asked = match s.server {
            Some(server) => server.to_string(),
            None => "the system's resolver".to_owned(),
        };
        let started = Instant::now();
        let looked_up = resolver.lookup(s.name.clone(), s.record).await;
        figures.insert(
            "elapsed_ms".into(),
            json!(started.elapsed().as_millis() as u64),
        );
        let target = s.target();
        let lookup = match looked_up {
            Ok(lookup) => lookup,
            Err(error) => {
                let failure = classify(&error, &target, &asked, s.timeout);
                return Probe {
                    figures,
                    failure: Some(failure),
                };
            }
        };
        let values: Vec<String> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == s.record)
            .filter_map(|r| value_of(&r.data))
            .collect();
        figures.insert("values".into(), json!(values));
        if values.is_empty() {
            return Probe::failed(
                figures,
                "mismatch",
                format!("{asked} answered {target} with no {} record", s.record),
            );
        }
        if let Some(expect) = &s.expect {
            let wanted = expect.to_ascii_lowercase();
            if !values
                .iter()
                .any(|v| v.to_ascii_lowercase().contains(&wanted))
            {
                let said: String = values.join(", ").chars().take(QUOTED).collect();
                return Probe::failed(
                    figures,
                    "mismatch",
                    format!(
                        "{target} resolves to \"{}\", not {expect:?} ({asked})",
                        said.escape_debug()
                    ),
                );
            }
        }
        Probe {
            figures,
            failure: None,
        }
    }
}

/// What a failed lookup means: no such name, a server failure, no answer, or an answer that
/// cannot be read (a monitor error: the name may be fine).
fn classify(error: &NetError, target: &str, asked: &str, timeout: Duration) -> Failure {
    let (kind, message) = match error {
        NetError::Dns(DnsError::NoRecordsFound(no))
            if no.response_code == ResponseCode::NXDomain =>
        {
            (
                "nxdomain",
                format!(
                    "{asked} says {target} does not exist (NXDOMAIN): the name or its zone is gone"
                ),
            )
        }
        NetError::Dns(DnsError::NoRecordsFound(_)) => (
            "mismatch",
            format!("{asked} answered {target} with no records of that type"),
        ),
        NetError::Dns(DnsError::ResponseCode(code)) => (
            "servfail",
            format!(
                "{asked} could not answer {target}: {code} (the zone's servers are failing or refuse the query)"
            ),
        ),
        NetError::Timeout | NetError::NoConnections | NetError::Io(_) | NetError::Busy => (
            "timeout",
            format!(
                "no answer for {target} from {asked} within {} ms: the server is down or unreachable",
                timeout.as_millis()
            ),
        ),
        other => (
            super::MONITOR_ERROR.kind,
            format!(
                "the answer for {target} from {asked} could not be read ({other}): the name may be fine"
            ),
        ),
    };
    Failure { kind, message }
}

#[async_trait]
impl Check for DnsCheck {
    fn function(&self) -> &'static str {
        super::site::FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    fn holds_a_connection(&self) -> bool {
        true
    }

    /// A name that does not resolve (no answer, a server failure, no such name): the same name
    /// and record resolved from elsewhere, by the same server when the monitor names one.
    fn elsewhere(&self, result: &CheckResult) -> Option<super::confirm::Elsewhere> {
        let confirm = self.settings.confirm.clone()?;
        let kind = result.failure.as_ref()?.kind;
        let record = RECORDS
            .iter()
            .find(|(_, r)| *r == self.settings.record)
            .map(|(word, _)| *word)?;
        matches!(kind, "timeout" | "servfail" | "nxdomain").then(|| super::confirm::Elsewhere {
            measure: super::confirm::Measure::Dns {
                name: self.settings.name.to_ascii(),
                record: record.to_owned(),
                resolver: self.settings.server,
            },
            confirm,
        })
    }

    async fn run(&self, _tick: &Tick, _memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        let s = &self.settings;
        // The resolver's own timeout bounds each try; this bounds the whole, a TCP retry included.
        let own = Instant::now() + s.timeout * 2;
        let looked_up = tokio::time::timeout_at(own.min(deadline), self.lookup()).await;
        let probe = looked_up.unwrap_or_else(|_| {
            let mut figures = Map::new();
            figures.insert("name".into(), json!(shown(&s.name)));
            if own <= deadline {
                let message = format!(
                    "no answer for {} within {} ms: the server is down or unreachable",
                    s.target(),
                    s.timeout.as_millis()
                );
                Probe::failed(figures, "timeout", message)
            } else {
                let message = format!(
                    "the invocation's time ran out before {} was answered: the name may be fine",
                    s.target()
                );
                Probe::failed(figures, super::MONITOR_ERROR.kind, message)
            }
        });
        vec![self.result(probe)]
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        let lines: Vec<String> = results
            .iter()
            .map(|r| {
                let figures = match &r.measurement {
                    Measurement::Figures(f) => f
                        .values
                        .get("values")
                        .and_then(|v| v.as_array())
                        .map(|v| {
                            v.iter()
                                .filter_map(|v| v.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                super::summary_line(r, &figures)
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<DnsSettings, ConfigError> {
        read::settings::<DnsSettings>(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn a_monitor_names_a_name_a_record_and_perhaps_a_server() {
        let s = settings(&[("DNS_DOMAIN", "www.example.com"), ("DNS_RECORD", "mx")]).unwrap();
        assert_eq!(
            (s.target().as_str(), s.record),
            ("MX www.example.com", RecordType::MX)
        );
        assert_eq!(
            settings(&[("DNS_DOMAIN", "example.com")]).unwrap().record,
            RecordType::A
        );
        let s = settings(&[("DNS_DOMAIN", "a.test"), ("DNS_SERVER", "127.0.0.1:5353")]).unwrap();
        assert_eq!(s.server, Some("127.0.0.1:5353".parse().unwrap()));
        let s = settings(&[("DNS_DOMAIN", "a.test"), ("DNS_SERVER", "2001:db8::53")]).unwrap();
        assert_eq!(s.server, Some("[2001:db8::53]:53".parse().unwrap()));
        for (var, bad, says) in [
            ("DNS_DOMAIN", "exa mple.com", "not a domain name"),
            ("DNS_DOMAIN", "a..b", "not a domain name"),
            ("DNS_DOMAIN", "http://example.com", "not a domain name"),
            ("DNS_RECORD", "SOA", "not a record type"),
            ("DNS_SERVER", "dns.google", "not an IP address"),
            ("DNS_SERVER", "1.1.1.1:0", "not an IP address"),
            ("DNS_TIMEOUT_MS", "0", "more than 0"),
        ] {
            let mut pairs = vec![("DNS_DOMAIN", "example.com")];
            pairs.retain(|(k, _)| *k != var);
            pairs.push((var, bad));
            let error = settings(&pairs).unwrap_err().to_string();
            assert!(
                error.contains(var) && error.contains(says),
                "{bad}: {error}"
            );
        }
        assert!(
            settings(&[])
                .unwrap_err()
                .to_string()
                .contains("DNS_DOMAIN is not set")
        );
    }
}
