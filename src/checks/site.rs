//! site-status: is the site up? Status code, time, body keyword and TLS certificate, per URL.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Certificate, Client, StatusCode, redirect};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use super::{
    Check, CheckResult, CheckType, Failure, Health, Measurement, Memory, Naming, Words, kind,
};
use crate::config::read::{self, Parse, Problem};
use crate::config::{ConfigError, Env, SettingKey, SetupError, list, one, variable};
use crate::retry::{self, Backoff, Retryable};
use crate::tick::Tick;

/// The function's name, as deployed.
pub const FUNCTION: &str = "site-status";

/// `type: site` in `lookout.yaml`.
pub const TYPE: CheckType = CheckType {
    name: "site",
    function: FUNCTION,
    display: Words {
        zh: "站点状态",
        en: "site status",
    },
    kinds: &[
        kind("dns", "域名解析失败", "DNS failure"),
        kind("connect", "连接失败", "connection failed"),
        kind("tls", "TLS握手失败", "TLS handshake failed"),
        kind("timeout", "超时", "timeout"),
        kind("status", "状态码异常", "unexpected status"),
        kind("keyword", "缺少关键词", "keyword missing"),
        kind("latency", "响应慢", "slow"),
        kind("certificate", "证书即将过期", "certificate expiring"),
        kind("redirect", "重定向异常", "redirect problem"),
        kind("protocol", "响应不是有效HTTP", "not valid HTTP"),
    ],
    keys: &[
        one("url", "SITE_URLS")
            .parameter()
            .doc("the URL (one per monitor; the variable takes a list)")
            .hint(URLS_HINT),
        list("expected_status", "SITE_EXPECTED_STATUS")
            .parameter()
            .default("200-299")
            .doc("the statuses that pass, as a list or `\"200,301-302\"`; default 200-299")
            .hint("set it to status codes and ranges, comma-separated, e.g. 200,301-302"),
        one("timeout_ms", "SITE_TIMEOUT_MS")
            .parameter()
            .default("10000")
            .doc("how long one attempt may take"),
        one("keyword", "SITE_KEYWORD")
            .parameter()
            .doc("text the body must contain"),
        one("max_latency_ms", "SITE_MAX_LATENCY_MS")
            .parameter()
            .doc("slower than this fails"),
        one("cert_min_days", "SITE_CERT_MIN_DAYS")
            .parameter()
            .doc("fewer days of TLS certificate left fails")
            .hint("set it to a whole number of days, e.g. 14"),
        one("retries", "SITE_RETRIES")
            .parameter()
            .default("2")
            .doc("attempts after the first before it fails")
            .hint("set it to a whole number from 0 to 10, e.g. 2"),
        list("tls_skip_verify_hosts", "SITE_TLS_SKIP_VERIFY_HOSTS")
            .parameter()
            .doc("hosts whose certificate is not verified"),
        super::confirm::key("SITE_CONFIRM"),
    ],
    // Each check holds a connection, and Lambda allows 1,024 open descriptors in all: past 900 a
    // tick would run out of them.
    variables: &[
        variable("SITE_CONCURRENCY")
            .default("256")
            .doc("how many sites are checked at once, all monitors together")
            .hint("set it to how many URLs may be checked at once, 1 to 900 (each check holds a connection; Lambda allows 1,024 open files)"),
        super::speedtest::globalping::BASE_URL,
        super::speedtest::globalping::TOKEN,
    ],
    host: None,
    validate: validate_monitor,
    build: build_monitors,
};

/// A monitor watches one URL: its incident is named after the monitor.
fn validate_monitor(env: &Env) -> Result<(), ConfigError> {
    let settings = read::settings::<SiteSettings>(env)?;
    if settings.urls.len() > 1 {
        return Err(ConfigError::invalid(
            "SITE_URLS",
            env.get("SITE_URLS").unwrap_or_default(),
            "more than one URL",
            "give each URL a monitor of its own, with its own name",
        ));
    }
    Ok(())
}

