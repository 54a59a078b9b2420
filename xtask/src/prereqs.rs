//! What the cloud and the tests need on the machine: Debian packages, the `openstack` CLI in a
//! Python venv, PostgreSQL and RabbitMQ answering on their default ports.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// Debian packages `ferrostack up` needs on the host (QEMU for guests, mtools for their
/// config drives, dnsmasq for DHCP, nftables, iproute2 and conntrack for the data plane,
/// ssh-keygen and openssl for generated keypairs, ping to try floating IPs).
pub const UP_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-utils",
    "mtools",
    "dnsmasq-base",
    "nftables",
    "iproute2",
    "conntrack",
    "iputils-ping",
    "openssh-client",
    "openssl",
];

/// Debian packages the tiny guest image build (`guest/build-image.sh`) and its boot tests need,
/// besides QEMU from [`UP_PACKAGES`].
pub const GUEST_PACKAGES: &[&str] = &[
    "busybox-static",
    "dropbear-bin",
    "syslinux",
    "syslinux-common",
    "mtools",
    "fdisk",
    "cpio",
    "e2fsprogs",
    "gzip",
];

/// Debian packages only the test suite needs: iperf3 measures QoS bandwidth limits between
/// namespaces in the data-plane tests.
pub const TEST_PACKAGES: &[&str] = &["iperf3"];

/// The openstack CLI version the end-to-end tests run.
pub const OSC_VERSION: &str = "10.5.0";

const POSTGRES: &str = "127.0.0.1:5432";
const RABBITMQ: &str = "127.0.0.1:5672";
const SERVICE_WAIT: Duration = Duration::from_secs(60);

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `apt-get ARGS`, through `sudo -n` when not root.
fn apt_get(args: &[&str]) -> anyhow::Result<bool> {
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "apt-get"]);
        c
    };
    // Wait for another apt/dpkg run (the guest image build installs packages too).
    cmd.args(["-o", "DPkg::Lock::Timeout=300"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    crate::run_status(&mut cmd)
}

/// Installs the missing ones of `pkgs` (running `apt-get update` first only then). With
/// `required`, failing to install is an error; otherwise a warning.
pub fn ensure_debian_packages(pkgs: &[&str], required: bool) -> anyhow::Result<()> {
    if !have("dpkg-query") {
        let msg = "dpkg-query not found: not a Debian system, cannot check packages";
        if required {
            bail!("{msg}; install by hand: {}", pkgs.join(" "));
        }
        println!("warning: {msg}");
        return Ok(());
    }
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        println!("installed: {}", pkgs.join(" "));
        return Ok(());
    }
    println!("missing: {} — installing with apt-get", missing.join(" "));
    let result = if !have("apt-get") {
        Err(anyhow::anyhow!("apt-get not found"))
    } else if !apt_get(&["-q", "update"])? {
        Err(anyhow::anyhow!("apt-get update failed"))
    } else {
        // --no-remove: never let apt make room by removing something (it would rather fail).
        let mut args: Vec<String> = [
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "--no-remove",
        ]
        .map(String::from)
        .to_vec();
        args.extend(install_specs(pkgs, &missing));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if apt_get(&args)? {
            Ok(())
        } else {
            Err(anyhow::anyhow!("apt-get install failed"))
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if required => Err(e.context(format!("install {}", missing.join(" ")))),
        Err(e) => {
            println!("warning: {e:#}; continuing without {}", missing.join(" "));
            Ok(())
        }
    }
}

/// Packages of one source package that must sit at one version. The machine may carry a newer
/// qemu-utils (from backports) than the distribution's qemu-system-x86, and apt would remove it
/// to install qemu-system-x86; so both are installed at qemu-system-x86's candidate version.
const SAME_VERSION: &[&str] = &["qemu-system-x86", "qemu-utils"];

fn dpkg_version(pkg: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", pkg])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && installed(pkg) && !v.is_empty()).then_some(v)
}

fn candidate_version(pkg: &str) -> Option<String> {
    let out = Command::new("apt-cache")
        .args(["policy", pkg])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))?
        .trim()
        .to_string();
    (v != "(none)" && !v.is_empty()).then_some(v)
}

