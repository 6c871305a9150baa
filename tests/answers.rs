//! Answering an alert from the alert: the links in the messages, taken as a user would, opened
//! and pressed on the status function behind its Function URL, with site-status ticking a replayed
//! outage. Both run as the deployed bootstrap under the Lambda emulator, their state in DynamoDB
//! (moto); the channels are the WeCom and DingTalk fakes and SES (moto).
//!
//! The tick times are the wall clock's, shifted so that the moment the test presses a link falls
//! just before minute 15 of the outage: the status function stamps an answer with its own clock.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lookout::alerting::state::Incidents;
use lookout::alerting::state::dynamodb::DynamoDbStore;
use serde_json::Value;
use support::dingtalk::FakeDingTalk;
use support::lambda::{Function, Outcome, RuntimeApi, scheduled_event};
use support::moto::Moto;
use support::wecom::FakeWeCom;

const ACTION_KEY: &str = "action-key-0123456789abcdef-never-print-it";
const OTHER_STACK_KEY: &str = "another-stacks-action-key-0123456789abcdef";
const WECOM_KEY: &str = "wecom-robot-key-for-answers";
const TABLE: &str = "lookout-state";
const WITHIN: Duration = Duration::from_secs(60);

struct World {
    moto: Moto,
    site: std::net::SocketAddr,
    wecom: FakeWeCom,
    dingtalk: FakeDingTalk,
    status: String,
    _status_api: Arc<RuntimeApi>,
    status_function: Function,
    ticks: RuntimeApi,
    _site_status: Function,
    /// Minute 0 of the outage.
    start: DateTime<Utc>,
    path: String,
}

impl World {
    /// The world of one outage of `path` on the fake site.
    async fn start(path: &str) -> World {
        let (site, _) = support::site::start().await;
        let moto = Moto::start().await;
        moto.verify_sender("alerts@example.com").await;
        support::dynamodb::table(&moto, TABLE).await;
        let mut env = moto.env();
        env.extend([
            ("STATE_TABLE", TABLE.to_owned()),
            ("LOOKOUT_ACTION_KEY", ACTION_KEY.to_owned()),
            ("ALERT_TIMEZONE", "Asia/Shanghai".to_owned()),
            ("ALERT_LANGUAGE", "en".to_owned()),
        ]);
        let status_api = Arc::new(RuntimeApi::start().await);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let status_function = status_api.spawn("status", &pairs).await;
        let status = support::function_url::serve(Arc::clone(&status_api)).await;

        let wecom = FakeWeCom::start(WECOM_KEY).await;
        let dingtalk = FakeDingTalk::start("dingtalk-token", None).await;
        env.extend([
            ("SITE_URLS", format!("http://{site}{path}")),
            ("SITE_RETRIES", "0".to_owned()),
            ("ALERT_FAILURE_THRESHOLD", "1".to_owned()),
            ("ALERT_RECOVERY_THRESHOLD", "1".to_owned()),
            ("ALERT_ESCALATION_MINUTES", "0,10,60,240".to_owned()),
            ("ALERT_REPEAT_MINUTES", "0".to_owned()),
            ("WECOM_WEBHOOK_URL", wecom.url()),
            ("DINGTALK_WEBHOOK_URL", dingtalk.url()),
            ("EMAIL_FROM", "alerts@example.com".to_owned()),
            ("EMAIL_TO", "oncall@example.com".to_owned()),
            ("LOOKOUT_STATUS_URL", format!("{status}/")),
        ]);
        let ticks = RuntimeApi::start().await;
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let site_status = ticks.spawn("site-status", &pairs).await;
        World {
            moto,
            site,
            wecom,
            dingtalk,
            status,
            _status_api: status_api,
            status_function,
            ticks,
            _site_status: site_status,
            start: Utc::now() - chrono::Duration::minutes(14),
            path: path.to_owned(),
        }
    }

