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
        ]
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
