//! A fake chinaz-style speed-test service: the setup page with its token and node rows, and the
//! per-node `iframe.ashx?t=ping` endpoint answering JavaScript object literals after a delay.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};

pub const TOKEN: &str = "fake-enkey-7a1b";

/// One node of the fake service.
#[derive(Debug, Clone)]
pub struct FakeNode {
    pub guid: String,
    pub linetype: u8,
    pub name: String,
    pub delay: Duration,
    /// `state` per attempt; the last one repeats.
    pub states: Vec<i64>,
    pub alltime: String,
    pub conntime: String,
    pub downtime: String,
    pub httpstate: u16,
    /// A raw reply instead of the usual one.
    pub raw_reply: Option<String>,
    /// A reply that never ends.
    pub endless: bool,
}

impl FakeNode {
    /// A healthy node answering after `delay_ms`, with a total of `total` (as the page writes it).
    pub fn new(i: usize, linetype: u8, name: &str, delay_ms: u64, total: &str) -> Self {
        FakeNode {
            guid: format!("00000000-0000-0000-0000-{i:012}"),
            linetype,
            name: name.into(),
            delay: Duration::from_millis(delay_ms),
            states: vec![1],
            alltime: total.into(),
            conntime: "40".into(),
            downtime: "60".into(),
            httpstate: 200,
            raw_reply: None,
            endless: false,
        }
    }
}

#[derive(Default)]
struct Service {
    nodes: Vec<FakeNode>,
    page_changed: AtomicBool,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    attempts: Mutex<HashMap<String, usize>>,
}

/// The fake service.
#[derive(Clone)]
pub struct FakeChinaz {
    pub address: SocketAddr,
    service: Arc<Service>,
}

impl FakeChinaz {
    pub async fn start(nodes: Vec<FakeNode>) -> Self {
        let service = Arc::new(Service {
            nodes,
            ..Service::default()
        });
        let router = Router::new()
            .route("/speedtest/{host}", get(page))
            .route("/iframe.ashx", post(ping))
            .with_state(Arc::clone(&service));
        FakeChinaz {
            address: super::serve(router).await,
            service,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// From now on the setup page has neither token nor node list.
    pub fn change_the_page(&self) {
        self.service.page_changed.store(true, Ordering::SeqCst);
    }

    /// The most node requests that were in flight at once.
    pub fn most_in_flight(&self) -> usize {
        self.service.most_in_flight.load(Ordering::SeqCst)
    }

    /// Requests per node guid.
    pub fn attempts(&self, guid: &str) -> usize {
        self.service
            .attempts
            .lock()
            .unwrap()
            .get(guid)
            .copied()
            .unwrap_or(0)
    }

    /// Node requests in all.
    pub fn node_requests(&self) -> usize {
        self.service.attempts.lock().unwrap().values().sum()
    }
}

async fn page(State(service): State<Arc<Service>>, Path(host): Path<String>) -> Html<String> {
    if service.page_changed.load(Ordering::SeqCst) {
        return Html(format!(
            "<html><body><div id=\"app\">{host}</div><script>buildToken()</script></body></html>"
        ));
    }
    let rows: String = service
        .nodes
        .iter()
        .map(|n| {
            format!(
                r#"<div id="{}" class="row listw tc clearfix" linetype="{}" state="0" trycount="0"><div class="col-2" name="city" serveruroup="0" data-company="">{}</div><div class="col-2">-</div></div>"#,
                n.guid, n.linetype, n.name
            )
        })
        .collect();
    Html(format!(
        r#"<html><head><title>{host}</title></head><body><input type="hidden" id="enkey" value="{TOKEN}" /><div id="speedlist">{rows}</div></body></html>"#
    ))
}

async fn ping(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("encode") != TOKEN
        || field("ishost") != "1"
        || field("checktype") != "1"
        || headers
            .get("x-requested-with")
            .and_then(|v| v.to_str().ok())
            != Some("XMLHttpRequest")
        || headers.get("referer").is_none()
    {
        return (StatusCode::FORBIDDEN, "({state:-1,msg:'bad request'})").into_response();
    }
    let Some(node) = service
        .nodes
        .iter()
        .find(|n| n.guid == field("guid"))
        .cloned()
    else {
        return (StatusCode::OK, "({state:-1,msg:'no such node'})").into_response();
    };
    let attempt = {
        let mut attempts = service.attempts.lock().unwrap();
        let count = attempts.entry(node.guid.clone()).or_default();
        *count += 1;
        *count
    };
    let now = service.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    service.most_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(node.delay).await;
    service.in_flight.fetch_sub(1, Ordering::SeqCst);
    if node.endless {
        let chunk = bytes::Bytes::from(vec![b'{'; 64 * 1024]);
        let stream = futures::stream::iter(
            std::iter::repeat_n(chunk, 32 * 1024).map(Ok::<_, std::io::Error>),
        );
        return (StatusCode::OK, axum::body::Body::from_stream(stream)).into_response();
    }
    if let Some(raw) = node.raw_reply {
        return (StatusCode::OK, raw).into_response();
    }
    let state = node
        .states
        .get(attempt - 1)
        .or(node.states.last())
        .copied()
        .unwrap_or(1);
    if state != 1 {
        return (StatusCode::OK, format!("({{state:{state},msg:'timeout'}})")).into_response();
    }
    (
        StatusCode::OK,
        format!(
            "({{state:1,msg:'',result:{{ip:'119.28.190.46',httpstate:{},alltime:'{}',dnstime:'18',conntime:'{}',downtime:'{}',filesize:'-',downspeed:'4.72',ipaddress:'{}',headers:'HTTP/1.1 200 OK br>Server: fake',pagehtml:''}}}})",
            node.httpstate, node.alltime, node.conntime, node.downtime, node.name
        ),
    )
    .into_response()
}
