//! Request counters by route template, method and status, rendered as Prometheus text. A read lock
//! and an atomic add on the hot path; the write lock only when a new series first appears.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    micros: AtomicU64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    series: RwLock<BTreeMap<Series, Counters>>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, micros: u64) {
        let key = Series {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        if let Ok(series) = self.series.read()
            && let Some(c) = series.get(&key)
        {
            c.requests.fetch_add(1, Ordering::Relaxed);
            c.micros.fetch_add(micros, Ordering::Relaxed);
            return;
        }
        if let Ok(mut series) = self.series.write() {
            let c = series.entry(key).or_default();
            c.requests.fetch_add(1, Ordering::Relaxed);
            c.micros.fetch_add(micros, Ordering::Relaxed);
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP proem_http_requests_total HTTP requests answered, by route template, method and status.\n");
        out.push_str("# TYPE proem_http_requests_total counter\n");
        let Ok(series) = self.series.read() else {
            return out;
        };
        for (s, c) in series.iter() {
            let _ = writeln!(
                out,
                "proem_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}",
                s.method,
                escape(&s.route),
                s.status,
                c.requests.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP proem_http_request_duration_seconds_sum Total time spent answering, by route template, method and status.\n");
        out.push_str("# TYPE proem_http_request_duration_seconds_sum counter\n");
        for (s, c) in series.iter() {
            let _ = writeln!(
                out,
                "proem_http_request_duration_seconds_sum{{method=\"{}\",route=\"{}\",status=\"{}\"}} {:.6}",
                s.method,
                escape(&s.route),
                s.status,
                c.micros.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}
