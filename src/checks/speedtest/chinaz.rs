//! The chinaz-style speed test: scrape the setup page for its token and node list, then ask every
//! node, a bounded number at a time, to fetch the target.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use scraper::{Html, Selector};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use super::{ProviderError, SpeedTestNode, SpeedTestProvider, host_of};
use crate::config::{SettingKey, SetupError, read};
use crate::http::{BodyError, caps, read_capped};
use crate::retry::{self, Backoff, Retryable};

/// A node that answered with a state other than 1 (failed, or timed out on its side).
struct NodeFailed(i64);

impl Retryable for NodeFailed {
    fn is_retryable(&self) -> bool {
        true
    }
}

/// A node on the setup page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageNode {
    /// The row's `id`.
    pub guid: String,
    /// The carrier, from `linetype`.
    pub carrier: String,
    /// The `name="city"` cell's text.
    pub name: String,
}

/// What the setup page holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupPage {
    /// `#enkey`'s value.
    pub token: String,
    /// The rows of `#speedlist`.
    pub nodes: Vec<PageNode>,
}

/// The carrier a `linetype` stands for.
pub fn carrier(linetype: &str) -> &'static str {
    match linetype.trim() {
        "1" => "电信",
        "2" => "多线",
        "3" => "联通",
        "4" => "移动",
        "5" => "海外",
        _ => "其他",
    }
}

fn selector(css: &str) -> Selector {
    // The selectors are constants of this file, checked by its tests.
    Selector::parse(css).unwrap_or_else(|_| unreachable!("a valid selector: {css}"))
}

/// The deepest a setup page may nest (the real one nests about twenty deep): the HTML parser's
/// cost grows with the square of the depth, and a page nested a hundred thousand deep takes
/// minutes that no deadline can cut short.
pub const MAX_PAGE_DEPTH: usize = 256;

/// Elements that never hold others, or whose end tag HTML lets a page leave out: they do not
/// deepen the nesting, written either way.
const FLAT_ELEMENTS: [&str; 30] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "option", "optgroup", "dt", "dd", "tr", "td", "th", "thead",
    "tbody", "tfoot", "rb", "rt", "rtc", "rp",
];

/// How deep the elements of an HTML page nest, counted from its tags (an upper bound, without
/// parsing).
fn html_depth(html: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let closing = rest.starts_with('/');
        let name: String = rest
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() || FLAT_ELEMENTS.contains(&name.as_str()) {
            continue;
        }
        let tag_end = rest.find('>').unwrap_or(rest.len());
        if closing {
            depth = depth.saturating_sub(1);
        } else if !rest[..tag_end].ends_with('/') {
            depth += 1;
            deepest = deepest.max(depth);
        }
        if matches!(name.as_str(), "script" | "style") && !closing {
            // Their text is not markup.
            let end = format!("</{name}");
            rest = rest.find(&end).map_or("", |at| &rest[at..]);
        }
    }
    deepest
}

/// Reads the token and node list; a page without either has changed, and the monitor is broken.
pub fn parse_setup_page(html: &str) -> Result<SetupPage, ProviderError> {
    let depth = html_depth(html);
    if depth > MAX_PAGE_DEPTH {
        return Err(ProviderError(format!(
            "the speed-test page changed: it nests {depth} elements deep (a real one, about 20): try SPEEDTEST_PROVIDER=globalping"
        )));
    }
    let document = Html::parse_document(html);
    let token = document
        .select(&selector("#enkey"))
        .next()
        .and_then(|input| input.value().attr("value"))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ProviderError(
                "the speed-test page changed: no request token (#enkey) found; reports say the live chinaz page may have moved to script-built tokens: try SPEEDTEST_PROVIDER=globalping".into(),
            )
        })?
        .to_owned();
    let name_cell = selector("[name=city]");
    let nodes: Vec<PageNode> = document
        .select(&selector("#speedlist .listw[id]"))
        .filter_map(|row| {
            let guid = row.value().attr("id")?.trim().to_owned();
            let name = row
                .select(&name_cell)
                .next()
                .map(|cell| cell.text().collect::<String>().trim().to_owned())
                .filter(|n| !n.is_empty())?;
            Some(PageNode {
                guid,
                carrier: carrier(row.value().attr("linetype").unwrap_or_default()).to_owned(),
                name,
            })
        })
        .collect();
    if nodes.is_empty() {
        return Err(ProviderError(
            "the speed-test page changed: no node list found (#speedlist): try SPEEDTEST_PROVIDER=globalping".into(),
        ));
    }
    Ok(SetupPage { token, nodes })
}

