//! `bench compute`, real guests: the time from `POST /servers` (tiny image, m1.tiny, no
//! networks, TCG) to the guest's `FERROSTACK-GUEST: booted` (and `ready`) console markers,
//! beside plain QEMU booting the same base image with the same command line in the same run,
//! and the resident memory of one idle guest's QEMU.
//!
//! Both sides are timed the same way: the console log file (`console.log`, QEMU's serial
//! `logfile`) is read every [`POLL`] until the marker is in it. The API side reads
//! `<data_dir>/instances/<uuid>/console.log` directly (not `os-getConsoleOutput`), so no API
//! round trip is added to what is measured.
//!
//! The plain side copies the command line of the warm-up VM the qemu driver started (from
//! `/proc/<pid>/cmdline`), with its instance directory and uuid swapped for its own, so the
//! flags cannot drift from the driver's; it makes its own qcow2 overlay on the same base
//! (`qemu-img create -b`, same backing format and virtual size, timed as part of the boot)
//! and uses a copy of the warm-up's config drive (made before the clock starts).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _};
use serde_json::Value;

use crate::compute_server::{self as cs, Api, Cloud};
use crate::load::Conn;
use crate::server;

/// How often the console log is read.
pub const POLL: Duration = Duration::from_millis(50);
/// The guest's first marker (its initramfs runs).
pub const BOOTED: &str = "FERROSTACK-GUEST: booted";
/// The guest's last boot marker (SSH up, user-data done).
pub const READY: &str = "FERROSTACK-GUEST: ready";
/// The longest one boot may take on a loaded 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// Seconds a guest idles after `ready` before its memory is read.
const SETTLE: Duration = Duration::from_secs(5);

/// One timed boot.
#[derive(Clone, Debug, Default)]
pub struct Boot {
    /// Seconds from the start (POST, or `qemu-img create` for plain) to the markers.
    pub booted: f64,
    pub ready: f64,
    /// API side: seconds from POST to the 202, and to status ACTIVE (polled every 100 ms).
    pub accepted: f64,
    pub active: f64,
    /// Plain side: seconds `qemu-img create` took (included in `booted`).
    pub overlay: f64,
    /// Seconds from the start to QEMU's pid file (QEMU running): the part before the guest.
    pub qemu_up: f64,
    /// API side: seconds from DELETE to the server's 404.
    pub delete: f64,
}

/// What the real-VM part measured.
#[derive(Clone, Debug, Default)]
pub struct VmReport {
    pub api: Vec<Boot>,
    pub plain: Vec<Boot>,
    pub warmup_api: Option<Boot>,
    /// The QEMU command line both sides used (the plain side's, with its own paths).
    pub qemu_args: String,
    pub base: String,
    /// VmRSS/VmHWM (kB) of one idle guest's QEMU, API-started and plain.
    pub vm_rss_api: Option<server::Memory>,
    pub vm_rss_plain: Option<server::Memory>,
    /// The control plane (qemu driver, no VM yet) idle, and with one guest.
    pub cp_idle: Option<server::Memory>,
    pub cp_one_vm: Option<server::Memory>,
    pub load: Vec<String>,
}

