//! The report: the machine, the commit, the results as a Markdown table, and its place in
//! BENCHMARKS.md (one section per commit and machine, newest first, replaced on re-run).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::load::Outcome;
use crate::server::Memory;

/// Where the run happened.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpus: usize,
    pub model: String,
    pub mem_total_mb: u64,
    pub kernel: String,
    pub rustc: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total_mb = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|kb| kb / 1024)
            .unwrap_or(0);
        Machine {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            model,
            mem_total_mb,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            rustc: command_line("rustc", &["--version"]).unwrap_or_default(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} CPUs ({}), {:.1} GiB RAM, Linux {}, {}",
            self.cpus,
            self.model,
            self.mem_total_mb as f64 / 1024.0,
            self.kernel,
            self.rustc
        )
    }
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit of the workspace, with `+dirty` when tracked files differ from it. Read-only:
/// `GIT_OPTIONAL_LOCKS=0` keeps `git status` from refreshing the index.
pub fn git_commit(workspace: &Path) -> String {
    let dir = workspace.to_string_lossy().to_string();
    let Some(head) = command_line("git", &["-C", &dir, "rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = command_line(
        "git",
        &["-C", &dir, "status", "--porcelain", "--untracked-files=no"],
    )
    .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head}+dirty")
    } else {
        head
    }
}

/// One timed bcrypt call: wall-clock and CPU time of the calling thread, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    pub wall_ms: f64,
    pub cpu_ms: f64,
}

/// CPU time the calling thread has run, in nanoseconds (`/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let first = text.split_whitespace().next().unwrap_or_default();
    Ok(first.parse()?)
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Timing)> {
    let (t, c) = (std::time::Instant::now(), thread_cpu_ns()?);
    let out = f()?;
    let cpu_ms = thread_cpu_ns()?.saturating_sub(c) as f64 / 1e6;
    Ok((
        out,
        Timing {
            wall_ms: t.elapsed().as_secs_f64() * 1000.0,
            cpu_ms,
        },
    ))
}

/// bcrypt timings measured in this process (the same crate and cost the server uses). CPU
/// time is what bounds token issue; wall time also counts waiting for a CPU on a busy machine.
#[derive(Clone, Debug, Default)]
pub struct HashCost {
    pub cost: u32,
    pub hash: Vec<Timing>,
    pub verify: Vec<Timing>,
}

impl HashCost {
    pub fn measure(cost: u32, samples: usize) -> anyhow::Result<HashCost> {
        let mut h = HashCost {
            cost,
            ..Default::default()
        };
        let mut last = String::new();
        for _ in 0..samples.max(1) {
            let (hash, t) = timed(|| Ok(bcrypt::hash("bench-password-0123456789", cost)?))?;
            last = hash;
            h.hash.push(t);
        }
        for _ in 0..samples.max(1) {
            let (ok, t) = timed(|| Ok(bcrypt::verify("bench-password-0123456789", &last)?))?;
            anyhow::ensure!(ok, "bcrypt verify failed");
            h.verify.push(t);
        }
        Ok(h)
    }

    /// Median CPU time of a verify, in ms: the work one password token issue cannot avoid.
    pub fn verify_cpu_ms(&self) -> f64 {
        median(&self.verify.iter().map(|t| t.cpu_ms).collect::<Vec<_>>())
    }

    /// `(cpu, wall)` medians of `hash` or `verify`, in ms.
    pub fn medians(samples: &[Timing]) -> (f64, f64) {
        (
            median(&samples.iter().map(|t| t.cpu_ms).collect::<Vec<_>>()),
            median(&samples.iter().map(|t| t.wall_ms).collect::<Vec<_>>()),
        )
    }

    /// The most token issues per second the CPUs could do if one verify were all the work.
    pub fn bound_per_sec(&self, cpus: usize) -> f64 {
        let v = self.verify_cpu_ms();
        if v > 0.0 {
            cpus as f64 * 1000.0 / v
        } else {
            0.0
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// One row of the results table.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub concurrency: usize,
    /// `None` when the scenario could not run (e.g. the endpoint is not implemented).
    pub outcome: Option<Outcome>,
    pub na_reason: Option<String>,
    /// CPU used during the run, in cores (server, load generator).
    pub server_cores: f64,
    pub client_cores: f64,
    /// CPU every other process on the machine used meanwhile, in cores.
    pub other_cores: f64,
    /// The background load's outcome, for scenarios that have one.
    pub background: Option<Outcome>,
    pub target: String,
    pub verdict: String,
}

/// Everything one run produced.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub date: String,
    pub commit: String,
    pub machine: Machine,
    pub command: String,
    pub settings: String,
    pub hash: HashCost,
    pub stored_costs: Vec<u32>,
    pub rows: Vec<Row>,
    pub mem_idle: Memory,
    pub mem_after: Memory,
    pub rss_target_mb: f64,
    pub errors: Vec<String>,
    /// `/proc/loadavg` before and after the run.
    pub load_average: (String, String),
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
        None => "—".into(),
    }
}

