//! Shields-style badges: a monitor's name on the left, its state, uptime or response time on the
//! right. Each text is measured (Verdana 11 px, as shields.io measures) and drawn with that length,
//! so it never runs over its box, whatever its characters.

use super::html::escape;
use super::view::{MonitorView, Now};

/// What a badge shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shows {
    /// Up, down, …
    Status,
    /// Uptime over `24h`, `7d`, `30d` or `90d`.
    Uptime(&'static str),
    /// The last 24 hours' median response time.
    Response,
}

impl Shows {
    /// From `?type=` and `?period=`: `None` for anything else.
    pub fn parse(kind: Option<&str>, period: Option<&str>) -> Option<Shows> {
        match (kind.unwrap_or("status"), period) {
            ("status", _) => Some(Shows::Status),
            ("response", _) => Some(Shows::Response),
            ("uptime", None) => Some(Shows::Uptime("30d")),
            ("uptime", Some(p)) => ["24h", "7d", "30d", "90d"]
                .into_iter()
                .find(|known| *known == p)
                .map(Shows::Uptime),
            _ => None,
        }
    }
}

/// The width of `text` in Verdana 11 px, in pixels (a character wider than any Latin one, such as
/// a CJK one, counts as a full em).
pub fn width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 3.1,
            'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | ' ' => 4.3,
            '-' | '_' => 4.9,
            'm' | 'w' => 9.8,
            'M' | 'W' | '%' | '@' => 11.0,
            '0'..='9' => 7.0,
            'a'..='z' => 6.6,
            'A'..='Z' => 7.6,
            c if c.is_ascii() => 7.0,
            _ => 11.0,
        })
        .sum()
}

/// The message and colour of a badge of `monitor`.
pub fn message(monitor: &MonitorView, shows: Shows) -> (String, &'static str) {
    match shows {
        Shows::Status => match monitor.now {
            Now::Up => ("up".into(), "#4c1"),
            Now::Down => ("down".into(), "#e05d44"),
            Now::Degraded => ("degraded".into(), "#fe7d37"),
            Now::MonitorError => ("cannot check".into(), "#dfb317"),
            Now::Maintenance => ("maintenance".into(), "#dfb317"),
            Now::Waiting => ("waiting".into(), "#9f9f9f"),
            Now::NoData => ("no data".into(), "#9f9f9f"),
        },
        Shows::Uptime(period) => {
            let value = match period {
                "24h" => monitor.uptime.day,
                "7d" => monitor.uptime.week,
                "90d" => monitor.uptime.quarter,
                _ => monitor.uptime.month,
            };
            match value {
                None => ("no data".into(), "#9f9f9f"),
                Some(v) => {
                    let color = if v >= 99.9 {
                        "#4c1"
                    } else if v >= 99.0 {
                        "#97ca00"
                    } else if v >= 95.0 {
                        "#dfb317"
                    } else {
                        "#e05d44"
                    };
                    let text = if v < 100.0 {
                        format!("{:.2}%", (v * 100.0).floor() / 100.0)
                    } else {
                        "100%".into()
                    };
                    (text, color)
                }
            }
        }
        Shows::Response => match monitor.response_ms {
            None => ("no data".into(), "#9f9f9f"),
            Some(ms) => (format!("{ms} ms"), "#007ec6"),
        },
    }
}

/// A badge: `label` on grey, `message` on `color`.
pub fn svg(label: &str, message: &str, color: &str) -> String {
    let (lw, mw) = (width(label).ceil() + 10.0, width(message).ceil() + 10.0);
    let total = lw + mw;
    let (label, message) = (escape(label), escape(message));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{label}: {message}\">\
<title>{label}: {message}</title>\
<linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
<clipPath id=\"r\"><rect width=\"{total}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\
<g clip-path=\"url(#r)\"><rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{color}\"/><rect width=\"{total}\" height=\"20\" fill=\"url(#s)\"/></g>\
<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">\
<text x=\"{}\" y=\"14\" textLength=\"{}\" lengthAdjust=\"spacingAndGlyphs\">{label}</text>\
<text x=\"{}\" y=\"14\" textLength=\"{}\" lengthAdjust=\"spacingAndGlyphs\">{message}</text></g></svg>",
        lw / 2.0,
        lw - 10.0,
        lw + mw / 2.0,
        mw - 10.0,
    )
}

#[cfg(test)]
mod tests {
    use super::super::view::{self, fixtures};
    use super::*;

    #[test]
    fn badges_say_what_the_page_says_and_grow_with_their_text() {
        let page = view::page(&fixtures::inputs(), fixtures::now());
        let shop = &page.monitors[0];
        assert_eq!(message(shop, Shows::Status), ("up".into(), "#4c1"));
        let (uptime, _) = message(shop, Shows::Uptime("24h"));
        assert_eq!(uptime, "99.93%");
        assert_eq!(message(&page.monitors[1], Shows::Response).0, "no data");
        let short = svg("shop", "up", "#4c1");
        let long = svg("商店的结账页面 checkout", "cannot check", "#dfb317");
        let w = |s: &str| -> f64 {
            let at = s.find("width=\"").unwrap() + 7;
            s[at..].split('"').next().unwrap().parse().unwrap()
        };
        assert!(w(&long) > w(&short) + 150.0, "{} {}", w(&long), w(&short));
        assert!(long.contains("textLength="));
        assert!(svg("<a>", "&", "#4c1").contains("&lt;a&gt;: &amp;"));
        assert_eq!(
            Shows::parse(Some("uptime"), Some("7d")),
            Some(Shows::Uptime("7d"))
        );
        assert_eq!(Shows::parse(Some("uptime"), Some("1y")), None);
        assert_eq!(Shows::parse(Some("bogus"), None), None);
        assert_eq!(Shows::parse(None, None), Some(Shows::Status));
    }
}
