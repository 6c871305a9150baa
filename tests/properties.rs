//! Property tests over every parser of upstream answers and every reader of settings: whatever they
//! are given (generated, 10,000 cases each; 2,500 for the four whose every case is large: node
//! replies, setup pages, deep nesting, a whole environment), they never panic, and what they return
//! is a value or an error that says something.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use lookout::alerting::policy::Policy;
use lookout::alerting::render::Style;
use lookout::checks::kafka_lag::{parse_page, total_lag};
use lookout::checks::speedtest::chinaz::{PageNode, parse_node_reply, parse_setup_page};
use lookout::checks::speedtest::globalping::nodes_from;
use lookout::config::{ConfigError, Env};
use lookout::notify::sms::read_send_status;
use lookout::notify::wecom::read_reply;
use lookout::tencent::parse_response;
use lookout::tick::Tick;
use proptest::prelude::*;
use serde_json::{Value, json};

const CASES: u32 = 10_000;
/// Cases of the properties whose every case is large (a debug build takes milliseconds over each:
/// 10,000 of them were most of `make test`'s property time).
const LARGE_CASES: u32 = 2_500;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, nested a few levels, with the numbers upstreams get wrong: huge, negative,
/// fractional.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(u64::MAX)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("Topic".to_owned()),
                    Just("Partitions".to_owned()),
                    Just("Lag".to_owned()),
                    Just("Offset".to_owned()),
                    Just("LogEndOffset".to_owned()),
                    Just("Code".to_owned()),
                    Just("PhoneNumber".to_owned()),
                    Just("status".to_owned()),
                    Just("timings".to_owned()),
                    "[a-zA-Z]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn some_error<E: std::fmt::Display>(error: &E) -> bool {
    !error.to_string().trim().is_empty()
}

fn node() -> PageNode {
    PageNode {
        guid: "g".into(),
        carrier: "电信".into(),
        name: "江苏宿迁[电信]".into(),
    }
}

