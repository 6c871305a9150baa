//! The status function through the one bootstrap, behind a Function URL: the page, its JSON and
//! badges from a recorded history, a private page's token, and nothing of a private monitor.

mod support;

use std::sync::Arc;

use chrono::{Duration, DurationRound, Utc};
use lookout::alerting::state::History;
use lookout::alerting::state::file::FileStore;
use lookout::history::{Closed, Entry, Record, Rollup, State};
use serde_json::Value;
use support::lambda::RuntimeApi;

const TOKEN: &str = "page-token-0123456789abcdef";

const YAML: &str = r#"status_page:
  title: Acme status
  description: "Shop & blog <live>"
  token: "${PAGE_TOKEN}"
defaults:
  language: en
  timezone: UTC
monitors:
  - {name: shop, type: site, url: "https://shop.example.com/", public: true, group: Web}
  - {name: blog, type: site, url: "https://blog.example.com/", public: true, group: Web}
  - {name: secret, type: site, url: "https://secret.example.com/"}
"#;

/// Three days of five-minute ticks up to now: the shop down for an hour the day before yesterday
/// and failing on the last tick; the blog always up; the private monitor always down.
async fn recorded(store: &FileStore) {
    let now = Utc::now().duration_trunc(Duration::minutes(5)).unwrap();
    let start = now - Duration::days(3);
    // 10:00 UTC of the day before yesterday, whatever the time now: the hour down stays within one
    // day (ten hours after the start, it crossed midnight when the test ran after 13:00 UTC).
    let outage = (now - Duration::days(2))
        .duration_trunc(Duration::days(1))
        .unwrap()
        + Duration::hours(10);
    let mut records = Vec::new();
    let mut at = start;
    while at <= now {
        let shop_down = (at >= outage && at < outage + Duration::hours(1)) || at == now;
        let entry = |key: &str, state: State, ms: u64| Entry {
            key: key.into(),
            state,
            kind: (state == State::Down).then(|| "timeout".to_owned()),
            ms: Some(ms),
            figure: None,
        };
        records.push(Record {
            function: "site-status".into(),
            at,
            entries: vec![
                entry(
                    "site:shop",
                    if shop_down { State::Down } else { State::Up },
                    120,
                ),
                entry("site:blog", State::Up, 80),
                entry("site:secret", State::Down, 5),
            ],
        });
        at += Duration::minutes(5);
    }
    for record in &records {
        store.append(record).await.unwrap();
    }
    let mut day = start.date_naive();
    while day < now.date_naive() {
        store
            .put_rollups("site-status", day, &Rollup::of_day(day, &records))
            .await
            .unwrap();
        day = day.succ_opt().unwrap();
    }
    for (key, message) in [
        (
            "site:shop",
            "https://shop.example.com/ timed out <img src=x>",
        ),
        ("site:secret", "the secret backend is down"),
    ] {
        store
            .record_closed(&Closed {
                key: key.into(),
                function: "site-status".into(),
                began_at: outage,
                ended_at: outage + Duration::hours(1),
                kind: Some("timeout".into()),
                message: message.into(),
            })
            .await
            .unwrap();
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let response = client.get(url).send().await.expect("an answer");
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, response.text().await.unwrap_or_default())
}

/// The status function over a recorded history, behind a Function URL: its base URL, and what
/// must live as long as it is asked.
async fn site() -> (String, impl Sized) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let store = FileStore::new(&state);
    recorded(&store).await;
    let api = Arc::new(RuntimeApi::start().await);
    std::fs::write(api.task_root().join("lookout.yaml"), YAML).unwrap();
    let state_path = state.to_string_lossy().into_owned();
    let function = api
        .spawn(
            "status",
            &[("STATE_FILE", state_path.as_str()), ("PAGE_TOKEN", TOKEN)],
        )
        .await;
    let base = support::function_url::serve(Arc::clone(&api)).await;
    (base, (dir, api, function))
}