/// One check per monitor, sharing one HTTP client per timeout and one bound on checks in flight
/// (`SITE_CONCURRENCY`, a function-wide setting).
fn build_monitors(
    monitors: Vec<(Env, Naming)>,
    _store: &super::SharedLedger,
) -> Result<Vec<Box<dyn Check>>, SetupError> {
    let mut clients: HashMap<(Duration, bool), Client> = HashMap::new();
    let mut permits: Option<Arc<Semaphore>> = None;
    let mut checks: Vec<Box<dyn Check>> = Vec::with_capacity(monitors.len());
    for (env, naming) in monitors {
        let settings = read::settings::<SiteSettings>(&env)?;
        let mut client = |verify: bool| -> Result<Client, SetupError> {
            if let Some(client) = clients.get(&(settings.timeout, verify)) {
                return Ok(client.clone());
            }
            let client = http_client(&settings, Vec::new(), verify, &[])?;
            clients.insert((settings.timeout, verify), client.clone());
            Ok(client)
        };
        let verifying = client(true)?;
        let non_verifying = if settings.skip_verify_hosts.is_empty() {
            None
        } else {
            Some(client(false)?)
        };
        let permits = permits
            .get_or_insert_with(|| Arc::new(Semaphore::new(settings.concurrency)))
            .clone();
        checks.push(Box::new(SiteCheck {
            settings,
            verifying,
            non_verifying,
            naming,
            permits,
        }));
    }
    Ok(checks)
}
/// How much of a body is read, and searched for the keyword.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 10;
/// The wait before the first in-run retry (with jitter, then doubling): a quarter to half a second.
const RETRY_BASE: Duration = Duration::from_millis(500);
/// The longest wait between in-run retries.
const RETRY_MAX: Duration = Duration::from_secs(4);
/// site-status settings, from `SITE_*` variables.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct SiteSettings {
    /// `SITE_URLS`: the URLs to check.
    #[serde(rename = "url", deserialize_with = "targets")]
    pub urls: Vec<Url>,
    /// `SITE_EXPECTED_STATUS`: accepted final status codes.
    #[serde(deserialize_with = "read::parsed")]
    pub expected_status: StatusRanges,
    /// `SITE_TIMEOUT_MS`: per request, body included.
    #[serde(rename = "timeout_ms", deserialize_with = "read::millis")]
    pub timeout: Duration,
    /// `SITE_KEYWORD`: text the first [`BODY_LIMIT`] bytes of the body must contain.
    pub keyword: Option<String>,
    /// `SITE_MAX_LATENCY_MS`: slower counts as failing.
    #[serde(
        rename = "max_latency_ms",
        default,
        deserialize_with = "read::millis_some"
    )]
    pub max_latency: Option<Duration>,
    /// `SITE_CERT_MIN_DAYS`: a certificate expiring sooner counts as failing.
    pub cert_min_days: Option<i64>,
    /// `SITE_RETRIES`: in-run retries before a target counts as down.
    #[serde(deserialize_with = "read::between::<_, u32, 0, 10>")]
    pub retries: u32,
    /// `SITE_TLS_SKIP_VERIFY_HOSTS`: hosts whose certificate is not verified (an explicit opt-out).
    #[serde(
        rename = "tls_skip_verify_hosts",
        default,
        deserialize_with = "read::lowercase_list"
    )]
    pub skip_verify_hosts: Vec<String>,
    /// `SITE_CONFIRM`: probes elsewhere confirm an unreachable site before it pages.
    #[serde(default, deserialize_with = "read::parsed_some")]
    pub confirm: Option<super::confirm::Confirm>,
    /// `SITE_CONCURRENCY`: checks in flight at once.
    #[serde(
        rename = "SITE_CONCURRENCY",
        deserialize_with = "read::between::<_, usize, 1, 900>"
    )]
    pub concurrency: usize,
    /// The Lambda Runtime API's `host:port` (`AWS_LAMBDA_RUNTIME_API`): never a check's target, nor
    /// a redirect's.
    #[serde(skip)]
    pub runtime_api: Option<String>,
}

impl read::Settings for SiteSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[TYPE.keys, TYPE.variables];

    /// The Lambda Runtime API of this very function is never a target.
    fn checked(mut self, env: &Env) -> Result<Self, ConfigError> {
        self.runtime_api = env
            .get("AWS_LAMBDA_RUNTIME_API")
            .map(str::to_ascii_lowercase);
        if let Some(api) = &self.runtime_api
            && let Some(url) = self.urls.iter().find(|u| authority_of(u) == *api)
        {
            return Err(ConfigError::invalid(
                "SITE_URLS",
                &display_url(url),
                "it is the Lambda Runtime API of this very function",
                URLS_HINT,
            ));
        }
        if self.urls.is_empty() {
            return Err(ConfigError::invalid(
                "SITE_URLS",
                env.get("SITE_URLS").unwrap_or_default(),
                "no URL in it",
                URLS_HINT,
            ));
        }
        Ok(self)
    }
}

const URLS_HINT: &str = "set it to one or more http(s) URLs, comma-separated, e.g. https://example.com,https://api.example.com/health";

