//! The host's capacity as reported to placement.

use compute_virt::{HostInfo, VirtError};
use serde_json::json;
use tokio::process::Command;

use crate::process::run_tool;
use crate::QemuDriver;

/// `QEMU emulator version 7.2.22 (Debian ...)` → 7002022 (Nova's integer form).
pub fn parse_version(text: &str) -> Option<i64> {
    let rest = text.split("version ").nth(1)?;
    let ver = rest.split_whitespace().next()?;
    let mut parts = ver.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<i64>()
            .ok()
    });
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let micro = parts.next().flatten().unwrap_or(0);
    Some(major * 1_000_000 + minor * 1000 + micro)
}

/// `MemTotal` of `/proc/meminfo` in MiB.
pub fn parse_meminfo_mb(text: &str) -> Option<i64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// `stat -f -c '%S %b'` (fundamental block size, total blocks) → GiB.
pub fn parse_statfs_gb(text: &str) -> Option<i64> {
    let mut it = text.split_whitespace().map(|s| s.parse::<u64>().ok());
    let bsize = it.next()??;
    let blocks = it.next()??;
    i64::try_from(bsize.checked_mul(blocks)? / (1024 * 1024 * 1024)).ok()
}

fn cpu_field(cpuinfo: &str, key: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

pub async fn host_info(driver: &QemuDriver) -> Result<HostInfo, VirtError> {
    let version_text = driver
        .inner
        .version
        .get_or_try_init(|| async {
            let out = run_tool(
                Command::new("qemu-system-x86_64").arg("--version"),
                "qemu-system-x86_64 --version",
            )
            .await?;
            Ok::<String, VirtError>(String::from_utf8_lossy(&out).into_owned())
        })
        .await?;
    let hypervisor_version = parse_version(version_text)
        .ok_or_else(|| VirtError::Failed(format!("unrecognised qemu version {version_text:?}")))?;
    let vcpus = std::thread::available_parallelism()
        .map(|n| i64::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1);
    let meminfo = tokio::fs::read_to_string("/proc/meminfo")
        .await
        .map_err(|e| VirtError::Failed(format!("read /proc/meminfo: {e}")))?;
    let memory_mb = parse_meminfo_mb(&meminfo)
        .ok_or_else(|| VirtError::Failed("no MemTotal in /proc/meminfo".into()))?;
    // statfs(2) through stat(1): no libc in this workspace.
    let statfs = run_tool(
        Command::new("stat")
            .args(["-f", "-c", "%S %b"])
            .arg(driver.instances_dir()),
        "statfs of the instances dir",
    )
    .await?;
    let disk_gb = parse_statfs_gb(&String::from_utf8_lossy(&statfs))
        .ok_or_else(|| VirtError::Failed("unrecognised stat -f output".into()))?;
    let cpuinfo = tokio::fs::read_to_string("/proc/cpuinfo")
        .await
        .unwrap_or_default();
    let accel = driver.accel().await;
    let cpu_info = json!({
        "arch": std::env::consts::ARCH,
        "model": match accel { crate::Accel::Kvm => "host", crate::Accel::Tcg => "qemu64" },
        "vendor": cpu_field(&cpuinfo, "vendor_id").unwrap_or_else(|| "unknown".into()),
        "topology": {"cells": 1, "sockets": 1, "cores": vcpus, "threads": 1},
        "features": [],
    });
    Ok(HostInfo {
        hypervisor_type: "QEMU".into(),
        hypervisor_version,
        vcpus,
        memory_mb,
        disk_gb,
        cpu_info: cpu_info.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_facts() {
        let v = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022";
        assert_eq!(parse_version(v), Some(7_002_022));
        assert_eq!(
            parse_version("QEMU emulator version 8.2.0\n"),
            Some(8_002_000)
        );
        assert_eq!(
            parse_version("QEMU emulator version 9.1.50 (v9.1.0-1)"),
            Some(9_001_050)
        );
        assert_eq!(parse_version("nonsense"), None);
        let mem = "MemTotal:       24601924 kB\nMemFree:        1000 kB\n";
        assert_eq!(parse_meminfo_mb(mem), Some(24025));
        assert_eq!(parse_meminfo_mb("MemFree: 1 kB"), None);
        assert_eq!(parse_statfs_gb("4096 65536000\n"), Some(250));
        assert_eq!(parse_statfs_gb("4096"), None);
        let cpu = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: X\n";
        assert_eq!(cpu_field(cpu, "vendor_id").as_deref(), Some("GenuineIntel"));
    }
}