/// Fragments a chinaz node reply is made of, in any order and number.
fn node_reply() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("({".to_owned()),
        Just("})".to_owned()),
        Just("state:1,".to_owned()),
        Just("state:'1',".to_owned()),
        Just("msg:'',".to_owned()),
        Just("result:{".to_owned()),
        Just("}".to_owned()),
        Just("httpstate:200,".to_owned()),
        Just("alltime:'212',".to_owned()),
        Just("alltime:NaN,".to_owned()),
        Just("conntime:Infinity,".to_owned()),
        Just("downtime:'<1',".to_owned()),
        Just("alltime:'超时',".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("'".to_owned()),
        "[ -~]{0,8}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// Fragments of a speed-test setup page.
fn setup_page() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<input type=\"hidden\" id=\"enkey\" value=\"T\" />".to_owned()),
        Just("<div id=\"speedlist\">".to_owned()),
        Just("<div id=\"g1\" class=\"row listw\" linetype=\"1\">".to_owned()),
        Just("<div name=\"city\">江苏[电信]</div>".to_owned()),
        Just("</div>".to_owned()),
        Just("<div>".to_owned()),
        Just("<script>".to_owned()),
        Just("<!--".to_owned()),
        "[ -~]{0,10}",
        "\\PC{0,5}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: LARGE_CASES, ..config() })]

    #[test]
    fn chinaz_node_replies_are_read_or_refused(text in node_reply()) {
        if let Err(error) = parse_node_reply(&text, &node()) {
            prop_assert!(some_error(&error));
        }
    }

    #[test]
    fn chinaz_setup_pages_are_read_or_refused(html in setup_page()) {
        match parse_setup_page(&html) {
            Ok(page) => prop_assert!(!page.token.is_empty() && !page.nodes.is_empty()),
            Err(error) => prop_assert!(some_error(&error)),
        }
    }

    #[test]
    fn setup_pages_nested_to_any_depth_are_refused_not_a_hang(
        depth in 0usize..3_000,
        tag in prop::sample::select(vec!["<div>", "<span><b>", "<table><tbody>", "<p><div>"]),
    ) {
        let page = format!("<html><body>{}<input id=\"enkey\" value=\"T\">", tag.repeat(depth));
        if let Err(error) = parse_setup_page(&page) {
            prop_assert!(some_error(&error));
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn chinaz_node_replies_of_any_bytes_are_read_or_refused(text in "\\PC{0,200}") {
        if let Err(error) = parse_node_reply(&text, &node()) {
            prop_assert!(some_error(&error));
        }
    }

    #[test]
    fn ckafka_pages_are_read_or_refused(value in json_value()) {
        for response in [value.clone(), json!({"Result": value.clone()}),
                         json!({"Result": {"TotalCount": 3, "TopicList": value}})] {
            if let Err(error) = parse_page(&response) {
                prop_assert!(some_error(&error));
            }
        }
    }

    #[test]
    fn ckafka_partitions_of_any_numbers_sum_without_overflow(
        partitions in prop::collection::vec((any::<u64>(), any::<u64>(), prop::option::of(any::<u64>())), 0..20)
    ) {
        let partitions: Vec<Value> = partitions
            .iter()
            .enumerate()
            .map(|(i, (offset, end, lag))| json!({"Partition": i, "Offset": offset, "LogEndOffset": end, "Lag": lag}))
            .collect();
        let page = json!({"Result": {"TotalCount": 2, "TopicList": [
            {"Topic": "t", "Partitions": partitions.clone()},
            {"Topic": "u", "Partitions": partitions}]}});
        let (_, topics) = parse_page(&page).unwrap();
        prop_assert_eq!(topics.len(), 2);
        prop_assert!(total_lag(&topics) >= topics[0].lag);
    }

    #[test]
    fn replies_nested_to_any_depth_are_refused_not_a_crash(
        depth in 0usize..5_000,
        opener in prop::sample::select(vec!["[", "{a:", "(", "{'x':["]),
    ) {
        let reply = format!("({}", opener.repeat(depth));
        let _ = parse_node_reply(&reply, &node());
    }

    #[test]
    fn tencent_answers_of_any_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Err(error) = parse_response(&bytes) {
            prop_assert!(some_error(&error));
        }
    }

    #[test]
    fn tencent_answers_of_any_json_are_read_or_refused(value in json_value()) {
        let body = json!({"Response": value}).to_string();
        if let Err(error) = parse_response(body.as_bytes()) {
            prop_assert!(some_error(&error));
        }
    }

    #[test]
    fn sms_replies_are_read_or_refused(value in json_value()) {
        for response in [value.clone(), json!({"SendStatusSet": value})] {
            if let Err(error) = read_send_status(&response) {
                prop_assert!(some_error(&error));
            }
        }
    }

    #[test]
    fn globalping_results_are_read_or_refused(value in json_value()) {
        for measurement in [value.clone(), json!({"status": "finished", "results": value.clone()}),
                            json!({"results": [{"probe": value.clone(), "result": value}]})] {
            if let Err(error) = nodes_from(&measurement) {
                prop_assert!(some_error(&error));
            }
        }
    }

    #[test]
    fn robot_replies_are_read_or_refused(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Err(error) = read_reply(status, &body) {
            prop_assert!(some_error(&error));
        }
    }

    #[test]
    fn robot_replies_of_any_json_are_read_or_refused(value in json_value()) {
        let body = value.to_string();
        if let Err(error) = read_reply(200, body.as_bytes()) {
            prop_assert!(some_error(&error));
        }
        for read in [
            lookout::notify::dingtalk::read_reply,
            lookout::notify::feishu::read_reply,
            lookout::notify::telegram::read_reply,
        ] {
            if let Err(error) = read(&value) {
                prop_assert!(some_error(&error));
            }
        }
    }

    #[test]
    fn tick_events_of_any_shape_give_a_tick(value in json_value(), time in ".{0,30}") {
        let clock = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        for event in [value.clone(), json!({"id": value.clone(), "time": time.clone(), "detail-type": value})] {
            let tick = Tick::from_event(&event, "request", clock);
            prop_assert!(!tick.id.is_empty());
            prop_assert!((tick.time - clock).num_hours().abs() <= 24);
        }
    }
}

/// A value a tired operator might type for a setting.
fn setting_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,25}",
        "-?[0-9]{1,6}",
        "[0-9,\\- ]{0,20}",
        "[0-9]{1,2}:[0-9]{1,2}-[0-9]{1,2}:[0-9]{1,2}(,[0-9]{1,2}:[0-9]{1,2}-[0-9]{1,2}:[0-9]{1,2}){0,2}",
        "https?://[a-z.:@0-9/?=%+]{0,30}",
        "[a-z0-9@.,+ ]{0,30}",
        "\\PC{0,20}",
        ".{0,20}",
        Just(String::new()),
        Just("  ".to_owned()),
    ]
}

