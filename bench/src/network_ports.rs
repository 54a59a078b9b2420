//! Part `ports`: `n` ports created by `concurrency` clients at once on one network with a
//! /22 subnet (1,021 allocatable addresses; DHCP off, ports unbound, so the run measures
//! the API, the database and IP allocation rather than the agent). Every client has one
//! keep-alive connection and sends its next `POST /ports` when the last is answered.
//! Afterwards the fixed IPs from the 201 answers and from a listing of the network's ports
//! are checked: one address each, all distinct, all inside the subnet.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use anyhow::Context as _;
use http::Method;
use serde_json::json;

use crate::load::Conn;
use crate::network_api::{addresses, many, Neutron};
use crate::server;

pub const CIDR: &str = "10.40.0.0/22";

/// What the part measured.
#[derive(Clone, Debug, Default)]
pub struct PortsReport {
    pub n: usize,
    pub concurrency: usize,
    pub wall_secs: f64,
    pub post_ms: Vec<f64>,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Addresses in the 201 answers: total, distinct, outside the subnet.
    pub answered: usize,
    pub answered_distinct: usize,
    pub outside: usize,
    /// Ports the listing shows, with how many distinct addresses.
    pub listed: usize,
    pub listed_distinct: usize,
    /// Ports not having exactly one address (answers or listing).
    pub not_one_ip: usize,
    /// Whether the listing shows exactly the answered addresses.
    pub listing_matches: bool,
    /// The cloud's CPU during the creates, in cores.
    pub server_cores: f64,
}

impl PortsReport {
    /// Whether every created port got its own address.
    pub fn distinct(&self) -> bool {
        self.answered == self.n - self.errors
            && self.answered_distinct == self.answered
            && self.listed == self.answered
            && self.listed_distinct == self.listed
            && self.outside == 0
            && self.not_one_ip == 0
            && self.listing_matches
    }
}

fn inside(ip: &str) -> bool {
    let Ok(a) = ip.parse::<Ipv4Addr>() else {
        return false;
    };
    u32::from(a) & 0xffff_fc00 == u32::from(Ipv4Addr::new(10, 40, 0, 0))
}

pub async fn run(
    api: &Neutron,
    cloud_pid: u32,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<PortsReport> {
    let net = api.network_with_subnet("bench-22", CIDR, false).await?;
    let mut rep = PortsReport {
        n,
        concurrency,
        ..PortsReport::default()
    };
    let tick = server::clock_ticks() as f64;
    let cpu0 = server::cpu_ticks(&cloud_pid.to_string())?;
    let (a, id) = (api.clone(), net.clone());
    let (done, wall) = many(
        api.addr,
        n,
        concurrency,
        201,
        Arc::new(move |i| {
            let body = json!({"port": {"network_id": id, "name": format!("bulk-{i}")}});
            a.call(Method::POST, "/ports", Some(&body))
        }),
    )
    .await?;
    let cpu1 = server::cpu_ticks(&cloud_pid.to_string())?;
    rep.wall_secs = wall;
    rep.server_cores = (cpu1 - cpu0) as f64 / tick / wall.max(1e-9);
    let mut seen = HashSet::new();
    for d in &done {
        rep.post_ms.push(d.ms);
        match &d.body {
            Ok(v) => {
                let ips = addresses(&v["port"]);
                rep.not_one_ip += usize::from(ips.len() != 1);
                for ip in ips {
                    rep.answered += 1;
                    rep.outside += usize::from(!inside(&ip));
                    seen.insert(ip);
                }
            }
            Err(e) => {
                rep.errors += 1;
                rep.first_error.get_or_insert_with(|| e.clone());
            }
        }
    }
    rep.answered_distinct = seen.len();
    eprintln!(
        "ports: {n} creates at {concurrency} in {wall:.1} s ({:.0}/s), {} errors, {} distinct of {} addresses",
        (n - rep.errors) as f64 / wall,
        rep.errors,
        rep.answered_distinct,
        rep.answered
    );
    let mut conn = Conn::open(api.addr).await?;
    let listed = api
        .ports_of(&mut conn, &net)
        .await
        .context("list the network's ports")?;
    let mut listed_ips = HashSet::new();
    for (_, _, ips) in &listed {
        rep.not_one_ip += usize::from(ips.len() != 1);
        for ip in ips {
            rep.listed += 1;
            listed_ips.insert(ip.clone());
        }
    }
    rep.listed_distinct = listed_ips.len();
    rep.listing_matches = listed_ips == seen;
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_membership() {
        assert!(inside("10.40.0.1"));
        assert!(inside("10.40.3.254"));
        assert!(!inside("10.40.4.1"));
        assert!(!inside("10.39.255.255"));
        assert!(!inside("fd00::1"));
    }
}
