//! Setup: `lookout.yaml` and the variables turned into watches and channels. It sits above the
//! checks, the lifecycle and the channels (as Alertmanager's `config/receiver` sits above `config`
//! and `notify`), so none of them imports it.

pub mod file;
pub mod reference;

use crate::alerting::policy::Policy;
use crate::alerting::render::Style;
use crate::alerting::state::SharedStore;
use crate::alerting::{Shown, Watch};
use crate::checks::{self, CheckType, Naming};
use crate::config::{Env, Setting, SetupError};
use crate::notify::{self, Channel};
use file::{FileChannel, FileMonitor, LookoutFile, MonitorSpec};

/// The status page's own keys: `status_page` in `lookout.yaml`, or these variables.
pub const STATUS_PAGE_KEYS: &[crate::config::SettingKey] = &[
    crate::config::one("title", "STATUS_PAGE_TITLE")
        .default("Status")
        .doc("the page's title")
        .hint("give the page a title of at most 100 characters, on one line"),
    crate::config::one("description", "STATUS_PAGE_DESCRIPTION")
        .doc("a line under the title")
        .hint("give a description of at most 300 characters, on one line"),
    crate::config::one("token", "STATUS_PAGE_TOKEN")
        .secret()
        .doc("when set, the page, its JSON and its badges answer only `?token=` or `Authorization: Bearer` with it (401 otherwise); give it as `\"${NAME}\"` from the stack's secret")
        .hint("use 16 to 128 letters, digits, - . _ or ~ (openssl rand -hex 16 makes one)"),
];

/// The status page's title, description and token.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct StatusPage {
    /// The page's title.
    #[serde(deserialize_with = "title")]
    pub title: String,
    /// A line under the title.
    #[serde(default, deserialize_with = "description")]
    pub description: Option<String>,
    /// The token a private page asks for.
    #[serde(default, deserialize_with = "page_token")]
    pub token: Option<crate::config::Secret>,
}

fn title<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = crate::config::read::line(d)?;
    if text.chars().count() > 100 {
        return Err(crate::config::read::Problem::new("longer than 100 characters").error());
    }
    Ok(text)
}

fn description<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = crate::config::read::line(d)?;
    if text.chars().count() > 300 {
        return Err(crate::config::read::Problem::new("longer than 300 characters").error());
    }
    Ok(Some(text))
}

fn page_token<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::config::Secret>, D::Error> {
    let token = <crate::config::Secret as serde::Deserialize>::deserialize(d)?;
    if !crate::pings::is_token(token.expose()) {
        return Err(
            crate::config::read::Problem::new("not 16 to 128 letters, digits, - . _ or ~").error(),
        );
    }
    Ok(Some(token))
}

impl crate::config::read::Settings for StatusPage {
    const KEYS: &'static [&'static [crate::config::SettingKey]] = &[STATUS_PAGE_KEYS];
}

/// Every variable the functions read: the general ones ([`crate::config::SETTINGS`] and how a
/// monitor is shown, [`crate::alerting::SHOWN_KEYS`]), then each
/// check type's keys and variables (read by its function) and each channel type's (read by every
/// function), each once. A variable two types read (Tencent Cloud's key, for SMS and CKafka) is
/// every function's when a channel reads it.
pub fn settings() -> Vec<Setting> {
    let mut settings: Vec<Setting> = crate::config::SETTINGS.to_vec();
    settings.extend(crate::alerting::SHOWN_KEYS.iter().map(|k| k.setting(None)));
    settings.extend(
        crate::alerting::outage::OUTAGE_KEYS
            .iter()
            .map(|k| k.setting(None)),
    );
    settings.extend(STATUS_PAGE_KEYS.iter().map(|k| k.setting(Some("status"))));
    // The action key signs links in every alerting function and checks them in the status one;
    // the status address is given to each alerting function (not globally: the status function's
    // own address cannot be one of its variables).
    use crate::alerting::answers::{ACTION_KEY, STATUS_URL};
    settings.push(ACTION_KEY.setting(None));
    let mut alerting: Vec<&'static str> = checks::CHECK_TYPES.iter().map(|k| k.function).collect();
    alerting.sort_unstable();
    alerting.dedup();
    settings.extend(alerting.into_iter().map(|f| STATUS_URL.setting(Some(f))));
    let mut add = |setting: Setting| match settings.iter_mut().find(|s| s.name == setting.name) {
        Some(known) => {
            if setting.function.is_none() {
                known.function = None;
            }
        }
        None => settings.push(setting),
    };
    for kind in checks::CHECK_TYPES {
        for key in kind.keys.iter().chain(kind.variables) {
            add(key.setting(Some(kind.function)));
        }
    }
    for kind in notify::CHANNEL_TYPES {
        for key in kind.keys.iter().chain(kind.variables) {
            add(key.setting(None));
        }
        add(kind.after_minutes.setting(None));
        add(kind.degraded.setting(None));
    }
    settings
}

