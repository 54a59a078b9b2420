//! Host processes: the QEMU of a VM (found by its pid file and verified through
//! `/proc/<pid>/cmdline`, so a foreign process is never signalled) and the short-lived tools
//! (`qemu-img`, mtools), run without blocking the runtime.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use compute_virt::VirtError;
use tokio::process::Command;

/// The longest a host tool (`qemu-img`, mtools, `kill`) may run.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// The pid in `pidfile` when that process is alive and its command line names `dir`
/// (zombies have an empty command line and count as gone).
pub async fn verified_pid(pidfile: &Path, dir: &Path) -> Option<u32> {
    let text = tokio::fs::read_to_string(pidfile).await.ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    if pid <= 1 {
        return None;
    }
    is_our_process(pid, dir).await.then_some(pid)
}

/// True when `pid` runs and its command line mentions `dir` (as a `/`-terminated prefix of
/// some path in it).
pub async fn is_our_process(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = tokio::fs::read(format!("/proc/{pid}/cmdline")).await else {
        return false;
    };
    cmdline_names_dir(&cmdline, dir)
}

/// True when some NUL-separated argument of `cmdline` contains `<dir>/`.
pub fn cmdline_names_dir(cmdline: &[u8], dir: &Path) -> bool {
    let mut needle = dir.display().to_string().into_bytes();
    needle.push(b'/');
    let escaped: Vec<u8> = String::from_utf8_lossy(&needle)
        .replace(',', ",,")
        .into_bytes();
    cmdline
        .split(|&b| b == 0)
        .any(|arg| contains(arg, &needle) || contains(arg, &escaped))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Sends SIGKILL to `pid` (the caller verified it).
pub async fn kill(pid: u32) -> Result<(), VirtError> {
    // No libc/unsafe in this workspace: signal through kill(1).
    let out = run_tool(
        Command::new("kill").args(["-s", "KILL", &pid.to_string()]),
        "kill qemu",
    )
    .await;
    match out {
        Ok(_) => Ok(()),
        // It may have exited in between; the caller checks whether it is gone.
        Err(e) if !Path::new(&format!("/proc/{pid}")).exists() => {
            tracing::debug!(pid, "kill raced with exit: {e}");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Waits until `pid` no longer runs as our process; false when `timeout` passed first.
pub async fn wait_gone(pid: u32, dir: &Path, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if !is_our_process(pid, dir).await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGKILLs a verified QEMU and waits for it to go.
pub async fn kill_and_wait(pid: u32, dir: &Path) -> Result<(), VirtError> {
    kill(pid).await?;
    if wait_gone(pid, dir, Duration::from_secs(10)).await {
        Ok(())
    } else {
        Err(VirtError::Failed(format!(
            "qemu pid {pid} still runs 10 s after SIGKILL"
        )))
    }
}

/// Runs a host tool to completion (bounded by [`TOOL_TIMEOUT`]) and returns its stdout;
/// a non-zero exit is an error quoting stderr, prefixed by `what`.
pub async fn run_tool(cmd: &mut Command, what: &str) -> Result<Vec<u8>, VirtError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| VirtError::Failed(format!("{what}: start {:?}: {e}", cmd.as_std())))?;
    let out = tokio::time::timeout(TOOL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| VirtError::Failed(format!("{what}: timed out after {TOOL_TIMEOUT:?}")))?
        .map_err(|e| VirtError::Failed(format!("{what}: {e}")))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(VirtError::Failed(format!(
            "{what}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cmdline_must_name_the_instance_dir() {
        let dir = Path::new("/srv/instances/abc");
        let ours =
            b"qemu-system-x86_64\0-drive\0if=none,id=root,file=/srv/instances/abc/disk.qcow2\0";
        assert!(cmdline_names_dir(ours, dir));
        let escaped = b"qemu\0-pidfile\0/srv/a,b/abc/qemu.pid\0";
        assert!(cmdline_names_dir(escaped, Path::new("/srv/a,b/abc")));
        let other_vm = b"qemu-system-x86_64\0file=/srv/instances/abcd/disk.qcow2\0";
        assert!(!cmdline_names_dir(other_vm, dir));
        assert!(!cmdline_names_dir(b"", dir), "zombie");
        assert!(!cmdline_names_dir(b"/bin/sleep\x00100\x00", dir));
    }

    #[tokio::test]
    async fn pidfile_of_a_foreign_or_missing_process_is_not_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let pidfile = tmp.path().join("qemu.pid");
        assert_eq!(verified_pid(&pidfile, tmp.path()).await, None);
        // Our own test process is alive but does not name the dir.
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(verified_pid(&pidfile, tmp.path()).await, None);
        std::fs::write(&pidfile, "1\n").unwrap();
        assert_eq!(verified_pid(&pidfile, tmp.path()).await, None);
        std::fs::write(&pidfile, "garbage").unwrap();
        assert_eq!(verified_pid(&pidfile, tmp.path()).await, None);
    }

    #[tokio::test]
    async fn run_tool_reports_failures() {
        let out = run_tool(Command::new("sh").args(["-c", "echo hi"]), "echo")
            .await
            .unwrap();
        assert_eq!(out, b"hi\n");
        let err = run_tool(
            Command::new("sh").args(["-c", "echo bad >&2; exit 3"]),
            "fail",
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, VirtError::Failed(ref m) if m.starts_with("fail:") && m.contains("bad"))
        );
    }
}
