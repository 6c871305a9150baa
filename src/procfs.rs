//! A Linux host's figures from the kernel's own words: CPU busy % from two `/proc/stat` samples,
//! memory used % from `/proc/meminfo`, disk used % from `df -P`'s blocks. lookout-agent reads them
//! on the host, host-check from the output of its command over SSH, which a hostile or broken
//! server writes: every figure is a whole number read strictly and added with checked arithmetic,
//! and one that cannot be (`inf`, `NaN`, `-100`, a sum past `u64`, less available than nothing) is
//! an error quoting its line, never a number judged.

/// How much of a line an error quotes.
const QUOTED_CHARS: usize = 120;

/// `line`, cut to [`QUOTED_CHARS`], as an error quotes it.
pub fn quoted(line: &str) -> String {
    let shown: String = line.chars().take(QUOTED_CHARS).collect();
    format!("{shown:?}")
}

/// A whole number of the kernel's (digits only: no sign, no `inf`, no `NaN`, no fraction).
fn whole(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Busy and total jiffies of a `cpu` line of `/proc/stat`.
fn cpu_times(line: &str) -> Result<(u64, u64), String> {
    let impossible = || format!("an impossible /proc/stat cpu line {}", quoted(line));
    let mut fields = line.split_whitespace();
    if fields.next() != Some("cpu") {
        return Err(format!(
            "expected the cpu line of /proc/stat, got {}",
            quoted(line)
        ));
    }
    let values = fields
        .map(whole)
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(impossible)?;
    if values.len() < 4 {
        return Err(impossible());
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total = values
        .iter()
        .take(8)
        .try_fold(0u64, |sum, v| sum.checked_add(*v))
        .ok_or_else(impossible)?;
    let idle = values[3]
        .checked_add(values.get(4).copied().unwrap_or(0))
        .ok_or_else(impossible)?;
    Ok((total.checked_sub(idle).ok_or_else(impossible)?, total))
}

/// CPU busy percent between two `cpu` lines of `/proc/stat`: an error quoting the line when one
/// is not a cpu line of whole numbers, or the counters ran backwards or stood still.
pub fn cpu_percent(before: &str, after: &str) -> Result<f64, String> {
    let cpu_line = |stat: &'_ str| {
        stat.lines()
            .find(|l| l.starts_with("cpu "))
            .unwrap_or(stat.lines().next().unwrap_or_default())
            .to_owned()
    };
    let (before, after) = (cpu_line(before), cpu_line(after));
    let (busy0, total0) = cpu_times(&before)?;
    let (busy1, total1) = cpu_times(&after)?;
    let backwards = || {
        format!(
            "the /proc/stat counters did not advance between {} and {}",
            quoted(&before),
            quoted(&after)
        )
    };
    let total = total1
        .checked_sub(total0)
        .filter(|t| *t > 0)
        .ok_or_else(backwards)?;
    let busy = busy1.checked_sub(busy0).ok_or_else(backwards)?;
    if busy > total {
        return Err(backwards());
    }
    Ok(percent(busy as f64, total as f64))
}

/// Memory used percent from `/proc/meminfo` (`MemTotal` less `MemAvailable`, both `<n> kB`): an
/// error quoting the line when one is missing or not a whole number, or more is available than
/// there is.
pub fn memory_percent(meminfo: &str) -> Result<f64, String> {
    let field = |name: &str| -> Result<u64, String> {
        let line = meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| format!("/proc/meminfo has no {name}"))?;
        let mut words = line[name.len()..].split_whitespace();
        match (words.next().and_then(whole), words.next(), words.next()) {
            (Some(value), Some("kB"), None) => Ok(value),
            _ => Err(format!(
                "expected `{name} <whole number> kB`, got {}",
                quoted(line)
            )),
        }
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    if total == 0 || available > total {
        return Err(format!(
            "impossible memory figures: MemTotal {total} kB, MemAvailable {available} kB"
        ));
    }
    Ok(percent((total - available) as f64, total as f64))
}

/// Disk used percent from a `df -P -k` line (`Filesystem 1024-blocks Used Available Capacity
/// Mounted-on`), as `df` counts it (used of used + available: the blocks reserved for root are
/// not available to others).
pub fn df_percent(line: &str) -> Result<f64, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let figures = (fields.len() >= 6)
        .then(|| Some((whole(fields[2])?, whole(fields[3])?)))
        .flatten();
    let (used, available) =
        figures.ok_or_else(|| format!("expected a df -P line, got {}", quoted(line)))?;
    let whole = used
        .checked_add(available)
        .ok_or_else(|| format!("impossible df figures in {}", quoted(line)))?;
    Ok(percent(used as f64, whole as f64))
}

/// `part` of `whole` in per cent, to one decimal (0 of nothing is 0), as `df` and `top` show it.
pub fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part * 1000.0 / whole).round() / 10.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_come_from_procs_own_words() {
        let before = "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n";
        let after = "cpu  150 0 150 850 50 0 0 0 0 0\n";
        // 100 busy of 200.
        assert_eq!(cpu_percent(before, after), Ok(50.0));
        assert!(cpu_percent(before, before).is_err());
        let meminfo = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n";
        assert_eq!(memory_percent(meminfo), Ok(75.0));
        assert!(memory_percent("MemTotal: 1 kB\n").is_err());
        assert_eq!((percent(96.0, 100.0), percent(1.0, 0.0)), (96.0, 0.0));
        assert_eq!(
            df_percent("/dev/vda1 100 96 4 96% /"),
            Ok(96.0),
            "used of used + available"
        );
    }

    #[test]
    fn impossible_figures_are_errors_quoting_their_line() {
        let max = u64::MAX;
        for (before, after) in [
            (format!("cpu  {max} {max} 0 0"), "cpu  1 1 1 1".to_owned()),
            ("cpu  1 0 1 1".into(), format!("cpu  {max} 1 0 {max} {max}")),
            ("cpu  -5 0 1 1".into(), "cpu  1 0 1 1".into()),
            ("cpu  inf 0 1 1".into(), "cpu  1 0 1 1".into()),
            ("cpu  1.5 0 1 1".into(), "cpu  1 0 1 1".into()),
            ("cpu  1 2".into(), "cpu  1 2".into()),
            ("cpu  9 9 9 9".into(), "cpu  1 1 1 1".into()),
            ("intr 1 2 3 4".into(), "cpu  1 1 1 1".into()),
        ] {
            let error = cpu_percent(&before, &after).expect_err(&before);
            assert!(
                error.contains("\"cpu") || error.contains("\"intr"),
                "{error}"
            );
        }
        for meminfo in [
            "MemTotal: inf kB\nMemAvailable: 1 kB",
            "MemTotal: NaN kB\nMemAvailable: 1 kB",
            "MemTotal: -100 kB\nMemAvailable: 1 kB",
            "MemTotal: 100 kB\nMemAvailable: 200 kB",
            "MemTotal: 0 kB\nMemAvailable: 0 kB",
            "MemTotal: 100\nMemAvailable: 20 kB",
            "MemTotal: 18446744073709551616 kB\nMemAvailable: 20 kB",
        ] {
            assert!(memory_percent(meminfo).is_err(), "{meminfo}");
        }
        for line in [
            "/dev/vda1 100 NaN 4 NaN% /",
            "/dev/vda1 100 -100 4 -100% /",
            "/dev/vda1 100 inf 4 96% /",
            &format!("/dev/vda1 100 {max} {max} 96% /"),
            "/dev/vda1 100 96",
        ] {
            let error = df_percent(line).expect_err(line);
            assert!(error.contains("/dev/vda1"), "{error}");
        }
    }
}
