//! An authoritative DNS server for the `test.` zone on one free port of 127.0.0.1, UDP and TCP:
//! names that resolve, one to the wrong address, NXDOMAIN, SERVFAIL, a name never answered, and an
//! answer too large for UDP that must be asked again over TCP. Each query is answered on its own,
//! after the delay set (none at first), so many monitors asking at once are not queued behind
//! each other.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// The test zone's server: its address, and how many queries came over each transport.
pub struct Server {
    pub address: SocketAddr,
    pub udp: Arc<AtomicUsize>,
    pub tcp: Arc<AtomicUsize>,
    delay: Arc<Mutex<Duration>>,
}

impl Server {
    /// Every answer from now on waits this long.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// The names the zone holds (besides every name under `many.test.`): any other name of `test.` is
/// NXDOMAIN, as an authoritative server answers (RFC 1035, RFC 2308); a name of another zone is
/// REFUSED, as a server answers for a zone it does not serve.
const NAMES: &[&str] = &[
    "test.",
    "ok.test.",
    "www.test.",
    "wrong.test.",
    "forged.test.",
    "big.test.",
    "mail.test.",
    "ns1.test.",
];

/// The zone's answer to `query`, or `None` to stay silent. `big.test.` is too large for UDP: over
/// UDP it is a truncated answer with nothing in it, over TCP the whole. Any name under
/// `many.test.` has the address 192.0.2.10. A query that does not ask exactly one question is
/// FORMERR, as servers answer it.
fn answer(query: &Message, over_tcp: bool) -> Option<Message> {
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    let [question] = &query.queries[..] else {
        response.metadata.response_code = ResponseCode::FormErr;
        return Some(response);
    };
    let asked = question.name().to_ascii().to_ascii_lowercase();
    let kind = question.query_type();
    response.add_query(question.clone());
    if asked != "test." && !asked.ends_with(".test.") {
        response.metadata.response_code = ResponseCode::Refused;
        return Some(response);
    }
    response.metadata.authoritative = true;
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
        (many, RecordType::A) if many.ends_with(".many.test.") => {
            response.add_answer(record(RData::A(A(Ipv4Addr::new(192, 0, 2, 10)))));
        }
        ("forged.test.", RecordType::A) => {
            response.add_answer(record(RData::A(A(Ipv4Addr::new(192, 0, 2, 10)))));
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
        (other, _) if !NAMES.contains(&other) && !other.ends_with(".many.test.") => {
            response.metadata.response_code = ResponseCode::NXDomain;
        }
        // A name the zone holds, without records of this type: NODATA.
        _ => {}
    }
    Some(response)
}

/// For `forged.test.` over UDP, what an attacker racing the server sends first: the same
/// question and another id, with another address (192.0.2.66). A client that reads it is fooled.
fn forged(response: &Message) -> Option<Message> {
    let question = response.queries.first()?;
    if question.name().to_ascii() != "forged.test." {
        return None;
    }
    let mut forged = response.clone();
    forged.metadata.id = response.metadata.id.wrapping_add(1);
    forged.answers = vec![Record::from_rdata(
        question.name().clone(),
        60,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 66))),
    )];
    Some(forged)
}

/// Starts the zone's server on one free port of 127.0.0.1, UDP and TCP.
pub async fn server() -> Server {
    let (udp_socket, tcp_listener) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let address = udp_socket.local_addr().unwrap();
    let (udp, tcp) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let delay = Arc::new(Mutex::new(Duration::ZERO));
    let udp_socket = Arc::new(udp_socket);
    let (counted, waits) = (Arc::clone(&udp), Arc::clone(&delay));
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        while let Ok((n, from)) = udp_socket.recv_from(&mut buffer).await {
            counted.fetch_add(1, Ordering::SeqCst);
            let Ok(query) = Message::from_vec(&buffer[..n]) else {
                continue;
            };
            let (socket, wait) = (Arc::clone(&udp_socket), *waits.lock().unwrap());
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                if let Some(response) = answer(&query, false) {
                    if let Some(forged) = forged(&response) {
                        let _ = socket.send_to(&forged.to_vec().unwrap(), from).await;
                    }
                    let _ = socket.send_to(&response.to_vec().unwrap(), from).await;
                }
            });
        }
    });
    let (counted, waits) = (Arc::clone(&tcp), Arc::clone(&delay));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp_listener.accept().await {
            let (counted, waits) = (Arc::clone(&counted), Arc::clone(&waits));
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
                    let wait = *waits.lock().unwrap();
                    tokio::time::sleep(wait).await;
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
    Server {
        address,
        udp,
        tcp,
        delay,
    }
}
