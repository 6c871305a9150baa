//! site-status against a local fake site: every way a site can be up or down.

mod support;

use std::time::{Duration, Instant};

use lookout::checks::site::{SiteCheck, SiteSettings};
use lookout::checks::{Check, CheckResult, Health, Measurement};
use lookout::config::Env;
use lookout::tick::{Tick, TickSource};
use support::site::{self as fake, TestCertificates};

fn check(pairs: &[(&str, &str)]) -> SiteCheck {
    check_trusting(pairs, None)
}

fn check_trusting(pairs: &[(&str, &str)], root_der: Option<&[u8]>) -> SiteCheck {
    let mut vars = vec![("SITE_RETRIES", "0")];
    vars.extend_from_slice(pairs);
    let settings = lookout::config::read::settings::<SiteSettings>(&Env::from_pairs(vars))
        .expect("valid settings");
    let roots = root_der
        .map(|der| vec![reqwest::Certificate::from_der(der).expect("root certificate")])
        .unwrap_or_default();
    SiteCheck::with_root_certificates(settings, roots).expect("client")
}

fn tick() -> Tick {
    Tick {
        id: "test".into(),
        time: chrono::Utc::now(),
        source: TickSource::Manual,
    }
}

async fn run_one(check: &SiteCheck) -> CheckResult {
    let mut results = check
        .run(&tick(), &Default::default(), far_deadline())
        .await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

fn site(result: &CheckResult) -> &lookout::checks::site::SiteMeasurement {
    match &result.measurement {
        Measurement::Site(m) => m,
        other => panic!("not a site measurement: {other:?}"),
    }
}

fn failure_kind(result: &CheckResult) -> Option<&'static str> {
    result.failure.as_ref().map(|f| f.kind)
}

fn message(result: &CheckResult) -> &str {
    result
        .failure
        .as_ref()
        .map(|f| f.message.as_str())
        .unwrap_or("")
}

#[tokio::test]
async fn a_healthy_page_passes_with_its_status_and_time() {
    let (address, _) = fake::start().await;
    let url = format!("http://{address}/ok");
    let result = run_one(&check(&[("SITE_URLS", &url), ("SITE_KEYWORD", "Welcome")])).await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
    assert_eq!(result.failure, None);
    assert_eq!(site(&result).status, Some(200));
    assert_eq!(site(&result).attempts, 1);
    assert_eq!(site(&result).cert_days_left, None);
    assert_eq!(result.key, format!("site-status:{url}"));
}

#[tokio::test]
async fn a_503_fails_on_status() {
    let (address, _) = fake::start().await;
    let result = run_one(&check(&[(
        "SITE_URLS",
        &format!("http://{address}/status/503"),
    )]))
    .await;
    assert_eq!(result.health, Health::Failing);
    assert_eq!(failure_kind(&result), Some("status"));
    assert!(
        message(&result).contains("503 Service Unavailable"),
        "{}",
        message(&result)
    );
    assert_eq!(site(&result).status, Some(503));
}

#[tokio::test]
async fn expected_statuses_can_include_redirect_codes_and_redirects_are_followed() {
    let (address, _) = fake::start().await;
    let url = format!("http://{address}/moved");
    let followed = run_one(&check(&[("SITE_URLS", &url)])).await;
    assert_eq!(followed.health, Health::Ok, "{followed:?}");
    assert_eq!(
        site(&followed).final_url.as_deref(),
        Some(format!("http://{address}/ok").as_str())
    );

    let teapot = format!("http://{address}/status/418");
    let accepted = run_one(&check(&[
        ("SITE_URLS", &teapot),
        ("SITE_EXPECTED_STATUS", "200,418"),
    ]))
    .await;
    assert_eq!(accepted.health, Health::Ok, "{accepted:?}");
}

#[tokio::test]
async fn a_slow_page_times_out() {
    let (address, _) = fake::start().await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("http://{address}/slow/3000")),
        ("SITE_TIMEOUT_MS", "300"),
    ]))
    .await;
    assert_eq!(failure_kind(&result), Some("timeout"), "{result:?}");
    assert!(message(&result).contains("300 ms"), "{}", message(&result));
}

#[tokio::test]
async fn a_page_slower_than_the_latency_limit_fails_on_latency() {
    let (address, _) = fake::start().await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("http://{address}/slow/400")),
        ("SITE_MAX_LATENCY_MS", "150"),
    ]))
    .await;
    assert_eq!(failure_kind(&result), Some("latency"), "{result:?}");
    assert!(site(&result).elapsed_ms >= 400);
}

#[tokio::test]
async fn a_page_without_the_keyword_fails() {
    let (address, _) = fake::start().await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("http://{address}/ok")),
        ("SITE_KEYWORD", "Checkout"),
    ]))
    .await;
    assert_eq!(failure_kind(&result), Some("keyword"));
    assert!(
        message(&result).contains("\"Checkout\""),
        "{}",
        message(&result)
    );
}

