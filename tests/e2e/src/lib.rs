//! Harness for end-to-end tests: the real `ferrostack` binary as a child process, driven by the
//! real `openstack` CLI (python-openstackclient), as a user would.
//!
//! - The binary is `$FERROSTACK_BIN`, else `debug/ferrostack` under `$CARGO_TARGET_DIR`, the
//!   workspace's `target/`, or `$HOME/.cache/ferrostack-target` (where `cargo xtask` builds).
//! - The CLI is `$FERROSTACK_OSC`, else `$HOME/.cache/ferrostack/osc-venv/bin/openstack`
//!   (`cargo xtask test` creates that venv).
//!
//! Each [`Cloud`] runs `ferrostack --data-dir <tempdir> up --listen 127.0.0.1:0
//! --no-user-clouds-yaml` (plus any extra `up` arguments, e.g. `--seed-image`), reads the bound address from the "ferrostack is up at" line, and
//! kills the process by its PID when dropped, even when the test panics (then the server's
//! output is printed).

mod http;
mod netns;
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub use http::HttpResp;
pub use netns::Netns;
pub use process::Server;
use serde_json::Value;

/// Pids of the processes whose command line contains `dir` (other than this test process).
pub fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(&needle) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Whether process `pid` is a QEMU (its program name), not another helper of the cloud
/// naming the data directory (the network agent's dnsmasq).
fn is_qemu(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|c| {
            c.split(|b| *b == 0)
                .next()
                .map(|a| String::from_utf8_lossy(a).contains("qemu"))
        })
        .unwrap_or(false)
}

impl Drop for Cloud {
    /// Stops the server first (its guard kills it by PID), then every guest it started
    /// (found by the data directory in their command line), before the directory goes.
    fn drop(&mut self) {
        self.server.take();
        for pid in processes_naming(self.dir.path()) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// The cloud name in the clouds.yaml the binary writes.
pub const CLOUD: &str = "ferrostack";

/// Environment the server runs with: cheap bcrypt, no rate limits on the token endpoint.
const SERVER_ENV: &[(&str, &str)] = &[
    ("FERROSTACK_IDENTITY__PASSWORD_HASH_ROUNDS", "4"),
    ("FERROSTACK_RATE_LIMIT__TOKEN_PER_USER_PER_SEC", "0"),
    ("FERROSTACK_RATE_LIMIT__TOKEN_PER_ADDR_PER_SEC", "0"),
];

/// How long a start may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The `ferrostack` binary under test.
pub fn ferrostack_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROSTACK_BIN").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            panic!(
                "FERROSTACK_BIN={} does not exist; build it with `cargo build -p ferrostack`",
                p.display()
            );
        }
        return p;
    }
    let mut tried = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        let t = PathBuf::from(t);
        let t = if t.is_absolute() {
            t
        } else {
            workspace_root().join(t)
        };
        tried.push(t.join("debug/ferrostack"));
    }
    tried.push(workspace_root().join("target/debug/ferrostack"));
    if let Some(h) = home() {
        tried.push(h.join(".cache/ferrostack-target/debug/ferrostack"));
    }
    for p in &tried {
        if p.is_file() {
            return p.clone();
        }
    }
    panic!(
        "the ferrostack binary was not found (tried {}); set FERROSTACK_BIN or run `cargo build -p ferrostack` \
         (`cargo xtask test` does both)",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
}

/// The `openstack` CLI.
pub fn osc_bin() -> PathBuf {
    let p = match std::env::var_os("FERROSTACK_OSC").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => home()
            .unwrap_or_else(|| PathBuf::from("/root"))
            .join(".cache/ferrostack/osc-venv/bin/openstack"),
    };
    if !p.is_file() {
        panic!(
            "the openstack CLI was not found at {}; set FERROSTACK_OSC or run `cargo xtask test` \
             (it installs python-openstackclient into $HOME/.cache/ferrostack/osc-venv)",
            p.display()
        );
    }
    p
}

/// A `ferrostack` command with a clean environment: no inherited `FERROSTACK_*` (the binary
/// reads every such variable as configuration) plus [`SERVER_ENV`], run in `dir` so that no
/// stray `ferrostack.toml` is picked up.
pub fn ferrostack_cmd(dir: &Path) -> Command {
    ferrostack_cmd_in(dir, None)
}

/// [`ferrostack_cmd`] run inside `netns` (when given), with the data plane's namespaces
/// named after it.
pub fn ferrostack_cmd_in(dir: &Path, netns: Option<&Netns>) -> Command {
    let mut c = match netns {
        Some(ns) => ns.command(ferrostack_bin()),
        None => Command::new(ferrostack_bin()),
    };
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FERROSTACK_") {
            c.env_remove(k);
        }
    }
    c.envs(SERVER_ENV.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .arg("--data-dir")
        .arg(dir);
    if let Some(ns) = netns {
        c.env("FERROSTACK_NETWORK__NAMESPACE_PREFIX", ns.prefix());
    }
    c
}

