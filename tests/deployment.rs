//! The deployment: `template.yaml` against the code's list of settings, and the stack's secret
//! reaching a function.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use lookout::config::Source;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::moto::Moto;
use support::wecom::FakeWeCom;

/// The prefixes of the general settings' names; each type's own (`SITE_`, `WECOM_`) come from the
/// variables it declares.
const PREFIXES: &[&str] = &["ALERT_", "STATE_", "LOOKOUT_", "RUST_LOG"];

/// The prefix of every variable a literal may name: the general ones and each declared one's.
fn prefixes() -> BTreeSet<String> {
    let mut prefixes: BTreeSet<String> = PREFIXES.iter().map(|p| (*p).to_owned()).collect();
    for setting in settings() {
        if let Some((first, _)) = setting.name.split_once('_') {
            prefixes.insert(format!("{first}_"));
        }
    }
    prefixes
}

fn settings() -> Vec<lookout::config::Setting> {
    lookout::setup::settings()
}

/// Every `"VARIABLE"` string literal in the non-test code of `src/` and `functions/`.
fn variables_read_by_the_code() -> BTreeSet<String> {
    fn walk(dir: &Path, found: &mut BTreeSet<String>, prefixes: &BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                // lookout-agent runs on the user's servers: its settings are docs/agent.md's
                // (tests/agent.rs holds them to it), not the stack's.
                if !path.ends_with("src/agent") {
                    walk(&path, found, prefixes);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines().filter(|l| !l.contains("setting(\"")) {
                for literal in line.split('"').skip(1).step_by(2) {
                    let is_name = literal
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                        && prefixes.iter().any(|p| literal.starts_with(p.as_str()))
                        && literal.len() > 4;
                    if is_name {
                        found.insert(literal.to_owned());
                    }
                }
            }
        }
    }
    let mut found = BTreeSet::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prefixes = prefixes();
    walk(&root.join("src"), &mut found, &prefixes);
    walk(&root.join("functions"), &mut found, &prefixes);
    found
}

/// What `template.yaml` wires: environment variables per scope (`Globals` or a function's logical
/// id), the keys of the secret's placeholder, and the parameters declared.
struct Template {
    variables: BTreeMap<String, BTreeSet<String>>,
    references: Vec<(String, String)>,
    secret_keys: BTreeSet<String>,
    parameters: BTreeSet<String>,
    resources: BTreeSet<String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn read_template() -> Template {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
        .expect("template.yaml");
    let mut template = Template {
        variables: BTreeMap::new(),
        references: Vec::new(),
        secret_keys: BTreeSet::new(),
        parameters: BTreeSet::new(),
        resources: BTreeSet::new(),
    };
    let (mut section, mut resource) = (String::new(), String::new());
    let mut in_variables: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = indent(line);
        if let Some(at) = in_variables {
            if depth > at {
                let (key, value) = trimmed.split_once(':').expect("KEY: value");
                let scope = if section == "Globals" {
                    "Globals".to_owned()
                } else {
                    resource.clone()
                };
                template
                    .variables
                    .entry(scope)
                    .or_default()
                    .insert(key.to_owned());
                if let Some(name) = value.trim().strip_prefix("!Ref ") {
                    template
                        .references
                        .push((key.to_owned(), name.trim().to_owned()));
                }
                continue;
            }
            in_variables = None;
        }
        if depth == 0 {
            section = trimmed.trim_end_matches(':').to_owned();
        } else if depth == 2 && trimmed.ends_with(':') {
            let name = trimmed.trim_end_matches(':').to_owned();
            match section.as_str() {
                "Parameters" => {
                    template.parameters.insert(name.clone());
                }
                "Resources" => {
                    template.resources.insert(name.clone());
                }
                _ => {}
            }
            resource = name;
        }
        if trimmed == "Variables:" {
            in_variables = Some(depth);
        }
        if let Some(json) = trimmed.strip_prefix("SecretString: ") {
            let object: serde_json::Value = serde_json::from_str(json.trim_matches('\''))
                .expect("the secret placeholder is JSON");
            template.secret_keys = object
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect();
        }
    }
    template
}

fn function_resource(function: &str) -> &'static str {
    match function {
        "site-status" => "SiteStatusFunction",
        "speed-test" => "SpeedTestFunction",
        "kafka-lag" => "KafkaLagFunction",
        "heartbeat" => "HeartbeatFunction",
        "host-check" => "HostCheckFunction",
        "ingest" => "IngestFunction",
        "status" => "StatusFunction",
        other => panic!("no function {other}"),
    }
}

