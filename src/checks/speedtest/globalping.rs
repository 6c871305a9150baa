//! Globalping: create an `http` measurement from probes worldwide, poll until it finishes.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use super::{ProviderError, SpeedTestNode, SpeedTestProvider, host_of};
use crate::config::{ConfigError, Env, Secret, SettingKey, SetupError, read};
use crate::retry::{self, Backoff, Retryable};

/// Globalping asks clients to poll no faster than this.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Stop polling this long before the deadline, to judge what came back.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// Globalping's continent codes: these go in `continent` (`{"country": "AS"}` is American Samoa).
const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];
/// Probes an anonymous caller may ask for in one measurement.
pub const ANONYMOUS_PROBE_LIMIT: u32 = 50;

/// `GLOBALPING_BASE_URL`: the API, for the speed test and for confirmations.
pub const BASE_URL: SettingKey = crate::config::variable("GLOBALPING_BASE_URL")
    .default("https://api.globalping.io")
    .doc("Globalping's API")
    .hint("leave it unset for https://api.globalping.io, or set the service's full URL");
/// `GLOBALPING_TOKEN`: more probes an hour.
pub const TOKEN: SettingKey = crate::config::variable("GLOBALPING_TOKEN")
    .stack_secret()
    .doc("Globalping's token, for a higher limit")
    .hint("copy the token again from globalping.io: it is printable ASCII without spaces");

/// Where probes should be: `continent:AS`, `country:AS`, `magic:...`, or without a prefix a
/// continent code (`EU`, `AS`), a country code (`CN`), or a "magic" string (`Europe`, `AS4134`).
pub fn location(item: &str) -> Value {
    let item = item.trim();
    if let Some((field, value)) = item.split_once(':') {
        let field = field.trim().to_ascii_lowercase();
        if matches!(field.as_str(), "continent" | "country" | "magic") {
            let value = value.trim();
            let value = if field == "magic" {
                value.to_owned()
            } else {
                value.to_ascii_uppercase()
            };
            return json!({ field: value });
        }
    }
    let is_code = item.len() == 2 && item.chars().all(|c| c.is_ascii_alphabetic());
    let code = item.to_ascii_uppercase();
    if is_code && CONTINENTS.contains(&code.as_str()) {
        json!({"continent": code})
    } else if is_code {
        json!({"country": code})
    } else {
        json!({"magic": item})
    }
}

/// The measurement request for a target (a host, or a URL whose scheme, port, path and query are
/// kept).
pub fn measurement_request(target: &str, locations: &[String], limit: u32) -> Value {
    let url = Url::parse(target).ok().filter(|u| u.host_str().is_some());
    let protocol = match url.as_ref().map(Url::scheme) {
        Some("http") => "HTTP",
        _ => "HTTPS",
    };
    let path = url.as_ref().map_or("/", Url::path);
    let mut http = json!({"method": "GET", "path": path});
    if let Some(query) = url.as_ref().and_then(Url::query) {
        http["query"] = json!(query);
    }
    let mut options = json!({"request": http, "protocol": protocol});
    if let Some(port) = url.as_ref().and_then(Url::port) {
        options["port"] = json!(port);
    }
    let mut request = json!({
        "type": "http",
        "target": host_of(target),
        "limit": limit,
        "measurementOptions": options,
    });
    if !locations.is_empty() {
        request["locations"] = locations.iter().map(|l| location(l)).collect();
    }
    request
}

fn number(value: &Value) -> Option<u64> {
    value
        .as_f64()
        .filter(|f| *f >= 0.0)
        .map(|f| f.round() as u64)
}

/// A measurement's per-probe results (`results`), or why its answer is not a measurement.
pub fn results_of(measurement: &Value) -> Result<&Vec<Value>, ProviderError> {
    measurement
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError("Globalping's answer has no results list".into()))
}

