//! The status page as HTML: server-rendered, readable on a phone, with everything inline (no
//! script, font, image or style from anywhere else: it works in an isolated network), refreshing
//! itself every minute. What monitors and upstreams said is text, escaped, never markup.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::view::{Day, IncidentView, MonitorView, Now, Overall, Page};
use crate::alerting::render::Language;

/// How the page reads: its title and description, words and times.
#[derive(Debug, Clone)]
pub struct Look {
    /// The page's title.
    pub title: String,
    /// A line under it.
    pub description: Option<String>,
    /// The words' language.
    pub language: Language,
    /// The zone times are told in.
    pub timezone: Tz,
    /// What each link carries after its path (`?token=...` when the page was opened so).
    pub link_suffix: String,
}

/// Text as HTML shows it: `<`, `>`, `&`, and both quotes escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A path segment: a monitor's name as a link carries it.
pub fn segment(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub(crate) fn words(language: Language, en: &'static str, zh: &'static str) -> &'static str {
    match language {
        Language::English => en,
        Language::Chinese => zh,
    }
}

/// A number of at least 0 with one decimal, as `{:.1}` writes it, in integer arithmetic: a page
/// of 200 sparklines writes 57,600 of them, and float formatting was most of the page's time.
struct Tenths(f64);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = (self.0.max(0.0) * 10.0).round() as u64;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// A polyline's `points`: `x,y` pairs with one decimal, a space between.
fn polyline(points: impl Iterator<Item = (f64, f64)>) -> String {
    use std::fmt::Write as _;
    let mut line = String::new();
    for (x, y) in points {
        if !line.is_empty() {
            line.push(' ');
        }
        let _ = write!(line, "{},{}", Tenths(x), Tenths(y));
    }
    line
}

fn percent(value: Option<f64>) -> String {
    match value {
        // Two decimals, never rounded up to a perfect 100.00 when something was down.
        Some(v) if v < 100.0 => {
            let hundredths = (v.max(0.0) * 100.0).floor() as u64;
            format!("{}.{:02}%", hundredths / 100, hundredths % 100)
        }
        Some(_) => "100%".to_owned(),
        None => "–".to_owned(),
    }
}

fn state_words(language: Language, now: Now) -> &'static str {
    match now {
        Now::Up => words(language, "Up", "正常"),
        Now::Down => words(language, "Down", "故障"),
        Now::Degraded => words(
            language,
            "Degraded: unreachable from one place, reachable from others",
            "部分地区不可达",
        ),
        Now::MonitorError => words(language, "Cannot check", "无法检测"),
        Now::Maintenance => words(language, "Maintenance", "维护中"),
        Now::Waiting => words(language, "Waiting for its first ping", "等待首次心跳"),
        Now::NoData => words(language, "No data yet", "暂无数据"),
    }
}

fn state_class(now: Now) -> &'static str {
    match now {
        Now::Up => "up",
        Now::Down => "down",
        Now::Degraded => "degraded",
        Now::MonitorError => "error",
        Now::Maintenance => "maintenance",
        Now::Waiting | Now::NoData => "none",
    }
}

