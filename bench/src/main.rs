//! `bench`: load benchmark of the identity service against the real `ferrostack` release
//! binary, run as a child process on a fresh data directory. Measures token issue (password,
//! application credential), token validation and project listing at several concurrencies,
//! the server's resident memory idle and after the load, and the bcrypt cost that bounds token
//! issue. Prints a Markdown report; `--write` puts it into BENCHMARKS.md.
//!
//! `bench image` instead measures upload and download of one large image through the image
//! API against a plain copy of the same bytes on the same disk (see `image.rs`).
//!
//! `bench compute` measures compute (see `compute.rs`): a real guest's boot through the API
//! against plain QEMU, 1,000 fake-driver creates, scheduler decisions over 1,000 and 10,000
//! hosts, placement allocation candidates over 1,000 and 5,000 providers, and memory.
//!
//! `bench network` measures networking (see `network.rs`): wiring a port, a change to a large
//! shared security group, and concurrent port creates, with the cloud in a namespace of its own.
//!
//! It talks to the binary over HTTP like any client; the only workspace crate it uses is the
//! scheduler, whose decision it times in process. Not part of any test suite (`cargo xtask
//! bench` runs it); nothing here asserts wall-clock time.

mod compute;
mod compute_report;
mod compute_scale;
mod compute_sched;
mod compute_server;
mod compute_vm;
mod image;
mod image_report;
mod load;
mod network;
mod network_api;
mod network_ports;
mod network_report;
mod network_sg;
mod network_wire;
mod report;
mod server;
mod transfer;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Parser, Subcommand, ValueEnum};
use http::Method;
use serde_json::{json, Value};

use load::{Call, Outcome};
use report::{HashCost, Machine, Report, Row};
use server::Server;

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Benchmark the identity service of the ferrostack release binary (or, with `image`, image upload and download)"
)]
struct Args {
    /// What to benchmark instead of the identity service.
    #[command(subcommand)]
    command: Option<Command>,
    /// Scenarios to run, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Scenario::DEFAULT.to_vec())]
    scenarios: Vec<Scenario>,
    /// Concurrent workers (one keep-alive connection each) for every scenario.
    #[arg(long, value_delimiter = ',', default_values_t = vec![8, 32])]
    concurrency: Vec<usize>,
    /// Seconds of warm-up before each measurement window (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds measured per scenario and concurrency.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds measured for the bcrypt-bound token-issue scenarios (few, slow requests).
    #[arg(long, default_value_t = 15.0)]
    issue_duration: f64,
    /// Seconds the server idles before each memory reading.
    #[arg(long, global = true, default_value_t = 2.0)]
    idle: f64,
    /// On a shared machine: before each row, wait up to this many seconds for other
    /// processes to use less than `--quiet-cores` of CPU (0 = do not wait).
    #[arg(long, global = true, default_value_t = 0.0)]
    quiet_wait: f64,
    /// The CPU (in cores) other processes may use for the machine to count as quiet.
    #[arg(long, global = true, default_value_t = 0.2)]
    quiet_cores: f64,
    /// bcrypt cost the server hashes passwords with (FERROSTACK_IDENTITY__PASSWORD_HASH_ROUNDS).
    #[arg(long, global = true, default_value_t = 12)]
    bcrypt_cost: u32,
    /// How many in-process bcrypt hash and verify samples to time.
    #[arg(long, default_value_t = 3)]
    hash_samples: usize,
    /// Workers issuing password tokens alongside `validate-during-logins`.
    #[arg(long, default_value_t = 32)]
    storm: usize,
    /// Threads of the load generator's runtime (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Do not run `cargo build --release -p ferrostack` first (ignored with FERROSTACK_BIN).
    #[arg(long, global = true)]
    no_build: bool,
    /// Keep the server's data directory (with ferrostack.log) here instead of a temporary one.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Put the report into BENCHMARKS.md (the section of the same commit is replaced).
    #[arg(long, global = true)]
    write: bool,
    /// The file `--write` updates.
    #[arg(long, global = true, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../BENCHMARKS.md"))]
    out: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Upload and download of one large image (`PUT`/`GET /image/v2/images/{id}/file`)
    /// against `cp` + fsync and `dd conv=fsync` of the same bytes on the same filesystem.
    Image(image::ImageArgs),
    /// Compute (issue 4): a real guest's boot through the API against plain QEMU, creates
    /// on the fake driver, the scheduler's decision, placement candidates, memory.
    Compute(compute::ComputeArgs),
    /// Network (issue 5): wiring a port through the API vs by hand, a change to a
    /// 1,000-rule security group shared by 50 ports, 1,000 concurrent port creates on a /22.
    /// Runs the cloud in a network namespace of its own.
    Network(network::NetworkArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// GET /v3/auth/tokens?nocatalog, X-Auth-Token = X-Subject-Token = the admin token.
    Validate,
    /// GET /v3/auth/tokens with the catalog (what keystonemiddleware asks by default).
    ValidateCatalog,
    /// GET /v3/projects with the admin token.
    ProjectList,
    /// Validate (`?nocatalog`) while `--storm` other workers issue password tokens.
    ValidateDuringLogins,
    /// POST /v3/auth/tokens?nocatalog, password method, project scope.
    IssuePassword,
    /// POST /v3/auth/tokens?nocatalog, application-credential method.
    IssueAppCred,
}

impl Scenario {
    const DEFAULT: [Scenario; 6] = [
        Scenario::Validate,
        Scenario::ValidateCatalog,
        Scenario::ProjectList,
        Scenario::IssuePassword,
        Scenario::IssueAppCred,
        Scenario::ValidateDuringLogins,
    ];

