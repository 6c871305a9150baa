//! A Lambda Function URL in front of a function under the emulator: each HTTP request becomes a
//! payload-format-2.0 event, and the function's answer the HTTP response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::lambda::{Outcome, RuntimeApi};

/// The most a Function URL takes in one request (Lambda's synchronous payload quota, 6 MB).
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// A Function URL event (payload format 2.0), as Lambda hands one to the function, for a body
/// sent as `text/plain`.
pub fn url_event(method: &str, path: &str, body: &[u8], at: DateTime<Utc>) -> Value {
    url_event_of(method, path, Some("text/plain"), body, at)
}

/// True for a content type whose body Lambda passes as text (otherwise it is base64).
fn is_text(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.starts_with("text/")
        || matches!(
            essence,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
        )
}

/// A Function URL event as `shared/protocols.md` has it: the body absent when empty, plain text
/// for a text content type, base64 (`isBase64Encoded`) otherwise.
pub fn url_event_of(
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
    at: DateTime<Utc>,
) -> Value {
    let mut headers =
        json!({"host": "abcdefg.lambda-url.us-east-1.on.aws", "user-agent": "curl/8.5.0"});
    if let Some(content_type) = content_type {
        headers["content-type"] = json!(content_type);
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
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
        "isBase64Encoded": false,
    });
    if !body.is_empty() {
        let text = content_type
            .filter(|t| is_text(t))
            .and_then(|_| std::str::from_utf8(body).ok());
        match text {
            Some(text) => event["body"] = json!(text),
            None => {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// Serves the function behind `api` as a Function URL on 127.0.0.1; returns its base URL. A request
/// over 6 MB is refused (413) without reaching the function; the answer's status, headers and body
/// are the response.
pub async fn serve(api: Arc<RuntimeApi>) -> String {
    let router = axum::Router::new()
        .fallback(
            |State(api): State<Arc<RuntimeApi>>,
             method: Method,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                if body.len() > MAX_REQUEST_BYTES {
                    return (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        HeaderMap::new(),
                        Vec::from("Request Entity Too Large"),
                    );
                }
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                let mut event =
                    url_event_of(method.as_str(), uri.path(), content_type, &body, Utc::now());
                event["rawQueryString"] = json!(uri.query().unwrap_or_default());
                // Every header the client sent, its name in lower case, repeated values joined
                // with commas (payload format 2.0).
                for name in headers.keys() {
                    let values: Vec<&str> = headers
                        .get_all(name)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .collect();
                    if name != header::CONTENT_TYPE && !values.is_empty() {
                        event["headers"][name.as_str()] = json!(values.join(","));
                    }
                }
                match api.invoke(event, Duration::from_secs(20)).await {
                    // Lambda refuses a response over 6 MB (the function's invocation fails: 502).
                    Outcome::Response(answer) if answer.to_string().len() > MAX_REQUEST_BYTES => (
                        StatusCode::BAD_GATEWAY,
                        HeaderMap::new(),
                        Vec::from("Internal Server Error"),
                    ),
                    Outcome::Response(answer) => {
                        let status = answer["statusCode"].as_u64().unwrap_or(502) as u16;
                        let mut headers = HeaderMap::new();
                        for (name, value) in answer["headers"].as_object().into_iter().flatten() {
                            if let (Ok(name), Some(Ok(value))) = (
                                header::HeaderName::from_bytes(name.as_bytes()),
                                value.as_str().map(header::HeaderValue::from_str),
                            ) {
                                headers.insert(name, value);
                            }
                        }
                        let body = answer["body"].as_str().unwrap_or_default();
                        // A base64 body is decoded; one that is not base64 is Lambda's 502.
                        let body = if answer["isBase64Encoded"] == json!(true) {
                            match base64::engine::general_purpose::STANDARD.decode(body) {
                                Ok(bytes) => bytes,
                                Err(_) => {
                                    return (
                                        StatusCode::BAD_GATEWAY,
                                        HeaderMap::new(),
                                        Vec::from("Internal Server Error"),
                                    );
                                }
                            }
                        } else {
                            Vec::from(body)
                        };
                        (
                            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                            headers,
                            body,
                        )
                    }
                    // Lambda answers 502 when the function fails or times out.
                    _ => (
                        StatusCode::BAD_GATEWAY,
                        HeaderMap::new(),
                        Vec::from("Internal Server Error"),
                    ),
                }
            },
        )
        .with_state(api);
    let address: SocketAddr = super::serve(router).await;
    format!("http://{address}")
}
