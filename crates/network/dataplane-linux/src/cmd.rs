//! Running the host's tools (`ip`, `tc`, `bridge`, `nft`, `sysctl`, `dnsmasq`) in a network
//! namespace, and reading `ip -j` output.

use std::process::Stdio;

use common_error::{Error, Result};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Where named namespaces live (`ip netns add`).
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// A network namespace to run in: `None` is the agent's own.
pub(crate) type Ns<'a> = Option<&'a str>;

/// Runs `program args` in `ns`, feeding `stdin`; stdout on success, an error naming the
/// command and its stderr otherwise. `ip`, `tc` and `bridge` take `-n`; anything else runs
/// under `nsenter --net`, which keeps the caller's mounts (unlike `ip netns exec`).
pub(crate) async fn run(
    ns: Ns<'_>,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String> {
    let mut cmd = match ns {
        None => Command::new(program),
        Some(ns) if matches!(program, "ip" | "tc" | "bridge") => {
            let mut c = Command::new(program);
            c.args(["-n", ns]);
            c
        }
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={NETNS_DIR}/{ns}"))
                .arg("--")
                .arg(program);
            c
        }
    };
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = || format!("{program} {}", args.join(" "));
    let mut child = cmd.spawn().map_err(|e| Error::internal(&what(), e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .await
            .map_err(|e| Error::internal(&what(), e))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| Error::internal(&what(), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let mut shown = what();
        shown.truncate(300);
        Err(Error::Internal(format!(
            "{shown}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// `ip` in `ns`.
pub(crate) async fn ip(ns: Ns<'_>, args: &[&str]) -> Result<String> {
    run(ns, "ip", args, None).await
}

/// One link as `ip -d -j link show` describes it.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Link {
    pub ifname: String,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub master: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub linkinfo: Option<LinkInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LinkInfo {
    #[serde(default)]
    pub info_kind: Option<String>,
}

impl Link {
    pub(crate) fn is_up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }

    pub(crate) fn kind(&self) -> &str {
        self.linkinfo
            .as_ref()
            .and_then(|i| i.info_kind.as_deref())
            .unwrap_or("")
    }
}

/// Every link of `ns`.
pub(crate) async fn links(ns: Ns<'_>) -> Result<Vec<Link>> {
    let out = ip(ns, &["-d", "-j", "link", "show"]).await?;
    serde_json::from_str(&out).map_err(|e| Error::internal("parse ip -j link show", e))
}

/// One address of `ip -j addr show`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AddrInfo {
    pub local: String,
    pub prefixlen: u8,
    #[serde(default)]
    pub scope: String,
}

#[derive(Debug, Clone, Deserialize)]
struct IfAddrs {
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

/// The global addresses of `dev` in `ns`, as `addr/len`.
pub(crate) async fn addresses(ns: Ns<'_>, dev: &str) -> Result<Vec<String>> {
    let out = ip(ns, &["-j", "addr", "show", "dev", dev]).await?;
    let ifs: Vec<IfAddrs> =
        serde_json::from_str(&out).map_err(|e| Error::internal("parse ip -j addr show", e))?;
    Ok(ifs
        .into_iter()
        .flat_map(|i| i.addr_info)
        .filter(|a| a.scope != "link" && a.scope != "host")
        .map(|a| format!("{}/{}", a.local, a.prefixlen))
        .collect())
}

/// Named namespaces on this host.
pub(crate) fn namespaces() -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Creates namespace `name` unless it exists, with its loopback up.
pub(crate) async fn ensure_namespace(name: &str) -> Result<()> {
    if !std::path::Path::new(NETNS_DIR).join(name).exists() {
        ip(None, &["netns", "add", name]).await?;
        ip(Some(name), &["link", "set", "lo", "up"]).await?;
    }
    Ok(())
}

/// Deletes namespace `name` if it exists (its devices go with it).
pub(crate) async fn delete_namespace(name: &str) -> Result<()> {
    if std::path::Path::new(NETNS_DIR).join(name).exists() {
        ip(None, &["netns", "delete", name]).await?;
    }
    Ok(())
}

/// Sets a sysctl in `ns` (`key=value`) unless it already has that value.
pub(crate) async fn sysctl(ns: Ns<'_>, key: &str, value: &str) -> Result<()> {
    let now = run(ns, "sysctl", &["-n", key], None).await?;
    if now.trim() != value {
        run(ns, "sysctl", &["-q", "-w", &format!("{key}={value}")], None).await?;
    }
    Ok(())
}
