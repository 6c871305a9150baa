//! `type: tcp` against local listeners on 127.0.0.1: one that accepts, a closed port, one that
//! accepts and stays silent, one with the wrong banner, and TLS listeners with a certificate near
//! its expiry and one nobody vouches for; and a monitor of `lookout.yaml` run by the site-status
//! binary.

mod support;

use std::sync::Arc;
use std::time::Duration;

use lookout::alerting::state::memory::MemoryStore;
use lookout::checks::{CheckResult, Health, Measurement, Naming, SharedLedger, tcp};
use lookout::config::Env;
use support::scripted::tick_at;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// One tick of a tcp monitor with these settings, by `within`.
async fn check(pairs: &[(&str, &str)], within: Duration) -> CheckResult {
    let ledger: SharedLedger = Arc::new(MemoryStore::default());
    let naming = Naming::Monitor {
        kind: "tcp",
        name: "db".into(),
    };
    let env = Env::from_pairs(pairs.iter().copied());
    let checks = (tcp::TYPE.build)(vec![(env, naming)], &ledger).expect("the check");
    let mut results = checks[0]
        .run(
            &tick_at(chrono::Utc::now()),
            &Default::default(),
            Instant::now() + within,
        )
        .await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

/// A listener that answers each connection with `banner` (after reading a line when `reads`), then
/// holds it open.
async fn server(banner: &'static [u8], reads: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            if reads {
                let mut line = [0u8; 64];
                let _ = socket.read(&mut line).await;
            }
            let _ = socket.write_all(banner).await;
            held.push(socket);
        }
    });
    address
}

fn kind(result: &CheckResult) -> &str {
    result.failure.as_ref().map_or("", |f| f.kind)
}

fn message(result: &CheckResult) -> &str {
    result.failure.as_ref().map_or("", |f| f.message.as_str())
}

#[tokio::test]
async fn a_port_that_accepts_is_up_with_its_connect_time() {
    let address = server(b"", false).await;
    let result = check(&[("TCP_ADDRESS", &address)], Duration::from_secs(10)).await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
    assert_eq!(result.key, "tcp:db");
    let Measurement::Figures(figures) = &result.measurement else {
        panic!("{result:?}")
    };
    assert!(figures.values["connect_ms"].as_u64().is_some());
    assert_eq!(figures.points.len(), 1);
    assert_eq!(figures.points[0].fields["Up"], 1);
}

#[tokio::test]
async fn a_closed_port_is_a_refused_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let result = check(&[("TCP_ADDRESS", &address)], Duration::from_secs(10)).await;
    assert_eq!(result.health, Health::Failing);
    assert_eq!(kind(&result), "connect");
    assert!(message(&result).contains("refused"), "{result:?}");
}

