//! A process's CPU time and memory, read from /proc (Linux), for the load
//! generator and the soak test (`#[path]`-included by both: examples share
//! no crate of their own).

/// utime + stime of a process, in clock ticks.
#[allow(dead_code, reason = "the soak test reads memory only")]
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may contain spaces.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The CPU seconds between two readings of [`cpu_ticks`].
#[allow(dead_code, reason = "the soak test reads memory only")]
pub fn cpu_secs(before: u64, after: u64) -> f64 {
    // Linux reports CPU times in USER_HZ, 100 on every common configuration.
    after.saturating_sub(before) as f64 / 100.0
}

/// The resident set of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// The largest resident set a process has had, in KiB: the kernel's
/// high-water mark, which no sampling can miss.
#[allow(dead_code, reason = "the load generator samples the current size only")]
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// One size line of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
