//! Per-cloud network namespaces: every cloud a test starts runs inside a namespace of its
//! own (entered with `nsenter --net`, so that the namespaces its network agent creates are
//! visible to the test), and everything the test sends goes to addresses inside it. The
//! namespace, and every namespace whose name starts with its prefix (the data plane's DHCP,
//! router and "outside world" namespaces), is deleted on drop.

use std::collections::HashMap;
use std::net::TcpStream;
use std::os::fd::AsFd as _;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

/// A network namespace made by this test process.
pub struct Netns {
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn registry() -> &'static Mutex<HashMap<String, String>> {
    static R: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run ip {args:?}: {e}"))
}

impl Netns {
    /// A fresh namespace `fse-<pid>-<n>` with loopback up.
    pub fn new() -> Netns {
        let name = format!(
            "fse-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let _ = ip(&["netns", "del", &name]);
        let out = ip(&["netns", "add", &name]);
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = Netns { name };
        let out = ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        assert!(out.status.success(), "lo up in {}", ns.name);
        ns
    }

    /// The prefix the cloud's network agent gives its namespaces.
    pub fn prefix(&self) -> String {
        format!("{}-", self.name)
    }

    /// The namespace file (`/run/netns/NAME`).
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// `program` run inside this namespace (network only; same mounts).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path()))
            .arg("--")
            .arg(program);
        c
    }

    /// Makes HTTP requests to `base` connect from inside this namespace.
    pub fn route(&self, base: &str) {
        if let Ok(mut r) = registry().lock() {
            r.insert(host_of(base), self.path());
        }
    }
}

impl Drop for Netns {
    /// Deletes this namespace and every namespace named with its prefix.
    fn drop(&mut self) {
        let prefix = self.prefix();
        let list = ip(&["netns", "list"]);
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name.starts_with(&prefix) {
                let _ = ip(&["netns", "del", name]);
            }
        }
        let _ = ip(&["netns", "del", &self.name]);
        if let Ok(mut r) = registry().lock() {
            let path = self.path();
            r.retain(|_, v| *v != path);
        }
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

fn host_of(base: &str) -> String {
    base.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// Connects to `host` (`ip:port`), from inside the namespace registered for it if any.
pub(crate) fn connect(host: &str) -> std::io::Result<TcpStream> {
    let ns = registry().lock().ok().and_then(|r| r.get(host).cloned());
    let Some(path) = ns else {
        return TcpStream::connect(host);
    };
    let host = host.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path)?;
        move_into_link_name_space(f.as_fd(), Some(LinkNameSpaceType::Network))?;
        TcpStream::connect(&host)
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("connect thread panicked")))
}