/// Why nothing configures `kind`'s function, and what would: `lookout.yaml` describes monitors and
/// none of the types the function runs, or the monitor comes from variables and none of the type's
/// is set.
pub fn unconfigured(kind: &CheckType, env: &Env, file: Option<&LookoutFile>) -> Option<String> {
    if let Some(monitors) = file.and_then(|f| f.monitors.as_ref()) {
        let kinds = checks::check_types_of(kind.function);
        let names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
        return (!monitors.iter().any(|m| names.contains(&m.kind.name))).then(|| {
            format!(
                "{} has no monitor of type {}: add one (see lookout.example.yaml)",
                file.map_or(file::DEFAULT_PATH, |f| f.path.as_str()),
                names.join(" or ")
            )
        });
    }
    let first = kind.keys.first()?;
    (!kind.keys.iter().any(|k| env.is_set(k.var))).then(|| {
        format!(
            "nothing configures it: set {} (see .env.example), or add a monitor of type {} to lookout.yaml",
            first.var, kind.name
        )
    })
}

/// What a function is made of, as the configuration describes it: its watches, its channels and
/// the policy that closes the incidents of monitors no longer configured.
pub struct Setup {
    /// The monitors, each with its check, channels and policy.
    pub watches: Vec<Watch>,
    /// The channels, by name.
    pub channels: Vec<Channel>,
    /// The defaults' policy.
    pub policy: Policy,
    /// Signs the answer links of failing notices (when the stack's action key is set).
    pub answers: Option<crate::alerting::answers::Signer>,
    /// How the function tells its own outage from its targets' (`canary`,
    /// `monitor_outage_ratio`).
    pub outage: crate::alerting::outage::OutageGuard,
    /// Confirms failures from elsewhere, for a function whose monitors take `confirm`.
    pub confirmer: Option<crate::checks::confirm::Confirmer>,
}

/// The confirmer of `kind`'s function, when one of its monitors (each of its types' settings
/// `monitors`) sets `confirm`: none is built at a cold start that would not use it.
fn confirmer_of<'a>(
    kind: &CheckType,
    env: &Env,
    mut monitors: impl Iterator<Item = (&'a CheckType, &'a Env)>,
) -> Result<Option<crate::checks::confirm::Confirmer>, SetupError> {
    let confirms = monitors.any(|(kind_of, settings)| {
        kind_of.function == kind.function
            && kind_of
                .keys
                .iter()
                .any(|k| k.key == "confirm" && settings.get(k.var).is_some())
    });
    if !confirms {
        return Ok(None);
    }
    crate::checks::confirm::Confirmer::from_env(env).map(Some)
}

/// The monitors the variables of `env` describe: each of `kind`'s function's types, on `env`.
fn implicit_monitors<'a>(
    kind: &CheckType,
    env: &'a Env,
) -> impl Iterator<Item = (&'a CheckType, &'a Env)> {
    checks::check_types_of(kind.function)
        .into_iter()
        .map(move |t| (t, env))
}