/// Maps a finished (or partly finished) measurement to nodes.
pub fn nodes_from(measurement: &Value) -> Result<Vec<SpeedTestNode>, ProviderError> {
    Ok(results_of(measurement)?
        .iter()
        .map(|entry| {
            let probe = &entry["probe"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let (city, country) = (text(&probe["city"]), text(&probe["country"]));
            let result = &entry["result"];
            let timings = &result["timings"];
            let status = result["status"].as_str();
            let error = match status {
                Some("finished") => None,
                Some("failed") => Some(format!(
                    "the probe's request failed{}",
                    result["rawOutput"]
                        .as_str()
                        .map(|o| format!(": {}", o.lines().next().unwrap_or_default()))
                        .unwrap_or_default()
                )),
                Some("offline") => Some("the probe is offline".into()),
                _ => Some("no result before the invocation's deadline".into()),
            };
            let unmeasured = !matches!(status, Some("finished" | "failed" | "offline"));
            SpeedTestNode {
                name: if city.is_empty() {
                    country.clone()
                } else {
                    format!("{city}, {country}")
                },
                carrier: text(&probe["network"]),
                region: [text(&probe["continent"]), country].join("/"),
                status: result["statusCode"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok()),
                total_ms: number(&timings["total"]),
                dns_ms: number(&timings["dns"]),
                connect_ms: number(&timings["tcp"]),
                download_ms: number(&timings["download"]),
                error,
                bad: None,
                unmeasured,
            }
        })
        .collect())
}

/// The Globalping provider's settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GlobalpingSettings {
    /// `GLOBALPING_BASE_URL`: the API.
    #[serde(rename = "GLOBALPING_BASE_URL", deserialize_with = "read::parsed")]
    pub base_url: Url,
    /// `GLOBALPING_LOCATIONS`: where to measure from.
    #[serde(default)]
    pub locations: Vec<String>,
    /// `GLOBALPING_LIMIT`: probes per measurement.
    #[serde(deserialize_with = "read::between::<_, u32, 1, 500>")]
    pub limit: u32,
    /// `GLOBALPING_TOKEN`: an API token, for more probes and requests.
    #[serde(
        rename = "GLOBALPING_TOKEN",
        default,
        deserialize_with = "read::secret_word"
    )]
    pub token: Option<Secret>,
}

impl read::Settings for GlobalpingSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[super::TYPE.keys, super::TYPE.variables];

    /// More than 50 probes need a token.
    fn checked(self, _env: &Env) -> Result<Self, ConfigError> {
        if self.token.is_none() && self.limit > ANONYMOUS_PROBE_LIMIT {
            return Err(ConfigError::invalid(
                "GLOBALPING_LIMIT",
                &self.limit.to_string(),
                "anonymous callers get at most 50 probes a measurement, so every measurement would be refused",
                "set it to 50 or fewer, or set GLOBALPING_TOKEN (an API token) for more",
            ));
        }
        Ok(self)
    }
}

/// The Globalping provider.
pub struct Globalping {
    http: reqwest::Client,
    base: Url,
    locations: Vec<String>,
    limit: u32,
    token: Option<Secret>,
    poll_interval: Duration,
}

impl Globalping {
    /// The provider, with its own HTTP client.
    pub fn new(settings: GlobalpingSettings) -> Result<Self, SetupError> {
        let mut provider = Globalping::client(settings.base_url, settings.token)?;
        provider.locations = settings.locations;
        provider.limit = settings.limit;
        Ok(provider)
    }