/// Server CPU time per successful request (a busy server batches more work per wake-up, so
/// this is lower under load from other processes, not higher).
fn cpu_per_request(cores: f64, rate: f64) -> String {
    if rate <= 0.0 {
        return "—".into();
    }
    let us = cores / rate * 1e6;
    if us >= 10_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Thousands separators for a rate.
pub fn rate(v: f64) -> String {
    if v < 100.0 {
        return format!("{v:.1}");
    }
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Report {
    /// The Markdown section (without the BENCHMARKS.md markers).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## {} — commit `{}`\n", self.date, self.commit);
        let _ = writeln!(
            s,
            "- Machine: {}. Server and load generator share these CPUs. Load average before the run {}, after {} (\"other CPU\" below is what every other process used meanwhile).",
            self.machine.describe(),
            self.load_average.0,
            self.load_average.1
        );
        let _ = writeln!(
            s,
            "- Server: `ferrostack up` (identity only, SQLite), release build, {}.",
            self.settings
        );
        let stored = if self.stored_costs.is_empty() {
            "not found in the database files".to_string()
        } else {
            self.stored_costs
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (hash_cpu, hash_wall) = HashCost::medians(&self.hash.hash);
        let (verify_cpu, verify_wall) = HashCost::medians(&self.hash.verify);
        let _ = writeln!(
            s,
            "- bcrypt cost {} (stored hashes: cost {}); timed in-process with the server's `bcrypt` crate, median of {}: hash {:.0} ms CPU ({:.0} ms wall), verify {:.0} ms CPU ({:.0} ms wall) ⇒ token issue bound ≈ {} CPUs / {:.0} ms = **{} req/s**.",
            self.hash.cost,
            stored,
            self.hash.verify.len(),
            hash_cpu,
            hash_wall,
            verify_cpu,
            verify_wall,
            self.machine.cpus,
            verify_cpu,
            rate(self.hash.bound_per_sec(self.machine.cpus)),
        );
        let _ = writeln!(
            s,
            "- Reproduce: `{}` (the same as `cargo run --release -p bench -- …`).\n",
            self.command
        );
        s.push_str(
            "| scenario | conc. | req/s | p50 ms | p99 ms | max ms | n (latency sample) | errors \
             | CPU cores: server / loadgen / others | server CPU per request | target | verdict |\n",
        );
        s.push_str(
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
        );
        for r in &self.rows {
            match &r.outcome {
                Some(o) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} / {:.2} / {:.2} | {} | {} | {} |",
                        r.scenario,
                        r.concurrency,
                        rate(o.rate),
                        ms(o.p50_ms),
                        ms(o.p99_ms),
                        ms(o.max_ms),
                        o.sampled,
                        o.errors,
                        r.server_cores,
                        r.client_cores,
                        r.other_cores,
                        // With a background load the CPU is not this row's alone.
                        if r.background.is_some() {
                            "—".into()
                        } else {
                            cpu_per_request(r.server_cores, o.rate)
                        },
                        r.target,
                        r.verdict
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | n/a | — | — | — | — | — | — | — | {} | n/a: {} |",
                        r.scenario,
                        r.concurrency,
                        r.target,
                        r.na_reason.as_deref().unwrap_or("not run")
                    );
                }
            }
        }
        let rss_ok = |kb: u64| {
            if mb(kb) < self.rss_target_mb {
                "met"
            } else {
                "**missed**"
            }
        };
        let _ = writeln!(s, "\n| memory of `ferrostack up` | MB | target | verdict |");
        s.push_str("| --- | ---: | --- | --- |\n");
        let t = format!("< {:.0} MB", self.rss_target_mb);
        let _ = writeln!(
            s,
            "| VmRSS idle after start | {:.1} | {t} | {} |",
            mb(self.mem_idle.rss_kb),
            rss_ok(self.mem_idle.rss_kb)
        );
        let _ = writeln!(
            s,
            "| VmRSS idle after the load | {:.1} | — | — |",
            mb(self.mem_after.rss_kb)
        );
        let _ = writeln!(
            s,
            "| VmHWM (peak) after the load | {:.1} | — | — |",
            mb(self.mem_after.hwm_kb)
        );
        for r in self.rows.iter().filter_map(|r| {
            r.outcome
                .as_ref()
                .and_then(|o| o.first_error.as_ref().map(|e| (r, e)))
        }) {
            let _ = writeln!(
                s,
                "\nFirst error of {} at {}: `{}`",
                r.0.scenario,
                r.0.concurrency,
                r.1.replace('`', "'")
            );
        }
        for e in &self.errors {
            let _ = writeln!(s, "\nNote: {e}");
        }
        s
    }
}

