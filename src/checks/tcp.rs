//! tcp: does a port answer? Connect to `host:port` within a timeout; optionally send a line and
//! expect a banner (`SSH-2.0`, `+PONG`); optionally over TLS, with the certificate's days left.
//! Run by the site-status function.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::{Check, CheckResult, CheckType, Measurement, Memory, Naming, Probe, Words, kind};
use crate::config::read::{self, Parse, Problem};
use crate::config::{ConfigError, Env, SettingKey, SetupError, one};
use crate::tick::Tick;
use serde::Deserialize;

/// `type: tcp` in `lookout.yaml`.
pub const TYPE: CheckType = CheckType {
    name: "tcp",
    function: super::site::FUNCTION,
    display: Words {
        zh: "端口",
        en: "port",
    },
    kinds: &[
        kind("dns", "域名解析失败", "DNS failure"),
        kind("connect", "连接失败", "connection failed"),
        kind("timeout", "超时", "timeout"),
        kind("tls", "TLS握手失败", "TLS handshake failed"),
        kind("certificate", "证书即将过期", "certificate expiring"),
        kind("banner", "应答不符", "unexpected answer"),
    ],
    keys: &[
        one("address", "TCP_ADDRESS")
            .doc("`host:port` to connect to (`[2001:db8::1]:5432` for IPv6)")
            .hint("set it to host:port, such as db.example.com:5432 or [2001:db8::1]:22"),
        one("timeout_ms", "TCP_TIMEOUT_MS").default("5000").doc("how long connecting, the TLS handshake and the answer may take together; default 5000"),
        one("send", "TCP_SEND").doc("text to send once connected (`\\r` and `\\n` written so are line breaks), such as `\"PING\\r\\n\"`; at most 1 KB"),
        one("expect", "TCP_EXPECT").doc("text the answer must contain within the timeout, such as `SSH-2.0` or `+PONG`; the first 4 KB are read"),
        one("tls", "TCP_TLS").doc("`true`: a TLS handshake after connecting, the certificate verified against the public roots (and `tls_ca`)"),
        one("tls_ca", "TCP_TLS_CA")
            .doc("a PEM certificate to trust as well (a private CA)")
            .hint("give the CA's certificate as PEM text, -----BEGIN CERTIFICATE----- ..."),
        one("cert_min_days", "TCP_CERT_MIN_DAYS")
            .default("14")
            .doc("with `tls`: fewer days of certificate left fails; default 14")
            .hint("set it to a whole number of days, e.g. 14"),
        super::confirm::key("TCP_CONFIRM"),
    ],
    variables: super::confirm::VARIABLES,
    host: None,
    validate: |env| read::settings::<TcpSettings>(env).map(drop),
    build: |monitors, _ledger| {
        // One client configuration for every monitor that trusts the public roots alone.
        let mut public: Option<TlsConnector> = None;
        monitors
            .into_iter()
            .map(|(env, naming)| {
                TcpCheck::boxed(read::settings::<TcpSettings>(&env)?, naming, &mut public)
            })
            .collect()
    },
};

/// The most `send` may be.
const MAX_SEND: usize = 1024;
/// How much of the answer is read for `expect`.
const MAX_READ: usize = 4096;
/// How much of an unexpected answer a message quotes.
const QUOTED: usize = 80;

/// One monitor's settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TcpSettings {
    /// `TCP_ADDRESS`: the host and the port.
    #[serde(deserialize_with = "read::parsed")]
    pub address: Address,
    /// `TCP_TIMEOUT_MS`.
    #[serde(rename = "timeout_ms", deserialize_with = "read::millis")]
    pub timeout: Duration,
    /// `TCP_SEND`, its escapes read.
    #[serde(default, deserialize_with = "send")]
    pub send: Option<Vec<u8>>,
    /// `TCP_EXPECT`.
    pub expect: Option<String>,
    /// `TCP_TLS`.
    #[serde(default)]
    pub tls: bool,
    /// `TCP_TLS_CA`: extra trusted certificates.
    #[serde(rename = "tls_ca", default, deserialize_with = "certificates")]
    pub ca: Vec<CertificateDer<'static>>,
    /// `TCP_CERT_MIN_DAYS`.
    pub cert_min_days: i64,
    /// `TCP_CONFIRM`: probes elsewhere confirm an unreachable port before it pages.
    #[serde(default, deserialize_with = "read::parsed_some")]
    pub confirm: Option<super::confirm::Confirm>,
}

