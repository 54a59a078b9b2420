//! `bench compute`, scale on the fake driver: many `POST /servers` at a fixed concurrency
//! (throughput of accepted creates, latency of each POST, latency from POST to ACTIVE per
//! server), and the control plane's resident memory idle, with 50 servers ACTIVE and after
//! the whole run.
//!
//! ACTIVE is observed by one poller that lists `GET /servers?status=ACTIVE` (every page,
//! `limit=1000` with `marker`) back to back while the creates run; a server's latency is
//! from the start of its POST to the end of the first listing that shows it ACTIVE, so it is
//! over-stated by up to one listing (the report gives the listing's own duration).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure};
use http::Method;
use serde_json::Value;

use crate::compute_server::{self as cs, Api, Cloud};
use crate::load::Conn;
use crate::server;

/// How long every created server may take to become ACTIVE after the last create.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(300);

/// One batch of creates.
#[derive(Clone, Debug, Default)]
pub struct CreateRun {
    pub n: usize,
    pub concurrency: usize,
    /// First POST sent to last 202 received.
    pub accept_secs: f64,
    /// First POST sent to the last server seen ACTIVE.
    pub all_active_secs: f64,
    /// Per server, milliseconds: POST to 202, POST to ACTIVE (seen).
    pub post_ms: Vec<f64>,
    pub active_ms: Vec<f64>,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Servers never seen ACTIVE in time.
    pub not_active: usize,
    /// Duration of each status listing, milliseconds.
    pub poll_ms: Vec<f64>,
    /// CPU cores the server used, on average, from the first POST to the last ACTIVE.
    pub server_cores: f64,
}

/// What the fake-driver part measured.
#[derive(Clone, Debug, Default)]
pub struct ScaleReport {
    pub fake_hosts: u32,
    pub warm: CreateRun,
    pub run: CreateRun,
    /// Labelled control-plane memory readings.
    pub memory: Vec<(String, server::Memory)>,
    /// How the servers spread over the fake hosts (`OS-EXT-SRV-ATTR:host` → count).
    pub per_host: Vec<(String, usize)>,
    pub load: Vec<String>,
}

/// Lists every ACTIVE server id (all pages).
async fn list_active(api: &Api, conn: &mut Conn) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            Some(m) => format!("/servers?status=ACTIVE&limit=1000&marker={m}"),
            None => "/servers?status=ACTIVE&limit=1000".to_string(),
        };
        let call = api.nova(Method::GET, &path, None)?;
        let r = conn.send(&call).await?;
        let v = cs::check(&call, &r, 200)?;
        let page: Vec<String> = v["servers"]
            .as_array()
            .ok_or_else(|| anyhow!("no servers list: {v}"))?
            .iter()
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .collect();
        let full = page.len() >= 1000;
        marker = page.last().cloned();
        ids.extend(page);
        if !full {
            return Ok(ids);
        }
    }
}

/// What the create workers and the poller share.
#[derive(Default)]
struct Shared {
    /// id → POST start (seconds since t0).
    started: HashMap<String, f64>,
    post_ms: Vec<f64>,
    accepted_at: f64,
    errors: usize,
    first_error: Option<String>,
}

