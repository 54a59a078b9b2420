//! Boots the tiny guest image from disk (MBR + syslinux, no `-kernel`) under QEMU TCG and reads
//! its serial console: without network, with a config drive, and with network metadata.
//!
//! Every wait is bounded; each QEMU is killed by its PID when its guard drops, panics included.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use guest_image::marker;

/// How long a boot to `ready` may take (TCG, possibly several guests at once on 2 cores).
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long QEMU may take to exit after the ACPI power button.
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a QMP exchange may take.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// The image, built once per test binary (and cached across runs by `ensure_image`).
fn image() -> PathBuf {
    static IMAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let image = IMAGE.get_or_init(|| {
        guest_image::ensure_host_packages().map_err(|e| format!("{e:#}"))?;
        let started = Instant::now();
        let image = guest_image::ensure_image().map_err(|e| format!("{e:#}"))?;
        eprintln!(
            "guest image {} ready in {:?}",
            image.display(),
            started.elapsed()
        );
        Ok(image)
    });
    match image {
        Ok(p) => p.clone(),
        Err(e) => panic!("guest image: {e}"),
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A QEMU process booting a qcow2 overlay of the image; killed (by PID) and reaped on drop.
struct Vm {
    child: Child,
    console: PathBuf,
    qemu_log: PathBuf,
    qmp: PathBuf,
    started: Instant,
}

impl Vm {
    /// Starts QEMU in `dir` on a fresh overlay, with `extra` arguments (disks, NICs).
    fn start(dir: &Path, extra: &[&str]) -> Vm {
        let overlay = dir.join("overlay.qcow2");
        let base = image();
        run(Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&base)
            .arg(&overlay));
        let console = dir.join("console.log");
        let qemu_log = dir.join("qemu.log");
        let qmp = dir.join("qmp.sock");
        let out = std::fs::File::create(&qemu_log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-machine", "pc", "-m", "256", "-smp", "1"])
            .args(["-nodefaults", "-display", "none", "-no-user-config"])
            .arg("-drive")
            .arg(format!(
                "if=none,id=root,file={},format=qcow2",
                overlay.display()
            ))
            .args(["-device", "virtio-blk-pci,drive=root"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        Vm {
            child,
            console,
            qemu_log,
            qmp,
            started: Instant::now(),
        }
    }

    fn console(&self) -> String {
        let bytes = std::fs::read(&self.console).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn fail(&self, why: &str) -> ! {
        let qemu = std::fs::read_to_string(&self.qemu_log).unwrap_or_default();
        panic!(
            "{why}\n--- qemu output ---\n{qemu}\n--- console ({}) ---\n{}",
            self.console.display(),
            self.console()
        );
    }

    /// Waits until the console shows every one of `markers`; returns the console text.
    fn wait_for(&mut self, markers: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.console();
            if markers.iter().all(|m| text.contains(m)) {
                eprintln!("{markers:?} after {:?}", self.started.elapsed());
                return text;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("qemu exited ({status}) before {markers:?}"));
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no {markers:?} on the console within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for QEMU to exit on its own.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("qemu still running {timeout:?} after the request"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends one QMP command (after the capabilities handshake) and waits for its return.
    fn qmp(&self, command: &str) {
        let stream = UnixStream::connect(&self.qmp)
            .unwrap_or_else(|e| self.fail(&format!("connect {}: {e}", self.qmp.display())));
        stream.set_read_timeout(Some(QMP_TIMEOUT)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut read_return = |what: &str| loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => self.fail(&format!("no QMP answer to {what}")),
                Ok(_) if line.contains("\"return\"") => return,
                Ok(_) if line.contains("\"error\"") => self.fail(&format!("QMP {what}: {line}")),
                Ok(_) => {} // the greeting, events
            }
        };
        writer
            .write_all(b"{\"execute\": \"qmp_capabilities\"}\n")
            .unwrap();
        read_return("qmp_capabilities");
        writeln!(writer, "{{\"execute\": \"{command}\"}}").unwrap();
        read_return(command);
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID; wait reaps it, so nothing is left behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn boots_from_disk_to_ready_without_network_and_powers_off_on_acpi() {
    let dir = tempfile::tempdir().unwrap();
    let mut vm = Vm::start(dir.path(), &["-nic", "none"]);
    let console = vm.wait_for(&[marker::BOOTED, marker::READY], BOOT_TIMEOUT);
    assert!(console.contains(marker::BOOTED));
    assert!(console.contains(marker::READY));
    assert!(console.contains(marker::NO_ADDRESS), "{console}");
    assert!(console.contains(marker::METADATA_NONE), "{console}");
    assert!(console.contains(marker::USER_DATA_NONE), "{console}");
    assert!(console.contains(marker::SSH_LISTENING), "{console}");

    vm.qmp("system_powerdown");
    let status = vm.wait_exit(POWEROFF_TIMEOUT);
    let console = vm.console();
    assert!(status.success(), "qemu exit {status}\n{console}");
    assert!(console.contains(marker::POWER_BUTTON), "{console}");
    assert!(console.contains(marker::SHUTTING_DOWN), "{console}");
    assert!(console.contains("reboot: Power down"), "{console}");
}

/// A vfat config drive labelled config-2, made with mtools (no mount).
fn config_drive(dir: &Path, meta_data: &str, user_data: &str) -> PathBuf {
    let files = dir.join("cfg-files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("meta_data.json"), meta_data).unwrap();
    std::fs::write(files.join("user_data"), user_data).unwrap();
    let img = dir.join("config-drive.img");
    let file = std::fs::File::create(&img).unwrap();
    file.set_len(2 * 1024 * 1024).unwrap();
    drop(file);
    let mtools = |tool: &str, args: &[&str]| {
        run(Command::new(tool)
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(&img)
            .args(args));
    };
    mtools(
        "mformat",
        &["-T", "4096", "-h", "64", "-s", "32", "-v", "config-2", "::"],
    );
    mtools("mmd", &["::/openstack", "::/openstack/latest"]);
    for name in ["meta_data.json", "user_data"] {
        let src = files.join(name);
        let dest = format!("::/openstack/latest/{name}");
        mtools("mcopy", &[src.to_str().unwrap(), &dest]);
    }
    img
}

const TEST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3Qm4Qe7d0bFbWQpZbB6Y9mF2wTg8zv8b6lM0m0Yk1P test@ferrostack";

#[test]
fn reads_hostname_keys_and_user_data_from_a_config_drive() {
    let dir = tempfile::tempdir().unwrap();
    let meta = format!(
        r#"{{"uuid": "0b5b6c4e-3c0a-4bd4-9d1e-2f0b1d7e0c01", "name": "cfgdrive-test",
            "hostname": "cfgdrive-test", "public_keys": {{"test": "{TEST_KEY}\n"}},
            "launch_index": 0, "availability_zone": "nova"}}"#
    );
    let drive = config_drive(
        dir.path(),
        &meta,
        "#!/bin/sh\necho FERROSTACK-GUEST: hello-from-user-data\n",
    );
    let cfg = format!(
        "if=none,id=cfg,file={},format=raw,readonly=on",
        drive.display()
    );
    let mut vm = Vm::start(
        dir.path(),
        &[
            "-nic",
            "none",
            "-drive",
            &cfg,
            "-device",
            "virtio-blk-pci,drive=cfg",
        ],
    );
    let console = vm.wait_for(&[marker::BOOTED, marker::READY], BOOT_TIMEOUT);
    assert!(console.contains(marker::METADATA_CONFIG_DRIVE), "{console}");
    assert!(
        console.contains("FERROSTACK-GUEST: hostname cfgdrive-test"),
        "{console}"
    );
    assert!(
        console.contains("FERROSTACK-GUEST: public-keys 1"),
        "{console}"
    );
    assert!(
        console.contains("FERROSTACK-GUEST: hello-from-user-data"),
        "{console}"
    );
    assert!(console.contains(marker::USER_DATA_RAN), "{console}");
}

/// A one-request HTTP responder for QEMU's `guestfwd=...-cmd:`: serves `meta_data.json` and
/// `user_data` from `dir`, 404 otherwise.
fn metadata_responder(dir: &Path) -> PathBuf {
    let script = dir.join("metadata-responder.sh");
    let body = r#"#!/bin/sh
cr=$(printf '\r')
read -r method path rest
while read -r line; do [ -z "${line%$cr}" ] && break; done
case "$path" in
/openstack/latest/meta_data.json | /openstack/latest/user_data) f="$DIR/${path##*/}" ;;
*) f= ;;
esac
if [ -n "$f" ] && [ -f "$f" ]; then
    printf 'HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$(wc -c <"$f")"
    cat "$f"
else
    printf 'HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
fi
"#;
    let body = body.replace("$DIR", &dir.display().to_string());
    std::fs::write(&script, body).unwrap();
    run(Command::new("chmod").arg("755").arg(&script));
    script
}

#[test]
fn reads_metadata_and_user_data_from_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let meta = format!(
        r#"{{"uuid": "7f3d1c2a-0d5e-4d8b-b6a4-9c1e2f3a4b5c", "name": "net test",
            "hostname": "net-test.novalocal", "keys": [{{"name": "k", "type": "ssh",
            "data": "{TEST_KEY}"}}], "public_keys": {{"k": "{TEST_KEY}"}}}}"#
    );
    std::fs::write(dir.path().join("meta_data.json"), meta).unwrap();
    std::fs::write(
        dir.path().join("user_data"),
        "#!/bin/sh\necho FERROSTACK-GUEST: hello-from-network-user-data\n",
    )
    .unwrap();
    let responder = metadata_responder(dir.path());
    // User-mode networking, restricted (nothing leaves QEMU) on a link-local /24, with
    // 169.254.169.254:80 answered by the responder.
    let netdev = format!(
        "user,id=n0,restrict=on,net=169.254.169.0/24,host=169.254.169.2,\
         dhcpstart=169.254.169.15,guestfwd=tcp:169.254.169.254:80-cmd:{}",
        responder.display()
    );
    let mut vm = Vm::start(
        dir.path(),
        &["-netdev", &netdev, "-device", "virtio-net-pci,netdev=n0"],
    );
    let console = vm.wait_for(&[marker::BOOTED, marker::READY], BOOT_TIMEOUT);
    assert!(
        console.contains("FERROSTACK-GUEST: got address 169.254.169.15"),
        "{console}"
    );
    assert!(console.contains(marker::METADATA_NETWORK), "{console}");
    assert!(
        console.contains("FERROSTACK-GUEST: hostname net-test"),
        "{console}"
    );
    assert!(
        console.contains("FERROSTACK-GUEST: public-keys 1"),
        "{console}"
    );
    assert!(
        console.contains("FERROSTACK-GUEST: hello-from-network-user-data"),
        "{console}"
    );
}
