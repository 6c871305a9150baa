//! A proxy in front of moto that writes down each AWS request it passes on: which operation
//! (`X-Amz-Target`), and how many bytes went each way. `make bench` reads a function's DynamoDB
//! requests per tick from it, without the function knowing.

use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;

/// One request passed on.
#[derive(Clone, Debug)]
pub struct Counted {
    /// The operation, as the `X-Amz-Target` header names it (`DynamoDB_20120810.BatchWriteItem`).
    pub operation: String,
    pub sent: usize,
    pub received: usize,
    /// Incident items it writes or reads (`incident#` in its body): a batch counts each.
    pub incidents: usize,
    /// History items it writes (`history#` in its body).
    pub histories: usize,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    log: Arc<Mutex<Vec<Counted>>>,
}

pub struct CountingProxy {
    pub url: String,
    log: Arc<Mutex<Vec<Counted>>>,
}

impl CountingProxy {
    /// Passes every request on to `upstream` (`http://127.0.0.1:port`).
    pub async fn start(upstream: &str) -> Self {
        let log: Arc<Mutex<Vec<Counted>>> = Arc::default();
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            log: Arc::clone(&log),
        };
        let router = axum::Router::new().fallback(pass_on).with_state(shared);
        let address = super::serve(router).await;
        CountingProxy {
            url: format!("http://{address}"),
            log,
        }
    }

    /// The requests passed on since the last call.
    pub fn take(&self) -> Vec<Counted> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

async fn pass_on(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = shared
        .client
        .request(parts.method.clone(), format!("{}{path}", shared.upstream));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let sent = body.len();
    let count = |needle: &[u8]| body.windows(needle.len()).filter(|w| *w == needle).count();
    let (incidents, histories) = (count(b"incident#"), count(b"history#"));
    let Ok(answer) = forward.body(body).send().await else {
        return Response::builder()
            .status(502)
            .body(Body::empty())
            .expect("a response");
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    shared.log.lock().unwrap().push(Counted {
        operation,
        sent,
        received: bytes.len(),
        incidents,
        histories,
    });
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(bytes)).expect("a response")
}
