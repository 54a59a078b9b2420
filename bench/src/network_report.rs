//! The report of `bench network`: a Markdown section under "## Network" in BENCHMARKS.md
//! (one per commit, newest first, replaced on re-run).

use std::fmt::Write as _;

use crate::compute_server::{median, pct};
use crate::network_ports::{PortsReport, CIDR};
use crate::network_sg::SgReport;
use crate::network_wire::WireReport;
use crate::report::{Machine, Place};
use crate::server::Memory;

/// Where `bench network --write` puts its runs.
pub const PLACE: Place = Place {
    results: "<!-- bench:network-results (sections below are written by `cargo xtask bench -- network --write`) -->",
    run: "bench:network-run",
    end: "bench:network-end",
    heading: "## Network",
};

/// Everything one run produced; a part that failed has its error instead.
#[derive(Clone, Debug, Default)]
pub struct NetworkReport {
    pub date: String,
    pub commit: String,
    pub machine: Machine,
    pub command: String,
    pub load_average: (String, String),
    pub namespace: String,
    pub wire: Option<Result<WireReport, String>>,
    pub sg: Option<Result<SgReport, String>>,
    pub ports: Option<Result<PortsReport, String>>,
    /// The cloud's memory: idle, then after each part.
    pub memory: Vec<(String, Memory)>,
}

fn ms(x: f64) -> String {
    match x {
        x if x.is_nan() => "—".into(),
        x if x >= 100.0 => format!("{x:.0}"),
        x if x >= 10.0 => format!("{x:.1}"),
        x => format!("{x:.2}"),
    }
}

/// n, p50, p95, max of `v` as table cells.
fn stats(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    format!(
        "{} | {} | {} | {}",
        s.len(),
        ms(pct(&s, 50.0)),
        ms(pct(&s, 95.0)),
        ms(s.last().copied().unwrap_or(f64::NAN))
    )
}

fn failed(s: &mut String, what: &str, e: &str) {
    let first: String = e.lines().take(12).collect::<Vec<_>>().join("\n");
    let _ = writeln!(s, "**{what} failed:**\n\n```\n{first}\n```\n");
}

fn wire_section(s: &mut String, r: &WireReport) {
    s.push_str("#### (a) Time to wire a port\n\n");
    s.push_str(
        "| path | ports | p50 ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |\n",
    );
    let _ = writeln!(
        s,
        "| API: `POST /ports` (bound to the host) → 201 | {} |",
        stats(&r.post_ms)
    );
    let _ = writeln!(
        s,
        "| **API: `POST /ports` → `ACTIVE`** (tap, rules and DHCP entry live) | {} |",
        stats(&r.active_ms)
    );
    if !r.manual_ms.is_empty() {
        let _ = writeln!(s, "| **by hand, all steps** | {} |", stats(&r.manual_ms));
        for (label, v) in &r.manual_steps {
            let _ = writeln!(s, "| by hand: {label} | {} |", stats(v));
        }
    }
    let p50 = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        pct(&v, 50.0)
    };
    let (api, hand) = (p50(&r.active_ms), p50(&r.manual_ms));
    if !r.manual_ms.is_empty() {
        let _ = writeln!(
            s,
            "\nAt p50, API wiring {} ms against {} ms by hand: {} ms more ({:.1}×).",
            ms(api),
            ms(hand),
            ms(api - hand),
            api / hand
        );
    }
    if let Some(e) = &r.manual_error {
        let _ = writeln!(s, "\nBy hand failed: `{}`.", e.replace('`', "'"));
    }
    let _ = writeln!(
        s,
        "\nWarm-up port (the network's first on the host: bridge, VXLAN device, DHCP namespace, dnsmasq; not counted): {} ms. Status polled back to back (2 ms pause, {:.1} polls per port).\n",
        ms(r.warmup_ms),
        r.polls
    );
}

fn sg_section(s: &mut String, r: &SgReport) {
    let _ = writeln!(
        s,
        "#### (b) A change to a security group of {} rules shared by {} ports\n",
        r.rules, r.ports
    );
    let _ = writeln!(
        s,
        "Setup: {} rules created in {:.1} s ({:.0}/s, 8 clients); {} bound ports created in {:.1} s, all `ACTIVE` {:.1} s after the first create. `nft list ruleset` then has {} lines and takes {} ms (median of {} listings; max {} ms), the resolution of the figures below.\n",
        r.rules,
        r.rules_secs,
        r.rules as f64 / r.rules_secs.max(1e-9),
        r.ports,
        r.ports_secs,
        r.active_secs,
        r.ruleset_lines,
        ms(median(&r.list_ms)),
        r.list_ms.len(),
        ms(r.list_ms.iter().copied().fold(f64::NAN, f64::max)),
    );
    s.push_str("| change | n | p50 ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |\n");
    let _ = writeln!(
        s,
        "| add a rule: `POST /security-group-rules` → 201 | {} |",
        stats(&r.add_api_ms)
    );
    let _ = writeln!(
        s,
        "| **add a rule: POST → in `nft list ruleset`** | {} |",
        stats(&r.add_seen_ms)
    );
    let _ = writeln!(
        s,
        "| add, lower bound (last listing without it started) | {} |",
        stats(&r.add_lower_ms)
    );
    let _ = writeln!(
        s,
        "| delete it: `DELETE` → 204 | {} |",
        stats(&r.del_api_ms)
    );
    let _ = writeln!(
        s,
        "| **delete it: DELETE → gone from `nft list ruleset`** | {} |",
        stats(&r.del_seen_ms)
    );
    let _ = writeln!(
        s,
        "| delete, lower bound (last listing still with it started) | {} |",
        stats(&r.del_lower_ms)
    );
    let _ = writeln!(
        s,
        "| back to back: add → in the ruleset | {} |",
        stats(&r.b2b_add_seen_ms)
    );
    let _ = writeln!(
        s,
        "| back to back: delete → gone | {} |",
        stats(&r.b2b_del_seen_ms)
    );
    let _ = writeln!(
        s,
        "\nThe first rows: each change after a {} ms pause (an idle agent). \"Back to back\": each change sent as soon as the previous one was seen in the ruleset.\n",
        r.settle_ms
    );
}

