//! dns: does a name resolve, and to what? One record type of one name, through the system's
//! resolver (hickory-resolver) or asked of a given server itself, optionally expecting a value. Run
//! by the site-status function; UDP, and TCP when an answer is truncated.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::config::{ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
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
                let system = settings.server.is_none().then(|| system_servers(&mut system));
                Ok(Box::new(DnsCheck {
                    settings,
                    naming,
                    system,
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
    /// The system's servers, for a monitor without a server of its own.
    system: Option<Servers>,
}

/// The servers a monitor asks and the options they come with, or why the system's cannot be read.
type Servers = Result<(ResolverConfig, ResolverOpts), String>;

/// The system's servers (read at start, once: `system` keeps them for the next monitor).
fn system_servers(system: &mut Option<Servers>) -> Servers {
    system
        .get_or_insert_with(|| {
            read_system_conf()
                .map_err(|e| format!("the system's resolver configuration cannot be read: {e}"))
        })
        .clone()
}

impl DnsCheck {
    /// A resolver of the system's servers for one lookup: nothing cached from an earlier tick, no
    /// hosts file, one attempt (the monitor's timeout bounds it; a truncated answer is asked again
    /// over TCP).
    fn resolver(&self) -> Result<TokioResolver, String> {
        let (config, mut options) = self
            .system
            .clone()
            .unwrap_or_else(|| Err("the monitor asks a server of its own".into()))?;
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
        let asked = match s.server {
            Some(server) => server.to_string(),
            None => "the system's resolver".to_owned(),
        };
        let started = Instant::now();
        let looked_up = match s.server {
            // A server of its own is asked itself, as `dig @server` asks it.
            Some(server) => ask(server, &s.name, s.record, s.timeout).await,
            None => match self.resolver() {
                Ok(resolver) => resolver
                    .lookup(s.name.clone(), s.record)
                    .await
                    .map(|lookup| lookup.answers().to_vec())
                    .map_err(|error| Unresolved::of(&error)),
                Err(message) => {
                    return Probe::failed(figures, super::MONITOR_ERROR.kind, message);
                }
            },
        };
        figures.insert(
            "elapsed_ms".into(),
            json!(started.elapsed().as_millis() as u64),
        );
        let target = s.target();
        let answers = match looked_up {
            Ok(answers) => answers,
            Err(unresolved) => {
                let failure = unresolved.failure(&target, &asked, s.timeout);
                return Probe {
                    figures,
                    failure: Some(failure),
                };
            }
        };
        let values: Vec<String> = answers
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

/// Why a name did not resolve.
#[derive(Debug)]
enum Unresolved {
    /// NXDOMAIN: no such name.
    NoSuchName,
    /// The name, without records of the type.
    NoRecords,
    /// Another refusal: SERVFAIL, REFUSED, ...
    Code(ResponseCode),
    /// No answer in time, or no way to ask.
    NoAnswer,
    /// An answer that cannot be read.
    Unreadable(String),
}

impl Unresolved {
    /// What the resolver's error says.
    fn of(error: &NetError) -> Unresolved {
        match error {
            NetError::Dns(DnsError::NoRecordsFound(no))
                if no.response_code == ResponseCode::NXDomain =>
            {
                Unresolved::NoSuchName
            }
            NetError::Dns(DnsError::NoRecordsFound(_)) => Unresolved::NoRecords,
            NetError::Dns(DnsError::ResponseCode(code)) => Unresolved::Code(*code),
            NetError::Timeout | NetError::NoConnections | NetError::Io(_) | NetError::Busy => {
                Unresolved::NoAnswer
            }
            other => Unresolved::Unreadable(other.to_string()),
        }
    }

    /// What it means: no such name, a server failure, no answer, or an answer that cannot be
    /// read (a monitor error: the name may be fine).
    fn failure(self, target: &str, asked: &str, timeout: Duration) -> Failure {
        let (kind, message) = match self {
            Unresolved::NoSuchName => (
                "nxdomain",
                format!(
                    "{asked} says {target} does not exist (NXDOMAIN): the name or its zone is gone"
                ),
            ),
            Unresolved::NoRecords => (
                "mismatch",
                format!("{asked} answered {target} with no records of that type"),
            ),
            Unresolved::Code(code) => (
                "servfail",
                format!(
                    "{asked} could not answer {target}: {code} (the zone's servers are failing or refuse the query)"
                ),
            ),
            Unresolved::NoAnswer => (
                "timeout",
                format!(
                    "no answer for {target} from {asked} within {} ms: the server is down or unreachable",
                    timeout.as_millis()
                ),
            ),
            Unresolved::Unreadable(why) => (
                super::MONITOR_ERROR.kind,
                format!(
                    "the answer for {target} from {asked} could not be read ({why}): the name may be fine"
                ),
            ),
        };
        Failure { kind, message }
    }
}

/// The most a UDP answer may be read as (without EDNS a server sends at most 512 bytes).
const UDP_ANSWER_BYTES: usize = 4096;

/// Asks `server` itself for `name`'s `record`s, as `dig @server` does: one query over UDP with a
/// random id from a new socket, asked again over TCP when the answer is truncated, each within
/// `timeout`. An answer whose id, flags or question are not the query's is not the answer: it is
/// left unread, as resolvers leave a spoofed one. (The resolver of hickory builds a pool, a cache
/// and shared lookups for each monitor: most of a thousand lookups' CPU time.)
async fn ask(
    server: SocketAddr,
    name: &Name,
    record: RecordType,
    timeout: Duration,
) -> Result<Vec<Record>, Unresolved> {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), record));
    let bytes = query
        .to_vec()
        .map_err(|e| Unresolved::Unreadable(e.to_string()))?;
    let answer = tokio::time::timeout(timeout, over_udp(server, &query, &bytes))
        .await
        .map_err(|_| Unresolved::NoAnswer)??;
    let answer = if answer.metadata.truncation {
        tokio::time::timeout(timeout, over_tcp(server, &query, &bytes))
            .await
            .map_err(|_| Unresolved::NoAnswer)??
    } else {
        answer
    };
    match answer.metadata.response_code {
        ResponseCode::NoError if answer.answers.is_empty() => Err(Unresolved::NoRecords),
        ResponseCode::NoError => Ok(answer.answers),
        ResponseCode::NXDomain => Err(Unresolved::NoSuchName),
        code => Err(Unresolved::Code(code)),
    }
}

/// True when `answer` answers `query`: its id, a response, the same question.
fn answers(answer: &Message, query: &Message) -> bool {
    answer.metadata.id == query.metadata.id
        && answer.metadata.message_type == MessageType::Response
        && answer.queries == query.queries
}

async fn over_udp(
    server: SocketAddr,
    query: &Message,
    bytes: &[u8],
) -> Result<Message, Unresolved> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|_| Unresolved::NoAnswer)?;
    // Connected: only the server's datagrams are read.
    socket
        .connect(server)
        .await
        .map_err(|_| Unresolved::NoAnswer)?;
    socket.send(bytes).await.map_err(|_| Unresolved::NoAnswer)?;
    let mut buffer = vec![0u8; UDP_ANSWER_BYTES];
    loop {
        let n = socket
            .recv(&mut buffer)
            .await
            .map_err(|_| Unresolved::NoAnswer)?;
        match Message::from_vec(&buffer[..n]) {
            Ok(answer) if answers(&answer, query) => return Ok(answer),
            // Not the answer (another id, a stray datagram): wait on for it.
            Ok(_) => {}
            Err(e) => return Err(Unresolved::Unreadable(e.to_string())),
        }
    }
}

async fn over_tcp(
    server: SocketAddr,
    query: &Message,
    bytes: &[u8],
) -> Result<Message, Unresolved> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(server)
        .await
        .map_err(|_| Unresolved::NoAnswer)?;
    let length = u16::try_from(bytes.len())
        .map_err(|_| Unresolved::Unreadable("the query is too long".into()))?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream
        .write_all(&framed)
        .await
        .map_err(|_| Unresolved::NoAnswer)?;
    let mut length = [0u8; 2];
    stream
        .read_exact(&mut length)
        .await
        .map_err(|_| Unresolved::NoAnswer)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|_| Unresolved::NoAnswer)?;
    match Message::from_vec(&answer) {
        Ok(answer) if answers(&answer, query) => Ok(answer),
        Ok(_) => Err(Unresolved::Unreadable(
            "the answer over TCP is not to the question asked".into(),
        )),
        Err(e) => Err(Unresolved::Unreadable(e.to_string())),
    }
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
