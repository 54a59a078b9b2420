//! Choosing the accelerator. `/dev/kvm` opening is not enough on some hosts (nested virt
//! where `KVM_RUN` spins forever), so `auto` boots a tiny hand-assembled boot sector under KVM that
//! prints `PROBE-OK` on COM1 and leaves through `isa-debug-exit` (exit status 33); anything
//! else within the timeout means TCG.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::cmdline::Accel;

/// The longest the probe VM may run.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the probe prints when the accelerator executes guest code.
const PROBE_OK: &[u8] = b"PROBE-OK";

/// The exit status of `isa-debug-exit` after writing 0x10: (0x10 << 1) | 1.
const PROBE_EXIT: i32 = 33;

/// A 1.44 MB floppy image whose boot sector writes `PROBE-OK\n` to COM1 and exits QEMU.
pub fn boot_sector_floppy() -> Vec<u8> {
    #[rustfmt::skip]
    let code: [u8; 28] = [
        0xfc,             // cld
        0x31, 0xc0,       // xor ax, ax
        0x8e, 0xd8,       // mov ds, ax
        0xbe, 0x1c, 0x7c, // mov si, 0x7c1c (msg)
        0xba, 0xf8, 0x03, // mov dx, 0x3f8 (COM1)
        0xac,             // .next: lodsb
        0x84, 0xc0,       // test al, al
        0x74, 0x03,       // jz .done
        0xee,             // out dx, al
        0xeb, 0xf8,       // jmp .next
        0xba, 0xf4, 0x00, // .done: mov dx, 0xf4 (isa-debug-exit)
        0xb0, 0x10,       // mov al, 0x10
        0xee,             // out dx, al
        0xf4,             // hlt
        0xeb, 0xfd,       // jmp hlt
    ];
    let mut img = vec![0u8; 1_474_560];
    img[..code.len()].copy_from_slice(&code);
    let msg = b"PROBE-OK\n\0";
    img[code.len()..code.len() + msg.len()].copy_from_slice(msg);
    img[510] = 0x55;
    img[511] = 0xaa;
    img
}

/// Boots the probe under `accel` in `scratch` (a directory of ours) and says whether the
/// accelerator ran it to the end. Never takes much longer than [`PROBE_TIMEOUT`].
pub async fn probe(accel: Accel, scratch: &Path) -> bool {
    let floppy = scratch.join("accel-probe.img");
    let serial = scratch.join("accel-probe.out");
    let result = probe_in(accel, &floppy, &serial).await;
    let _ = tokio::fs::remove_file(&floppy).await;
    let _ = tokio::fs::remove_file(&serial).await;
    match result {
        Ok(ok) => ok,
        Err(e) => {
            tracing::info!(accel = accel.as_str(), "accelerator probe failed: {e}");
            false
        }
    }
}

async fn probe_in(accel: Accel, floppy: &Path, serial: &Path) -> std::io::Result<bool> {
    tokio::fs::write(floppy, boot_sector_floppy()).await?;
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", accel.as_str(), "-machine", "pc", "-m", "16"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!(
            "if=floppy,format=raw,file={}",
            crate::cmdline::opt_path(floppy)
        ))
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let status = match tokio::time::timeout(PROBE_TIMEOUT, child.wait()).await {
        Ok(status) => status?,
        Err(_) => {
            // Hung (KVM_RUN spinning): SIGKILL our own child and reap it.
            tracing::info!(accel = accel.as_str(), "accelerator probe hung; killed");
            child.start_kill()?;
            child.wait().await?;
            return Ok(false);
        }
    };
    let out = tokio::fs::read(serial).await.unwrap_or_default();
    let printed = out.windows(PROBE_OK.len()).any(|w| w == PROBE_OK);
    Ok(status.code() == Some(PROBE_EXIT) && printed)
}

/// `auto`: KVM when `/dev/kvm` exists and the probe passes under it, else TCG.
pub async fn detect(scratch: &Path) -> Accel {
    if !Path::new("/dev/kvm").exists() {
        return Accel::Tcg;
    }
    if probe(Accel::Kvm, scratch).await {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_sector_is_a_bootable_floppy_with_the_message_where_si_points() {
        let img = boot_sector_floppy();
        assert_eq!(img.len(), 1_474_560);
        assert_eq!(&img[510..512], &[0x55, 0xaa]);
        // mov si, imm16 at offset 5 must point at "PROBE-OK" loaded at 0x7c00.
        let si = u16::from_le_bytes([img[6], img[7]]) as usize;
        assert_eq!(&img[si - 0x7c00..si - 0x7c00 + 9], b"PROBE-OK\n");
    }
}