/// The watches and channels of `kind`'s function: the monitors of `file` when there is one, else
/// the one monitor the variables of `env` describe; channels keep their budgets in `store`, the
/// checks read its ledger.
pub async fn assemble_from(
    kind: &'static CheckType,
    env: &Env,
    file: Option<LookoutFile>,
    store: &SharedStore,
) -> Result<Setup, SetupError> {
    let Some(file) = file else {
        // Settings from variables: one implicit monitor, every channel hearing of it.
        let channels = notify::channels_from_env(env, store.clone()).await?;
        let routes = channels.iter().map(|c| c.name.clone()).collect();
        let policy = Policy::from_env(env, &crate::notify::delays())?;
        let ledger: checks::SharedLedger = store.clone();
        let watches = implicit_watches(kind, env, routes, policy.clone(), &ledger)?;
        return Ok(Setup {
            watches,
            channels,
            policy,
            answers: crate::alerting::answers::signer_from(env)?,
            outage: crate::config::read::settings(env)?,
            confirmer: confirmer_of(kind, env, implicit_monitors(kind, env))?,
        });
    };
    let channels = match &file.channels {
        None => notify::channels_from_env(&file.defaults, store.clone()).await?,
        Some(specs) => {
            let mut channels = Vec::with_capacity(specs.len());
            for spec in specs {
                let style = Style::from_env(&spec.env)?;
                let notifier = (spec.kind.build)(&spec.env, style, store.clone())
                    .await?
                    .ok_or_else(|| {
                        SetupError::HttpClient(format!(
                            "channel {:?} could not be built",
                            spec.name
                        ))
                    })?;
                channels.push(Channel {
                    name: spec.name.clone(),
                    notifier: Box::new(FileChannel::new(notifier, spec.kind)),
                });
            }
            channels
        }
    };
    let ledger: checks::SharedLedger = store.clone();
    let watches = watches_of(kind, &file, &ledger)?;
    tracing::info!(file = %file.path, monitors = watches.len(), "configuration read");
    Ok(Setup {
        watches,
        channels,
        policy: file.policy,
        answers: crate::alerting::answers::signer_from(env)?,
        outage: crate::config::read::settings(&file.defaults)?,
        confirmer: match &file.monitors {
            Some(monitors) => confirmer_of(kind, env, monitors.iter().map(|m| (m.kind, &m.env)))?,
            None => confirmer_of(kind, env, implicit_monitors(kind, &file.defaults))?,
        },
    })
}

/// The watches of `kind`'s function that `file` describes: its monitors of every type the function
/// runs, or, for a file of channels and defaults only, the one monitor the variables describe.
pub fn watches_of(
    kind: &'static CheckType,
    file: &LookoutFile,
    store: &checks::SharedLedger,
) -> Result<Vec<Watch>, SetupError> {
    match &file.monitors {
        // A file of channels and defaults only: the variables describe the monitor.
        None => implicit_watches(
            kind,
            &file.defaults,
            file.default_channels.clone(),
            file.policy.clone(),
            store,
        ),
        Some(monitors) => {
            let mut watches = Vec::new();
            for kind in checks::check_types_of(kind.function) {
                watches.extend(typed_watches(kind, monitors, store)?);
            }
            Ok(watches)
        }
    }
}

/// The watches of `monitors` of type `kind`.
fn typed_watches(
    kind: &'static CheckType,
    monitors: &[MonitorSpec],
    store: &checks::SharedLedger,
) -> Result<Vec<Watch>, SetupError> {
    let own: Vec<&MonitorSpec> = monitors
        .iter()
        .filter(|m| m.kind.name == kind.name)
        .collect();
    let naming = |m: &&MonitorSpec| Naming::Monitor {
        kind: kind.name,
        name: m.name.clone(),
    };
    let mut checks = (kind.build)(
        own.iter().map(|m| (m.env.clone(), naming(m))).collect(),
        store,
    )?
    .into_iter();
    let mut watches: Vec<Watch> = checks
        .by_ref()
        .zip(&own)
        .map(|(check, spec)| Watch {
            check: Box::new(FileMonitor::new(check, kind)),
            channels: spec.channels.clone(),
            policy: spec.policy.clone(),
            every: spec.every,
            shown: spec.shown.clone(),
        })
        .collect();
    // Checks past one per monitor are the type's own, about all of them (the heartbeat's ingest):
    // every tick, told to every channel one of its monitors tells, by the first one's policy.
    let mut channels: Vec<String> = Vec::new();
    for channel in own.iter().flat_map(|m| &m.channels) {
        if !channels.contains(channel) {
            channels.push(channel.clone());
        }
    }
    if let Some(first) = own.first() {
        watches.extend(checks.map(|check| Watch {
            check: Box::new(FileMonitor::new(check, kind)),
            channels: channels.clone(),
            policy: first.policy.clone(),
            every: None,
            shown: Shown::default(),
        }));
    }
    Ok(watches)
}

/// The one monitor a function's variables describe, named after the function (and the checks
/// its type keeps about all its monitors, told alike).
fn implicit_watches(
    kind: &'static CheckType,
    env: &Env,
    channels: Vec<String>,
    policy: Policy,
    store: &checks::SharedLedger,
) -> Result<Vec<Watch>, SetupError> {
    let checks = (kind.build)(vec![(env.clone(), Naming::Function(kind.function))], store)?;
    if checks.is_empty() {
        return Err(SetupError::HttpClient(
            "the check could not be built".into(),
        ));
    }
    let shown = crate::config::read::settings::<Shown>(env)?;
    Ok(checks
        .into_iter()
        .map(|check| Watch {
            check,
            channels: channels.clone(),
            policy: policy.clone(),
            every: None,
            shown: shown.clone(),
        })
        .collect())
}
