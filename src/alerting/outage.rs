//! lookout's own outage: when most of a function's targets fail at once in the way a broken network
//! fails (no name, no connection, no answer, no TLS), and the canary (a site trusted to be up) fails
//! too, the fault is lookout's, not the targets'. The tick then raises one monitor error instead of
//! an incident per target, and no target incident opens or escalates in it; the next tick judges
//! them again.

use serde::Deserialize;

use crate::checks::{CheckResult, Failure, Figures, Health, Measurement};
use crate::config::read::{self, Problem};
use crate::config::{SettingKey, one};

/// The fewest monitors a tick must check for their failures to be read as lookout's own.
pub const MIN_MONITORS: usize = 5;
/// The failure kinds of a network that reaches nothing.
pub use crate::checks::confirm::REACHABILITY;
/// The name of the incident of lookout's own outage (after the function: `site-status:lookout`).
pub const TARGET: &str = "lookout's own network";

/// The keys of `defaults` (and the variables of a stack without a file).
pub const OUTAGE_KEYS: &[SettingKey] = &[
    one("canary", "ALERT_CANARY_URL")
        .parameter()
        .doc("a site you trust to be up: when most targets fail to connect and it fails too, the tick is lookout's own outage (one monitor error), not the targets'")
        .hint("give an http(s) URL of a site that is always up"),
    one("monitor_outage_ratio", "ALERT_MONITOR_OUTAGE_RATIO")
        .parameter()
        .default("0.8")
        .doc("the share of a tick's monitors (at least 5) that must fail with dns, connect, timeout or tls for the tick to be read as lookout's own outage (and the canary, when set, fail too)")
        .hint("give a share between 0.1 and 1, such as 0.8"),
];

/// How a function tells its own outage from its targets'.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutageGuard {
    /// `canary`: a site trusted to be up.
    #[serde(rename = "canary", default, deserialize_with = "read::parsed_some")]
    pub canary: Option<url::Url>,
    /// `monitor_outage_ratio`.
    #[serde(rename = "monitor_outage_ratio", deserialize_with = "ratio")]
    pub ratio: f64,
}

impl Default for OutageGuard {
    fn default() -> Self {
        OutageGuard {
            canary: None,
            ratio: 0.8,
        }
    }
}

impl read::Settings for OutageGuard {
    const KEYS: &'static [&'static [SettingKey]] = &[OUTAGE_KEYS];
}

fn ratio<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let raw = String::deserialize(d)?;
    match raw.trim().parse::<f64>() {
        Ok(ratio) if (0.1..=1.0).contains(&ratio) => Ok(ratio),
        Ok(_) => Err(Problem::new("not between 0.1 and 1").error()),
        Err(_) => Err(Problem::new("not a number").error()),
    }
}

/// What the results of a tick say of lookout's own network, before the canary is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspicion {
    /// Monitors that failed as an unreachable network does.
    pub failed: usize,
    /// Monitors checked.
    pub of: usize,
    /// Their failure kinds, in the order of [`REACHABILITY`].
    pub kinds: Vec<&'static str>,
}

