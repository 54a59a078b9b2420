//! The tiny CirrOS-like guest image: a bootable qcow2 made only from Debian packages (the Debian
//! cloud kernel, busybox-static, dropbear) by `guest/build-image.sh`, with an init that reads
//! OpenStack metadata and prints `FERROSTACK-GUEST: ...` markers on the serial console.
//!
//! [`ensure_image`] builds it once and caches it under
//! `$HOME/.cache/ferrostack/guest/<input hash>/tiny.qcow2`, where the hash covers every build
//! input (the script and `guest/files/`, embedded in this crate at compile time); it rebuilds
//! only when an input changes. Builds run in a temporary directory beside the cache entry and
//! are renamed into place, under a lock file, so concurrent callers (threads or processes) never
//! see or corrupt a partial image.
//!
//! Owns: the build inputs, the cache layout, the console marker vocabulary ([`marker`]).
//! Must not depend on: any Ferrostack service crate (services and tests depend on this one).

use std::fs::{self, File};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use sha2::{Digest as _, Sha256};

/// The image's file name inside its cache entry.
pub const IMAGE_FILE: &str = "tiny.qcow2";

/// What the build recorded (package versions, sizes) beside the image.
pub const BUILD_INFO_FILE: &str = "build-info.txt";

/// The build's combined output, kept beside the image.
pub const BUILD_LOG_FILE: &str = "build.log";

/// Bumped when the cache layout or the way inputs are hashed changes.
const CACHE_FORMAT: &str = "ferrostack-guest-cache-v1";

/// The longest a build may run (package installs included) before it is killed.
const BUILD_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The longest a caller waits for another caller's build (or package install) to finish.
const LOCK_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The lines of a failed build's log quoted in the error.
const LOG_TAIL_LINES: usize = 40;

/// The console marker lines the guest prints on ttyS0, in boot order. Each is a whole line;
/// those ending in a space are followed by a value.
pub mod marker {
    /// The initramfs started (first userspace code).
    pub const BOOTED: &str = "FERROSTACK-GUEST: booted";
    /// `got address <ipv4>`: DHCP bound eth0.
    pub const GOT_ADDRESS: &str = "FERROSTACK-GUEST: got address ";
    /// No lease within the bounded tries (about 5 s), or no NIC at all.
    pub const NO_ADDRESS: &str = "FERROSTACK-GUEST: no address";
    /// Metadata read from `http://169.254.169.254/openstack/latest/meta_data.json`.
    pub const METADATA_NETWORK: &str = "FERROSTACK-GUEST: metadata ok source=network";
    /// Metadata read from a config drive (vfat or iso9660 labelled `config-2`).
    pub const METADATA_CONFIG_DRIVE: &str = "FERROSTACK-GUEST: metadata ok source=config-drive";
    /// Neither source answered.
    pub const METADATA_NONE: &str = "FERROSTACK-GUEST: metadata none";
    /// `instance-id <uuid>`: the metadata's uuid.
    pub const INSTANCE_ID: &str = "FERROSTACK-GUEST: instance-id ";
    /// `hostname <name>`: the hostname now set (from metadata, else the image default).
    pub const HOSTNAME: &str = "FERROSTACK-GUEST: hostname ";
    /// `public-keys <n>`: keys from metadata present in root's authorized_keys.
    pub const PUBLIC_KEYS: &str = "FERROSTACK-GUEST: public-keys ";
    /// dropbear is listening.
    pub const SSH_LISTENING: &str = "FERROSTACK-GUEST: ssh listening port 22";
    /// A `#!` user-data script ran; followed by ` (exit <status>)`.
    pub const USER_DATA_RAN: &str = "FERROSTACK-GUEST: user-data ran";
    /// No user-data.
    pub const USER_DATA_NONE: &str = "FERROSTACK-GUEST: user-data none";
    /// Boot finished: SSH is up and user-data has run.
    pub const READY: &str = "FERROSTACK-GUEST: ready";
    /// The ACPI power button was pressed (QMP `system_powerdown`); the guest powers off.
    pub const POWER_BUTTON: &str = "FERROSTACK-GUEST: power button, powering off";
    /// The shutdown script runs (poweroff or reboot).
    pub const SHUTTING_DOWN: &str = "FERROSTACK-GUEST: shutting down";
}

