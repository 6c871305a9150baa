//! The first run: `make run` with nothing configured shows lookout against built-in stand-ins;
//! `make demo` replays an outage; with configuration, `make run` runs what is configured and says
//! what would turn the rest on. Driven through the Makefile itself, with the binaries `cargo test`
//! built, in a network namespace with only loopback when the machine allows one.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lookout::notify::CHANNEL_TYPES;

/// Brings the namespace's loopback up, then runs the command it is given.
const LOOPBACK_UP: &str = r#"
import fcntl, os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack('16sH', fcntl.ioctl(s, 0x8913, struct.pack('16sH', b'lo', 0))[:18])[1]
fcntl.ioctl(s, 0x8914, struct.pack('16sH', b'lo', flags | 1))
os.execvp(sys.argv[1], sys.argv[1:])
"#;

/// A folder with nothing configured in it, whose `target/debug` holds the binaries this test run
/// built, for the Makefile to run.
fn project_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let built = Path::new(env!("CARGO_BIN_EXE_lookout"))
        .parent()
        .expect("the binaries' folder")
        .to_owned();
    std::fs::create_dir(dir.path().join("target")).expect("target/");
    std::os::unix::fs::symlink(built, dir.path().join("target/debug")).expect("target/debug");
    dir
}

fn makefile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile")
}

/// True when this machine lets a user make a network namespace with only loopback in it.
fn isolated_network() -> bool {
    Command::new("unshare")
        .args([
            "--net",
            "--map-root-user",
            "python3",
            "-c",
            LOOPBACK_UP,
            "true",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `make <target>` in `dir`, with no variable of this environment but `PATH`, and without a
/// network beyond loopback when the machine allows it (says which, for the log).
fn make(dir: &Path, target: &str) -> Output {
    let mut args: Vec<String> = Vec::new();
    if isolated_network() {
        args.extend(
            [
                "unshare",
                "--net",
                "--map-root-user",
                "python3",
                "-c",
                LOOPBACK_UP,
            ]
            .map(String::from),
        );
    } else {
        eprintln!(
            "no network namespace here: the addresses the stand-ins report are checked instead"
        );
    }
    args.extend(["make", "-s", "-f"].map(String::from));
    args.push(makefile().display().to_string());
    args.push(target.to_owned());
    // The binaries are built already.
    args.push("CARGO=true".to_owned());
    Command::new(&args[0])
        .args(&args[1..])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("make runs")
}

/// Every URL in `text` is on 127.0.0.1.
fn assert_loopback_only(text: &str) {
    for scheme in ["http://", "https://"] {
        for (at, _) in text.match_indices(scheme) {
            let url = &text[at..];
            assert!(
                url.starts_with("http://127.0.0.1:"),
                "only stand-ins on 127.0.0.1 are reached: {}",
                url.lines().next().unwrap_or_default()
            );
        }
    }
}

#[test]
fn make_run_with_nothing_configured_shows_lookout_against_stand_ins() {
    let dir = project_dir();
    let output = make(dir.path(), "run");
    let said = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}\n{errors}");
    assert!(!errors.contains("panicked"), "{errors}");
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines[0],
        "nothing configured: showing lookout against built-in stand-ins (see lookout.example.yaml to watch your own targets)"
    );
    // The stand-ins said where they are: loopback, and nothing else is named.
    assert_eq!(
        lines[1].matches("http://127.0.0.1:").count(),
        3,
        "{}",
        lines[1]
    );
    assert_loopback_only(&said);

    // The failing page, the slow carrier, the lagging topic, the silent heartbeat.
    assert!(
        said.contains("ok           shop (http://127.0.0.1:"),
        "{said}"
    );
    assert!(
        said.contains("FAILING      checkout (http://127.0.0.1:"),
        "{said}"
    );
    assert!(said.contains("answered 503 Service Unavailable"), "{said}");
    assert!(said.contains("3/12 nodes slow: 联通 3"), "{said}");
    assert!(said.contains("total 6150 ms > 3000 ms"), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("orders ") && l.contains(" orders ") && l.ends_with("FAILING")),
        "{said}"
    );
    assert!(
        said.contains("lag 159490 over the threshold 10000"),
        "{said}"
    );
    assert!(said.contains("FAILING      nightly-backup: late"), "{said}");
    assert!(said.contains("nightly-backup silent for 1 d 1 h"), "{said}");
    // The agent's host: its full disk and its crash-looping program, one entry.
    assert!(
        said.contains("web-1 disk / at 97.1 % (limit 95 %)"),
        "{said}"
    );
    assert!(said.contains("api exited 4 times since "), "{said}");

    // Every channel type lays out each function's alert.
    for channel in CHANNEL_TYPES {
        for function in ["site-status", "speed-test", "kafka-lag", "heartbeat"] {
            let header = format!("-- {}: the {function} alert --", channel.name);
            let block = said
                .split(&header)
                .nth(1)
                .unwrap_or_else(|| panic!("{header} is shown:\n{said}"));
            let block = block.split("\n-- ").next().unwrap_or_default();
            assert!(block.trim().len() > 20, "{header}: {block}");
        }
    }
    let block_of = |channel: &str| {
        said.split(&format!("-- {channel}: the site-status alert --"))
            .nth(1)
            .and_then(|b| b.split("\n-- ").next())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        block_of("wecom").contains("## lookout alert"),
        "{}",
        block_of("wecom")
    );
    assert!(block_of("email").contains("Subject: [lookout] FAILING"));
    assert!(
        block_of("sms").contains("{1} = site status, {2} = 1 down"),
        "{}",
        block_of("sms")
    );
    assert!(block_of("feishu").contains("\"lark_md\""));
    assert!(block_of("slack").contains("\"blocks\""));
    assert!(block_of("webhook").contains("\"key\": \"site:checkout\""));

    // The status page of the stand-ins, after a day of their history.
    assert!(said.contains("target/lookout-status.html"), "{said}");
    let page = std::fs::read_to_string(dir.path().join("target/lookout-status.html"))
        .expect("the status page");
    assert!(page.contains("<h1>Stand-in shop status</h1>"), "{page}");
    assert!(page.contains("data-name=\"shop\"") && page.contains("data-name=\"checkout\""));
    assert!(
        page.contains("class=\"day some_downtime\"") || page.contains("class=\"day down\""),
        "the shop's outage is in the bar"
    );
    assert!(
        !page.contains("data-name=\"orders\""),
        "only public monitors"
    );
    assert_loopback_only(&page);
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("To watch your own targets: copy lookout.example.yaml")),
        "{said}"
    );
    // Nothing was left behind: no state file, no configuration.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the folder")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("target")]);
}

