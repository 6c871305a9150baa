//! Confirmation from elsewhere (issue 29, not wired into the checks yet): when a monitor fails the
//! way one vantage point can make it fail (no name, no connection, no answer, TLS, a 5xx), probes
//! of Globalping in other places measure the same target, and the verdict says whether they see it
//! failing too.
//!
//! This module is the measurement each check type asks for and the reading of what comes back:
//! `http` for a site, `ping` over TCP to the port for a tcp monitor, `dns` of the same name and
//! record for a dns monitor. A probe that never answered (offline, or still measuring at the
//! deadline) counts neither way.

use serde_json::{Value, json};

use super::speedtest::ProviderError;
use super::speedtest::globalping::{location, measurement_request, results_of};

/// Packets a TCP ping sends (Globalping takes 1 to 16).
const PING_PACKETS: u32 = 3;

/// What is measured from elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// The site's URL, fetched (`http`).
    Http { url: String },
    /// The port, connected to (`ping` with `protocol: TCP`).
    TcpPing { host: String, port: u16 },
    /// The name, resolved by each probe's resolver (`dns`).
    Dns { name: String, record: String },
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
            Measure::Dns { name, record } => json!({
                "type": "dns",
                "target": name,
                "limit": probes,
                "measurementOptions": {"query": {"type": record}},
            }),
        };
        if !locations.is_empty() {
            request["locations"] = locations.iter().map(|l| location(l)).collect();
        }
        request
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
            Measure::TcpPing { .. } => result["stats"]["rcv"].as_u64().is_some_and(|n| n > 0),
            Measure::Dns { .. } => {
                result["statusCodeName"].as_str() == Some("NOERROR")
                    && result["answers"].as_array().is_some_and(|a| !a.is_empty())
            }
        }
    }
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
}
