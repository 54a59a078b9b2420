//! `bench compute`: issue 4's benchmarks of the compute service against the real release
//! binary, in one run, each part on a fresh `ferrostack up`:
//!
//! - `vm` ([`crate::compute_vm`]): a real TCG guest from `POST /servers` to its console
//!   marker, beside plain QEMU with the same flags on the same base image; one idle guest's
//!   QEMU memory; the control plane's memory with the qemu driver.
//! - `scale` ([`crate::compute_scale`]): `--servers` creates at `--concurrency` on the fake
//!   driver (`--fake-hosts`, quotas unlimited); the control plane's memory idle, with 50
//!   servers ACTIVE and after the run.
//! - `scheduler` ([`crate::compute_sched`]): the pure scheduler's decision over 1,000 and
//!   10,000 synthetic hosts, in this process.
//! - `placement` ([`crate::compute_sched`]): `GET /placement/allocation_candidates` with
//!   1,000 and 5,000 providers created through the placement API (fake driver, one host).
//!
//! A part that fails is reported as failed; the others still run. Every process a part
//! starts (the cloud, the guests' QEMUs, the plain QEMUs) is stopped by pid when it ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::ValueEnum;

use crate::compute_report::{ComputeReport, PlacementReport};
use crate::compute_server::{Cloud, CloudOptions};
use crate::report::{self, Machine};
use crate::{compute_scale, compute_sched, compute_vm, server};

/// One part of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Vm,
    Scale,
    Scheduler,
    Placement,
}

/// Options of `bench compute`.
#[derive(clap::Args, Debug, Clone)]
pub struct ComputeArgs {
    /// Parts to run, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Part::Vm, Part::Scale, Part::Scheduler, Part::Placement])]
    pub parts: Vec<Part>,
    /// The tiny guest image (qcow2). Default: the newest
    /// `$HOME/.cache/ferrostack/guest/*/tiny.qcow2` (built by the guest-image crate, e.g. by
    /// `cargo xtask test`).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Timed boots per side after the warm-up.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Servers created in the fake-driver run (after the first 50).
    #[arg(long, default_value_t = 1000)]
    pub servers: usize,
    /// Concurrent `POST /servers` (one keep-alive connection each).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Fake hosts (agents) of the fake-driver run.
    #[arg(long, default_value_t = 4)]
    pub fake_hosts: u32,
    /// Host counts of the scheduler series.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000, 10_000])]
    pub sched_hosts: Vec<usize>,
    /// Decisions timed per scheduler series (at most 20 s each).
    #[arg(long, default_value_t = 1000)]
    pub sched_iterations: usize,
    /// Resource-provider counts of the placement series (created cumulatively).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000, 5000])]
    pub providers: Vec<usize>,
    /// Requests timed per placement series (at most 60 s each).
    #[arg(long, default_value_t = 200)]
    pub placement_requests: usize,
}

/// The newest cached `tiny.qcow2` under `$HOME/.cache/ferrostack/guest` (the layout of
/// `guest_image::ensure_image`, which this crate cannot call: see the report).
fn cached_image() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set"))?;
    let root = PathBuf::from(home).join(".cache/ferrostack/guest");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(&root)
        .with_context(|| format!("read {}", root.display()))?
        .flatten()
    {
        let p = e.path().join("tiny.qcow2");
        if let Ok(t) = std::fs::metadata(&p).and_then(|m| m.modified()) {
            if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                best = Some((t, p));
            }
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| {
        anyhow!(
            "no tiny.qcow2 under {}: build it (e.g. `cargo test -p compute-virt-qemu`) or pass --image",
            root.display()
        )
    })
}

fn start(
    args: &crate::Args,
    bin: &Path,
    toml: String,
    up_args: Vec<String>,
) -> anyhow::Result<Cloud> {
    let cloud = Cloud::start(&CloudOptions {
        bin,
        toml,
        up_args,
        bcrypt_cost: args.bcrypt_cost,
    })?;
    eprintln!(
        "ferrostack pid {} at http://{} ({})",
        cloud.pid,
        cloud.addr,
        cloud.data_dir.display()
    );
    Ok(cloud)
}

async fn part_vm(
    args: &crate::Args,
    ca: &ComputeArgs,
    bin: &Path,
    image: &Path,
) -> anyhow::Result<compute_vm::VmReport> {
    let cloud = start(
        args,
        bin,
        "[compute]\ndriver = \"qemu\"\naccel = \"tcg\"\n".into(),
        vec!["--seed-image".into(), format!("tiny={}", image.display())],
    )?;
    let scratch = tempfile::Builder::new()
        .prefix("ferrostack-plainvm-")
        .tempdir()?;
    let r = compute_vm::run_vms(&cloud, args, ca.reps.max(1), scratch.path())
        .await
        .with_context(|| format!("server log:\n{}", cloud.log_tail()));
    cloud.stop();
    r
}

