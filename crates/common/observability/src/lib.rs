//! Logs and metrics: the `tracing` subscriber set-up and a small Prometheus registry of request
//! counts and latencies per route. Knows nothing of HTTP frameworks or services.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `format` is `text` or `json`. Safe to call more than once
/// (later calls are ignored).
pub fn init_tracing(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request metrics keyed by (service, method, route, status).
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, String, u16), Series>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one finished request.
    pub fn observe(&self, service: &str, method: &str, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let key = (
            service.to_string(),
            method.to_string(),
            route.to_string(),
            status,
        );
        let Ok(mut map) = self.series.lock() else {
            return;
        };
        let s = map.entry(key).or_default();
        s.count += 1;
        s.sum += secs;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition of all series.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP ferrostack_http_requests_total HTTP requests handled.\n");
        out.push_str("# TYPE ferrostack_http_requests_total counter\n");
        let Ok(map) = self.series.lock() else {
            return out;
        };
        for ((svc, m, r, st), s) in map.iter() {
            let _ = writeln!(
                out,
                "ferrostack_http_requests_total{{service=\"{svc}\",method=\"{m}\",route=\"{}\",status=\"{st}\"}} {}",
                escape(r),
                s.count
            );
        }
        out.push_str("# HELP ferrostack_http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE ferrostack_http_request_duration_seconds histogram\n");
        for ((svc, m, r, st), s) in map.iter() {
            let labels = format!(
                "service=\"{svc}\",method=\"{m}\",route=\"{}\",status=\"{st}\"",
                escape(r)
            );
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "ferrostack_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "ferrostack_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "ferrostack_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "ferrostack_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_buckets() {
        let m = Metrics::new();
        m.observe(
            "identity",
            "GET",
            "/v3/projects",
            200,
            Duration::from_millis(2),
        );
        m.observe(
            "identity",
            "GET",
            "/v3/projects",
            200,
            Duration::from_millis(30),
        );
        let text = m.render();
        assert!(text.contains(
            "ferrostack_http_requests_total{service=\"identity\",method=\"GET\",route=\"/v3/projects\",status=\"200\"} 2"
        ));
        assert!(text.contains("le=\"0.0025\"} 1"));
        assert!(text.contains("le=\"+Inf\"} 2"));
    }
}