/// A millisecond figure as the page writes it: `'212'`, `212`, `'<1'`, `'15毫秒'`; `'超时'` is a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Millis {
    /// A time.
    Value(u64),
    /// The node timed out.
    TimedOut,
    /// Absent or not a number.
    Unknown,
}

/// Reads one time field.
pub fn millis(value: Option<&Value>) -> Millis {
    let text = match value {
        Some(Value::Number(n)) => {
            return n.as_f64().map_or(
                Millis::Unknown,
                |f| Millis::Value(f.max(0.0).round() as u64),
            );
        }
        Some(Value::String(s)) => s.trim(),
        _ => return Millis::Unknown,
    };
    if text.contains("超时") {
        return Millis::TimedOut;
    }
    if text.starts_with('<') {
        return Millis::Value(0);
    }
    let digits = text.trim_end_matches("毫秒").trim_end_matches("ms").trim();
    digits
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map_or(Millis::Unknown, |f| Millis::Value(f.round() as u64))
}

/// A node's reply, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeReply {
    /// `state:1`: the measurement.
    Measured(SpeedTestNode),
    /// Another state: the node failed or timed out.
    Failed(i64),
}

/// The longest node reply parsed, bytes (the real ones are a few hundred).
pub const MAX_REPLY_BYTES: usize = 64 * 1024;
/// The deepest nesting of a node reply parsed (the real ones nest three deep): the JSON5 parser
/// recurses, and a reply nested ten thousand deep would overflow the stack.
pub const MAX_REPLY_DEPTH: usize = 32;

/// How deep brackets nest in a JavaScript literal, outside its strings.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '{' | '[' | '(' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                '}' | ']' | ')' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    deepest
}

