//! `cargo xtask test`: prerequisites, build, then the test stages, each under a header, with a
//! summary of all stages at the end.

use std::io::{BufRead as _, BufReader, IsTerminal as _, Write as _};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context as _};

use crate::{cargo, header, prereqs, run_status, target_dir};

/// PostgreSQL server the API suite runs against in the `pg` stage (a database per test).
const TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

const STAGES: &[&str] = &["unit", "pg", "e2e"];

// Every stage selects its tests with a filter over the whole workspace rather than with
// `-p`/`--exclude`: the set of packages built then stays the same as in the build stage, so
// cargo's feature unification gives the same artifacts and nothing is compiled twice (with
// `-p api-tests` alone, tokio loses a feature that another member enables and everything
// above it is rebuilt). Binaries outside the filter are skipped whole and not counted.

/// Unit and integration tests of every crate but the end-to-end suite (SQLite, in-process bus;
/// the bus contract tests also use RabbitMQ).
const UNIT: &[&str] = &["--workspace", "-E", "not package(e2e-tests)"];
/// The API integration suite (run again with `FERROSTACK_TEST_DATABASE` on PostgreSQL).
const PG: &[&str] = &["--workspace", "-E", "package(api-tests)"];
/// The end-to-end suite with the real binary and CLI.
const E2E: &[&str] = &["--workspace", "-E", "package(e2e-tests)"];

/// Test counts from nextest's `Summary` line.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Counts {
    passed: u64,
    failed: u64,
    skipped: u64,
}

struct Row {
    name: String,
    ok: bool,
    secs: f64,
    counts: Option<Counts>,
}

