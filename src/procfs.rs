//! A Linux host's figures from the kernel's own words: CPU busy % from two `/proc/stat` samples,
//! memory used % from `/proc/meminfo`. lookout-agent reads them on the host, host-check from the
//! output of its command over SSH.

/// Busy and total jiffies of the `cpu` line of `/proc/stat`.
fn cpu_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// CPU busy percent between two `/proc/stat` readings.
pub fn cpu_percent(before: &str, after: &str) -> Option<f64> {
    let (busy0, total0) = cpu_times(before)?;
    let (busy1, total1) = cpu_times(after)?;
    let total = total1.checked_sub(total0)?;
    (total > 0).then(|| percent(busy1.saturating_sub(busy0) as f64, total as f64))
}

/// Memory used percent from `/proc/meminfo` (`MemTotal` less `MemAvailable`).
pub fn memory_percent(meminfo: &str) -> Option<f64> {
    let field = |name: &str| {
        meminfo.lines().find_map(|l| {
            l.strip_prefix(name)?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    (total > 0.0).then(|| percent(total - available, total))
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
        assert_eq!(cpu_percent(before, after), Some(50.0));
        assert_eq!(cpu_percent(before, before), None);
        let meminfo = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n";
        assert_eq!(memory_percent(meminfo), Some(75.0));
        assert_eq!(memory_percent("MemTotal: 1 kB\n"), None);
        assert_eq!((percent(96.0, 100.0), percent(1.0, 0.0)), (96.0, 0.0));
    }
}
