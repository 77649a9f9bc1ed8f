//! Small measuring tools: percentiles, process CPU time and resident memory from /proc.

use std::time::Duration;

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn sorted(mut v: Vec<Duration>) -> Vec<Duration> {
    v.sort();
    v
}

pub fn mean(v: &[Duration]) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.iter().sum::<Duration>() / u32::try_from(v.len()).unwrap_or(u32::MAX)
}

/// User + system CPU time of this process.
pub fn cpu_time() -> Duration {
    cpu_in("/proc/self/stat")
}

/// User + system CPU time of the calling thread.
pub fn thread_cpu_time() -> Duration {
    cpu_in("/proc/thread-self/stat")
}

/// CPU time of this process's threads named one of `names`; a name ending in `*` matches the
/// names it starts. (A bare prefix once matched the main thread, `proem-bench`, as Proem's.)
pub fn threads_cpu_time(names: &[&str]) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let comm = comm.trim_end();
            names.iter().any(|n| match n.strip_suffix('*') {
                Some(prefix) => comm.starts_with(prefix),
                None => comm == *n,
            })
        })
        .map(|task| cpu_in(&task.path().join("stat").to_string_lossy()))
        .sum()
}

/// CPU time from a `/proc/…/stat` file.
fn cpu_in(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the `(comm)`: utime is the 14th field of the line, stime the 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15; `after` starts at field 3.
    let total = ticks(11) + ticks(12);
    Duration::from_millis(total * 10)
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

pub fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// µs below a millisecond, ms from there: the unit a table reader compares at a glance.
pub fn short(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}