impl OutageGuard {
    /// A suspicion of lookout's own outage: at least [`MIN_MONITORS`] checked and at least `ratio`
    /// of them failing with a reachability kind.
    pub fn suspect<'a>(&self, results: impl Iterator<Item = &'a CheckResult>) -> Option<Suspicion> {
        let mut of = 0;
        let mut failed = 0;
        let mut kinds = Vec::new();
        for result in results {
            of += 1;
            let kind = result
                .failure
                .as_ref()
                .filter(|_| result.health == Health::Failing)
                .map(|f| f.kind)
                .filter(|kind| REACHABILITY.contains(kind));
            if let Some(kind) = kind {
                failed += 1;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        kinds.sort_by_key(|k| REACHABILITY.iter().position(|r| r == k));
        (of >= MIN_MONITORS && failed as f64 >= self.ratio * of as f64).then_some(Suspicion {
            failed,
            of,
            kinds,
        })
    }
}

/// True for a result [`Suspicion`] counted: it is not judged in an outage tick.
pub fn is_unreachable(result: &CheckResult) -> bool {
    result.health == Health::Failing
        && result
            .failure
            .as_ref()
            .is_some_and(|f| REACHABILITY.contains(&f.kind))
}

/// The incident key of lookout's own outage in `function`.
pub fn key(function: &str) -> String {
    format!("{function}:lookout")
}

/// The result standing for lookout's own network in a tick: a monitor error when `outage` says
/// what failed, passing otherwise.
pub fn result(function: &str, outage: Option<(&Suspicion, bool)>) -> CheckResult {
    let failure = outage.map(|(suspicion, canary)| Failure {
        kind: crate::checks::MONITOR_ERROR.kind,
        message: format!(
            "lookout's own network looks broken: {}/{} targets{} failed with {}; their incidents wait for the next tick",
            suspicion.failed,
            suspicion.of,
            if canary { " and the canary" } else { "" },
            suspicion.kinds.join("/")
        ),
    });
    CheckResult {
        key: key(function),
        target: TARGET.into(),
        health: if failure.is_some() {
            Health::MonitorError
        } else {
            Health::Ok
        },
        failure,
        measurement: Measurement::Figures(Figures {
            values: serde_json::Map::new(),
            ms: None,
            points: Vec::new(),
        }),
        memory: None,
        since: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn result_of(kind: Option<&'static str>) -> CheckResult {
        let mut result = super::result("site-status", None);
        result.key = "site:x".into();
        if let Some(kind) = kind {
            result.health = Health::Failing;
            result.failure = Some(Failure {
                kind,
                message: kind.into(),
            });
        }
        result
    }

    #[test]
    fn most_targets_unreachable_at_once_is_a_suspicion_and_fewer_or_other_kinds_are_not() {
        let guard = OutageGuard::default();
        let mut results: Vec<CheckResult> = (0..8).map(|_| result_of(Some("connect"))).collect();
        results.push(result_of(Some("timeout")));
        results.push(result_of(None));
        let suspicion = guard.suspect(results.iter()).unwrap();
        assert_eq!((suspicion.failed, suspicion.of), (9, 10));
        assert_eq!(suspicion.kinds, ["connect", "timeout"]);
        // 7 of 10: under 0.8.
        results[0] = result_of(None);
        results[1] = result_of(Some("status"));
        assert_eq!(guard.suspect(results.iter()), None);
        // Four monitors are too few to say.
        let four: Vec<CheckResult> = (0..4).map(|_| result_of(Some("connect"))).collect();
        assert_eq!(guard.suspect(four.iter()), None);
        let message = super::result("site-status", Some((&suspicion, true)))
            .failure
            .unwrap()
            .message;
        assert!(message.starts_with(
            "lookout's own network looks broken: 9/10 targets and the canary failed with connect/timeout"
        ));
    }

    #[test]
    fn the_keys_read_or_say_what_is_wrong() {
        let read = |pairs: &[(&str, &str)]| {
            read::settings::<OutageGuard>(&Env::from_pairs(
                pairs.iter().map(|(k, v)| (*k, v.to_string())),
            ))
        };
        assert_eq!(read(&[]).unwrap(), OutageGuard::default());
        let guard = read(&[
            ("ALERT_CANARY_URL", "https://www.example.com/"),
            ("ALERT_MONITOR_OUTAGE_RATIO", "0.5"),
        ])
        .unwrap();
        assert_eq!(guard.ratio, 0.5);
        assert_eq!(guard.canary.unwrap().as_str(), "https://www.example.com/");
        for (var, value) in [
            ("ALERT_MONITOR_OUTAGE_RATIO", "1.5"),
            ("ALERT_MONITOR_OUTAGE_RATIO", "most"),
            ("ALERT_CANARY_URL", "ftp://x/"),
        ] {
            let error = read(&[(var, value)]).unwrap_err().to_string();
            assert!(error.contains(var), "{error}");
        }
    }
}
