//! The load generator: closed-loop workers, each owning one keep-alive HTTP/1.1 connection
//! (hyper's low-level client, no pool), sending the same request back to back.
//!
//! Every request's start and duration is kept (microseconds); the statistics are computed at
//! the end. Throughput counts each request by the share of its lifetime that falls inside the
//! measurement window, so slow requests that overlap the window's edges (bcrypt-bound token
//! issue at high concurrency) are neither lost nor double-counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request, sent again and again.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    /// Origin-form path with query, e.g. `/identity/v3/projects`.
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Call {
    pub fn new(method: Method, path: &str) -> Call {
        Call {
            method,
            path: path.to_string(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> anyhow::Result<Call> {
        let v = HeaderValue::from_str(value).with_context(|| format!("header {name}"))?;
        self.headers.push((HeaderName::from_static(name), v));
        Ok(self)
    }

    pub fn json(mut self, body: &serde_json::Value) -> Call {
        self.body = Bytes::from(body.to_string());
        self
    }

    fn request(&self, host: &HeaderValue) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(HOST, host);
        if !self.body.is_empty() {
            b = b.header(CONTENT_TYPE, "application/json");
        }
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        Ok(b.body(Full::new(self.body.clone()))?)
    }
}

/// A response, fully read.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            host: HeaderValue::from_str(&addr.to_string())?,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    pub async fn send(&mut self, call: &Call) -> anyhow::Result<Reply> {
        self.sender.ready().await?;
        let resp = self.sender.send_request(call.request(&self.host)?).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Sends one request on a fresh connection (setup calls).
pub async fn once(addr: SocketAddr, call: &Call) -> anyhow::Result<Reply> {
    Conn::open(addr).await?.send(call).await
}

/// One request as the worker saw it, times relative to the run's start, in microseconds.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub start_us: u64,
    pub dur_us: u32,
    pub ok: bool,
}

#[derive(Default)]
struct WorkerLog {
    samples: Vec<Sample>,
    errors: u64,
    first_error: Option<String>,
}

impl WorkerLog {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

async fn worker(addr: SocketAddr, call: Arc<Call>, t0: Instant, stop_at: Instant) -> WorkerLog {
    let mut log = WorkerLog {
        samples: Vec::with_capacity(4096),
        ..Default::default()
    };
    let mut conn: Option<Conn> = None;
    while Instant::now() < stop_at {
        let c = match conn.as_mut() {
            Some(c) if !c.is_closed() => c,
            _ => match Conn::open(addr).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    log.error(format!("connect: {e:#}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let start = Instant::now();
        let res = c.send(&call).await;
        let dur = start.elapsed();
        let sample = |ok| Sample {
            start_us: micros(start.duration_since(t0)),
            dur_us: u32::try_from(micros(dur)).unwrap_or(u32::MAX),
            ok,
        };
        match res {
            Ok(r) if r.status.is_success() => log.samples.push(sample(true)),
            Ok(r) => {
                log.samples.push(sample(false));
                let body = String::from_utf8_lossy(&r.body);
                log.error(format!(
                    "HTTP {}: {}",
                    r.status.as_u16(),
                    body.chars().take(200).collect::<String>()
                ));
            }
            Err(e) => {
                log.error(format!("transport: {e:#}"));
                conn = None;
            }
        }
    }
    log
}

/// What one scenario at one concurrency measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Successful requests that overlap the window: the latency sample.
    pub sampled: u64,
    /// Successful requests per second over the window (fractional accounting).
    pub rate: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Non-2xx responses and transport failures over the whole run, warm-up and drain
    /// included.
    pub errors: u64,
    pub first_error: Option<String>,
}

/// A closed loop: `concurrency` workers sending `call`.
pub struct Load {
    pub call: Call,
    pub concurrency: usize,
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<WorkerLog>>,
    w0: u64,
    w1: u64,
) -> anyhow::Result<Outcome> {
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let log = t.await.map_err(|e| anyhow!("worker: {e}"))?;
        samples.extend(log.samples);
        errors += log.errors;
        first_error = first_error.or(log.first_error);
    }
    let mut out = summarize(&samples, w0, w1);
    out.errors = errors;
    out.first_error = first_error;
    Ok(out)
}

/// Runs the `main` load, and the `background` one alongside it when given, for
/// `warmup + duration`; workers then finish the request they have in flight (drain) so that
/// nothing bleeds into the next run. Returns the outcome of each.
pub async fn run(
    addr: SocketAddr,
    main: Load,
    background: Option<Load>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(Outcome, Option<Outcome>)> {
    let t0 = Instant::now();
    let stop_at = t0 + warmup + duration;
    let spawn = |load: Load| {
        let call = Arc::new(load.call);
        (0..load.concurrency)
            .map(|_| tokio::spawn(worker(addr, call.clone(), t0, stop_at)))
            .collect::<Vec<_>>()
    };
    let bg = background.map(spawn);
    let fg = spawn(main);
    let (w0, w1) = (micros(warmup), micros(warmup + duration));
    let out = collect(fg, w0, w1).await?;
    let bg_out = match bg {
        Some(tasks) => Some(collect(tasks, w0, w1).await?),
        None => None,
    };
    Ok((out, bg_out))
}

/// Statistics over the window `[w0, w1)` (microseconds since the start).
pub fn summarize(samples: &[Sample], w0: u64, w1: u64) -> Outcome {
    let mut rate_sum = 0.0;
    let mut lat: Vec<u32> = Vec::with_capacity(samples.len());
    for s in samples.iter().filter(|s| s.ok) {
        let end = s.start_us + u64::from(s.dur_us);
        let overlap = end.min(w1).saturating_sub(s.start_us.max(w0));
        if s.dur_us == 0 {
            if end >= w0 && end < w1 {
                rate_sum += 1.0;
            }
        } else {
            rate_sum += overlap as f64 / f64::from(s.dur_us);
        }
        if end >= w0 && s.start_us < w1 {
            lat.push(s.dur_us);
        }
    }
    lat.sort_unstable();
    let window_secs = w1.saturating_sub(w0) as f64 / 1e6;
    Outcome {
        sampled: lat.len() as u64,
        rate: if window_secs > 0.0 {
            rate_sum / window_secs
        } else {
            0.0
        },
        p50_ms: percentile(&lat, 50.0),
        p99_ms: percentile(&lat, 99.0),
        max_ms: lat.last().map(|&m| f64::from(m) / 1000.0),
        ..Default::default()
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
pub fn percentile(sorted_us: &[u32], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted_us.len()) - 1;
    Some(f64::from(sorted_us[idx]) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[7000], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn window_accounting_counts_overlap_fractions() {
        let s = |start_us, dur_us, ok| Sample {
            start_us,
            dur_us,
            ok,
        };
        // window 1s..3s; one request fully inside, one straddling the start by half, one
        // straddling the end by a quarter, one failed, one entirely before.
        let samples = [
            s(1_500_000, 100_000, true),
            s(500_000, 1_000_000, true),
            s(2_750_000, 1_000_000, true),
            s(2_000_000, 10, false),
            s(0, 100_000, true),
        ];
        let o = summarize(&samples, 1_000_000, 3_000_000);
        assert_eq!(o.sampled, 3);
        assert!(
            (o.rate - (1.0 + 0.5 + 0.25) / 2.0).abs() < 1e-9,
            "{}",
            o.rate
        );
        assert_eq!(o.max_ms, Some(1000.0));
    }
}
