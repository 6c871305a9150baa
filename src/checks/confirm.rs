//! Confirmation from elsewhere: when a monitor with `confirm` fails the way one vantage point can
//! make it fail (no name, no connection, no answer, TLS, a 5xx), probes of Globalping in other
//! places measure the same target in the same tick, and their verdict says whether the failure is
//! the target's (confirmed: the alert names where it fails too) or lookout's vantage point's only
//! (degraded: an incident of its own kind, told to the channels that take it, never escalated).
//! When Globalping cannot say (unreachable, rate-limited, too few probes answering), the check's
//! own verdict stands and the alert says why it was not confirmed.
//!
//! This module is the `confirm` key, the measurement each check type asks for (`http` for a site,
//! `ping` over TCP to the port for a tcp monitor, `dns` of the same name and record for a dns
//! monitor), the reading of what comes back, and the [`Confirmer`] that runs it. A probe that never
//! answered (offline, or still measuring at the deadline) counts neither way.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::speedtest::ProviderError;
use super::speedtest::globalping::{
    self, ANONYMOUS_PROBE_LIMIT, Globalping, location, measurement_request, results_of,
};
use super::{CheckResult, Health};
use crate::config::read::{self, Parse, Problem};
use crate::config::{Env, Secret, SettingKey, SetupError};

/// The failure kinds one vantage point's network can cause (no name, no connection, no answer,
/// no TLS); a site's 5xx is one too, and a dns monitor's `servfail` and `nxdomain`.
pub const REACHABILITY: &[&str] = &["dns", "connect", "timeout", "tls"];

/// The fewest minutes between two confirmations of one incident that did not confirm it (degraded,
/// or not confirmed): at most 12 measurements an hour per failing monitor. A confirmed failure is
/// not measured again until its incident ends.
pub const RECONFIRM_MINUTES: i64 = 5;

/// The `confirm` key of a type's monitors (`SITE_CONFIRM`).
pub const fn key(var: &'static str) -> SettingKey {
    crate::config::group("confirm", var)
        .doc("`{from: globalping, locations: [CN, Europe], probes: 3, quorum: 2}`: when the monitor fails to reach its target, `probes` Globalping probes in `locations` (anywhere when none) try too, in the same tick; `quorum` of them failing confirms it, fewer make it `degraded` (told only to channels with `degraded: true`, never escalated). Costs `probes` Globalping credits per failing check, at most once per `every` (see docs/confirm.md)")
        .hint("give a mapping like {from: globalping, locations: [CN, Europe], probes: 3, quorum: 2}; probes 1 to 50, quorum 1 to probes")
}

/// A monitor's `confirm`: where probes measure, how many, and how many failing confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// Where the probes should be (Globalping's locations: `CN`, `Europe`, `AS4134`); anywhere
    /// when empty.
    pub locations: Vec<String>,
    /// Probes per measurement.
    pub probes: u32,
    /// Probes that must fail too for the failure to be confirmed.
    pub quorum: u32,
}

impl Parse for Confirm {
    /// `from=globalping;locations=CN|Europe;probes=3;quorum=2`: 3 probes by default, a majority
    /// of them the quorum.
    fn parse(raw: &str) -> Result<Self, Problem> {
        let hint =
            "write it like {from: globalping, locations: [CN, Europe], probes: 3, quorum: 2}";
        let mut confirm = Confirm {
            locations: Vec::new(),
            probes: 3,
            quorum: 0,
        };
        let mut quorum = None;
        for part in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = part.split_once('=') else {
                return Err(Problem::new(format!("{part:?} is not name=value")).hint(hint));
            };
            let (name, value) = (name.trim(), value.trim());
            let number = |most: u32| {
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=most).contains(n))
                    .ok_or_else(|| {
                        Problem::new(format!(
                            "{name} {value:?} is not a whole number from 1 to {most}"
                        ))
                        .hint(hint)
                    })
            };
            match name {
                "from" if value == "globalping" => {}
                "from" => {
                    return Err(Problem::new(format!(
                        "from {value:?} is not a prober lookout has"
                    ))
                    .hint("set from: globalping (the only one)"));
                }
                "locations" => {
                    confirm.locations = value
                        .split('|')
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                "probes" => confirm.probes = number(ANONYMOUS_PROBE_LIMIT)?,
                "quorum" => quorum = Some(number(ANONYMOUS_PROBE_LIMIT)?),
                other => {
                    return Err(Problem::new(format!(
                        "{other:?} is not a setting of confirm (from, locations, probes, quorum)"
                    ))
                    .hint(hint));
                }
            }
        }
        // A majority by default: 2 of 3.
        confirm.quorum = quorum.unwrap_or(confirm.probes / 2 + 1);
        if confirm.quorum > confirm.probes {
            return Err(Problem::new(format!(
                "quorum {} is more than the {} probes asked for",
                confirm.quorum, confirm.probes
            ))
            .hint("set quorum to at most probes"));
        }
        Ok(confirm)
    }
}

