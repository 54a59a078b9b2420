//! The cloud under test for `bench compute`: `ferrostack up` (the release binary) on a fresh
//! data directory holding a `ferrostack.toml` (the compute driver, accelerator, quotas), with
//! extra `up` arguments (`--seed-image tiny=PATH`); an admin session on its APIs; and the
//! `/proc` helpers that find, measure and stop the QEMU processes of its guests.
//!
//! Dropping a [`Cloud`] stops the server (SIGTERM, then SIGKILL after 5 s) and then kills, by
//! pid, every QEMU whose command line names the cloud's instances directory (daemonized VMs
//! outlive the server), so nothing is left behind when a step fails.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _};
use http::Method;
use serde_json::{json, Value};

use crate::load::{self, Call, Conn, Reply};
use crate::server;

/// The compute microversion every call asks for (`networks: "none"` needs 2.37).
pub const COMPUTE_MV: &str = "compute 2.79";
/// The placement microversion every call asks for (create answers the provider at 1.20).
pub const PLACEMENT_MV: &str = "placement 1.36";

/// How to start one cloud.
pub struct CloudOptions<'a> {
    pub bin: &'a Path,
    /// The whole `ferrostack.toml`.
    pub toml: String,
    /// Extra `up` arguments.
    pub up_args: Vec<String>,
    pub bcrypt_cost: u32,
}

/// A running `ferrostack up`; stopped (with its guests) when dropped.
pub struct Cloud {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub admin_password: String,
    pub data_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Cloud {
    pub fn start(opts: &CloudOptions<'_>) -> anyhow::Result<Cloud> {
        let tmp = tempfile::Builder::new()
            .prefix("ferrostack-computebench-")
            .tempdir()?;
        let data_dir = tmp.path().to_path_buf();
        std::fs::write(data_dir.join("ferrostack.toml"), &opts.toml)?;
        let log = std::fs::File::create(data_dir.join("ferrostack.log"))?;
        let mut cmd = Command::new(opts.bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FERROSTACK_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--config")
            .arg(data_dir.join("ferrostack.toml"))
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["up", "--listen", "127.0.0.1:0", "--no-user-clouds-yaml"])
            .args(&opts.up_args)
            .current_dir(&data_dir)
            .env("FERROSTACK_RATE_LIMIT__TOKEN_PER_USER_PER_SEC", "0")
            .env("FERROSTACK_RATE_LIMIT__TOKEN_PER_ADDR_PER_SEC", "0")
            .env(
                "FERROSTACK_IDENTITY__PASSWORD_HASH_ROUNDS",
                opts.bcrypt_cost.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", opts.bin.display()))?;
        let pid = child.id();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout pipe"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = server::parse_up_line(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let mut cloud = Cloud {
            child,
            pid,
            addr: ([127, 0, 0, 1], 0).into(),
            admin_password: String::new(),
            data_dir,
            _tmp: tmp,
        };
        cloud.addr = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(a) => a,
            Err(_) => bail!(
                "ferrostack did not report its address; log:\n{}",
                cloud.log_tail()
            ),
        };
        let clouds = std::fs::read_to_string(cloud.data_dir.join("clouds.yaml"))
            .context("read clouds.yaml")?;
        cloud.admin_password = server::parse_clouds_yaml(&clouds)?;
        Ok(cloud)
    }