/// A cloud: a data directory and the server running on it (if started).
pub struct Cloud {
    /// Declared first so that the process is killed before the directory is removed.
    server: Option<Server>,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` of the last start.
    pub base: String,
    /// Extra `up` arguments, used again by [`Cloud::start_again`].
    up_args: Vec<String>,
    /// The network namespace the server (and the CLI) runs in; dropped last.
    netns: Option<Netns>,
}

impl Cloud {
    /// A fresh data directory and a server on a free port.
    pub fn start() -> Cloud {
        Self::start_with_args(&[])
    }

    /// [`Cloud::start`] with extra `up` arguments (e.g. `--seed-image tiny=PATH`), which
    /// [`Cloud::start_again`] passes again.
    pub fn start_with_args(up_args: &[&str]) -> Cloud {
        Self::start_with_config("", up_args)
    }

    /// [`Cloud::start_with_args`] with a `ferrostack.toml` (the server runs in the data
    /// directory and reads it from there), e.g. `[compute]\ndriver = "fake"`.
    pub fn start_with_config(toml: &str, up_args: &[&str]) -> Cloud {
        let dir = tempfile::Builder::new()
            .prefix("ferrostack-e2e-")
            .tempdir()
            .unwrap_or_else(|e| panic!("create a temporary data dir: {e}"));
        if !toml.is_empty() {
            std::fs::write(dir.path().join("ferrostack.toml"), toml)
                .unwrap_or_else(|e| panic!("write ferrostack.toml: {e}"));
        }
        let up_args: Vec<String> = up_args.iter().map(|a| a.to_string()).collect();
        let netns = Netns::new();
        let server = Server::start_up(
            dir.path(),
            Some(&netns),
            "127.0.0.1:0",
            &up_args,
            START_TIMEOUT,
        );
        let base = server.base.clone();
        Cloud {
            server: Some(server),
            dir,
            base,
            up_args,
            netns: Some(netns),
        }
    }

    /// Split shape: `admin bootstrap` then `serve --role api --services identity` on
    /// `database_url` (e.g. PostgreSQL), listening on a free port of 127.0.0.1.
    pub fn start_split(database_url: &str) -> Cloud {
        let dir = tempfile::Builder::new()
            .prefix("ferrostack-e2e-split-")
            .tempdir()
            .unwrap_or_else(|e| panic!("create a temporary data dir: {e}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("find a free port: {e}"));
        let listen = format!("127.0.0.1:{port}");
        let public = format!("http://{listen}");
        let out = ferrostack_cmd(dir.path())
            .args([
                "--database",
                database_url,
                "admin",
                "bootstrap",
                "--public-url",
                &public,
                "--no-user-clouds-yaml",
            ])
            .output()
            .unwrap_or_else(|e| panic!("run ferrostack admin bootstrap: {e}"));
        assert!(
            out.status.success(),
            "admin bootstrap failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let server = Server::start_with(
            dir.path(),
            None,
            &[
                "--database",
                database_url,
                "--bus",
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "serve",
                "--role",
                "api",
                "--services",
                "identity",
                "--listen",
                &listen,
            ],
            START_TIMEOUT,
        );
        let base = server.base.clone();
        Cloud {
            server: Some(server),
            dir,
            base,
            up_args: Vec::new(),
            netns: None,
        }
    }

    /// Processes other than the server whose command line names this cloud's data directory:
    /// the QEMU guests it started (they outlive the server on purpose, so that a restart
    /// re-attaches to them).
    pub fn guest_pids(&self) -> Vec<u32> {
        let server = self.server.as_ref().map(Server::pid);
        processes_naming(self.dir())
            .into_iter()
            .filter(|p| Some(*p) != server && is_qemu(*p))
            .collect()
    }

    /// Kills the server (SIGKILL, as a crash) and keeps the data directory and the guests.
    pub fn kill(&mut self) {
        match self.server.take() {
            Some(s) => drop(s),
            None => panic!("the server is not running"),
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The running server; panics if stopped.
    pub fn server(&self) -> &Server {
        match &self.server {
            Some(s) => s,
            None => panic!("the server is not running"),
        }
    }

    /// `http://127.0.0.1:PORT/identity/v3`.
    pub fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.base)
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the exit; returns the status and how long
    /// it took.
    pub fn stop(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        match self.server.take() {
            Some(mut s) => s.terminate(timeout),
            None => panic!("the server is not running"),
        }
    }

    /// Starts the server again on the same data directory and the same address (so that the
    /// clouds.yaml and the catalog written at the first start stay right).
    pub fn start_again(&mut self) {
        if self.server.is_some() {
            panic!("the server is still running");
        }
        let listen = self.base.trim_start_matches("http://").to_string();
        let server = Server::start_up(
            self.dir.path(),
            self.netns.as_ref(),
            &listen,
            &self.up_args,
            START_TIMEOUT,
        );
        self.base = server.base.clone();
        self.server = Some(server);
    }

    /// Runs `ferrostack --data-dir <dir> ARGS` (e.g. `admin fernet rotate`) and asserts success.
    pub fn ferrostack(&self, args: &[&str]) -> String {
        let out = ferrostack_cmd(self.dir())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run ferrostack {args:?}: {e}"));
        if !out.status.success() {
            panic!(
                "ferrostack {args:?} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The admin password from the data directory's clouds.yaml.
    pub fn admin_password(&self) -> String {
        let path = self.dir().join("clouds.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        text.lines()
            .find_map(|l| l.trim().strip_prefix("password:"))
            .map(|p| p.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .unwrap_or_else(|| panic!("no password in {}:\n{text}", path.display()))
    }

    /// The network namespace the cloud runs in (none for the split shape, which needs the
    /// host's PostgreSQL and RabbitMQ).
    pub fn netns(&self) -> Option<&Netns> {
        self.netns.as_ref()
    }

    /// `program` run where the cloud runs (inside its namespace).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.netns {
            Some(ns) => ns.command(program),
            None => Command::new(program),
        }
    }

    /// Runs `program ARGS` where the cloud runs (its namespace) and returns the output,
    /// whatever the exit status.
    pub fn host_output(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program} {args:?}: {e}"))
    }

    /// [`Cloud::host_output`]'s stdout; panics when the command fails.
    pub fn host(&self, program: &str, args: &[&str]) -> String {
        let out = self.host_output(program, args);
        if !out.status.success() {
            panic!(
                "{program} {args:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The name of the all-in-one "outside world" namespace of this cloud (the external
    /// network's far end).
    pub fn outside_ns(&self) -> String {
        let prefix = self
            .netns
            .as_ref()
            .map(Netns::prefix)
            .unwrap_or_else(|| "fs-".into());
        format!("{prefix}ext")
    }

    /// Runs `program ARGS` inside the outside-world namespace (ping or ssh a floating IP the
    /// way a machine on the external network would).
    pub fn outside_output(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.outside_ns(), program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program} {args:?} in the outside namespace: {e}"))
    }

    /// Names of the network namespaces the cloud's data plane made (its prefix).
    pub fn dataplane_namespaces(&self) -> Vec<String> {
        let Some(ns) = &self.netns else {
            return Vec::new();
        };
        let prefix = ns.prefix();
        let out = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap_or_else(|e| panic!("ip netns list: {e}"));
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    fn osc_command(&self, clouds_yaml: &Path) -> Command {
        let mut c = self.command(osc_bin());
        for (k, _) in std::env::vars_os() {
            let k_str = k.to_string_lossy();
            if k_str.starts_with("OS_") || k_str.starts_with("FERROSTACK_") {
                c.env_remove(k);
            }
        }
        c.env("OS_CLIENT_CONFIG_FILE", clouds_yaml)
            .env("OS_CLIENT_SECURE_FILE", self.dir().join("no-secure.yaml"))
            .current_dir(self.dir())
            .stdin(Stdio::null());
        c
    }

    /// The command `openstack --os-cloud ferrostack ARGS` (as admin), not yet run: for a
    /// request left in flight (`spawn`), e.g. while the server is killed. Output is discarded.
    pub fn osc_command_for(&self, args: &[&str]) -> Command {
        let mut c = self.osc_command(&self.dir().join("clouds.yaml"));
        c.arg("--os-cloud")
            .arg(CLOUD)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// `openstack --os-cloud ferrostack ARGS` with the cloud's clouds.yaml (as admin).
    pub fn osc_output(&self, args: &[&str]) -> Output {
        let mut c = self.osc_command(&self.dir().join("clouds.yaml"));
        c.arg("--os-cloud").arg(CLOUD).args(args);
        run(c, args)
    }

    /// `openstack AUTH_ARGS ARGS` authenticating only with the given flags (an empty
    /// clouds.yaml, so the admin cloud is not picked up).
    pub fn osc_with_output(&self, auth: &[&str], args: &[&str]) -> Output {
        let empty = self.dir().join("empty-clouds.yaml");
        if !empty.exists() {
            std::fs::write(&empty, "clouds: {}\n")
                .unwrap_or_else(|e| panic!("write {}: {e}", empty.display()));
        }
        let mut c = self.osc_command(&empty);
        c.args(auth).args(args);
        run(c, args)
    }

    /// `openstack --os-cloud ferrostack ARGS`; asserts success; returns stdout.
    pub fn osc(&self, args: &[&str]) -> String {
        ok_stdout(self.osc_output(args), args)
    }

    /// `openstack --os-cloud ferrostack ARGS -f json`; asserts success; parses the JSON.
    pub fn osc_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-f", "json"]);
        parse_json(&self.osc(&a), &a)
    }

    /// `openstack --os-cloud ferrostack ARGS`; asserts failure; returns stderr.
    pub fn osc_fails(&self, args: &[&str]) -> String {
        err_stderr(self.osc_output(args), args)
    }

    /// `openstack AUTH ARGS -f json` with flag-only auth; asserts success; parses the JSON.
    pub fn osc_with_json(&self, auth: &[&str], args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-f", "json"]);
        parse_json(&ok_stdout(self.osc_with_output(auth, &a), &a), &a)
    }

    /// `openstack AUTH ARGS` with flag-only auth; asserts failure; returns stderr.
    pub fn osc_with_fails(&self, auth: &[&str], args: &[&str]) -> String {
        err_stderr(self.osc_with_output(auth, args), args)
    }

    /// Password auth flags for `user` in the Default domain, scoped to `project` if given.
    pub fn password_auth(&self, user: &str, password: &str, project: Option<&str>) -> Vec<String> {
        let mut a = vec![
            "--os-auth-type".into(),
            "password".into(),
            "--os-auth-url".into(),
            self.auth_url(),
            "--os-username".into(),
            user.into(),
            "--os-password".into(),
            password.into(),
            "--os-user-domain-name".into(),
            "Default".into(),
            "--os-region-name".into(),
            "RegionOne".into(),
        ];
        if let Some(p) = project {
            a.extend(["--os-project-name".into(), p.into()]);
            a.extend(["--os-project-domain-name".into(), "Default".into()]);
        }
        a
    }

    /// A new admin token (`openstack token issue`).
    pub fn token(&self) -> String {
        let t = self.osc_json(&["token", "issue"]);
        t["id"]
            .as_str()
            .unwrap_or_else(|| panic!("token issue: no id in {t}"))
            .to_string()
    }

    /// A raw HTTP request to the server (`path` after the host, e.g. `/identity/v3/projects`).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> HttpResp {
        http::request(&self.base, method, path, headers, body)
    }

    /// `GET path` with `X-Auth-Token: token`.
    pub fn get_with_token(&self, path: &str, token: &str) -> HttpResp {
        self.http("GET", path, &[("X-Auth-Token", token)], None)
    }

    /// Waits until the server has printed `needle` at least `count` times.
    pub fn wait_for_log(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.server().log_count(needle) >= count {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn run(mut c: Command, args: &[&str]) -> Output {
    c.output()
        .unwrap_or_else(|e| panic!("run openstack {args:?}: {e}"))
}

fn ok_stdout(out: Output, args: &[&str]) -> String {
    if !out.status.success() {
        panic!(
            "`openstack {}` failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err_stderr(out: Output, args: &[&str]) -> String {
    if out.status.success() {
        panic!(
            "`openstack {}` succeeded but should have failed:\nstdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn parse_json(text: &str, args: &[&str]) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| {
        panic!(
            "`openstack {}` printed no JSON ({e}):\n{text}",
            args.join(" ")
        )
    })
}

/// Converts owned auth flags to the `&[&str]` the `osc_with_*` methods take.
pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn norm(k: &str) -> String {
    k.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The field of a JSON object whose key matches `name` ignoring case, spaces and underscores
/// (OSC prints `Project ID` for some resources and `project_id` for others); `Null` if none.
pub fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    let want = norm(name);
    v.as_object()
        .and_then(|o| o.iter().find(|(k, _)| norm(k) == want).map(|(_, v)| v))
        .unwrap_or(&Value::Null)
}

/// `field(v, name)` as a string; panics with the object if it is missing or not a string.
pub fn text(v: &Value, name: &str) -> String {
    match field(v, name).as_str() {
        Some(s) => s.to_string(),
        None => panic!("no string field {name:?} in {v:#}"),
    }
}

/// The rows of a JSON list whose field `name` equals `value`.
pub fn rows_where<'a>(list: &'a Value, name: &str, value: &str) -> Vec<&'a Value> {
    list.as_array()
        .map(|a| a.iter().filter(|r| field(r, name) == value).collect())
        .unwrap_or_default()
}
