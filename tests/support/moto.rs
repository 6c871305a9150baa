//! `moto_server`, the real-wire stand-in for AWS, started per test on 127.0.0.1:0.
//!
//! The binary comes from `MOTO_SERVER` (the Makefile points it into the project's .venv), else PATH.
//! It runs through `moto_atomic.py` with the Python next to it, which makes DynamoDB's writes atomic
//! as the service's are (moto alone lets two racing conditional writes both pass).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ACCESS_KEY_ID: &str = "AKIAMOTOTESTACCESSKEY";
pub const SECRET_ACCESS_KEY: &str = "moto-test-secret-access-key-do-not-print";
pub const REGION: &str = "us-east-1";

/// A running moto server; stopped when dropped.
pub struct Moto {
    pub url: String,
    _process: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let python = std::path::Path::new(&program)
            .parent()
            .map(|bin| bin.join("python"))
            .filter(|python| python.exists())
            .unwrap_or_else(|| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_atomic.py");
        let mut process = Command::new(&python)
            .args([script, "-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {program} ({e}): run `make test`, which installs moto[server] into .venv"));
        let stderr = process.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("http://127.0.0.1:") {
                    return line[at..].trim().to_owned();
                }
            }
            panic!("moto_server exited before it listened");
        })
        .await
        .expect("moto_server listens within 60 s");
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Moto {
            url,
            _process: process,
        }
    }

    /// Environment for a process that talks to this moto (credentials are fakes, but kept secret).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL_SESV2", self.url.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.url.clone()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.url.clone()),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", self.url.clone()),
        ]
    }

    /// Puts data points of a metric with one dimension (as Lambda does for its functions'
    /// `Throttles`: namespace `AWS/Lambda`, dimension `FunctionName`), each `(time, value)`, over
    /// CloudWatch's AWS JSON 1.0 protocol, signed as a client would.
    pub async fn put_metric(
        &self,
        namespace: &str,
        metric: &str,
        dimension: (&str, &str),
        points: &[(chrono::DateTime<chrono::Utc>, f64)],
    ) {
        let data: Vec<serde_json::Value> = points
            .iter()
            .map(|(at, value)| {
                serde_json::json!({
                    "MetricName": metric,
                    "Dimensions": [{"Name": dimension.0, "Value": dimension.1}],
                    "Timestamp": at.timestamp(),
                    "Value": value,
                    "Unit": "Count",
                })
            })
            .collect();
        let body = serde_json::json!({"Namespace": namespace, "MetricData": data}).to_string();
        let status = self
            .signed_json(
                "monitoring",
                "GraniteServiceVersion20100801.PutMetricData",
                &body,
            )
            .await;
        assert_eq!(status, 200, "moto takes the metric data");
    }

    /// A request of AWS JSON 1.0 to `service`, signed with SigV4: its status.
    async fn signed_json(&self, service: &str, target: &str, body: &str) -> u16 {
        let credentials = aws_credential_types::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "moto",
        );
        let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
        let host = self.url.trim_start_matches("http://").to_owned();
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target),
            ("host", host.as_str()),
        ];
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(service)
            .time(std::time::SystemTime::now())
            .settings(aws_sigv4::http_request::SigningSettings::default())
            .build()
            .expect("signing parameters")
            .into();
        let url = format!("{}/", self.url);
        let signable = aws_sigv4::http_request::SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
        )
        .expect("a signable request");
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
            .expect("signed")
            .into_parts();
        let mut request = reqwest::Client::new().post(&url).body(body.to_owned());
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            request = request.header(*name, *value);
        }
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("moto answers");
        response.status().as_u16()
    }

    /// The SDK configuration of a client of this moto.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_sesv2::config::{
            BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
        };
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "moto",
            )))
            .endpoint_url(&self.url)
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build()
    }

    /// An SES v2 client for this moto.
    pub fn sesv2(&self) -> aws_sdk_sesv2::Client {
        aws_sdk_sesv2::Client::new(&self.sdk_config())
    }

    /// A DynamoDB client for this moto.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config())
    }

    /// Creates a Secrets Manager secret holding `value`; returns its ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config())
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("moto creates the secret")
            .arn()
            .expect("an ARN")
            .to_owned()
    }

    /// Marks a sender identity as verified (`POST /v2/email/identities`).
    pub async fn verify_sender(&self, address: &str) {
        self.sesv2()
            .create_email_identity()
            .email_identity(address)
            .send()
            .await
            .expect("moto creates the identity");
    }

    /// Every message moto's SES accepted (its subject, body, destinations), from its record.
    pub async fn sent_emails(&self) -> Vec<serde_json::Value> {
        sent_emails(&self.data().await)
    }

    /// Moto's record of what it accepted (`GET /moto-api/data.json`).
    pub async fn data(&self) -> serde_json::Value {
        reqwest::get(format!("{}/moto-api/data.json", self.url))
            .await
            .expect("moto answers")
            .json()
            .await
            .expect("moto's data is JSON")
    }
}

/// Every message moto's SES accepted, from `/moto-api/data.json`.
pub fn sent_emails(data: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    fn walk(value: &serde_json::Value, found: &mut Vec<serde_json::Value>) {
        match value {
            serde_json::Value::Object(map) => {
                if map.contains_key("subject")
                    && (map.contains_key("body") || map.contains_key("text"))
                {
                    found.push(value.clone());
                }
                map.values().for_each(|v| walk(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    walk(&data["ses"], &mut found);
    walk(&data["sesv2"], &mut found);
    found
}
