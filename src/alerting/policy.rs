//! The alert policy: thresholds, the escalation schedule, when each channel joins, quiet hours.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::config::{ConfigError, Env};

/// The rules that turn results into notifications (`ALERT_*`, `*_AFTER_MINUTES`).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `ALERT_FAILURE_THRESHOLD`: consecutive failing ticks before an incident opens.
    pub failure_threshold: u32,
    /// `ALERT_RECOVERY_THRESHOLD`: consecutive passing ticks before it closes.
    pub recovery_threshold: u32,
    /// `ALERT_ESCALATION_MINUTES`: incident ages at which to notify, ascending.
    pub escalation_minutes: Vec<i64>,
    /// `ALERT_REPEAT_MINUTES`: after the last step, repeat this often (0: never).
    pub repeat_minutes: i64,
    /// `WECOM_AFTER_MINUTES`, `EMAIL_AFTER_MINUTES`, `SMS_AFTER_MINUTES`: a channel joins an incident
    /// only once it is this old.
    /// Keyed by channel name (`after_minutes` of a channel in `lookout.yaml`).
    pub channel_after_minutes: BTreeMap<String, i64>,
    /// `WECOM_DEGRADED`, `SMS_DEGRADED` (`degraded` of a channel in `lookout.yaml`): whether a
    /// channel is told of a degraded monitor. Keyed by channel name; a channel not listed is.
    pub channel_degraded: BTreeMap<String, bool>,
    /// `ALERT_QUIET_HOURS`: local windows in which notifications are held.
    pub quiet_hours: Vec<QuietWindow>,
    /// `ALERT_MAINTENANCE`: when failures are expected and nobody is told (daily local windows,
    /// or one-off spans).
    pub maintenance: Vec<Maintenance>,
    /// `ALERT_TIMEZONE`: the zone of the quiet hours and daily maintenance windows.
    pub timezone: Tz,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            failure_threshold: 1,
            recovery_threshold: 1,
            escalation_minutes: vec![0, 10, 60, 240, 1440],
            repeat_minutes: 1440,
            channel_after_minutes: BTreeMap::new(),
            channel_degraded: BTreeMap::new(),
            quiet_hours: Vec::new(),
            maintenance: Vec::new(),
            timezone: chrono_tz::Asia::Shanghai,
        }
    }
}

/// What the policy reads of one channel: its delay and whether it takes degraded monitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelRule {
    /// The channel's name (its type's, for a channel from variables).
    pub channel: &'static str,
    /// The variable of its delay (`SMS_AFTER_MINUTES`).
    pub after: &'static str,
    /// The variable saying whether it is told of degraded monitors (`SMS_DEGRADED`).
    pub degraded: &'static str,
    /// Whether it is when the variable is not set.
    pub degraded_default: bool,
}

/// A maintenance window: every day between two local times, or once between two moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenance {
    /// `04:00-04:30`, every day in the policy's time zone (it may wrap midnight).
    Daily(QuietWindow),
    /// `2026-12-01T02:00+08:00/2026-12-01T04:00+08:00`: from the first moment, until the second.
    Once {
        /// Its first moment.
        from: DateTime<Utc>,
        /// The first moment after it.
        to: DateTime<Utc>,
    },
}

/// A moment with its offset: `2026-12-01T02:00+08:00`, seconds optional.
fn parse_moment(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M%:z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M%#z"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("{text:?} is not a moment with its offset like 2026-12-01T02:00+08:00")
        })
}

fn parse_maintenance(raw: &str) -> Result<Vec<Maintenance>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once('/') {
            Some((from, to)) => {
                let (from, to) = (parse_moment(from)?, parse_moment(to)?);
                if to <= from {
                    return Err(format!("{item:?} ends before it starts"));
                }
                Ok(Maintenance::Once { from, to })
            }
            None => Ok(Maintenance::Daily(parse_windows(item)?.remove(0))),
        })
        .collect()
}

/// A daily window `start-end` in local time; it may wrap midnight (`23:00-07:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietWindow {
    /// First quiet minute.
    pub start: NaiveTime,
    /// First minute after the window.
    pub end: NaiveTime,
}

impl QuietWindow {
    /// True when `time` of day is inside the window.
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }
}

