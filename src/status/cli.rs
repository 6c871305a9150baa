//! `lookout ack <monitor>` and `lookout silence <monitor> <for>`: the answer links' two answers
//! from a terminal or a script, against the local state (`STATE_FILE`, `STATE_TABLE`, else
//! `.lookout/state.json`) or a deployed stack's table (`--stack NAME`, with the machine's AWS
//! credentials).
//!
//! `<monitor>` is a monitor's name (`shop`), an incident key (`site:shop`,
//! `site-status:https://shop.example.com/`) or a target (`https://shop.example.com/`); every open
//! incident it names is answered, and said. The answer is signed `via cli`, `by` `--by NAME` or
//! the user's login.

use std::error::Error;

use chrono::{DateTime, Utc};

use super::act::{Written, write_answer};
use crate::alerting::answers::{self, Answer, Answered, Unchanged};
use crate::alerting::lifecycle::Status;
use crate::alerting::render::Style;
use crate::alerting::state::{self, StateStore};
use crate::config::Env;

type CliError = Box<dyn Error + Send + Sync>;

const USAGE: &str = "usage: lookout ack <monitor> [--by NAME] [--stack NAME]
       lookout silence <monitor> <for: 30m, 2h, 1d> [--by NAME] [--stack NAME]";

/// What the command line asked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Asked {
    monitor: String,
    silence: Option<std::time::Duration>,
    by: Option<String>,
    stack: Option<String>,
}

fn parse(command: &str, args: &[&str]) -> Result<Asked, String> {
    let mut plain = Vec::new();
    let (mut by, mut stack) = (None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--by" => by = Some(rest.next().ok_or("--by needs a name")?.to_string()),
            "--stack" => {
                stack = Some(
                    rest.next()
                        .ok_or("--stack needs the stack's name")?
                        .to_string(),
                )
            }
            flag if flag.starts_with("--") => return Err(format!("{flag} is not an option")),
            value => plain.push(value),
        }
    }
    let (monitor, silence) = match (command, plain.as_slice()) {
        ("ack", [monitor]) => (monitor, None),
        ("silence", [monitor, period]) => {
            let period = crate::config::parse_duration(period)
                .map_err(|why| format!("{period:?} {why}: give it as 30m, 2h or 1d"))?;
            if period.is_zero() || period > std::time::Duration::from_secs(30 * 86_400) {
                return Err("silence for between a minute and 30 days".into());
            }
            (monitor, Some(period))
        }
        _ => return Err(USAGE.into()),
    };
    Ok(Asked {
        monitor: monitor.to_string(),
        silence,
        by: by.as_deref().and_then(answers::name_of),
        stack,
    })
}

/// True when `asked` names this incident: its key, the name in its key, or its target.
fn names(asked: &str, key: &str, target: &str) -> bool {
    key == asked || key.split_once(':').is_some_and(|(_, name)| name == asked) || target == asked
}

/// The store a `--stack` names: the DynamoDB table CloudFormation made for it
/// (`<stack>-StateTable-<suffix>`), found among the account's tables.
async fn stack_store(stack: &str) -> Result<Box<dyn StateStore>, CliError> {
    let config = crate::aws::sdk_config().await;
    if config.region().is_none() {
        return Err("--stack needs a region: set AWS_REGION (or the profile's region)".into());
    }
    let client = aws_sdk_dynamodb::Client::new(&config);
    let prefix = format!("{stack}-StateTable-");
    let mut tables = Vec::new();
    let mut pages = client.list_tables().into_paginator().items().send();
    while let Some(table) = pages.next().await {
        let table = table.map_err(|e| format!("cannot list the DynamoDB tables: {e}"))?;
        if table.starts_with(&prefix) {
            tables.push(table);
        }
    }
    match tables.as_slice() {
        [table] => Ok(Box::new(state::dynamodb::DynamoDbStore::new(client, table))),
        [] => Err(format!(
            "no table {prefix}… in this account and region: check --stack and AWS_REGION"
        )
        .into()),
        _ => Err(format!("more than one table {prefix}…: {}", tables.join(", ")).into()),
    }
}