macro_rules! inputs {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)) as &[u8])),*]
    };
}

/// Every build input, by its path relative to `guest/`. A unit test checks that this list
/// names every file under `guest/files/`.
const INPUTS: &[(&str, &[u8])] = inputs![
    "build-image.sh",
    "files/initramfs/init",
    "files/modules",
    "files/rootfs/etc/acpi/PWRF/00000080",
    "files/rootfs/etc/fstab",
    "files/rootfs/etc/group",
    "files/rootfs/etc/hostname",
    "files/rootfs/etc/hosts",
    "files/rootfs/etc/init.d/rcK",
    "files/rootfs/etc/init.d/rcS",
    "files/rootfs/etc/inittab",
    "files/rootfs/etc/issue",
    "files/rootfs/etc/motd",
    "files/rootfs/etc/nsswitch.conf",
    "files/rootfs/etc/passwd",
    "files/rootfs/etc/profile",
    "files/rootfs/etc/shadow",
    "files/rootfs/etc/shells",
    "files/rootfs/etc/udhcpc/default.script",
    "files/rootfs/usr/lib/ferrostack/jsonflat.awk",
    "files/syslinux.cfg",
];

/// The content hash of the build inputs (hex, 16 characters): the cache entry's name.
pub fn input_hash() -> String {
    let mut h = Sha256::new();
    h.update(CACHE_FORMAT.as_bytes());
    for (path, bytes) in INPUTS {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `$HOME/.cache/ferrostack/guest`.
pub fn cache_root() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set: no cache directory")?;
    Ok(PathBuf::from(home).join(".cache/ferrostack/guest"))
}

/// The tiny guest image, built on first use and cached under [`cache_root`]; returns the
/// absolute path of `tiny.qcow2`. Never modify the returned file: boot qcow2 overlays on it.
pub fn ensure_image() -> anyhow::Result<PathBuf> {
    ensure_image_in(&cache_root()?)
}

/// [`ensure_image`] with the cache under `root` instead of `$HOME/.cache/ferrostack/guest`.
pub fn ensure_image_in(root: &Path) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    let root = root
        .canonicalize()
        .with_context(|| format!("resolve {}", root.display()))?;
    let hash = input_hash();
    let entry = root.join(&hash);
    let image = entry.join(IMAGE_FILE);
    if image.is_file() {
        return Ok(image);
    }
    let _lock = lock(&root.join(".build.lock"))?;
    if image.is_file() {
        return Ok(image); // another caller built it while we waited
    }
    remove_stale_builds(&root);

    let tmp = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&root)
        .context("create a build directory")?;
    let src = tmp.path().join("src");
    let out = tmp.path().join("out");
    write_inputs(&src)?;
    fs::create_dir_all(&out).context("create the build output directory")?;
    let log = out.join(BUILD_LOG_FILE);
    let mut cmd = Command::new("bash");
    cmd.arg(src.join("build-image.sh"))
        .arg(&out)
        .env("FERROSTACK_GUEST_DEB_CACHE", deb_cache(&root))
        .env("FERROSTACK_GUEST_INPUT_HASH", &hash);
    run_logged(cmd, &log, BUILD_TIMEOUT).context("build the guest image")?;
    if !out.join(IMAGE_FILE).is_file() {
        bail!(
            "the build succeeded but wrote no {IMAGE_FILE}; see {}",
            log.display()
        );
    }
    if entry.exists() {
        // Left by something other than this function (which only ever renames whole builds).
        fs::remove_dir_all(&entry).with_context(|| format!("remove {}", entry.display()))?;
    }
    fs::rename(&out, &entry).with_context(|| format!("move the build to {}", entry.display()))?;
    Ok(image)
}