fn parse_windows(raw: &str) -> Result<Vec<QuietWindow>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (start, end) = item
                .split_once('-')
                .ok_or_else(|| format!("{item:?} is not a window like 23:00-07:00"))?;
            let time = |s: &str| {
                NaiveTime::parse_from_str(s.trim(), "%H:%M")
                    .map_err(|_| format!("{s:?} is not a time like 07:30"))
            };
            let window = QuietWindow {
                start: time(start)?,
                end: time(end)?,
            };
            if window.start == window.end {
                return Err(format!("{item:?} starts where it ends"));
            }
            Ok(window)
        })
        .collect()
}

fn parse_minutes(raw: &str) -> Result<Vec<i64>, String> {
    let minutes = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| format!("{s:?} is not a whole number of minutes"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if minutes.is_empty() {
        return Err("no step in it".into());
    }
    if minutes.windows(2).any(|w| w[0] >= w[1]) {
        return Err("the ages must rise from left to right".into());
    }
    Ok(minutes)
}

impl Policy {
    /// Reads and checks the policy; `delays` names each channel type and the variable of its delay
    /// (`("sms", "SMS_AFTER_MINUTES")`: the channel layer's [`crate::notify::delays`]).
    pub fn from_env(env: &Env, rules: &[ChannelRule]) -> Result<Self, ConfigError> {
        let defaults = Policy::default();
        let threshold = |var: &'static str, default: u32| {
            env.at_least_one(var, default, "set it to a whole number of ticks, 1 or more")
        };
        let minutes = |var: &'static str, default: i64| -> Result<i64, ConfigError> {
            Ok(env
                .number::<u32>(var, "set it to a whole number of minutes, e.g. 60")?
                .map_or(default, i64::from))
        };
        let escalation_minutes = match env.get("ALERT_ESCALATION_MINUTES") {
            None => defaults.escalation_minutes,
            Some(raw) => parse_minutes(raw).map_err(|reason| {
                ConfigError::invalid(
                    "ALERT_ESCALATION_MINUTES",
                    raw,
                    reason,
                    "set it to rising incident ages in minutes, e.g. 0,10,60,240,1440",
                )
            })?,
        };
        let quiet_hours = match env.get("ALERT_QUIET_HOURS") {
            None => Vec::new(),
            Some(raw) => parse_windows(raw).map_err(|reason| {
                ConfigError::invalid(
                    "ALERT_QUIET_HOURS",
                    raw,
                    reason,
                    "set it to local windows, comma-separated, e.g. 23:00-07:00,12:00-13:00",
                )
            })?,
        };
        let maintenance = match env.get("ALERT_MAINTENANCE") {
            None => Vec::new(),
            Some(raw) => parse_maintenance(raw).map_err(|reason| {
                ConfigError::invalid(
                    "ALERT_MAINTENANCE",
                    raw,
                    reason,
                    "set it to daily local windows like 04:00-04:30, or one-off spans like 2026-12-01T02:00+08:00/2026-12-01T04:00+08:00, comma-separated",
                )
            })?,
        };
        let mut channel_after_minutes = BTreeMap::new();
        let mut channel_degraded = BTreeMap::new();
        for rule in rules {
            let after = minutes(rule.after, 0)?;
            if after > 0 {
                channel_after_minutes.insert(rule.channel.to_owned(), after);
            }
            let degraded = env.flag(rule.degraded)?.unwrap_or(rule.degraded_default);
            if !degraded {
                channel_degraded.insert(rule.channel.to_owned(), false);
            }
        }
        Ok(Policy {
            failure_threshold: threshold("ALERT_FAILURE_THRESHOLD", 1)?,
            recovery_threshold: threshold("ALERT_RECOVERY_THRESHOLD", 1)?,
            escalation_minutes,
            repeat_minutes: minutes("ALERT_REPEAT_MINUTES", defaults.repeat_minutes)?,
            channel_after_minutes,
            channel_degraded,
            quiet_hours,
            maintenance,
            timezone: crate::alerting::render::Style::from_env(env)?.timezone,
        })
    }

    /// True when notifications are held at `time`.
    pub fn is_quiet(&self, time: DateTime<Utc>) -> bool {
        let local = time.with_timezone(&self.timezone).time();
        self.quiet_hours.iter().any(|w| w.contains(local))
    }

    /// True when `time` is inside a maintenance window: failures are expected, nobody is told.
    pub fn in_maintenance(&self, time: DateTime<Utc>) -> bool {
        let local = time.with_timezone(&self.timezone).time();
        self.maintenance.iter().any(|w| match w {
            Maintenance::Daily(window) => window.contains(local),
            Maintenance::Once { from, to } => *from <= time && time < *to,
        })
    }

    /// How old an incident must be before `channel` hears of it.
    pub fn joins_after(&self, channel: &str) -> i64 {
        self.channel_after_minutes
            .get(channel)
            .copied()
            .unwrap_or(0)
    }

    /// True when `channel` is told of a degraded monitor.
    pub fn takes_degraded(&self, channel: &str) -> bool {
        self.channel_degraded.get(channel).copied().unwrap_or(true)
    }

    /// The age in minutes of escalation step `index` (0-based): the schedule, then repeats.
    pub fn step_age(&self, index: u32) -> Option<i64> {
        let schedule = &self.escalation_minutes;
        let last = *schedule.last()?;
        let index = index as usize;
        if index < schedule.len() {
            Some(schedule[index])
        } else if self.repeat_minutes > 0 {
            let repeats = (index - schedule.len() + 1) as i64;
            Some(last + self.repeat_minutes * repeats)
        } else {
            None
        }
    }

    /// The latest step due at `age_minutes`, if any: the first tick at or after a step's age sends
    /// it, whatever the schedule's interval.
    pub fn latest_due_step(&self, age_minutes: i64) -> Option<u32> {
        let schedule = &self.escalation_minutes;
        let due_in_schedule = schedule.iter().rposition(|&m| m <= age_minutes)?;
        let last = schedule[schedule.len() - 1];
        if due_in_schedule + 1 == schedule.len() && self.repeat_minutes > 0 {
            let repeats = (age_minutes - last) / self.repeat_minutes;
            Some((due_in_schedule as i64 + repeats) as u32)
        } else {
            Some(due_in_schedule as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy(pairs: &[(&str, &str)]) -> Result<Policy, ConfigError> {
        Policy::from_env(
            &Env::from_pairs(pairs.iter().copied()),
            &[
                ChannelRule {
                    channel: "sms",
                    after: "SMS_AFTER_MINUTES",
                    degraded: "SMS_DEGRADED",
                    degraded_default: false,
                },
                ChannelRule {
                    channel: "wecom",
                    after: "WECOM_AFTER_MINUTES",
                    degraded: "WECOM_DEGRADED",
                    degraded_default: true,
                },
            ],
        )
    }

    #[test]
    fn defaults_follow_the_readme() {
        // SMS is not told of degraded monitors unless it says so; the other channels are.
        assert_eq!(
            policy(&[]).unwrap(),
            Policy {
                channel_degraded: [("sms".to_owned(), false)].into_iter().collect(),
                ..Policy::default()
            }
        );
        let sms = policy(&[("SMS_DEGRADED", "true"), ("WECOM_DEGRADED", "no")]).unwrap();
        assert!(sms.takes_degraded("sms") && !sms.takes_degraded("wecom"));
        assert!(sms.takes_degraded("console"));
        let bad = policy(&[("SMS_DEGRADED", "sometimes")])
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("SMS_DEGRADED") && bad.contains("true or false"),
            "{bad}"
        );
    }

    #[test]
    fn every_setting_parses() {
        let p = policy(&[
            ("ALERT_FAILURE_THRESHOLD", "3"),
            ("ALERT_RECOVERY_THRESHOLD", "2"),
            ("ALERT_ESCALATION_MINUTES", "0, 5, 30"),
            ("ALERT_REPEAT_MINUTES", "0"),
            ("SMS_AFTER_MINUTES", "60"),
            ("ALERT_QUIET_HOURS", "23:00-07:00, 12:00-13:00"),
            ("ALERT_TIMEZONE", "Europe/Berlin"),
        ])
        .unwrap();
        assert_eq!((p.failure_threshold, p.recovery_threshold), (3, 2));
        assert_eq!(p.escalation_minutes, vec![0, 5, 30]);
        assert_eq!(p.repeat_minutes, 0);
        assert_eq!(p.joins_after("sms"), 60);
        assert_eq!(p.joins_after("wecom"), 0);
        assert_eq!(p.quiet_hours.len(), 2);
        assert_eq!(p.timezone, chrono_tz::Europe::Berlin);
    }

    #[test]
    fn bad_settings_name_the_variable_and_value() {
        for (var, value) in [
            ("ALERT_FAILURE_THRESHOLD", "0"),
            ("ALERT_FAILURE_THRESHOLD", "two"),
            ("ALERT_ESCALATION_MINUTES", "10,0"),
            ("ALERT_ESCALATION_MINUTES", "0,ten"),
            ("ALERT_REPEAT_MINUTES", "-5"),
            ("SMS_AFTER_MINUTES", "an hour"),
            ("ALERT_QUIET_HOURS", "23-07"),
            ("ALERT_QUIET_HOURS", "25:00-07:00"),
            ("ALERT_QUIET_HOURS", "07:00-07:00"),
            ("ALERT_MAINTENANCE", "04:00"),
            (
                "ALERT_MAINTENANCE",
                "2026-12-01T04:00+08:00/2026-12-01T02:00+08:00",
            ),
            (
                "ALERT_MAINTENANCE",
                "2026-12-01 02:00/2026-12-01T04:00+08:00",
            ),
        ] {
            let text = policy(&[(var, value)]).unwrap_err().to_string();
            assert!(text.starts_with(var), "{var}={value}: {text}");
            assert!(
                text.contains(&format!("{value:?}")),
                "{var}={value}: {text}"
            );
        }
    }

    #[test]
    fn quiet_windows_may_wrap_midnight() {
        let p = policy(&[("ALERT_QUIET_HOURS", "23:00-07:00,12:00-13:00")]).unwrap();
        // Times in UTC; Shanghai is UTC+8.
        let at =
            |h, m| Utc.with_ymd_and_hms(2026, 1, 1, h, m, 0).unwrap() - chrono::Duration::hours(8);
        assert!(p.is_quiet(at(23, 0)) && p.is_quiet(at(2, 0)) && p.is_quiet(at(6, 59)));
        assert!(!p.is_quiet(at(7, 0)) && !p.is_quiet(at(22, 59)));
        assert!(p.is_quiet(at(12, 30)) && !p.is_quiet(at(13, 0)));
    }

    #[test]
    fn maintenance_windows_are_daily_or_once() {
        let p = policy(&[
            ("ALERT_TIMEZONE", "Asia/Shanghai"),
            (
                "ALERT_MAINTENANCE",
                "23:30-00:30, 2026-12-01T02:00+08:00/2026-12-01T04:00:00+08:00",
            ),
        ])
        .unwrap();
        assert_eq!(p.maintenance.len(), 2);
        // 2026-12-01 in Shanghai (UTC+8), given in UTC.
        let at = |d, h, m| {
            Utc.with_ymd_and_hms(2026, 11, 30, h, m, 0).unwrap() + chrono::Duration::days(d)
        };
        assert!(p.in_maintenance(at(1, 15, 45)) && p.in_maintenance(at(1, 16, 29))); // 23:45, 00:29
        assert!(!p.in_maintenance(at(1, 16, 30)) && !p.in_maintenance(at(1, 15, 29)));
        // 02:00-03:59 on the 1st, and not the same hours a day later.
        assert!(p.in_maintenance(at(0, 18, 0)) && p.in_maintenance(at(0, 19, 59)));
        assert!(!p.in_maintenance(at(0, 20, 0)) && !p.in_maintenance(at(1, 18, 0)));
    }

    #[test]
    fn a_step_is_due_at_the_first_tick_at_or_after_its_age() {
        let p = Policy::default();
        assert_eq!(p.latest_due_step(0), Some(0));
        assert_eq!(p.latest_due_step(9), Some(0));
        assert_eq!(p.latest_due_step(15), Some(1)); // a 5-minute schedule still gets the 10-minute notice
        assert_eq!(p.latest_due_step(60), Some(2));
        assert_eq!(p.latest_due_step(1439), Some(3));
        assert_eq!(p.latest_due_step(1440), Some(4));
        assert_eq!(p.latest_due_step(2879), Some(4));
        assert_eq!(p.latest_due_step(2880), Some(5)); // repeats every ALERT_REPEAT_MINUTES
        assert_eq!(p.step_age(5), Some(2880));
        let late_start = Policy {
            escalation_minutes: vec![5, 30],
            repeat_minutes: 0,
            ..Policy::default()
        };
        assert_eq!(late_start.latest_due_step(4), None);
        assert_eq!(late_start.latest_due_step(10_000), Some(1));
        assert_eq!(late_start.step_age(2), None);
    }
}