/// Seconds since `t0` when `marker` appears in `file` (already there counts).
async fn wait_marker(file: &Path, marker: &str, t0: Instant) -> anyhow::Result<f64> {
    loop {
        if let Ok(text) = std::fs::read(file) {
            if text.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                return Ok(t0.elapsed().as_secs_f64());
            }
        }
        ensure!(
            t0.elapsed() < BOOT_TIMEOUT,
            "{marker:?} not in {} after {BOOT_TIMEOUT:?}",
            file.display()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Seconds since `t0` when `file` exists.
async fn wait_file(file: &Path, t0: Instant) -> anyhow::Result<f64> {
    while !file.exists() {
        ensure!(
            t0.elapsed() < BOOT_TIMEOUT,
            "{} not there after {BOOT_TIMEOUT:?}",
            file.display()
        );
        tokio::time::sleep(POLL).await;
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// Seconds since `t0` when the server is ACTIVE.
async fn wait_active(api: &Api, id: &str, t0: Instant) -> anyhow::Result<f64> {
    api.wait_status(id, "ACTIVE", BOOT_TIMEOUT).await?;
    Ok(t0.elapsed().as_secs_f64())
}

/// What the plain side copies from the driver's warm-up VM.
struct Template {
    /// argv, program first, with `dir` and `uuid` still in it.
    argv: Vec<String>,
    dir: String,
    uuid: String,
    backing: String,
    backing_format: String,
    virtual_size: u64,
    config_img: PathBuf,
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads the running warm-up VM's command line and disk, and keeps a copy of its config drive.
fn template(instances: &Path, uuid: &str, scratch: &Path) -> anyhow::Result<Template> {
    let dir = instances.join(uuid);
    let pid = cs::verified_pid(&dir.join("qemu.pid"), &dir)
        .ok_or_else(|| anyhow!("no live QEMU for {}", dir.display()))?;
    let argv = cs::cmdline(pid).ok_or_else(|| anyhow!("no cmdline for pid {pid}"))?;
    let info = run(
        Command::new("qemu-img")
            .args(["info", "-U", "--output=json"])
            .arg(dir.join("disk.qcow2")),
        "qemu-img info",
    )?;
    let info: Value = serde_json::from_str(&info)?;
    let backing = info["full-backing-filename"]
        .as_str()
        .or_else(|| info["backing-filename"].as_str())
        .ok_or_else(|| anyhow!("the driver's disk has no backing file: {info}"))?
        .to_string();
    let config_img = scratch.join("config.img");
    let src_cfg = dir.join("config.img");
    if src_cfg.exists() {
        std::fs::copy(&src_cfg, &config_img).context("copy the config drive")?;
    }
    Ok(Template {
        argv,
        dir: dir.display().to_string(),
        uuid: uuid.to_string(),
        backing,
        backing_format: info["backing-filename-format"]
            .as_str()
            .unwrap_or("qcow2")
            .to_string(),
        virtual_size: info["virtual-size"].as_u64().unwrap_or(1 << 30),
        config_img,
    })
}

/// The template's argv for a VM in `dir` named `uuid`.
fn plain_argv(t: &Template, dir: &Path, uuid: &str) -> Vec<String> {
    let d = dir.display().to_string();
    t.argv
        .iter()
        .map(|a| a.replace(&t.dir, &d).replace(&t.uuid, uuid))
        .collect()
}

/// A plain VM's directory; its QEMU is killed (by the verified pid) and the directory
/// removed when dropped.
struct PlainVm {
    dir: PathBuf,
}

impl PlainVm {
    fn pid(&self) -> Option<u32> {
        cs::verified_pid(&self.dir.join("qemu.pid"), &self.dir)
    }
}

impl Drop for PlainVm {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            cs::kill_pid(pid);
        }
        for pid in cs::pids_naming(&self.dir) {
            cs::kill_pid(pid);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One plain boot: overlay, QEMU with the driver's flags, markers; memory when asked.
async fn plain_boot(
    t: &Template,
    scratch: &Path,
    measure_rss: bool,
) -> anyhow::Result<(Boot, Option<server::Memory>)> {
    let uuid = uuid::Uuid::new_v4().to_string();
    let vm = PlainVm {
        dir: scratch.join(&uuid),
    };
    std::fs::create_dir_all(&vm.dir)?;
    if t.config_img.exists() {
        std::fs::copy(&t.config_img, vm.dir.join("config.img"))?;
    }
    let argv = plain_argv(t, &vm.dir, &uuid);
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| anyhow!("empty QEMU command line"))?;
    let t0 = Instant::now();
    run(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", &t.backing_format, "-b"])
            .arg(&t.backing)
            .arg(vm.dir.join("disk.qcow2"))
            .arg(t.virtual_size.to_string()),
        "qemu-img create",
    )?;
    let overlay = t0.elapsed().as_secs_f64();
    run(Command::new(prog).args(args), "qemu (plain)")?;
    let qemu_up = wait_file(&vm.dir.join("qemu.pid"), t0).await?;
    let console = vm.dir.join("console.log");
    let booted = wait_marker(&console, BOOTED, t0).await?;
    let ready = wait_marker(&console, READY, t0).await?;
    let mem = if measure_rss {
        tokio::time::sleep(SETTLE).await;
        let pid = vm
            .pid()
            .ok_or_else(|| anyhow!("plain QEMU pid not found"))?;
        Some(server::memory(pid)?)
    } else {
        None
    };
    Ok((
        Boot {
            booted,
            ready,
            overlay,
            qemu_up,
            ..Boot::default()
        },
        mem,
    ))
}

/// What an API boot needs.
struct ApiCx<'a> {
    cloud: &'a Cloud,
    api: &'a Api,
    body_image: &'a str,
    flavor: &'a str,
}

/// One API boot; with `keep`, the server is left running and its id returned.
async fn api_boot(
    cx: &ApiCx<'_>,
    name: &str,
    measure_rss: bool,
    keep: bool,
) -> anyhow::Result<(Boot, Option<server::Memory>, Option<String>)> {
    let body = Api::server_body(cx.body_image, cx.flavor, name);
    let mut conn = Conn::open(cx.api.addr).await?;
    let t0 = Instant::now();
    let id = cx.api.create_server(&mut conn, &body).await?;
    let accepted = t0.elapsed().as_secs_f64();
    let dir = cx.cloud.instances_dir().join(&id);
    let console = dir.join("console.log");
    let pidfile = dir.join("qemu.pid");
    let (booted, active, qemu_up) = tokio::try_join!(
        wait_marker(&console, BOOTED, t0),
        wait_active(cx.api, &id, t0),
        wait_file(&pidfile, t0)
    )?;
    let ready = wait_marker(&console, READY, t0).await?;
    let mut mem = None;
    if measure_rss {
        tokio::time::sleep(SETTLE).await;
        let pid = cs::verified_pid(&pidfile, &dir)
            .ok_or_else(|| anyhow!("the driver's QEMU pid not found"))?;
        mem = Some(server::memory(pid)?);
    }
    let mut b = Boot {
        booted,
        ready,
        accepted,
        active,
        qemu_up,
        ..Boot::default()
    };
    if keep {
        return Ok((b, mem, Some(id)));
    }
    let d0 = Instant::now();
    cx.api.delete_server(&id, BOOT_TIMEOUT).await?;
    b.delete = d0.elapsed().as_secs_f64();
    ensure!(
        cs::pids_naming(&dir).is_empty(),
        "a QEMU of {id} outlived its delete"
    );
    Ok((b, mem, None))
}

/// Runs the real-VM part on `cloud` (qemu driver, accel tcg, `tiny` seeded).
pub async fn run_vms(
    cloud: &Cloud,
    args: &crate::Args,
    reps: usize,
    scratch: &Path,
) -> anyhow::Result<VmReport> {
    let tick = server::clock_ticks() as f64;
    let api = cloud.admin().await?;
    let image = api.active_image("tiny").await?;
    let flavor = api.flavor_id("m1.tiny").await?;
    let cx = ApiCx {
        cloud,
        api: &api,
        body_image: &image,
        flavor: &flavor,
    };
    let mut rep = VmReport::default();
    tokio::time::sleep(Duration::from_secs(2)).await;
    rep.cp_idle = Some(server::memory(cloud.pid)?);
    rep.load.push(format!("start: {}", server::load_average()));
    eprintln!("compute vm: warm-up create (image cache, first spawn)...");
    let (warm, _, id) = api_boot(&cx, "bench-warmup", false, true).await?;
    let id = id.ok_or_else(|| anyhow!("warm-up kept no server"))?;
    eprintln!(
        "  warm-up: booted {:.2} s, ready {:.2} s",
        warm.booted, warm.ready
    );
    rep.warmup_api = Some(warm);
    rep.cp_one_vm = Some(server::memory(cloud.pid)?);
    let t = template(&cloud.instances_dir(), &id, scratch)?;
    rep.base = t.backing.clone();
    api.delete_server(&id, BOOT_TIMEOUT).await?;
    rep.qemu_args = plain_argv(&t, &scratch.join("<uuid>"), "<uuid>").join(" ");
    eprintln!("compute vm: warm-up plain boot...");
    plain_boot(&t, scratch, false).await?;
    for i in 0..reps {
        let last = i + 1 == reps;
        if args.quiet_wait > 0.0 {
            crate::wait_quiet(args.quiet_wait, args.quiet_cores, tick).await?;
        }
        // Alternate which side goes first, so a drift in the machine's load hits both.
        for side in [i % 2, 1 - i % 2] {
            if side == 0 {
                let (b, mem, _) = api_boot(&cx, &format!("bench-{i}"), last, false).await?;
                eprintln!(
                    "  api {}: accepted {:.3} s, QEMU up {:.2} s, booted {:.2} s, ACTIVE {:.2} s, ready {:.2} s, delete {:.2} s",
                    i + 1,
                    b.accepted,
                    b.qemu_up,
                    b.booted,
                    b.active,
                    b.ready,
                    b.delete
                );
                rep.api.push(b);
                if mem.is_some() {
                    rep.vm_rss_api = mem;
                }
            } else {
                let (b, mem) = plain_boot(&t, scratch, last).await?;
                eprintln!(
                    "  plain {}: overlay {:.3} s, QEMU up {:.2} s, booted {:.2} s, ready {:.2} s",
                    i + 1,
                    b.overlay,
                    b.qemu_up,
                    b.booted,
                    b.ready
                );
                rep.plain.push(b);
                if mem.is_some() {
                    rep.vm_rss_plain = mem;
                }
            }
        }
        rep.load.push(format!(
            "after repetition {}: {}",
            i + 1,
            server::load_average()
        ));
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_command_line_swaps_only_dir_and_uuid() {
        let t = Template {
            argv: vec![
                "qemu-system-x86_64".into(),
                "-name".into(),
                "guest=abc-1,debug-threads=on".into(),
                "-uuid".into(),
                "abc-1".into(),
                "-drive".into(),
                "if=none,id=root,file=/d/instances/abc-1/disk.qcow2,format=qcow2".into(),
                "-accel".into(),
                "tcg,tb-size=32".into(),
            ],
            dir: "/d/instances/abc-1".into(),
            uuid: "abc-1".into(),
            backing: String::new(),
            backing_format: String::new(),
            virtual_size: 0,
            config_img: PathBuf::new(),
        };
        let a = plain_argv(&t, Path::new("/s/xyz-2"), "xyz-2");
        assert_eq!(a[2], "guest=xyz-2,debug-threads=on");
        assert_eq!(a[4], "xyz-2");
        assert_eq!(
            a[6],
            "if=none,id=root,file=/s/xyz-2/disk.qcow2,format=qcow2"
        );
        assert_eq!(a[8], "tcg,tb-size=32");
    }
}