/// Where downloaded kernel packages are kept: shared by every cache root (it is only a
/// download cache; the build moves each .deb into it atomically).
fn deb_cache(root: &Path) -> PathBuf {
    cache_root()
        .unwrap_or_else(|_| root.to_path_buf())
        .join("debs")
}

/// Installs the Debian packages the build and a boot test need (the build's own list plus
/// qemu-system-x86) when missing, with apt-get (as root, or through `sudo -n`).
pub fn ensure_host_packages() -> anyhow::Result<()> {
    let root = cache_root()?;
    fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;
    let _lock = lock(&root.join(".packages.lock"))?;
    let tmp = tempfile::tempdir().context("create a temporary directory")?;
    write_inputs(tmp.path())?;
    let log = tmp.path().join("install.log");
    let mut cmd = Command::new("bash");
    cmd.arg(tmp.path().join("build-image.sh"))
        .arg("--install-only");
    run_logged(cmd, &log, BUILD_TIMEOUT).context("install the guest build's packages")
}

/// Writes the embedded build inputs under `dir`, keeping their relative paths.
fn write_inputs(dir: &Path) -> anyhow::Result<()> {
    for (path, bytes) in INPUTS {
        let dest = dir.join(path);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        }
        fs::write(&dest, bytes).with_context(|| format!("write {}", dest.display()))?;
    }
    Ok(())
}

/// An exclusive lock on `path` (created if missing), held until the file is dropped; waits at
/// most [`LOCK_TIMEOUT`].
fn lock(path: &Path) -> anyhow::Result<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(fs::TryLockError::WouldBlock) => {
                bail!("{} still locked after {LOCK_TIMEOUT:?}", path.display())
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("lock {}", path.display()))
            }
        }
    }
}

/// Removes build directories left by killed builds. Called with the build lock held, so no
/// live build owns any of them.
fn remove_stale_builds(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".build-") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Runs `cmd` with stdout and stderr appended to `log`, killing it after `timeout`. A failure
/// quotes the end of the log.
fn run_logged(mut cmd: Command, log: &Path, timeout: Duration) -> anyhow::Result<()> {
    let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
    let err = out.try_clone().context("duplicate the log file handle")?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("start {cmd:?}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for the build")? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{cmd:?} still running after {timeout:?}: killed\n{}",
                log_tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !status.success() {
        bail!("{cmd:?} failed ({status})\n{}", log_tail(log));
    }
    Ok(())
}

/// The last [`LOG_TAIL_LINES`] lines of `log` (at most its last 64 KiB).
fn log_tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(log) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    format!(
        "--- {} (last lines) ---\n{}",
        log.display(),
        tail.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(&path, base, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }

    #[test]
    fn inputs_name_every_build_file() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = vec!["build-image.sh".to_string()];
        files_under(&base.join("files"), base, &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = INPUTS.iter().map(|(p, _)| p.to_string()).collect();
        listed.sort();
        assert_eq!(
            listed, on_disk,
            "INPUTS in src/lib.rs must list every build input"
        );
    }

    #[test]
    fn input_hash_is_stable_hex() {
        let h = input_hash();
        assert_eq!(h.len(), 16);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, input_hash());
    }

    #[test]
    fn inputs_are_written_with_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path()).unwrap();
        for (path, bytes) in INPUTS {
            assert_eq!(&fs::read(dir.path().join(path)).unwrap(), bytes);
        }
    }

    #[test]
    fn a_held_lock_excludes_another_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let held = lock(&path).unwrap();
        let other = File::options().write(true).open(&path).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop(held);
        assert!(other.try_lock().is_ok());
    }

    #[test]
    fn run_logged_reports_the_log_tail_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo first; echo boom >&2; exit 3"]);
        let err = run_logged(cmd, &log, Duration::from_secs(10)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("boom"), "{msg}");
        assert!(msg.contains("first"), "{msg}");
    }

    #[test]
    fn run_logged_kills_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let err = run_logged(cmd, &log, Duration::from_millis(300)).unwrap_err();
        assert!(format!("{err:#}").contains("killed"));
    }
}