/// Parses the JavaScript object literal a node answers, `({state:1,msg:'',result:{...}})`.
///
/// A reply whose HTTP status is fine but whose total, connect or download time cannot be read
/// (missing, `NaN`, `Infinity`, words) is unreadable, never a good node: a format change must not
/// leave the monitor blind.
pub fn parse_node_reply(text: &str, node: &PageNode) -> Result<NodeReply, String> {
    if text.len() > MAX_REPLY_BYTES {
        return Err(format!(
            "a reply of {} bytes, more than any node sends",
            text.len()
        ));
    }
    if nesting_depth(text) > MAX_REPLY_DEPTH {
        return Err(format!(
            "a reply nested deeper than {MAX_REPLY_DEPTH} levels"
        ));
    }
    let trimmed = text.trim().trim_end_matches(';').trim();
    let inner = trimmed
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(trimmed);
    let reply: Value =
        json5::from_str(inner).map_err(|e| format!("not a JavaScript object: {e}"))?;
    let state = reply
        .get("state")
        .and_then(|s| {
            s.as_i64()
                .or_else(|| s.as_str().and_then(|t| t.trim().parse().ok()))
        })
        .ok_or("no state in the reply")?;
    if state != 1 {
        return Ok(NodeReply::Failed(state));
    }
    let result = reply
        .get("result")
        .filter(|r| r.is_object())
        .ok_or("no result in the reply")?;
    let mut measured = SpeedTestNode {
        name: node.name.clone(),
        carrier: node.carrier.clone(),
        region: result
            .get("ipaddress")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        status: match result.get("httpstate") {
            Some(Value::Number(n)) => n.as_u64().and_then(|s| u16::try_from(s).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        },
        ..SpeedTestNode::default()
    };
    let mut timed_out = false;
    let mut unreadable: Vec<String> = Vec::new();
    for (field, slot, judged) in [
        ("alltime", &mut measured.total_ms, true),
        ("dnstime", &mut measured.dns_ms, false),
        ("conntime", &mut measured.connect_ms, true),
        ("downtime", &mut measured.download_ms, true),
    ] {
        match millis(result.get(field)) {
            Millis::Value(v) => *slot = Some(v),
            Millis::TimedOut => timed_out = true,
            Millis::Unknown if judged => {
                let shown = result
                    .get(field)
                    .map_or_else(|| "missing".to_owned(), |v| v.to_string());
                unreadable.push(format!(
                    "{field}={}",
                    shown.chars().take(20).collect::<String>()
                ));
            }
            Millis::Unknown => {}
        }
    }
    if timed_out {
        measured.error = Some("timed out (超时)".into());
    } else if !unreadable.is_empty() && measured.status.is_some_and(|s| (200..400).contains(&s)) {
        return Err(format!(
            "its times cannot be read ({})",
            unreadable.join(", ")
        ));
    }
    Ok(NodeReply::Measured(measured))
}

async fn indexed<T>(index: usize, work: impl std::future::Future<Output = T>) -> (usize, T) {
    (index, work.await)
}

/// The chinaz provider's settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ChinazSettings {
    /// `SPEEDTEST_BASE_URL`: the chinaz-style API.
    #[serde(rename = "SPEEDTEST_BASE_URL", deserialize_with = "read::parsed")]
    pub base_url: Url,
    /// `SPEEDTEST_NODES`: only these nodes (by guid, or part of the name).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// `SPEEDTEST_CONCURRENCY`: node requests in flight at once.
    #[serde(deserialize_with = "read::between::<_, usize, 1, 64>")]
    pub concurrency: usize,
    /// `SPEEDTEST_NODE_TIMEOUT_MS`.
    #[serde(rename = "node_timeout_ms", deserialize_with = "read::millis")]
    pub node_timeout: Duration,
}

impl read::Settings for ChinazSettings {
    const KEYS: &'static [&'static [SettingKey]] = &[super::TYPE.keys, super::TYPE.variables];
}

/// The chinaz provider.
pub struct Chinaz {
    http: reqwest::Client,
    base: Url,
    node_filter: Vec<String>,
    concurrency: usize,
    node_timeout: Duration,
}

impl Chinaz {
    /// The provider, with its own HTTP client.
    pub fn new(settings: ChinazSettings) -> Result<Self, SetupError> {
        let http = reqwest::Client::builder()
            .user_agent("Mozilla/5.0 (compatible; lookout speed-test)")
            .timeout(settings.node_timeout)
            .build()
            .map_err(|e| SetupError::HttpClient(e.without_url().to_string()))?;
        Ok(Chinaz {
            http,
            base: settings.base_url,
            node_filter: settings.nodes,
            concurrency: settings.concurrency,
            node_timeout: settings.node_timeout,
        })
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn wanted(&self, node: &PageNode) -> bool {
        self.node_filter.is_empty()
            || self
                .node_filter
                .iter()
                .any(|f| node.guid.eq_ignore_ascii_case(f) || node.name.contains(f.as_str()))
    }

    async fn ask(&self, node: &PageNode, host: &str, token: &str) -> Result<NodeReply, AskError> {
        let response = self
            .http
            .post(self.endpoint("iframe.ashx?t=ping"))
            .header("Referer", self.endpoint(&format!("speedtest/{host}")))
            .header("X-Requested-With", "XMLHttpRequest")
            .form(&[
                ("guid", node.guid.as_str()),
                ("host", host),
                ("ishost", "1"),
                ("isipv6", "0"),
                ("encode", token),
                ("checktype", "1"),
            ])
            .send()
            .await
            .map_err(AskError::transport)?;
        let status = response.status();
        let body = read_capped(response, caps::SPEEDTEST_NODE)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => AskError::transport(e),
                too_large => AskError::Unreadable(too_large.to_string()),
            })?;
        let text = String::from_utf8_lossy(&body);
        if status.is_client_error() {
            // The service refused the request itself (token, form): its contract may have moved.
            return Err(AskError::Unreadable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(AskError::Failed(format!("HTTP {status}")));
        }
        parse_node_reply(&text, node).map_err(AskError::Unreadable)
    }