#[test]
fn every_setting_the_code_reads_is_in_the_list_and_every_listed_one_is_read() {
    let read = variables_read_by_the_code();
    let listed: BTreeSet<String> = settings().iter().map(|s| s.name.to_owned()).collect();
    let unlisted: Vec<&String> = read.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "read by the code but declared nowhere (a type's keys or variables, or config::SETTINGS): {unlisted:?}"
    );
    let unread: Vec<&String> = listed.difference(&read).collect();
    assert!(unread.is_empty(), "declared but never read: {unread:?}");
}

#[test]
fn the_template_wires_every_setting_and_nothing_else() {
    let template = read_template();
    let globals = template
        .variables
        .get("Globals")
        .cloned()
        .unwrap_or_default();
    let wired: BTreeSet<String> = template.variables.values().flatten().cloned().collect();
    for setting in settings() {
        let name = setting.name.to_owned();
        match setting.source {
            Source::Parameter | Source::Stack => {
                let in_scope = globals.contains(&name)
                    || setting.function.is_some_and(|f| {
                        template
                            .variables
                            .get(function_resource(f))
                            .is_some_and(|v| v.contains(&name))
                    });
                assert!(in_scope, "{name} is read but not wired in template.yaml");
                assert!(
                    !template.secret_keys.contains(&name),
                    "{name} is not a secret"
                );
            }
            Source::Secret => {
                // The action key is generated by `make deploy` (tools/action_key.py), never a
                // placeholder of the template: changing the secret's template would reset the
                // values people put in it.
                let generated = name == "LOOKOUT_ACTION_KEY"
                    && std::fs::read_to_string(
                        Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile"),
                    )
                    .is_ok_and(|m| m.contains("tools/action_key.py --stack $(STACK)"));
                assert!(
                    template.secret_keys.contains(&name) || generated,
                    "{name} is a secret but not a key of the stack's secret"
                );
                assert!(
                    !wired.contains(&name),
                    "{name} is a secret: it must not be a parameter"
                );
            }
            Source::Local | Source::File => {
                assert!(!wired.contains(&name), "{name} is not a parameter")
            }
        }
    }
    let known: BTreeSet<String> = settings().iter().map(|s| s.name.to_owned()).collect();
    let unknown: Vec<&String> = wired
        .union(&template.secret_keys)
        .filter(|v| !known.contains(*v))
        .collect();
    assert!(
        unknown.is_empty(),
        "wired in template.yaml but never read: {unknown:?}"
    );
    for (variable, target) in &template.references {
        assert!(
            template.parameters.contains(target) || template.resources.contains(target),
            "{variable} refers to {target}, which the template does not declare"
        );
    }
}

