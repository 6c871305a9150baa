//! Globalping: create an `http` measurement from probes worldwide, poll until it finishes.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use super::{ProviderError, SpeedTestNode, SpeedTestProvider, host_of};
use crate::config::{ConfigError, Env, Secret, SetupError};

/// Globalping asks clients to poll no faster than this.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Stop polling this long before the deadline, to judge what came back.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// Where probes should be: a country code or a "magic" location string.
pub fn location(item: &str) -> Value {
    let is_country = item.len() == 2 && item.chars().all(|c| c.is_ascii_alphabetic());
    if is_country {
        json!({"country": item.to_ascii_uppercase()})
    } else {
        json!({"magic": item})
    }
}

/// The measurement request for a target (a host, or a URL whose scheme and path are used).
pub fn measurement_request(target: &str, locations: &[String], limit: u32) -> Value {
    let url = Url::parse(target).ok().filter(|u| u.host_str().is_some());
    let protocol = match url.as_ref().map(Url::scheme) {
        Some("http") => "HTTP",
        _ => "HTTPS",
    };
    let path = url.as_ref().map_or("/", Url::path);
    let mut request = json!({
        "type": "http",
        "target": host_of(target),
        "limit": limit,
        "measurementOptions": {"request": {"method": "GET", "path": path}, "protocol": protocol},
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

/// Maps a finished (or partly finished) measurement to nodes.
pub fn nodes_from(measurement: &Value) -> Result<Vec<SpeedTestNode>, ProviderError> {
    let results = measurement
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError("Globalping's answer has no results list".into()))?;
    Ok(results
        .iter()
        .map(|entry| {
            let probe = &entry["probe"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let (city, country) = (text(&probe["city"]), text(&probe["country"]));
            let result = &entry["result"];
            let timings = &result["timings"];
            let error = match result["status"].as_str() {
                Some("finished") => None,
                Some("failed") => Some(format!(
                    "the probe's request failed{}",
                    result["rawOutput"]
                        .as_str()
                        .map(|o| format!(": {}", o.lines().next().unwrap_or_default()))
                        .unwrap_or_default()
                )),
                Some("offline") => Some("the probe is offline".into()),
                _ => Some("no result before the deadline".into()),
            };
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
            }
        })
        .collect())
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
    /// From `GLOBALPING_BASE_URL`, `GLOBALPING_LOCATIONS`, `GLOBALPING_LIMIT`, `GLOBALPING_TOKEN`.
    pub fn from_env(env: &Env) -> Result<Self, SetupError> {
        let base = env.service_url("GLOBALPING_BASE_URL", "https://api.globalping.io")?;
        let hint = "set it to how many probes to use, 1 to 500";
        let limit = env.number::<u32>("GLOBALPING_LIMIT", hint)?.unwrap_or(10);
        if !(1..=500).contains(&limit) {
            return Err(ConfigError::invalid(
                "GLOBALPING_LIMIT",
                &limit.to_string(),
                "outside 1 to 500",
                hint,
            )
            .into());
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))?;
        Ok(Globalping {
            http,
            base,
            locations: env
                .list("GLOBALPING_LOCATIONS")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            limit,
            token: env.secret("GLOBALPING_TOKEN"),
            poll_interval: POLL_INTERVAL,
        })
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
        let mut waited = false;
        loop {
            let response = self
                .authorized(self.http.post(self.url("v1/measurements")).json(body))
                .send()
                .await
                .map_err(|e| {
                    ProviderError(format!("could not reach Globalping: {}", e.without_url()))
                })?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let reply: Value = response.json().await.unwrap_or(Value::Null);
            match status {
                200..=202 => {
                    return reply["id"].as_str().map(str::to_owned).ok_or_else(|| {
                        ProviderError("Globalping accepted the measurement without an id".into())
                    });
                }
                429 => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    if waited || Instant::now() + wait + DEADLINE_MARGIN >= deadline {
                        return Err(ProviderError(format!(
                            "Globalping's rate limit was reached (retry after {} s): set GLOBALPING_TOKEN for higher limits, or measure less often",
                            wait.as_secs()
                        )));
                    }
                    waited = true;
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    let message = reply["error"]["message"].as_str().unwrap_or("no message");
                    return Err(ProviderError(format!(
                        "Globalping refused the measurement (HTTP {status}): {message}"
                    )));
                }
            }
        }
    }
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
        let id = self.create(&body, deadline).await?;
        loop {
            tokio::time::sleep(self.poll_interval).await;
            let measurement: Value = self
                .authorized(self.http.get(self.url(&format!("v1/measurements/{id}"))))
                .send()
                .await
                .map_err(|e| {
                    ProviderError(format!("could not reach Globalping: {}", e.without_url()))
                })?
                .json()
                .await
                .map_err(|_| {
                    ProviderError("Globalping's answer is not the documented JSON".into())
                })?;
            let finished = measurement["status"].as_str() == Some("finished");
            if finished || Instant::now() + self.poll_interval + DEADLINE_MARGIN >= deadline {
                return nodes_from(&measurement);
            }
        }
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
        assert!(nodes_from(&json!({"status": "finished"})).is_err());
    }
}