pub fn run(args: &[String]) -> anyhow::Result<bool> {
    for a in args {
        if !STAGES.contains(&a.as_str()) {
            bail!("unknown test stage {a:?} (stages: {})", STAGES.join(", "));
        }
    }
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();

    header("[1/5] prerequisites: Debian packages, openstack CLI venv, PostgreSQL, RabbitMQ");
    let t = Instant::now();
    prereqs::ensure_debian_packages(prereqs::UP_PACKAGES, true)?;
    prereqs::ensure_debian_packages(prereqs::GUEST_PACKAGES, true)?;
    prereqs::ensure_debian_packages(prereqs::TEST_PACKAGES, true)?;
    let osc = if want("e2e") {
        Some(prereqs::ensure_osc()?)
    } else {
        None
    };
    if want("unit") || want("pg") {
        prereqs::ensure_services()?;
    }
    rows.push(Row {
        name: "prerequisites".into(),
        ok: true,
        secs: secs(t),
        counts: None,
    });

    // One build of everything: libraries, the `ferrostack` binary (for the e2e stage) and every
    // test target, with the same feature unification the test stages use, so they compile
    // nothing more.
    header(&format!(
        "[2/5] build: cargo build --workspace --all-targets (target dir {})",
        target_dir().display()
    ));
    let t = Instant::now();
    let built = run_status(&mut cargo(["build", "--workspace", "--all-targets"]))?;
    rows.push(Row {
        name: "build".into(),
        ok: built,
        secs: secs(t),
        counts: None,
    });
    if !built {
        return Ok(finish(&rows, started));
    }

    if want("unit") {
        header(&format!(
            "[3/5] unit + integration tests, SQLite and in-process bus: cargo nextest run {}",
            UNIT.join(" ")
        ));
        let t = Instant::now();
        let (ok, counts) = nextest(UNIT, &[], &["FERROSTACK_TEST_DATABASE"])?;
        rows.push(Row {
            name: "unit + integration (SQLite)".into(),
            ok,
            secs: secs(t),
            counts,
        });
    }
    if want("pg") {
        let db = std::env::var("FERROSTACK_TEST_DATABASE")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| TEST_POSTGRES.to_string());
        header(&format!(
            "[4/5] API integration suite on PostgreSQL: FERROSTACK_TEST_DATABASE={db} cargo nextest run {}",
            PG.join(" ")
        ));
        let t = Instant::now();
        let (ok, counts) = nextest(PG, &[("FERROSTACK_TEST_DATABASE", db.as_str())], &[])?;
        rows.push(Row {
            name: "API suite (PostgreSQL)".into(),
            ok,
            secs: secs(t),
            counts,
        });
    }
    if let Some(osc) = osc {
        let bin = target_dir().join("debug/ferrostack");
        header(&format!(
            "[5/5] end-to-end with the openstack CLI: FERROSTACK_BIN={} FERROSTACK_OSC={} cargo nextest run {}",
            bin.display(),
            osc.display(),
            E2E.join(" ")
        ));
        let t = Instant::now();
        let bin = bin.to_string_lossy().into_owned();
        let osc = osc.to_string_lossy().into_owned();
        let (ok, counts) = nextest(
            E2E,
            &[
                ("FERROSTACK_BIN", bin.as_str()),
                ("FERROSTACK_OSC", osc.as_str()),
            ],
            &[],
        )?;
        rows.push(Row {
            name: "end-to-end (openstack CLI)".into(),
            ok,
            secs: secs(t),
            counts,
        });
    }
    Ok(finish(&rows, started))
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// `cargo nextest run --no-fail-fast ARGS`, its output passed through while the summary line
/// is read. Returns whether it passed and the counts.
fn nextest(
    args: &[&str],
    env: &[(&str, &str)],
    env_remove: &[&str],
) -> anyhow::Result<(bool, Option<Counts>)> {
    let mut cmd = cargo(["nextest", "run", "--no-fail-fast"]);
    if std::io::stderr().is_terminal() {
        cmd.arg("--color=always");
    }
    cmd.args(args).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in env_remove {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().with_context(|| format!("run {cmd:?}"))?;
    let mut counts = None;
    if let Some(stderr) = child.stderr.take() {
        let mut out = std::io::stderr();
        for line in BufReader::new(stderr).split(b'\n') {
            let line = line.context("read nextest output")?;
            let _ = out.write_all(&line);
            let _ = out.write_all(b"\n");
            if let Some(c) = parse_summary(&String::from_utf8_lossy(&line)) {
                counts = Some(c);
            }
        }
    }
    let status = child.wait().context("wait for nextest")?;
    Ok((status.success(), counts))
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses `Summary [  1.2s] 12 tests run: 10 passed (1 slow), 1 failed, 1 timed out, 0 skipped`.
fn parse_summary(line: &str) -> Option<Counts> {
    let line = strip_ansi(line);
    let line = line.trim();
    if !line.starts_with("Summary [") {
        return None;
    }
    let (_, tail) = line.split_once(" run: ")?;
    let mut c = Counts::default();
    for part in tail.split(", ") {
        let part = part.split('(').next().unwrap_or("").trim();
        let mut words = part.split_whitespace();
        let Some(n) = words.next().and_then(|w| w.parse::<u64>().ok()) else {
            continue;
        };
        match words.next() {
            Some("passed") => c.passed += n,
            Some("skipped") => c.skipped += n,
            _ => c.failed += n,
        }
    }
    Some(c)
}

/// Prints the table of stages and the closing count line; true when every stage passed.
fn finish(rows: &[Row], started: Instant) -> bool {
    header("summary");
    let mut total = Counts::default();
    for r in rows {
        let counts = match r.counts {
            Some(c) => {
                total.passed += c.passed;
                total.failed += c.failed;
                total.skipped += c.skipped;
                format!(
                    "{} passed, {} failed, {} skipped",
                    c.passed, c.failed, c.skipped
                )
            }
            None => String::new(),
        };
        let status = if r.ok { "ok" } else { "FAILED" };
        println!(
            "  {:<30} {:<7} {:>7.1}s  {}",
            r.name, status, r.secs, counts
        );
    }
    let ok = rows.iter().all(|r| r.ok);
    println!(
        "  {:<30} {:<7} {:>7.1}s",
        "total",
        if ok { "ok" } else { "FAILED" },
        secs(started)
    );
    println!(
        "total: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    );
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nextest_summaries() {
        let c = parse_summary("     Summary [   0.123s] 12 tests run: 12 passed, 0 skipped");
        assert_eq!(
            c,
            Some(Counts {
                passed: 12,
                failed: 0,
                skipped: 0
            })
        );
        let c = parse_summary(
            "     Summary [  10.000s] 9 tests run: 5 passed (1 slow), 2 failed, 1 timed out, 3 skipped",
        );
        assert_eq!(
            c,
            Some(Counts {
                passed: 5,
                failed: 3,
                skipped: 3
            })
        );
        let c = parse_summary(
            "\u{1b}[32;1m     Summary\u{1b}[0m [   1.000s] 1 test run: 1 passed, 0 skipped",
        );
        assert_eq!(
            c,
            Some(Counts {
                passed: 1,
                failed: 0,
                skipped: 0
            })
        );
        assert_eq!(parse_summary("running 3 tests"), None);
    }
}