/// An environment with any of the settings set to anything.
fn environment() -> impl Strategy<Value = BTreeMap<String, String>> {
    let names: Vec<&'static str> = lookout::setup::settings()
        .iter()
        .map(|s| s.name)
        .filter(|n| {
            !matches!(
                *n,
                "LOOKOUT_SECRET_ARN" | "STATE_TABLE" | "STATE_FILE" | "RUST_LOG"
            )
        })
        .collect();
    prop::collection::btree_map(prop::sample::select(names), setting_value(), 0..12)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A clear configuration error names a variable the code reads, and says what to do.
fn clear(error: &ConfigError) -> bool {
    let named = match error {
        ConfigError::Missing { var, hint } => {
            !hint.is_empty() && lookout::setup::settings().iter().any(|s| s.name == *var)
        }
        ConfigError::Invalid {
            var, hint, reason, ..
        } => {
            !hint.is_empty()
                && !reason.is_empty()
                && lookout::setup::settings().iter().any(|s| s.name == *var)
        }
    };
    named && !error.to_string().contains("panicked")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: LARGE_CASES, ..config() })]

    #[test]
    fn every_settings_reader_gives_settings_or_a_clear_error(vars in environment()) {
        let env = Env::from_pairs(vars.clone());
        let mut checks: Vec<Result<(), ConfigError>> = vec![
            Policy::from_env(&env, &lookout::notify::delays()).map(drop),
            Style::from_env(&env).map(drop),
        ];
        // Every check type's and channel type's settings, read from their declared keys.
        checks.extend(lookout::checks::CHECK_TYPES.iter().map(|t| (t.validate)(&env)));
        checks.extend(lookout::notify::CHANNEL_TYPES.iter().map(|t| (t.validate)(&env).map(drop)));
        for result in checks {
            if let Err(error) = result {
                prop_assert!(clear(&error), "{error:?} from {vars:?}");
            }
        }
    }

    #[test]
    fn quiet_hours_and_escalation_lists_are_read_or_refused(
        quiet in "[0-9:,\\- ]{0,30}",
        steps in "[0-9, \\-]{0,30}",
        repeat in "[0-9\\-]{0,12}",
    ) {
        let env = Env::from_pairs([
            ("ALERT_QUIET_HOURS", quiet),
            ("ALERT_ESCALATION_MINUTES", steps),
            ("ALERT_REPEAT_MINUTES", repeat),
        ]);
        match Policy::from_env(&env, &lookout::notify::delays()) {
            Ok(policy) => {
                // A policy read is one that can be used at any age and any time.
                let now = Utc.with_ymd_and_hms(2026, 12, 3, 15, 0, 0).unwrap();
                let _ = policy.is_quiet(now);
                for age in [0i64, 1, 59, 1440, 1_000_000, i64::MAX / 2] {
                    let _ = policy.latest_due_step(age);
                }
            }
            Err(error) => prop_assert!(clear(&error), "{error:?}"),
        }
    }
}

/// Text a stranger could make lookout say: any characters, and the pieces every chat reads as
/// markup (mentions, links, tags, headings, code, entities), in any order.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "\\PC{0,12}",
        Just("<@all>".to_owned()),
        Just("<!channel>".to_owned()),
        Just("<at id=all></at>".to_owned()),
        Just("@all @here @13800001111".to_owned()),
        Just("[x](http://evil.example)".to_owned()),
        Just("![i](http://evil.example/i.png)".to_owned()),
        Just("<a href=\"http://evil.example\">x</a>".to_owned()),
        Just("<font color=\"info\">ALL CLEAR</font>".to_owned()),
        Just("**ALL CLEAR**".to_owned()),
        Just("\n# heading\n".to_owned()),
        Just("\n---\n".to_owned()),
        Just("\n===\n".to_owned()),
        Just("\n> quote".to_owned()),
        Just("`code`".to_owned()),
        Just("&lt;b&gt;".to_owned()),
        Just("~~gone~~".to_owned()),
        Just("\\<escaped\\>".to_owned()),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

fn hostile_digest(target: &str, message: &str) -> lookout::alerting::Digest {
    lookout::alerting::Digest {
        function: "heartbeat",
        time: Utc.with_ymd_and_hms(2026, 12, 6, 2, 0, 0).unwrap(),
        alerts: vec![lookout::alerting::Alert {
            key: "supervisor:web-1-programs/x".into(),
            function: "heartbeat",
            target: target.into(),
            state: lookout::alerting::AlertState::Failing,
            kind: Some("crashed".into()),
            message: message.into(),
            since: Utc.with_ymd_and_hms(2026, 12, 6, 1, 50, 0).unwrap(),
            until: None,
            step: Some(1),
            note: None,
            channels: vec![],
            answer: None,
            links: None,
        }],
    }
}

