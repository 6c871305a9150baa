//! A fake website: good and bad pages over HTTP and HTTPS, and servers that misbehave below HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const WELCOME: &str = "<html><body><h1>Welcome to lookout</h1></body></html>";

/// Request counts, shared by every route of one fake site.
#[derive(Clone, Default)]
pub struct Hits {
    total: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Hits {
    /// Requests received so far.
    pub fn count(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// The most requests that were being answered at once.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }
}

/// The routes of the fake site:
/// `/` and `/ok`, `/status/{code}`, `/slow/{ms}`, `/slow/{ms}/{code}`, `/flaky/{failures}` (503 that many times, then 200),
/// `/loop/a` <-> `/loop/b`, `/moved` -> `/ok`, `/huge` (8 MiB without the welcome text).
pub fn router(hits: Hits) -> Router {
    Router::new()
        .route("/", get(|| async { WELCOME }))
        .route("/ok", get(|| async { WELCOME }))
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                (
                    StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
                    "status page",
                )
            }),
        )
        .route(
            "/slow/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                WELCOME
            }),
        )
        .route(
            "/slow/{ms}/{code}",
            get(|Path((ms, code)): Path<(u64, u16)>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                (
                    StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
                    "status page",
                )
            }),
        )
        .route(
            "/flaky/{failures}",
            get(
                |State(hits): State<Hits>, Path(failures): Path<usize>| async move {
                    if hits.count() <= failures {
                        (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
                    } else {
                        WELCOME.into_response()
                    }
                },
            ),
        )
        .route("/loop/a", get(|| async { Redirect::temporary("/loop/b") }))
        .route("/loop/b", get(|| async { Redirect::temporary("/loop/a") }))
        .route("/moved", get(|| async { Redirect::permanent("/ok") }))
        .route("/huge", get(huge))
        .layer(axum::middleware::from_fn_with_state(
            hits.clone(),
            |State(hits): State<Hits>, request, next: axum::middleware::Next| async move {
                hits.total.fetch_add(1, Ordering::SeqCst);
                let now = hits.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                hits.most_in_flight.fetch_max(now, Ordering::SeqCst);
                let response = next.run(request).await;
                hits.in_flight.fetch_sub(1, Ordering::SeqCst);
                response
            },
        ))
        .with_state(hits)
}

async fn huge() -> Response {
    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let stream =
        futures::stream::iter((0..128).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    (
        [(header::CONTENT_TYPE, "text/html")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The fake site over plain HTTP.
pub async fn start() -> (SocketAddr, Hits) {
    let hits = Hits::default();
    (super::serve(router(hits.clone())).await, hits)
}

/// A port that refuses connections: bound, then closed.
pub async fn refused_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address")
}

/// What a scripted server does after its answer.
#[derive(Clone, Copy)]
enum Then {
    /// Closes the connection.
    Close,
    /// Keeps it open, silent, for a minute.
    Stall,
}

/// A server that reads each request, writes `answer` as it is, then closes or stalls.
async fn answering(answer: Vec<u8>, then: Then) -> SocketAddr {
    let answer = std::sync::Arc::new(answer);
    raw_server(move |mut stream| {
        let answer = std::sync::Arc::clone(&answer);
        async move {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(&answer).await;
            match then {
                Then::Close => {
                    let _ = stream.shutdown().await;
                }
                Then::Stall => tokio::time::sleep(Duration::from_secs(60)).await,
            }
        }
    })
    .await
}

/// A server that answers every connection with bytes that are not HTTP.
pub async fn garbage_server() -> SocketAddr {
    answering(
        b"SSH-2.0-OpenSSH_9.6 not http at all\r\n\r\n".to_vec(),
        Then::Close,
    )
    .await
}

/// A server that promises a 1000-byte body, sends 10 bytes and closes the connection.
pub async fn short_body_server() -> SocketAddr {
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this.";
    answering(answer.to_vec(), Then::Close).await
}

/// A server that answers its headers, a little body, then nothing more for a minute.
pub async fn stalled_body_server() -> SocketAddr {
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nthe start";
    answering(answer.to_vec(), Then::Stall).await
}

/// A server that redirects every request to `location`.
pub async fn redirect_server(location: String) -> SocketAddr {
    let answer = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
    answering(answer.into_bytes(), Then::Close).await
}

/// A server that answers 200 and then a body that never ends (`[[[[...` for as long as it is read),
/// to every request on every path.
pub async fn endless_server() -> SocketAddr {
    raw_server(|mut stream| async move {
        let mut buffer = [0u8; 4096];
        let _ = stream.read(&mut buffer).await;
        let head =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
        if stream.write_all(head).await.is_err() {
            return;
        }
        let chunk = vec![b'['; 64 * 1024];
        // Two GiB at most, in case a client never stops reading.
        for _ in 0..32 * 1024 {
            if stream.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// A server that accepts connections and never says anything.
pub async fn silent_server() -> SocketAddr {
    raw_server(|stream| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(stream);
    })
    .await
}

async fn raw_server<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    address
}

/// A certificate for 127.0.0.1 and localhost, and the root that vouches for it.
pub struct TestCertificates {
    /// DER of the certificate a client must trust (the CA, or the self-signed leaf).
    pub root_der: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl TestCertificates {
    /// A self-signed leaf certificate.
    pub fn self_signed() -> Self {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = leaf_params(rcgen::date_time_ymd(2099, 1, 1));
        let cert = params.self_signed(&key).expect("self-signed certificate");
        TestCertificates {
            root_der: cert.der().to_vec(),
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }

    /// A leaf expiring in `days_left` days, signed by a test CA.
    pub fn from_test_ca(days_left: i64) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "lookout test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
        let expiry = time::OffsetDateTime::now_utc()
            + time::Duration::days(days_left)
            + time::Duration::hours(1);
        let key = rcgen::KeyPair::generate().expect("key");
        let leaf = leaf_params(expiry)
            .signed_by(&key, &ca)
            .expect("leaf certificate");
        TestCertificates {
            root_der: ca.der().to_vec(),
            chain: vec![leaf.der().clone(), ca.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

fn leaf_params(not_after: time::OffsetDateTime) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("leaf params");
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = not_after;
    params
}

/// The fake site over HTTPS with these certificates.
pub async fn start_tls(certificates: &TestCertificates) -> SocketAddr {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(certificates.chain.clone(), certificates.key.clone_key())
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let app = router(Hits::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    address
}