/// `lookout ack …` / `lookout silence …`.
pub async fn run(command: &str, args: &[&str]) -> Result<(), CliError> {
    let asked = parse(command, args)?;
    let env = Env::from_process();
    let store = match &asked.stack {
        Some(stack) => stack_store(stack).await?,
        None => state::from_env(&env, false).await?,
    };
    let style = Style::from_env(&env)?;
    let by = asked.by.clone().or_else(|| {
        std::env::var("USER")
            .ok()
            .as_deref()
            .and_then(answers::name_of)
    });
    let lines = answer_all(store.as_ref(), &asked, by, Utc::now(), &style).await?;
    for line in &lines {
        println!("{line}");
    }
    Ok(())
}

/// Answers every open incident `asked` names; what was done, a line each.
async fn answer_all(
    store: &dyn StateStore,
    asked: &Asked,
    by: Option<String>,
    now: DateTime<Utc>,
    style: &Style,
) -> Result<Vec<String>, CliError> {
    let what = match asked.silence {
        None => Answered::Acknowledged,
        Some(period) => Answered::Silenced {
            until: now + chrono::Duration::from_std(period)?,
        },
    };
    let answer = Answer {
        what,
        via: "cli".into(),
        by,
        at: now,
    };
    let mut functions: Vec<&'static str> = crate::checks::CHECK_TYPES
        .iter()
        .map(|k| k.function)
        .collect();
    functions.sort_unstable();
    functions.dedup();
    let mut lines = Vec::new();
    let mut open_ones = Vec::new();
    for function in functions {
        for versioned in store.load(function).await? {
            let incident = &versioned.incident;
            if !matches!(incident.status, Status::Open | Status::Recovering) {
                continue;
            }
            if !names(&asked.monitor, &incident.key, &incident.target) {
                open_ones.push(incident.key.clone());
                continue;
            }
            let key = incident.key.clone();
            let since = incident.began_at.map(|b| style.time(b)).unwrap_or_default();
            let written = write_answer(store, function, versioned, None, &answer).await?;
            lines.push(match (written, what) {
                (Written::Kept, Answered::Acknowledged) => {
                    format!("{key}: acknowledged (failing since {since}); the channels told hear it on the next tick")
                }
                (Written::Kept, Answered::Silenced { until }) => {
                    format!("{key}: silenced until {} (failing since {since})", style.time(until))
                }
                (Written::Unchanged(Unchanged::AlreadyAcknowledged(done)), _) => format!(
                    "{key}: already acknowledged via {} at {}",
                    done.via,
                    style.time(done.at)
                ),
                (Written::Unchanged(Unchanged::AlreadySilenced(until)), _) => {
                    format!("{key}: already silenced until {}", style.time(until))
                }
                (Written::Closed, _) => format!("{key}: it recovered meanwhile"),
            });
        }
    }
    if lines.is_empty() {
        let open = if open_ones.is_empty() {
            "none is open".to_owned()
        } else {
            format!("the open ones are {}", open_ones.join(", "))
        };
        return Err(format!("no open incident of {:?}: {open}", asked.monitor).into());
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_read_or_refused_with_its_usage() {
        let asked = parse(
            "silence",
            &["shop", "2h", "--by", "Li Wei", "--stack", "prod"],
        )
        .unwrap();
        assert_eq!(asked.monitor, "shop");
        assert_eq!(asked.silence, Some(std::time::Duration::from_secs(7200)));
        assert_eq!(
            (asked.by.as_deref(), asked.stack.as_deref()),
            (Some("Li Wei"), Some("prod"))
        );
        assert_eq!(parse("ack", &["shop"]).unwrap().silence, None);
        for (command, args) in [
            ("ack", vec![]),
            ("ack", vec!["a", "b"]),
            ("silence", vec!["shop"]),
            ("silence", vec!["shop", "soon"]),
            ("silence", vec!["shop", "0m"]),
            ("silence", vec!["shop", "90d"]),
            ("ack", vec!["shop", "--by"]),
            ("ack", vec!["shop", "--force"]),
        ] {
            assert!(parse(command, &args).is_err(), "{command} {args:?}");
        }
    }

    #[test]
    fn a_monitor_is_named_by_its_name_key_or_target() {
        assert!(names("shop", "site:shop", "https://shop/"));
        assert!(names("site:shop", "site:shop", "https://shop/"));
        assert!(names(
            "https://shop/",
            "site-status:https://shop/",
            "https://shop/"
        ));
        assert!(!names("sho", "site:shop", "https://shop/"));
    }
}