#[tokio::test]
async fn a_silent_server_times_out_when_an_answer_is_expected() {
    let address = server(b"", false).await;
    let started = std::time::Instant::now();
    let result = check(
        &[
            ("TCP_ADDRESS", &address),
            ("TCP_EXPECT", "SSH-2.0"),
            ("TCP_TIMEOUT_MS", "300"),
        ],
        Duration::from_secs(10),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(result.health, Health::Failing);
    assert_eq!(kind(&result), "timeout");
    assert!(message(&result).contains("SSH-2.0") && message(&result).contains("300 ms"));
    // Cut short by the invocation's deadline instead, it is a monitor error, not "down".
    let result = check(
        &[
            ("TCP_ADDRESS", &address),
            ("TCP_EXPECT", "SSH-2.0"),
            ("TCP_TIMEOUT_MS", "5000"),
        ],
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(result.health, Health::MonitorError, "{result:?}");
}

#[tokio::test]
async fn a_wrong_banner_fails_quoting_it_as_plain_text_and_the_right_one_passes() {
    let address = server(b"SSH-1.99-<script>\r\n", false).await;
    let result = check(
        &[
            ("TCP_ADDRESS", &address),
            ("TCP_EXPECT", "SSH-2.0"),
            ("TCP_TIMEOUT_MS", "1000"),
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(kind(&result), "banner", "{result:?}");
    assert!(
        message(&result).contains("\"SSH-1.99-<script>\\r\\n\""),
        "{}",
        message(&result)
    );
    let redis = server(b"+PONG\r\n", true).await;
    let result = check(
        &[
            ("TCP_ADDRESS", &redis),
            ("TCP_SEND", "PING\\r\\n"),
            ("TCP_EXPECT", "+PONG"),
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
}

/// A CA and a certificate for `localhost` it signed, expiring in `days`: the CA's PEM, and a TLS
/// listener serving the certificate.
async fn tls_server(days: i64) -> (String, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.signed_by(&key, &ca).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            if let Ok(mut stream) = acceptor.accept(socket).await {
                let _ = stream.write_all(b"220 ready\r\n").await;
                held.push(stream);
            }
        }
    });
    (format!("localhost:{port}"), ca.pem())
}

#[tokio::test]
async fn a_certificate_near_expiry_fails_with_its_days_left_and_a_fresh_one_passes() {
    let (address, ca) = tls_server(5).await;
    let pairs = [
        ("TCP_ADDRESS", address.as_str()),
        ("TCP_TLS", "true"),
        ("TCP_TLS_CA", ca.as_str()),
        ("TCP_EXPECT", "220"),
    ];
    let result = check(&pairs, Duration::from_secs(10)).await;
    assert_eq!(kind(&result), "certificate", "{result:?}");
    assert!(
        message(&result).contains("expires in 4 days")
            || message(&result).contains("expires in 5 days")
    );
    let Measurement::Figures(figures) = &result.measurement else {
        panic!("{result:?}")
    };
    assert!(
        figures.values["cert_days_left"]
            .as_i64()
            .is_some_and(|d| (4..=5).contains(&d))
    );

    let (address, ca) = tls_server(90).await;
    let pairs = [
        ("TCP_ADDRESS", address.as_str()),
        ("TCP_TLS", "true"),
        ("TCP_TLS_CA", ca.as_str()),
        ("TCP_EXPECT", "220"),
    ];
    let result = check(&pairs, Duration::from_secs(10)).await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
}

#[tokio::test]
async fn a_certificate_nobody_vouches_for_is_a_tls_failure() {
    let (address, _ca) = tls_server(90).await;
    let result = check(
        &[("TCP_ADDRESS", &address), ("TCP_TLS", "true")],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(kind(&result), "tls", "{result:?}");
    assert!(message(&result).contains("handshake"), "{result:?}");
}

#[tokio::test]
async fn the_site_status_function_runs_tcp_monitors_of_lookout_yaml() {
    let up = server(b"", false).await;
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let yaml = format!(
        "monitors:\n  - {{name: db, type: tcp, address: \"{up}\"}}\n  - {{name: cache, type: tcp, address: \"{closed}\", timeout_ms: 2000}}\n"
    );
    let (health, report) =
        support::lambda::one_tick_with_file(env!("CARGO_BIN_EXE_site-status"), &yaml).await;
    assert_eq!(
        health.get("tcp:db").map(String::as_str),
        Some("ok"),
        "{report}"
    );
    assert_eq!(
        health.get("tcp:cache").map(String::as_str),
        Some("failing"),
        "{report}"
    );
}

/// A server that answers `OK` 100 ms after each connection, holding it meanwhile; the most
/// connections it held at once.
async fn slow_banner_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (open, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let held = Arc::clone(&most);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (open, most) = (Arc::clone(&open), Arc::clone(&most));
            tokio::spawn(async move {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = socket.write_all(b"OK\r\n").await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (address, held)
}

// 1,100 tcp monitors in one function, under Lambda's 1,024 descriptors (the emulator's ulimit):
// each holds its connection until the answer comes, so all at once would run out of descriptors;
// they take turns instead, and every one passes.
#[tokio::test]
async fn eleven_hundred_tcp_monitors_take_turns_under_lambdas_descriptor_limit() {
    let (address, most) = slow_banner_server().await;
    let mut yaml = String::from("monitors:\n");
    for n in 0..1100 {
        yaml.push_str(&format!(
            "  - {{name: port-{n}, type: tcp, address: \"{address}\", expect: OK, timeout_ms: 20000}}\n"
        ));
    }
    let (healths, report) = support::lambda::one_tick_with_file("site-status", &yaml).await;
    assert_eq!(healths.len(), 1100);
    let failing: Vec<_> = healths.iter().filter(|(_, h)| *h != "ok").collect();
    assert!(
        failing.is_empty(),
        "{} failing: {}",
        failing.len(),
        &report.to_string()[..2000.min(report.to_string().len())]
    );
    let held = most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(held <= 256, "{held} connections at once");
}