fn ports_section(s: &mut String, r: &PortsReport) {
    let _ = writeln!(
        s,
        "#### (c) {} ports created concurrently on one /22 (`{CIDR}`, unbound, DHCP off)\n",
        r.n
    );
    let mut v = r.post_ms.clone();
    v.sort_by(f64::total_cmp);
    s.push_str("| ports | clients | wall s | **ports/s** | POST → 201 ms p50 / p95 / p99 / max | errors | addresses answered / distinct | listed / distinct | server cores |\n");
    s.push_str("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    let _ = writeln!(
        s,
        "| {} | {} | {:.1} | **{:.0}** | {} / {} / {} / {} | {} | {} / {} | {} / {} | {:.2} |",
        r.n,
        r.concurrency,
        r.wall_secs,
        (r.n - r.errors) as f64 / r.wall_secs.max(1e-9),
        ms(pct(&v, 50.0)),
        ms(pct(&v, 95.0)),
        ms(pct(&v, 99.0)),
        ms(v.last().copied().unwrap_or(f64::NAN)),
        r.errors,
        r.answered,
        r.answered_distinct,
        r.listed,
        r.listed_distinct,
        r.server_cores,
    );
    let verdict = if r.distinct() {
        "**no IP collision**: every port has one address, all distinct, all inside the subnet, and the listing shows exactly the answered addresses"
    } else {
        "**COLLISION OR MISMATCH**: see the counts above"
    };
    let _ = writeln!(s, "\n{verdict}.");
    if let Some(e) = &r.first_error {
        let _ = writeln!(s, "\nFirst error: `{}`", e.replace('`', "'"));
    }
    s.push('\n');
}

impl NetworkReport {
    /// The Markdown section (without the BENCHMARKS.md markers).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### {} — commit `{}`\n", self.date, self.commit);
        let _ = writeln!(
            s,
            "- Machine: {}. The cloud, its agent and the bench share these CPUs. Load average before the run {}, after {}.",
            self.machine.describe(),
            self.load_average.0,
            self.load_average.1
        );
        let _ = writeln!(
            s,
            "- The cloud: release `ferrostack up` (SQLite, fake compute driver, Linux data plane, VXLAN tenant networks) in network namespace `{}`, its own namespaces `{}-*`; the bench runs in the same namespace.",
            self.namespace, self.namespace
        );
        let _ = writeln!(
            s,
            "- Reproduce: `{}` (the same as `cargo run --release -p bench -- …`).\n",
            self.command.trim_end()
        );
        match &self.wire {
            Some(Ok(r)) => wire_section(&mut s, r),
            Some(Err(e)) => failed(&mut s, "(a) wiring", e),
            None => {}
        }
        match &self.sg {
            Some(Ok(r)) => sg_section(&mut s, r),
            Some(Err(e)) => failed(&mut s, "(b) security group change", e),
            None => {}
        }
        match &self.ports {
            Some(Ok(r)) => ports_section(&mut s, r),
            Some(Err(e)) => failed(&mut s, "(c) concurrent ports", e),
            None => {}
        }
        if !self.memory.is_empty() {
            s.push_str("#### Memory of `ferrostack up`\n\n| state | VmRSS MB | VmHWM MB |\n| --- | ---: | ---: |\n");
            for (label, m) in &self.memory {
                let _ = writeln!(
                    s,
                    "| {label} | {:.1} | {:.1} |",
                    m.rss_kb as f64 / 1024.0,
                    m.hwm_kb as f64 / 1024.0
                );
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_part() {
        let r = NetworkReport {
            wire: Some(Ok(WireReport {
                active_ms: vec![30.0, 10.0, 20.0],
                post_ms: vec![1.0, 2.0, 3.0],
                manual_ms: vec![5.0, 5.0, 5.0],
                ..WireReport::default()
            })),
            sg: Some(Err("boom".into())),
            ports: Some(Ok(PortsReport {
                n: 2,
                concurrency: 2,
                wall_secs: 1.0,
                post_ms: vec![1.0, 2.0],
                answered: 2,
                answered_distinct: 2,
                listed: 2,
                listed_distinct: 2,
                listing_matches: true,
                ..PortsReport::default()
            })),
            ..NetworkReport::default()
        };
        let md = r.markdown();
        assert!(md.contains("| 3 | 20.0 | 30.0 | 30.0 |"), "{md}");
        assert!(md.contains("20.0 ms against 5.00 ms by hand"), "{md}");
        assert!(md.contains("(b) security group change failed"), "{md}");
        assert!(md.contains("**no IP collision**"), "{md}");
    }
}
