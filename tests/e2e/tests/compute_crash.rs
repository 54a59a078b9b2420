//! Crash safety of the build flow with real QEMU guests: five builds started, the whole
//! process killed with SIGKILL while they run, then restarted on the same data directory.
//! Every server must end ACTIVE or ERROR (with a fault), placement must hold exactly the
//! ACTIVE servers' resources, every ACTIVE server has exactly one QEMU (re-attached, not
//! restarted) and nothing else runs or lies on disk.

use std::time::{Duration, Instant};

use e2e_tests::{text, Cloud};
use serde_json::Value;

#[test]
fn kill_during_five_builds_then_restart_converges() {
    let image = guest_image::ensure_image().unwrap_or_else(|e| panic!("guest image: {e:#}"));
    let seed = format!("tiny={}", image.display());
    let mut c = Cloud::start_with_args(&["--seed-image", &seed]);
    let mut ids = Vec::new();
    for i in 0..5 {
        let s = c.osc_json(&[
            "server",
            "create",
            "--image",
            "tiny",
            "--flavor",
            "m1.nano",
            "--nic",
            "none",
            "-f",
            "json",
            &format!("crash-{i}"),
        ]);
        ids.push(text(&s, "id"));
    }
    // Mid-way: some builds scheduled, some spawning, some done.
    std::thread::sleep(Duration::from_millis(700));
    let pids_before: Vec<u32> = c.guest_pids();
    c.kill();
    c.start_again();

    let start = Instant::now();
    let mut servers: Vec<Value>;
    loop {
        servers = ids
            .iter()
            .map(|id| c.osc_json(&["server", "show", id, "-f", "json"]))
            .collect();
        let settled = servers
            .iter()
            .all(|s| matches!(text(s, "status").as_str(), "ACTIVE" | "ERROR"));
        if settled {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "servers did not settle: {servers:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let active: Vec<&Value> = servers
        .iter()
        .filter(|s| text(s, "status") == "ACTIVE")
        .collect();
    for s in servers.iter().filter(|s| text(s, "status") == "ERROR") {
        assert!(
            !s["fault"].is_null(),
            "an ERROR server carries a fault: {s:#}"
        );
    }
    // Placement holds exactly the ACTIVE servers (m1.nano: 1 VCPU, 128 MiB each).
    let token = c.token();
    let project = text(&servers[0], "project_id");
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
    let n = active.len() as i64;
    assert_eq!(
        r.body["usages"]["VCPU"].as_i64().unwrap_or(0),
        n,
        "{}",
        r.text
    );
    assert_eq!(
        r.body["usages"]["MEMORY_MB"].as_i64().unwrap_or(0),
        128 * n,
        "{}",
        r.text
    );
    // One QEMU per ACTIVE server; ones that ran before the kill were kept, not restarted.
    let pids = c.guest_pids();
    assert_eq!(
        pids.len(),
        active.len(),
        "QEMUs {pids:?} for {} ACTIVE servers",
        active.len()
    );
    let kept = pids.iter().filter(|p| pids_before.contains(p)).count();
    eprintln!(
        "{} ACTIVE, {} ERROR, {kept} QEMU(s) re-attached",
        active.len(),
        servers.len() - active.len()
    );
    // Disks only for the ACTIVE servers.
    let dirs: Vec<String> = std::fs::read_dir(c.dir().join("instances"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| ids.contains(n))
                .collect()
        })
        .unwrap_or_default();
    let mut want: Vec<String> = active.iter().map(|s| text(s, "id")).collect();
    let mut have = dirs;
    want.sort();
    have.sort();
    assert_eq!(have, want, "instance directories");
    for id in &ids {
        c.osc(&["server", "delete", "--wait", id]);
    }
    assert!(c.guest_pids().is_empty());
}
