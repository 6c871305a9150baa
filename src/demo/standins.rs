//! The stand-ins the first run and the demo watch, served in this process on 127.0.0.1: a shop
//! site, a chinaz-style speed-test service and the CKafka API. Each answers as its real
//! counterpart does, so the checks run unchanged against them; none reaches the network.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The most a stand-in reads of a request body.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A request as a stand-in sees it.
struct Asked {
    method: hyper::Method,
    path: String,
    query: String,
    headers: hyper::HeaderMap,
    body: Bytes,
}

/// A stand-in's answer, given after `delay`.
struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    delay: Duration,
}

impl Answer {
    fn new(status: StatusCode, content_type: &'static str, body: impl Into<String>) -> Self {
        Answer {
            status,
            content_type,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    fn after(self, delay: Duration) -> Self {
        Answer { delay, ..self }
    }
}

type Handler = Arc<dyn Fn(&Asked) -> Answer + Send + Sync>;

/// Serves `handler` on 127.0.0.1 at a port of the system's choosing, until the process ends.
async fn serve(handler: Handler) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of descriptors, say: wait rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let handler = Arc::clone(&handler);
                    async move { Ok::<_, Infallible>(respond(&handler, request).await) }
                });
                // A client that goes away mid-request is its own business.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(address)
}

async fn respond(handler: &Handler, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
    };
    let asked = Asked {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
    };
    let answer = handler(&asked);
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = answer.status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(answer.content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}

/// The shop: `/` is its home page, `/checkout` answers 503. The home page fails too while
/// [`StandIns::shop_down`] is set (the demo's outage).
fn shop(down: Arc<AtomicBool>) -> Handler {
    Arc::new(move |asked: &Asked| {
        let unavailable = || {
            Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/html; charset=utf-8",
                "<html><body><h1>503 Service Unavailable</h1>upstream connect error</body></html>",
            )
        };
        match asked.path.as_str() {
            "/" if down.load(Ordering::SeqCst) => unavailable(),
            "/" => Answer::new(
                StatusCode::OK,
                "text/html; charset=utf-8",
                "<html><head><title>Shop</title></head><body><h1>Shop</h1><button>Add to cart</button></body></html>",
            ),
            "/checkout" => unavailable(),
            _ => Answer::new(StatusCode::NOT_FOUND, "text/plain", "not found"),
        }
    })
}

/// A speed-test node: its id, `linetype` (1 China Telecom, 3 China Unicom, 4 China Mobile), city,
/// and the times it reports.
struct Node {
    guid: String,
    linetype: u8,
    city: &'static str,
    /// Where the service says the node is (`ipaddress`).
    region: &'static str,
    total_ms: u32,
    connect_ms: u32,
    download_ms: u32,
}

/// The token the setup page hands out and every node request must carry.
const SPEEDTEST_TOKEN: &str = "standin-enkey-5f2c";

/// Twelve nodes, four per carrier; three China Unicom nodes are slow.
fn nodes() -> Vec<Node> {
    let plan: [(u8, &str, &str, u32); 12] = [
        (1, "北京", "北京市", 420),
        (1, "上海", "上海市", 380),
        (1, "广州", "广东省广州市", 510),
        (1, "成都", "四川省成都市", 640),
        (3, "北京", "北京市", 4_860),
        (3, "天津", "天津市", 5_320),
        (3, "沈阳", "辽宁省沈阳市", 6_150),
        (3, "郑州", "河南省郑州市", 720),
        (4, "杭州", "浙江省杭州市", 450),
        (4, "深圳", "广东省深圳市", 530),
        (4, "武汉", "湖北省武汉市", 610),
        (4, "西安", "陕西省西安市", 690),
    ];
    plan.iter()
        .enumerate()
        .map(|(i, (linetype, city, region, total_ms))| Node {
            guid: format!("5a0c7e1d-0000-4000-8000-{i:012}"),
            linetype: *linetype,
            city,
            region,
            total_ms: *total_ms,
            connect_ms: total_ms / 8,
            download_ms: total_ms / 2,
        })
        .collect()
}

/// A chinaz-style service: `GET /speedtest/<host>` is the setup page (its token in `#enkey`, a
/// row per node in `#speedlist`); `POST /iframe.ashx?t=ping` measures from one node and answers a
/// JavaScript object literal, refusing a request without the token, the form fields or the
/// headers the real page sends.
fn speed_test_service() -> Handler {
    let nodes = Arc::new(nodes());
    Arc::new(move |asked: &Asked| {
        if asked.method == hyper::Method::GET {
            let Some(host) = asked.path.strip_prefix("/speedtest/") else {
                return Answer::new(StatusCode::NOT_FOUND, "text/plain", "not found");
            };
            let rows: String = nodes
                .iter()
                .map(|n| {
                    format!(
                        r#"<div id="{}" class="row listw tc clearfix" linetype="{}" state="0" trycount="0"><div class="col-2" name="city">{}</div><div class="col-2">-</div></div>"#,
                        n.guid, n.linetype, n.city
                    )
                })
                .collect();
            return Answer::new(
                StatusCode::OK,
                "text/html; charset=utf-8",
                format!(
                    r#"<html><head><title>{host}</title></head><body><input type="hidden" id="enkey" value="{SPEEDTEST_TOKEN}" /><div id="speedlist">{rows}</div></body></html>"#
                ),
            );
        }
        if asked.path != "/iframe.ashx" || asked.query != "t=ping" {
            return Answer::new(StatusCode::NOT_FOUND, "text/plain", "not found");
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&asked.body)
            .into_owned()
            .collect();
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let header = |name: &str| asked.headers.get(name).and_then(|v| v.to_str().ok());
        if field("encode") != SPEEDTEST_TOKEN
            || field("ishost") != "1"
            || field("checktype") != "1"
            || header("x-requested-with") != Some("XMLHttpRequest")
            || header("referer").is_none()
        {
            return Answer::new(
                StatusCode::FORBIDDEN,
                "text/html",
                "({state:-1,msg:'bad request'})",
            );
        }
        let Some(node) = nodes.iter().find(|n| n.guid == field("guid")) else {
            return Answer::new(
                StatusCode::OK,
                "text/html",
                "({state:-1,msg:'no such node'})",
            );
        };
        // Every node answers within a blink, whatever it reports: the first run stays quick.
        let delay = Duration::from_millis(u64::from(node.total_ms / 100));
        Answer::new(
            StatusCode::OK,
            "text/html",
            format!(
                "({{state:1,msg:'',result:{{ip:'192.0.2.10',httpstate:200,alltime:'{}',dnstime:'12',conntime:'{}',downtime:'{}',filesize:'18KB',downspeed:'2.10',ipaddress:'{}',headers:'HTTP/1.1 200 OK',pagehtml:''}}}})",
                node.total_ms, node.connect_ms, node.download_ms, node.region
            ),
        )
        .after(delay)
    })
}

