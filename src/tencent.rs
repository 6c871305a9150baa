//! Tencent Cloud API 3.0: TC3-HMAC-SHA256 signing and a small JSON client, shared by SMS and CKafka.
//!
//! The signing steps are pure functions, each checked against the published known-answer vector.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::signing::hmac_sha256;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::{Secret, SettingKey, read, variable};

/// The API key's variables, declared once for every type that calls the API (SMS, CKafka).
pub const SECRET_ID: SettingKey = variable("TENCENTCLOUD_SECRET_ID")
    .doc("the Tencent Cloud API key's id")
    .hint(KEY_HINT);
/// The key itself.
pub const SECRET_KEY: SettingKey = variable("TENCENTCLOUD_SECRET_KEY")
    .stack_secret()
    .doc("its key")
    .hint(KEY_HINT);
/// A temporary key's token.
pub const SESSION_TOKEN: SettingKey = variable("TENCENTCLOUD_SESSION_TOKEN")
    .stack_secret()
    .doc("a temporary key's token")
    .hint("copy it again from the CAM console: it is printable ASCII without spaces");

const KEY_HINT: &str = "Tencent Cloud API calls are signed: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (a CAM key pair), printable ASCII without spaces";

/// The content type sent and signed (the official SDKs send it without a charset).
pub const CONTENT_TYPE: &str = "application/json";
/// The signed headers, in canonical order.
const SIGNED_HEADERS: &str = "content-type;host";
const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// A SecretId / SecretKey pair, with a session token for temporary credentials: a group of keys
/// in the settings of each type that calls the API (`#[serde(rename = "@tencent")]`).
#[derive(Clone, serde::Deserialize)]
pub struct Credentials {
    /// `TENCENTCLOUD_SECRET_ID`: names the key; not itself secret, but kept out of messages anyway.
    #[serde(rename = "TENCENTCLOUD_SECRET_ID", deserialize_with = "read::word")]
    pub secret_id: String,
    /// `TENCENTCLOUD_SECRET_KEY`.
    #[serde(rename = "TENCENTCLOUD_SECRET_KEY")]
    pub secret_key: Secret,
    /// `TENCENTCLOUD_SESSION_TOKEN`, for temporary credentials.
    #[serde(
        rename = "TENCENTCLOUD_SESSION_TOKEN",
        default,
        deserialize_with = "read::secret_word"
    )]
    pub token: Option<Secret>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &"<redacted>")
            .field("secret_key", &self.secret_key)
            .finish()
    }
}

/// Where and how to call one Tencent Cloud API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://<service>.tencentcloudapi.com/`, or a stand-in.
    pub url: Url,
    /// The service in the credential scope (`sms`, `ckafka`).
    pub service: &'static str,
    /// The API version (`2021-01-11`).
    pub version: &'static str,
    /// `X-TC-Region`.
    pub region: String,
}

impl Endpoint {
    /// The `Host` header value: host, and the port when it is not the scheme's default.
    pub fn host(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Step 1: the canonical request for a `POST /` with the two signed headers.
pub fn canonical_request(content_type: &str, host: &str, body: &[u8]) -> String {
    format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\n{SIGNED_HEADERS}\n{}",
        sha256_hex(body)
    )
}

/// The UTC date (`YYYY-MM-DD`) of a unix timestamp, as the credential scope wants it.
pub fn utc_date(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// Step 2: the string to sign.
pub fn string_to_sign(timestamp: i64, service: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{}/{service}/tc3_request\n{}",
        utc_date(timestamp),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Step 3: the signature, through the derived key chain.
pub fn signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

/// Step 4: the `Authorization` header for a request body sent at `timestamp`.
pub fn authorization(
    credentials: &Credentials,
    service: &str,
    host: &str,
    content_type: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let canonical = canonical_request(content_type, host, body);
    let to_sign = string_to_sign(timestamp, service, &canonical);
    let date = utc_date(timestamp);
    let signature = signature(credentials.secret_key.expose(), &date, service, &to_sign);
    format!(
        "{ALGORITHM} Credential={}/{date}/{service}/tc3_request, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        credentials.secret_id
    )
}

/// Why a call failed. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TencentError {
    /// The API answered `Response.Error`.
    #[error("{code}: {message} (RequestId {request_id})")]
    Api {
        code: String,
        message: String,
        request_id: String,
    },
    /// A non-200 HTTP status.
    #[error("HTTP {status} from the API")]
    Http { status: u16 },
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed.
    #[error("could not reach the API: {0}")]
    Transport(String),
    /// The answer was not the documented JSON.
    #[error("the API's answer is not the documented JSON: {0}")]
    Malformed(String),
}

impl TencentError {
    /// True for failures a later attempt may not see (rate limits, server trouble, the network).
    pub fn is_retryable(&self) -> bool {
        match self {
            TencentError::Api { code, .. } => {
                matches!(
                    code.as_str(),
                    "RequestLimitExceeded"
                        | "InternalError"
                        | "ResourceUnavailable"
                        | "ServiceUnavailable"
                ) || code.starts_with("RequestLimitExceeded.")
                    || code.starts_with("InternalError.")
            }
            TencentError::Http { status } => *status >= 500 || *status == 429,
            TencentError::Timeout(_) | TencentError::Transport(_) => true,
            TencentError::Malformed(_) => false,
        }
    }

    /// True when the credentials or the clock are wrong (`AuthFailure.*`).
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, TencentError::Api { code, .. } if code.starts_with("AuthFailure"))
    }

