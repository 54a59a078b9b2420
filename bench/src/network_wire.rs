//! Part `wire`: the time to wire one port, through the API and by hand.
//!
//! API: one port after the other (after a warm-up port, the first of the network on this
//! host, which also brings up its bridge, VXLAN device and DHCP namespace with dnsmasq):
//! `POST /ports` bound to the host (`binding:host_id`, `device_owner: compute:nova`, a
//! `device_id`), then `GET /ports/{id}?fields=status` back to back on a second connection
//! until `ACTIVE`.
//!
//! By hand, in the same namespace, on a bridge with a dnsmasq of its own made beforehand:
//! `ip tuntap add`, `ip link set master … up`, one `nft -f` file (a per-port chain with MAC
//! and IP anti-spoofing and its jump), a line appended to dnsmasq's hosts file and
//! `kill -HUP`, each a process as a script would run them. It is what the agent does for a
//! port at the least; the agent also writes the stateful security-group rules and reads
//! the whole plan back from the database.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _};

use crate::load::Conn;
use crate::network_api::{id_of, Neutron};

/// What the part measured, in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct WireReport {
    /// The warm-up port: POST → ACTIVE.
    pub warmup_ms: f64,
    pub post_ms: Vec<f64>,
    pub active_ms: Vec<f64>,
    /// Status polls per port (mean).
    pub polls: f64,
    /// By hand: the sum of the steps per port, then each step.
    pub manual_ms: Vec<f64>,
    pub manual_steps: Vec<(&'static str, Vec<f64>)>,
    pub manual_error: Option<String>,
}