    fn label(self) -> &'static str {
        match self {
            Scenario::Validate => "token validate (`?nocatalog`)",
            Scenario::ValidateCatalog => "token validate (with catalog)",
            Scenario::ProjectList => "project list",
            Scenario::ValidateDuringLogins => {
                "token validate (`?nocatalog`) during password logins"
            }
            Scenario::IssuePassword => "token issue, password (`?nocatalog`)",
            Scenario::IssueAppCred => "token issue, app credential (`?nocatalog`)",
        }
    }

    fn is_issue(self) -> bool {
        matches!(self, Scenario::IssuePassword | Scenario::IssueAppCred)
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.to_possible_value().ok_or(std::fmt::Error)?;
        f.write_str(v.get_name())
    }
}

const TOKENS: &str = "/identity/v3/auth/tokens";

/// What the setup calls produced.
struct Setup {
    admin_token: String,
    password_body: Value,
    app_cred_body: Result<Value, String>,
}

fn password_body(password: &str) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
}

async fn setup(srv: &Server) -> anyhow::Result<Setup> {
    let password_body = password_body(&srv.admin_password);
    let call = Call::new(Method::POST, &format!("{TOKENS}?nocatalog")).json(&password_body);
    let r = load::once(srv.addr, &call).await?;
    if r.status.as_u16() != 201 {
        return Err(anyhow!(
            "admin token issue: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    let admin_token = r
        .headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow!("no X-Subject-Token"))?
        .to_string();
    let body: Value = serde_json::from_slice(&r.body)?;
    let user_id = body["token"]["user"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no token.user.id"))?;
    let create = Call::new(
        Method::POST,
        &format!("/identity/v3/users/{user_id}/application_credentials"),
    )
    .header("x-auth-token", &admin_token)?
    .json(&json!({"application_credential": {"name": "bench", "description": "bench load"}}));
    let r = load::once(srv.addr, &create).await?;
    let app_cred_body = if r.status.as_u16() == 201 {
        let v: Value = serde_json::from_slice(&r.body)?;
        let ac = &v["application_credential"];
        match (ac["id"].as_str(), ac["secret"].as_str()) {
            (Some(id), Some(secret)) => Ok(json!({"auth": {"identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": id, "secret": secret}}}})),
            _ => Err("create answered 201 without id and secret".to_string()),
        }
    } else {
        Err(format!("creating one answered HTTP {}", r.status.as_u16()))
    };
    Ok(Setup {
        admin_token,
        password_body,
        app_cred_body,
    })
}

fn call_for(s: Scenario, st: &Setup) -> Result<Call, String> {
    let tok = &st.admin_token;
    let authed = |c: Call| c.header("x-auth-token", tok).map_err(|e| e.to_string());
    match s {
        Scenario::Validate | Scenario::ValidateCatalog | Scenario::ValidateDuringLogins => {
            let q = if s == Scenario::ValidateCatalog {
                ""
            } else {
                "?nocatalog"
            };
            authed(Call::new(Method::GET, &format!("{TOKENS}{q}")))?
                .header("x-subject-token", tok)
                .map_err(|e| e.to_string())
        }
        Scenario::ProjectList => authed(Call::new(Method::GET, "/identity/v3/projects")),
        Scenario::IssuePassword => {
            Ok(Call::new(Method::POST, &format!("{TOKENS}?nocatalog")).json(&st.password_body))
        }
        Scenario::IssueAppCred => {
            let body = st.app_cred_body.as_ref().map_err(Clone::clone)?;
            Ok(Call::new(Method::POST, &format!("{TOKENS}?nocatalog")).json(body))
        }
    }
}

fn target_and_verdict(
    s: Scenario,
    r: &Row,
    o: &Outcome,
    hash: &HashCost,
    cpus: usize,
) -> (String, String) {
    let errs = if o.errors > 0 {
        format!("; **{} errors**", o.errors)
    } else {
        String::new()
    };
    match s {
        Scenario::Validate => {
            let mut missed = Vec::new();
            if o.rate < 20_000.0 {
                missed.push(format!("rate {:.0}% of it", o.rate / 200.0));
            }
            match o.p99_ms {
                Some(p) if p < 5.0 => {}
                Some(p) => missed.push(format!("p99 {p:.1} ms")),
                None => missed.push("no p99".into()),
            }
            let v = match (missed.is_empty(), o.errors) {
                (true, 0) => "met".to_string(),
                (true, _) => "**missed**".to_string(),
                (false, _) => format!("**missed** ({})", missed.join(", ")),
            };
            ("≥ 20,000 req/s, p99 < 5 ms".into(), format!("{v}{errs}"))
        }
        Scenario::IssuePassword | Scenario::IssueAppCred => {
            let bound = hash.bound_per_sec(cpus);
            let target = format!("≤ hash bound {bound:.1} req/s; ≈ 1 verify of CPU per token");
            if o.rate <= 0.0 {
                return (target, format!("—{errs}"));
            }
            let ratio = r.server_cores / o.rate * 1000.0 / hash.verify_cpu_ms();
            let v = if (0.7..=1.5).contains(&ratio) {
                "hash-bound"
            } else {
                "**not hash-bound**"
            };
            (
                target,
                format!("{v}: CPU per token = {ratio:.2} × verify{errs}"),
            )
        }
        Scenario::ValidateDuringLogins => {
            let bg = match &r.background {
                Some(b) => format!("{} logins/s alongside", report::rate(b.rate)),
                None => "—".into(),
            };
            let bg_errs = r.background.as_ref().map_or(0, |b| b.errors);
            let bg_errs = if bg_errs > 0 {
                format!("; **{bg_errs} login errors**")
            } else {
                String::new()
            };
            ("—".into(), format!("{bg}{errs}{bg_errs}"))
        }
        _ => (
            "—".into(),
            if errs.is_empty() {
                "—".into()
            } else {
                errs.trim_start_matches("; ").into()
            },
        ),
    }
}

/// Waits until the whole machine (the idle server and this process included) uses less than
/// `cores` CPU over a one-second sample, or `max_secs` have passed.
async fn wait_quiet(max_secs: f64, cores: f64, tick: f64) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    loop {
        let a = server::system_busy_ticks()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let used = server::system_busy_ticks()?.saturating_sub(a) as f64 / tick;
        if used < cores {
            return Ok(());
        }
        if start.elapsed().as_secs_f64() > max_secs {
            eprintln!("machine still busy ({used:.2} cores) after {max_secs} s; measuring anyway");
            return Ok(());
        }
    }
}

