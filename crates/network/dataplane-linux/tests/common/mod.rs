//! Test scaffolding: a host namespace per test, "guest" namespaces joined by a veth whose
//! bridge end is the port's tap, a fixed-response metadata sink, and a Drop guard removing
//! every namespace and dnsmasq the test made.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use network_agent::MetadataSink;
use network_dataplane_linux::{LinuxConfig, LinuxDataplane};
use tokio::io::AsyncWriteExt;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs a command, returning (success, stdout + stderr).
pub fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text += &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

pub fn must(args: &[&str]) -> String {
    let (ok, out) = sh(args);
    assert!(ok, "{args:?} failed: {out}");
    out
}

/// Runs `args` in namespace `ns` (same mounts).
pub fn in_ns(ns: &str, args: &[&str]) -> (bool, String) {
    let net = format!("--net=/run/netns/{ns}");
    let mut all = vec!["nsenter", net.as_str(), "--"];
    all.extend_from_slice(args);
    sh(&all)
}

pub struct TestEnv {
    /// The host namespace (bridges, taps).
    pub host: String,
    /// Prefix of every other namespace of the test.
    pub prefix: String,
    pub dir: tempfile::TempDir,
    pub sink: Arc<TestSink>,
}

impl TestEnv {
    pub fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let host = format!("fsat-{}-{n}", std::process::id());
        must(&["ip", "netns", "add", &host]);
        must(&["ip", "-n", &host, "link", "set", "lo", "up"]);
        TestEnv {
            prefix: format!("{host}-"),
            host,
            dir: tempfile::tempdir().unwrap(),
            sink: Arc::new(TestSink::default()),
        }
    }

    pub fn config(&self) -> LinuxConfig {
        let mut cfg = LinuxConfig::new(self.prefix.clone(), self.dir.path());
        cfg.host_netns = Some(self.host.clone());
        cfg
    }

    pub fn dataplane(&self, cfg: LinuxConfig) -> LinuxDataplane {
        LinuxDataplane::new(cfg).with_metadata_sink(self.sink.clone())
    }

    /// A guest namespace whose `eth0` (with `mac`) is the peer of `tap` in the host.
    pub fn guest(&self, name: &str, tap: &str, mac: &str) -> String {
        let ns = format!("{}{name}", self.prefix);
        must(&["ip", "netns", "add", &ns]);
        must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        must(&[
            "ip", "-n", &self.host, "link", "add", tap, "type", "veth", "peer", "name", "eth0",
            "netns", &ns,
        ]);
        must(&["ip", "-n", &ns, "link", "set", "eth0", "address", mac, "up"]);
        ns
    }

    /// Our namespaces (besides the host) that exist now.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir("/run/netns")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&self.prefix))
            .collect();
        v.sort();
        v
    }

    pub fn udhcpc_script(&self) -> PathBuf {
        let path = self.dir.path().join("udhcpc.sh");
        std::fs::write(
            &path,
            "#!/bin/sh\n\
             case \"$1\" in\n\
             bound|renew)\n\
               ip addr flush dev \"$interface\"\n\
               ip addr add \"$ip/$mask\" dev \"$interface\"\n\
               [ -n \"$mtu\" ] && ip link set dev \"$interface\" mtu \"$mtu\"\n\
               [ -n \"$router\" ] && ip route replace default via \"$router\" dev \"$interface\"\n\
               set -- $staticroutes\n\
               while [ $# -ge 2 ]; do ip route replace \"$1\" via \"$2\" dev \"$interface\"; shift 2; done\n\
               echo \"ip=$ip mask=$mask router=$router mtu=$mtu staticroutes=$staticroutes hostname=$hostname\" > \"$LEASE_FILE\"\n\
               ;;\n\
             esac\n",
        )
        .unwrap();
        must(&["chmod", "+x", path.to_str().unwrap()]);
        path
    }

    /// Runs busybox udhcpc once in `guest`; the lease line the script wrote.
    pub fn dhcp(&self, guest: &str) -> String {
        let script = self.udhcpc_script();
        let lease = self.dir.path().join(format!("lease-{guest}"));
        let _ = std::fs::remove_file(&lease);
        let lease_env = format!("LEASE_FILE={}", lease.display());
        let (ok, out) = in_ns(
            guest,
            &[
                "env",
                &lease_env,
                "busybox",
                "udhcpc",
                "-i",
                "eth0",
                "-n",
                "-q",
                "-f",
                "-t",
                "6",
                "-T",
                "1",
                "-O",
                "mtu",
                "-O",
                "staticroutes",
                "-s",
                script.to_str().unwrap(),
            ],
        );
        assert!(ok, "udhcpc in {guest} failed: {out}");
        std::fs::read_to_string(&lease).unwrap_or_default()
    }

    /// Whether `from` gets an echo reply from `to` (three tries).
    pub fn ping(&self, from: &str, to: &str) -> bool {
        in_ns(
            from,
            &["ping", "-c", "3", "-i", "0.2", "-W", "1", "-w", "3", to],
        )
        .1
        .contains(" 0% packet loss")
            || in_ns(from, &["ping", "-c", "1", "-W", "1", to]).0
    }
}

fn kill_dnsmasq(dir: &Path) {
    let Ok(dirs) = std::fs::read_dir(dir.join("dhcp")) else {
        return;
    };
    for d in dirs.flatten() {
        if let Ok(pid) = std::fs::read_to_string(d.path().join("pid")) {
            let pid = pid.trim();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy()) {
                let _ = sh(&["kill", "-9", pid]);
            }
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.sink.stop();
        kill_dnsmasq(self.dir.path());
        for ns in self.namespaces() {
            let _ = sh(&["ip", "netns", "delete", &ns]);
        }
        let _ = sh(&["ip", "netns", "delete", &self.host]);
    }
}

/// Answers every connection with `meta-ok <network id>`.
#[derive(Default)]
pub struct TestSink {
    handles: Mutex<Vec<tokio::task::AbortHandle>>,
    pub served: Mutex<Vec<String>>,
}

impl TestSink {
    pub fn stop(&self) {
        for h in self.handles.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

impl MetadataSink for TestSink {
    fn serve(
        &self,
        network_id: String,
        listener: std::net::TcpListener,
    ) -> tokio::task::AbortHandle {
        self.served.lock().unwrap().push(network_id.clone());
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = format!("meta-ok {network_id}\n");
                let reply = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await;
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.shutdown().await;
            }
        });
        let handle = task.abort_handle();
        self.handles.lock().unwrap().push(handle.clone());
        handle
    }
}

/// A process in a namespace, killed if the test ends before it does.
pub struct Background {
    child: Option<std::process::Child>,
}

impl Background {
    pub fn spawn(ns: &str, args: &[&str]) -> Self {
        let net = format!("--net=/run/netns/{ns}");
        let child = Command::new("nsenter")
            .arg(net)
            .arg("--")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Background { child: Some(child) }
    }

    /// Waits for the end; stdout and stderr.
    pub fn wait(mut self) -> String {
        let out = self.child.take().unwrap().wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