/// The URLs to check, each once: `https://Example.com` and `https://example.com/` are one target.
fn targets<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Url>, D::Error> {
    let mut urls: Vec<Url> = Vec::new();
    for Target(url) in read::parsed_list::<D, Target>(d)? {
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

/// A URL to check: http(s), with a host.
struct Target(Url);

impl Parse for Target {
    fn parse(item: &str) -> Result<Self, Problem> {
        let shown = crate::config::mask_userinfo(item);
        let url = Url::parse(item).map_err(|e| {
            if item.contains("://") {
                Problem::new(format!("not a URL: {e}"))
            } else {
                Problem::new(format!(
                    "not a URL; write it with its scheme, e.g. https://{shown}"
                ))
            }
        })?;
        if let Some(password) = url.password() {
            crate::redact::register(password);
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Problem::new(format!(
                "scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Problem::new("no host"));
        }
        Ok(Target(url))
    }
}

impl Parse for StatusRanges {
    fn parse(raw: &str) -> Result<Self, Problem> {
        StatusRanges::parse(raw).map_err(Problem::new)
    }
}

/// Accepted status codes: single codes and inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges(Vec<RangeInclusive<u16>>);

impl Default for StatusRanges {
    fn default() -> Self {
        StatusRanges(vec![200..=299])
    }
}

impl StatusRanges {
    /// Parses `200,301-302`. The error says which item is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (low, high) = match item.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (item, item),
            };
            let code = |s: &str| -> Result<u16, String> {
                match s.parse::<u16>() {
                    Ok(c) if (100..=599).contains(&c) => Ok(c),
                    _ => Err(format!(
                        "{item:?} is not a status code (100-599) or a range like 200-299"
                    )),
                }
            };
            let (low, high) = (code(low)?, code(high)?);
            if low > high {
                return Err(format!("{item:?} is a range that runs backwards"));
            }
            ranges.push(low..=high);
        }
        if ranges.is_empty() {
            return Err("no status code in it".into());
        }
        Ok(StatusRanges(ranges))
    }

    /// True when `code` is accepted.
    pub fn accepts(&self, code: u16) -> bool {
        self.0.iter().any(|r| r.contains(&code))
    }
}

impl std::fmt::Display for StatusRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| {
                if r.start() == r.end() {
                    r.start().to_string()
                } else {
                    format!("{}-{}", r.start(), r.end())
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// What one URL's check measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteMeasurement {
    /// The URL checked (a password in it is shown as `***`).
    pub url: String,
    /// Where redirects ended, when that is elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// Final HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Time to the answer and up to [`BODY_LIMIT`] of its body, in the last attempt.
    pub elapsed_ms: u64,
    /// Days until the HTTPS certificate expires (negative once expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_days_left: Option<i64>,
    /// Attempts made in this run (1 + retries used).
    pub attempts: u32,
}

/// The site-status check: one HTTP client, every URL concurrently.
pub struct SiteCheck {
    settings: SiteSettings,
    verifying: Client,
    /// Only built when some host opted out of verification.
    non_verifying: Option<Client>,
    naming: Naming,
    /// Checks in flight at once (each holds a connection), shared by a function's site monitors.
    permits: Arc<Semaphore>,
}

impl SiteCheck {
    /// Builds the check with the public web's root certificates.
    pub fn new(settings: SiteSettings) -> Result<Self, SetupError> {
        Self::with_root_certificates(settings, Vec::new())
    }

    /// Builds the check trusting these extra roots as well (a private CA; tests).
    pub fn with_root_certificates(
        settings: SiteSettings,
        roots: Vec<Certificate>,
    ) -> Result<Self, SetupError> {
        Self::with_connections(settings, roots, &[])
    }

    /// Builds the check trusting extra roots, and connecting to these hosts at these addresses
    /// whatever DNS says (curl's `--resolve`: one backend behind a balancer; tests).
    pub fn with_connections(
        settings: SiteSettings,
        roots: Vec<Certificate>,
        resolve: &[(&str, std::net::SocketAddr)],
    ) -> Result<Self, SetupError> {
        let verifying = http_client(&settings, roots, true, resolve)?;
        let non_verifying = if settings.skip_verify_hosts.is_empty() {
            None
        } else {
            Some(http_client(&settings, Vec::new(), false, resolve)?)
        };
        Ok(SiteCheck {
            permits: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
            verifying,
            non_verifying,
            naming: Naming::Function(FUNCTION),
        })
    }

    fn client_for(&self, url: &Url) -> &Client {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        match &self.non_verifying {
            Some(client) if self.settings.skip_verify_hosts.contains(&host) => client,
            _ => &self.verifying,
        }
    }

    /// Checks one URL, retrying what may be passing trouble, finishing by `deadline`: each attempt
    /// is cut to the time left, and no retry starts that could not finish. A URL the deadline left
    /// without one complete answer is a monitor error, never "down".
    pub async fn check_url(&self, url: &Url, now: DateTime<Utc>, deadline: Instant) -> CheckResult {
        // The last complete attempt, kept should a later one be cut short by the deadline.
        let last_failed: std::sync::Mutex<Option<Attempt>> = std::sync::Mutex::new(None);
        let backoff = Backoff {
            base: RETRY_BASE,
            max: RETRY_MAX,
            max_attempts: self.settings.retries + 1,
        };
        let (outcome, made) = retry::retry(backoff, deadline, |_| {
            let last_failed = &last_failed;
            async move {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Tried::Cut);
                }
                let limit = self.settings.timeout.min(left);
                let attempt = self.attempt(url, now, limit).await;
                if attempt.timed_out && limit < self.settings.timeout {
                    // The deadline, not the target, ended this attempt: it measured nothing.
                    return Err(Tried::Cut);
                }
                if attempt.failure.is_none() {
                    return Ok(attempt);
                }
                if let Ok(mut last) = last_failed.lock() {
                    *last = Some(attempt.clone());
                }
                Err(Tried::Failed(attempt))
            }
        })
        .await;
        let (measured, attempts) = match outcome {
            Ok(attempt) | Err(Tried::Failed(attempt)) => (Some(attempt), made),
            Err(Tried::Cut) => (
                last_failed.into_inner().ok().flatten(),
                made.saturating_sub(1),
            ),
        };
        let shown = display_url(url);
        let attempt = measured.unwrap_or_else(|| Attempt {
            status: None,
            final_url: None,
            elapsed_ms: 0,
            cert_days_left: None,
            timed_out: false,
            failure: Some(Failure {
                kind: "monitor",
                message: format!(
                    "not checked: the invocation's time ran out before {shown} gave a complete answer (SITE_TIMEOUT_MS={} ms, SITE_RETRIES={}): raise the function's timeout, or lower SITE_TIMEOUT_MS, SITE_RETRIES or the number of URLs",
                    self.settings.timeout.as_millis(),
                    self.settings.retries
                ),
            }),
        });
        // A passing check is in the history already: logged only at debug, so a healthy tick of
        // 1,000 sites does not write 300 KB of logs (CloudWatch bills every byte ingested).
        if attempt.failure.is_some() {
            tracing::info!(
                target_url = %shown,
                status = attempt.status,
                elapsed_ms = attempt.elapsed_ms,
                attempts,
                failure = attempt.failure.as_ref().map(|f| f.kind),
                "check finished"
            );
        } else {
            tracing::debug!(
                target_url = %shown,
                status = attempt.status,
                elapsed_ms = attempt.elapsed_ms,
                attempts,
                "check finished"
            );
        }
        let health = match &attempt.failure {
            None => Health::Ok,
            Some(f) if f.kind == "monitor" => Health::MonitorError,
            Some(_) => Health::Failing,
        };
        CheckResult {
            since: None,
            key: self.naming.whole(&shown),
            target: self.naming.shown(&shown),
            health,
            failure: attempt.failure,
            measurement: Measurement::Site(SiteMeasurement {
                final_url: attempt
                    .final_url
                    .filter(|f| f != url)
                    .map(|f| display_url(&f)),
                url: shown,
                status: attempt.status,
                elapsed_ms: attempt.elapsed_ms,
                cert_days_left: attempt.cert_days_left,
                attempts,
            }),
            memory: None,
        }
    }

    /// Follows a redirect from `from`, if the answer is one: the next URL, or why not.
    async fn next_hop(
        &self,
        configured: &Url,
        from: &Url,
        response: &reqwest::Response,
        visited: &[Url],
        configured_internal: &mut Option<bool>,
    ) -> Result<Option<Url>, RedirectProblem> {
        let Some(location) = response
            .headers()
            .get(reqwest::header::LOCATION)
            .filter(|_| response.status().is_redirection())
        else {
            return Ok(None);
        };
        let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
        let next = from
            .join(&location)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| RedirectProblem::BadLocation {
                from: display_url(from),
                location: location.chars().take(200).collect(),
            })?;
        if visited.len() > MAX_REDIRECTS {
            return Err(RedirectProblem::TooMany);
        }
        if visited.contains(&next) {
            return Err(RedirectProblem::Loop(display_url(&next)));
        }
        if self.settings.runtime_api.as_deref() == Some(authority_of(&next).as_str()) {
            return Err(RedirectProblem::RuntimeApi {
                from: display_url(from),
                to: authority_of(&next),
            });
        }
        if let Some(address) = internal_address(&next).await {
            let allowed = match *configured_internal {
                Some(allowed) => allowed,
                None => {
                    let allowed = internal_address(configured).await.is_some();
                    *configured_internal = Some(allowed);
                    allowed
                }
            };
            if !allowed {
                return Err(RedirectProblem::Internal {
                    from: display_url(from),
                    to: next.host_str().unwrap_or_default().to_owned(),
                    address,
                });
            }
        }
        Ok(Some(next))
    }

    async fn attempt(&self, url: &Url, now: DateTime<Utc>, limit: Duration) -> Attempt {
        let started = Instant::now();
        let exchange = async {
            // Redirects are followed here, hop by hop, so that each is checked (loops, internal
            // addresses) and a failure is told against the host that failed.
            let mut current = url.clone();
            let mut visited = vec![url.clone()];
            let mut configured_internal = None;
            let mut response = loop {
                let request = self.client_for(&current).get(current.clone()).send();
                let response = request.await.map_err(|error| ExchangeError::Request {
                    url: current.clone(),
                    error,
                })?;
                let hop = self
                    .next_hop(url, &current, &response, &visited, &mut configured_internal)
                    .await
                    .map_err(ExchangeError::Redirect)?;
                match hop {
                    Some(next) => {
                        visited.push(next.clone());
                        current = next;
                    }
                    None => break response,
                }
            };
            let status = response.status();
            let certificate = response
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|info| info.peer_certificate())
                .and_then(certificate_expiry);
            let mut body = Vec::new();
            while body.len() < BODY_LIMIT {
                let chunk = response
                    .chunk()
                    .await
                    .map_err(|error| ExchangeError::Request {
                        url: current.clone(),
                        error,
                    })?;
                match chunk {
                    Some(chunk) => body.extend_from_slice(&chunk),
                    None => break,
                }
            }
            body.truncate(BODY_LIMIT);
            Ok::<_, ExchangeError>((status, current, certificate, body))
        };
        let outcome = tokio::time::timeout(limit, exchange).await;
        let elapsed = started.elapsed();
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Err(_) => Attempt {
                timed_out: true,
                ..Attempt::failed(elapsed_ms, timeout_failure(self.settings.timeout))
            },
            Ok(Err(ExchangeError::Redirect(problem))) => Attempt::failed(
                elapsed_ms,
                Failure {
                    kind: "redirect",
                    message: format!("{problem}: fix the redirect rules on the server"),
                },
            ),
            Ok(Err(ExchangeError::Request { url: failed, error })) => {
                Attempt::failed(elapsed_ms, classify_error(&error, &failed, url))
            }
            Ok(Ok((status, final_url, certificate, body))) => {
                let answer = Answer {
                    status,
                    elapsed,
                    body: &body,
                    certificate_expires: certificate,
                    now,
                };
                Attempt {
                    failure: evaluate(&self.settings, &answer),
                    timed_out: false,
                    status: Some(status.as_u16()),
                    final_url: Some(final_url),
                    elapsed_ms,
                    cert_days_left: certificate.map(|expires| (expires - now).num_days()),
                }
            }
        }
    }
}