/// CPU ticks of the server, of this process and of the whole machine.
fn cpu_snapshot(server_pid: &str) -> anyhow::Result<(u64, u64, u64)> {
    Ok((
        server::cpu_ticks(server_pid)?,
        server::cpu_ticks("self")?,
        server::system_busy_ticks()?,
    ))
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0))
}

/// What every run needs.
struct Ctx<'a> {
    srv: &'a Server,
    st: &'a Setup,
    args: &'a Args,
    hash: &'a HashCost,
    cpus: usize,
    /// Clock ticks per second of /proc CPU times.
    tick: f64,
}

async fn run_one(cx: &Ctx<'_>, s: Scenario, c: usize) -> anyhow::Result<Row> {
    let Ctx {
        srv,
        st,
        args,
        hash,
        cpus,
        tick,
    } = *cx;
    let mut row = Row {
        scenario: s.label().to_string(),
        concurrency: c,
        outcome: None,
        na_reason: None,
        server_cores: 0.0,
        client_cores: 0.0,
        other_cores: 0.0,
        background: None,
        target: String::new(),
        verdict: String::new(),
    };
    let call = match call_for(s, st) {
        Ok(c) => c,
        Err(why) => {
            row.target = target_and_verdict(s, &row, &Outcome::default(), hash, cpus).0;
            row.na_reason = Some(why);
            return Ok(row);
        }
    };
    // One probe first: a scenario whose endpoint does not work yet is n/a, not a flood of errors.
    let probe = load::once(srv.addr, &call).await?;
    if !probe.status.is_success() {
        row.target = target_and_verdict(s, &row, &Outcome::default(), hash, cpus).0;
        let body = String::from_utf8_lossy(&probe.body)
            .chars()
            .take(160)
            .collect::<String>();
        row.na_reason = Some(format!(
            "HTTP {} ({})",
            probe.status.as_u16(),
            body.replace('|', "/")
        ));
        return Ok(row);
    }
    if args.quiet_wait > 0.0 {
        wait_quiet(args.quiet_wait, args.quiet_cores, tick).await?;
    }
    let duration = if s.is_issue() {
        args.issue_duration
    } else {
        args.duration
    };
    let pid = srv.pid.to_string();
    let (srv0, me0, all0) = cpu_snapshot(&pid)?;
    let wall = std::time::Instant::now();
    let background = (s == Scenario::ValidateDuringLogins).then(|| load::Load {
        call: Call::new(Method::POST, &format!("{TOKENS}?nocatalog")).json(&st.password_body),
        concurrency: args.storm,
    });
    let main = load::Load {
        call,
        concurrency: c,
    };
    let (o, bg) = load::run(
        srv.addr,
        main,
        background,
        secs(args.warmup),
        secs(duration),
    )
    .await?;
    row.background = bg;
    let elapsed = wall.elapsed().as_secs_f64();
    let (srv1, me1, all1) = cpu_snapshot(&pid)?;
    row.server_cores = (srv1 - srv0) as f64 / tick / elapsed;
    row.client_cores = (me1 - me0) as f64 / tick / elapsed;
    let all = all1.saturating_sub(all0) as f64 / tick / elapsed;
    row.other_cores = (all - row.server_cores - row.client_cores).max(0.0);
    (row.target, row.verdict) = target_and_verdict(s, &row, &o, hash, cpus);
    eprintln!(
        "{s} c={c}: {:.1} req/s, p50 {:?} ms, p99 {:?} ms, {} errors, server {:.2} cores, loadgen {:.2}, others {:.2}",
        o.rate, o.p50_ms, o.p99_ms, o.errors, row.server_cores, row.client_cores, row.other_cores
    );
    row.outcome = Some(o);
    Ok(row)
}

