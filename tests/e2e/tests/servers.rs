//! Servers on real QEMU guests (TCG) through the real CLI: create with `--nic none --wait`,
//! the boot marker in `console log show`, stop/start (the QEMU process goes and comes
//! back), hard reboot, pause/unpause, suspend/resume, `server image create` and a second
//! server booted from that snapshot, resize + confirm with the new RAM seen by the guest's
//! kernel, and delete leaving no process, disk or allocation behind.

use std::time::{Duration, Instant};

use e2e_tests::{text, Cloud};
use serde_json::Value;

/// Under TCG with two cores a boot takes ~7 CPU-seconds; leave room for a loaded machine.
const BOOT: Duration = Duration::from_secs(240);
const STATE: Duration = Duration::from_secs(180);
const BOOTED: &str = "FERROSTACK-GUEST: booted";

fn cloud() -> Cloud {
    let image = guest_image::ensure_image().unwrap_or_else(|e| panic!("guest image: {e:#}"));
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

/// The total RAM the guest kernel reported at its last boot (`Memory: 123K/786432K
/// available`), in KiB.
fn last_kernel_memory_kib(console: &str) -> u64 {
    let line = console
        .lines()
        .rfind(|l| l.contains("Memory: ") && l.contains("K/"))
        .unwrap_or_else(|| panic!("no kernel Memory: line on the console:\n{console}"));
    let after = &line[line.find("K/").unwrap() + 2..];
    after[..after.find('K').unwrap()].parse().unwrap()
}

fn usages(c: &Cloud, project: &str) -> Value {
    let token = c.token();
    let r = c.http(
        "GET",
        &format!("/placement/usages?project_id={project}"),
        &[
            ("X-Auth-Token", token.as_str()),
            ("OpenStack-API-Version", "placement 1.9"),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["usages"].clone()
}

#[test]
fn a_real_guest_boots_and_follows_every_power_action() {
    let c = cloud();
    let s = c.osc_json(&[
        "server", "create", "--image", "tiny", "--flavor", "m1.tiny", "--nic", "none", "--wait",
        "-f", "json", "vm1",
    ]);
    assert_eq!(text(&s, "status"), "ACTIVE", "{s:#}");
    let id = text(&s, "id");
    wait_console(&c, &id, BOOTED, 1, BOOT);
    assert_eq!(c.guest_pids().len(), 1, "one QEMU runs");
    let project = text(&s, "project_id");
    let used = usages(&c, &project);
    assert_eq!(used["MEMORY_MB"], 512, "{used}");
    assert_eq!(used["VCPU"], 1, "{used}");

    c.osc(&["server", "stop", &id]);
    wait_status(&c, &id, "SHUTOFF", STATE);
    assert!(
        c.guest_pids().is_empty(),
        "stop leaves no QEMU: {:?}",
        c.guest_pids()
    );

    c.osc(&["server", "start", &id]);
    wait_status(&c, &id, "ACTIVE", STATE);
    wait_console(&c, &id, BOOTED, 2, BOOT);
    assert_eq!(c.guest_pids().len(), 1);

    c.osc(&["server", "reboot", "--hard", &id]);
    wait_status(&c, &id, "ACTIVE", STATE);
    wait_console(&c, &id, BOOTED, 3, BOOT);

    c.osc(&["server", "pause", &id]);
    wait_status(&c, &id, "PAUSED", STATE);
    c.osc(&["server", "unpause", &id]);
    wait_status(&c, &id, "ACTIVE", STATE);

    c.osc(&["server", "suspend", &id]);
    wait_status(&c, &id, "SUSPENDED", STATE);
    assert!(
        c.guest_pids().is_empty(),
        "a suspended guest has no process"
    );
    c.osc(&["server", "resume", &id]);
    wait_status(&c, &id, "ACTIVE", STATE);
    let pids = c.guest_pids();
    assert_eq!(pids.len(), 1);

    // A guest whose QEMU dies (killed here, by its pid) is seen by the power-state sync.
    let killed = std::process::Command::new("kill")
        .args(["-9", &pids[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let s = wait_status(&c, &id, "SHUTOFF", STATE);
    // Nova's power_state 4 is SHUTDOWN.
    assert_eq!(s["OS-EXT-STS:power_state"], 4, "{s:#}");

    c.osc(&["server", "delete", "--wait", &id]);
    let gone = c.osc_fails(&["server", "show", &id]);
    assert!(
        gone.contains("No Server found") || gone.contains("404"),
        "{gone}"
    );
    assert!(c.guest_pids().is_empty(), "delete leaves no QEMU");
    let instances = c.dir().join("instances").join(&id);
    assert!(
        !instances.exists(),
        "delete leaves no disk at {}",
        instances.display()
    );
    let used = usages(&c, &project);
    assert_eq!(
        used.as_object().map(|m| m.values().all(|v| v == 0)),
        Some(true),
        "{used}"
    );
}

#[test]
fn snapshot_boots_a_second_server_and_resize_gives_the_guest_more_memory() {
    let c = cloud();
    c.osc(&[
        "flavor",
        "create",
        "--vcpus",
        "1",
        "--ram",
        "768",
        "--disk",
        "1",
        "m1.bigger",
    ]);
    let s = c.osc_json(&[
        "server", "create", "--image", "tiny", "--flavor", "m1.tiny", "--nic", "none", "--wait",
        "-f", "json", "src",
    ]);
    let id = text(&s, "id");
    let before = wait_console(&c, &id, BOOTED, 1, BOOT);
    let mem_before = last_kernel_memory_kib(&before);

    c.osc(&[
        "server", "image", "create", "--name", "snap1", "--wait", &id,
    ]);
    let img = c.osc_json(&["image", "show", "snap1", "-f", "json"]);
    assert_eq!(text(&img, "status"), "active", "{img:#}");
    let s2 = c.osc_json(&[
        "server",
        "create",
        "--image",
        "snap1",
        "--flavor",
        "m1.tiny",
        "--nic",
        "none",
        "--wait",
        "-f",
        "json",
        "from-snap",
    ]);
    let id2 = text(&s2, "id");
    wait_console(&c, &id2, BOOTED, 1, BOOT);
    c.osc(&["server", "delete", "--wait", &id2]);

    c.osc(&["server", "resize", "--flavor", "m1.bigger", "--wait", &id]);
    let s = show(&c, &id);
    assert_eq!(text(&s, "status"), "VERIFY_RESIZE", "{s:#}");
    c.osc(&["server", "resize", "confirm", &id]);
    let s = wait_status(&c, &id, "ACTIVE", STATE);
    assert!(s["flavor"].to_string().contains("m1.bigger"), "{s:#}");
    let after = wait_console(&c, &id, BOOTED, 2, BOOT);
    let mem_after = last_kernel_memory_kib(&after);
    assert!(
        mem_after > mem_before + 200 * 1024,
        "the guest sees more memory after the resize: {mem_before} KiB → {mem_after} KiB"
    );
    c.osc(&["server", "delete", "--wait", &id]);
    assert!(c.guest_pids().is_empty());
}
