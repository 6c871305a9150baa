//! The host's resources, read from Linux itself: CPU busy % (two `/proc/stat` samples), memory
//! used % (`MemAvailable` of `/proc/meminfo`), disk used % per path (`statvfs`, as `df` counts it),
//! and whether each named process runs (its exact name, as `pgrep -x` matches it).

use std::collections::BTreeMap;
use std::time::Duration;

pub use crate::pings::Resources;

/// How far apart the two CPU samples are.
pub const CPU_SAMPLE: Duration = Duration::from_secs(1);

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
    (total > 0).then(|| round(busy1.saturating_sub(busy0) as f64 * 100.0 / total as f64))
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
    (total > 0.0).then(|| round((total - available) * 100.0 / total))
}

/// Disk used percent of the file system holding `path`, as `df` counts it (the blocks reserved for
/// root are not available to others).
pub fn disk_percent(path: &str) -> std::io::Result<f64> {
    let c_path = std::ffi::CString::new(path)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    // SAFETY: `c_path` is a valid C string, and `stat` is a plain struct statvfs fills in.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let used = (stat.f_blocks - stat.f_bfree) as f64;
    let usable = used + stat.f_bavail as f64;
    Ok(if usable > 0.0 {
        round(used * 100.0 / usable)
    } else {
        0.0
    })
}

/// True when a process of exactly this name runs (`/proc/<pid>/comm`, which the kernel cuts to 15
/// bytes, as `pgrep -x` compares it).
pub fn process_runs(name: &str) -> bool {
    let wanted = &name.as_bytes()[..name.len().min(15)];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
            && std::fs::read(entry.path().join("comm"))
                .is_ok_and(|comm| comm.strip_suffix(b"\n").unwrap_or(&comm) == wanted)
    })
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Reads every figure once: the CPU over [`CPU_SAMPLE`].
pub async fn read(host: &str, disks: &[String], processes: &[String]) -> Result<Resources, String> {
    let stat = || {
        std::fs::read_to_string("/proc/stat").map_err(|e| {
            format!("/proc/stat could not be read ({e}): the agent reads Linux's /proc")
        })
    };
    let before = stat()?;
    tokio::time::sleep(CPU_SAMPLE).await;
    let after = stat()?;
    let cpu = cpu_percent(&before, &after).ok_or("/proc/stat has no cpu line")?;
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| format!("/proc/meminfo could not be read ({e})"))?;
    let memory = memory_percent(&meminfo).ok_or("/proc/meminfo has no MemAvailable")?;
    let mut used = BTreeMap::new();
    for path in disks {
        let percent = disk_percent(path)
            .map_err(|e| format!("the disk of {path} could not be read ({e}): is it mounted?"))?;
        used.insert(path.clone(), percent);
    }
    Ok(Resources {
        host: host.to_owned(),
        cpu,
        memory,
        disks: used,
        processes: processes
            .iter()
            .map(|p| (p.clone(), process_runs(p)))
            .collect(),
    })
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
    }
}
