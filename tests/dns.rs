//! `type: dns` against an authoritative DNS server the test starts on 127.0.0.1 (UDP and TCP on one
//! free port): a name that resolves, one to the wrong address, NXDOMAIN, SERVFAIL, a server that
//! never answers, and an answer too large for UDP that must be asked again over TCP.

mod support;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use lookout::alerting::state::memory::MemoryStore;
use lookout::checks::{CheckResult, Health, Measurement, Naming, SharedLedger, dns};
use lookout::config::Env;
use support::scripted::tick_at;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::Instant;

/// The test zone's server: its address, and how many queries came over each transport.
struct Server {
    address: SocketAddr,
    udp: Arc<AtomicUsize>,
    tcp: Arc<AtomicUsize>,
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// The zone's answer to `query`, or `None` to stay silent. `big.test.` is too large for UDP: over
/// UDP it is a truncated answer with nothing in it, over TCP the whole.
fn answer(query: &Message, over_tcp: bool) -> Option<Message> {
    let question = query.queries.first()?.clone();
    let asked = question.name().to_ascii().to_ascii_lowercase();
    let kind = question.query_type();
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.add_query(question.clone());
    let owner = question.name().clone();
    let record = |data: RData| Record::from_rdata(owner.clone(), 60, data);
    match (asked.as_str(), kind) {
        ("silent.test.", _) => return None,
        ("nx.test.", _) => response.metadata.response_code = ResponseCode::NXDomain,
        ("fail.test.", _) => response.metadata.response_code = ResponseCode::ServFail,
        ("ok.test.", RecordType::A) => {
            response.add_answer(record(RData::A(A(Ipv4Addr::new(192, 0, 2, 10)))));
        }
        ("ok.test.", RecordType::AAAA) => {
            response.add_answer(record(RData::AAAA(AAAA(
                "2001:db8::10".parse::<Ipv6Addr>().unwrap(),
            ))));
        }
        ("ok.test.", RecordType::MX) => {
            response.add_answer(record(RData::MX(MX::new(10, name("mail.test.")))));
        }
        ("ok.test.", RecordType::NS) => {
            response.add_answer(record(RData::NS(NS(name("ns1.test.")))));
        }
        ("ok.test.", RecordType::TXT) => {
            response.add_answer(record(RData::TXT(TXT::new(vec!["v=spf1 -all".into()]))));
        }
        ("www.test.", RecordType::CNAME) => {
            response.add_answer(record(RData::CNAME(CNAME(name("ok.test.")))));
        }
        ("wrong.test.", RecordType::A) => {
            response.add_answer(record(RData::A(A(Ipv4Addr::new(192, 0, 2, 99)))));
        }
        ("big.test.", RecordType::TXT) if !over_tcp => response.metadata.truncation = true,
        ("big.test.", RecordType::TXT) => {
            for i in 0..40 {
                response.add_answer(record(RData::TXT(TXT::new(vec![format!(
                    "part {i:02} of an answer too large for one UDP datagram {}",
                    "x".repeat(40)
                )]))));
            }
        }
        _ => {}
    }
    Some(response)
}

/// Starts the zone's server on one free port of 127.0.0.1, UDP and TCP.
async fn server() -> Server {
    let (udp_socket, tcp_listener) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let address = udp_socket.local_addr().unwrap();
    let (udp, tcp) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let counted = Arc::clone(&udp);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        while let Ok((n, from)) = udp_socket.recv_from(&mut buffer).await {
            counted.fetch_add(1, Ordering::SeqCst);
            let Ok(query) = Message::from_vec(&buffer[..n]) else {
                continue;
            };
            if let Some(response) = answer(&query, false) {
                let _ = udp_socket.send_to(&response.to_vec().unwrap(), from).await;
            }
        }
    });
    let counted = Arc::clone(&tcp);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp_listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                loop {
                    let mut length = [0u8; 2];
                    if stream.read_exact(&mut length).await.is_err() {
                        return;
                    }
                    let mut query = vec![0u8; u16::from_be_bytes(length) as usize];
                    if stream.read_exact(&mut query).await.is_err() {
                        return;
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    let Ok(query) = Message::from_vec(&query) else {
                        return;
                    };
                    let Some(response) = answer(&query, true) else {
                        continue;
                    };
                    let bytes = response.to_vec().unwrap();
                    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&bytes);
                    if stream.write_all(&framed).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server { address, udp, tcp }
}