/// What a failing monitor asks probes elsewhere to measure, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elsewhere {
    /// The measurement.
    pub measure: Measure,
    /// The monitor's `confirm`.
    pub confirm: Confirm,
}

/// Packets a TCP ping sends (Globalping takes 1 to 16).
const PING_PACKETS: u32 = 3;

/// What is measured from elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// The site's URL, fetched (`http`).
    Http { url: String },
    /// The port, connected to (`ping` with `protocol: TCP`).
    TcpPing { host: String, port: u16 },
    /// The name, resolved by each probe's resolver, or by `resolver` when the monitor asks a
    /// server of its own (`dns`).
    Dns {
        name: String,
        record: String,
        resolver: Option<std::net::SocketAddr>,
    },
}

impl Measure {
    /// The body of Globalping's `POST /v1/measurements` for `probes` probes in `locations`.
    pub fn request(&self, locations: &[String], probes: u32) -> Value {
        let mut request = match self {
            Measure::Http { url } => return measurement_request(url, locations, probes),
            Measure::TcpPing { host, port } => json!({
                "type": "ping",
                "target": host,
                "limit": probes,
                "measurementOptions": {"packets": PING_PACKETS, "protocol": "TCP", "port": port},
            }),
            Measure::Dns {
                name,
                record,
                resolver,
            } => {
                let mut options = json!({"query": {"type": record}});
                if let Some(server) = resolver {
                    options["resolver"] = json!(server.ip().to_string());
                    options["port"] = json!(server.port());
                }
                json!({
                    "type": "dns",
                    "target": name.trim_end_matches('.'),
                    "limit": probes,
                    "measurementOptions": options,
                })
            }
        };
        if !locations.is_empty() {
            request["locations"] = locations.iter().map(|l| location(l)).collect();
        }
        request
    }

    /// Why Globalping cannot measure it, if it cannot: it refuses private targets ("Private
    /// hostnames are not allowed"), and a probe elsewhere cannot reach a private network.
    pub fn unmeasurable(&self) -> Option<String> {
        let host = match self {
            Measure::Http { url } => url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()))
                .unwrap_or_default(),
            Measure::TcpPing { host, .. } => host.clone(),
            Measure::Dns { name, resolver, .. } => {
                if let Some(server) = resolver.filter(|s| super::site::is_internal(s.ip())) {
                    return Some(format!(
                        "its server {} is a private address probes elsewhere cannot reach",
                        server.ip()
                    ));
                }
                name.clone()
            }
        };
        is_private_host(&host)
            .then(|| format!("{host} is a private name or address probes elsewhere cannot reach"))
    }

    /// What each probe saw, from a finished (or partly finished) measurement.
    pub fn probes(&self, measurement: &Value) -> Result<Vec<Seen>, ProviderError> {
        Ok(results_of(measurement)?
            .iter()
            .filter_map(|entry| {
                let result = &entry["result"];
                let failing = match result["status"].as_str() {
                    Some("failed") => true,
                    Some("finished") => !self.reached(result),
                    // Offline, or still measuring: it saw nothing.
                    _ => return None,
                };
                Some(Seen {
                    place: place(&entry["probe"]),
                    failing,
                })
            })
            .collect())
    }

    /// True when a finished probe's result reached the target.
    fn reached(&self, result: &Value) -> bool {
        match self {
            Measure::Http { .. } => result["statusCode"]
                .as_u64()
                .is_some_and(|status| status < 500),
            // Packets received (TCP handshakes made); an older result without `rcv` says its loss.
            Measure::TcpPing { .. } => match result["stats"]["rcv"].as_u64() {
                Some(received) => received > 0,
                None => result["stats"]["loss"]
                    .as_f64()
                    .is_some_and(|loss| loss < 100.0),
            },
            Measure::Dns { .. } => {
                result["statusCodeName"].as_str() == Some("NOERROR")
                    && result["answers"].as_array().is_some_and(|a| !a.is_empty())
            }
        }
    }
}