#[test]
fn the_template_has_every_function_and_no_wildcard_actions() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
        .expect("template.yaml");
    let functions = [
        ("SiteStatusFunction", "site-status"),
        ("SpeedTestFunction", "speed-test"),
        ("KafkaLagFunction", "kafka-lag"),
        ("HeartbeatFunction", "heartbeat"),
        ("HostCheckFunction", "host-check"),
        ("IngestFunction", "ingest"),
        ("StatusFunction", "status"),
    ];
    for (function, name) in functions {
        assert!(
            text.contains(&format!(
                "  {function}:\n    Type: AWS::Serverless::Function"
            )),
            "{function}"
        );
        // The one bootstrap is every function; its Handler names which (`_HANDLER`).
        let properties = text
            .split(&format!("  {function}:\n"))
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .expect("the function");
        assert!(
            properties.contains(&format!("\n      Handler: {name}\n")),
            "{function} has Handler: {name}"
        );
        assert!(lookout::bootstrap::functions().contains(&name), "{name}");
    }
    assert_eq!(
        lookout::bootstrap::functions().len(),
        functions.len(),
        "every function the bootstrap serves is in the template"
    );
    assert_eq!(text.matches("\n      Handler: ").count(), functions.len());
    assert!(text.contains("Runtime: provided.al2023") && text.contains("BuildMethod: makefile"));
    assert!(
        !text.contains("Action: '*'")
            && !text.contains("Action: \"*\"")
            && !text.contains("dynamodb:*")
    );
    assert!(text.contains("AttributeName: expires_at"));
    // In the SES sandbox the recipients' identities are authorized too, not just the sender's.
    assert_eq!(
        text.matches(
            "Resource: !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"
        )
        .count(),
        5,
        "each alerting function may send to any of the account's identities"
    );
    // The ingest function is public: it may only update the table and read the secret.
    let ingest = text
        .split("  IngestFunction:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the ingest function");
    assert!(
        ingest.contains("AuthType: !If [IngestShielded, AWS_IAM, NONE]")
            && ingest.contains("ReservedConcurrentExecutions: !Ref IngestReservedConcurrency")
    );
    // Open, anyone may call the URL; shielded, only the stack's CloudFront distribution, signing.
    for (permission, condition, principal) in [
        ("IngestUrlPublicPermission", "IngestOpen", "Principal: '*'"),
        ("IngestUrlInvokePermission", "IngestOpen", "Principal: '*'"),
        (
            "IngestCloudFrontUrlPermission",
            "IngestShielded",
            "Principal: cloudfront.amazonaws.com",
        ),
        (
            "IngestCloudFrontInvokePermission",
            "IngestShielded",
            "Principal: cloudfront.amazonaws.com",
        ),
    ] {
        let resource = text
            .split(&format!("  {permission}:\n"))
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .unwrap_or_else(|| panic!("{permission}"));
        assert!(
            resource.contains(&format!("Condition: {condition}")) && resource.contains(principal),
            "{permission}: {resource}"
        );
    }
    assert!(text.contains("OriginAccessControlOriginType: lambda"));
    assert!(text.contains("AggregateKeyType: IP") && text.contains("Scope: CLOUDFRONT"));
    assert!(
        ingest.contains("Action: [dynamodb:UpdateItem, dynamodb:PutItem]")
            && !ingest.contains("ses:")
            && !ingest.contains("Events:")
    );
    assert!(text.contains("InvokedViaFunctionUrl: true") && text.contains("IngestUrl:"));
    assert!(!text.contains("identity/${EmailFrom}"));

    // Every function's errors are alarmed and drawn; the dashboard's body is JSON once `!Sub` has
    // filled it in, and its widgets do not overlap.
    let body = text
        .split("      DashboardBody: !Sub |\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the dashboard's body");
    let mut filled = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("${") {
        filled.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("a closed ${...}") + at;
        filled.push('x');
        rest = &rest[end + 1..];
    }
    filled.push_str(rest);
    let dashboard: serde_json::Value =
        serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{e}: {filled}"));
    let mut cells = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().expect("widgets") {
        let at = |k: &str| widget[k].as_u64().expect("a number");
        for x in at("x")..at("x") + at("width") {
            for y in at("y")..at("y") + at("height") {
                assert!(cells.insert((x, y)), "widgets overlap at {x},{y}");
            }
        }
    }
    for (function, _) in functions {
        assert!(
            body.contains(&format!(
                "[\"AWS/Lambda\", \"Errors\", \"FunctionName\", \"${{{function}}}\""
            )),
            "the dashboard draws {function}'s errors"
        );
        assert!(
            text.contains(&format!(
                "MetricName: Errors\n      Dimensions: [{{Name: FunctionName, Value: !Ref {function}}}]"
            )),
            "{function}'s errors are alarmed"
        );
    }
}