/// Creates `n` servers with `concurrency` workers and waits until all are ACTIVE.
pub async fn create_many(
    api: &Api,
    cloud_pid: u32,
    (image, flavor, prefix): (&str, &str, &str),
    n: usize,
    concurrency: usize,
) -> anyhow::Result<CreateRun> {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let done_workers = Arc::new(AtomicUsize::new(0));
    let tick = server::clock_ticks() as f64;
    let cpu0 = server::cpu_ticks(&cloud_pid.to_string())?;
    let t0 = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (api, shared, next, done) = (
            api.clone(),
            shared.clone(),
            next.clone(),
            done_workers.clone(),
        );
        let (image, flavor, prefix) = (image.to_string(), flavor.to_string(), prefix.to_string());
        workers.spawn(async move {
            let res: anyhow::Result<()> = async {
                let mut conn = Conn::open(api.addr).await?;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    let body = Api::server_body(&image, &flavor, &format!("{prefix}-{i}"));
                    if conn.is_closed() {
                        conn = Conn::open(api.addr).await?;
                    }
                    let s = t0.elapsed().as_secs_f64();
                    let r = api.create_server(&mut conn, &body).await;
                    let e = t0.elapsed().as_secs_f64();
                    let mut sh = shared.lock().map_err(|_| anyhow!("poisoned"))?;
                    match r {
                        Ok(id) => {
                            sh.started.insert(id, s);
                            sh.post_ms.push((e - s) * 1000.0);
                            sh.accepted_at = sh.accepted_at.max(e);
                        }
                        Err(err) => {
                            sh.errors += 1;
                            sh.first_error.get_or_insert_with(|| format!("{err:#}"));
                        }
                    }
                }
            }
            .await;
            done.fetch_add(1, Ordering::Relaxed);
            res
        });
    }
    // The poller: list ACTIVE servers back to back until every accepted create is seen.
    let mut poll = Conn::open(api.addr).await?;
    let mut seen: HashMap<String, f64> = HashMap::new();
    let mut poll_ms = Vec::new();
    let mut creates_done_at: Option<Instant> = None;
    loop {
        let p0 = Instant::now();
        let ids = list_active(api, &mut poll).await?;
        poll_ms.push(p0.elapsed().as_secs_f64() * 1000.0);
        let now = t0.elapsed().as_secs_f64();
        let (pending, total) = {
            let sh = shared.lock().map_err(|_| anyhow!("poisoned"))?;
            let active: HashSet<&String> = ids.iter().collect();
            for id in sh.started.keys() {
                if active.contains(id) {
                    seen.entry(id.clone()).or_insert(now);
                }
            }
            (sh.started.len() - seen.len(), sh.started.len())
        };
        let creates_done = done_workers.load(Ordering::Relaxed) >= concurrency.max(1);
        if creates_done {
            let at = *creates_done_at.get_or_insert_with(Instant::now);
            if pending == 0 || at.elapsed() > SETTLE_TIMEOUT {
                if pending > 0 {
                    eprintln!("  {pending} of {total} servers not ACTIVE after {SETTLE_TIMEOUT:?}");
                }
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while let Some(r) = workers.join_next().await {
        r??;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = server::cpu_ticks(&cloud_pid.to_string())?;
    let sh = shared.lock().map_err(|_| anyhow!("poisoned"))?;
    let active_ms: Vec<f64> = sh
        .started
        .iter()
        .filter_map(|(id, s)| seen.get(id).map(|t| (t - s) * 1000.0))
        .collect();
    Ok(CreateRun {
        n,
        concurrency,
        accept_secs: sh.accepted_at,
        all_active_secs: seen.values().copied().fold(0.0, f64::max),
        post_ms: sh.post_ms.clone(),
        active_ms,
        errors: sh.errors,
        first_error: sh.first_error.clone(),
        not_active: sh.started.len() - seen.len(),
        poll_ms,
        server_cores: (cpu1 - cpu0) as f64 / tick / wall,
    })
}

/// Counts servers per `OS-EXT-SRV-ATTR:host` (admin detail listing, every page).
async fn per_host(api: &Api) -> anyhow::Result<Vec<(String, usize)>> {
    let mut conn = Conn::open(api.addr).await?;
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            Some(m) => format!("/servers/detail?limit=1000&marker={m}"),
            None => "/servers/detail?limit=1000".to_string(),
        };
        let call = api.nova(Method::GET, &path, None)?;
        let r = conn.send(&call).await?;
        let v: Value = cs::check(&call, &r, 200)?;
        let page = v["servers"].as_array().cloned().unwrap_or_default();
        for s in &page {
            let h = s["OS-EXT-SRV-ATTR:host"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            *counts.entry(h).or_default() += 1;
        }
        let full = page.len() >= 1000;
        marker = page
            .last()
            .and_then(|s| s["id"].as_str().map(str::to_string));
        if !full {
            break;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort();
    Ok(v)
}

/// Runs the fake-driver part on `cloud` (driver fake, `fake_hosts`, quotas unlimited).
pub async fn run_scale(
    cloud: &Cloud,
    fake_hosts: u32,
    n: usize,
    concurrency: usize,
    idle: Duration,
) -> anyhow::Result<ScaleReport> {
    let api = cloud.admin().await?;
    let image = api.active_image("tiny").await?;
    let flavor = api.flavor_id("m1.tiny").await?;
    let mut rep = ScaleReport {
        fake_hosts,
        ..ScaleReport::default()
    };
    tokio::time::sleep(idle).await;
    rep.memory.push((
        "idle after start (fake driver, no server)".into(),
        server::memory(cloud.pid)?,
    ));
    rep.load.push(format!("start: {}", server::load_average()));
    eprintln!("compute scale: 50 servers (fake driver)...");
    rep.warm = create_many(&api, cloud.pid, (&image, &flavor, "warm"), 50, concurrency).await?;
    ensure!(
        rep.warm.errors == 0 && rep.warm.not_active == 0,
        "the first 50 creates: {} errors, {} not ACTIVE ({:?})",
        rep.warm.errors,
        rep.warm.not_active,
        rep.warm.first_error
    );
    tokio::time::sleep(idle).await;
    rep.memory.push((
        "idle with 50 servers ACTIVE (fake driver)".into(),
        server::memory(cloud.pid)?,
    ));
    rep.load
        .push(format!("after 50 creates: {}", server::load_average()));
    eprintln!("compute scale: {n} servers at concurrency {concurrency}...");
    rep.run = create_many(&api, cloud.pid, (&image, &flavor, "s"), n, concurrency).await?;
    eprintln!(
        "  accepted {n} in {:.1} s ({:.1}/s), all ACTIVE at {:.1} s, {} errors, {} not ACTIVE",
        rep.run.accept_secs,
        n as f64 / rep.run.accept_secs.max(1e-9),
        rep.run.all_active_secs,
        rep.run.errors,
        rep.run.not_active
    );
    rep.load
        .push(format!("after {n} creates: {}", server::load_average()));
    tokio::time::sleep(idle).await;
    rep.memory.push((
        format!(
            "idle with {} servers ACTIVE (fake driver)",
            50 + n - rep.run.errors
        ),
        server::memory(cloud.pid)?,
    ));
    rep.per_host = per_host(&api).await?;
    Ok(rep)
}