    /// A client of the API at `base` (with `token`, when given) for measurements of any kind
    /// ([`Globalping::run`]).
    pub fn client(base: Url, token: Option<Secret>) -> Result<Self, SetupError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))?;
        Ok(Globalping {
            http,
            base,
            locations: Vec::new(),
            limit: 1,
            token,
            poll_interval: POLL_INTERVAL,
        })
    }

    /// Creates the measurement `body` asks for and polls it until it finishes, or until shortly
    /// before `deadline`: the measurement as it stands then (probes still measuring say so).
    pub async fn run(&self, body: &Value, deadline: Instant) -> Result<Value, ProviderError> {
        let id = self.create(body, deadline).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        let poll_until = deadline - DEADLINE_MARGIN.min(left / 2);
        loop {
            tokio::time::sleep(self.poll_interval).await;
            let request =
                self.authorized(self.http.get(self.url(&format!("v1/measurements/{id}"))));
            let (status, _, measurement) = exchange(request, poll_until).await?;
            if status != 200 || !measurement.is_object() {
                return Err(ProviderError(format!(
                    "Globalping's answer is not the documented JSON (HTTP {status})"
                )));
            }
            let finished = measurement["status"].as_str() == Some("finished");
            if finished || Instant::now() + self.poll_interval >= poll_until {
                return Ok(measurement);
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    async fn create(&self, body: &Value, deadline: Instant) -> Result<String, ProviderError> {
        // A 429 is waited out once, when its window resets early enough to measure after it.
        let once_more = Backoff {
            base: Duration::ZERO,
            max: Duration::ZERO,
            max_attempts: 2,
        };
        let before = deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline);
        let (outcome, _) = retry::retry(once_more, before, |_| async {
            let request = self.authorized(self.http.post(self.url("v1/measurements")).json(body));
            let (status, headers, reply) =
                exchange(request, deadline).await.map_err(Created::Failed)?;
            match status {
                200..=202 => reply["id"].as_str().map(str::to_owned).ok_or_else(|| {
                    Created::Failed(ProviderError(
                        "Globalping accepted the measurement without an id".into(),
                    ))
                }),
                // The POST limiter counts probes per hour and says when its window resets
                // (X-RateLimit-Reset, seconds); it sends no Retry-After.
                429 => Err(Created::RateLimited(
                    headers
                        .get("x-ratelimit-reset")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs),
                )),
                _ => {
                    let message = reply["error"]["message"].as_str().unwrap_or("no message");
                    Err(Created::Failed(ProviderError(format!(
                        "Globalping refused the measurement (HTTP {status}): {message}"
                    ))))
                }
            }
        })
        .await;
        outcome.map_err(|error| match error {
            Created::Failed(error) => error,
            Created::RateLimited(reset) => {
                let when = reset.map_or_else(
                    || "the limit does not say when it resets".to_owned(),
                    |r| format!("it resets in {} s", r.as_secs()),
                );
                ProviderError(format!(
                    "Globalping's rate limit was reached ({when}; it counts probes per hour): set GLOBALPING_TOKEN for higher limits, or ask for fewer probes (GLOBALPING_LIMIT, confirm's probes) less often"
                ))
            }
        })
    }
}

/// Why a measurement was not created.
enum Created {
    /// Refused, unreachable or unreadable: not retried.
    Failed(ProviderError),
    /// Over the rate limit; the wait until its window resets, when it says.
    RateLimited(Option<Duration>),
}

impl Retryable for Created {
    fn is_retryable(&self) -> bool {
        matches!(self, Created::RateLimited(Some(_)))
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Created::RateLimited(reset) => *reset,
            Created::Failed(_) => None,
        }
    }
}

/// One request, answered by `deadline`: the status, the headers and the JSON body (`null` when
/// the body is not JSON).
async fn exchange(
    request: reqwest::RequestBuilder,
    deadline: Instant,
) -> Result<(u16, reqwest::header::HeaderMap, Value), ProviderError> {
    let unreachable = |e: reqwest::Error| {
        ProviderError(format!(
            "could not reach Globalping: {}",
            crate::http::describe(&e)
        ))
    };
    tokio::time::timeout_at(deadline, async {
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = crate::http::read_capped(response, crate::http::caps::GLOBALPING)
            .await
            .map_err(|e| ProviderError(format!("Globalping's answer: {}", e.shown())))?;
        Ok((
            status,
            headers,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ))
    })
    .await
    .map_err(|_| {
        ProviderError("Globalping did not answer before the invocation's deadline".into())
    })?
}