/// `make deploy`'s step that gives the stack's secret an action key: added once, random, kept
/// afterwards, and nothing else of the secret changed.
#[tokio::test]
async fn make_deploy_puts_an_action_key_in_the_secret_once_and_keeps_the_rest() {
    let moto = Moto::start().await;
    let arn = moto
        .create_secret(
            "lookout-secret",
            r#"{"WECOM_WEBHOOK_URL": "https://qyapi.weixin.qq.com/x?key=k", "DINGTALK_SECRET": ""}"#,
        )
        .await;
    let python = std::env::var("MOTO_SERVER")
        .ok()
        .and_then(|m| Path::new(&m).parent().map(|bin| bin.join("python")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "python3".into());
    let run = || {
        let mut command = std::process::Command::new(&python);
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/action_key.py"))
            .args(["--secret-arn", &arn])
            .envs(moto.env());
        let output = command.output().expect("python runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let read = || async {
        let secret = aws_sdk_secretsmanager::Client::new(&moto.sdk_config())
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .expect("the secret");
        serde_json::from_str::<serde_json::Value>(secret.secret_string().unwrap()).unwrap()
    };
    assert!(run().contains("a new one"));
    let first = read().await;
    let key = first["LOOKOUT_ACTION_KEY"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        first["WECOM_WEBHOOK_URL"],
        "https://qyapi.weixin.qq.com/x?key=k"
    );
    assert_eq!(first["DINGTALK_SECRET"], "");
    assert!(
        run().contains("kept"),
        "a key already there is never changed"
    );
    assert_eq!(read().await, first);
    // The key is one the functions take.
    let env = lookout::config::Env::from_pairs([("LOOKOUT_ACTION_KEY", key)]);
    assert!(
        lookout::alerting::answers::signer_from(&env)
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_value_in_the_stacks_secret_reaches_the_function() {
    let moto = Moto::start().await;
    let robot = FakeWeCom::start("robot-key-from-the-secret").await;
    let secret =
        serde_json::json!({"WECOM_WEBHOOK_URL": robot.url(), "GLOBALPING_TOKEN": ""}).to_string();
    let arn = moto.create_secret("lookout-test", &secret).await;
    let (site, _) = support::site::start().await;
    let api = RuntimeApi::start().await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("LOOKOUT_SECRET_ARN", arn));
    env.push(("SITE_URLS", format!("http://{site}/status/503")));
    env.push(("SITE_RETRIES", "0".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _function = api.spawn(env!("CARGO_BIN_EXE_site-status"), &pairs).await;
    let Outcome::Response(report) = api
        .invoke(
            scheduled_event("e1", "2026-11-23T02:10:00Z"),
            Duration::from_secs(30),
        )
        .await
    else {
        panic!("the function failed");
    };
    assert_eq!(report["deliveries"][0]["channel"], "wecom", "{report}");
    assert_eq!(report["deliveries"][0]["outcome"], "delivered");
    assert_eq!(
        robot.accepted().len(),
        1,
        "the webhook URL came from the secret"
    );
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_stops_the_function_at_start() {
    let moto = Moto::start().await;
    let api = RuntimeApi::start().await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.push((
        "LOOKOUT_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf".into(),
    ));
    env.push(("SITE_URLS", "https://example.com".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _function = api.spawn(env!("CARGO_BIN_EXE_site-status"), &pairs).await;
    let (_, body) = api
        .init_error(Duration::from_secs(30))
        .await
        .expect("an init error");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("LOOKOUT_SECRET_ARN=") && message.contains("could not be read"),
        "{message}"
    );
}

#[test]
fn every_key_of_lookout_yaml_stands_for_a_listed_setting_and_is_documented() {
    use lookout::checks::CHECK_TYPES;
    use lookout::notify::CHANNEL_TYPES;
    use lookout::setup::file::{LIFECYCLE_KEYS, STYLE_KEYS};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let settings = settings();
    let listed = |var: &str| settings.iter().find(|s| s.name == var);
    let mut keys: Vec<(&str, &str, Option<&str>)> = Vec::new();
    for kind in CHECK_TYPES {
        keys.extend(
            kind.keys
                .iter()
                .map(|k| (k.key, k.var, Some(kind.function))),
        );
    }
    for kind in CHANNEL_TYPES {
        keys.extend(
            kind.keys
                .iter()
                .chain([&kind.after_minutes])
                .map(|k| (k.key, k.var, None)),
        );
    }
    keys.extend(
        LIFECYCLE_KEYS
            .iter()
            .chain(STYLE_KEYS)
            .map(|k| (k.key, k.var, None)),
    );
    for (key, var, function) in keys {
        let setting = listed(var).unwrap_or_else(|| panic!("{key} stands for {var}, not listed"));
        assert_eq!(setting.function, function, "{var} belongs to {function:?}");
    }
    // The key tables and the README's index are what `lookout reference` writes from the code.
    let mut parts: BTreeSet<String> = BTreeSet::new();
    for file in lookout::setup::reference::FILES {
        let text = std::fs::read_to_string(root.join(file)).expect("a reference file");
        let (written, found) = lookout::setup::reference::rewrite(&text).expect("its markers");
        assert!(
            written == text,
            "{file} is not what the code declares: run `make docs` (lookout reference)"
        );
        parts.extend(found);
    }
    let all: BTreeSet<String> = lookout::setup::reference::parts()
        .into_iter()
        .map(|(part, _)| part)
        .collect();
    assert_eq!(
        parts, all,
        "every generated part has its place in a reference file"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for setting in &settings {
        assert!(
            readme.contains(&format!("`{}`", setting.name)),
            "the README's index does not name {}",
            setting.name
        );
    }
}