#[tokio::test]
async fn a_huge_body_is_read_only_to_its_first_mebibyte() {
    let (address, _) = fake::start().await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("http://{address}/huge")),
        ("SITE_KEYWORD", "Welcome"),
    ]))
    .await;
    assert_eq!(failure_kind(&result), Some("keyword"));
    assert!(
        message(&result).contains("first 1 MiB"),
        "{}",
        message(&result)
    );
    // Without a keyword the same page is healthy.
    let plain = run_one(&check(&[("SITE_URLS", &format!("http://{address}/huge"))])).await;
    assert_eq!(plain.health, Health::Ok, "{plain:?}");
}

#[tokio::test]
async fn a_refused_connection_fails_on_connect() {
    let address = fake::refused_port().await;
    let result = run_one(&check(&[("SITE_URLS", &format!("http://{address}/"))])).await;
    assert_eq!(failure_kind(&result), Some("connect"), "{result:?}");
    assert!(message(&result).contains("refused"), "{}", message(&result));
    assert_eq!(site(&result).status, None);
}

#[tokio::test]
async fn an_unknown_name_fails_on_dns() {
    let result = run_one(&check(&[
        ("SITE_URLS", "http://no-such-host.invalid/"),
        ("SITE_TIMEOUT_MS", "5000"),
    ]))
    .await;
    assert_eq!(failure_kind(&result), Some("dns"), "{result:?}");
    assert!(
        message(&result).contains("no-such-host.invalid"),
        "{}",
        message(&result)
    );
}

#[tokio::test]
async fn a_redirect_loop_is_named_as_one() {
    let (address, _) = fake::start().await;
    let result = run_one(&check(&[(
        "SITE_URLS",
        &format!("http://{address}/loop/a"),
    )]))
    .await;
    assert_eq!(failure_kind(&result), Some("redirect"), "{result:?}");
    assert!(
        message(&result).contains("redirect loop"),
        "{}",
        message(&result)
    );
}

#[tokio::test]
async fn garbage_and_silence_are_failures_with_their_reasons() {
    let garbage = fake::garbage_server().await;
    let result = run_one(&check(&[("SITE_URLS", &format!("http://{garbage}/"))])).await;
    assert_eq!(failure_kind(&result), Some("protocol"), "{result:?}");
    assert!(
        message(&result).contains("valid HTTP"),
        "{}",
        message(&result)
    );

    let silent = fake::silent_server().await;
    let started = Instant::now();
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("http://{silent}/")),
        ("SITE_TIMEOUT_MS", "300"),
    ]))
    .await;
    assert_eq!(failure_kind(&result), Some("timeout"), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the run must end"
    );
}

#[tokio::test]
async fn a_self_signed_certificate_fails_on_tls() {
    let certificates = TestCertificates::self_signed();
    let address = fake::start_tls(&certificates).await;
    let result = run_one(&check(&[("SITE_URLS", &format!("https://{address}/ok"))])).await;
    assert_eq!(failure_kind(&result), Some("tls"), "{result:?}");
    assert!(
        message(&result).contains("UnknownIssuer"),
        "{}",
        message(&result)
    );
}

#[tokio::test]
async fn a_host_that_opts_out_of_verification_is_checked_anyway() {
    let certificates = TestCertificates::self_signed();
    let address = fake::start_tls(&certificates).await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("https://{address}/ok")),
        ("SITE_TLS_SKIP_VERIFY_HOSTS", "127.0.0.1"),
    ]))
    .await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
    assert!(site(&result).cert_days_left.is_some_and(|d| d > 10_000));
}

#[tokio::test]
async fn certificate_days_left_are_reported_and_judged() {
    let certificates = TestCertificates::from_test_ca(5);
    let address = fake::start_tls(&certificates).await;
    let url = format!("https://{address}/ok");
    let soon = run_one(&check_trusting(
        &[("SITE_URLS", &url), ("SITE_CERT_MIN_DAYS", "14")],
        Some(&certificates.root_der),
    ))
    .await;
    assert_eq!(failure_kind(&soon), Some("certificate"), "{soon:?}");
    assert_eq!(site(&soon).cert_days_left, Some(5));
    assert!(
        message(&soon).contains("expires in 5 days"),
        "{}",
        message(&soon)
    );

    let fine = run_one(&check_trusting(
        &[("SITE_URLS", &url), ("SITE_CERT_MIN_DAYS", "3")],
        Some(&certificates.root_der),
    ))
    .await;
    assert_eq!(fine.health, Health::Ok, "{fine:?}");
    assert_eq!(site(&fine).status, Some(200));
}