#[async_trait]
impl Check for SiteCheck {
    fn function(&self) -> &'static str {
        FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    /// A site that cannot be reached (no name, no connection, no answer, TLS) or answers a 5xx:
    /// its URL fetched from elsewhere, without its credentials (nor its query, when that holds a
    /// secret).
    fn elsewhere(&self, result: &CheckResult) -> Option<super::confirm::Elsewhere> {
        let confirm = self.settings.confirm.clone()?;
        let failure = result.failure.as_ref()?;
        let status_5xx = matches!(&result.measurement, Measurement::Site(m) if m.status.is_some_and(|s| s >= 500));
        if !(super::confirm::REACHABILITY.contains(&failure.kind)
            || (failure.kind == "status" && status_5xx))
        {
            return None;
        }
        let url = self
            .settings
            .urls
            .iter()
            .find(|url| self.naming.whole(&display_url(url)) == result.key)?;
        let mut bare = url.clone();
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        if matches!(
            crate::redact::scrub(bare.as_str()),
            std::borrow::Cow::Owned(_)
        ) {
            bare.set_query(None);
        }
        Some(super::confirm::Elsewhere {
            measure: super::confirm::Measure::Http {
                url: bare.to_string(),
            },
            confirm,
        })
    }

    async fn run(&self, tick: &Tick, _memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        // Bounded: every check holds a connection, and Lambda allows 1,024 descriptors.
        let checks = self.settings.urls.iter().map(|url| async move {
            // The semaphore is never closed, so a permit always comes.
            let _permit = self.permits.acquire().await.ok();
            self.check_url(url, tick.time, deadline).await
        });
        futures::future::join_all(checks).await
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        let lines: Vec<String> = results
            .iter()
            .filter_map(|r| match &r.measurement {
                Measurement::Site(site) => {
                    let status = site
                        .status
                        .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"));
                    let mut figures = format!("{status} in {} ms", site.elapsed_ms);
                    if let Some(days) = site.cert_days_left {
                        figures.push_str(&format!(", certificate {days} days left"));
                    }
                    Some(super::summary_line(r, &figures))
                }
                _ => None,
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

fn http_client(
    settings: &SiteSettings,
    roots: Vec<Certificate>,
    verify: bool,
    resolve: &[(&str, std::net::SocketAddr)],
) -> Result<Client, SetupError> {
    let mut builder = Client::builder()
        .user_agent(concat!("lookout-site-status/", env!("CARGO_PKG_VERSION")))
        // Redirects are followed by the check itself, hop by hop.
        .redirect(redirect::Policy::none())
        .connect_timeout(settings.timeout)
        // A fresh connection per check measures DNS, connect and TLS every time, as a visitor sees it.
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .danger_accept_invalid_certs(!verify);
    for root in roots {
        builder = builder.add_root_certificate(root);
    }
    for (host, address) in resolve {
        builder = builder.resolve(host, *address);
    }
    builder
        .build()
        .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))
}

/// Why a redirect was not followed.
#[derive(Debug, thiserror::Error)]
enum RedirectProblem {
    #[error("redirect loop: {0} was reached twice")]
    Loop(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooMany,
    #[error("{from} redirects to {location:?}, which is not an http(s) URL")]
    BadLocation { from: String, location: String },
    #[error(
        "{from} redirects to {to}, an internal address ({address}): lookout follows redirects to loopback, link-local or private addresses only when the configured URL is on one itself"
    )]
    Internal {
        from: String,
        to: String,
        address: std::net::IpAddr,
    },
    #[error(
        "{from} redirects to the Lambda Runtime API ({to}): that would take this function's next event, so it is never followed"
    )]
    RuntimeApi { from: String, to: String },
}