async fn part_scale(
    args: &crate::Args,
    ca: &ComputeArgs,
    bin: &Path,
    image: &Path,
) -> anyhow::Result<compute_scale::ScaleReport> {
    let toml = format!(
        "[compute]\ndriver = \"fake\"\nfake_hosts = {}\nquota_instances = -1\nquota_cores = -1\nquota_ram = -1\n",
        ca.fake_hosts
    );
    let cloud = start(
        args,
        bin,
        toml,
        vec!["--seed-image".into(), format!("tiny={}", image.display())],
    )?;
    let r = compute_scale::run_scale(
        &cloud,
        ca.fake_hosts,
        ca.servers,
        ca.concurrency,
        crate::secs(args.idle),
    )
    .await
    .with_context(|| format!("server log:\n{}", cloud.log_tail()));
    cloud.stop();
    r
}

async fn part_placement(
    args: &crate::Args,
    ca: &ComputeArgs,
    bin: &Path,
) -> anyhow::Result<PlacementReport> {
    let cloud = start(
        args,
        bin,
        "[compute]\ndriver = \"fake\"\n".into(),
        Vec::new(),
    )?;
    let api = cloud.admin().await?;
    let mut rep = PlacementReport::default();
    let mut have = 0;
    let mut sizes = ca.providers.clone();
    sizes.sort_unstable();
    for &n in &sizes {
        if n > have {
            eprintln!("compute placement: creating providers {have}..{n}...");
            let secs = compute_sched::create_providers(&api, have, n - have, 8)
                .await
                .with_context(|| format!("server log:\n{}", cloud.log_tail()))?;
            rep.created.push((n - have, secs));
            have = n;
        }
        rep.load
            .push(format!("at {n} providers: {}", server::load_average()));
        for limit in [None, Some(10)] {
            let s = compute_sched::candidates_series(
                &api,
                n,
                limit,
                ca.placement_requests,
                Duration::from_secs(60),
            )
            .await?;
            eprintln!(
                "  {} at {n}: p50 {:.2} ms, p99 {:.2} ms ({} samples, {} candidates)",
                s.label, s.p50_ms, s.p99_ms, s.n, s.result
            );
            rep.series.push(s);
        }
    }
    cloud.stop();
    Ok(rep)
}

pub(crate) async fn bench(args: &crate::Args, ca: &ComputeArgs) -> anyhow::Result<ComputeReport> {
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut rep = ComputeReport {
        machine: Machine::probe(),
        load_average: (server::load_average(), String::new()),
        ..ComputeReport::default()
    };
    let needs_server = ca.parts.iter().any(|p| *p != Part::Scheduler);
    let bin = if needs_server {
        Some(server::resolve_binary(args.no_build)?)
    } else {
        None
    };
    let needs_image = ca.parts.iter().any(|p| matches!(p, Part::Vm | Part::Scale));
    let image = match (&ca.image, needs_image) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(cached_image()?),
        (None, false) => None,
    };
    if let Some(i) = &image {
        eprintln!("guest image: {}", i.display());
    }
    let err = |e: anyhow::Error| format!("{e:#}");
    for part in &ca.parts {
        match (part, &bin, &image) {
            (Part::Vm, Some(bin), Some(image)) => {
                rep.vm = Some(part_vm(args, ca, bin, image).await.map_err(err));
            }
            (Part::Scale, Some(bin), Some(image)) => {
                rep.scale = Some(part_scale(args, ca, bin, image).await.map_err(err));
            }
            (Part::Placement, Some(bin), _) => {
                rep.placement = Some(part_placement(args, ca, bin).await.map_err(err));
            }
            (Part::Scheduler, _, _) => {
                rep.scheduler_load = server::load_average();
                for &n in &ca.sched_hosts {
                    let s = compute_sched::scheduler_series(
                        n,
                        ca.sched_iterations,
                        Duration::from_secs(20),
                    );
                    eprintln!(
                        "scheduler, {n} hosts: p50 {:.3} ms, p99 {:.3} ms ({} decisions, {} hosts pass)",
                        s.p50_ms, s.p99_ms, s.n, s.result
                    );
                    rep.scheduler.push(s);
                }
            }
            _ => {}
        }
        if let Some(Err(e)) = rep.vm.as_ref().filter(|_| *part == Part::Vm) {
            eprintln!("vm part failed: {e}");
        }
        if let Some(Err(e)) = rep.scale.as_ref().filter(|_| *part == Part::Scale) {
            eprintln!("scale part failed: {e}");
        }
        if let Some(Err(e)) = rep.placement.as_ref().filter(|_| *part == Part::Placement) {
            eprintln!("placement part failed: {e}");
        }
    }
    rep.load_average.1 = server::load_average();
    rep.date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    rep.commit = report::git_commit(&workspace);
    let cmdline: Vec<String> = std::env::args().skip(1).collect();
    rep.command = format!("cargo xtask bench -- {}", cmdline.join(" "));
    Ok(rep)
}