/// One tick of a dns monitor asking `server`.
async fn check(server: &Server, pairs: &[(&str, &str)]) -> CheckResult {
    let ledger: SharedLedger = Arc::new(MemoryStore::default());
    let naming = Naming::Monitor {
        kind: "dns",
        name: "zone".into(),
    };
    let address = server.address.to_string();
    let mut all: Vec<(&str, &str)> = vec![("DNS_SERVER", &address), ("DNS_TIMEOUT_MS", "500")];
    all.extend_from_slice(pairs);
    let env = Env::from_pairs(all);
    let checks = (dns::TYPE.build)(vec![(env, naming)], &ledger).expect("the check");
    let mut results = checks[0]
        .run(
            &tick_at(chrono::Utc::now()),
            &Default::default(),
            Instant::now() + Duration::from_secs(20),
        )
        .await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

fn kind(result: &CheckResult) -> &str {
    result.failure.as_ref().map_or("", |f| f.kind)
}

fn message(result: &CheckResult) -> &str {
    result.failure.as_ref().map_or("", |f| f.message.as_str())
}

fn values(result: &CheckResult) -> Vec<String> {
    let Measurement::Figures(figures) = &result.measurement else {
        panic!("{result:?}")
    };
    figures.values["values"]
        .as_array()
        .map(|v| v.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn each_record_type_resolves_and_an_expected_value_is_found() {
    let server = server().await;
    for (record, name, expect, value) in [
        ("A", "ok.test", "192.0.2.10", "192.0.2.10"),
        ("AAAA", "ok.test", "2001:db8::10", "2001:db8::10"),
        ("MX", "ok.test", "mail.test", "10 mail.test"),
        ("NS", "ok.test", "ns1.test", "ns1.test"),
        ("TXT", "ok.test", "v=spf1", "v=spf1 -all"),
        ("CNAME", "www.test", "ok.test", "ok.test"),
    ] {
        let result = check(
            &server,
            &[
                ("DNS_DOMAIN", name),
                ("DNS_RECORD", record),
                ("DNS_EXPECT", expect),
            ],
        )
        .await;
        assert_eq!(result.health, Health::Ok, "{record}: {result:?}");
        assert_eq!(values(&result), vec![value.to_owned()], "{record}");
    }
    let result = check(&server, &[("DNS_DOMAIN", "ok.test")]).await;
    assert_eq!(
        (result.health, result.key.as_str()),
        (Health::Ok, "dns:zone")
    );
}

#[tokio::test]
async fn a_wrong_address_is_a_mismatch_quoting_what_it_resolves_to() {
    let server = server().await;
    let result = check(
        &server,
        &[("DNS_DOMAIN", "wrong.test"), ("DNS_EXPECT", "192.0.2.10")],
    )
    .await;
    assert_eq!(
        (result.health, kind(&result)),
        (Health::Failing, "mismatch")
    );
    assert!(message(&result).contains("192.0.2.99") && message(&result).contains("192.0.2.10"));
    let result = check(
        &server,
        &[("DNS_DOMAIN", "ok.test"), ("DNS_RECORD", "CNAME")],
    )
    .await;
    assert_eq!(
        kind(&result),
        "mismatch",
        "no record of the type: {result:?}"
    );
}

#[tokio::test]
async fn nxdomain_and_servfail_are_told_apart() {
    let server = server().await;
    let result = check(&server, &[("DNS_DOMAIN", "nx.test")]).await;
    assert_eq!(
        (result.health, kind(&result)),
        (Health::Failing, "nxdomain"),
        "{result:?}"
    );
    assert!(message(&result).contains("NXDOMAIN"));
    let result = check(&server, &[("DNS_DOMAIN", "fail.test")]).await;
    assert_eq!(
        (result.health, kind(&result)),
        (Health::Failing, "servfail"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = server().await;
    let started = std::time::Instant::now();
    let result = check(&server, &[("DNS_DOMAIN", "silent.test")]).await;
    assert_eq!(
        (result.health, kind(&result)),
        (Health::Failing, "timeout"),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
    let server = server().await;
    let result = check(
        &server,
        &[
            ("DNS_DOMAIN", "big.test"),
            ("DNS_RECORD", "TXT"),
            ("DNS_EXPECT", "part 39"),
        ],
    )
    .await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
    assert_eq!(values(&result).len(), 40);
    assert!(
        server.udp.load(Ordering::SeqCst) >= 1,
        "asked over UDP first"
    );
    assert!(server.tcp.load(Ordering::SeqCst) >= 1, "then over TCP");
}

#[tokio::test]
async fn the_site_status_function_runs_dns_monitors_of_lookout_yaml() {
    let server = server().await;
    let yaml = format!(
        "monitors:\n  - {{name: www, type: dns, domain: ok.test, server: \"{0}\", expect: 192.0.2.10}}\n  - {{name: gone, type: dns, domain: nx.test, server: \"{0}\"}}\n",
        server.address
    );
    let (health, report) =
        support::lambda::one_tick_with_file(env!("CARGO_BIN_EXE_site-status"), &yaml).await;
    assert_eq!(
        health.get("dns:www").map(String::as_str),
        Some("ok"),
        "{report}"
    );
    assert_eq!(
        health.get("dns:gone").map(String::as_str),
        Some("failing"),
        "{report}"
    );
}