impl read::Settings for TcpSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys];

    /// `send` is short, the timeout at most a minute, and the TLS keys need `tls: true`.
    fn checked(self, env: &Env) -> Result<Self, ConfigError> {
        if self.timeout > Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "TCP_TIMEOUT_MS",
                env.get("TCP_TIMEOUT_MS").unwrap_or_default(),
                "more than a minute",
                "set it to at most 60000",
            ));
        }
        if self.send.as_ref().is_some_and(|s| s.len() > MAX_SEND) {
            return Err(ConfigError::invalid(
                "TCP_SEND",
                "<long>",
                "more than 1 KB",
                "send a short request, such as PING\\r\\n",
            ));
        }
        for (var, set) in [
            ("TCP_TLS_CA", !self.ca.is_empty()),
            ("TCP_CERT_MIN_DAYS", env.is_set("TCP_CERT_MIN_DAYS")),
        ] {
            if set && !self.tls {
                return Err(ConfigError::invalid(
                    var,
                    "<set>",
                    "it needs tls: true",
                    "add tls: true, or leave it out",
                ));
            }
        }
        Ok(self)
    }
}

impl TcpSettings {
    /// `host:port`, as the user wrote it.
    pub fn address(&self) -> String {
        let Address { host, port } = &self.address;
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// A name or an address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Parse for Address {
    fn parse(raw: &str) -> Result<Self, Problem> {
        split_address(raw)
            .map(|(host, port)| Address { host, port })
            .ok_or_else(|| Problem::new("not host:port"))
    }
}

/// `send`, its escapes read.
fn send<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    Option::<String>::deserialize(d).map(|s| s.map(|s| unescape(&s)))
}

/// `tls_ca`: the PEM certificates in it (at least one).
fn certificates<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<CertificateDer<'static>>, D::Error> {
    let pem = String::deserialize(d)?;
    let found: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(unescape(&pem).as_slice())
            .collect::<Result<_, _>>()
            .unwrap_or_default();
    if found.is_empty() {
        return Err(Problem::new("no PEM certificate in it")
            .quoting("<certificate>")
            .error());
    }
    Ok(found)
}

/// `host:port` or `[v6]:port`, the host a name or an address (no path, no user, no scheme).
fn split_address(raw: &str) -> Option<(String, u16)> {
    let (host, port) = match raw.strip_prefix('[') {
        Some(rest) => {
            let (host, port) = rest.split_once("]:")?;
            host.parse::<std::net::Ipv6Addr>().ok()?;
            (host, port)
        }
        None => raw.rsplit_once(':')?,
    };
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    valid.then(|| (host.to_owned(), port))
}

/// `\r`, `\n`, `\t` and `\\` written as escapes, read as the characters (YAML's plain scalars and
/// variables cannot hold a bare line break easily).
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buffer = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('\\') => out.push(b'\\'),
            Some(other) => {
                out.push(b'\\');
                let mut buffer = [0; 4];
                out.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}

