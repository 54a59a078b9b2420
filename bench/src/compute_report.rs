//! The report of `bench compute`: a Markdown section under "## Compute" in BENCHMARKS.md (one
//! per commit, newest first, replaced on re-run), with a short reading of each number.

use std::fmt::Write as _;

use crate::compute_scale::{CreateRun, ScaleReport};
use crate::compute_sched::Series;
use crate::compute_server as cs;
use crate::compute_vm::{Boot, VmReport};
use crate::report::{Machine, Place};
use crate::server::Memory;

/// Where `bench compute --write` puts its runs.
pub const PLACE: Place = Place {
    results: "<!-- bench:compute-results (sections below are written by `cargo xtask bench -- compute --write`) -->",
    run: "bench:compute-run",
    end: "bench:compute-end",
    heading: "## Compute",
};

/// Control-plane overhead target of the real-VM boot (issue 4, acceptance 5).
pub const OVERHEAD_TARGET: f64 = 0.10;
/// Scheduler decision target at 10,000 hosts, p99, ms.
pub const SCHED_P99_TARGET_MS: f64 = 10.0;

/// Everything one `bench compute` run produced; a part that failed has its error instead.
#[derive(Clone, Debug, Default)]
pub struct ComputeReport {
    pub date: String,
    pub commit: String,
    pub machine: Machine,
    pub command: String,
    pub load_average: (String, String),
    pub vm: Option<Result<VmReport, String>>,
    pub scale: Option<Result<ScaleReport, String>>,
    pub scheduler: Vec<Series>,
    pub scheduler_load: String,
    pub placement: Option<Result<PlacementReport, String>>,
}

/// The placement part.
#[derive(Clone, Debug, Default)]
pub struct PlacementReport {
    pub series: Vec<Series>,
    /// (providers created in this step, seconds).
    pub created: Vec<(usize, f64)>,
    pub load: Vec<String>,
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn f(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "—".into()
    } else {
        format!("{x:.digits$}")
    }
}

fn ms(x: f64) -> String {
    match x {
        x if x.is_nan() => "—".into(),
        x if x >= 100.0 => format!("{x:.0}"),
        x if x >= 10.0 => format!("{x:.1}"),
        x => format!("{x:.2}"),
    }
}