/// Why an exchange (the request and its redirects) got no complete answer.
enum ExchangeError {
    /// A request failed: the one to `url`, which a redirect may have led to.
    Request { url: Url, error: reqwest::Error },
    /// A redirect was not followed.
    Redirect(RedirectProblem),
}

/// A URL's `host:port`, lower case, as `AWS_LAMBDA_RUNTIME_API` writes it.
fn authority_of(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// True for loopback, link-local (the instance metadata service's 169.254.169.254 among them),
/// private, shared (carrier-grade NAT) and unspecified addresses.
pub fn is_internal(address: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The first internal address a URL's host is (an IP literal) or resolves to, if any.
async fn internal_address(url: &Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(std::net::IpAddr::V4(v4)).filter(|ip| is_internal(*ip)),
        url::Host::Ipv6(v6) => Some(std::net::IpAddr::V6(v6)).filter(|ip| is_internal(*ip)),
        url::Host::Domain(name) => {
            let port = url.port_or_known_default().unwrap_or(80);
            let addresses = tokio::net::lookup_host((name, port)).await.ok()?;
            addresses.map(|a| a.ip()).find(|ip| is_internal(*ip))
        }
    }
}

#[derive(Clone)]
struct Attempt {
    status: Option<u16>,
    final_url: Option<Url>,
    elapsed_ms: u64,
    cert_days_left: Option<i64>,
    /// No complete answer within the attempt's time limit.
    timed_out: bool,
    failure: Option<Failure>,
}

impl Attempt {
    fn failed(elapsed_ms: u64, failure: Failure) -> Self {
        Attempt {
            status: None,
            final_url: None,
            elapsed_ms,
            cert_days_left: None,
            timed_out: false,
            failure: Some(failure),
        }
    }
}

/// A complete answer, before it is judged.
struct Answer<'a> {
    status: StatusCode,
    elapsed: Duration,
    body: &'a [u8],
    certificate_expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
}