/// A TLS client trusting the public roots and `ca`.
fn tls_connector(ca: &[CertificateDer<'static>]) -> Result<TlsConnector, SetupError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for certificate in ca {
        roots.add(certificate.clone()).map_err(|e| {
            SetupError::Config(ConfigError::invalid(
                "TCP_TLS_CA",
                "<certificate>",
                format!("not a usable certificate ({e})"),
                "give the CA's certificate as PEM text",
            ))
        })?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SetupError::HttpClient(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// One monitor's check.
pub struct TcpCheck {
    settings: TcpSettings,
    naming: Naming,
    tls: Option<TlsConnector>,
}

impl TcpCheck {
    /// A check of `settings`, named by `naming`.
    pub fn boxed(
        settings: TcpSettings,
        naming: Naming,
        public: &mut Option<TlsConnector>,
    ) -> Result<Box<dyn Check>, SetupError> {
        let tls = match (settings.tls, settings.ca.is_empty(), public.as_ref()) {
            (false, ..) => None,
            (true, true, Some(shared)) => Some(shared.clone()),
            (true, true, None) => Some(public.insert(tls_connector(&[])?).clone()),
            (true, false, _) => Some(tls_connector(&settings.ca)?),
        };
        Ok(Box::new(TcpCheck {
            settings,
            naming,
            tls,
        }))
    }

    /// A probe that did not connect (or shake hands) in time: the port's fault, unless the
    /// invocation's deadline came first.
    fn timed_out(&self, cut_short: bool) -> Probe {
        let mut figures = Map::new();
        figures.insert("address".into(), json!(self.settings.address()));
        if cut_short {
            return Probe::failed(figures, super::MONITOR_ERROR.kind, self.cut_short());
        }
        let what = match &self.settings.expect {
            Some(expect) => format!("answer holding {expect:?}"),
            None if self.settings.tls => "connection and TLS handshake".to_owned(),
            None => "connection".to_owned(),
        };
        let message = format!(
            "no {what} from {} within {} ms (timeout_ms): the port is filtered, the server overloaded, or it stays silent",
            self.settings.address(),
            self.settings.timeout.as_millis()
        );
        Probe::failed(figures, "timeout", message)
    }

    /// Why a probe the invocation's deadline cut short says nothing of the port.
    fn cut_short(&self) -> String {
        format!(
            "the invocation's time ran out before {} answered: the port may be fine",
            self.settings.address()
        )
    }

    fn result(&self, probe: Probe) -> CheckResult {
        probe.result(
            super::site::FUNCTION,
            &self.naming,
            &self.settings.address(),
            "Address",
            ("connect_ms", "ConnectMs"),
        )
    }
}

impl TcpCheck {
    async fn probe(&self, now: DateTime<Utc>, until: Instant, cut_short: bool) -> Probe {
        let s = &self.settings;
        let started = Instant::now();
        let mut figures = Map::new();
        figures.insert("address".into(), json!(s.address()));
        let timeout_ms = s.timeout.as_millis();
        let addresses: Vec<std::net::SocketAddr> =
            match tokio::net::lookup_host((s.address.host.as_str(), s.address.port)).await {
                Ok(found) => found.collect(),
                Err(error) => {
                    let message = format!("cannot resolve {}: {error}", s.address.host);
                    return Probe::failed(figures, "dns", message);
                }
            };
        let stream = match TcpStream::connect(addresses.as_slice()).await {
            Ok(stream) => stream,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                let message = format!(
                    "connection refused by {}: nothing listens on the port, or a firewall rejects it",
                    s.address()
                );
                return Probe::failed(figures, "connect", message);
            }
            Err(error) => {
                let message = format!("cannot connect to {}: {error}", s.address());
                return Probe::failed(figures, "connect", message);
            }
        };
        let connect_ms = started.elapsed().as_millis() as u64;
        figures.insert("connect_ms".into(), json!(connect_ms));
        let Some(connector) = &self.tls else {
            return self
                .converse(stream, figures, timeout_ms, until, cut_short)
                .await;
        };
        let name = match ServerName::try_from(s.address.host.clone()) {
            Ok(name) => name,
            Err(_) => {
                return Probe::failed(
                    figures,
                    "tls",
                    format!("{} is not a name TLS can verify", s.address.host),
                );
            }
        };
        let stream = match connector.connect(name, stream).await {
            Ok(stream) => stream,
            Err(error) => {
                return Probe::failed(
                    figures,
                    "tls",
                    format!("the TLS handshake with {} failed: {error}", s.address()),
                );
            }
        };
        figures.insert(
            "handshake_ms".into(),
            json!(started.elapsed().as_millis() as u64),
        );
        let expires = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|der| super::site::certificate_expiry(der));
        if let Some(expires) = expires {
            let days = (expires - now).num_days();
            figures.insert("cert_days_left".into(), json!(days));
            if days < s.cert_min_days {
                return Probe::failed(
                    figures,
                    "certificate",
                    format!(
                        "the TLS certificate of {} expires in {days} days (on {}), sooner than cert_min_days={}: renew it",
                        s.address(),
                        expires.format("%Y-%m-%d"),
                        s.cert_min_days
                    ),
                );
            }
        }
        self.converse(stream, figures, timeout_ms, until, cut_short)
            .await
    }

    /// `send`, then `expect` within the first [`MAX_READ`] bytes of the answer, by `until` (the
    /// monitor's timeout, or the invocation's deadline when `cut_short`).
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        mut figures: Map<String, Value>,
        timeout_ms: u128,
        until: Instant,
        cut_short: bool,
    ) -> Probe {
        let s = &self.settings;
        if let Some(send) = &s.send
            && let Err(error) = stream.write_all(send).await
        {
            let message = format!(
                "{} closed the connection before the request was sent: {error}",
                s.address()
            );
            return Probe::failed(figures, "connect", message);
        }
        let Some(expect) = &s.expect else {
            return Probe {
                figures,
                failure: None,
            };
        };
        let mut received: Vec<u8> = Vec::new();
        let mut buffer = [0u8; 1024];
        // `Some(closed)` when the reading ended before `until`; `None` when time ran out.
        let ended = loop {
            if String::from_utf8_lossy(&received).contains(expect.as_str()) {
                figures.insert("answered".into(), json!(true));
                return Probe {
                    figures,
                    failure: None,
                };
            }
            if received.len() >= MAX_READ {
                break Some(false);
            }
            match tokio::time::timeout_at(until, stream.read(&mut buffer)).await {
                Err(_) => break None,
                Ok(Ok(0) | Err(_)) => break Some(true),
                Ok(Ok(n)) => {
                    received.extend_from_slice(&buffer[..n.min(MAX_READ - received.len())])
                }
            }
        };
        if ended.is_none() && received.is_empty() {
            if cut_short {
                return Probe::failed(figures, super::MONITOR_ERROR.kind, self.cut_short());
            }
            let message = format!(
                "{} accepted the connection but sent nothing within {timeout_ms} ms (expected {:?}): the service is hung or overloaded",
                s.address(),
                expect
            );
            return Probe::failed(figures, "timeout", message);
        }
        let closed = ended == Some(true);
        let quoted = quote(&received);
        let message = if received.is_empty() && closed {
            format!(
                "{} closed the connection without answering (expected {:?})",
                s.address(),
                expect
            )
        } else if closed {
            format!(
                "{} answered {quoted} and closed the connection, not {:?}",
                s.address(),
                expect
            )
        } else {
            format!(
                "{} answered {quoted}, not {:?} (within {timeout_ms} ms)",
                s.address(),
                expect
            )
        };
        Probe::failed(figures, "banner", message)
    }
}

