//! The network API as `bench network` uses it: an admin session on `/network/v2.0`, the
//! few calls the parts make, and a closed-loop runner of many creates over concurrent
//! keep-alive connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure};
use http::Method;
use serde_json::{json, Value};

use crate::compute_server::{self as cs, Api};
use crate::load::{self, Call, Conn};

/// An admin session on the network service.
#[derive(Clone, Debug)]
pub struct Neutron {
    pub addr: SocketAddr,
    token: String,
}

/// One request of [`many`], as its client saw it.
#[derive(Clone, Debug)]
pub struct Done {
    pub ms: f64,
    /// The JSON body when the status was the wanted one.
    pub body: Result<Value, String>,
}

impl Neutron {
    pub fn new(api: Api) -> Neutron {
        Neutron {
            addr: api.addr,
            token: api.token,
        }
    }

    /// `/network/v2.0{path}` with the admin token.
    pub fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Call> {
        let c = Call::new(method, &format!("/network/v2.0{path}"))
            .header("x-auth-token", &self.token)?;
        Ok(match body {
            Some(b) => c.json(b),
            None => c,
        })
    }

    /// Sends `call` on `conn` (reopened when the server closed it) and wants `want`.
    pub async fn send(&self, conn: &mut Conn, call: &Call, want: u16) -> anyhow::Result<Value> {
        if conn.is_closed() {
            *conn = Conn::open(self.addr).await?;
        }
        let r = conn.send(call).await?;
        cs::check(call, &r, want)
    }

    /// Fails unless the network service answers.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let call = self.call(Method::GET, "/networks", None)?;
        let r = load::once(self.addr, &call).await?;
        if r.status.as_u16() != 200 {
            bail!(
                "GET /network/v2.0/networks: HTTP {} ({}); is the network service in `ferrostack up`?",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        Ok(())
    }

    /// `POST /{collection}` with `{key: body}`; the created resource.
    pub async fn create(&self, conn: &mut Conn, key: &str, body: Value) -> anyhow::Result<Value> {
        let coll = collection(key);
        let call = self.call(
            Method::POST,
            &format!("/{coll}"),
            Some(&json!({ key: body })),
        )?;
        let v = self.send(conn, &call, 201).await?;
        let obj = v[key].clone();
        ensure!(obj.is_object(), "POST /{coll} answered no {key}: {v}");
        Ok(obj)
    }

    /// A network with one IPv4 subnet; the network's id.
    pub async fn network_with_subnet(
        &self,
        name: &str,
        cidr: &str,
        dhcp: bool,
    ) -> anyhow::Result<String> {
        let mut conn = Conn::open(self.addr).await?;
        let net = self
            .create(&mut conn, "network", json!({"name": name}))
            .await?;
        let id = id_of(&net)?;
        self.create(
            &mut conn,
            "subnet",
            json!({"network_id": id, "name": format!("{name}-v4"), "ip_version": 4,
                   "cidr": cidr, "enable_dhcp": dhcp}),
        )
        .await?;
        Ok(id)
    }

    /// The body of a port bound to this host as Nova's would be.
    pub fn bound_port(network_id: &str, name: &str, security_group: Option<&str>) -> Value {
        let mut p = json!({
            "network_id": network_id,
            "name": name,
            "binding:host_id": crate::network::HOST,
            "device_owner": "compute:nova",
            "device_id": uuid::Uuid::new_v4().to_string(),
        });
        if let Some(sg) = security_group {
            p["security_groups"] = json!([sg]);
        }
        p
    }

    /// A port's status.
    pub async fn port_status(&self, conn: &mut Conn, id: &str) -> anyhow::Result<String> {
        let call = self.call(Method::GET, &format!("/ports/{id}?fields=status"), None)?;
        let v = self.send(conn, &call, 200).await?;
        v["port"]["status"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("port {id} without status: {v}"))
    }

    /// Every port of a network: (id, status, fixed IP addresses).
    pub async fn ports_of(
        &self,
        conn: &mut Conn,
        network_id: &str,
    ) -> anyhow::Result<Vec<(String, String, Vec<String>)>> {
        let call = self.call(
            Method::GET,
            &format!("/ports?network_id={network_id}&fields=id&fields=status&fields=fixed_ips"),
            None,
        )?;
        let v = self.send(conn, &call, 200).await?;
        let ports = v["ports"]
            .as_array()
            .ok_or_else(|| anyhow!("no ports list: {v}"))?;
        Ok(ports
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap_or_default().to_string(),
                    p["status"].as_str().unwrap_or_default().to_string(),
                    addresses(p),
                )
            })
            .collect())
    }

    /// Polls until every port of `ids` is `ACTIVE`; seconds waited.
    pub async fn wait_all_active(
        &self,
        network_id: &str,
        ids: &[String],
        timeout: Duration,
    ) -> anyhow::Result<f64> {
        let mut conn = Conn::open(self.addr).await?;
        let t0 = Instant::now();
        loop {
            let ports = self.ports_of(&mut conn, network_id).await?;
            let waiting = ids
                .iter()
                .filter(|id| !ports.iter().any(|(p, s, _)| p == *id && s == "ACTIVE"))
                .count();
            if waiting == 0 {
                return Ok(t0.elapsed().as_secs_f64());
            }
            ensure!(
                t0.elapsed() < timeout,
                "{waiting} of {} ports not ACTIVE after {timeout:?}",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Neutron's collection of a resource key (`security_group_rule` → `security-group-rules`).
fn collection(key: &str) -> String {
    format!("{}s", key.replace('_', "-"))
}

/// The `id` of a resource.
pub fn id_of(v: &Value) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no id in {v}"))
}

/// The `fixed_ips[].ip_address` of a port.
pub fn addresses(port: &Value) -> Vec<String> {
    port["fixed_ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["ip_address"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `make(i)` for every `i < n` with `concurrency` clients, each on its own keep-alive
/// connection, each taking the next index when its previous request is answered; every
/// answer, in no particular order, and the wall time in seconds.
pub async fn many(
    addr: SocketAddr,
    n: usize,
    concurrency: usize,
    want: u16,
    make: Arc<dyn Fn(usize) -> anyhow::Result<Call> + Send + Sync>,
) -> anyhow::Result<(Vec<Done>, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let t0 = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (next, done, make) = (next.clone(), done.clone(), make.clone());
        workers.spawn(async move {
            let mut conn = Conn::open(addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let call = make(i)?;
                if conn.is_closed() {
                    conn = Conn::open(addr).await?;
                }
                let s = t0.elapsed();
                let r = conn.send(&call).await;
                let ms = (t0.elapsed() - s).as_secs_f64() * 1000.0;
                let body = match r {
                    Ok(reply) => cs::check(&call, &reply, want).map_err(|e| format!("{e:#}")),
                    Err(e) => {
                        conn = Conn::open(addr).await?;
                        Err(format!("{e:#}"))
                    }
                };
                done.lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .push(Done { ms, body });
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        r??;
    }
    let wall = t0.elapsed().as_secs_f64();
    let v = std::mem::take(&mut *done.lock().map_err(|_| anyhow!("poisoned"))?);
    Ok((v, wall))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_and_addresses() {
        assert_eq!(collection("security_group_rule"), "security-group-rules");
        assert_eq!(collection("port"), "ports");
        let p = json!({"fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}]});
        assert_eq!(addresses(&p), vec!["10.0.0.5"]);
        assert!(addresses(&json!({})).is_empty());
    }
}
