//! DHCP per network, as Neutron's DHCP agent does it: a namespace with a leg on the bridge
//! carrying the DHCP port's MAC and addresses (plus 169.254.169.254 for the metadata
//! service), and a dnsmasq answering only the static hosts of the plan. Host changes are a
//! SIGHUP (dnsmasq re-reads its hosts file); other changes restart it. A dnsmasq left by a
//! previous run of the agent is found by its pid file and command line and kept.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common_error::{Context, Result};
use ipnet::IpNet;
use network_model::dataplane::{DhcpPlan, NetworkPlan, SubnetPlan};
use network_model::names;
use rustix::process::{kill_process, Pid, Signal};

use crate::cmd::{self, NETNS_DIR};
use crate::links::{ensure_addresses, with_prefix, Leg, Links};

/// The metadata service's address, on every DHCP leg.
pub(crate) const METADATA_IP: &str = "169.254.169.254";

/// Files of one network's dnsmasq: `<data_dir>/dhcp/<network id>/{pid,host}`.
pub(crate) fn dir(data_dir: &Path, network_id: &str) -> PathBuf {
    data_dir.join("dhcp").join(network_id)
}

/// The namespace, its leg and dnsmasq of `net` (which has `dhcp`).
pub(crate) async fn ensure(
    host: &mut Links,
    ns: &str,
    net: &NetworkPlan,
    dhcp: &DhcpPlan,
    data_dir: &Path,
    default_dns: &[String],
) -> Result<()> {
    cmd::ensure_namespace(ns).await?;
    let leg = names::dhcp_leg(&dhcp.port_id);
    host.ensure_leg(Leg {
        outer: &names::tap(&dhcp.port_id),
        bridge: Some(&names::bridge(&net.id)),
        ns,
        inner: &leg,
        mac: Some(&dhcp.mac_address),
        mtu: net.mtu,
        up: true,
    })
    .await?;
    let mut addrs: Vec<String> = dhcp
        .fixed_ips
        .iter()
        .filter_map(|f| {
            let subnet = net.subnets.iter().find(|s| s.id == f.subnet_id)?;
            with_prefix(&f.ip_address, &subnet.cidr)
        })
        .collect();
    addrs.push(format!("{METADATA_IP}/32"));
    ensure_addresses(Some(ns), &leg, &addrs).await?;
    let dir = dir(data_dir, &net.id);
    std::fs::create_dir_all(&dir).context("create the dnsmasq directory")?;
    let args = dnsmasq_args(&dir, &leg, net, dhcp, default_dns);
    let hosts = hosts_file(net, dhcp);
    let hosts_path = dir.join("host");
    let hosts_changed = std::fs::read_to_string(&hosts_path).ok().as_deref() != Some(&hosts);
    if hosts_changed {
        let tmp = dir.join("host.tmp");
        std::fs::write(&tmp, &hosts).context("write the dnsmasq hosts file")?;
        std::fs::rename(&tmp, &hosts_path).context("write the dnsmasq hosts file")?;
    }
    match running(&dir, Some(ns)) {
        Some((pid, argv)) if argv == args => {
            if hosts_changed {
                signal(pid, Signal::HUP);
            }
            Ok(())
        }
        other => {
            if let Some((pid, _)) = other {
                stop_pid(pid).await;
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cmd::run(Some(ns), "dnsmasq", &refs[1..], None).await?;
            Ok(())
        }
    }
}

/// Stops the dnsmasq of `dir` (if one runs) and removes the directory.
pub(crate) async fn remove(dir: &Path) -> Result<()> {
    if let Some((pid, _)) = running(dir, None) {
        stop_pid(pid).await;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).context("remove the dnsmasq directory")?;
    }
    Ok(())
}

/// dnsmasq's command line for a network: everything but the hosts is here, so a
/// difference means a restart.
fn dnsmasq_args(
    dir: &Path,
    leg: &str,
    net: &NetworkPlan,
    dhcp: &DhcpPlan,
    default_dns: &[String],
) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "dnsmasq".into(),
        "--conf-file=/dev/null".into(),
        "--no-hosts".into(),
        "--no-resolv".into(),
        "--port=0".into(),
        "--user=root".into(),
        "--bind-interfaces".into(),
        format!("--interface={leg}"),
        "--except-interface=lo".into(),
        format!("--pid-file={}", dir.join("pid").display()),
        format!("--dhcp-hostsfile={}", dir.join("host").display()),
        "--leasefile-ro".into(),
        "--dhcp-authoritative".into(),
        "--dhcp-lease-max=65536".into(),
    ];
    for subnet in net.subnets.iter().filter(|s| serves(s)) {
        let Ok(cidr) = subnet.cidr.parse::<IpNet>() else {
            continue;
        };
        let tag = format!("subnet-{}", subnet.id);
        match cidr {
            IpNet::V4(v4) => {
                a.push(format!(
                    "--dhcp-range=set:{tag},{},static,{},86400s",
                    v4.network(),
                    v4.netmask()
                ));
                a.extend(v4_options(&tag, subnet, net.mtu, dhcp, default_dns));
            }
            IpNet::V6(v6) => {
                a.push(format!(
                    "--dhcp-range=set:{tag},{},static,{},86400s",
                    v6.network(),
                    v6.prefix_len()
                ));
                let dns = if subnet.dns_nameservers.is_empty() {
                    default_dns
                } else {
                    &subnet.dns_nameservers
                };
                let dns: Vec<String> = dns
                    .iter()
                    .filter(|d| d.contains(':'))
                    .map(|d| format!("[{d}]"))
                    .collect();
                if !dns.is_empty() {
                    a.push(format!(
                        "--dhcp-option-force=tag:{tag},option6:dns-server,{}",
                        dns.join(",")
                    ));
                }
            }
        }
    }
    a
}

