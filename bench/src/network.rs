//! `bench network`: issue 5's benchmarks of the network service against the real release
//! binary with its Linux data plane, in one run on one `ferrostack up`:
//!
//! - `wire` ([`crate::network_wire`]): `POST /ports` bound to this host until the port is
//!   `ACTIVE` (the agent reports it once its tap, filter rules and DHCP entry are live),
//!   beside the same steps done by hand (`ip tuntap add`, `ip link set master`, one `nft -f`
//!   file, a dnsmasq hosts line and SIGHUP).
//! - `sg` ([`crate::network_sg`]): a security group of 1,000 rules shared by 50 bound ports;
//!   a rule added or deleted through the API until `nft list ruleset` shows the change.
//! - `ports` ([`crate::network_ports`]): 1,000 ports created by 32 concurrent clients on one
//!   /22; throughput, and every fixed IP distinct.
//!
//! The cloud gets a network namespace of its own: the bench (outside) creates
//! `fsbench-<pid>`, then runs itself again inside it under `nsenter --net`; that inner run
//! starts `ferrostack up` (so the agent's bridges, taps and rules land in that namespace and
//! its own namespaces are named `fsbench-<pid>-*`), makes every HTTP connection and every
//! `ip`/`nft` call there, and writes the report. When it ends, the outer run kills by pid any
//! process still inside one of those namespaces (dnsmasq outlives the server) and deletes
//! them all, also when the inner run failed.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context as _};
use clap::ValueEnum;

use crate::compute_server::{self as cs, Cloud, CloudOptions};
use crate::network_api::Neutron;
use crate::network_report::{NetworkReport, PLACE};
use crate::report::{self, Machine};
use crate::{network_ports, network_sg, network_wire, server};

/// Set (to the namespace's name) in the environment of the inner run.
const INSIDE: &str = "FSBENCH_NETNS";

/// The compute host the cloud's agents run as; ports are bound to it.
pub const HOST: &str = "fsbench-host";

/// One part of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Wire,
    Sg,
    Ports,
}

/// Options of `bench network`.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Parts to run, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Part::Wire, Part::Sg, Part::Ports])]
    pub parts: Vec<Part>,
    /// Ports wired one after the other (after one warm-up port), and as many by hand.
    #[arg(long, default_value_t = 20)]
    pub wire_ports: usize,
    /// Rules of the shared security group.
    #[arg(long, default_value_t = 1000)]
    pub sg_rules: usize,
    /// Bound ports using the shared security group.
    #[arg(long, default_value_t = 50)]
    pub sg_ports: usize,
    /// Rule additions (and as many deletions) timed.
    #[arg(long, default_value_t = 10)]
    pub sg_changes: usize,
    /// Pause before each change of the first series (the agent may still be cutting the
    /// connections of the previous deletion), ms.
    #[arg(long, default_value_t = 5000)]
    pub sg_settle_ms: u64,
    /// Ports created concurrently on the /22.
    #[arg(long, default_value_t = 1000)]
    pub ports: usize,
    /// Concurrent clients (one keep-alive connection each) creating them.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// Entry point: outside, prepares the namespace and runs the bench again inside it;
/// inside, runs the parts and prints (and with `--write` records) the report.
pub(crate) async fn run(args: &crate::Args, na: &NetworkArgs) -> anyhow::Result<()> {
    if let Ok(ns) = std::env::var(INSIDE) {
        return inside(args, na, &ns).await;
    }
    let bin = server::resolve_binary(args.no_build)?;
    let ns = Netns::create(&format!("fsbench-{}", std::process::id()))?;
    eprintln!(
        "network namespace {} (cloud namespaces {}*)",
        ns.name,
        ns.prefix()
    );
    let exe = std::env::current_exe()?;
    let status = Command::new("nsenter")
        .arg(format!("--net={}", ns.path().display()))
        .arg("--")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(INSIDE, &ns.name)
        .env("FERROSTACK_BIN", &bin)
        .status()
        .context("run nsenter")?;
    drop(ns);
    if !status.success() {
        bail!("the run inside the namespace failed ({status})");
    }
    Ok(())
}

/// A network namespace of this run. Dropping it kills (by pid) every process inside it or
/// inside a namespace named with its prefix, then deletes them all.
struct Netns {
    name: String,
}