#[tokio::test]
async fn passing_trouble_is_retried_within_the_run() {
    let (address, hits) = fake::start().await;
    let url = format!("http://{address}/flaky/2");
    let result = run_one(&check(&[("SITE_URLS", &url), ("SITE_RETRIES", "2")])).await;
    assert_eq!(result.health, Health::Ok, "{result:?}");
    assert_eq!(site(&result).attempts, 3);
    assert_eq!(hits.count(), 3);

    let (address, hits) = fake::start().await;
    let url = format!("http://{address}/flaky/2");
    let result = run_one(&check(&[("SITE_URLS", &url), ("SITE_RETRIES", "1")])).await;
    assert_eq!(failure_kind(&result), Some("status"));
    assert_eq!(site(&result).attempts, 2);
    assert_eq!(hits.count(), 2);
}

#[tokio::test]
async fn a_certificate_failure_is_not_retried() {
    let certificates = TestCertificates::self_signed();
    let address = fake::start_tls(&certificates).await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("https://{address}/ok")),
        ("SITE_RETRIES", "3"),
    ]))
    .await;
    assert_eq!(failure_kind(&result), Some("tls"));
    assert_eq!(site(&result).attempts, 1);
}

#[tokio::test]
async fn all_urls_are_checked_at_once() {
    let (address, hits) = fake::start().await;
    let urls: Vec<String> = (0..20)
        .map(|i| format!("http://{address}/slow/500?n={i}"))
        .collect();
    let joined = urls.join(",");
    let results = check(&[("SITE_URLS", &joined)])
        .run(&tick(), &Default::default(), far_deadline())
        .await;
    assert_eq!(results.len(), 20);
    assert!(
        results.iter().all(|r| r.health == Health::Ok),
        "{results:?}"
    );
    assert_eq!(
        hits.most_in_flight(),
        20,
        "every URL's request was in flight at the same time"
    );
    // Results keep the order of SITE_URLS.
    for (result, url) in results.iter().zip(&urls) {
        assert_eq!(&result.target, url);
    }
}

/// A deadline no check here comes near.
fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(600)
}

#[tokio::test]
async fn a_redirect_that_fails_is_reported_against_the_host_that_failed() {
    let dead = support::site::refused_port().await;
    let entry = support::site::redirect_server(format!("http://{dead}/moved-here")).await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("http://{entry}/")),
        ("SITE_RETRIES", "0"),
    ]))
    .await;
    assert_eq!(failure_kind(&result), Some("connect"));
    let text = message(&result);
    assert!(
        text.contains(&dead.to_string()) && !text.contains(&entry.to_string()),
        "names the host that refused ({dead}), not the one configured ({entry}): {text}"
    );
}

#[tokio::test]
async fn a_body_that_stalls_is_a_timeout_called_a_timeout() {
    let stalled = support::site::stalled_body_server().await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("http://{stalled}/")),
        ("SITE_TIMEOUT_MS", "500"),
        ("SITE_RETRIES", "0"),
    ]))
    .await;
    assert_eq!(
        failure_kind(&result),
        Some("timeout"),
        "{}",
        message(&result)
    );
    assert!(
        !message(&result).contains("decoding"),
        "{}",
        message(&result)
    );
}

#[tokio::test]
async fn a_declared_length_never_sent_is_protocol() {
    let short = support::site::short_body_server().await;
    let result = run_one(&check(&[
        ("SITE_URLS", &format!("http://{short}/")),
        ("SITE_RETRIES", "0"),
    ]))
    .await;
    assert_eq!(
        failure_kind(&result),
        Some("protocol"),
        "{}",
        message(&result)
    );
}

/// A check of `http://shop.test:<port>/` that reaches `entry` whatever DNS says: a public-looking
/// name, so that internal addresses are not its own.
fn public_looking(entry: std::net::SocketAddr) -> SiteCheck {
    let settings = lookout::config::read::settings::<SiteSettings>(&Env::from_pairs([
        ("SITE_URLS", format!("http://shop.test:{}/", entry.port())),
        ("SITE_RETRIES", "0".into()),
    ]))
    .expect("settings");
    SiteCheck::with_connections(settings, Vec::new(), &[("shop.test", entry)]).expect("client")
}

#[tokio::test]
async fn redirects_to_internal_addresses_are_not_followed_from_a_public_site() {
    let (inside, hits) = fake::start().await;
    for location in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        format!("http://127.0.0.1:{}/ok", inside.port()),
        format!("http://[::1]:{}/ok", inside.port()),
        format!("http://localhost:{}/ok", inside.port()),
    ] {
        let entry = support::site::redirect_server(location.clone()).await;
        let result = run_one(&public_looking(entry)).await;
        assert_eq!(
            failure_kind(&result),
            Some("redirect"),
            "{location}: {result:?}"
        );
        assert!(
            message(&result).contains("an internal address"),
            "{location}: {}",
            message(&result)
        );
    }
    assert_eq!(hits.count(), 0, "no internal address was asked");
    // A site that is itself internal may redirect inside.
    let entry =
        support::site::redirect_server(format!("http://127.0.0.1:{}/ok", inside.port())).await;
    let internal = run_one(&check(&[("SITE_URLS", &format!("http://{entry}/"))])).await;
    assert_eq!(internal.health, Health::Ok, "{internal:?}");
}