pub async fn run(api: &Neutron, network_id: &str, n: usize) -> anyhow::Result<WireReport> {
    let mut rep = WireReport::default();
    let mut conn = Conn::open(api.addr).await?;
    let mut poll = Conn::open(api.addr).await?;
    let mut polls = 0usize;
    for i in 0..=n {
        let body = Neutron::bound_port(network_id, &format!("wire-{i}"), None);
        let t0 = Instant::now();
        let port = api.create(&mut conn, "port", body).await?;
        let posted = t0.elapsed();
        let id = id_of(&port)?;
        loop {
            polls += usize::from(i > 0);
            let status = api.port_status(&mut poll, &id).await?;
            if status == "ACTIVE" {
                break;
            }
            ensure!(
                t0.elapsed() < Duration::from_secs(60),
                "port {id} is {status} 60 s after its create"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let active = t0.elapsed();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        if i == 0 {
            rep.warmup_ms = ms(active);
            eprintln!("wire: warm-up port ACTIVE after {:.1} ms", rep.warmup_ms);
        } else {
            rep.post_ms.push(ms(posted));
            rep.active_ms.push(ms(active));
        }
    }
    rep.polls = polls as f64 / n.max(1) as f64;
    let mut sorted = rep.active_ms.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "wire: {n} ports, POST → ACTIVE p50 {:.1} ms",
        crate::compute_server::pct(&sorted, 50.0)
    );
    match by_hand(n) {
        Ok((total, steps)) => {
            rep.manual_ms = total;
            rep.manual_steps = steps;
        }
        Err(e) => {
            eprintln!("wire by hand failed: {e:#}");
            rep.manual_error = Some(format!("{e:#}"));
        }
    }
    Ok(rep)
}

const BRIDGE: &str = "fsbbr0";
const TABLE: &str = "fsbench_manual";

fn run_cmd(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("run {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The by-hand setup: a bridge with an address, a bridge-family table and a dnsmasq on
/// it. Dropping it kills dnsmasq (by pid) and removes the devices and the table.
struct Manual {
    dnsmasq: Option<Child>,
    dir: tempfile::TempDir,
    taps: Vec<String>,
}

impl Manual {
    fn setup() -> anyhow::Result<Manual> {
        let mut m = Manual {
            dnsmasq: None,
            dir: tempfile::Builder::new()
                .prefix("fsbench-manual-")
                .tempdir()?,
            taps: Vec::new(),
        };
        run_cmd(&["ip", "link", "add", BRIDGE, "type", "bridge"])?;
        run_cmd(&["ip", "addr", "add", "10.99.0.1/24", "dev", BRIDGE])?;
        run_cmd(&["ip", "link", "set", BRIDGE, "up"])?;
        let table = format!(
            "table bridge {TABLE} {{\n  chain pfwd {{\n    type filter hook forward priority 0; policy accept;\n  }}\n}}\n"
        );
        let file = m.dir.path().join("table.nft");
        std::fs::write(&file, table)?;
        run_cmd(&["nft", "-f", &file.to_string_lossy()])?;
        std::fs::write(m.hosts(), "")?;
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-hosts",
                "--no-resolv",
                "--port=0",
                "--user=root",
                "--bind-interfaces",
                &format!("--interface={BRIDGE}"),
                "--except-interface=lo",
                &format!("--pid-file={}", m.dir.path().join("pid").display()),
                &format!("--dhcp-hostsfile={}", m.hosts().display()),
                "--leasefile-ro",
                "--dhcp-range=10.99.0.0,static,255.255.255.0,86400s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start dnsmasq")?;
        m.dnsmasq = Some(child);
        // Let it bind before the first SIGHUP.
        std::thread::sleep(Duration::from_millis(300));
        if let Some(c) = m.dnsmasq.as_mut() {
            if let Some(st) = c.try_wait()? {
                bail!("dnsmasq exited at once ({st})");
            }
        }
        Ok(m)
    }

    fn hosts(&self) -> std::path::PathBuf {
        self.dir.path().join("hosts")
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.dnsmasq
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| anyhow!("no dnsmasq"))
    }

    /// The steps for port `i`, timed.
    fn wire(&mut self, i: usize) -> anyhow::Result<[f64; 4]> {
        let tap = format!("fsbt{i}");
        let mac = format!("fa:16:3e:99:{:02x}:{:02x}", i / 256, i % 256);
        let ip = format!("10.99.0.{}", 10 + i);
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;

        let t = Instant::now();
        run_cmd(&["ip", "tuntap", "add", "dev", &tap, "mode", "tap"])?;
        self.taps.push(tap.clone());
        let tuntap = ms(t);

        let t = Instant::now();
        run_cmd(&["ip", "link", "set", &tap, "master", BRIDGE, "up"])?;
        let master = ms(t);

        let t = Instant::now();
        let rules = format!(
            "add chain bridge {TABLE} p{i}\n\
             add rule bridge {TABLE} p{i} ether saddr != {mac} drop\n\
             add rule bridge {TABLE} p{i} ether type arp arp saddr ip {ip} accept\n\
             add rule bridge {TABLE} p{i} ether type arp drop\n\
             add rule bridge {TABLE} p{i} ip saddr 0.0.0.0 udp dport 67 accept\n\
             add rule bridge {TABLE} p{i} ip saddr {ip} accept\n\
             add rule bridge {TABLE} p{i} drop\n\
             add rule bridge {TABLE} pfwd iifname {tap} jump p{i}\n"
        );
        let file = self.dir.path().join(format!("p{i}.nft"));
        std::fs::write(&file, rules)?;
        run_cmd(&["nft", "-f", &file.to_string_lossy()])?;
        let nft = ms(t);

        let t = Instant::now();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.hosts())?;
        writeln!(f, "{mac},host-{i},{ip}")?;
        drop(f);
        let pid = self.pid()?.to_string();
        run_cmd(&["kill", "-HUP", &pid])?;
        let dhcp = ms(t);
        Ok([tuntap, master, nft, dhcp])
    }
}

impl Drop for Manual {
    fn drop(&mut self) {
        if let Some(mut c) = self.dnsmasq.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for tap in &self.taps {
            let _ = Command::new("ip").args(["link", "delete", tap]).output();
        }
        let _ = Command::new("ip").args(["link", "delete", BRIDGE]).output();
        let _ = Command::new("nft")
            .args(["delete", "table", "bridge", TABLE])
            .output();
    }
}

type Steps = Vec<(&'static str, Vec<f64>)>;

/// `n` ports wired by hand; per port the total, and each step.
fn by_hand(n: usize) -> anyhow::Result<(Vec<f64>, Steps)> {
    ensure!(n <= 200, "at most 200 ports by hand (one /24)");
    ensure!(
        Path::new("/proc/self/ns/net").exists(),
        "no network namespace support"
    );
    let mut m = Manual::setup()?;
    let mut steps: Steps = vec![
        ("`ip tuntap add`", Vec::new()),
        ("`ip link set master … up`", Vec::new()),
        ("`nft -f` (a chain, 7 rules)", Vec::new()),
        ("hosts line + `kill -HUP` dnsmasq", Vec::new()),
    ];
    let mut total = Vec::new();
    // One warm-up port, not counted, as on the API side.
    m.wire(0)?;
    for i in 1..=n {
        let s = m.wire(i)?;
        for (k, v) in s.iter().enumerate() {
            steps[k].1.push(*v);
        }
        total.push(s.iter().sum());
    }
    Ok((total, steps))
}
