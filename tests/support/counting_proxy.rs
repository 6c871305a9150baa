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
    /// A strongly consistent read (`"ConsistentRead":true`): a whole read unit per 4 KB, not half.
    pub consistent: bool,
    /// When it was passed on, and when its answer came back.
    pub sent_at: std::time::Instant,
    pub answered_at: std::time::Instant,
}

impl Counted {
    /// Read units of a read, from the bytes answered: per 4 KB, a whole unit when consistent and
    /// half otherwise, at least one 4 KB. An upper bound: DynamoDB bills the items' own size, and
    /// the answer is JSON with binary values in base64.
    pub fn read_units(&self) -> f64 {
        let per = if self.consistent { 1.0 } else { 0.5 };
        self.received.div_ceil(4096).max(1) as f64 * per
    }
}

/// How long the upstream had at least one of `requests` in flight (the union of their times).
pub fn busy(requests: &[Counted]) -> std::time::Duration {
    let mut spans: Vec<_> = requests
        .iter()
        .map(|r| (r.sent_at, r.answered_at))
        .collect();
    spans.sort();
    let mut busy = std::time::Duration::ZERO;
    let mut current: Option<(std::time::Instant, std::time::Instant)> = None;
    for (start, end) in spans {
        current = match current {
            Some((from, to)) if start <= to => Some((from, to.max(end))),
            Some((from, to)) => {
                busy += to - from;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((from, to)) = current {
        busy += to - from;
    }
    busy
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
    let consistent = count(b"\"ConsistentRead\":true") > 0;
    let sent_at = std::time::Instant::now();
    let Ok(answer) = forward.body(body).send().await else {
        return Response::builder()
            .status(502)
            .body(Body::empty())
            .expect("a response");
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    let answered_at = std::time::Instant::now();
    shared.log.lock().unwrap().push(Counted {
        operation,
        sent,
        received: bytes.len(),
        incidents,
        histories,
        consistent,
        sent_at,
        answered_at,
    });
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(bytes)).expect("a response")
}