/// Whether dnsmasq serves a subnet: DHCP on, and for IPv6 only stateful DHCPv6 (SLAAC and
/// stateless need router advertisements, which this data plane does not send yet).
fn serves(s: &SubnetPlan) -> bool {
    s.enable_dhcp
        && (s.ip_version == 4 || s.ipv6_address_mode.as_deref() == Some("dhcpv6-stateful"))
}

fn v4_options(
    tag: &str,
    subnet: &SubnetPlan,
    mtu: u32,
    dhcp: &DhcpPlan,
    default_dns: &[String],
) -> Vec<String> {
    let opt = |o: String| format!("--dhcp-option-force=tag:{tag},{o}");
    let mut out = Vec::new();
    let gateway = subnet.gateway_ip.as_deref().filter(|g| !g.is_empty());
    if let Some(gw) = gateway {
        out.push(opt(format!("option:router,{gw}")));
    }
    let dns = if subnet.dns_nameservers.is_empty() {
        default_dns
    } else {
        &subnet.dns_nameservers
    };
    let dns: Vec<&str> = dns
        .iter()
        .map(String::as_str)
        .filter(|d| !d.contains(':'))
        .collect();
    if !dns.is_empty() {
        out.push(opt(format!("option:dns-server,{}", dns.join(","))));
    }
    // Classless static routes replace the router option for clients that ask for them, so
    // they carry the default route too.
    let mut routes: Vec<String> = Vec::new();
    if let Some(own) = dhcp.fixed_ips.iter().find(|f| f.subnet_id == subnet.id) {
        routes.push(format!("{METADATA_IP}/32,{}", own.ip_address));
    }
    for r in &subnet.host_routes {
        if !r.destination.contains(':') {
            routes.push(format!("{},{}", r.destination, r.nexthop));
        }
    }
    if let Some(gw) = gateway {
        routes.push(format!("0.0.0.0/0,{gw}"));
    }
    out.push(opt(format!(
        "option:classless-static-route,{}",
        routes.join(",")
    )));
    out.push(opt(format!("option:mtu,{mtu}")));
    out
}

/// dnsmasq's static hosts: `mac,hostname,ip` (`[ip]` for IPv6), for subnets it serves.
fn hosts_file(net: &NetworkPlan, dhcp: &DhcpPlan) -> String {
    let mut out = String::new();
    for h in &dhcp.hosts {
        let Some(subnet) = net.subnets.iter().find(|s| s.id == h.subnet_id) else {
            continue;
        };
        if !serves(subnet) {
            continue;
        }
        let ip = if h.ip_address.contains(':') {
            format!("[{}]", h.ip_address)
        } else {
            h.ip_address.clone()
        };
        out += &format!("{},{},{}\n", h.mac_address.to_lowercase(), h.hostname, ip);
    }
    out
}

/// The dnsmasq whose pid file is in `dir`, when it runs (and, given `ns`, runs in that
/// namespace), with its command line.
fn running(dir: &Path, ns: Option<&str>) -> Option<(i32, Vec<String>)> {
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let pid_arg = format!("--pid-file={}", dir.join("pid").display());
    if argv.first().map(String::as_str) != Some("dnsmasq") || !argv.contains(&pid_arg) {
        return None;
    }
    if let Some(ns) = ns {
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
        let ours = std::fs::metadata(format!("{NETNS_DIR}/{ns}")).ok()?;
        if (theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino()) {
            return Some((pid, Vec::new()));
        }
    }
    Some((pid, argv))
}

fn signal(pid: i32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        if let Err(err) = kill_process(pid, sig) {
            tracing::warn!(pid = pid.as_raw_nonzero().get(), error = %err, "cannot signal dnsmasq");
        }
    }
}

/// SIGTERM, then SIGKILL after two seconds; returns once the process is gone.
async fn stop_pid(pid: i32) {
    signal(pid, Signal::TERM);
    let gone = || !Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid);
    for _ in 0..40 {
        if gone() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(pid, Signal::KILL);
    for _ in 0..40 {
        if gone() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!(pid, "dnsmasq did not exit");
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