/// True for a host only a local network knows: a private address, `localhost`, a single label,
/// or a name under `.local`, `.internal`, `.lan`, `.home.arpa` or `.localhost`.
fn is_private_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return super::site::is_internal(ip);
    }
    host.is_empty()
        || !host.contains('.')
        || [".local", ".internal", ".lan", ".home.arpa", ".localhost"]
            .iter()
            .any(|suffix| host.ends_with(suffix))
}

/// Where a probe is, as a person names it: its city, else its country.
fn place(probe: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or_default().trim().to_owned();
    let city = text(&probe["city"]);
    if city.is_empty() {
        text(&probe["country"])
    } else {
        city
    }
}

/// What one probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Where it is.
    pub place: String,
    /// It failed to reach the target too.
    pub failing: bool,
}

/// What the probes say of a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// At least `quorum` probes fail too: the failure is the target's.
    Confirmed {
        failing: usize,
        of: usize,
        places: Vec<String>,
    },
    /// Fewer than `quorum` fail: only lookout's vantage point sees it failing.
    Degraded {
        reaching: usize,
        of: usize,
        places: Vec<String>,
    },
    /// Too few probes answered to say (fewer than `quorum`): the check's own verdict stands.
    Unknown { answered: usize },
}

/// The verdict of what the probes saw, `quorum` of them failing confirming the failure.
pub fn verdict(seen: &[Seen], quorum: usize) -> Verdict {
    let of = seen.len();
    if of < quorum {
        return Verdict::Unknown { answered: of };
    }
    let (failing, reaching): (Vec<&Seen>, Vec<&Seen>) = seen.iter().partition(|s| s.failing);
    let names = |list: &[&Seen]| list.iter().map(|s| s.place.clone()).collect();
    if failing.len() >= quorum {
        Verdict::Confirmed {
            failing: failing.len(),
            of,
            places: names(&failing),
        }
    } else {
        Verdict::Degraded {
            reaching: reaching.len(),
            of,
            places: names(&reaching),
        }
    }
}

/// How a confirmation came out, kept with the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// `failing` of `of` probes failed too, at `places`.
    Confirmed {
        failing: usize,
        of: usize,
        places: Vec<String>,
    },
    /// `reaching` of `of` probes reached it, at `places`.
    Degraded {
        reaching: usize,
        of: usize,
        places: Vec<String>,
    },
    /// It could not be confirmed, and why.
    NotConfirmed { why: String },
}

impl Outcome {
    fn of(verdict: Verdict, probes: u32) -> Outcome {
        match verdict {
            Verdict::Confirmed {
                failing,
                of,
                places,
            } => Outcome::Confirmed {
                failing,
                of,
                places,
            },
            Verdict::Degraded {
                reaching,
                of,
                places,
            } => Outcome::Degraded {
                reaching,
                of,
                places,
            },
            Verdict::Unknown { answered } => Outcome::NotConfirmed {
                why: format!("only {answered} of {probes} Globalping probes answered in time"),
            },
        }
    }
}

/// A confirmation: when, and how it came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The tick it was measured on.
    pub at: DateTime<Utc>,
    /// How it came out.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// At most this many places are named in a message.
const PLACES_SHOWN: usize = 5;

fn places(places: &[String]) -> String {
    let mut shown: Vec<&str> = places
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .take(PLACES_SHOWN)
        .collect();
    if places.len() > PLACES_SHOWN {
        shown.push("…");
    }
    shown.join(", ")
}

impl Confirmation {
    /// True when it still stands on a tick at `now` (measured `every` before at most): a
    /// confirmed failure stands until its incident ends, anything else for
    /// [`RECONFIRM_MINUTES`] (or the monitor's `every`, when longer).
    pub fn stands(&self, now: DateTime<Utc>, every: Option<std::time::Duration>) -> bool {
        if matches!(self.outcome, Outcome::Confirmed { .. }) {
            return true;
        }
        let every = every.map_or(0, |e| (e.as_secs() / 60) as i64);
        (now - self.at).num_minutes() < RECONFIRM_MINUTES.max(every)
    }

