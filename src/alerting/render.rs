//! How alerts read: one place for every channel's wording.

use super::{AlertState, Digest};

/// Plain text: a headline, then one line per alert.
pub fn plain_text(digest: &Digest) -> String {
    let failing = digest
        .alerts
        .iter()
        .filter(|a| a.state == AlertState::Failing)
        .count();
    let monitor_errors = digest.alerts.len() - failing;
    let mut headline = format!("[lookout] {}: ", digest.function);
    match (failing, monitor_errors) {
        (f, 0) => headline.push_str(&format!("{f} failing")),
        (0, m) => headline.push_str(&format!("{m} monitor error(s)")),
        (f, m) => headline.push_str(&format!("{f} failing, {m} monitor error(s)")),
    }
    headline.push_str(&format!(
        " at {}",
        digest.time.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    let mut text = headline;
    for alert in &digest.alerts {
        let label = match alert.state {
            AlertState::Failing => "FAILING",
            AlertState::MonitorError => "MONITOR ERROR",
        };
        let kind = alert.kind.map(|k| format!(" [{k}]")).unwrap_or_default();
        text.push_str(&format!(
            "\n- {label}{kind} {}: {}",
            alert.target, alert.message
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::Alert;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_digest_reads_as_a_headline_and_a_line_per_alert() {
        let time = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let alert = |target: &str, state| Alert {
            key: format!("site-status:{target}"),
            function: "site-status",
            target: target.into(),
            state,
            kind: Some("timeout"),
            message: "no answer".into(),
            since: time,
        };
        let digest = Digest {
            function: "site-status",
            time,
            alerts: vec![
                alert("https://a/", AlertState::Failing),
                alert("https://b/", AlertState::MonitorError),
            ],
        };
        assert_eq!(
            plain_text(&digest),
            "[lookout] site-status: 1 failing, 1 monitor error(s) at 2026-11-23 02:00:00 UTC\n\
             - FAILING [timeout] https://a/: no answer\n\
             - MONITOR ERROR [timeout] https://b/: no answer"
        );
    }
}