/// The first [`QUOTED`] characters of what a server sent, as text that cannot be markup or a
/// control character.
fn quote(received: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(received)
        .chars()
        .take(QUOTED)
        .collect();
    format!("\"{}\"", text.escape_debug())
}

#[async_trait]
impl Check for TcpCheck {
    fn function(&self) -> &'static str {
        super::site::FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    fn holds_a_connection(&self) -> bool {
        true
    }

    /// A port that cannot be reached (no name, no connection, no answer, TLS): a TCP ping to it
    /// from elsewhere.
    fn elsewhere(&self, result: &CheckResult) -> Option<super::confirm::Elsewhere> {
        let confirm = self.settings.confirm.clone()?;
        let kind = result.failure.as_ref()?.kind;
        super::confirm::REACHABILITY
            .contains(&kind)
            .then(|| super::confirm::Elsewhere {
                measure: super::confirm::Measure::TcpPing {
                    host: self.settings.address.host.clone(),
                    port: self.settings.address.port,
                },
                confirm,
            })
    }

    async fn run(&self, tick: &Tick, _memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        let own = Instant::now() + self.settings.timeout;
        let until = own.min(deadline);
        // The answer is read by `until` inside; connecting and the handshake are bounded here.
        let probe = tokio::time::timeout_at(
            until + Duration::from_millis(100),
            self.probe(tick.time, until, deadline < own),
        )
        .await;
        vec![self.result(probe.unwrap_or_else(|_| self.timed_out(deadline < own)))]
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        let lines: Vec<String> = results
            .iter()
            .map(|r| {
                let figures = match &r.measurement {
                    Measurement::Figures(f) => {
                        let mut said = Vec::new();
                        if let Some(ms) = f.values.get("connect_ms") {
                            said.push(format!("connected in {ms} ms"));
                        }
                        if let Some(days) = f.values.get("cert_days_left") {
                            said.push(format!("certificate {days} days left"));
                        }
                        said.join(", ")
                    }
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

    fn settings(pairs: &[(&str, &str)]) -> Result<TcpSettings, ConfigError> {
        read::settings::<TcpSettings>(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn addresses_are_host_and_port_and_nothing_else() {
        let s = settings(&[("TCP_ADDRESS", "db.example.com:5432")]).unwrap();
        assert_eq!(
            (s.address.host.as_str(), s.address.port),
            ("db.example.com", 5432)
        );
        let v6 = settings(&[("TCP_ADDRESS", "[2001:db8::1]:22")]).unwrap();
        assert_eq!(
            (v6.address.host.as_str(), v6.address().as_str()),
            ("2001:db8::1", "[2001:db8::1]:22")
        );
        for bad in [
            "db.example.com",
            "db:0",
            "db:70000",
            "user@db:22",
            "http://db:80",
            ":22",
            "[db]:22",
            "db:22/x",
        ] {
            let error = settings(&[("TCP_ADDRESS", bad)]).unwrap_err().to_string();
            assert!(
                error.contains("TCP_ADDRESS") && error.contains("host:port"),
                "{bad}: {error}"
            );
        }
        assert!(
            settings(&[])
                .unwrap_err()
                .to_string()
                .contains("TCP_ADDRESS is not set")
        );
    }

    #[test]
    fn escapes_in_send_are_read_and_tls_settings_need_tls() {
        let s = settings(&[("TCP_ADDRESS", "r:6379"), ("TCP_SEND", "PING\\r\\n")]).unwrap();
        assert_eq!(s.send.as_deref(), Some(&b"PING\r\n"[..]));
        let error = settings(&[("TCP_ADDRESS", "r:6379"), ("TCP_CERT_MIN_DAYS", "7")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("needs tls: true"), "{error}");
        let error = settings(&[("TCP_ADDRESS", "r:1"), ("TCP_TLS", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("TCP_TLS"), "{error}");
        let error = settings(&[
            ("TCP_ADDRESS", "r:1"),
            ("TCP_TLS", "true"),
            ("TCP_TLS_CA", "x"),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        let error = settings(&[("TCP_ADDRESS", "r:1"), ("TCP_TIMEOUT_MS", "600000")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("more than a minute"), "{error}");
    }

    #[test]
    fn what_a_server_sent_is_quoted_as_plain_text() {
        assert_eq!(quote(b"SSH-1.99\r\n<b>"), "\"SSH-1.99\\r\\n<b>\"");
        assert_eq!(quote(&[b'x'; 200]).len(), QUOTED + 2);
    }
}