const STYLE: &str = "body{font:15px/1.45 -apple-system,'Segoe UI',Roboto,'Noto Sans','PingFang SC','Microsoft YaHei',sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
main,header,footer{max-width:860px;margin:0 auto;padding:0 14px}\
header{padding-top:22px}h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.1em;margin:26px 0 8px}\
.overall{border-radius:8px;padding:14px 16px;margin:14px 0;font-weight:600;color:#fff}\
.overall.operational{background:#1f9d55}.overall.failing{background:#d64545}.overall.degraded{background:#d18b00}\
.monitor{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:12px 14px;margin:10px 0}\
.head{display:flex;justify-content:space-between;gap:8px;align-items:baseline}.head a{color:inherit;font-weight:600;text-decoration:none}\
.state{font-size:.9em;font-weight:600}.state.up{color:#1f9d55}.state.down{color:#d64545}.state.error,.state.maintenance,.state.degraded{color:#d18b00}.state.none{color:#7a8190}\
dl{display:flex;flex-wrap:wrap;gap:4px 18px;margin:6px 0;font-size:.9em}dl div{display:flex;gap:5px}dt{color:#7a8190}dd{margin:0;font-variant-numeric:tabular-nums}\
.bar{display:flex;gap:1px;height:26px;margin:8px 0 2px}.day{flex:1;border-radius:2px;min-width:2px}\
.day.up{background:#3cb371}.day.some_downtime{background:#e9b949}.day.down{background:#d64545}.day.degraded{background:#f0a830}.day.no_data{background:#d9dde3}\
.legend{display:flex;justify-content:space-between;font-size:.78em;color:#7a8190}\
svg.spark{width:100%;height:40px;display:block;margin-top:6px}svg.spark polyline{fill:none;stroke:#4a7bd0;stroke-width:1.5}\
svg.chart{width:100%;height:auto;display:block}svg.chart text{font-size:10px;fill:#7a8190}svg.chart polyline{fill:none;stroke:#4a7bd0;stroke-width:1.5}svg.chart line{stroke:#d9dde3}\
ol.incidents{list-style:none;padding:0}ol.incidents li{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:10px 14px;margin:8px 0}\
.when{color:#7a8190;font-size:.85em}.message{margin-top:4px;word-break:break-word}\
footer{color:#7a8190;font-size:.8em;padding:24px 14px}\
form{margin:14px 0}input[type=text]{font:inherit;padding:8px;border:1px solid #c9ced6;border-radius:6px;width:60%}\
button{font:inherit;font-weight:600;padding:9px 18px;border:0;border-radius:6px;background:#4a7bd0;color:#fff;cursor:pointer}";

fn head(look: &Look, title: &str) -> String {
    head_of(look, title, true)
}

/// The page's head and its style; `refresh`: it reloads itself every 60 s (never a page with a
/// form, which would lose what was typed).
pub(crate) fn head_of(look: &Look, title: &str, refresh: bool) -> String {
    let lang = match look.language {
        Language::English => "en",
        Language::Chinese => "zh-CN",
    };
    let refresh = if refresh {
        "<meta http-equiv=\"refresh\" content=\"60\">"
    } else {
        ""
    };
    format!(
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
{refresh}<meta name=\"robots\" content=\"noindex\">\
<title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    )
}

pub(crate) fn local(look: &Look, at: DateTime<Utc>) -> String {
    at.with_timezone(&look.timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// One day's cell, written to `out`. Its title (nothing in it to escape: a date, figures and
/// lookout's own words) is its tooltip and, for a screen reader, its name.
fn day_cell(out: &mut String, look: &Look, day: &Day) {
    use std::fmt::Write as _;
    let l = look.language;
    let _ = write!(
        out,
        "<span role=\"img\" class=\"day {}\" title=\"{}: ",
        day.class, day.day
    );
    let _ = match day.uptime {
        None => write!(out, "{}", words(l, "no data", "无数据")),
        Some(uptime) => write!(
            out,
            "{} {}, {} {}",
            percent(Some(uptime)),
            words(l, "up", "可用"),
            day.downtime_minutes,
            words(l, "min down", "分钟故障")
        ),
    };
    out.push_str("\"></span>");
}

/// The 90 days, oldest first.
fn bar(look: &Look, days: &[Day]) -> String {
    let l = look.language;
    let mut cells = String::with_capacity(days.len() * 96);
    for day in days {
        day_cell(&mut cells, look, day);
    }
    format!(
        "<div class=\"bar\" role=\"group\" aria-label=\"{}\">{cells}</div>\
<div class=\"legend\"><span>{}</span><span>{}</span></div>",
        words(l, "the last 90 days", "最近 90 天"),
        words(l, "90 days ago", "90 天前"),
        words(l, "today", "今天")
    )
}

/// The last 24 hours' response times as an inline SVG line.
fn sparkline(look: &Look, monitor: &MonitorView) -> String {
    let points = &monitor.response;
    let Some(max) = points.iter().map(|(_, ms)| *ms).max() else {
        return String::new();
    };
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return String::new();
    };
    let span = (last.0 - first.0).num_seconds().max(1) as f64;
    let max = max.max(1) as f64;
    let line = polyline(points.iter().map(|(at, ms)| {
        let x = ((at.timestamp() - first.0.timestamp()) as f64) / span * 300.0;
        (x, 38.0 - (*ms as f64 / max) * 36.0)
    }));
    let label = format!(
        "{} {} ms",
        words(
            look.language,
            "response time, last 24 hours, median",
            "最近 24 小时响应时间，中位数"
        ),
        monitor.response_ms.unwrap_or_default()
    );
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 300 40\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\"><polyline points=\"{}\"/></svg>",
        escape(&label),
        line
    )
}

fn uptimes(look: &Look, monitor: &MonitorView) -> String {
    let l = look.language;
    let rows = [
        ("24h", words(l, "24 h", "24 小时"), monitor.uptime.day),
        ("7d", words(l, "7 days", "7 天"), monitor.uptime.week),
        ("30d", words(l, "30 days", "30 天"), monitor.uptime.month),
        ("90d", words(l, "90 days", "90 天"), monitor.uptime.quarter),
    ];
    let mut text = String::from("<dl class=\"uptime\">");
    for (period, label, value) in rows {
        text.push_str(&format!(
            "<div><dt>{label}</dt><dd data-period=\"{period}\">{}</dd></div>",
            percent(value)
        ));
    }
    if let Some(ms) = monitor.response_ms {
        text.push_str(&format!(
            "<div><dt>{}</dt><dd data-period=\"response\">{ms} ms</dd></div>",
            words(l, "response", "响应")
        ));
    }
    text.push_str("</dl>");
    text
}

fn monitor_card(look: &Look, monitor: &MonitorView) -> String {
    format!(
        "<article class=\"monitor\" data-name=\"{}\" data-state=\"{}\"><div class=\"head\"><a href=\"monitor/{}{}\">{}</a><span class=\"state {}\">{}</span></div>{}{}{}</article>",
        escape(&monitor.name),
        state_class(monitor.now),
        segment(&monitor.name),
        escape(&look.link_suffix),
        escape(&monitor.name),
        state_class(monitor.now),
        state_words(look.language, monitor.now),
        uptimes(look, monitor),
        bar(look, &monitor.days),
        sparkline(look, monitor),
    )
}

fn incidents(look: &Look, list: &[IncidentView], open: bool) -> String {
    let l = look.language;
    if list.is_empty() {
        return format!(
            "<p class=\"none\">{}</p>",
            if open {
                words(l, "None.", "无。")
            } else {
                words(
                    l,
                    "No incident in the last 400 days.",
                    "最近 400 天没有故障。",
                )
            }
        );
    }
    let mut text = String::from("<ol class=\"incidents\">");
    for incident in list {
        let when = match incident.ended_at {
            Some(ended) => escape(&format!(
                "{} – {} · {} {}",
                local(look, incident.began_at),
                local(look, ended),
                incident.downtime_minutes,
                words(l, "min down", "分钟")
            )),
            None => {
                let mut when = escape(&format!(
                    "{} {} · {} {}",
                    words(l, "since", "开始于"),
                    local(look, incident.began_at),
                    incident.downtime_minutes,
                    words(l, "min so far", "分钟")
                ));
                if let Some(at) = incident.acknowledged_at {
                    when.push_str(&format!(
                        " · <span class=\"answered\" data-answer=\"acknowledged\">{} {}</span>",
                        escape(words(l, "acknowledged", "已确认")),
                        escape(&local(look, at))
                    ));
                }
                if let Some(until) = incident.silenced_until {
                    when.push_str(&format!(
                        " · <span class=\"answered\" data-answer=\"silenced\">{} {}</span>",
                        escape(words(l, "silenced until", "静默至")),
                        escape(&local(look, until))
                    ));
                }
                when
            }
        };
        text.push_str(&format!(
            "<li data-monitor=\"{}\"><strong>{}</strong> <span class=\"when\">{}</span><div class=\"message\">{}</div></li>",
            escape(&incident.monitor),
            escape(&incident.monitor),
            when,
            escape(&incident.message)
        ));
    }
    text.push_str("</ol>");
    text
}

fn overall_words(look: &Look, page: &Page) -> String {
    let l = look.language;
    match page.overall {
        Overall::Operational => words(l, "All systems operational", "所有系统运行正常").to_owned(),
        Overall::Failing => match l {
            Language::English if page.failing == 1 => "1 monitor failing".to_owned(),
            Language::English => format!("{} monitors failing", page.failing),
            Language::Chinese => format!("{} 个监控故障", page.failing),
        },
        Overall::Degraded => words(
            l,
            "Degraded: some monitors cannot be checked",
            "部分监控无法检测",
        )
        .to_owned(),
    }
}

fn overall_class(page: &Page) -> &'static str {
    match page.overall {
        Overall::Operational => "operational",
        Overall::Failing => "failing",
        Overall::Degraded => "degraded",
    }
}

fn footer(look: &Look, page: &Page) -> String {
    format!(
        "<footer>{} {} ({}) · lookout</footer></body></html>\n",
        words(look.language, "Updated", "更新于"),
        local(look, page.generated_at),
        look.timezone
    )
}

/// The whole page.
pub fn page(look: &Look, page: &Page) -> String {
    let l = look.language;
    let mut text = head(look, &look.title);
    text.push_str(&format!("<header><h1>{}</h1>", escape(&look.title)));
    if let Some(description) = &look.description {
        text.push_str(&format!("<p>{}</p>", escape(description)));
    }
    text.push_str(&format!(
        "<div class=\"overall {}\" id=\"overall\">{}</div></header><main>",
        overall_class(page),
        escape(&overall_words(look, page))
    ));
    // Groups in the order their first monitor comes; monitors without a group first.
    let mut groups: Vec<Option<&str>> = Vec::new();
    for monitor in &page.monitors {
        if !groups.contains(&monitor.group.as_deref()) {
            groups.push(monitor.group.as_deref());
        }
    }
    groups.sort_by_key(|g| g.is_some());
    for group in groups {
        text.push_str("<section class=\"group\">");
        if let Some(name) = group {
            text.push_str(&format!("<h2>{}</h2>", escape(name)));
        }
        for monitor in page.monitors.iter().filter(|m| m.group.as_deref() == group) {
            text.push_str(&monitor_card(look, monitor));
        }
        text.push_str("</section>");
    }
    if page.monitors.is_empty() {
        text.push_str(&format!(
            "<p>{}</p>",
            words(
                l,
                "No monitor is public: add public: true to the monitors of lookout.yaml to show here.",
                "没有公开的监控：在 lookout.yaml 的监控上加 public: true 即可在此显示。"
            )
        ));
    }
    text.push_str(&format!(
        "<section id=\"open\"><h2>{}</h2>{}</section><section id=\"closed\"><h2>{}</h2>{}</section></main>",
        words(l, "Open incidents", "进行中的故障"),
        incidents(look, &page.open_incidents, true),
        words(l, "Past incidents", "历史故障"),
        incidents(look, &page.closed_incidents, false)
    ));
    text.push_str(&footer(look, page));
    text
}

/// A 7-day response-time chart with axes and labels: (time, ms) points, oldest first.
fn chart(look: &Look, points: &[(DateTime<Utc>, u64)], now: DateTime<Utc>) -> String {
    let l = look.language;
    let (width, height, left, bottom) = (720.0, 220.0, 48.0, 24.0);
    let start = now - chrono::Duration::days(7);
    let max = points.iter().map(|(_, ms)| *ms).max().unwrap_or(0).max(1);
    // A round top for the axis: 1, 2 or 5 times a power of ten.
    let mut top = 1u64;
    while top < max {
        top = match top.to_string().chars().next() {
            Some('1') => top * 2,
            Some('2') => top / 2 * 5,
            _ => top * 2,
        };
    }
    let x = |at: DateTime<Utc>| {
        left + (at - start).num_seconds().max(0) as f64 / (7.0 * 86_400.0) * (width - left - 8.0)
    };
    let y = |ms: u64| (height - bottom) - ms as f64 / top as f64 * (height - bottom - 10.0);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">",
        escape(words(
            l,
            "response time over the last 7 days, in milliseconds",
            "最近 7 天响应时间（毫秒）"
        ))
    );
    for step in 0..=4 {
        let ms = top * step / 4;
        let at = y(ms);
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{at:.1}\" x2=\"{}\" y2=\"{at:.1}\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{ms} ms</text>",
            width - 8.0,
            left - 4.0,
            at + 3.0
        ));
    }
    for day in 0..=7 {
        let at = start + chrono::Duration::days(day);
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(at),
            height - 6.0,
            at.with_timezone(&look.timezone).format("%m-%d")
        ));
    }
    let line = polyline(
        points
            .iter()
            .filter(|(at, _)| *at >= start)
            .map(|(at, ms)| (x(*at), y(*ms))),
    );
    svg.push_str(&format!("<polyline points=\"{line}\"/></svg>"));
    svg
}

/// One monitor's page: its 90 days, a 7-day response chart, its incidents.
pub fn monitor_page(
    look: &Look,
    page: &Page,
    monitor: &MonitorView,
    week: &[(DateTime<Utc>, u64)],
) -> String {
    let l = look.language;
    let title = format!("{} · {}", monitor.name, look.title);
    let mut text = head(look, &title);
    let back = if look.link_suffix.is_empty() {
        "../".to_owned()
    } else {
        format!("../{}", look.link_suffix)
    };
    text.push_str(&format!(
        "<header><p><a href=\"{}\">← {}</a></p><h1>{}</h1></header><main>",
        escape(&back),
        escape(&look.title),
        escape(&monitor.name)
    ));
    text.push_str(&format!(
        "<article class=\"monitor\" data-name=\"{}\" data-state=\"{}\"><div class=\"head\"><span>{}</span><span class=\"state {}\">{}</span></div>{}{}</article>",
        escape(&monitor.name),
        state_class(monitor.now),
        escape(monitor.kind),
        state_class(monitor.now),
        state_words(l, monitor.now),
        uptimes(look, monitor),
        bar(look, &monitor.days)
    ));
    text.push_str(&format!(
        "<h2>{}</h2>{}",
        words(l, "Response time, 7 days", "响应时间（7 天）"),
        chart(look, week, page.generated_at)
    ));
    let own = |list: &[IncidentView]| -> Vec<IncidentView> {
        list.iter()
            .filter(|i| i.monitor == monitor.name)
            .cloned()
            .collect()
    };
    text.push_str(&format!(
        "<section id=\"open\"><h2>{}</h2>{}</section><section id=\"closed\"><h2>{}</h2>{}</section></main>",
        words(l, "Open incidents", "进行中的故障"),
        incidents(look, &own(&page.open_incidents), true),
        words(l, "Past incidents", "历史故障"),
        incidents(look, &own(&page.closed_incidents), false)
    ));
    text.push_str(&footer(look, page));
    text
}

#[cfg(test)]
mod tests {
    use super::super::view::{self, fixtures};
    use super::*;

    #[test]
    fn numbers_are_written_as_float_formatting_would_within_its_last_digit() {
        for i in 0..40_000 {
            let v = f64::from(i) * 0.0137;
            let ours: f64 = Tenths(v).to_string().parse().unwrap();
            assert!((ours - v).abs() <= 0.05 + 1e-9, "{v}: {}", Tenths(v));
            assert_eq!(Tenths(v).to_string().split('.').nth(1).unwrap().len(), 1);
        }
        assert_eq!(Tenths(38.0).to_string(), "38.0");
        assert_eq!(Tenths(2.96).to_string(), "3.0");
        assert_eq!(percent(Some(99.999)), "99.99%");
        assert_eq!(
            percent(Some(99.05)),
            format!("{:.2}%", (99.05f64 * 100.0).floor() / 100.0)
        );
        assert_eq!(percent(Some(5.0)), "5.00%");
        assert_eq!(percent(Some(100.0)), "100%");
    }

    fn look() -> Look {
        Look {
            title: "Acme <status>".into(),
            description: Some("Shop & friends".into()),
            language: Language::English,
            timezone: chrono_tz::UTC,
            link_suffix: String::new(),
        }
    }

    #[test]
    fn the_page_is_whole_inline_and_escapes_what_it_was_told() {
        let page = view::page(&fixtures::inputs(), fixtures::now());
        let html = super::page(&look(), &page);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"60\">"));
        assert!(html.contains("All systems operational"));
        assert!(html.contains("Acme &lt;status&gt;") && !html.contains("<status>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"), "no script at all");
        for external in ["src=", "http://", "https://", "@import", "url("] {
            let outside = html
                .replace("https://shop.example.com/", "")
                .contains(external);
            assert!(!outside, "{external}");
        }
        assert_eq!(html.matches("class=\"day ").count(), 3 * 90);
        assert!(html.contains("2026-12-05: 95.83% up, 60 min down"));
        assert!(!html.contains("secret"));
        assert!(html.contains("Waiting for its first ping"));
        assert!(html.contains("<polyline points=\""));
    }

    #[test]
    fn a_monitor_page_has_its_chart_with_axes_and_its_incidents() {
        let page = view::page(&fixtures::inputs(), fixtures::now());
        let shop = &page.monitors[0];
        let html = monitor_page(&look(), &page, shop, &shop.response);
        assert!(html.contains("<svg class=\"chart\""));
        assert!(html.contains(" ms</text>") && html.contains(">12-06</text>"));
        assert!(html.contains("data-monitor=\"shop\""));
    }

    #[test]
    fn chinese_words_and_names_in_links_are_encoded() {
        let mut look = look();
        look.language = Language::Chinese;
        let page = view::page(&fixtures::inputs(), fixtures::now());
        let html = super::page(&look, &page);
        assert!(html.contains("所有系统运行正常"));
        assert_eq!(segment("商店 a/b"), "%E5%95%86%E5%BA%97%20a%2Fb");
        assert_eq!(escape("a\"b'<"), "a&quot;b&#39;&lt;");
    }
}