fn runs(v: &[Boot], pick: fn(&Boot) -> f64) -> String {
    v.iter()
        .map(|b| format!("{:.2}", pick(b)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn med(v: &[Boot], pick: fn(&Boot) -> f64) -> f64 {
    cs::median(&v.iter().map(pick).collect::<Vec<_>>())
}

fn failed(s: &mut String, what: &str, e: &str) {
    let _ = writeln!(s, "**{what} failed:** `{}`\n", e.replace('`', "'"));
}

fn vm_section(s: &mut String, r: &VmReport) {
    s.push_str("#### (a) Real guest boot: API vs plain QEMU (TCG, m1.tiny, no network)\n\n");
    s.push_str(
        "| side | runs: start → `booted` s | median start → QEMU pid file s | median `booted` s | median QEMU → `booted` s | median `ready` s | other |\n",
    );
    s.push_str("| --- | --- | ---: | ---: | ---: | ---: | --- |\n");
    let _ = writeln!(
        s,
        "| API: `POST /servers` → marker in `instances/<uuid>/console.log` | {} | {} | {} | {} | {} | POST→202 {} s, POST→ACTIVE {} s, DELETE→404 {} s (medians) |",
        runs(&r.api, |b| b.booted),
        f(med(&r.api, |b| b.qemu_up), 2),
        f(med(&r.api, |b| b.booted), 2),
        f(med(&r.api, |b| b.booted - b.qemu_up), 2),
        f(med(&r.api, |b| b.ready), 2),
        f(med(&r.api, |b| b.accepted), 3),
        f(med(&r.api, |b| b.active), 2),
        f(med(&r.api, |b| b.delete), 2),
    );
    let _ = writeln!(
        s,
        "| plain: `qemu-img create -b` + `qemu-system-x86_64` (same flags) → marker in its `console.log` | {} | {} | {} | {} | {} | overlay {} s (median, included) |",
        runs(&r.plain, |b| b.booted),
        f(med(&r.plain, |b| b.qemu_up), 2),
        f(med(&r.plain, |b| b.booted), 2),
        f(med(&r.plain, |b| b.booted - b.qemu_up), 2),
        f(med(&r.plain, |b| b.ready), 2),
        f(med(&r.plain, |b| b.overlay), 3),
    );
    let (api, plain) = (med(&r.api, |b| b.booted), med(&r.plain, |b| b.booted));
    let over = (api - plain) / plain;
    let (api_r, plain_r) = (med(&r.api, |b| b.ready), med(&r.plain, |b| b.ready));
    let verdict = if over < OVERHEAD_TARGET {
        "met"
    } else {
        "**missed**"
    };
    let _ = writeln!(
        s,
        "\n**Control-plane overhead** to `booted` = (API − plain) / plain = ({} − {}) / {} = **{}%** (target < {:.0}%: {verdict}); {} s absolute. To `ready`: {}% ({} s).",
        f(api, 2),
        f(plain, 2),
        f(plain, 2),
        f(over * 100.0, 1),
        OVERHEAD_TARGET * 100.0,
        f(api - plain, 2),
        f((api_r - plain_r) / plain_r * 100.0, 1),
        f(api_r - plain_r, 2),
    );
    if let Some(w) = &r.warmup_api {
        let _ = writeln!(
            s,
            "\nWarm-up create (not counted; first spawn caches the image): `booted` {} s, `ready` {} s. Console polled every 50 ms on both sides. Base image: `{}`.",
            f(w.booted, 2),
            f(w.ready, 2),
            r.base
        );
    }
    let _ = writeln!(
        s,
        "\nQEMU command line of both sides (the plain side's paths):\n\n```\n{}\n```\n",
        r.qemu_args
    );
    if !r.load.is_empty() {
        let _ = writeln!(s, "Load average: {}.\n", r.load.join("; "));
    }
}

fn create_row(s: &mut String, label: &str, c: &CreateRun) {
    let (mut post, mut act, mut poll) = (c.post_ms.clone(), c.active_ms.clone(), c.poll_ms.clone());
    let (p50, p99, pmax) = cs::summary(&mut post);
    let (a50, a99, amax) = cs::summary(&mut act);
    let (l50, _, lmax) = cs::summary(&mut poll);
    let ok = c.n.saturating_sub(c.errors);
    let _ = writeln!(
        s,
        "| {label} | {} | {} | {} | {} / {} / {} | {} / {} / {} | {} | {} | {} | {} / {} | {:.2} |",
        c.n,
        c.concurrency,
        f(ok as f64 / c.accept_secs, 1),
        ms(p50),
        ms(p99),
        ms(pmax),
        ms(a50),
        ms(a99),
        ms(amax),
        f(c.all_active_secs, 1),
        c.errors,
        c.not_active,
        ms(l50),
        ms(lmax),
        c.server_cores,
    );
}

fn scale_section(s: &mut String, r: &ScaleReport) {
    let _ = writeln!(
        s,
        "#### (b) Creates through the API, fake driver ({} fake hosts, SQLite)\n",
        r.fake_hosts
    );
    s.push_str("| batch | servers | conc. | accepted creates/s | POST→202 ms p50 / p99 / max | POST→ACTIVE ms p50 / p99 / max | all ACTIVE after s | errors | never ACTIVE | status listing ms p50 / max | server cores |\n");
    s.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    create_row(s, "first 50", &r.warm);
    create_row(s, "main", &r.run);
    if let Some(e) = r.run.first_error.as_ref().or(r.warm.first_error.as_ref()) {
        let _ = writeln!(s, "\nFirst error: `{}`", e.replace('`', "'"));
    }
    let hosts = r
        .per_host
        .iter()
        .map(|(h, n)| format!("{h}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        s,
        "\nServers per host afterwards: {hosts}. Load average: {}.\n",
        r.load.join("; ")
    );
}

fn series_table(s: &mut String, rows: &[Series], what: &str, target: Option<(usize, f64)>) {
    let _ = writeln!(
        s,
        "| series | {what} | samples | result | p50 ms | p99 ms | max ms | mean CPU ms | target | verdict |"
    );
    s.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n");
    for r in rows {
        let (t, v) = match target {
            Some((size, p99)) if r.size == size => (
                format!("p99 < {p99} ms"),
                if r.p99_ms < p99 { "met" } else { "**missed**" }.to_string(),
            ),
            _ => ("—".to_string(), "—".to_string()),
        };
        let result = if r.bytes > 0 {
            format!("{} ({:.0} KB)", r.result, r.bytes as f64 / 1000.0)
        } else {
            r.result.to_string()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {result} | {} | {} | {} | {} | {t} | {v} |",
            r.label,
            r.size,
            r.n,
            ms(r.p50_ms),
            ms(r.p99_ms),
            ms(r.max_ms),
            r.cpu_ms.map_or("—".to_string(), ms),
        );
    }
}

fn memory_section(s: &mut String, r: &ComputeReport) {
    s.push_str(
        "#### (e) Memory\n\n| process, state | VmRSS MB | VmHWM MB |\n| --- | ---: | ---: |\n",
    );
    let mut row = |label: &str, m: &Option<Memory>| {
        if let Some(m) = m {
            let _ = writeln!(s, "| {label} | {:.1} | {:.1} |", mb(m.rss_kb), mb(m.hwm_kb));
        }
    };
    if let Some(Ok(v)) = &r.vm {
        row(
            "QEMU of one idle tiny guest (API-started, 5 s after `ready`)",
            &v.vm_rss_api,
        );
        row(
            "QEMU of one idle tiny guest (plain, 5 s after `ready`)",
            &v.vm_rss_plain,
        );
        row("`ferrostack up` (qemu driver) idle, no VM", &v.cp_idle);
        row(
            "`ferrostack up` (qemu driver) after the first guest booted",
            &v.cp_one_vm,
        );
    }
    if let Some(Ok(sc)) = &r.scale {
        for (label, m) in &sc.memory {
            row(&format!("`ferrostack up`, {label}"), &Some(*m));
        }
    }
    s.push('\n');
}

impl ComputeReport {
    /// The Markdown section (without the BENCHMARKS.md markers).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### {} — commit `{}`\n", self.date, self.commit);
        let _ = writeln!(
            s,
            "- Machine: {}. The cloud, its guests and the load generator share these CPUs. Load average before the run {}, after {}.",
            self.machine.describe(),
            self.load_average.0,
            self.load_average.1
        );
        let _ = writeln!(
            s,
            "- Reproduce: `{}` (the same as `cargo run --release -p bench -- …`).\n",
            self.command.trim_end()
        );
        match &self.vm {
            Some(Ok(v)) => vm_section(&mut s, v),
            Some(Err(e)) => failed(&mut s, "(a) real guest boot", e),
            None => {}
        }
        match &self.scale {
            Some(Ok(v)) => scale_section(&mut s, v),
            Some(Err(e)) => failed(&mut s, "(b) fake-driver creates", e),
            None => {}
        }
        if !self.scheduler.is_empty() {
            s.push_str("#### (c) Scheduler decision (`Scheduler::from_config(\"spread\").select`, in process)\n\n");
            series_table(
                &mut s,
                &self.scheduler,
                "hosts",
                Some((10_000, SCHED_P99_TARGET_MS)),
            );
            let _ = writeln!(
                s,
                "\n\"result\" = hosts passing every filter, ranked. Load average: {}.\n",
                self.scheduler_load
            );
        }
        match &self.placement {
            Some(Ok(p)) => {
                s.push_str("#### (d) Placement `GET /placement/allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:1` (one keep-alive connection, sequential)\n\n");
                series_table(&mut s, &p.series, "providers", None);
                let created = p
                    .created
                    .iter()
                    .map(|(n, secs)| {
                        format!("{n} in {secs:.1} s ({:.0}/s)", *n as f64 / secs.max(1e-9))
                    })
                    .collect::<Vec<_>>()
                    .join(", then ");
                let _ = writeln!(
                    s,
                    "\n\"result\" = allocation requests returned (response size). Providers created through the API (POST + PUT inventories, 8 connections): {created}. Load average: {}.\n",
                    p.load.join("; ")
                );
            }
            Some(Err(e)) => failed(&mut s, "(d) placement", e),
            None => {}
        }
        memory_section(&mut s, self);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(booted: f64) -> Boot {
        Boot {
            booted,
            ready: booted + 2.0,
            ..Boot::default()
        }
    }

    #[test]
    fn renders_the_overhead_and_the_scheduler_verdict() {
        let r = ComputeReport {
            vm: Some(Ok(VmReport {
                api: vec![boot(4.4), boot(4.2), boot(4.6)],
                plain: vec![boot(4.0), boot(4.1), boot(3.9)],
                ..VmReport::default()
            })),
            scheduler: vec![Series {
                label: "s".into(),
                size: 10_000,
                n: 10,
                p50_ms: 3.0,
                p99_ms: 12.0,
                max_ms: 13.0,
                result: 9000,
                bytes: 0,
                cpu_ms: Some(2.5),
            }],
            ..ComputeReport::default()
        };
        let md = r.markdown();
        // (4.4 - 4.0) / 4.0 = 10%: not under the target.
        assert!(md.contains("**10.0%**"), "{md}");
        assert!(md.contains("**missed**"), "{md}");
        assert!(md.contains("| 4.40, 4.20, 4.60 | 0.00 | 4.40 |"), "{md}");
        assert!(
            md.contains("| 12.0 | 13.0 | 2.50 | p99 < 10 ms | **missed** |"),
            "{md}"
        );
    }
}
