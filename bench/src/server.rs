//! The system under test: the real `ferrostack up` release binary as a child process on a
//! fresh data directory, plus what `/proc` says about it (memory, CPU time).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};

/// How to start the server.
pub struct Options {
    pub bin: PathBuf,
    pub bcrypt_cost: u32,
    /// Keep the data directory (and its `ferrostack.log`) here instead of a temporary one.
    pub data_dir: Option<PathBuf>,
}

/// A running `ferrostack up`; killed when dropped.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub admin_password: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// The address in the line `ferrostack is up at http://127.0.0.1:PORT (identity: ...)`.
pub fn parse_up_line(line: &str) -> Option<SocketAddr> {
    let rest = line.split("ferrostack is up at ").nth(1)?;
    let url = rest.split_whitespace().next()?;
    url.strip_prefix("http://")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

/// The admin password of the `ferrostack` cloud in a clouds.yaml.
pub fn parse_clouds_yaml(text: &str) -> anyhow::Result<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(text)?;
    doc["clouds"]["ferrostack"]["auth"]["password"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("clouds.yaml has no clouds.ferrostack.auth.password"))
}

impl Server {
    pub fn start(opts: &Options) -> anyhow::Result<Server> {
        let (tmp, data_dir) = match &opts.data_dir {
            Some(d) => {
                if d.exists() {
                    std::fs::remove_dir_all(d).with_context(|| format!("clear {}", d.display()))?;
                }
                std::fs::create_dir_all(d)?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("ferrostack-bench-")
                    .tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let log = std::fs::File::create(data_dir.join("ferrostack.log"))?;
        let mut cmd = Command::new(&opts.bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FERROSTACK_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--data-dir")
            .arg(&data_dir)
            .args(["up", "--listen", "127.0.0.1:0", "--no-user-clouds-yaml"])
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
        // Reads stdout to its end so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = parse_up_line(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let mut server = Server {
            child,
            pid,
            addr: ([127, 0, 0, 1], 0).into(),
            admin_password: String::new(),
            data_dir,
            _tmp: tmp,
        };
        server.addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => bail!(
                "ferrostack did not report its address; log:\n{}",
                server.log_tail()
            ),
        };
        let clouds = std::fs::read_to_string(server.data_dir.join("clouds.yaml"))
            .context("read clouds.yaml")?;
        server.admin_password = parse_clouds_yaml(&clouds)?;
        Ok(server)
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.data_dir.join("ferrostack.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The bcrypt cost of the password hashes stored in the database, read from the SQLite
    /// files themselves (`$2b$NN$...`), as a check that the server really hashed at that cost.
    pub fn stored_hash_costs(&self) -> Vec<u32> {
        let mut costs = Vec::new();
        for name in ["ferrostack.db", "ferrostack.db-wal"] {
            if let Ok(bytes) = std::fs::read(self.data_dir.join(name)) {
                costs.extend(find_bcrypt_costs(&bytes));
            }
        }
        if costs.is_empty() {
            for entry in std::fs::read_dir(&self.data_dir)
                .into_iter()
                .flatten()
                .flatten()
            {
                let p = entry.path();
                if p.is_file() && p.extension().is_none_or(|e| e != "log") {
                    if let Ok(bytes) = std::fs::read(&p) {
                        costs.extend(find_bcrypt_costs(&bytes));
                    }
                }
            }
        }
        costs.sort_unstable();
        costs.dedup();
        costs
    }

    /// SIGTERM, then SIGKILL after 5 s.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Costs of every `$2a$`/`$2b$`/`$2y$` hash prefix in `bytes`.
pub fn find_bcrypt_costs(bytes: &[u8]) -> Vec<u32> {
    bytes
        .windows(7)
        .filter(|w| {
            w[0] == b'$'
                && w[1] == b'2'
                && matches!(w[2], b'a' | b'b' | b'y')
                && w[3] == b'$'
                && w[6] == b'$'
        })
        .filter_map(|w| std::str::from_utf8(&w[4..6]).ok()?.parse().ok())
        .collect()
}

/// Resident memory of a process, from `/proc/<pid>/status`, in kB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Ok(Memory {
        rss_kb: field("VmRSS:").ok_or_else(|| anyhow!("no VmRSS"))?,
        hwm_kb: field("VmHWM:").ok_or_else(|| anyhow!("no VmHWM"))?,
    })
}

/// User + system CPU time of a process (`"self"` or a pid) in clock ticks.
pub fn cpu_ticks(pid: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("bad stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| -> anyhow::Result<u64> {
        Ok(f.get(i).ok_or_else(|| anyhow!("short stat"))?.parse()?)
    };
    Ok(get(11)? + get(12)?)
}

/// CPU time every process on the machine used (user, nice, system, irq, softirq, steal), in
/// clock ticks, from the first line of `/proc/stat`.
pub fn system_busy_ticks() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/stat")?;
    let line = text
        .lines()
        .next()
        .ok_or_else(|| anyhow!("empty /proc/stat"))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    Ok(get(0) + get(1) + get(2) + get(5) + get(6) + get(7))
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100)
}

/// The `ferrostack` binary to run: `$FERROSTACK_BIN`, else the release build next to this
/// workspace's target directory (built first unless `no_build`).
pub fn resolve_binary(no_build: bool) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("FERROSTACK_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // <target>/<profile>/bench
    let target = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("cannot find the target directory from {}", exe.display()))?
        .to_path_buf();
    let bin = target.join("release").join("ferrostack");
    if !no_build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("Cargo.toml");
        eprintln!("building the release binary: cargo build --release -p ferrostack");
        let st = Command::new(cargo)
            .args(["build", "--release", "-p", "ferrostack", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .status()
            .context("run cargo build")?;
        if !st.success() {
            bail!("cargo build --release -p ferrostack failed");
        }
    }
    if !bin.exists() {
        bail!("{} does not exist (build it with `cargo build --release -p ferrostack` or set FERROSTACK_BIN)", bin.display());
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_up_line() {
        let l = "ferrostack is up at http://127.0.0.1:40123 (identity: http://127.0.0.1:40123/identity/v3)";
        assert_eq!(parse_up_line(l), Some("127.0.0.1:40123".parse().unwrap()));
        assert_eq!(
            parse_up_line("admin credentials written to clouds.yaml"),
            None
        );
        assert_eq!(parse_up_line("ferrostack is up at https://x"), None);
    }

    #[test]
    fn reads_the_admin_password() {
        let y = "clouds:\n  ferrostack:\n    auth:\n      auth_url: http://x/identity/v3\n      username: admin\n      password: \"p@ss: w\"\n";
        assert_eq!(parse_clouds_yaml(y).unwrap(), "p@ss: w");
        assert!(parse_clouds_yaml("clouds: {}").is_err());
    }

    #[test]
    fn finds_bcrypt_costs() {
        let b = b"xx$2b$12$abcdefghij..yy$2a$04$zz$2b$x1$";
        assert_eq!(find_bcrypt_costs(b), vec![12, 4]);
    }

    #[test]
    fn reads_own_proc_entries() {
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss_kb > 0 && m.hwm_kb >= m.rss_kb);
        cpu_ticks("self").unwrap();
        system_busy_ticks().unwrap();
        assert_eq!(load_average().split(' ').count(), 3);
    }
}