#[tokio::test]
async fn the_page_json_and_badges_agree_and_a_private_page_asks_for_its_token() {
    let (base, _site) = site().await;
    let client = reqwest::Client::new();
    let with = |path: &str| format!("{base}{path}?token={TOKEN}");

    // Without the token, or with a wrong one, nothing is shown: not even whether a page exists.
    for path in [
        "/",
        "/status.json",
        "/badge/shop.svg",
        "/monitor/secret",
        "/nowhere",
    ] {
        let (status, _, body) = get(&client, &format!("{base}{path}")).await;
        assert_eq!(status, 401, "{path}");
        assert!(!body.contains("shop") && !body.contains("secret"), "{body}");
        let wrong = format!("{base}{path}?token=page-token-0123456789abcdeX");
        assert_eq!(get(&client, &wrong).await.0, 401, "{path}");
    }
    let bearer = client
        .get(format!("{base}/status.json"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 200);

    // With the token in a header the links need none, and the instance keeps that page's HTML
    // for 30 s; a view with the token in its query still gets links that carry it (below).
    let by_header = || async {
        client
            .get(format!("{base}/"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let kept = by_header().await;
    assert!(kept.contains("href=\"monitor/shop\""), "{kept}");
    assert_eq!(by_header().await, kept);

    // The page.
    let (status, kind, html) = get(&client, &with("/")).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.contains("<h1>Acme status</h1>"));
    assert!(html.contains("Shop &amp; blog &lt;live&gt;"));
    assert!(html.contains("1 monitor failing"));
    assert!(html.contains("&lt;img src=x&gt;") && !html.contains("<img"));
    assert!(
        !html.contains("secret"),
        "a private monitor is not on the page"
    );
    assert!(html.contains(&format!("href=\"monitor/shop?token={TOKEN}\"")));

    // A client that takes gzip gets the same page gzipped; one that refuses it (`q=0`) does not.
    let zipped = client
        .get(with("/"))
        .header("accept-encoding", "br, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "accept-encoding");
    let bytes = zipped.bytes().await.unwrap();
    let mut unzipped = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut unzipped)
        .unwrap();
    assert_eq!(unzipped, html);
    assert!(
        bytes.len() * 3 < html.len(),
        "{} of {}",
        bytes.len(),
        html.len()
    );
    let refused = client
        .get(with("/"))
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());

    // Its JSON says the same.
    let (status, kind, json) = get(&client, &with("/status.json")).await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    assert!(!json.contains("secret"));
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["overall"], "failing");
    let shop = &json["monitors"][0];
    assert_eq!(
        (shop["name"].as_str(), shop["now"].as_str()),
        (Some("shop"), Some("down"))
    );
    assert_eq!(json["monitors"][1]["now"], "up");
    assert_eq!(json["monitors"][1]["uptime"]["24h"], 100.0);
    assert_eq!(json["closed_incidents"].as_array().unwrap().len(), 1);
    let uptime_24h = shop["uptime"]["24h"].as_f64().unwrap();
    assert!(uptime_24h < 100.0 && uptime_24h > 99.0, "{uptime_24h}");
    let shown = format!("{:.2}%", (uptime_24h * 100.0).floor() / 100.0);
    assert!(
        html.contains(&format!("data-period=\"24h\">{shown}</dd>")),
        "the page shows {shown}"
    );

    // Badges, from the same figures.
    let (status, kind, svg) = get(
        &client,
        &format!("{}&type=uptime&period=24h", with("/badge/shop.svg")),
    )
    .await;
    assert_eq!((status, kind.as_str()), (200, "image/svg+xml"));
    assert!(svg.contains(&format!(">{shown}</text>")), "{svg}");
    let (_, _, svg) = get(&client, &with("/badge/blog.svg")).await;
    assert!(svg.contains(">up</text>"));
    let (_, _, svg) = get(
        &client,
        &format!("{}&type=response", with("/badge/blog.svg")),
    )
    .await;
    assert!(svg.contains(">80 ms</text>"));
    assert_eq!(
        get(
            &client,
            &format!("{}&type=uptime&period=1y", with("/badge/blog.svg"))
        )
        .await
        .0,
        400
    );

    // A monitor's page and JSON; a private or unknown one is the same 404.
    let (status, _, page) = get(&client, &with("/monitor/shop")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<svg class=\"chart\""));
    let (_, _, shop_json) = get(&client, &with("/monitor/shop.json")).await;
    let shop_json: Value = serde_json::from_str(&shop_json).unwrap();
    assert_eq!(shop_json["monitor"], json["monitors"][0]);
    for path in [
        "/monitor/secret",
        "/monitor/secret.json",
        "/badge/secret.svg",
        "/monitor/nobody",
    ] {
        let (status, _, body) = get(&client, &with(path)).await;
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("secret"), "{path}: {body}");
    }

    // A GET changes nothing; nothing else is answered.
    let post = client.post(with("/")).body("x").send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);
}