    /// The API error code, when the API answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            TencentError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Calls Tencent Cloud API 3.0 actions with signed requests.
#[derive(Clone)]
pub struct TencentClient {
    http: reqwest::Client,
    credentials: Credentials,
    timeout: Duration,
    pace: Option<std::sync::Arc<Pace>>,
}

/// A token bucket shared by every clone of a client: `burst` requests at once, then `per_second`.
/// Tencent limits each action per second as requests *arrive* (100 for `DescribeGroupOffsets`); in
/// any one second a bucket starts at most `burst + per_second`, so keeping that under the limit
/// leaves room for requests that bunch up on the way (a window of starts does not: a later batch
/// can land in the same second as an earlier one delayed in transit).
pub struct Pace {
    interval: Duration,
    burst: u32,
    /// When the next request would start were the bucket empty (the "theoretical arrival time").
    next: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Pace {
    /// A pace of `per_second` requests (at least one) after a burst of `burst` (at least one).
    pub fn new(per_second: usize, burst: usize) -> Self {
        let per_second = u32::try_from(per_second.max(1)).unwrap_or(u32::MAX);
        Pace {
            interval: Duration::from_secs(1) / per_second,
            burst: u32::try_from(burst.max(1)).unwrap_or(u32::MAX),
            next: tokio::sync::Mutex::default(),
        }
    }

    /// Waits until one more request may start, and counts it.
    pub async fn wait_turn(&self) {
        let start = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let due = next.map_or(now, |n| n.max(now));
            let slack = self.interval * (self.burst - 1);
            let start = if due <= now + slack { now } else { due - slack };
            *next = Some(due + self.interval);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

impl TencentClient {
    /// A client; `timeout` bounds each call.
    pub fn new(credentials: Credentials, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .build()?;
        Ok(TencentClient {
            http,
            credentials,
            timeout,
            pace: None,
        })
    }

    /// The same client starting `burst` requests at once, then `per_second`, all clones together.
    pub fn paced(self, per_second: usize, burst: usize) -> Self {
        TencentClient {
            pace: Some(std::sync::Arc::new(Pace::new(per_second, burst))),
            ..self
        }
    }

    /// One signed call; returns the `Response` object. Retrying is the caller's choice.
    pub async fn call(
        &self,
        endpoint: &Endpoint,
        action: &str,
        body: &Value,
    ) -> Result<Value, TencentError> {
        if let Some(pace) = &self.pace {
            pace.wait_turn().await;
        }
        let payload =
            serde_json::to_vec(body).map_err(|e| TencentError::Malformed(e.to_string()))?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let host = endpoint.host();
        let authorization = authorization(
            &self.credentials,
            endpoint.service,
            &host,
            CONTENT_TYPE,
            timestamp,
            &payload,
        );
        let mut request = self
            .http
            .post(endpoint.url.clone())
            .header("Host", &host)
            .header("Content-Type", CONTENT_TYPE)
            .header("Authorization", authorization)
            .header("X-TC-Action", action)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Version", endpoint.version)
            .header("X-TC-Region", &endpoint.region)
            .body(payload);
        if let Some(token) = &self.credentials.token {
            request = request.header("X-TC-Token", token.expose());
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(TencentError::Http {
                status: status.as_u16(),
            });
        }
        let bytes = crate::http::read_capped(response, crate::http::caps::TENCENT)
            .await
            .map_err(|e| match e {
                crate::http::BodyError::Transport(e) => self.transport_error(e),
                too_large => TencentError::Malformed(too_large.to_string()),
            })?;
        parse_response(&bytes)
    }

    fn transport_error(&self, error: reqwest::Error) -> TencentError {
        if error.is_timeout() {
            TencentError::Timeout(self.timeout)
        } else {
            TencentError::Transport(error.without_url().to_string())
        }
    }
}

/// Reads `{"Response": {...}}`, turning `Response.Error` into an error.
pub fn parse_response(bytes: &[u8]) -> Result<Value, TencentError> {
    let mut value: Value = serde_json::from_slice(bytes)
        .map_err(|e| TencentError::Malformed(format!("{e} (first bytes: {:?})", preview(bytes))))?;
    let Some(response) = value.get_mut("Response").map(Value::take) else {
        return Err(TencentError::Malformed(
            "no \"Response\" object in it".into(),
        ));
    };
    if !response.is_object() {
        return Err(TencentError::Malformed(
            "\"Response\" is not an object".into(),
        ));
    }
    if let Some(error) = response.get("Error") {
        let text = |field: &str| {
            error
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        return Err(TencentError::Api {
            code: text("Code"),
            message: text("Message"),
            request_id: response
                .get("RequestId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        });
    }
    Ok(response)
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The published known-answer vector (shared/protocols.md).
    const BODY: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const CONTENT_TYPE_WITH_CHARSET: &str = "application/json; charset=utf-8";
    const HOST: &str = "cvm.tencentcloudapi.com";
    const TIMESTAMP: i64 = 1551113065;
    const SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

    #[test]
    fn the_body_hash_matches_the_vector() {
        assert_eq!(
            sha256_hex(BODY.as_bytes()),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
    }

    #[test]
    fn the_canonical_request_hash_matches_the_vector() {
        let canonical = canonical_request(CONTENT_TYPE_WITH_CHARSET, HOST, BODY.as_bytes());
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
    }

    #[test]
    fn the_signature_matches_the_vector() {
        let canonical = canonical_request(CONTENT_TYPE_WITH_CHARSET, HOST, BODY.as_bytes());
        let to_sign = string_to_sign(TIMESTAMP, "cvm", &canonical);
        assert_eq!(
            to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            signature(SECRET_KEY, "2019-02-25", "cvm", &to_sign),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn the_authorization_header_carries_the_scope_and_signature() {
        let credentials = Credentials {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE".into(),
            secret_key: Secret::new(SECRET_KEY.into()),
            token: None,
        };
        let header = authorization(
            &credentials,
            "cvm",
            HOST,
            CONTENT_TYPE_WITH_CHARSET,
            TIMESTAMP,
            BODY.as_bytes(),
        );
        assert_eq!(
            header,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert!(!format!("{credentials:?}").contains(SECRET_KEY));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_lets_a_small_burst_through_then_spaces_requests_out() {
        let pace = std::sync::Arc::new(Pace::new(50, 10));
        let begun = tokio::time::Instant::now();
        let waits = (0..200).map(|_| {
            let pace = std::sync::Arc::clone(&pace);
            async move {
                pace.wait_turn().await;
                begun.elapsed()
            }
        });
        let mut starts = futures::future::join_all(waits).await;
        starts.sort();
        assert_eq!(starts[9], Duration::ZERO, "the burst goes at once");
        assert!(starts[10] > Duration::ZERO);
        // In any one second: at most the burst plus a second's worth.
        for (i, at) in starts.iter().enumerate() {
            let within = starts[i..]
                .iter()
                .take_while(|t| **t < *at + Duration::from_secs(1))
                .count();
            assert!(
                within <= 50 + 10,
                "{within} starts within a second of {at:?}"
            );
        }
    }

    #[test]
    fn the_scope_date_is_the_utc_date() {
        // 2019-02-25 23:30 UTC is 07:30 on the 26th in Beijing: the scope still says the 25th.
        assert_eq!(utc_date(1551137400), "2019-02-25");
    }

    #[test]
    fn errors_in_the_response_are_read() {
        let body = br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"r1"}}"#;
        let error = parse_response(body).unwrap_err();
        assert!(error.is_auth_failure() && !error.is_retryable());
        assert_eq!(
            error.to_string(),
            "AuthFailure.SignatureFailure: bad (RequestId r1)"
        );
        for code in [
            "RequestLimitExceeded",
            "ServiceUnavailable",
            "InternalError.Timeout",
        ] {
            let body = format!(
                r#"{{"Response":{{"Error":{{"Code":"{code}","Message":"later"}},"RequestId":"r2"}}}}"#
            );
            assert!(
                parse_response(body.as_bytes()).unwrap_err().is_retryable(),
                "{code}"
            );
        }
        let ok = br#"{"Response":{"RequestId":"r3","X":1}}"#;
        assert_eq!(parse_response(ok).unwrap()["X"], 1);
    }

    #[test]
    fn an_answer_that_is_not_the_documented_json_is_malformed() {
        for body in [&b"<html>502</html>"[..], b"{}", b"{\"Response\": 3}", b""] {
            assert!(
                matches!(parse_response(body), Err(TencentError::Malformed(_))),
                "{body:?}"
            );
        }
    }
}
