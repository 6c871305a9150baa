//! host-check against a real OpenSSH server on 127.0.0.1: keys, the server's key, the kinds of
//! failure, the figures, and the names that must never reach a shell.

mod support;

use std::sync::Arc;
use std::time::Duration;

use lookout::alerting::state::memory::MemoryStore;
use lookout::checks::{CheckResult, Health, Measurement, Naming, SharedLedger, host};
use lookout::config::Env;
use lookout::setup::file;
use support::scripted::tick_at;
use support::sshd::{KeyPair, Sshd, key_pair};
use tokio::time::Instant;

const WITHIN: Duration = Duration::from_secs(30);

/// A host monitor's settings as `lookout.yaml` would give them.
fn settings(sshd: &Sshd, port: u16, key: &KeyPair, host_key: &str, extra: &[(&str, &str)]) -> Env {
    let mut pairs: Vec<(String, String)> = vec![
        ("HOST_ADDRESS".into(), "127.0.0.1".into()),
        ("HOST_PORT".into(), port.to_string()),
        ("HOST_USER".into(), sshd.user.clone()),
        ("HOST_PRIVATE_KEY".into(), key.private.clone()),
        ("HOST_KEY".into(), host_key.to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Env::from_pairs(pairs)
}

/// One tick of the check these settings describe, by `within`.
async fn check(env: Env, within: Duration) -> Vec<CheckResult> {
    let store: SharedLedger = Arc::new(MemoryStore::default());
    let naming = Naming::Monitor {
        kind: "host",
        name: "db-1".into(),
    };
    let checks = (host::TYPE.build)(vec![(env, naming)], &store).expect("the check");
    checks[0]
        .run(
            &tick_at(chrono::Utc::now()),
            &Default::default(),
            Instant::now() + within,
        )
        .await
}

/// A server that accepts connections and never says a word: its port, and the task holding them.
async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    (port, held)
}

fn kind_of(results: &[CheckResult]) -> Option<&str> {
    results[0].failure.as_ref().map(|f| f.kind)
}

#[tokio::test]
async fn ed25519_rsa_and_ecdsa_keys_read_plausible_figures_and_find_sshd() {
    let dir = tempfile::tempdir().unwrap();
    let ed25519 = key_pair(dir.path(), "client_ed25519", "ed25519", "");
    let rsa = key_pair(dir.path(), "client_rsa", "rsa", "");
    let ecdsa = key_pair(dir.path(), "client_ecdsa", "ecdsa", "");
    let locked = key_pair(dir.path(), "client_locked", "ed25519", "correct horse");
    // One P-256 key in 256 has a 31-byte private scalar, which the SSH library alone refuses: this
    // is one (a test key), so every run has one, not one run in 256.
    let short = support::sshd::KeyPair {
        private: include_str!("fixtures/ecdsa-short-scalar").to_owned(),
        public: include_str!("fixtures/ecdsa-short-scalar.pub")
            .trim()
            .to_owned(),
    };
    let sshd = Sshd::start(&[
        &ed25519.public,
        &rsa.public,
        &ecdsa.public,
        &locked.public,
        &short.public,
    ]);
    let fingerprint = lookout::ssh::HostKey::parse(&sshd.host_key)
        .unwrap()
        .fingerprint();
    let limits = [
        ("HOST_CPU_MAX", "100"),
        ("HOST_MEMORY_MAX", "100"),
        ("HOST_DISK_MAX", "100"),
        ("HOST_PROCESSES", "sshd,no-such-daemon"),
    ];
    for (key, host_key, extra) in [
        (&ed25519, sshd.host_key.clone(), vec![]),
        (&rsa, fingerprint.clone(), vec![]),
        (&ecdsa, sshd.host_key.clone(), vec![]),
        (&short, sshd.host_key.clone(), vec![]),
        (
            &locked,
            format!("127.0.0.1 {}", sshd.host_key),
            vec![("HOST_PRIVATE_KEY_PASSPHRASE", "correct horse")],
        ),
    ] {
        let mut pairs = limits.to_vec();
        pairs.extend(extra);
        let results = check(settings(&sshd, sshd.port, key, &host_key, &pairs), WITHIN).await;
        assert_eq!(results[0].health, Health::Ok, "{results:?}\n{}", sshd.log());
        let Measurement::Host(measured) = &results[0].measurement else {
            panic!("{results:?}");
        };
        let figures = measured.figures.as_ref().expect("figures");
        for value in [figures.cpu, figures.memory, figures.disks["/"]] {
            assert!((0.0..=100.0).contains(&value), "{figures:?}");
        }
        assert!(figures.memory > 0.0, "{figures:?}");
        let health = |key: &str| {
            results
                .iter()
                .find(|r| r.key == key)
                .map(|r| r.health)
                .unwrap_or_else(|| panic!("{key} in {results:?}"))
        };
        assert_eq!(health("host:db-1/cpu"), Health::Ok);
        assert_eq!(health("host:db-1/disk:/"), Health::Ok);
        assert_eq!(health("host:db-1/process:sshd"), Health::Ok);
        assert_eq!(health("host:db-1/process:no-such-daemon"), Health::Failing);
    }
    assert!(!sshd.log().contains("BEGIN OPENSSH"));
}

#[tokio::test]
async fn a_changed_host_key_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let client = key_pair(dir.path(), "client", "ed25519", "");
    let sshd = Sshd::start(&[&client.public]);
    let other = key_pair(dir.path(), "other_host", "ed25519", "");
    let was = lookout::ssh::HostKey::parse(&other.public)
        .unwrap()
        .fingerprint();
    let now = lookout::ssh::HostKey::parse(&sshd.host_key)
        .unwrap()
        .fingerprint();
    for configured in [other.public.clone(), was.clone()] {
        let results = check(
            settings(&sshd, sshd.port, &client, &configured, &[]),
            WITHIN,
        )
        .await;
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0].health, Health::MonitorError);
        assert_eq!(kind_of(&results), Some("host_key"));
        let said = &results[0].failure.as_ref().unwrap().message;
        assert_eq!(
            said,
            &format!(
                "db-1's host key changed (was {was}, now {now}): if you rotated it, update host_key"
            )
        );
    }
    // The server never saw the client's key offered, let alone a session.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = sshd.log();
    assert!(!log.contains("Accepted publickey"), "{log}");
    assert!(
        !log.contains("session opened") && !log.contains("Starting session"),
        "{log}"
    );
}