impl Netns {
    fn create(name: &str) -> anyhow::Result<Netns> {
        let out = Command::new("ip").args(["netns", "add", name]).output()?;
        if !out.status.success() {
            bail!(
                "ip netns add {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let ns = Netns { name: name.into() };
        let out = Command::new("ip")
            .args(["-n", name, "link", "set", "lo", "up"])
            .output()?;
        if !out.status.success() {
            bail!("lo up in {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(ns)
    }

    fn prefix(&self) -> String {
        format!("{}-", self.name)
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// This namespace and those named with its prefix.
    fn all(&self) -> Vec<String> {
        let prefix = self.prefix();
        let mut v: Vec<String> = std::fs::read_dir("/run/netns")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        v.push(self.name.clone());
        v
    }
}

/// Pids of the processes whose network namespace is one of `inodes`.
fn pids_in(inodes: &[u64]) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| inodes.contains(&m.ino()))
        })
        .collect()
}

impl Drop for Netns {
    fn drop(&mut self) {
        let names = self.all();
        let inodes: Vec<u64> = names
            .iter()
            .filter_map(|n| std::fs::metadata(Path::new("/run/netns").join(n)).ok())
            .map(|m| m.ino())
            .collect();
        for pid in pids_in(&inodes) {
            eprintln!(
                "killing leftover pid {pid} ({})",
                cs::cmdline(pid).unwrap_or_default().join(" ")
            );
            cs::kill_pid(pid);
        }
        for n in names {
            let _ = Command::new("ip").args(["netns", "delete", &n]).status();
        }
    }
}

/// The cloud of the run; stopped when dropped, with every process naming its data directory
/// (the agent's dnsmasq servers, which outlive the server).
struct NetCloud {
    cloud: Option<Cloud>,
    data_dir: PathBuf,
}

impl NetCloud {
    fn start(args: &crate::Args, bin: &Path, ns: &str) -> anyhow::Result<NetCloud> {
        let toml = format!(
            "[compute]\ndriver = \"fake\"\nhost = \"{HOST}\"\n\n\
             [network]\nnamespace_prefix = \"{ns}-\"\n\
             quota_network = -1\nquota_subnet = -1\nquota_port = -1\n\
             quota_security_group = -1\nquota_security_group_rule = -1\n"
        );
        let cloud = Cloud::start(&CloudOptions {
            bin,
            toml,
            up_args: Vec::new(),
            bcrypt_cost: args.bcrypt_cost,
        })?;
        eprintln!(
            "ferrostack pid {} at http://{} ({})",
            cloud.pid,
            cloud.addr,
            cloud.data_dir.display()
        );
        Ok(NetCloud {
            data_dir: cloud.data_dir.clone(),
            cloud: Some(cloud),
        })
    }

    fn cloud(&self) -> anyhow::Result<&Cloud> {
        self.cloud
            .as_ref()
            .ok_or_else(|| anyhow!("the cloud is stopped"))
    }

    fn stop(&mut self) {
        if let Some(c) = self.cloud.take() {
            c.stop();
        }
        for pid in cs::pids_naming(&self.data_dir) {
            cs::kill_pid(pid);
        }
    }
}

impl Drop for NetCloud {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a part produced.
enum Done {
    Wire(network_wire::WireReport),
    Sg(network_sg::SgReport),
    Ports(network_ports::PortsReport),
}

/// The network with DHCP (a /24) the wire and sg parts share, made on first use.
async fn shared(api: &Neutron, cache: &mut Option<String>) -> anyhow::Result<String> {
    if let Some(id) = cache {
        return Ok(id.clone());
    }
    let id = api
        .network_with_subnet("bench-net", "10.30.0.0/24", true)
        .await?;
    *cache = Some(id.clone());
    Ok(id)
}

async fn inside(args: &crate::Args, na: &NetworkArgs, ns: &str) -> anyhow::Result<()> {
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut rep = NetworkReport {
        machine: Machine::probe(),
        load_average: (server::load_average(), String::new()),
        namespace: ns.to_string(),
        ..NetworkReport::default()
    };
    let bin = server::resolve_binary(true)?;
    let mut cloud = NetCloud::start(args, &bin, ns)?;
    let (api, pid) = {
        let c = cloud.cloud()?;
        (Neutron::new(c.admin().await?), c.pid)
    };
    api.ready().await.with_context(|| {
        format!(
            "server log:\n{}",
            cloud.cloud().map(Cloud::log_tail).unwrap_or_default()
        )
    })?;
    tokio::time::sleep(crate::secs(args.idle)).await;
    rep.memory.push(("idle".into(), server::memory(pid)?));
    let err = |e: anyhow::Error| {
        let log = cloud.cloud().map(Cloud::log_tail).unwrap_or_default();
        format!("{e:#}; server log:\n{log}")
    };
    // The wire and sg parts share one network with DHCP (a /24).
    let mut shared_net: Option<String> = None;
    for part in &na.parts {
        let r = match part {
            Part::Wire | Part::Sg => match shared(&api, &mut shared_net).await {
                Err(e) => Err(e),
                Ok(net) if *part == Part::Wire => network_wire::run(&api, &net, na.wire_ports)
                    .await
                    .map(Done::Wire),
                Ok(net) => network_sg::run(
                    &api,
                    &net,
                    na.sg_rules,
                    na.sg_ports,
                    na.sg_changes,
                    std::time::Duration::from_millis(na.sg_settle_ms),
                )
                .await
                .map(Done::Sg),
            },
            Part::Ports => network_ports::run(&api, pid, na.ports, na.concurrency)
                .await
                .map(Done::Ports),
        };
        match r {
            Ok(Done::Wire(w)) => rep.wire = Some(Ok(w)),
            Ok(Done::Sg(g)) => rep.sg = Some(Ok(g)),
            Ok(Done::Ports(p)) => rep.ports = Some(Ok(p)),
            Err(e) => {
                eprintln!("{part:?} part failed: {e:#}");
                let e = err(e);
                match part {
                    Part::Wire => rep.wire = Some(Err(e)),
                    Part::Sg => rep.sg = Some(Err(e)),
                    Part::Ports => rep.ports = Some(Err(e)),
                }
            }
        }
        rep.memory.push((
            format!("after {part:?}").to_lowercase(),
            server::memory(pid)?,
        ));
    }
    cloud.stop();
    rep.load_average.1 = server::load_average();
    rep.date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    rep.commit = report::git_commit(&workspace);
    let cmdline: Vec<String> = std::env::args().skip(1).collect();
    rep.command = format!("cargo xtask bench -- {}", cmdline.join(" "));
    let md = rep.markdown();
    println!("{md}");
    if args.write {
        report::write_at(&args.out, &PLACE, &rep.commit, &md)?;
        eprintln!("wrote {}", args.out.display());
    }
    Ok(())
}
