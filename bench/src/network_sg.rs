//! Part `sg`: a change to a security group of 1,000 rules shared by 50 ports.
//!
//! A group gets `rules` ingress TCP rules (ports 10000, 10001, …; 8 concurrent creates), then
//! `ports` ports bound to this host use it (8 concurrent creates) and the bench waits until
//! all are `ACTIVE`. Then, `changes` times: a rule for TCP port 20000 + k is added
//! (`POST /security-group-rules`) and `nft list ruleset` is run back to back in the cloud's
//! namespace until it shows `dport 2000k`; then the rule is deleted and the listing is
//! polled until the port is gone. The first `changes` start after a pause (`settle`: a
//! deletion makes the agent cut the tracked connections of every port using the group,
//! which keeps it busy after the rules are already visible); as many more follow back to
//! back. A change counts as seen at the end of the first listing
//! that shows it, so the figures include up to one listing's time (reported).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use http::Method;
use serde_json::json;

use crate::load::Conn;
use crate::network_api::{id_of, many, Neutron};

/// What the part measured.
#[derive(Clone, Debug, Default)]
pub struct SgReport {
    pub rules: usize,
    pub ports: usize,
    /// Seconds to create the rules, the ports, and until all ports were ACTIVE.
    pub rules_secs: f64,
    pub ports_secs: f64,
    pub active_secs: f64,
    /// `nft list ruleset`: lines, and ms per listing (every poll).
    pub ruleset_lines: usize,
    pub list_ms: Vec<f64>,
    /// Per change, ms: POST → 201, POST → seen; DELETE → 204, DELETE → gone.
    pub add_api_ms: Vec<f64>,
    pub add_seen_ms: Vec<f64>,
    pub del_api_ms: Vec<f64>,
    pub del_seen_ms: Vec<f64>,
    /// Lower bounds of the same (the last listing without the change started then).
    pub add_lower_ms: Vec<f64>,
    pub del_lower_ms: Vec<f64>,
    /// The same, each change sent as soon as the previous one was seen.
    pub b2b_add_seen_ms: Vec<f64>,
    pub b2b_del_seen_ms: Vec<f64>,
    /// The pause before each change of the first series, ms.
    pub settle_ms: u64,
}

