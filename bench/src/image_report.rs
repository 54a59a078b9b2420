//! The report of `bench image`: a Markdown section under "Image upload and download" in
//! BENCHMARKS.md (one per commit, newest first, replaced on re-run).

use std::fmt::Write as _;

use crate::image::{ImageReport, Step, TARGET_RATIO};
use crate::report::Place;

/// Where `bench image --write` puts its runs.
pub const PLACE: Place = Place {
    results: "<!-- bench:image-results (sections below are written by `cargo xtask bench -- image --write`) -->",
    run: "bench:image-run",
    end: "bench:image-end",
    heading: "## Image upload and download",
};

const MB: f64 = 1e6;
const GIB: f64 = (1u64 << 30) as f64;

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

impl Step {
    /// MB/s of each run, for `bytes` moved.
    pub fn rates(&self, bytes: u64) -> Vec<f64> {
        self.secs
            .iter()
            .map(|s| if *s > 0.0 { bytes as f64 / MB / s } else { 0.0 })
            .collect()
    }

    /// MB/s of the median run.
    pub fn median_rate(&self, bytes: u64) -> f64 {
        let s = median(&self.secs);
        if s > 0.0 {
            bytes as f64 / MB / s
        } else {
            0.0
        }
    }
}

impl ImageReport {
    /// The Markdown section (without the BENCHMARKS.md markers).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let size_mib = self.size >> 20;
        let _ = writeln!(s, "### {} — commit `{}`\n", self.date, self.commit);
        let _ = writeln!(
            s,
            "- Machine: {}; filesystem of the data directory and the scratch files: {}. Server and load generator share these CPUs. Load average before the run {}, after {}.",
            self.machine.describe(),
            self.filesystem,
            self.load_average.0,
            self.load_average.1
        );
        let _ = writeln!(
            s,
            "- Data: {size_mib} MiB ({} bytes) from `/dev/urandom`, written to a file on the same filesystem just before (so in the page cache for every step). Medians of {} repetitions; MB = 10⁶ bytes.",
            self.size,
            self.steps.first().map_or(0, |st| st.secs.len()),
        );
        let _ = writeln!(
            s,
            "- Client: hyper HTTP/1.1, one connection per transfer; the upload body is read from the file in {} KiB chunks by a reader thread (at most 4 chunks in flight), the download is written to a file by a writer thread and fsync'd; hashes are checked after the timed part.",
            self.chunk_kib
        );
        let _ = writeln!(
            s,
            "- Reproduce: `{}` (the same as `cargo run --release -p bench -- …`).\n",
            self.command.trim_end()
        );
        let cp = self
            .steps
            .first()
            .map_or(0.0, |st| st.median_rate(self.size));
        let dd = self
            .steps
            .get(1)
            .map_or(0.0, |st| st.median_rate(self.size));
        s.push_str(
            "| step | median s | median MB/s | runs MB/s | vs `cp` + fsync | vs `dd` | CPU cores: server / loadgen / others | server CPU s per GiB | target | verdict |\n",
        );
        s.push_str("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |\n");
        for (i, st) in self.steps.iter().enumerate() {
            let rate = st.median_rate(self.size);
            let runs = st
                .rates(self.size)
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ");
            let ratio = |base: f64| {
                if base > 0.0 {
                    format!("{:.0}%", rate / base * 100.0)
                } else {
                    "—".into()
                }
            };
            let n = st.cores.len().max(1) as f64;
            let avg = |f: fn(&(f64, f64, f64)) -> f64| st.cores.iter().map(f).sum::<f64>() / n;
            let server_per_gib = median(&st.server_cpu) / (self.size as f64 / GIB);
            let (target, verdict) = if i >= 2 {
                let ok = cp > 0.0 && rate >= TARGET_RATIO * cp;
                (
                    format!("≥ {:.0}% of `cp` + fsync", TARGET_RATIO * 100.0),
                    if ok { "met" } else { "**missed**" }.to_string(),
                )
            } else {
                ("—".to_string(), "—".to_string())
            };
            let _ = writeln!(
                s,
                "| {} | {:.2} | {:.0} | {} | {} | {} | {:.2} / {:.2} / {:.2} | {:.2} | {} | {} |",
                st.label,
                median(&st.secs),
                rate,
                runs,
                ratio(cp),
                ratio(dd),
                avg(|c| c.0),
                avg(|c| c.1),
                avg(|c| c.2),
                server_per_gib,
                target,
                verdict
            );
        }
        s.push_str(
            "\n(The copies' own CPU is under \"others\": `cp` and `dd` are separate processes.)\n",
        );
        let first_hwm = self.memory.first().map_or(0, |(_, m)| m.hwm_kb);
        let _ = writeln!(
            s,
            "\n| server memory (`ferrostack up`) | VmRSS MB | VmHWM (peak so far) MB |"
        );
        s.push_str("| --- | ---: | ---: |\n");
        for (label, m) in &self.memory {
            let _ = writeln!(s, "| {label} | {:.1} | {:.1} |", mb(m.rss_kb), mb(m.hwm_kb));
        }
        let last_hwm = self.memory.last().map_or(0, |(_, m)| m.hwm_kb);
        let moved = self.steps.get(2).map_or(0, |st| st.secs.len()) as u64 * 2 * size_mib;
        let _ = writeln!(
            s,
            "\nPeak resident memory grew by {:.1} MB while {moved} MiB went through the server (target: flat, i.e. independent of the image size). The load generator's own peak (VmHWM) was {:.1} MB.",
            mb(last_hwm.saturating_sub(first_hwm)),
            mb(self.loadgen.hwm_kb),
        );
        if !self.checks.is_empty() {
            s.push_str("\nChecks:\n\n");
            for c in &self.checks {
                let _ = writeln!(s, "- {c}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::merge_at;
    use crate::server::Memory;

    fn step(label: &'static str, secs: &[f64]) -> Step {
        Step {
            label,
            secs: secs.to_vec(),
            cores: vec![(1.0, 0.5, 0.1); secs.len()],
            server_cpu: vec![1.0; secs.len()],
        }
    }

    #[test]
    fn renders_rates_ratios_and_verdicts() {
        let r = ImageReport {
            size: 1000 * 1_000_000,
            steps: vec![
                step("cp", &[1.0, 2.0, 1.25]),
                step("dd", &[1.0, 1.0, 1.0]),
                step("upload", &[2.0, 2.0, 2.0]),
                step("download", &[1.5, 1.5, 1.5]),
            ],
            memory: vec![
                (
                    "before".into(),
                    Memory {
                        rss_kb: 10240,
                        hwm_kb: 20480,
                    },
                ),
                (
                    "after".into(),
                    Memory {
                        rss_kb: 11264,
                        hwm_kb: 30720,
                    },
                ),
            ],
            ..Default::default()
        };
        let md = r.markdown();
        // cp median 1.25 s = 800 MB/s; upload 500 MB/s = 62%; download 667 MB/s = 83%.
        assert!(
            md.contains("| cp | 1.25 | 800 | 1000, 500, 800 | 100% | 80% |"),
            "{md}"
        );
        assert!(md.contains("| upload | 2.00 | 500 |"), "{md}");
        assert!(md.contains("| 62% | 50% |"), "{md}");
        assert!(md.contains("| 83% | 67% |"), "{md}");
        assert!(md.contains("**missed**"));
        assert!(md.contains("| met |"));
        assert!(md.contains("grew by 10.0 MB"));
    }

    #[test]
    fn image_runs_go_under_their_own_heading() {
        let doc = "# Benchmarks\n\n<!-- bench:results (x) -->\n\n<!-- bench:run c1 -->\n## id run\n<!-- bench:end c1 -->\n";
        let d = merge_at(&PLACE, doc, "c1", "### image run\n");
        assert!(d.contains("## id run"), "{d}");
        assert!(d.find("## id run").unwrap() < d.find(PLACE.heading).unwrap());
        assert!(d.find(PLACE.results).unwrap() < d.find("### image run").unwrap());
        let d2 = merge_at(&PLACE, &d, "c1", "### image run 2\n");
        assert!(!d2.contains("### image run\n") && d2.contains("### image run 2"));
        assert_eq!(d2.matches(PLACE.heading).count(), 1);
        assert!(d2.contains("## id run"));
    }
}
