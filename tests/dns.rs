//! `type: dns` against the authoritative DNS server of `support::dns` on 127.0.0.1 (UDP and TCP on
//! one free port): a name that resolves, one to the wrong address, NXDOMAIN, SERVFAIL, a server that
//! never answers, and an answer too large for UDP that must be asked again over TCP.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lookout::alerting::state::memory::MemoryStore;
use lookout::checks::{CheckResult, Health, Measurement, Naming, SharedLedger, dns};
use lookout::config::Env;
use support::dns::{Server, server};
use support::scripted::tick_at;
use tokio::time::Instant;

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
async fn a_name_the_zone_lacks_is_nxdomain_and_one_outside_it_is_refused() {
    let server = server().await;
    let result = check(&server, &[("DNS_DOMAIN", "nowhere.test")]).await;
    assert_eq!(
        (result.health, kind(&result)),
        (Health::Failing, "nxdomain"),
        "{result:?}"
    );
    let result = check(&server, &[("DNS_DOMAIN", "example.com")]).await;
    assert_eq!(result.health, Health::Failing, "{result:?}");
    assert!(message(&result).contains("Refused"), "{}", message(&result));
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
async fn an_answer_to_another_query_id_is_not_read() {
    let server = server().await;
    let result = check(
        &server,
        &[("DNS_DOMAIN", "forged.test"), ("DNS_EXPECT", "192.0.2.10")],
    )
    .await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
    assert_eq!(
        values(&result),
        ["192.0.2.10"],
        "the forged 192.0.2.66 was read"
    );
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
