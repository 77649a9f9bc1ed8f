//! What this process has mapped, from `/proc/self/smaps` (Linux).

use std::path::Path;

/// Resident bytes of this process's maps of the file at `path`: 0 when nothing maps it.
pub fn mapped_bytes(path: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let name = path.to_str().expect("a UTF-8 path");
    let mut in_map = false;
    let mut total = 0;
    for line in smaps.lines() {
        // A map's first line starts with its address range; its fields' lines with `Name:`.
        let is_header = line
            .split_whitespace()
            .next()
            .is_some_and(|first| first.contains('-') && !first.ends_with(':'));
        if is_header {
            in_map = line.ends_with(name);
        } else if in_map && let Some(kb) = line.strip_prefix("Rss:") {
            let kb: u64 = kb
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .expect("Rss in kB");
            total += kb * 1024;
        }
    }
    total
}