    /// One node, with one retry when its state is not 1. The flag is false when the reply could not
    /// be read (a sign the page's contract has drifted).
    async fn measure_node(
        &self,
        node: &PageNode,
        host: &str,
        token: &str,
        deadline: Instant,
    ) -> (SpeedTestNode, bool) {
        let failed = |error: String| SpeedTestNode {
            name: node.name.clone(),
            carrier: node.carrier.clone(),
            error: Some(error),
            ..SpeedTestNode::default()
        };
        let unmeasured = || {
            SpeedTestNode {
            unmeasured: true,
            ..failed("not measured: the invocation's time ran out (too many nodes for SPEEDTEST_CONCURRENCY and SPEEDTEST_NODE_TIMEOUT_MS, or a short function timeout)".into())
        }
        };
        // A node whose state is not 1 gets one more try, at once.
        let once_more = Backoff {
            base: Duration::ZERO,
            max: Duration::ZERO,
            max_attempts: 2,
        };
        let (outcome, _) = retry::retry(once_more, deadline, |_| async {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok((unmeasured(), true));
            }
            let limit = self.node_timeout.min(left);
            match tokio::time::timeout(limit, self.ask(node, host, token)).await {
                // The deadline, not the node, cut this request short: nothing was measured.
                Err(_) if limit < self.node_timeout => Ok((unmeasured(), true)),
                Err(_) => Ok((failed("timed out".into()), true)),
                Ok(Ok(NodeReply::Measured(measured))) => Ok((measured, true)),
                Ok(Ok(NodeReply::Failed(state))) => Err(NodeFailed(state)),
                Ok(Err(AskError::Failed(error))) => Ok((failed(error), true)),
                Ok(Err(AskError::Unreadable(error))) => {
                    Ok((failed(format!("unreadable reply: {error}")), false))
                }
            }
        })
        .await;
        outcome.unwrap_or_else(|NodeFailed(state)| {
            (
                failed(format!("the node failed or timed out (state {state})")),
                true,
            )
        })
    }
}

/// Why asking a node gave no reply to use.
enum AskError {
    /// The node failed (a timeout, a refused connection, a 5xx).
    Failed(String),
    /// The reply was not what the page's contract promises.
    Unreadable(String),
}

impl AskError {
    fn transport(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            AskError::Failed("timed out".into())
        } else {
            AskError::Failed(crate::http::describe(&error))
        }
    }
}

