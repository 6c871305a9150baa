//! The reference tables written from the types' declared keys: each check type's keys and the
//! channels' keys in docs/configuration.md, and the settings index in the README. `lookout
//! reference` rewrites them between their markers (`make docs`); a test holds the files to what it
//! would write, so the docs cannot drift from the code.

use crate::checks::{CHECK_TYPES, CheckType};
use crate::config::{SettingKey, Shape, Source};
use crate::notify::CHANNEL_TYPES;

/// The files the tables are written into, from the project's root.
pub const FILES: [&str; 2] = ["docs/configuration.md", "README.md"];

/// A generated part's opening marker: `<!-- generated: keys of type site -->`; it ends at
/// [`END`].
fn start(part: &str) -> String {
    format!("<!-- generated: {part} -->")
}

/// Where every generated part ends.
pub const END: &str = "<!-- end of generated part: `lookout reference` writes it -->";

/// How a variable reads in a table: its name, what it takes, whether it is a secret.
fn variable(key: &SettingKey) -> String {
    let mut notes: Vec<&str> = Vec::new();
    match key.shape {
        Shape::One => {}
        Shape::List => notes.push("a list"),
        Shape::Pairs => notes.push("a mapping"),
        Shape::Windows => notes.push("time windows"),
        Shape::Group => notes.push("a mapping of settings"),
    }
    if key.secret {
        notes.push("a secret: `${NAME}`");
    }
    if key.source == Source::Parameter {
        notes.push("a stack parameter");
    }
    if notes.is_empty() {
        format!("`{}`", key.var)
    } else {
        format!("`{}` ({})", key.var, notes.join("; "))
    }
}

/// What a key means, and its default when it has one the doc does not already give.
fn meaning(key: &SettingKey) -> String {
    match key.default {
        Some(default) if !key.doc.contains("default") => {
            format!("{}; default `{default}`", key.doc)
        }
        _ => key.doc.to_owned(),
    }
}

/// A check type's keys, as a table, and the function's own variables it reads.
pub fn check_keys(kind: &CheckType) -> String {
    let mut text = String::from("| key | variable it stands for | |\n|---|---|---|\n");
    for key in kind.keys {
        text.push_str(&format!(
            "| `{}` | {} | {} |\n",
            key.key,
            variable(key),
            meaning(key)
        ));
    }
    if !kind.variables.is_empty() {
        text.push_str("\nVariables of the function, not keys of a monitor:\n\n");
        for key in kind.variables {
            text.push_str(&format!("- {}: {}\n", variable(key), meaning(key)));
        }
    }
    text
}

/// Every channel type's keys, as one table, and the variables of the function they read.
pub fn channel_keys() -> String {
    let mut text = String::from("| type | key | variable it stands for | |\n|---|---|---|---|\n");
    let mut variables: Vec<&SettingKey> = Vec::new();
    for kind in CHANNEL_TYPES {
        for (i, key) in kind
            .keys
            .iter()
            .chain([&kind.after_minutes, &kind.degraded])
            .enumerate()
        {
            let name = if i == 0 {
                format!("`{}`", kind.name)
            } else {
                String::new()
            };
            let doc = if key.key == "after_minutes" {
                "the incident age, in minutes, at which this channel joins; default 0".to_owned()
            } else if key.key == "degraded" {
                format!(
                    "`true`: told (once) of a monitor failing from lookout only while probes elsewhere reach it (see `confirm`); default {}",
                    key.default.unwrap_or("true")
                )
            } else {
                meaning(key)
            };
            text.push_str(&format!(
                "| {name} | `{}` | {} | {doc} |\n",
                key.key,
                variable(key)
            ));
        }
        for key in kind.variables {
            if !variables.iter().any(|v| v.var == key.var) {
                variables.push(key);
            }
        }
    }
    if !variables.is_empty() {
        text.push_str("\nVariables of the function, not keys of a channel:\n\n");
        for key in variables {
            text.push_str(&format!("- {}: {}\n", variable(key), meaning(key)));
        }
    }
    text
}