#[tokio::test]
async fn a_refused_key_is_auth_a_closed_port_unreachable_and_a_silent_server_ssh_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let client = key_pair(dir.path(), "client", "ed25519", "");
    let stranger = key_pair(dir.path(), "stranger", "ed25519", "");
    let sshd = Sshd::start(&[&client.public]);

    let refused = check(
        settings(&sshd, sshd.port, &stranger, &sshd.host_key, &[]),
        WITHIN,
    )
    .await;
    assert_eq!(kind_of(&refused), Some("auth"), "{refused:?}");
    assert_eq!(refused[0].health, Health::MonitorError);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = check(
        settings(&sshd, closed_port, &client, &sshd.host_key, &[]),
        WITHIN,
    )
    .await;
    assert_eq!(
        kind_of(&unreachable),
        Some("unreachable"),
        "{unreachable:?}"
    );
    assert_eq!(unreachable[0].health, Health::Failing);

    // Accepts the connection, then says nothing at all.
    let (silent_port, held) = silent_server().await;
    let started = std::time::Instant::now();
    let hung = check(
        settings(&sshd, silent_port, &client, &sshd.host_key, &[]),
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(kind_of(&hung), Some("ssh"), "{hung:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "within the deadline: {:?}",
        started.elapsed()
    );
    held.abort();
}

#[test]
fn malicious_names_and_bad_keys_stop_the_start_at_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let client = key_pair(dir.path(), "client", "ed25519", "");
    let host_key = key_pair(dir.path(), "host", "ed25519", "");
    let env = Env::from_pairs([
        ("DB1_SSH_KEY", client.private.as_str()),
        ("DB1_HOST_KEY", host_key.public.as_str()),
    ]);
    let text = r#"monitors:
  - {name: db-1, type: host, host: 203.0.113.10, user: monitor, private_key: "${DB1_SSH_KEY}", host_key: "${DB1_HOST_KEY}", disks: ["/", "/data"], processes: [postgres]}