#[async_trait]
impl SpeedTestProvider for Chinaz {
    fn name(&self) -> &'static str {
        "chinaz"
    }

    async fn measure(
        &self,
        target: &str,
        deadline: Instant,
    ) -> Result<Vec<SpeedTestNode>, ProviderError> {
        let host = host_of(target);
        let host = host.as_str();
        let page_url = self.endpoint(&format!("speedtest/{host}"));
        let html = tokio::time::timeout_at(deadline, async {
            let response = self
                .http
                .get(&page_url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(BodyError::Transport)?;
            read_capped(response, caps::SPEEDTEST_PAGE).await
        })
        .await
        .map_err(|_| ProviderError("the speed-test page did not load in time".into()))?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|e| ProviderError(format!("could not load the speed-test page: {}", e.shown())))?;
        let page = parse_setup_page(&html)?;
        let nodes: Vec<PageNode> = page.nodes.into_iter().filter(|n| self.wanted(n)).collect();
        if nodes.is_empty() {
            return Err(ProviderError(format!(
                "no node on the speed-test page matches SPEEDTEST_NODES={:?}",
                self.node_filter.join(",")
            )));
        }
        let token = page.token.as_str();
        // At most SPEEDTEST_CONCURRENCY requests in flight; results keep the page's order.
        let requests: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| indexed(i, self.measure_node(node, host, token, deadline)))
            .collect();
        let mut measured: Vec<(usize, (SpeedTestNode, bool))> = futures::stream::iter(requests)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        measured.sort_by_key(|(i, _)| *i);
        let measured: Vec<(SpeedTestNode, bool)> = measured.into_iter().map(|(_, m)| m).collect();
        let unreadable = measured.iter().filter(|(_, readable)| !readable).count();
        if unreadable * 2 > measured.len() {
            return Err(ProviderError(format!(
                "the speed-test page changed: {unreadable} of {} node replies cannot be read",
                measured.len()
            )));
        }
        Ok(measured.into_iter().map(|(node, _)| node).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><body>
        <input type="hidden" id="enkey" value="TOKEN123" />
        <div id="speedlist">
          <div id="0e519c9d-dab8-480c-a372-c72480dd133a" class="row listw tc clearfix" linetype="1" state="0" trycount="0">
            <div class="col-2" name="city" serveruroup="0" data-company="x">江苏宿迁[电信]</div><div class="col-3">-</div>
          </div>
          <div id="1f519c9d-dab8-480c-a372-c72480dd133b" class="row listw tc clearfix" linetype="4" state="0" trycount="0">
            <div class="col-2" name="city">广东深圳[移动]</div>
          </div>
        </div></body></html>"#;

    fn node() -> PageNode {
        PageNode {
            guid: "g".into(),
            carrier: "电信".into(),
            name: "江苏宿迁[电信]".into(),
        }
    }

    #[test]
    fn the_setup_page_gives_the_token_and_nodes() {
        let page = parse_setup_page(PAGE).unwrap();
        assert_eq!(page.token, "TOKEN123");
        assert_eq!(
            page.nodes,
            vec![
                PageNode {
                    guid: "0e519c9d-dab8-480c-a372-c72480dd133a".into(),
                    carrier: "电信".into(),
                    name: "江苏宿迁[电信]".into()
                },
                PageNode {
                    guid: "1f519c9d-dab8-480c-a372-c72480dd133b".into(),
                    carrier: "移动".into(),
                    name: "广东深圳[移动]".into()
                },
            ]
        );
    }

    #[test]
    fn a_page_without_token_or_nodes_has_changed() {
        let no_token = PAGE.replace("id=\"enkey\"", "id=\"other\"");
        assert!(
            parse_setup_page(&no_token)
                .unwrap_err()
                .0
                .contains("no request token")
        );
        let no_nodes = "<input id=\"enkey\" value=\"T\"><div id=\"speedlist\"></div>";
        assert!(
            parse_setup_page(no_nodes)
                .unwrap_err()
                .0
                .contains("no node list found")
        );
    }

    #[test]
    fn a_reply_is_a_javascript_object_literal() {
        let reply = "({state:1,msg:'',result:{ip:'119.28.190.46',httpstate:200,alltime:'212',dnstime:'18',conntime:'116',downtime:'78',filesize:'-',downspeed:'4.72',ipaddress:'新加坡新加坡',headers:'HTTP/1.1 200 OK br>Server: x',pagehtml:''}})";
        let NodeReply::Measured(n) = parse_node_reply(reply, &node()).unwrap() else {
            panic!()
        };
        assert_eq!(
            (n.status, n.total_ms, n.dns_ms, n.connect_ms, n.download_ms),
            (Some(200), Some(212), Some(18), Some(116), Some(78))
        );
        assert_eq!(n.region, "新加坡新加坡");
        assert_eq!(n.error, None);
    }

    #[test]
    fn odd_values_are_read() {
        assert_eq!(millis(Some(&Value::from("<1"))), Millis::Value(0));
        assert_eq!(millis(Some(&Value::from("15毫秒"))), Millis::Value(15));
        assert_eq!(millis(Some(&Value::from("超时"))), Millis::TimedOut);
        assert_eq!(millis(Some(&Value::from("-"))), Millis::Unknown);
        assert_eq!(millis(Some(&Value::from(33))), Millis::Value(33));
        assert_eq!(millis(None), Millis::Unknown);
        let reply = "({state:1,result:{httpstate:'200',alltime:'超时',conntime:'<1'}});";
        let NodeReply::Measured(n) = parse_node_reply(reply, &node()).unwrap() else {
            panic!()
        };
        assert_eq!(n.status, Some(200));
        assert_eq!(n.connect_ms, Some(0));
        assert_eq!(n.total_ms, None);
        assert_eq!(n.error.as_deref(), Some("timed out (超时)"));
    }

    #[test]
    fn failed_states_and_garbage_are_told_apart() {
        assert_eq!(
            parse_node_reply("({state:0,msg:'timeout'})", &node()).unwrap(),
            NodeReply::Failed(0)
        );
        assert!(parse_node_reply("<html>502 Bad Gateway</html>", &node()).is_err());
        assert!(parse_node_reply("({msg:'x'})", &node()).is_err());
        assert!(parse_node_reply("({state:1})", &node()).is_err());
    }

    #[test]
    fn unreadable_times_are_unreadable_not_good() {
        for times in [
            "alltime:NaN,conntime:'40',downtime:'60'",
            "alltime:Infinity,conntime:'40',downtime:'60'",
            "alltime:'Infinity',conntime:'40',downtime:'60'",
            "conntime:'40',downtime:'60'",
            "alltime:'212',conntime:'n/a',downtime:'60'",
            "alltime:'212',conntime:'40',downtime:null",
        ] {
            let reply = format!("({{state:1,msg:'',result:{{httpstate:200,{times}}}}})");
            let error = parse_node_reply(&reply, &node()).unwrap_err();
            assert!(error.contains("cannot be read"), "{times}: {error}");
        }
        // A failed fetch (no usable status) keeps its error; a timeout is a timeout.
        let timeout = "({state:1,msg:'',result:{httpstate:0,alltime:'超时',conntime:'超时',downtime:'超时'}})";
        assert!(matches!(
            parse_node_reply(timeout, &node()).unwrap(),
            NodeReply::Measured(SpeedTestNode { error: Some(_), .. })
        ));
    }

    #[test]
    fn a_deeply_nested_page_is_refused_before_parsing() {
        let deep = format!("<html><body>{}{PAGE}", "<div>".repeat(100_000));
        let error = parse_setup_page(&deep).unwrap_err().to_string();
        assert!(error.contains("nests 100"), "{error}");
        // Flat and void elements, comments and scripts do not count.
        assert_eq!(html_depth(PAGE), 5);
        let sloppy = format!(
            "<ul>{}</ul><br><img src=x><script>{}</script><!-- <div><div> -->",
            "<li>x".repeat(1000),
            "<div>".repeat(1000)
        );
        assert_eq!(html_depth(&sloppy), 1);
    }

    #[test]
    fn deep_or_huge_replies_are_refused_before_parsing() {
        let deep = format!("({}state:1{})", "{a:".repeat(10_000), "}".repeat(10_000));
        let error = parse_node_reply(&deep, &node()).unwrap_err();
        assert!(error.contains("nested deeper"), "{error}");
        let brackets = "[".repeat(100_000);
        assert!(parse_node_reply(&brackets, &node()).is_err());
        let huge = format!("({{state:1,msg:'{}'}})", "x".repeat(MAX_REPLY_BYTES));
        assert!(
            parse_node_reply(&huge, &node())
                .unwrap_err()
                .contains("bytes")
        );
        // Brackets inside strings do not count.
        assert_eq!(nesting_depth("({a:'[[[[[[',b:\"{{{{\"})"), 2);
    }

    #[test]
    fn linetypes_name_carriers() {
        assert_eq!(
            ["1", "2", "3", "4", "5", "9"].map(carrier),
            ["电信", "多线", "联通", "移动", "海外", "其他"]
        );
    }
}
