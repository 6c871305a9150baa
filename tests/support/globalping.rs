//! A fake Globalping API: 202 on create (or 429 with Retry-After), then in-progress, then finished,
//! with finished, failed and offline probes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
struct Api {
    rate_limited: Mutex<usize>,
    in_progress_polls: Mutex<usize>,
    results: Mutex<Vec<Value>>,
    created: Mutex<Vec<(Value, Option<String>)>>,
    polls: Mutex<Vec<Instant>>,
}

/// The fake API.
#[derive(Clone)]
pub struct FakeGlobalping {
    pub address: SocketAddr,
    api: Arc<Api>,
}

/// A probe's result entry.
pub fn probe(city: &str, country: &str, network: &str, status: &str, total: Option<u64>) -> Value {
    json!({
        "probe": {"continent": "AS", "country": country, "city": city, "asn": 4134, "network": network},
        "result": {"status": status, "statusCode": if status == "finished" { json!(200) } else { Value::Null },
                   "rawOutput": if status == "failed" { "connect ECONNREFUSED" } else { "" },
                   "timings": {"total": total, "dns": 10, "tcp": total.map(|t| t / 3), "tls": 20, "firstByte": 30, "download": total.map(|t| t / 4)}}
    })
}

impl FakeGlobalping {
    pub async fn start(results: Vec<Value>, in_progress_polls: usize) -> Self {
        let api = Arc::new(Api::default());
        *api.results.lock().unwrap() = results;
        *api.in_progress_polls.lock().unwrap() = in_progress_polls;
        let router = Router::new()
            .route("/v1/measurements", post(create))
            .route("/v1/measurements/{id}", get(poll))
            .with_state(Arc::clone(&api));
        FakeGlobalping {
            address: super::serve(router).await,
            api,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next `times` creates get 429 with `Retry-After: 1`.
    pub fn rate_limit(&self, times: usize) {
        *self.api.rate_limited.lock().unwrap() = times;
    }

    /// The measurements created: body and Authorization header.
    pub fn created(&self) -> Vec<(Value, Option<String>)> {
        self.api.created.lock().unwrap().clone()
    }

    /// When each poll arrived.
    pub fn polls(&self) -> Vec<Instant> {
        self.api.polls.lock().unwrap().clone()
    }
}

async fn create(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    {
        let mut limited = api.rate_limited.lock().unwrap();
        if *limited > 0 {
            *limited -= 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"error": {"type": "too_many_requests", "message": "Too many requests. Please retry in 1 seconds."}})),
            )
                .into_response();
        }
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let valid = body["type"] == "http"
        && body["target"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && !t.contains('/'))
        && body["limit"]
            .as_u64()
            .is_some_and(|l| (1..=500).contains(&l))
        && (authorization.is_some() || body["limit"].as_u64().unwrap_or(0) <= 50);
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"type": "validation_error", "message": "invalid measurement"}})),
        )
            .into_response();
    }
    api.created.lock().unwrap().push((body, authorization));
    let count = api.results.lock().unwrap().len();
    (
        StatusCode::ACCEPTED,
        Json(json!({"id": "m-1", "probesCount": count})),
    )
        .into_response()
}

async fn poll(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    api.polls.lock().unwrap().push(Instant::now());
    if id != "m-1" {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"message": "not found"}})),
        )
            .into_response();
    }
    let results = api.results.lock().unwrap().clone();
    let mut remaining = api.in_progress_polls.lock().unwrap();
    if *remaining > 0 {
        *remaining -= 1;
        let partial: Vec<Value> = results
            .iter()
            .map(|r| json!({"probe": r["probe"], "result": {"status": "in-progress", "timings": {}}}))
            .collect();
        return Json(
            json!({"id": id, "type": "http", "status": "in-progress", "results": partial}),
        )
        .into_response();
    }
    Json(json!({"id": id, "type": "http", "status": "finished", "results": results}))
        .into_response()
}