    /// Where the qemu driver keeps its VMs (the default `<data_dir>/instances`).
    pub fn instances_dir(&self) -> PathBuf {
        self.data_dir.join("instances")
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.data_dir.join("ferrostack.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Logs in as admin (project scope).
    pub async fn admin(&self) -> anyhow::Result<Api> {
        let call = Call::new(Method::POST, &format!("{}?nocatalog", crate::TOKENS))
            .json(&crate::password_body(&self.admin_password));
        let r = load::once(self.addr, &call).await?;
        ensure!(
            r.status.as_u16() == 201,
            "admin token issue: HTTP {}",
            r.status
        );
        let token = r
            .headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("no X-Subject-Token"))?
            .to_string();
        Ok(Api {
            addr: self.addr,
            token,
        })
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
            let mut exited = false;
            for _ in 0..50 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    exited = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if !exited {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for pid in pids_naming(&self.instances_dir()) {
            kill_pid(pid);
        }
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// An admin session on one cloud.
#[derive(Clone, Debug)]
pub struct Api {
    pub addr: SocketAddr,
    pub token: String,
}

impl Api {
    /// A compute call (`/compute/v2.1{path}`) at [`COMPUTE_MV`].
    pub fn nova(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Call> {
        let c = Call::new(method, &format!("/compute/v2.1{path}"))
            .header("x-auth-token", &self.token)?
            .header("openstack-api-version", COMPUTE_MV)?;
        Ok(match body {
            Some(b) => c.json(b),
            None => c,
        })
    }

    /// A placement call (`/placement{path}`) at [`PLACEMENT_MV`].
    pub fn placement(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Call> {
        let c = Call::new(method, &format!("/placement{path}"))
            .header("x-auth-token", &self.token)?
            .header("openstack-api-version", PLACEMENT_MV)?;
        Ok(match body {
            Some(b) => c.json(b),
            None => c,
        })
    }

    /// Sends `call` on a fresh connection and wants status `want`; the JSON body (or null).
    pub async fn expect(&self, call: &Call, want: u16) -> anyhow::Result<Value> {
        let r = load::once(self.addr, call).await?;
        check(call, &r, want)
    }

    /// The id of the flavor named `name`.
    pub async fn flavor_id(&self, name: &str) -> anyhow::Result<String> {
        let v = self
            .expect(&self.nova(Method::GET, "/flavors", None)?, 200)
            .await?;
        v["flavors"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["name"] == name))
            .and_then(|f| f["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no flavor {name}: {v}"))
    }

    /// The id of the image named `name` once it is active (seeding may still run).
    pub async fn active_image(&self, name: &str) -> anyhow::Result<String> {
        let start = Instant::now();
        loop {
            let call = Call::new(Method::GET, &format!("/image/v2/images?name={name}"))
                .header("x-auth-token", &self.token)?;
            let v = self.expect(&call, 200).await?;
            let active = v["images"]
                .as_array()
                .and_then(|a| a.iter().find(|i| i["status"] == "active"))
                .and_then(|i| i["id"].as_str())
                .map(str::to_string);
            if let Some(id) = active {
                return Ok(id);
            }
            ensure!(
                start.elapsed() < Duration::from_secs(120),
                "image {name} not active after 120 s: {v}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The body of `POST /servers` for a tiny server without networks.
    pub fn server_body(image: &str, flavor: &str, name: &str) -> Value {
        json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"}})
    }

    /// Creates a server; its id.
    pub async fn create_server(&self, conn: &mut Conn, body: &Value) -> anyhow::Result<String> {
        let call = self.nova(Method::POST, "/servers", Some(body))?;
        let r = conn.send(&call).await?;
        let v = check(&call, &r, 202)?;
        v["server"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("create answered no server id: {v}"))
    }

    /// `GET /servers/{id}`: the server, or `None` once it is gone (404).
    pub async fn server(&self, id: &str) -> anyhow::Result<Option<Value>> {
        let call = self.nova(Method::GET, &format!("/servers/{id}"), None)?;
        let r = load::once(self.addr, &call).await?;
        if r.status.as_u16() == 404 {
            return Ok(None);
        }
        Ok(Some(check(&call, &r, 200)?["server"].clone()))
    }

    /// Polls until the server's status is `want` (fails at once on ERROR).
    pub async fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let s = self
                .server(id)
                .await?
                .ok_or_else(|| anyhow!("server {id} vanished"))?;
            let status = s["status"].as_str().unwrap_or_default();
            if status == want {
                return Ok(());
            }
            ensure!(
                status != "ERROR",
                "server {id} went to ERROR: {}",
                s["fault"]
            );
            ensure!(
                start.elapsed() < timeout,
                "server {id} is {status}, not {want}, after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes a server and waits until it is gone.
    pub async fn delete_server(&self, id: &str, timeout: Duration) -> anyhow::Result<()> {
        let call = self.nova(Method::DELETE, &format!("/servers/{id}"), None)?;
        self.expect(&call, 204).await?;
        let start = Instant::now();
        while self.server(id).await?.is_some() {
            ensure!(
                start.elapsed() < timeout,
                "server {id} still there {timeout:?} after its delete"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

/// The JSON body of `r` (null when empty) if its status is `want`.
pub fn check(call: &Call, r: &Reply, want: u16) -> anyhow::Result<Value> {
    if r.status.as_u16() != want {
        bail!(
            "{} {}: HTTP {} (wanted {want}): {}",
            call.method,
            call.path,
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&r.body)?)
}

/// The NUL-separated command line of a process.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// Pids of the processes (not this one) whose command line mentions `dir`.
pub fn pids_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| cmdline(pid).is_some_and(|c| c.iter().any(|a| a.contains(&needle))))
        .collect()
}

/// The pid in a QEMU pid file, if that process is alive and its command line names `dir`.
pub fn verified_pid(pidfile: &Path, dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let needle = dir.display().to_string();
    cmdline(pid)
        .is_some_and(|c| c.iter().any(|a| a.contains(&needle)))
        .then_some(pid)
}

/// SIGKILL to one pid this benchmark started (directly or through the cloud), then waits
/// up to 5 s for it to go.
pub fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    for _ in 0..50 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Nearest-rank percentile of milliseconds.
pub fn pct(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted_ms.len() as f64).ceil() as usize;
    sorted_ms[rank.clamp(1, sorted_ms.len()) - 1]
}

/// p50, p99 and max of `ms` (sorted in place).
pub fn summary(ms: &mut [f64]) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (
        pct(ms, 50.0),
        pct(ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN),
    )
}

/// Median of `v`.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(summary(&mut v), (50.0, 99.0, 100.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn finds_own_command_line_but_not_itself_by_dir() {
        let me = cmdline(std::process::id()).unwrap();
        assert!(!me.is_empty());
        let exe = std::env::current_exe().unwrap();
        assert!(!pids_naming(exe.parent().unwrap()).contains(&std::process::id()));
    }
}