/// A topic of a consumer group: its partitions' committed and log end offsets.
fn topic(name: &str, partitions: &[(u64, u64)]) -> Value {
    let partitions: Vec<Value> = partitions
        .iter()
        .enumerate()
        .map(|(i, (offset, end))| {
            json!({"Partition": i, "Offset": offset, "Metadata": "", "ErrorCode": 0,
                   "LogEndOffset": end, "Lag": end - offset})
        })
        .collect();
    json!({"Topic": name, "Partitions": partitions})
}

/// The consumer groups of the CKafka stand-in: `orders` lags far behind on its `orders` topic.
fn groups() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        (
            "orders",
            vec![
                topic(
                    "orders",
                    &[
                        (1_204_100, 1_252_600),
                        (1_198_020, 1_231_910),
                        (1_210_450, 1_250_080),
                        (1_201_300, 1_238_770),
                    ],
                ),
                topic("orders-retry", &[(88_410, 88_412), (87_950, 87_950)]),
            ],
        ),
        (
            "billing",
            vec![topic("invoices", &[(502_118, 502_130), (498_740, 498_741)])],
        ),
    ]
}

/// The CKafka API 3.0 stand-in: `DescribeGroupOffsets` (2019-08-19) with its paging, answering
/// in the API's envelope and error codes. It asks for a TC3 signature and a JSON body as the real
/// API does; it does not check the signature's value.
fn ckafka_api() -> Handler {
    let groups = Arc::new(groups());
    Arc::new(move |asked: &Asked| {
        let error = |code: &str, message: &str| {
            Answer::new(
                StatusCode::OK,
                "application/json",
                json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "standin"}})
                    .to_string(),
            )
        };
        let header = |name: &str| asked.headers.get(name).and_then(|v| v.to_str().ok());
        if asked.method != hyper::Method::POST || asked.path != "/" {
            return error(
                "UnsupportedOperation",
                "API 3.0 takes POST / with a JSON body",
            );
        }
        if !header("authorization").is_some_and(|a| a.starts_with("TC3-HMAC-SHA256 Credential=")) {
            return error(
                "AuthFailure.SignatureFailure",
                "the request is not TC3-HMAC-SHA256 signed",
            );
        }
        if header("x-tc-action") != Some("DescribeGroupOffsets")
            || header("x-tc-version") != Some("2019-08-19")
        {
            return error(
                "InvalidAction",
                "the stand-in answers DescribeGroupOffsets of version 2019-08-19",
            );
        }
        let Ok(body) = serde_json::from_slice::<Value>(&asked.body) else {
            return error("InvalidParameter", "the body is not JSON");
        };
        let limit = body["Limit"].as_u64().unwrap_or(50);
        if !(1..=50).contains(&limit) {
            return error("InvalidParameterValue", "Limit is 1 to 50");
        }
        let offset = usize::try_from(body["Offset"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
        let Some((_, topics)) = groups
            .iter()
            .find(|(group, _)| Some(*group) == body["Group"].as_str())
        else {
            return error(
                "ResourceNotFound",
                "the consumer group does not exist on this instance",
            );
        };
        let wanted = body["Topics"].as_array();
        let selected: Vec<&Value> = topics
            .iter()
            .filter(|t| wanted.is_none_or(|w| w.contains(&t["Topic"])))
            .collect();
        let page: Vec<&Value> = selected
            .iter()
            .skip(offset)
            .take(usize::try_from(limit).unwrap_or(50))
            .copied()
            .collect();
        Answer::new(
            StatusCode::OK,
            "application/json",
            json!({"Response": {"Result": {"TotalCount": selected.len(), "TopicList": page}, "RequestId": "standin"}})
                .to_string(),
        )
    })
}

/// The stand-ins, started.
pub struct StandIns {
    /// The shop site (`/` and `/checkout`).
    pub site: SocketAddr,
    /// The speed-test service.
    pub speed_test: SocketAddr,
    /// The CKafka API.
    pub ckafka: SocketAddr,
    /// While set, the shop's home page answers 503.
    pub shop_down: Arc<AtomicBool>,
}

impl StandIns {
    /// Starts all three on 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let shop_down = Arc::new(AtomicBool::new(false));
        Ok(StandIns {
            site: serve(shop(Arc::clone(&shop_down))).await?,
            speed_test: serve(speed_test_service()).await?,
            ckafka: serve(ckafka_api()).await?,
            shop_down,
        })
    }

    /// Every address they listen on.
    pub fn addresses(&self) -> [SocketAddr; 3] {
        [self.site, self.speed_test, self.ckafka]
    }
}