#[async_trait]
impl SpeedTestProvider for Globalping {
    fn name(&self) -> &'static str {
        "globalping"
    }

    async fn measure(
        &self,
        target: &str,
        deadline: Instant,
    ) -> Result<Vec<SpeedTestNode>, ProviderError> {
        let body = measurement_request(target, &self.locations, self.limit);
        nodes_from(&self.run(&body, deadline).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_follows_the_api() {
        let request = measurement_request(
            "http://www.example.com/health",
            &["CN".into(), "Europe".into()],
            4,
        );
        assert_eq!(
            request,
            json!({
                "type": "http", "target": "www.example.com", "limit": 4,
                "locations": [{"country": "CN"}, {"magic": "Europe"}],
                "measurementOptions": {"request": {"method": "GET", "path": "/health"}, "protocol": "HTTP"}
            })
        );
        let plain = measurement_request("www.example.com", &[], 10);
        assert_eq!(plain["measurementOptions"]["protocol"], "HTTPS");
        assert!(plain.get("locations").is_none());
    }

    #[test]
    fn continents_countries_and_magic_go_in_their_own_fields() {
        assert_eq!(
            location("AS"),
            json!({"continent": "AS"}),
            "Asia, not American Samoa"
        );
        assert_eq!(location("eu"), json!({"continent": "EU"}));
        assert_eq!(location("CN"), json!({"country": "CN"}));
        assert_eq!(location("country:as"), json!({"country": "AS"}));
        assert_eq!(location("continent:NA"), json!({"continent": "NA"}));
        assert_eq!(
            location("magic:China Telecom"),
            json!({"magic": "China Telecom"})
        );
        assert_eq!(location("AS4134"), json!({"magic": "AS4134"}));
        assert_eq!(location("Europe"), json!({"magic": "Europe"}));
    }

    #[test]
    fn the_targets_port_and_query_are_kept() {
        let request = measurement_request("https://shop.example.com:8443/health?deep=1", &[], 3);
        assert_eq!(
            request["measurementOptions"],
            json!({"request": {"method": "GET", "path": "/health", "query": "deep=1"},
                   "protocol": "HTTPS", "port": 8443})
        );
    }

    #[test]
    fn more_than_fifty_probes_need_a_token() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        let refused = read::settings::<GlobalpingSettings>(&env(&[("GLOBALPING_LIMIT", "51")]))
            .expect_err("refused")
            .to_string();
        assert!(
            refused.starts_with("GLOBALPING_LIMIT=\"51\"") && refused.contains("GLOBALPING_TOKEN"),
            "{refused}"
        );
        assert!(read::settings::<GlobalpingSettings>(&env(&[("GLOBALPING_LIMIT", "50")])).is_ok());
        assert!(
            read::settings::<GlobalpingSettings>(&env(&[
                ("GLOBALPING_LIMIT", "200"),
                ("GLOBALPING_TOKEN", "t")
            ]))
            .is_ok()
        );
    }

    #[test]
    fn probes_become_nodes() {
        let measurement = json!({"status": "finished", "results": [
            {"probe": {"continent": "EU", "country": "DE", "city": "Frankfurt", "asn": 3320, "network": "Deutsche Telekom"},
             "result": {"status": "finished", "statusCode": 200,
                        "timings": {"total": 212, "dns": 18, "tcp": 116, "tls": 40, "firstByte": 30, "download": 8}}},
            {"probe": {"continent": "AS", "country": "CN", "city": "Shanghai", "network": "China Telecom"},
             "result": {"status": "offline", "timings": {"total": null}}}
        ]});
        let nodes = nodes_from(&measurement).unwrap();
        assert_eq!(nodes[0].name, "Frankfurt, DE");
        assert_eq!(nodes[0].carrier, "Deutsche Telekom");
        assert_eq!(
            (
                nodes[0].status,
                nodes[0].total_ms,
                nodes[0].connect_ms,
                nodes[0].download_ms
            ),
            (Some(200), Some(212), Some(116), Some(8))
        );
        assert_eq!(nodes[1].error.as_deref(), Some("the probe is offline"));
        assert!(!nodes[1].unmeasured, "offline is an answer");
        let partial = json!({"status": "in-progress", "results": [
            {"probe": {"country": "CN"}, "result": {"status": "in-progress", "timings": {}}}]});
        assert!(nodes_from(&partial).unwrap()[0].unmeasured);
        assert!(nodes_from(&json!({"status": "finished"})).is_err());
    }
}