#[test]
fn make_demo_replays_an_outage_as_a_timeline_of_notices() {
    let dir = project_dir();
    let output = make(dir.path(), "demo");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_loopback_only(&said);
    let timeline: Vec<&str> = said
        .lines()
        .filter(|l| l.len() > 7 && l.as_bytes()[2] == b':' && &l[5..7] == "  ")
        .collect();
    let expected = [
        "06:55  shop failing: answered 503 Service Unavailable",
        "07:00  WeCom + email: shop failing for 5 min (notice 1): answered 503",
        "07:05  WeCom + email: shop failing for 10 min (notice 2): answered 503",
        "07:55  WeCom + email + SMS: shop failing for 1 h (notice 3): answered 503",
        "10:55  WeCom + email + SMS: shop failing for 4 h (notice 4): answered 503",
        "11:45  WeCom + email + SMS: shop recovered, down 4 h 50 min",
    ];
    assert_eq!(timeline.len(), expected.len(), "{said}");
    for (line, expected) in timeline.iter().zip(expected) {
        assert!(
            line.starts_with(expected),
            "{line:?} starts with {expected:?}\n{said}"
        );
    }
    // Quiet hours held the first notice and let it go as they ended.
    assert!(
        timeline[0].ends_with("(quiet hours hold the notice)"),
        "{}",
        timeline[0]
    );
    assert!(
        timeline[1].ends_with("[held by quiet hours, sent as they ended]"),
        "{}",
        timeline[1]
    );
    assert!(
        said.contains("messages sent: WeCom 5, email 5, SMS 3"),
        "{said}"
    );
}

#[tokio::test]
async fn make_run_with_configuration_runs_it_and_says_what_would_turn_the_rest_on() {
    let (site, hits) = support::site::start().await;
    let dir = project_dir();
    std::fs::write(
        dir.path().join(".env"),
        format!("SITE_URLS=http://{site}/ok\nALERT_LANGUAGE=en\n"),
    )
    .expect(".env");
    // Not in a namespace: the site is this test's, on the host's loopback.
    let run = |dir: PathBuf| {
        Command::new("make")
            .args(["-s", "-f"])
            .arg(makefile())
            .args(["run", "CARGO=true"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .expect("make runs")
    };
    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || run(dir)
    })
    .await
    .expect("make");
    let said = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}\n{errors}");
    assert!(!said.contains("stand-ins"), "{said}");
    assert_eq!(hits.count(), 1, "the configured site was checked once");
    let report: serde_json::Value = serde_json::from_str(&said).expect("site-status's report");
    assert_eq!(report["function"], "site-status");
    for (function, var, kind) in [
        ("speed-test", "SPEEDTEST_TARGET", "speed-test"),
        ("kafka-lag", "CKAFKA_INSTANCE_ID", "kafka-lag"),
        ("heartbeat", "HEARTBEAT_TOKEN", "heartbeat"),
        ("host-check", "HOST_ADDRESS", "host"),
    ] {
        let line = format!(
            "{function}: skipped: nothing configures it: set {var} (see .env.example), or add a monitor of type {kind} to lookout.yaml"
        );
        assert!(errors.lines().any(|l| l == line), "{line}\n{errors}");
    }

    // A lookout.yaml of site monitors only: the others say so.
    std::fs::remove_file(dir.path().join(".env")).expect("no .env");
    std::fs::write(
        dir.path().join("lookout.yaml"),
        format!("monitors:\n  - {{name: home, type: site, url: \"http://{site}/ok\"}}\n"),
    )
    .expect("lookout.yaml");
    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || run(dir)
    })
    .await
    .expect("make");
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{errors}");
    assert_eq!(hits.count(), 2);
    assert!(
        errors.contains("speed-test: skipped: lookout.yaml has no monitor of type speed-test: add one (see lookout.example.yaml)"),
        "{errors}"
    );
}