/// The page opened in headless Chromium (Debian's, which `make chromium` installs): a screenshot
/// under `target/`, and its DOM read back: the bars, the uptime figures, the sparklines and the
/// incidents are the ones the JSON gives, and the browser asked no other host for anything (every
/// request it would make goes to a proxy that counts them).
#[tokio::test]
async fn the_page_opened_in_a_browser_shows_the_figures_and_asks_nothing_of_other_hosts() {
    let chromium = ["chromium", "/usr/bin/chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is missing: run `make chromium` (Debian's package)");
    let (base, _site) = site().await;
    let client = reqwest::Client::new();
    let (_, _, html) = get(&client, &format!("{base}/?token={TOKEN}")).await;
    let (_, _, json) = get(&client, &format!("{base}/status.json?token={TOKEN}")).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/status-page-test");
    std::fs::create_dir_all(&out).unwrap();
    let page = out.join("page.html");
    std::fs::write(&page, &html).unwrap();

    // Any request the browser makes for the page goes to this proxy, which counts it.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_at = proxy.local_addr().unwrap();
    let asked: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let recording = Arc::clone(&asked);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = proxy.accept().await {
            let recording = Arc::clone(&recording);
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut head = vec![0u8; 512];
                let n = stream.read(&mut head).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&head[..n])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                // A connection that sends nothing (a preconnect the browser opened and dropped)
                // asked for nothing.
                if !line.is_empty() {
                    recording.lock().unwrap().push(line);
                }
            });
        }
    });
    let browse = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(chromium);
        command.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--window-size=900,1600",
            &format!("--proxy-server=http://{proxy_at}"),
            "--proxy-bypass-list=<-loopback>",
            &format!("--user-data-dir={}", out.join("profile").display()),
        ]);
        command.args(extra);
        command.arg(format!("file://{}", page.display()));
        command.kill_on_drop(true);
        command.output()
    };
    let screenshot = out.join("page.png");
    let shot = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        browse(&[&format!("--screenshot={}", screenshot.display())]),
    )
    .await
    .expect("chromium within a minute")
    .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    assert!(
        std::fs::metadata(&screenshot).unwrap().len() > 10_000,
        "a screenshot"
    );
    let dom = tokio::time::timeout(std::time::Duration::from_secs(60), browse(&["--dump-dom"]))
        .await
        .expect("chromium within a minute")
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();

    // The bars: 90 days for each public monitor; the shop's outage day is not all up.
    assert_eq!(dom.matches("class=\"day ").count(), 2 * 90, "{dom}");
    let outage_day = json["monitors"][0]["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["downtime_minutes"].as_u64() == Some(60))
        .expect("the outage's day");
    assert!(
        dom.contains(&format!(
            "class=\"day {}\" title=\"{}: ",
            outage_day["class"].as_str().unwrap(),
            outage_day["day"].as_str().unwrap()
        )),
        "the outage's day in the bar"
    );
    // The uptime figures are the JSON's.
    for (i, name) in ["shop", "blog"].into_iter().enumerate() {
        let at = dom.find(&format!("data-name=\"{name}\"")).expect(name);
        let card = &dom[at..];
        let card = &card[..card.find("</article>").unwrap()];
        for period in ["24h", "7d", "30d", "90d"] {
            let value = json["monitors"][i]["uptime"][period].as_f64().unwrap();
            let shown = if value < 100.0 {
                format!("{:.2}%", (value * 100.0).floor() / 100.0)
            } else {
                "100%".to_owned()
            };
            assert!(
                card.contains(&format!("data-period=\"{period}\">{shown}</dd>")),
                "{name} {period}: {shown}"
            );
        }
        // Its sparkline: a line of the last day's response times.
        assert!(card.contains("<svg class=\"spark\""), "{name}");
        let points = card
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(points.split(' ').count() >= 100, "{name}: {points}");
    }
    // The incidents: the shop's closed one, not the private monitor's.
    assert!(dom.contains("<li data-monitor=\"shop\">"));
    assert!(!dom.contains("secret"));
    // The browser's own services (its clock, its updater, its account check) are not the page's.
    let browsers_own = [
        "clients2.google.com/time/",
        "update.googleapis.com",
        "accounts.google.com:443",
    ];
    let asked: Vec<String> = asked
        .lock()
        .unwrap()
        .iter()
        .filter(|line| !browsers_own.iter().any(|own| line.contains(own)))
        .cloned()
        .collect();
    assert!(asked.is_empty(), "the page asked another host: {asked:?}");
}