    /// Applies it to a failing result: the alert says what the probes saw, and a failure only
    /// lookout's vantage point (`vantage`) sees becomes degraded.
    pub fn apply(&self, result: &mut CheckResult, vantage: &str) {
        let Some(failure) = result.failure.as_mut() else {
            return;
        };
        match &self.outcome {
            Outcome::Confirmed {
                failing,
                of,
                places: at,
            } => {
                failure.message = format!(
                    "{}; also failing from {failing}/{of} probes: {}",
                    failure.message,
                    places(at)
                );
            }
            Outcome::Degraded {
                reaching,
                of,
                places: at,
            } => {
                result.health = Health::Degraded;
                failure.message = format!(
                    "unreachable from {vantage} only; {reaching}/{of} probes reach it ({}): {}",
                    places(at),
                    failure.message
                );
            }
            Outcome::NotConfirmed { why } => {
                failure.message =
                    format!("{}; not confirmed from elsewhere: {why}", failure.message);
            }
        }
    }
}

/// Settings of the confirmer: Globalping's API and token (the speed test's variables).
#[derive(Debug, Clone, serde::Deserialize)]
struct ConfirmerSettings {
    #[serde(rename = "GLOBALPING_BASE_URL", deserialize_with = "read::parsed")]
    base_url: url::Url,
    #[serde(
        rename = "GLOBALPING_TOKEN",
        default,
        deserialize_with = "read::secret_word"
    )]
    token: Option<Secret>,
}

impl read::Settings for ConfirmerSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[VARIABLES];
}

/// The function's variables a confirmation reads.
pub const VARIABLES: &[SettingKey] = &[globalping::BASE_URL, globalping::TOKEN];

/// Runs confirmations on Globalping.
pub struct Confirmer {
    globalping: Globalping,
    /// Where lookout checks from, as alerts name it (`AWS ap-east-1`).
    pub vantage: String,
}

impl Confirmer {
    /// The confirmer from the function's variables (`GLOBALPING_BASE_URL`, `GLOBALPING_TOKEN`,
    /// and `AWS_REGION` for the vantage point's name).
    pub fn from_env(env: &Env) -> Result<Self, SetupError> {
        let settings = read::settings::<ConfirmerSettings>(env)?;
        let vantage = match env.get("AWS_REGION") {
            Some(region) if !region.trim().is_empty() => format!("AWS {}", region.trim()),
            _ => "lookout's own network".to_owned(),
        };
        Ok(Confirmer {
            globalping: Globalping::client(settings.base_url, settings.token)?,
            vantage,
        })
    }