/// Whether `ruleset` has a match on destination port `port`.
fn has_port(ruleset: &str, port: u16) -> bool {
    let needle = format!("dport {port}");
    ruleset.match_indices(&needle).any(|(i, _)| {
        !ruleset[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// `nft list ruleset` in this namespace; the text and its duration in ms.
fn ruleset() -> anyhow::Result<(String, f64)> {
    let t = Instant::now();
    let out = std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .context("run nft")?;
    ensure!(
        out.status.success(),
        "nft list ruleset: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        t.elapsed().as_secs_f64() * 1000.0,
    ))
}

/// Lists the ruleset until `port` is in it (`present`) or not. In ms since `t0`: when the
/// last listing that did not show the change started (the change happened later; 0 when
/// the first listing showed it), and when the first listing that showed it ended.
fn wait_ruleset(
    rep: &mut SgReport,
    port: u16,
    present: bool,
    t0: Instant,
) -> anyhow::Result<(f64, f64)> {
    let mut lower = 0.0;
    loop {
        let start = t0.elapsed().as_secs_f64() * 1000.0;
        let (text, ms) = ruleset()?;
        rep.list_ms.push(ms);
        if has_port(&text, port) == present {
            return Ok((lower, t0.elapsed().as_secs_f64() * 1000.0));
        }
        lower = start;
        if t0.elapsed() > Duration::from_secs(60) {
            bail!(
                "rule for port {port} still {} in nft ruleset after 60 s",
                if present { "absent" } else { "present" }
            );
        }
    }
}

pub async fn run(
    api: &Neutron,
    network_id: &str,
    rules: usize,
    ports: usize,
    changes: usize,
    settle: Duration,
) -> anyhow::Result<SgReport> {
    ensure!(rules <= 10_000, "at most 10,000 rules (ports 10000..19999)");
    let mut rep = SgReport {
        rules,
        ports,
        settle_ms: u64::try_from(settle.as_millis())?,
        ..SgReport::default()
    };
    let mut conn = Conn::open(api.addr).await?;
    let sg = api
        .create(
            &mut conn,
            "security_group",
            json!({"name": format!("bench-{rules}-rules")}),
        )
        .await?;
    let sg_id = id_of(&sg)?;

    let (a, id) = (api.clone(), sg_id.clone());
    let (done, secs) = many(
        api.addr,
        rules,
        8,
        201,
        Arc::new(move |i| {
            let body = json!({"security_group_rule": {
                "security_group_id": id, "direction": "ingress", "ethertype": "IPv4",
                "protocol": "tcp", "port_range_min": 10000 + i, "port_range_max": 10000 + i}});
            a.call(Method::POST, "/security-group-rules", Some(&body))
        }),
    )
    .await?;
    if let Some(e) = done.iter().find_map(|d| d.body.as_ref().err()) {
        bail!("creating the rules: {e}");
    }
    rep.rules_secs = secs;
    eprintln!("sg: {rules} rules created in {secs:.1} s");

    let (a, net, id) = (api.clone(), network_id.to_string(), sg_id.clone());
    let (done, secs) = many(
        api.addr,
        ports,
        8,
        201,
        Arc::new(move |i| {
            let port = Neutron::bound_port(&net, &format!("sg-{i}"), Some(&id));
            a.call(Method::POST, "/ports", Some(&json!({ "port": port })))
        }),
    )
    .await?;
    let mut ids = Vec::new();
    for d in &done {
        match &d.body {
            Ok(v) => ids.push(id_of(&v["port"])?),
            Err(e) => bail!("creating the ports: {e}"),
        }
    }
    rep.ports_secs = secs;
    rep.active_secs = secs
        + api
            .wait_all_active(network_id, &ids, Duration::from_secs(300))
            .await?;
    eprintln!(
        "sg: {ports} ports created in {secs:.1} s, all ACTIVE after {:.1} s",
        rep.active_secs
    );

    let (text, _) = ruleset()?;
    let last = 10_000 + u16::try_from(rules.saturating_sub(1))?;
    ensure!(
        has_port(&text, 10_000) && has_port(&text, last),
        "the group's rules are not in `nft list ruleset` ({} lines)",
        text.lines().count()
    );
    rep.ruleset_lines = text.lines().count();

    // Each change from an idle agent (after `settle`), then as many back to back.
    for k in 0..changes * 2 {
        let idle = k < changes;
        if idle {
            tokio::time::sleep(settle).await;
        }
        let port = 20_000 + u16::try_from(k)?;
        let [add_api, add_lower, add_seen, del_api, del_lower, del_seen] =
            change(api, &mut conn, &mut rep, &sg_id, port).await?;
        if idle {
            rep.add_lower_ms.push(add_lower);
            rep.del_lower_ms.push(del_lower);
            rep.add_api_ms.push(add_api);
            rep.add_seen_ms.push(add_seen);
            rep.del_api_ms.push(del_api);
            rep.del_seen_ms.push(del_seen);
        } else {
            rep.b2b_add_seen_ms.push(add_seen);
            rep.b2b_del_seen_ms.push(del_seen);
        }
        eprintln!(
            "sg: change {k} ({}): added, seen after {add_seen:.1} ms; deleted, gone after {del_seen:.1} ms",
            if idle { "after a pause" } else { "back to back" }
        );
    }
    Ok(rep)
}

/// Adds a rule for `port`, waits until nft shows it, deletes it, waits until it is gone:
/// POST → 201, POST → (lower bound, seen), DELETE → 204, DELETE → (lower bound, gone), in
/// ms.
async fn change(
    api: &Neutron,
    conn: &mut Conn,
    rep: &mut SgReport,
    sg_id: &str,
    port: u16,
) -> anyhow::Result<[f64; 6]> {
    let body = json!({"security_group_rule": {
        "security_group_id": sg_id, "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": port, "port_range_max": port}});
    let call = api.call(Method::POST, "/security-group-rules", Some(&body))?;
    let t0 = Instant::now();
    let v = api.send(conn, &call, 201).await?;
    let add_api = t0.elapsed().as_secs_f64() * 1000.0;
    let rule_id = id_of(&v["security_group_rule"])?;
    let (add_lower, add_seen) = wait_ruleset(rep, port, true, t0)?;

    let path = format!("/security-group-rules/{rule_id}");
    let call = api.call(Method::DELETE, &path, None)?;
    let t0 = Instant::now();
    api.send(conn, &call, 204).await?;
    let del_api = t0.elapsed().as_secs_f64() * 1000.0;
    let (del_lower, del_seen) = wait_ruleset(rep, port, false, t0)?;
    Ok([add_api, add_lower, add_seen, del_api, del_lower, del_seen])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_port_numbers_only() {
        let r = "tcp dport 20001 accept\ntcp dport 10000-10010 accept\ntcp dport 3000";
        assert!(has_port(r, 20001));
        assert!(!has_port(r, 2000));
        assert!(has_port(r, 3000));
        assert!(has_port(r, 10000));
        assert!(!has_port(r, 1000));
    }
}