/// How many of `marks` each text holds.
fn marks_in(text: &str, marks: &[&str]) -> Vec<usize> {
    marks.iter().map(|m| text.matches(m).count()).collect()
}

/// What each channel's message is, by channel: the texts a chat renders.
fn layouts(
    digest: &lookout::alerting::Digest,
) -> Vec<(&'static str, String, &'static [&'static str])> {
    use lookout::notify::{dingtalk, email, feishu, slack, telegram, wecom};
    let style = Style::default();
    // For each layout, the sequences its renderer acts on: none may come from the text.
    const MARKDOWN: &[&str] = &[
        "<", ">", "[", "]", "`", "*", "#", "@", "&", "~", "|", "\n-", "\n=", "\n+", "\n  -",
        "\n  =", "\n  +",
    ];
    const SLACK: &[&str] = &["<", ">", "<!", "<@", "<#"];
    const TELEGRAM: &[&str] = &["<", ">", "@"];
    const HTML: &[&str] = &["<", ">", "\""];
    let dingtalk = dingtalk::request_body(digest, &style, &[], false);
    let slack = slack::request_body(digest, &style);
    vec![
        ("wecom markdown", wecom::markdown(digest, &style), MARKDOWN),
        (
            "dingtalk markdown",
            dingtalk["markdown"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            MARKDOWN,
        ),
        (
            "feishu lark_md",
            feishu::card(digest, &style)["elements"][0]["text"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            MARKDOWN,
        ),
        ("slack mrkdwn", slack.to_string(), SLACK),
        ("telegram html", telegram::text(digest, &style), TELEGRAM),
        ("email html", email::layout(digest, &style).html, HTML),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..config() })]

    /// Whatever a stranger puts in a name or a job's output, each channel's message holds no more
    /// of the markup its chat acts on (a mention, a link, a tag, a heading, a quote, code) than
    /// lookout's own frame around a plain word does: the text reads as text.
    #[test]
    fn no_text_from_outside_makes_markup_in_any_channel(
        target in hostile_text(),
        message in hostile_text(),
    ) {
        // The frame: the same text with every character but its line breaks made a plain letter
        // (a line of its own is quoted or indented as any line is).
        let skeleton = |text: &str| -> String {
            text.chars().map(|c| if c == '\n' { '\n' } else { 'x' }).collect()
        };
        let plain = layouts(&hostile_digest(&skeleton(&target), &skeleton(&message)));
        let hostile = layouts(&hostile_digest(&target, &message));
        for ((channel, frame, marks), (_, said, _)) in plain.iter().zip(&hostile) {
            let allowed = marks_in(frame, marks);
            let found = marks_in(said, marks);
            for ((mark, allowed), found) in marks.iter().zip(&allowed).zip(&found) {
                prop_assert!(
                    found <= allowed,
                    "{channel}: {found} of {mark:?} where its frame has {allowed}:\n{said}"
                );
            }
        }
    }

    /// The reader of lookout-agent's reports: any body is a job's output, a report, or refused with
    /// a reason that quotes nothing of it; a report taken names only what the configuration could.
    #[test]
    fn reports_of_any_json_are_taken_strictly_or_refused_without_quoting(
        value in json_value(),
        host in "\\PC{0,20}",
        disk in "\\PC{0,20}",
        process in "\\PC{0,20}",
        cpu in any::<f64>(),
    ) {
        use lookout::pings::{Resources, is_disk_path, is_process_name};
        for body in [
            value.to_string(),
            json!({"host": host, "cpu": cpu, "memory": 1, "disks": {disk.clone(): 1}, "processes": {process.clone(): true}, "extra": value}).to_string(),
            json!({"host": host, "cpu": 1, "memory": 1, "disks": {disk.clone(): 1}, "processes": {process.clone(): true}}).to_string(),
        ] {
            match Resources::of_body(body.as_bytes()) {
                None => {}
                Some(Ok(report)) => {
                    prop_assert!(report.disks.keys().all(|d| is_disk_path(d)), "{body}");
                    prop_assert!(report.processes.keys().all(|p| is_process_name(p)), "{body}");
                    prop_assert!((0.0..=100.0).contains(&report.cpu), "{body}");
                }
                Some(Err(why)) => {
                    for quoted in [&host, &disk, &process] {
                        prop_assert!(
                            quoted.chars().count() < 6 || !why.contains(quoted.as_str()),
                            "{why} quotes {quoted:?}"
                        );
                    }
                }
            }
        }
    }
}
