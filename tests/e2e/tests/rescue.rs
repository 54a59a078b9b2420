//! Rescue on a real QEMU guest (TCG) through the real CLI: `openstack server rescue` boots
//! the guest again from a fresh disk of its image (the first disk, the image's own size)
//! with its own disk (grown to the flavor's 1 GiB) attached second; a rescued server
//! refuses `stop`; `openstack server unrescue` boots it from its own disk again; delete
//! leaves nothing behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_tests::{text, Cloud};
use serde_json::Value;

/// Under TCG with two cores a boot takes ~7 CPU-seconds; leave room for a loaded machine.
const BOOT: Duration = Duration::from_secs(240);
const STATE: Duration = Duration::from_secs(180);
const BOOTED: &str = "FERROSTACK-GUEST: booted";
/// m1.tiny's 1 GiB root disk in 512-byte blocks, as the guest kernel reports it.
const ONE_GIB_BLOCKS: u64 = 2 * 1024 * 1024;

fn cloud(image: &Path) -> Cloud {
    let seed = format!("tiny={}", image.display());
    Cloud::start_with_args(&["--seed-image", &seed])
}

fn show(c: &Cloud, id: &str) -> Value {
    c.osc_json(&["server", "show", id, "-f", "json"])
}

/// Polls `server show` until `status` is `want`; fails at once on ERROR.
fn wait_status(c: &Cloud, id: &str, want: &str, timeout: Duration) -> Value {
    let start = Instant::now();
    loop {
        let s = show(c, id);
        let status = text(&s, "status");
        if status == want {
            return s;
        }
        if status == "ERROR" && want != "ERROR" {
            panic!("server {id} went to ERROR waiting for {want}: {s:#}");
        }
        if start.elapsed() > timeout {
            panic!("server {id} is {status}, not {want}, after {timeout:?}: {s:#}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn console(c: &Cloud, id: &str) -> String {
    c.osc(&["console", "log", "show", id])
}

/// Polls the console until `marker` appears at least `count` times.
fn wait_console(c: &Cloud, id: &str, marker: &str, count: usize, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        let out = console(c, id);
        if out.matches(marker).count() >= count {
            return out;
        }
        if start.elapsed() > timeout {
            panic!(
                "{marker:?} not seen {count} time(s) on {id}'s console after {timeout:?}:\n{out}"
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Waits for the `n`th boot to have detected its disks and returns that boot's console.
fn boot_section(c: &Cloud, id: &str, n: usize) -> String {
    let start = Instant::now();
    loop {
        let out = wait_console(c, id, BOOTED, n, BOOT);
        let last = out.rfind(BOOTED).map_or(&out[..], |i| &out[i..]);
        if last.contains("mounted filesystem") {
            return last.to_string();
        }
        if start.elapsed() > BOOT {
            panic!("boot #{n} of {id} never mounted its root:\n{last}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The virtual size of an image in 512-byte blocks.
fn image_blocks(image: &Path) -> u64 {
    let out = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    info["virtual-size"].as_u64().unwrap() / 512
}

fn disk_line(dev: &str, blocks: u64) -> String {
    format!("[{dev}] {blocks} 512-byte logical blocks")
}

#[test]
fn a_rescued_guest_boots_the_rescue_disk_and_unrescue_boots_its_own_again() {
    let image = guest_image::ensure_image().unwrap_or_else(|e| panic!("guest image: {e:#}"));
    let rescue_blocks = image_blocks(&image);
    assert_ne!(rescue_blocks, ONE_GIB_BLOCKS);
    let c = cloud(&image);
    let s = c.osc_json(&[
        "server", "create", "--image", "tiny", "--flavor", "m1.tiny", "--nic", "none", "--wait",
        "-f", "json", "vm1",
    ]);
    assert_eq!(text(&s, "status"), "ACTIVE", "{s:#}");
    let id = text(&s, "id");
    let first = boot_section(&c, &id, 1);
    assert!(first.contains(&disk_line("vda", ONE_GIB_BLOCKS)), "{first}");
    let vm_dir = c.dir().join("instances").join(&id);

    c.osc(&["server", "rescue", &id]);
    let s = wait_status(&c, &id, "RESCUE", STATE);
    assert_eq!(text(&s, "OS-EXT-STS:vm_state"), "rescued", "{s:#}");
    let rescue = boot_section(&c, &id, 2);
    assert!(
        rescue.contains(&disk_line("vda", rescue_blocks)),
        "the first disk is a fresh disk of the image:\n{rescue}"
    );
    assert!(
        rescue.contains(&disk_line("vdb", ONE_GIB_BLOCKS)),
        "the server's own disk is attached second:\n{rescue}"
    );
    assert!(vm_dir.join("rescue.qcow2").exists());
    assert_eq!(c.guest_pids().len(), 1, "one QEMU runs");

    let refused = c.osc_fails(&["server", "stop", &id]);
    assert!(
        refused.contains(&format!(
            "Cannot 'stop' instance {id} while it is in vm_state rescued"
        )),
        "{refused}"
    );

    c.osc(&["server", "unrescue", &id]);
    wait_status(&c, &id, "ACTIVE", STATE);
    let own = boot_section(&c, &id, 3);
    assert!(
        own.contains(&disk_line("vda", ONE_GIB_BLOCKS)),
        "the server boots its own disk again:\n{own}"
    );
    assert!(
        !own.contains(&disk_line("vdb", ONE_GIB_BLOCKS)) && !own.contains("[vdc]"),
        "the rescue disk is gone:\n{own}"
    );
    assert!(!vm_dir.join("rescue.qcow2").exists());
    assert_eq!(c.guest_pids().len(), 1, "one QEMU runs");

    let actions = c.osc_json(&["server", "event", "list", &id, "-f", "json"]);
    let names: Vec<String> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| text(a, "Action"))
        .collect();
    assert!(
        names.contains(&"rescue".to_string()) && names.contains(&"unrescue".to_string()),
        "{names:?}"
    );

    c.osc(&["server", "delete", "--wait", &id]);
    assert!(c.guest_pids().is_empty(), "delete leaves no QEMU");
    assert!(
        !vm_dir.exists(),
        "delete leaves no disk at {}",
        vm_dir.display()
    );
}