/// The README's settings index: one row per check type and per channel type.
pub fn settings_index() -> String {
    let mut text = String::from("| for | settings | reference |\n|---|---|---|\n");
    let names = |keys: &mut dyn Iterator<Item = &SettingKey>| -> String {
        keys.map(|k| {
            if k.secret {
                format!("`{}` (secret)", k.var)
            } else {
                format!("`{}`", k.var)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
    };
    text.push_str(&format!(
        "| every monitor (its metrics, the status page) | {} | [configuration](docs/configuration.md#monitors) |\n",
        names(&mut crate::alerting::SHOWN_KEYS.iter())
    ));
    text.push_str(&format!(
        "| answer links in alerts (acknowledge, silence) | {} | [answers](docs/answers.md) |\n",
        names(&mut crate::alerting::answers::ACTION_KEYS.iter())
    ));
    for kind in CHECK_TYPES {
        text.push_str(&format!(
            "| `type: {}` ({}) | {} | [configuration](docs/configuration.md#type-{}) |\n",
            kind.name,
            kind.function,
            names(&mut kind.keys.iter().chain(kind.variables)),
            kind.name
        ));
    }
    for kind in CHANNEL_TYPES {
        text.push_str(&format!(
            "| `type: {}` (channel) | {} | [channels](docs/channels.md), [configuration](docs/configuration.md#channels) |\n",
            kind.name,
            names(
                &mut kind
                    .keys
                    .iter()
                    .chain([&kind.after_minutes, &kind.degraded])
                    .chain(kind.variables)
            ),
        ));
    }
    text
}

/// The keys every monitor takes (and `defaults`) that say how it is shown, as a table.
pub fn shown_keys() -> String {
    let mut text = String::from("| key | variable it stands for | |\n|---|---|---|\n");
    for key in crate::alerting::SHOWN_KEYS {
        text.push_str(&format!(
            "| `{}` | {} | {} |\n",
            key.key,
            variable(key),
            meaning(key)
        ));
    }
    text
}

/// Every generated part: its name (in its marker) and its text.
pub fn parts() -> Vec<(String, String)> {
    let mut parts: Vec<(String, String)> = CHECK_TYPES
        .iter()
        .map(|kind| (format!("keys of type {}", kind.name), check_keys(kind)))
        .collect();
    parts.push(("keys of every monitor".into(), shown_keys()));
    parts.push(("keys of the channels".into(), channel_keys()));
    parts.push(("settings index".into(), settings_index()));
    parts
}

/// `text` with each generated part it has a marker for written anew, and the names of the parts it
/// has. A marker without its end is an error.
pub fn rewrite(text: &str) -> Result<(String, Vec<String>), String> {
    let mut text = text.to_owned();
    let mut found = Vec::new();
    for (part, generated) in parts() {
        let marker = start(&part);
        let Some(at) = text.find(&marker) else {
            continue;
        };
        let body = at + marker.len();
        let end = text[body..]
            .find(END)
            .map(|e| body + e)
            .ok_or_else(|| format!("{marker} has no end marker {END}"))?;
        text.replace_range(body..end, &format!("\n{generated}"));
        found.push(part);
    }
    Ok((text, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_written_between_its_markers_and_the_rest_is_kept() {
        let text = format!(
            "# before\n{}\nstale\n{END}\nafter\n",
            start("keys of type site")
        );
        let (written, found) = rewrite(&text).unwrap();
        assert_eq!(found, vec!["keys of type site".to_owned()]);
        assert!(written.starts_with("# before\n"));
        assert!(written.ends_with(&format!("{END}\nafter\n")));
        assert!(!written.contains("stale"));
        assert!(written.contains("| `url` | `SITE_URLS` (a stack parameter) |"));
        assert_eq!(
            rewrite(&written).unwrap().0,
            written,
            "written once, unchanged again"
        );
        let unended = start("settings index");
        assert!(rewrite(&unended).is_err());
    }

    #[test]
    fn secrets_and_shapes_are_said() {
        let channels = channel_keys();
        assert!(channels.contains("`DINGTALK_SECRET` (a secret: `${NAME}`)"));
        assert!(channels.contains("`WECOM_MENTION_MOBILES` (a list; a stack parameter)"));
        assert!(channels.contains("| `sms` | `phone_numbers` |"));
        assert!(channels.contains("`SMS_AFTER_MINUTES`"));
    }
}