/// The `apt-get install` arguments for `missing`: plain names, except that when a member of
/// [`SAME_VERSION`] is missing, every member in `pkgs` is pinned to its candidate version
/// (with `--allow-downgrades`).
fn install_specs(pkgs: &[&str], missing: &[&str]) -> Vec<String> {
    let leader = missing.iter().find(|p| SAME_VERSION.contains(p));
    let version = leader.and_then(|p| candidate_version(p));
    let mut specs = Vec::new();
    let mut pinned = false;
    for p in pkgs {
        match version.as_deref().filter(|_| SAME_VERSION.contains(p)) {
            Some(v) if dpkg_version(p).as_deref() != Some(v) => {
                specs.push(format!("{p}={v}"));
                pinned = true;
            }
            Some(_) => {}
            None if missing.contains(p) => specs.push((*p).to_string()),
            None => {}
        }
    }
    if pinned {
        specs.push("--allow-downgrades".into());
    }
    specs
}

/// The venv holding the openstack CLI.
pub fn osc_venv() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".cache/ferrostack/osc-venv")
}

fn osc_version(python: &PathBuf) -> Option<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('python-openstackclient'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Makes sure `openstack` (python-openstackclient at [`OSC_VERSION`]) is in the venv; returns
/// the path of the `openstack` executable.
pub fn ensure_osc() -> anyhow::Result<PathBuf> {
    let venv = osc_venv();
    let python = venv.join("bin/python");
    let osc = venv.join("bin/openstack");
    if osc.exists() && osc_version(&python).as_deref() == Some(OSC_VERSION) {
        println!("python-openstackclient {OSC_VERSION} in {}", venv.display());
        return Ok(osc);
    }
    if !python.exists() {
        println!("creating venv {}", venv.display());
        if let Some(parent) = venv.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        let ok = crate::run_status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        if !ok {
            bail!(
                "`python3 -m venv {}` failed (on Debian: apt-get install python3-venv)",
                venv.display()
            );
        }
    }
    println!("pip install python-openstackclient=={OSC_VERSION}");
    let ok = crate::run_status(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .arg(format!("python-openstackclient=={OSC_VERSION}"))
            .stdin(Stdio::null()),
    )?;
    if !ok || osc_version(&python).as_deref() != Some(OSC_VERSION) || !osc.exists() {
        bail!(
            "could not install python-openstackclient=={OSC_VERSION} into {}",
            venv.display()
        );
    }
    Ok(osc)
}

fn connect(addr: &str) -> Option<TcpStream> {
    let addr: SocketAddr = addr.parse().ok()?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(3))).ok()?;
    Some(s)
}

/// PostgreSQL answers an SSLRequest with `S` or `N`.
fn postgres_answers() -> bool {
    let Some(mut s) = connect(POSTGRES) else {
        return false;
    };
    let ssl_request = [0u8, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let mut b = [0u8; 1];
    s.write_all(&ssl_request).is_ok()
        && s.read_exact(&mut b).is_ok()
        && (b[0] == b'N' || b[0] == b'S')
}

/// RabbitMQ answers the AMQP 0-9-1 protocol header with a method frame (Connection.Start).
fn rabbitmq_answers() -> bool {
    let Some(mut s) = connect(RABBITMQ) else {
        return false;
    };
    let mut b = [0u8; 1];
    s.write_all(b"AMQP\x00\x00\x09\x01").is_ok() && s.read_exact(&mut b).is_ok() && b[0] == 1
}

fn start_postgres() {
    let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if versions.is_empty() {
        println!("no cluster under /etc/postgresql");
    }
    for v in versions {
        println!("starting PostgreSQL: pg_ctlcluster --skip-systemctl-redirect {v} main start");
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &v, "main", "start"])
            .stdin(Stdio::null())
            .status();
    }
}

fn start_rabbitmq() {
    println!("starting RabbitMQ: rabbitmq-server -detached");
    let _ = Command::new("rabbitmq-server")
        .arg("-detached")
        .stdin(Stdio::null())
        .status();
}

fn wait_for(check: fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < SERVICE_WAIT {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    false
}

/// PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672 answer, started if needed.
pub fn ensure_services() -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if postgres_answers() {
        println!("PostgreSQL answers on {POSTGRES}");
    } else {
        start_postgres();
        if wait_for(postgres_answers) {
            println!("PostgreSQL answers on {POSTGRES}");
        } else {
            problems.push(format!(
                "PostgreSQL does not answer on {POSTGRES} after {}s (needed by the API suite on PostgreSQL)",
                SERVICE_WAIT.as_secs()
            ));
        }
    }
    if rabbitmq_answers() {
        println!("RabbitMQ answers on {RABBITMQ}");
    } else {
        start_rabbitmq();
        if wait_for(rabbitmq_answers) {
            println!("RabbitMQ answers on {RABBITMQ}");
        } else {
            problems.push(format!(
                "RabbitMQ does not answer on {RABBITMQ} after {}s (needed by the bus contract tests)",
                SERVICE_WAIT.as_secs()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("; "))
    }
}
