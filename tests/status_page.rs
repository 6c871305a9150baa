//! The status function through the one bootstrap, behind a Function URL: the page, its JSON and
//! badges from a recorded history, a private page's token, and nothing of a private monitor.

mod support;

use std::sync::Arc;

use chrono::{Duration, DurationRound, Utc};
use lookout::alerting::state::file::FileStore;
use lookout::alerting::state::History;
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
    let outage = start + Duration::hours(10);
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

#[tokio::test]
async fn the_page_json_and_badges_agree_and_a_private_page_asks_for_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let store = FileStore::new(&state);
    recorded(&store).await;
    let api = Arc::new(RuntimeApi::start().await);
    std::fs::write(api.task_root().join("lookout.yaml"), YAML).unwrap();
    let state_path = state.to_string_lossy().into_owned();
    let _function = api
        .spawn(
            "status",
            &[("STATE_FILE", state_path.as_str()), ("PAGE_TOKEN", TOKEN)],
        )
        .await;
    let base = support::function_url::serve(Arc::clone(&api)).await;
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
