//! One question to CloudWatch: how many times a Lambda function was throttled or failed, minute by
//! minute (`Throttles` and `Errors` of namespace `AWS/Lambda`, dimension `FunctionName`), through
//! `GetMetricData`.
//!
//! CloudWatch takes AWS JSON 1.0 beside its other protocols (`X-Amz-Target:
//! GraniteServiceVersion20100801.GetMetricData`); the request is signed with SigV4 by the SDK's own
//! signer and credentials, so one call does not link a client of the whole CloudWatch API. The
//! standard variables point it elsewhere (`AWS_ENDPOINT_URL_CLOUDWATCH`, `AWS_ENDPOINT_URL`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::{ConfigError, Env, SetupError};

/// The target of the one operation.
const TARGET: &str = "GraniteServiceVersion20100801.GetMetricData";
/// The signing name of CloudWatch.
const SERVICE: &str = "monitoring";
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Pages read at most (one page holds 100,800 data points: a week of minutes of both metrics).
const MAX_PAGES: usize = 5;
/// The most an answer may take.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// A function's metrics, per minute.
#[derive(Clone)]
pub struct FunctionMetrics {
    http: reqwest::Client,
    endpoint: url::Url,
    region: String,
    function: String,
}

/// Sums per minute, by metric name.
pub type PerMinute = BTreeMap<String, BTreeMap<DateTime<Utc>, f64>>;

impl FunctionMetrics {
    /// The metrics of the function named `function`, in the region and at the endpoint `env`
    /// gives.
    pub fn from_env(env: &Env, function: &str) -> Result<FunctionMetrics, SetupError> {
        let region = env.required_word(
            "AWS_REGION",
            "the heartbeat function reads the ingest's throttles from CloudWatch in its region: set AWS_REGION (Lambda sets it)",
        )?;
        let endpoint = match ["AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find(|var| env.is_set(var))
        {
            Some(var) => env.service_url(var, "https://monitoring.amazonaws.com")?,
            None => url::Url::parse(&format!("https://monitoring.{region}.amazonaws.com"))
                .map_err(|_| {
                    ConfigError::invalid(
                        "AWS_REGION",
                        region,
                        "is not a region name",
                        "set it to a region like ap-east-1",
                    )
                })?,
        };
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))?;
        Ok(FunctionMetrics {
            http,
            endpoint,
            region: region.to_owned(),
            function: function.to_owned(),
        })
    }

    /// The function's name.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The sums per minute of `metrics` from `start` to `end` (minutes without data are left out).
    pub async fn per_minute(
        &self,
        metrics: &[&str],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<PerMinute, String> {
        let queries: Vec<Value> = metrics
            .iter()
            .enumerate()
            .map(|(n, metric)| {
                json!({
                    "Id": format!("m{n}"),
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": metric,
                            "Dimensions": [{"Name": "FunctionName", "Value": self.function}],
                        },
                        "Period": 60,
                        "Stat": "Sum",
                    },
                    "ReturnData": true,
                })
            })
            .collect();
        let mut found: PerMinute = metrics
            .iter()
            .map(|m| (m.to_string(), BTreeMap::new()))
            .collect();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = json!({
                "MetricDataQueries": queries,
                "StartTime": start.timestamp(),
                "EndTime": end.timestamp(),
                "ScanBy": "TimestampAscending",
            });
            if let Some(token) = &token {
                body["NextToken"] = json!(token);
            }
            let answer = self.call(body.to_string()).await?;
            for result in answer
                .get("MetricDataResults")
                .and_then(Value::as_array)
                .ok_or("CloudWatch's answer has no MetricDataResults")?
            {
                let index = result
                    .get("Id")
                    .and_then(Value::as_str)
                    .and_then(|id| id.strip_prefix('m'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n < metrics.len())
                    .ok_or("CloudWatch answered a query it was not asked")?;
                let times = result.get("Timestamps").and_then(Value::as_array);
                let values = result.get("Values").and_then(Value::as_array);
                let (Some(times), Some(values)) = (times, values) else {
                    continue;
                };
                if times.len() != values.len() {
                    return Err("CloudWatch's answer has as many times as values".into());
                }
                let sums = found.entry(metrics[index].to_owned()).or_default();
                for (time, value) in times.iter().zip(values) {
                    let time = time
                        .as_f64()
                        .and_then(|t| DateTime::from_timestamp(t as i64, 0))
                        .ok_or("a time in CloudWatch's answer is not a time")?;
                    let value = value
                        .as_f64()
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .ok_or("a value in CloudWatch's answer is not a count")?;
                    *sums.entry(time).or_default() += value;
                }
            }
            token = answer
                .get("NextToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(found);
            }
        }
        Ok(found)
    }

    /// One signed request; the answer's JSON, or why there is none (never a credential).
    async fn call(&self, body: String) -> Result<Value, String> {
        use aws_credential_types::provider::ProvideCredentials;
        let config = crate::aws::sdk_config().await;
        let credentials = config
            .credentials_provider()
            .ok_or("no AWS credentials to read CloudWatch with")?
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials to read CloudWatch with: {e}"))?;
        let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
        let host = self.endpoint.host_str().unwrap_or_default();
        let host = match self.endpoint.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", TARGET),
            ("host", host.as_str()),
        ];
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(std::time::SystemTime::now())
            .settings(aws_sigv4::http_request::SigningSettings::default())
            .build()
            .map_err(|e| format!("the request could not be signed: {e}"))?
            .into();
        let url = self.endpoint.as_str();
        let signable = aws_sigv4::http_request::SignableRequest::new(
            "POST",
            url,
            headers.iter().copied(),
            aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("the request could not be signed: {e}"))?;
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
            .map_err(|e| format!("the request could not be signed: {e}"))?
            .into_parts();
        let mut request = self.http.post(url).body(body);
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            request = request.header(*name, *value);
        }
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| {
            format!(
                "CloudWatch could not be reached: {}",
                crate::http::describe(&e)
            )
        })?;
        let status = response.status().as_u16();
        let bytes = crate::http::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| format!("CloudWatch's answer could not be read: {}", e.shown()))?;
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("CloudWatch answered HTTP {status} with something not JSON"))?;
        if status != 200 {
            let code = answer
                .get("__type")
                .and_then(Value::as_str)
                .map(|t| t.rsplit('#').next().unwrap_or(t))
                .unwrap_or("an error");
            let message = answer
                .get("message")
                .or_else(|| answer.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let message: String = message.chars().take(200).collect();
            return Err(format!(
                "CloudWatch answered HTTP {status}, {code}: {message}"
            ));
        }
        Ok(answer)
    }
}