"#;
    file::load("lookout.yaml", text, &env).unwrap_or_else(|e| panic!("{e}"));
    for (from, to, says) in [
        (
            "processes: [postgres]",
            "processes: [\"nginx; rm -rf /\"]",
            "`processes`",
        ),
        ("\"/data\"", "\"/data $(id)\"", "`disks`"),
        (
            "host: 203.0.113.10",
            "host: \"db-1 -oProxyCommand=x\"",
            "`host`",
        ),
        ("user: monitor", "user: \"-oX\"", "`user`"),
        // `pgrep -x -n` finds the newest process of any name: always "running".
        (
            "processes: [postgres]",
            "processes: [\"-n\"]",
            "`processes`",
        ),
        (
            "\"${DB1_HOST_KEY}\"",
            "\"@revoked 203.0.113.10 ${DB1_HOST_KEY}\"",
            "marked @revoked",
        ),
        (
            "\"${DB1_HOST_KEY}\"",
            "\"@cert-authority *.example.com ${DB1_HOST_KEY}\"",
            "marked @cert-authority",
        ),
        ("\"${DB1_HOST_KEY}\"", "\"ssh-ed25519 nope\"", "`host_key`"),
        ("\"${DB1_SSH_KEY}\"", "\"not a key\"", "`private_key`"),
    ] {
        let bad = text.replacen(from, to, 1);
        let error = file::load("lookout.yaml", &bad, &env)
            .expect_err(to)
            .to_string();
        assert!(
            error.contains(says) && error.starts_with("lookout.yaml:2:"),
            "{to}: {error}"
        );
        let secret_line = client.private.lines().nth(1).unwrap();
        assert!(!error.contains(secret_line), "the key never shows: {error}");
    }
    // Without its host key, a host is not checked at all: no trust on first use.
    let open = text.replace(", host_key: \"${DB1_HOST_KEY}\"", "");
    let error = file::load("lookout.yaml", &open, &env)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`host_key`") && error.contains("never trusts"),
        "{error}"
    );
}

/// A server whose output is hostile (a forced command in `authorized_keys` answers whatever is
/// asked with it): figures past `u64`, `inf`, `NaN` and negative ones are a monitor error quoting
/// the line, never a number judged; the real command runs `pgrep` with `--` before each name.
#[tokio::test]
async fn a_server_printing_impossible_figures_is_a_monitor_error_quoting_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = [
        "lookout-host-check 1",
        "cpu  100 0 100 800 0 0 0 0 0 0",
        "cpu  150 0 150 900 0 0 0 0 0 0",
        "MemTotal:       8000000 kB",
        "MemAvailable:   2000000 kB",
        "Filesystem     1024-blocks    Used Available Capacity Mounted on",
        "/dev/vda1        100000   96000      4000      96% /",
        "process postgres 1",
        "end",
    ]
    .join("\n");
    let max = u64::MAX;
    let hostile = [
        (
            good.replace("cpu  150 0 150 900", &format!("cpu  {max} 9 150 900")),
            format!("cpu  {max} 9 150 900"),
        ),
        (
            good.replace("8000000 kB", "inf kB"),
            "MemTotal:       inf kB".to_owned(),
        ),
        (
            good.replace("96000      4000", "NaN 4000"),
            "NaN".to_owned(),
        ),
        (
            good.replace("96000      4000      96%", "-100 4000 -100%"),
            "-100".to_owned(),
        ),
    ];
    let mut keys = Vec::new();
    for (n, (output, _)) in hostile.iter().enumerate() {
        let script = dir.path().join(format!("hostile-{n}.sh"));
        std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let key = key_pair(dir.path(), &format!("client-{n}"), "ed25519", "");
        let forced = format!("command=\"{}\" {}", script.display(), key.public);
        keys.push((key, forced));
    }
    let authorized: Vec<&str> = keys.iter().map(|(_, line)| line.as_str()).collect();
    let sshd = Sshd::start(&authorized);
    for ((key, _), (_, quoted)) in keys.iter().zip(&hostile) {
        let results = check(
            settings(
                &sshd,
                sshd.port,
                key,
                &sshd.host_key,
                &[("HOST_DISK_MAX", "90"), ("HOST_PROCESSES", "postgres")],
            ),
            WITHIN,
        )
        .await;
        assert_eq!(results.len(), 1, "no figure judged: {results:?}");
        assert_eq!(results[0].health, Health::MonitorError, "{results:?}");
        let message = &results[0].failure.as_ref().expect("a failure").message;
        assert!(message.contains(quoted.as_str()), "{quoted}: {message}");
    }
}