/// Judges an answer against the settings; the first problem found, in order of severity.
fn evaluate(settings: &SiteSettings, answer: &Answer<'_>) -> Option<Failure> {
    let code = answer.status.as_u16();
    if !settings.expected_status.accepts(code) {
        return Some(Failure {
            kind: "status",
            message: format!(
                "answered {} {}, expected {} (SITE_EXPECTED_STATUS)",
                code,
                answer.status.canonical_reason().unwrap_or(""),
                settings.expected_status
            )
            .replace("  ", " "),
        });
    }
    if let Some(keyword) = &settings.keyword
        && !contains(answer.body, keyword.as_bytes())
    {
        let searched = if answer.body.len() >= BODY_LIMIT {
            "the first 1 MiB of the page"
        } else {
            "the page"
        };
        return Some(Failure {
            kind: "keyword",
            message: format!(
                "{searched} does not contain {keyword:?} (SITE_KEYWORD): the site may be serving an error or placeholder page"
            ),
        });
    }
    if let (Some(min_days), Some(expires)) = (settings.cert_min_days, answer.certificate_expires) {
        let days_left = (expires - answer.now).num_days();
        if days_left < min_days {
            let when = expires.format("%Y-%m-%d");
            let message = if expires <= answer.now {
                format!("the TLS certificate expired on {when}: renew it now")
            } else {
                format!(
                    "the TLS certificate expires in {days_left} days (on {when}), sooner than SITE_CERT_MIN_DAYS={min_days}: renew it"
                )
            };
            return Some(Failure {
                kind: "certificate",
                message,
            });
        }
    }
    if let Some(max) = settings.max_latency
        && answer.elapsed > max
    {
        return Some(Failure {
            kind: "latency",
            message: format!(
                "answered in {} ms, over the {} ms limit (SITE_MAX_LATENCY_MS)",
                answer.elapsed.as_millis(),
                max.as_millis()
            ),
        });
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Failures that a second try may not see. A certificate, a TLS failure or a redirect loop will not
/// change in a second.
fn is_retryable(kind: &str) -> bool {
    !matches!(kind, "tls" | "certificate" | "redirect")
}

/// How one attempt at a URL ended, for the retry engine.
enum Tried {
    /// It was answered (or refused), and something is wrong.
    Failed(Attempt),
    /// The invocation's deadline cut it short, or left no time to start it: it measured nothing.
    Cut,
}

impl Retryable for Tried {
    fn is_retryable(&self) -> bool {
        matches!(self, Tried::Failed(attempt) if attempt.failure.as_ref().is_some_and(|f| is_retryable(f.kind)))
    }
}

fn timeout_failure(timeout: Duration) -> Failure {
    Failure {
        kind: "timeout",
        message: format!(
            "no complete answer within {} ms (SITE_TIMEOUT_MS): the server is overloaded or unreachable",
            timeout.as_millis()
        ),
    }
}

/// The expiry date of a DER certificate.
pub(super) fn certificate_expiry(der: &[u8]) -> Option<DateTime<Utc>> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    DateTime::from_timestamp(certificate.validity().not_after.timestamp(), 0)
}

/// Every error in the chain, looking inside `io::Error`s (whose `source()` skips the error they wrap).
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        chain.push(e);
        if chain.len() > 16 {
            break;
        }
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    chain
}

/// True for "Too many open files" (EMFILE, ENFILE): the process or the system is out of descriptors.
fn is_out_of_descriptors(error: &(dyn StdError + 'static)) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::raw_os_error)
        .is_some_and(|code| code == EMFILE || code == ENFILE)
        || error.to_string().contains("Too many open files")
}

/// Names what went wrong with a request that got no complete answer.
/// Names what went wrong with the request to `failed`, which a redirect from `configured` may have
/// led to: the failure is told against the host that failed.
fn classify_error(error: &reqwest::Error, failed: &Url, url: &Url) -> Failure {
    let host = failed.host_str().unwrap_or_default();
    let authority = format!("{host}:{}", failed.port_or_known_default().unwrap_or(0));
    let redirected = if failed.origin() == url.origin() {
        String::new()
    } else {
        format!(" (redirected from {})", url.host_str().unwrap_or_default())
    };
    let mut failure = classify_chain(error, host, &authority);
    failure.message.push_str(&redirected);
    failure
}

/// Names the trouble in an error's chain, against the host that failed.
fn classify_chain(error: &reqwest::Error, host: &str, authority: &str) -> Failure {
    if error.is_timeout() {
        return Failure {
            kind: "timeout",
            message: format!("timed out connecting to {authority}"),
        };
    }
    let chain = causes(error);
    let innermost = chain
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "unknown error".into());
    if chain.iter().any(|e| is_out_of_descriptors(*e)) {
        // The monitor's own limit, not the target's fault.
        return Failure {
            kind: "monitor",
            message: format!(
                "not checked: the monitor ran out of open files before connecting to {authority} ({innermost}): lower SITE_CONCURRENCY (Lambda allows 1,024 open files)"
            ),
        };
    }
    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return Failure {
            kind: "tls",
            message: format!(
                "TLS handshake with {host} failed ({tls}): check that the certificate chain is complete, trusted and covers this name"
            ),
        };
    }
    if chain.iter().any(|e| e.to_string().contains("dns error")) {
        return Failure {
            kind: "dns",
            message: format!(
                "could not resolve {host} ({innermost}): check the name and its DNS records"
            ),
        };
    }
    let cut_short = chain.iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_incomplete_message)
    });
    if cut_short || error.is_body() || error.is_decode() {
        // The answer began, then stopped short of what it declared: the server's fault, not the
        // connection's.
        return Failure {
            kind: "protocol",
            message: format!(
                "{authority} closed the connection before the whole answer was sent ({innermost}): check the server's logs"
            ),
        };
    }
    if let Some(io) = chain
        .iter()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
    {
        let message = match io.kind() {
            std::io::ErrorKind::ConnectionRefused => format!(
                "connection to {authority} refused: is the server, or its load balancer, running and listening?"
            ),
            std::io::ErrorKind::TimedOut => format!("timed out connecting to {authority}"),
            _ if error.is_connect() => format!("could not connect to {authority}: {io}"),
            _ => format!("the connection to {authority} failed: {io}"),
        };
        let kind = if io.kind() == std::io::ErrorKind::TimedOut {
            "timeout"
        } else {
            "connect"
        };
        return Failure { kind, message };
    }
    if error.is_connect() {
        return Failure {
            kind: "connect",
            message: format!("could not connect to {authority}: {innermost}"),
        };
    }
    Failure {
        kind: "protocol",
        message: format!("{authority} did not answer valid HTTP ({innermost})"),
    }
}