async fn bench(args: Args) -> anyhow::Result<Report> {
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let machine = Machine::probe();
    let load_before = server::load_average();
    let cpus = machine.cpus;
    eprintln!(
        "timing bcrypt at cost {} in-process ({} samples)...",
        args.bcrypt_cost, args.hash_samples
    );
    let tick = server::clock_ticks() as f64;
    if args.quiet_wait > 0.0 {
        wait_quiet(args.quiet_wait, args.quiet_cores, tick).await?;
    }
    let hash = HashCost::measure(args.bcrypt_cost, args.hash_samples)?;
    let bin = server::resolve_binary(args.no_build)?;
    let srv = Server::start(&server::Options {
        bin,
        bcrypt_cost: args.bcrypt_cost,
        data_dir: args.data_dir.clone(),
    })?;
    eprintln!("ferrostack pid {} at http://{}", srv.pid, srv.addr);
    tokio::time::sleep(secs(args.idle)).await;
    let mem_idle = server::memory(srv.pid)?;
    let st = setup(&srv)
        .await
        .with_context(|| format!("setup; server log:\n{}", srv.log_tail()))?;
    let cx = Ctx {
        srv: &srv,
        st: &st,
        args: &args,
        hash: &hash,
        cpus,
        tick,
    };
    let mut rows = Vec::new();
    for &s in &args.scenarios {
        for &c in &args.concurrency {
            rows.push(run_one(&cx, s, c).await?);
        }
    }
    tokio::time::sleep(secs(args.idle)).await;
    let mem_after = server::memory(srv.pid)?;
    let stored_costs = srv.stored_hash_costs();
    srv.stop();
    let cmdline: Vec<String> = std::env::args().skip(1).collect();
    Ok(Report {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        commit: report::git_commit(&workspace),
        machine,
        command: format!("cargo xtask bench -- {}", cmdline.join(" ")).trim_end().to_string(),
        settings: format!(
            "token rate limits off, bcrypt cost {}; load: closed loop, one keep-alive HTTP/1.1 connection per worker, {}-thread load generator, {} s warm-up + {} s measured ({} s for token issue) per row",
            args.bcrypt_cost, args.client_threads, args.warmup, args.duration, args.issue_duration
        ),
        hash,
        stored_costs,
        rows,
        mem_idle,
        mem_after,
        rss_target_mb: 50.0,
        errors: Vec::new(),
        load_average: (load_before, server::load_average()),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()?
    };
    let (write, out) = (args.write, args.out.clone());
    if let Some(Command::Image(ia)) = &args.command {
        let report = rt.block_on(image::bench(&args, ia))?;
        let md = report.markdown();
        println!("{md}");
        if write {
            report::write_at(&out, &image_report::PLACE, &report.commit, &md)?;
            eprintln!("wrote {}", out.display());
        }
        return Ok(());
    }
    if let Some(Command::Compute(ca)) = &args.command {
        let report = rt.block_on(compute::bench(&args, ca))?;
        let md = report.markdown();
        println!("{md}");
        if write {
            report::write_at(&out, &compute_report::PLACE, &report.commit, &md)?;
            eprintln!("wrote {}", out.display());
        }
        return Ok(());
    }
    if let Some(Command::Network(na)) = &args.command {
        return rt.block_on(network::run(&args, na));
    }
    let report = rt.block_on(bench(args))?;
    let md = report.markdown();
    println!("{md}");
    if write {
        report::write(&out, &report)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