    /// Measures from elsewhere by `deadline`: how it came out. Never fails: what went wrong is
    /// the outcome's reason.
    pub async fn confirm(&self, elsewhere: &Elsewhere, deadline: Instant) -> Outcome {
        if let Some(why) = elsewhere.measure.unmeasurable() {
            return Outcome::NotConfirmed { why };
        }
        let confirm = &elsewhere.confirm;
        let body = elsewhere
            .measure
            .request(&confirm.locations, confirm.probes);
        let measured = self.globalping.run(&body, deadline).await;
        match measured.and_then(|m| elsewhere.measure.probes(&m)) {
            Ok(seen) => Outcome::of(verdict(&seen, confirm.quorum as usize), confirm.probes),
            Err(ProviderError(why)) => Outcome::NotConfirmed { why },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(city: &str, result: Value) -> Value {
        json!({"probe": {"continent": "EU", "country": "DE", "city": city, "network": "x"}, "result": result})
    }

    #[test]
    fn each_type_asks_for_its_own_measurement() {
        let locations = vec!["CN".to_owned(), "Europe".to_owned()];
        let http = Measure::Http {
            url: "https://shop.example.com:8443/buy?x=1".into(),
        }
        .request(&locations, 3);
        assert_eq!(http["type"], "http");
        assert_eq!(http["target"], "shop.example.com");
        assert_eq!(http["measurementOptions"]["port"], 8443);
        assert_eq!(http["locations"][0], json!({"country": "CN"}));
        assert_eq!(http["locations"][1], json!({"magic": "Europe"}));
        let ping = Measure::TcpPing {
            host: "db.example.com".into(),
            port: 5432,
        }
        .request(&locations, 3);
        assert_eq!(
            ping["measurementOptions"],
            json!({"packets": 3, "protocol": "TCP", "port": 5432})
        );
        assert_eq!(
            (ping["type"].as_str(), ping["limit"].as_u64()),
            (Some("ping"), Some(3))
        );
        let dns = Measure::Dns {
            name: "example.com".into(),
            record: "MX".into(),
            resolver: None,
        }
        .request(&[], 2);
        assert_eq!(dns["measurementOptions"], json!({"query": {"type": "MX"}}));
        assert!(dns.get("locations").is_none());
    }

    #[test]
    fn probes_are_read_per_type_and_a_silent_probe_counts_neither_way() {
        let http = Measure::Http {
            url: "https://shop.example.com/".into(),
        };
        let measurement = json!({"results": [
            entry("Frankfurt", json!({"status": "finished", "statusCode": 503})),
            entry("Tokyo", json!({"status": "failed", "rawOutput": "connect ECONNREFUSED"})),
            entry("Virginia", json!({"status": "finished", "statusCode": 200})),
            entry("Paris", json!({"status": "offline"})),
            entry("", json!({"status": "in-progress"})),
        ]});
        let seen = http.probes(&measurement).unwrap();
        assert_eq!(
            seen,
            vec![
                Seen {
                    place: "Frankfurt".into(),
                    failing: true
                },
                Seen {
                    place: "Tokyo".into(),
                    failing: true
                },
                Seen {
                    place: "Virginia".into(),
                    failing: false
                },
            ]
        );
        let ping = Measure::TcpPing {
            host: "db".into(),
            port: 5432,
        };
        let seen = ping
            .probes(&json!({"results": [
                entry("A", json!({"status": "finished", "stats": {"total": 3, "rcv": 0, "loss": 100}})),
                entry("B", json!({"status": "finished", "stats": {"total": 3, "rcv": 3, "loss": 0}})),
            ]}))
            .unwrap();
        assert_eq!(
            seen.iter().map(|s| s.failing).collect::<Vec<_>>(),
            [true, false]
        );
        let dns = Measure::Dns {
            name: "example.com".into(),
            record: "A".into(),
            resolver: None,
        };
        let seen = dns
            .probes(&json!({"results": [
                entry("A", json!({"status": "finished", "statusCodeName": "NXDOMAIN", "answers": []})),
                entry("B", json!({"status": "finished", "statusCodeName": "NOERROR", "answers": [{"value": "1.2.3.4"}]})),
                entry("C", json!({"status": "finished", "statusCodeName": "NOERROR", "answers": []})),
            ]}))
            .unwrap();
        assert_eq!(
            seen.iter().map(|s| s.failing).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert!(http.probes(&json!({"id": "x"})).is_err());
    }

    #[test]
    fn a_quorum_confirms_fewer_degrade_and_too_few_answers_say_nothing() {
        let seen = |failing: &[bool]| -> Vec<Seen> {
            failing
                .iter()
                .enumerate()
                .map(|(i, f)| Seen {
                    place: format!("P{i}"),
                    failing: *f,
                })
                .collect()
        };
        assert_eq!(
            verdict(&seen(&[true, true, false]), 2),
            Verdict::Confirmed {
                failing: 2,
                of: 3,
                places: vec!["P0".into(), "P1".into()]
            }
        );
        assert_eq!(
            verdict(&seen(&[false, true, false]), 2),
            Verdict::Degraded {
                reaching: 2,
                of: 3,
                places: vec!["P0".into(), "P2".into()]
            }
        );
        assert_eq!(verdict(&seen(&[true]), 2), Verdict::Unknown { answered: 1 });
    }

    #[test]
    fn confirm_reads_its_settings_and_refuses_what_cannot_work() {
        let confirm =
            Confirm::parse("from=globalping;locations=CN|Europe;probes=3;quorum=2").unwrap();
        assert_eq!(
            confirm,
            Confirm {
                locations: vec!["CN".into(), "Europe".into()],
                probes: 3,
                quorum: 2
            }
        );
        let default = Confirm::parse("from=globalping").unwrap();
        assert_eq!((default.probes, default.quorum), (3, 2), "a majority of 3");
        assert_eq!(Confirm::parse("probes=5").unwrap().quorum, 3);
        assert_eq!(Confirm::parse("probes=1").unwrap().quorum, 1);
        for (raw, said) in [
            ("from=pingdom", "not a prober"),
            ("probes=0", "from 1 to 50"),
            ("probes=51", "from 1 to 50"),
            ("probes=3;quorum=4", "more than the 3 probes"),
            ("probes=three", "not a whole number"),
            ("where=CN", "not a setting of confirm"),
            ("CN", "not name=value"),
        ] {
            let problem = Confirm::parse(raw).expect_err(raw).to_string();
            assert!(problem.contains(said), "{raw}: {problem}");
        }
    }

    #[test]
    fn private_targets_are_not_sent_to_probes_elsewhere() {
        for host in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.9",
            "100.64.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "localhost",
            "db",
            "nas.local",
            "api.internal",
            "router.lan",
            "printer.home.arpa",
            "x.localhost.",
        ] {
            assert!(is_private_host(host), "{host}");
        }
        for host in [
            "shop.example.com",
            "1.1.1.1",
            "2001:4860:4860::8888",
            "8.8.8.8",
        ] {
            assert!(!is_private_host(host), "{host}");
        }
        let http = |url: &str| Measure::Http { url: url.into() };
        assert!(http("http://127.0.0.1:8080/").unmeasurable().is_some());
        assert!(http("http://[::1]:8080/").unmeasurable().is_some());
        assert!(http("https://shop.example.com/").unmeasurable().is_none());
        let dns = Measure::Dns {
            name: "example.com".into(),
            record: "A".into(),
            resolver: Some("10.0.0.53:53".parse().unwrap()),
        };
        assert!(dns.unmeasurable().unwrap().contains("its server 10.0.0.53"));
    }

    #[test]
    fn a_dns_monitor_asks_its_own_server_from_elsewhere() {
        let dns = Measure::Dns {
            name: "example.com.".into(),
            record: "TXT".into(),
            resolver: Some("1.1.1.1:5353".parse().unwrap()),
        }
        .request(&[], 3);
        assert_eq!(dns["target"], "example.com");
        assert_eq!(
            dns["measurementOptions"],
            json!({"query": {"type": "TXT"}, "resolver": "1.1.1.1", "port": 5353})
        );
    }

    #[test]
    fn a_confirmation_says_what_the_probes_saw_and_degrades_a_failure_only_lookout_sees() {
        use crate::checks::{Failure, Figures, Measurement};
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 6, 10, 0, 0).unwrap();
        let failing = || CheckResult {
            key: "site:shop".into(),
            target: "shop".into(),
            health: Health::Failing,
            failure: Some(Failure {
                kind: "connect",
                message: "connection refused".into(),
            }),
            measurement: Measurement::Figures(Figures {
                values: Default::default(),
                ms: None,
                points: Vec::new(),
            }),
            memory: None,
            since: None,
        };
        let confirmed = Confirmation {
            at,
            outcome: Outcome::Confirmed {
                failing: 3,
                of: 3,
                places: vec!["Frankfurt".into(), "Tokyo".into(), "Virginia".into()],
            },
        };
        let mut result = failing();
        confirmed.apply(&mut result, "AWS us-east-1");
        assert_eq!(result.health, Health::Failing);
        assert_eq!(
            result.failure.unwrap().message,
            "connection refused; also failing from 3/3 probes: Frankfurt, Tokyo, Virginia"
        );
        let degraded = Confirmation {
            at,
            outcome: Outcome::Degraded {
                reaching: 3,
                of: 3,
                places: vec!["Frankfurt".into(), "Tokyo".into(), "Virginia".into()],
            },
        };
        let mut result = failing();
        degraded.apply(&mut result, "AWS us-east-1");
        assert_eq!(result.health, Health::Degraded);
        assert_eq!(
            result.failure.unwrap().message,
            "unreachable from AWS us-east-1 only; 3/3 probes reach it (Frankfurt, Tokyo, Virginia): connection refused"
        );
        let mut result = failing();
        Confirmation {
            at,
            outcome: Outcome::NotConfirmed {
                why: "Globalping answered 500".into(),
            },
        }
        .apply(&mut result, "x");
        assert_eq!(result.health, Health::Failing);
        assert!(
            result
                .failure
                .unwrap()
                .message
                .ends_with("; not confirmed from elsewhere: Globalping answered 500")
        );
        // A confirmed failure stands until the incident ends; anything else for 5 minutes, or
        // the monitor's `every` when longer.
        let later = |m: i64| at + chrono::Duration::minutes(m);
        assert!(confirmed.stands(later(600), None));
        assert!(degraded.stands(later(4), None));
        assert!(!degraded.stands(later(5), None));
        let ten = Some(std::time::Duration::from_secs(600));
        assert!(degraded.stands(later(9), ten));
        assert!(!degraded.stands(later(10), ten));
        let kept: Confirmation =
            serde_json::from_value(serde_json::to_value(&degraded).unwrap()).unwrap();
        assert_eq!(kept, degraded);
    }
}