const PREAMBLE: &str = "# Benchmarks\n\nMeasured by the `bench` crate against the real release binary. Each run is one section\nbelow, newest first; `--write` replaces the section of the same commit.\n";
const RESULTS: &str = "<!-- bench:results (sections below are written by `cargo run --release -p bench -- --write`) -->";

/// Where one kind of run goes in BENCHMARKS.md: after its `results` marker, newest first,
/// between `<!-- {run} COMMIT -->` and `<!-- {end} COMMIT -->`. When the marker is missing it
/// is appended at the end of the file, after `heading` (if any).
pub struct Place {
    pub results: &'static str,
    pub run: &'static str,
    pub end: &'static str,
    pub heading: &'static str,
}

/// The identity benchmark's runs.
pub const IDENTITY: Place = Place {
    results: RESULTS,
    run: "bench:run",
    end: "bench:end",
    heading: "",
};

/// `doc` with the identity run's section inserted or replaced.
#[cfg(test)]
pub fn merge(doc: &str, commit: &str, section: &str) -> String {
    merge_at(&IDENTITY, doc, commit, section)
}

/// `doc` with the section of `commit` inserted or replaced at `place`.
pub fn merge_at(place: &Place, doc: &str, commit: &str, section: &str) -> String {
    let start = format!("<!-- {} {commit} -->", place.run);
    let end = format!("<!-- {} {commit} -->", place.end);
    let block = format!("{start}\n{}\n{end}\n", section.trim_end());
    if let (Some(a), Some(b)) = (doc.find(&start), doc.find(&end)) {
        if a < b {
            let mut tail = &doc[b + end.len()..];
            tail = tail.strip_prefix('\n').unwrap_or(tail);
            return format!("{}{block}{tail}", &doc[..a]);
        }
    }
    let mut doc = if doc.trim().is_empty() {
        PREAMBLE.to_string()
    } else {
        doc.to_string()
    };
    if let Some(i) = doc.find(place.results) {
        let at = i + place.results.len();
        doc.insert_str(at, &format!("\n\n{block}"));
        // Keep exactly one blank line after the inserted block.
        return doc.replace(&format!("{end}\n\n\n"), &format!("{end}\n\n"));
    }
    if !doc.ends_with('\n') {
        doc.push('\n');
    }
    let heading = if place.heading.is_empty() {
        String::new()
    } else {
        format!("\n{}\n", place.heading)
    };
    format!("{doc}{heading}\n{}\n\n{block}", place.results)
}

/// Writes the report into BENCHMARKS.md at `path`.
pub fn write(path: &Path, report: &Report) -> anyhow::Result<()> {
    write_at(path, &IDENTITY, &report.commit, &report.markdown())
}

/// Writes `section` of `commit` into BENCHMARKS.md at `path`, at `place`.
pub fn write_at(path: &Path, place: &Place, commit: &str, section: &str) -> anyhow::Result<()> {
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, merge_at(place, &doc, commit, section))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_inserts_newest_first_and_replaces_same_commit() {
        let d0 = merge("", "aaa", "## run A\n");
        assert!(d0.starts_with("# Benchmarks"));
        assert!(d0.contains("## run A"));
        let d1 = merge(&d0, "bbb", "## run B\n");
        assert!(d1.find("## run B").unwrap() < d1.find("## run A").unwrap());
        let d2 = merge(&d1, "aaa", "## run A2\n");
        assert!(!d2.contains("## run A\n"));
        assert!(d2.contains("## run A2"));
        assert!(d2.find("## run B").unwrap() < d2.find("## run A2").unwrap());
        assert_eq!(d2.matches("bench:run aaa").count(), 1);
    }

    #[test]
    fn merge_keeps_hand_written_text() {
        let doc = format!("# Benchmarks\n\nNotes by hand.\n\n{RESULTS}\n\n## Findings\n\ntext\n");
        let d = merge(&doc, "c1", "## run\n");
        assert!(d.contains("Notes by hand."));
        assert!(d.contains("## Findings\n\ntext\n"));
        assert!(d.find("## run").unwrap() < d.find("## Findings").unwrap());
    }

    #[test]
    fn times_bcrypt_in_cpu_and_wall_time() {
        let h = HashCost::measure(4, 2).unwrap();
        assert_eq!((h.hash.len(), h.verify.len()), (2, 2));
        assert!(h.verify.iter().all(|t| t.cpu_ms >= 0.0 && t.wall_ms > 0.0));
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(rate(21234.4), "21,234");
        assert_eq!(rate(8.44), "8.4");
        assert_eq!(rate(999.6), "1,000");
        assert_eq!(ms(Some(0.123)), "0.12");
        assert_eq!(ms(Some(3456.0)), "3456");
        assert_eq!(ms(None), "—");
        assert_eq!(cpu_per_request(0.5, 10_000.0), "50 µs");
        assert_eq!(cpu_per_request(0.9, 3.6), "250 ms");
    }
}