/// The deployed binary under the Lambda Runtime API emulator: `lookout.yaml` next to it, the keys
/// from the environment (the stack's secret), one scheduled tick, one report; no key in its output.
#[tokio::test]
async fn the_host_check_binary_reads_a_host_of_lookout_yaml_on_a_scheduled_tick() {
    use support::lambda::{Outcome, RuntimeApi, scheduled_event};

    let dir = tempfile::tempdir().unwrap();
    let client = key_pair(dir.path(), "client", "ed25519", "");
    let sshd = Sshd::start(&[&client.public]);
    let api = RuntimeApi::start().await;
    std::fs::write(
        api.task_root().join("lookout.yaml"),
        format!(
            "defaults: {{language: en}}\nmonitors:\n  - {{name: db-1, type: host, host: 127.0.0.1, port: {}, user: {}, private_key: \"${{DB1_SSH_KEY}}\", host_key: \"${{DB1_HOST_KEY}}\", disk_max: 100, processes: [sshd, no-such-daemon]}}\n",
            sshd.port, sshd.user
        ),
    )
    .unwrap();
    let state = dir.path().join("state.json").display().to_string();
    let function = api
        .spawn(
            env!("CARGO_BIN_EXE_host-check"),
            &[
                ("DB1_SSH_KEY", client.private.as_str()),
                ("DB1_HOST_KEY", sshd.host_key.as_str()),
                ("STATE_FILE", state.as_str()),
            ],
        )
        .await;
    let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let Outcome::Response(report) = api.invoke(scheduled_event("tick-1", &time), WITHIN).await
    else {
        panic!("host-check answers: {}", function.stop().await);
    };
    let health = support::lambda::healths(&report);
    let expected: Vec<(String, String)> = [
        ("host:db-1", "ok"),
        ("host:db-1/disk:/", "ok"),
        ("host:db-1/process:sshd", "ok"),
        ("host:db-1/process:no-such-daemon", "failing"),
    ]
    .iter()
    .map(|(k, h)| (k.to_string(), h.to_string()))
    .collect();
    assert_eq!(health, expected, "{report}");
    // The CPU figure is two samples a second apart: no read is quicker than that.
    let took = report["results"][0]["measurement"]["took_ms"]
        .as_u64()
        .unwrap_or_default();
    assert!(took >= 1000, "{report}");
    eprintln!("host-check read db-1 in {took} ms");
    let printed = function.stop().await;
    let secret_line = client.private.lines().nth(1).unwrap();
    assert!(!printed.contains(secret_line) && !report.to_string().contains(secret_line));
}

/// Hosts are read at once, each by its own deadline: a hung one does not hold up the others, and
/// the whole answers by the invocation's deadline.
#[tokio::test]
async fn a_hung_host_does_not_delay_the_others_past_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let client = key_pair(dir.path(), "client", "ed25519", "");
    let sshd = Sshd::start(&[&client.public]);
    let (silent_port, held) = silent_server().await;
    let store: SharedLedger = Arc::new(MemoryStore::default());
    let monitors = [
        ("hung", silent_port),
        ("db-1", sshd.port),
        ("db-2", sshd.port),
    ]
    .iter()
    .map(|(name, port)| {
        let naming = Naming::Monitor {
            kind: "host",
            name: (*name).into(),
        };
        (settings(&sshd, *port, &client, &sshd.host_key, &[]), naming)
    })
    .collect();
    let checks = (host::TYPE.build)(monitors, &store).expect("the checks");
    let started = std::time::Instant::now();
    let deadline = Instant::now() + Duration::from_secs(4);
    let tick = tick_at(chrono::Utc::now());
    let memory = Default::default();
    let results =
        futures::future::join_all(checks.iter().map(|c| c.run(&tick, &memory, deadline))).await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(kind_of(&results[0]), Some("ssh"), "{:?}", results[0]);
    for read in &results[1..] {
        assert_eq!(read[0].health, Health::Ok, "{read:?}");
    }
    held.abort();
}
