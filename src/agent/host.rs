//! The host's resources, read from Linux itself: CPU busy % (two `/proc/stat` samples), memory
//! used % (`MemAvailable` of `/proc/meminfo`), disk used % per path (`statvfs`, as `df` counts it),
//! and whether each named process runs (its exact name, as `pgrep -x` matches it).

use std::collections::BTreeMap;
use std::time::Duration;

pub use crate::pings::Resources;
use crate::procfs::{cpu_percent, memory_percent, percent};

/// How far apart the two CPU samples are.
pub const CPU_SAMPLE: Duration = Duration::from_secs(1);

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
    Ok(percent(used, used + stat.f_bavail as f64))
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
    let cpu = cpu_percent(&before, &after)?;
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| format!("/proc/meminfo could not be read ({e})"))?;
    let memory = memory_percent(&meminfo)?;
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