    /// The tick at `minute` of the outage; its report.
    async fn tick(&self, minute: i64) -> Value {
        let time = self.start + chrono::Duration::minutes(minute);
        let event = scheduled_event(
            &format!("tick-{minute}"),
            &time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        match self.ticks.invoke(event, WITHIN).await {
            Outcome::Response(report) => report,
            other => panic!("minute {minute}: {other:?}"),
        }
    }

    /// What each channel was told so far: WeCom's markdown, DingTalk's markdown, the emails' text.
    async fn told(&self) -> [Vec<String>; 3] {
        let wecom = self
            .wecom
            .accepted()
            .iter()
            .map(|m| {
                m["markdown"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let dingtalk = self
            .dingtalk
            .accepted()
            .iter()
            .map(|m| {
                m["markdown"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let emails = self
            .moto
            .sent_emails()
            .await
            .iter()
            .map(Value::to_string)
            .collect();
        [wecom, dingtalk, emails]
    }

    async fn counts(&self) -> [usize; 3] {
        self.told().await.map(|messages| messages.len())
    }

    /// The incident of the outage, as the table holds it.
    async fn incident(&self) -> lookout::alerting::lifecycle::Incident {
        let store = DynamoDbStore::new(self.moto.dynamodb(), TABLE);
        let key = format!("site-status:http://{}{}", self.site, self.path);
        store
            .get("site-status", &key)
            .await
            .expect("the table answers")
            .unwrap_or_else(|| panic!("no incident {key}"))
            .incident
    }
}

/// The links of a WeCom markdown message, by their words, as a user would pick them out.
fn links(message: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = message;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find("](") else { break };
        let words = &after[..close];
        let url_part = &after[close + 2..];
        let Some(end) = url_part.find(')') else { break };
        found.push((words.to_owned(), url_part[..end].to_owned()));
        rest = &url_part[end..];
    }
    found
}

fn link<'a>(links: &'a [(String, String)], words: &str) -> &'a str {
    links
        .iter()
        .find(|(w, _)| w == words)
        .map(|(_, url)| url.as_str())
        .unwrap_or_else(|| panic!("no {words} link in {links:?}"))
}

fn token_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Presses the button of the page at `url`, as the page's form does.
async fn press(client: &reqwest::Client, status: &str, url: &str, name: &str) -> reqwest::Response {
    client
        .post(url)
        .header("origin", status)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("confirm={}&name={name}", token_of(url)))
        .send()
        .await
        .expect("an answer")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_acknowledgement_from_the_first_wecom_message_stops_the_escalation_not_the_recovery() {
    // 49 failing ticks (minutes 0 to 240), then healthy.
    let world = World::start("/flaky/49").await;
    let client = no_redirects();
    world.tick(0).await;
    let [wecom, dingtalk, emails] = world.told().await;
    assert_eq!((wecom.len(), dingtalk.len(), emails.len()), (1, 1, 1));
    let found = links(&wecom[0]);
    let acknowledge = link(&found, "Acknowledge").to_owned();
    assert!(
        acknowledge.starts_with(&format!("{}/act/", world.status)),
        "{acknowledge}"
    );
    for words in ["Silence 1 h", "Silence 4 h", "Silence until tomorrow 09:00"] {
        link(&found, words);
    }
    // DingTalk's markdown and the email carry their own links, for their own channel.
    assert!(dingtalk[0].contains(&format!("[Acknowledge]({}/act/", world.status)));
    assert!(
        // moto keeps the HTML part (as JSON text): the link is an anchor there.
        emails[0].contains(&format!(r#"<a href=\"{}/act/"#, world.status)),
        "{}",
        emails[0]
    );
    assert!(
        !dingtalk[0].contains(&acknowledge),
        "a link is signed for its channel"
    );

    // Opening the link (as a link preview or a mail scanner would) changes nothing.
    for method in [
        reqwest::Method::GET,
        reqwest::Method::HEAD,
        reqwest::Method::GET,
    ] {
        let opened = client.request(method, &acknowledge).send().await.unwrap();
        assert_eq!(opened.status().as_u16(), 200);
    }
    let page = client.get(&acknowledge).send().await.unwrap();
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("form-action 'self'")
    );
    let page = page.text().await.unwrap();
    assert!(page.contains("<form method=\"post\">") && page.contains(">Acknowledge</button>"));
    assert!(page.contains(&format!("http://{}/flaky/49", world.site)));
    assert!(page.len() < 64 * 1024);
    world.tick(5).await;
    world.tick(10).await;
    assert_eq!(
        world.counts().await,
        [2, 2, 2],
        "the 10-minute step still went out"
    );
    world.tick(15).await;
    assert!(world.incident().await.answers.is_empty());

    // Pressed: one acknowledgement, then the browser is sent back to the page.
    let pressed = press(&client, &world.status, &acknowledge, "Li+Wei").await;
    assert_eq!(pressed.status().as_u16(), 303);
    let location = pressed.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/act/{}", token_of(&acknowledge)));
    let after = client
        .get(&acknowledge)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        after.contains("Acknowledged via") && after.contains("wecom (Li Wei)"),
        "{after}"
    );
    assert!(!after.contains("<form"), "nothing left to press");
    let answered = world.incident().await;
    assert_eq!(answered.answers.len(), 1);
    assert_eq!(answered.answers[0].by.as_deref(), Some("Li Wei"));

    // The next tick tells each channel once who took it.
    world.tick(20).await;
    let told = world.told().await;
    assert_eq!(told.each_ref().map(Vec::len), [3, 3, 3]);
    for messages in &told {
        // (moto keeps the emails in no promised order: each channel's are searched.)
        let said: Vec<&String> = messages
            .iter()
            .filter(|m| m.contains("ACKNOWLEDGED"))
            .collect();
        assert_eq!(said.len(), 1, "{messages:?}");
        assert!(
            said[0].contains("acknowledged by Li Wei via wecom at"),
            "{}",
            said[0]
        );
        assert!(said[0].contains("(Asia/Shanghai)"), "{}", said[0]);
    }
    // No step at 60 nor at 240.
    for minute in (25..=240).step_by(5) {
        world.tick(minute).await;
    }
    assert_eq!(
        world.counts().await,
        [3, 3, 3],
        "no escalation once acknowledged"
    );

    // The recovery is sent, with its downtime.
    world.tick(245).await;
    let told = world.told().await;
    assert_eq!(told.each_ref().map(Vec::len), [4, 4, 4]);
    for messages in &told {
        let said: Vec<&String> = messages
            .iter()
            .filter(|m| m.contains("RECOVERED"))
            .collect();
        assert_eq!(said.len(), 1, "{messages:?}");
        assert!(said[0].contains("down 4 h 5 min"), "{}", said[0]);
    }
    // The link now says the incident is over; a new incident starts without the answer.
    let closed = client.get(&acknowledge).send().await.unwrap();
    assert_eq!(closed.status().as_u16(), 200);
    assert!(closed.text().await.unwrap().contains("It has recovered"));
    assert!(world.incident().await.answers.is_empty());
    let printed = world.told().await.concat().join("\n");
    assert!(!printed.contains(ACTION_KEY) && !printed.contains(WECOM_KEY));
}

#[tokio::test]
async fn a_silence_of_an_hour_holds_the_ladder_then_sends_the_step_that_came_due() {
    let world = World::start("/status/503").await;
    let client = no_redirects();
    for minute in [0, 5, 10, 15] {
        world.tick(minute).await;
    }
    assert_eq!(world.counts().await, [2, 2, 2]);
    let first = world.told().await[0][0].clone();
    let silence = link(&links(&first), "Silence 1 h").to_owned();
    let pressed = press(&client, &world.status, &silence, "").await;
    assert_eq!(pressed.status().as_u16(), 303);
    let until = world
        .incident()
        .await
        .silenced_until(Utc::now())
        .expect("silenced");
    assert!(
        until < world.start + chrono::Duration::minutes(75),
        "{until}"
    );
    for minute in (20..=70).step_by(5) {
        world.tick(minute).await;
    }
    assert_eq!(
        world.counts().await,
        [2, 2, 2],
        "nothing while silenced, not even at 60"
    );
    world.tick(75).await;
    let told = world.told().await;
    assert_eq!(
        told.each_ref().map(Vec::len),
        [3, 3, 3],
        "one notice when the silence ends"
    );
    assert!(
        told[0][2].contains("notice 3"),
        "the 60-minute step: {}",
        told[0][2]
    );
    for minute in (80..=235).step_by(5) {
        world.tick(minute).await;
    }
    assert_eq!(world.counts().await, [3, 3, 3]);
    world.tick(240).await;
    let told = world.told().await;
    assert_eq!(
        told.each_ref().map(Vec::len),
        [4, 4, 4],
        "the 240-minute step as usual"
    );
    assert!(told[0][3].contains("notice 4"));
    // Silenced for four hours, the hour's link has nothing left to do; acknowledging still has.
    let four = link(&links(&first), "Silence 4 h").to_owned();
    assert_eq!(
        press(&client, &world.status, &four, "")
            .await
            .status()
            .as_u16(),
        303
    );
    let page = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let hour = page(silence.clone()).await;
    assert!(
        hour.contains("Silenced until") && !hour.contains("<form"),
        "{hour}"
    );
    let acknowledge = page(link(&links(&first), "Acknowledge").to_owned()).await;
    assert!(acknowledge.contains("Silenced until") && acknowledge.contains("<form"));
}

/// The median of `runs` timings of `request`, in milliseconds.
async fn median_ms(client: &reqwest::Client, url: &str, runs: usize) -> (f64, u16) {
    let mut times = Vec::new();
    let mut status = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let answer = client.get(url).send().await.unwrap();
        status = answer.status().as_u16();
        let _ = answer.text().await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[runs / 2], status)
}

#[tokio::test]
async fn forged_expired_older_and_foreign_links_are_refused_alike_and_two_presses_are_one() {
    let world = World::start("/status/503").await;
    let client = no_redirects();
    world.tick(0).await;
    let first = world.told().await[0][0].clone();
    let acknowledge = link(&links(&first), "Acknowledge").to_owned();
    let token = token_of(&acknowledge).to_owned();
    let key = format!("site-status:http://{}/status/503", world.site);
    let began = world.start;
    let signer = |secret: &str| {
        lookout::alerting::answers::signer_from(&lookout::config::Env::from_pairs([(
            "LOOKOUT_ACTION_KEY",
            secret.to_owned(),
        )]))
        .unwrap()
        .unwrap()
    };
    let action = lookout::alerting::answers::Action::Acknowledge;
    let now = Utc::now();
    let mut changed = token.clone().into_bytes();
    changed[10] = if changed[10] == b'A' { b'B' } else { b'A' };
    let refused = [
        ("changed", String::from_utf8(changed).unwrap()),
        (
            "another stack's",
            signer(OTHER_STACK_KEY).token("site-status", &key, began, action, "wecom", now),
        ),
        (
            "expired",
            signer(ACTION_KEY).token(
                "site-status",
                &key,
                began,
                action,
                "wecom",
                now - chrono::Duration::days(8),
            ),
        ),
        (
            "an older incident's",
            signer(ACTION_KEY).token(
                "site-status",
                &key,
                began - chrono::Duration::hours(3),
                action,
                "wecom",
                now,
            ),
        ),
        ("rubbish", "%3Cscript%3E".to_owned()),
    ];
    let mut pages = Vec::new();
    for (what, token) in &refused {
        let url = format!("{}/act/{token}", world.status);
        let get = client.get(&url).send().await.unwrap();
        assert_eq!(get.status().as_u16(), 403, "{what}");
        pages.push(get.text().await.unwrap());
        let post = press(&client, &world.status, &url, "x").await;
        assert_eq!(post.status().as_u16(), 403, "{what}");
    }
    assert!(
        pages.windows(2).all(|p| p[0] == p[1]),
        "the same page for every refusal"
    );
    assert!(!pages[0].contains("<script"));
    // A forged token and a genuine one of an older incident (which reads the table) take the
    // same time.
    let forged = format!("{}/act/{}", world.status, refused[0].1);
    let older = format!("{}/act/{}", world.status, refused[3].1);
    let (forged_ms, status) = median_ms(&client, &forged, 9).await;
    assert_eq!(status, 403);
    let (older_ms, status) = median_ms(&client, &older, 9).await;
    assert_eq!(status, 403);
    assert!(
        (forged_ms - older_ms).abs() < 30.0,
        "forged {forged_ms:.1} ms, older incident {older_ms:.1} ms"
    );
    // A post from another page, or without the form's own field, is refused too.
    let elsewhere = client
        .post(&acknowledge)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("confirm={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status().as_u16(), 403);
    let no_field = client
        .post(&acknowledge)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(no_field.status().as_u16(), 403);
    assert!(world.incident().await.answers.is_empty(), "nothing changed");

    // Two presses at once: one acknowledgement, one notice per channel.
    let (a, b) = tokio::join!(
        press(&client, &world.status, &acknowledge, "A"),
        press(&client, &world.status, &acknowledge, "B")
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (303, 303));
    assert_eq!(world.incident().await.answers.len(), 1);
    world.tick(5).await;
    world.tick(10).await;
    let told = world.told().await;
    assert_eq!(told.each_ref().map(Vec::len), [2, 2, 2], "{told:?}");
    for messages in &told {
        assert_eq!(
            messages
                .iter()
                .filter(|m| m.contains("ACKNOWLEDGED"))
                .count(),
            1
        );
    }
    // The status function's log names the incident, never a token or the key.
    let log = world.status_function.output().await;
    assert!(log.contains(&key), "{log}");
    for (_, refused) in &refused {
        assert!(!log.contains(refused.as_str()), "{log}");
    }
    assert!(!log.contains(&token) && !log.contains(ACTION_KEY), "{log}");
}

/// `lookout ack` and `lookout silence` against a state file, and against a stack's table found by
/// its name (moto).
#[tokio::test]
async fn ack_and_silence_from_a_terminal_on_the_local_state_and_a_stacks_table() {
    use lookout::alerting::state::file::FileStore;
    use support::store_contract::{incident, save};
    let lookout = env!("CARGO_BIN_EXE_lookout");
    let run = |args: &[&str], env: &[(&str, String)]| {
        let output = std::process::Command::new(lookout)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("USER", "ops")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("lookout runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let open = |key: &str| {
        let mut open = incident(key, 3);
        open.began_at = Some(Utc::now() - chrono::Duration::minutes(20));
        open.target = "https://shop.example.com/".into();
        open
    };

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::new(&path);
    save(&store, &open("site:shop"), None).await.unwrap();
    let env = [
        ("STATE_FILE", path.display().to_string()),
        ("ALERT_TIMEZONE", "UTC".to_owned()),
    ];
    let (code, out, err) = run(&["ack", "shop"], &env);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("site:shop: acknowledged"), "{out}");
    let answered = store
        .get("site-status", "site:shop")
        .await
        .unwrap()
        .unwrap()
        .incident;
    let answer = answered.acknowledged().expect("acknowledged");
    assert_eq!(
        (answer.via.as_str(), answer.by.as_deref()),
        ("cli", Some("ops"))
    );
    let (code, out, _) = run(&["silence", "shop", "2h"], &env);
    assert_eq!(code, Some(0));
    assert!(out.contains("already acknowledged via cli"), "{out}");
    let (code, _, err) = run(&["ack", "nobody"], &env);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no open incident of \"nobody\": the open ones are site:shop"),
        "{err}"
    );
    let (code, _, err) = run(&["silence", "shop", "soon"], &env);
    assert_eq!(code, Some(1));
    assert!(err.contains("give it as 30m, 2h or 1d"), "{err}");

    // A stack's table, named by CloudFormation after the stack.
    let moto = Moto::start().await;
    support::dynamodb::table(&moto, "prod-StateTable-1X2Y3Z4W").await;
    support::dynamodb::table(&moto, "staging-StateTable-9Q8R7S6T").await;
    let table = DynamoDbStore::new(moto.dynamodb(), "prod-StateTable-1X2Y3Z4W");
    save(&table, &open("site:shop"), None).await.unwrap();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("ALERT_TIMEZONE", "UTC".to_owned()));
    let (code, out, err) = run(
        &[
            "silence",
            "https://shop.example.com/",
            "2h",
            "--stack",
            "prod",
            "--by",
            "Li Wei",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("site:shop: silenced until"), "{out}");
    let silenced = table
        .get("site-status", "site:shop")
        .await
        .unwrap()
        .unwrap()
        .incident;
    let until = silenced.silenced_until(Utc::now()).expect("silenced");
    assert!(until > Utc::now() + chrono::Duration::minutes(119));
    assert_eq!(silenced.answers[0].by.as_deref(), Some("Li Wei"));
    let (code, _, err) = run(&["ack", "shop", "--stack", "nosuch"], &env);
    assert_eq!(code, Some(1));
    assert!(err.contains("no table nosuch-StateTable-"), "{err}");
    assert!(!err.contains(support::moto::SECRET_ACCESS_KEY));
}