/// A URL fit to show: a password in it becomes `***`.
pub fn display_url(url: &Url) -> String {
    if url.password().is_some() {
        let mut shown = url.clone();
        let _ = shown.set_password(Some("***"));
        shown.to_string()
    } else {
        url.to_string()
    }
}

/// Latency and up per URL; a site the monitor could not check is neither up nor down, and draws
/// no point.
pub fn points(
    result: &CheckResult,
    site: &SiteMeasurement,
    function: &str,
) -> Vec<crate::metrics::Point> {
    if result.health == Health::MonitorError {
        return Vec::new();
    }
    vec![crate::metrics::Point {
        dimensions: vec![vec!["Function", "Url"]],
        fields: serde_json::json!({
            "Function": function,
            "Url": site.url,
            "LatencyMs": site.elapsed_ms,
            "Up": u8::from(result.health == Health::Ok),
        }),
        metrics: vec![("LatencyMs", "Milliseconds"), ("Up", "Count")],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn settings(pairs: &[(&str, &str)]) -> SiteSettings {
        read::settings::<SiteSettings>(&env(pairs)).expect("valid settings")
    }

    #[test]
    fn defaults_follow_the_readme() {
        let s = settings(&[("SITE_URLS", "https://example.com")]);
        assert_eq!(s.urls.len(), 1);
        assert_eq!(s.expected_status, StatusRanges(vec![200..=299]));
        assert_eq!(s.timeout, Duration::from_millis(10_000));
        assert_eq!(s.retries, 2);
        assert_eq!(s.keyword, None);
        assert_eq!(s.max_latency, None);
        assert_eq!(s.cert_min_days, None);
        assert_eq!(s.concurrency, 256);
    }

    #[test]
    fn several_urls_and_every_option_parse() {
        let s = settings(&[
            (
                "SITE_URLS",
                "https://a.example, http://b.example:8080/health ",
            ),
            ("SITE_EXPECTED_STATUS", "200, 301-302"),
            ("SITE_TIMEOUT_MS", "2500"),
            ("SITE_KEYWORD", "欢迎"),
            ("SITE_MAX_LATENCY_MS", "800"),
            ("SITE_CERT_MIN_DAYS", "14"),
            ("SITE_RETRIES", "0"),
            ("SITE_TLS_SKIP_VERIFY_HOSTS", "Internal.Example"),
        ]);
        assert_eq!(s.urls[1].as_str(), "http://b.example:8080/health");
        assert!(s.expected_status.accepts(301) && !s.expected_status.accepts(303));
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.keyword.as_deref(), Some("欢迎"));
        assert_eq!(s.max_latency, Some(Duration::from_millis(800)));
        assert_eq!(s.cert_min_days, Some(14));
        assert_eq!(s.retries, 0);
        assert_eq!(s.skip_verify_hosts, vec!["internal.example"]);
    }

    fn config_error(pairs: &[(&str, &str)]) -> String {
        read::settings::<SiteSettings>(&env(pairs))
            .expect_err("settings should be refused")
            .to_string()
    }

    #[test]
    fn bad_urls_are_refused_with_the_variable_and_value() {
        let missing = config_error(&[]);
        assert!(missing.starts_with("SITE_URLS is not set"), "{missing}");
        let empty = config_error(&[("SITE_URLS", " , ")]);
        assert!(
            empty.contains("SITE_URLS") && empty.contains("no URL"),
            "{empty}"
        );
        let bare = config_error(&[("SITE_URLS", "example.com")]);
        assert!(
            bare.contains("\"example.com\"") && bare.contains("https://example.com"),
            "{bare}"
        );
        let ftp = config_error(&[("SITE_URLS", "ftp://example.com")]);
        assert!(ftp.contains("\"ftp\" is not http or https"), "{ftp}");
        let broken = config_error(&[("SITE_URLS", "https://exa mple.com")]);
        assert!(broken.contains("not a URL"), "{broken}");
    }

    #[test]
    fn a_target_written_twice_or_two_ways_counts_once() {
        let s = settings(&[(
            "SITE_URLS",
            "https://Example.com, https://example.com/, https://example.com:443/,https://example.com/a",
        )]);
        let urls: Vec<&str> = s.urls.iter().map(Url::as_str).collect();
        assert_eq!(urls, vec!["https://example.com/", "https://example.com/a"]);
    }

    #[test]
    fn a_malformed_url_never_shows_its_password() {
        let error = read::settings::<SiteSettings>(&env(&[(
            "SITE_URLS",
            "https://ops:pw-in-url-42@exa mple.com/",
        )]))
        .unwrap_err()
        .to_string();
        assert!(!error.contains("pw-in-url-42"), "{error}");
        assert!(error.contains("ops:***@"), "{error}");
    }

    #[test]
    fn bad_numbers_and_statuses_are_refused() {
        let url = ("SITE_URLS", "https://example.com");
        for (var, value) in [
            ("SITE_EXPECTED_STATUS", "2xx"),
            ("SITE_EXPECTED_STATUS", "302-301"),
            ("SITE_EXPECTED_STATUS", "99"),
            ("SITE_TIMEOUT_MS", "10s"),
            ("SITE_TIMEOUT_MS", "-1"),
            ("SITE_MAX_LATENCY_MS", "fast"),
            ("SITE_CERT_MIN_DAYS", "two weeks"),
            ("SITE_RETRIES", "11"),
            ("SITE_RETRIES", "many"),
            ("SITE_CONCURRENCY", "0"),
            ("SITE_CONCURRENCY", "901"),
        ] {
            let text = config_error(&[url, (var, value)]);
            assert!(text.starts_with(var), "{var}={value}: {text}");
            assert!(
                text.contains(&format!("{value:?}")),
                "{var}={value}: {text}"
            );
        }
    }

    #[test]
    fn status_ranges_print_as_they_parse() {
        let ranges = StatusRanges::parse("200,301-302").unwrap();
        assert_eq!(ranges.to_string(), "200,301-302");
        assert!(ranges.accepts(200) && ranges.accepts(302) && !ranges.accepts(201));
        assert!(StatusRanges::parse("").is_err());
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    fn judge(
        settings: &SiteSettings,
        status: u16,
        elapsed_ms: u64,
        body: &[u8],
    ) -> Option<Failure> {
        evaluate(
            settings,
            &Answer {
                status: StatusCode::from_u16(status).unwrap(),
                elapsed: Duration::from_millis(elapsed_ms),
                body,
                certificate_expires: Some(now() + chrono::Duration::days(5)),
                now: now(),
            },
        )
    }

    #[test]
    fn answers_are_judged_status_first_then_keyword_certificate_latency() {
        let s = settings(&[
            ("SITE_URLS", "https://example.com"),
            ("SITE_KEYWORD", "welcome"),
            ("SITE_MAX_LATENCY_MS", "500"),
            ("SITE_CERT_MIN_DAYS", "3"),
        ]);
        assert_eq!(judge(&s, 200, 100, b"<h1>welcome</h1>"), None);
        let status = judge(&s, 503, 900, b"").unwrap();
        assert_eq!(status.kind, "status");
        assert!(
            status.message.contains("503 Service Unavailable"),
            "{}",
            status.message
        );
        assert!(
            status.message.contains("expected 200-299"),
            "{}",
            status.message
        );
        assert_eq!(judge(&s, 200, 900, b"oops").unwrap().kind, "keyword");
        let latency = judge(&s, 200, 900, b"welcome").unwrap();
        assert_eq!(latency.kind, "latency");
        assert!(latency.message.contains("900 ms") && latency.message.contains("500 ms"));
    }

    #[test]
    fn a_certificate_expiring_too_soon_fails() {
        let s = settings(&[
            ("SITE_URLS", "https://example.com"),
            ("SITE_CERT_MIN_DAYS", "14"),
        ]);
        let failure = judge(&s, 200, 10, b"").unwrap();
        assert_eq!(failure.kind, "certificate");
        assert!(
            failure
                .message
                .contains("expires in 5 days (on 2026-06-06)"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn a_keyword_beyond_the_first_mebibyte_is_not_seen() {
        let s = settings(&[
            ("SITE_URLS", "https://example.com"),
            ("SITE_KEYWORD", "needle"),
        ]);
        let body = vec![b'x'; BODY_LIMIT];
        let failure = judge(&s, 200, 10, &body).unwrap();
        assert!(
            failure.message.contains("first 1 MiB"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn only_passing_trouble_is_retried() {
        for kind in [
            "dns", "connect", "timeout", "status", "keyword", "latency", "protocol",
        ] {
            assert!(is_retryable(kind), "{kind}");
        }
        for kind in ["tls", "certificate", "redirect"] {
            assert!(!is_retryable(kind), "{kind}");
        }
        let backoff = Backoff {
            base: RETRY_BASE,
            max: RETRY_MAX,
            max_attempts: 3,
        };
        for _ in 0..20 {
            let first = backoff.delay(2);
            assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
            assert!(backoff.delay(9) <= RETRY_MAX);
        }
    }

    #[test]
    fn internal_addresses_are_known() {
        for internal in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "203.0.113.10",
        ] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn the_runtime_api_itself_is_refused_as_a_target() {
        let error = read::settings::<SiteSettings>(&env(&[
            (
                "SITE_URLS",
                "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
            ),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("Lambda Runtime API"), "{error}");
    }

    #[test]
    fn passwords_in_urls_are_never_shown() {
        let url = Url::parse("https://user:hunter2@example.com/x").unwrap();
        assert_eq!(display_url(&url), "https://user:***@example.com/x");
    }

    #[test]
    fn certificate_expiry_is_read_from_der() {
        let mut params = rcgen::CertificateParams::new(vec!["example.com".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2030, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let expires = certificate_expiry(cert.der()).unwrap();
        assert_eq!(expires.format("%Y-%m-%d").to_string(), "2030-01-02");
        assert_eq!(certificate_expiry(b"not a certificate"), None);
    }
}
