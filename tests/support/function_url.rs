//! A Lambda Function URL in front of a function under the emulator: each HTTP request becomes a
//! payload-format-2.0 event, and the function's answer the HTTP response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::lambda::{Outcome, RuntimeApi};

/// A Function URL event (payload format 2.0), as Lambda hands one to the function.
pub fn url_event(method: &str, path: &str, body: &[u8], at: DateTime<Utc>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abcdefg.lambda-url.us-east-1.on.aws", "user-agent": "curl/8.5.0"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefg",
            "domainName": "abcdefg.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefg",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "curl/8.5.0"},
            "requestId": "7f1c6b4e-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": at.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": at.timestamp_millis(),
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true,
    })
}

/// Serves the function behind `api` as a Function URL on 127.0.0.1; returns its base URL.
pub async fn serve(api: Arc<RuntimeApi>) -> String {
    let router = axum::Router::new()
        .fallback(
            |State(api): State<Arc<RuntimeApi>>, method: Method, uri: Uri, body: Bytes| async move {
                let event = url_event(method.as_str(), uri.path(), &body, Utc::now());
                match api.invoke(event, Duration::from_secs(20)).await {
                    Outcome::Response(answer) => {
                        let status = answer["statusCode"].as_u64().unwrap_or(502) as u16;
                        (
                            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                            answer["body"].as_str().unwrap_or_default().to_owned(),
                        )
                    }
                    // Lambda answers 502 when the function fails or times out.
                    _ => (StatusCode::BAD_GATEWAY, "Internal Server Error".to_owned()),
                }
            },
        )
        .with_state(api);
    let address: SocketAddr = super::serve(router).await;
    format!("http://{address}")
}
