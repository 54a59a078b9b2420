//! Compute resources through the real CLI: flavors, keypairs, quotas and limits, usage,
//! hypervisors, compute services, availability zones; and a server group with the
//! anti-affinity policy whose members land on different hosts (two `fake`-driver hosts:
//! this test is about scheduling, not about VMs, which `servers.rs` boots for real).

use e2e_tests::{rows_where, text, Cloud};
use serde_json::Value;

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|a| a.iter().map(|r| text(r, key)).collect())
        .unwrap_or_default()
}

#[test]
fn flavors_keypairs_quotas_and_the_host_views() {
    let c = Cloud::start();

    // Flavors: the bootstrap set, then one of our own.
    let list = c.osc_json(&["flavor", "list", "-f", "json"]);
    assert!(
        names(&list, "Name").contains(&"m1.tiny".to_string()),
        "{list:#}"
    );
    let f = c.osc_json(&[
        "flavor",
        "create",
        "--vcpus",
        "2",
        "--ram",
        "1024",
        "--disk",
        "5",
        "--property",
        "hw:cpu_policy=shared",
        "-f",
        "json",
        "e2e.flavor",
    ]);
    assert_eq!(f["vcpus"], 2, "{f:#}");
    let shown = c.osc_json(&["flavor", "show", "e2e.flavor", "-f", "json"]);
    assert_eq!(shown["ram"], 1024, "{shown:#}");
    assert!(
        shown["properties"].to_string().contains("hw:cpu_policy"),
        "{shown:#}"
    );
    c.osc(&["flavor", "delete", "e2e.flavor"]);
    let err = c.osc_fails(&["flavor", "show", "e2e.flavor"]);
    assert!(err.contains("e2e.flavor"), "{err}");

    // Keypairs: generated (the private key comes back once) and listed, then deleted.
    let k = c.osc(&["keypair", "create", "e2e-key"]);
    assert!(k.contains("PRIVATE KEY"), "{k}");
    let list = c.osc_json(&["keypair", "list", "-f", "json"]);
    assert_eq!(
        names(&list, "Name"),
        vec!["e2e-key".to_string()],
        "{list:#}"
    );
    c.osc(&["keypair", "delete", "e2e-key"]);
    let list = c.osc_json(&["keypair", "list", "-f", "json"]);
    assert_eq!(list, Value::Array(vec![]), "{list:#}");

    // Quotas and limits.
    c.osc(&["quota", "set", "--instances", "7", "--cores", "9", "admin"]);
    let q = c.osc_json(&["quota", "show", "admin", "-f", "json"]);
    let quota_of = |name: &str| {
        q.as_array()
            .and_then(|rows| rows.iter().find(|r| r["Resource"] == name))
            .map(|r| r["Limit"].clone())
            .unwrap_or_else(|| q[name].clone())
    };
    assert_eq!(quota_of("instances"), 7, "{q:#}");
    assert_eq!(quota_of("cores"), 9, "{q:#}");
    let limits = c.osc_json(&["limits", "show", "--absolute", "-f", "json"]);
    // OSC prints Nova's maxTotalInstances as "instances".
    let max_instances = rows_where(&limits, "Name", "instances");
    assert_eq!(
        max_instances.first().map(|r| r["Value"].clone()),
        Some(Value::from(7)),
        "{limits:#}"
    );
    let usage = c.osc(&["usage", "show"]);
    assert!(
        usage.contains("Servers") || usage.contains("servers"),
        "{usage}"
    );

    // This host as the CLI sees it.
    let hv = c.osc_json(&["hypervisor", "list", "-f", "json"]);
    assert_eq!(hv.as_array().map(Vec::len), Some(1), "{hv:#}");
    assert_eq!(hv[0]["Hypervisor Type"], "QEMU", "{hv:#}");
    assert_eq!(hv[0]["State"], "up", "{hv:#}");
    let svc = c.osc_json(&["compute", "service", "list", "-f", "json"]);
    let compute = rows_where(&svc, "Binary", "nova-compute");
    assert_eq!(compute.len(), 1, "{svc:#}");
    assert_eq!(compute[0]["Status"], "enabled");
    assert_eq!(compute[0]["State"], "up");
    let host = text(compute[0], "Host");
    c.osc(&[
        "compute",
        "service",
        "set",
        "--disable",
        "--disable-reason",
        "maintenance",
        &host,
        "nova-compute",
    ]);
    let svc = c.osc_json(&["compute", "service", "list", "--long", "-f", "json"]);
    let compute = rows_where(&svc, "Binary", "nova-compute");
    assert_eq!(compute[0]["Status"], "disabled", "{svc:#}");
    assert_eq!(compute[0]["Disabled Reason"], "maintenance", "{svc:#}");
    let az = c.osc_json(&["availability", "zone", "list", "--compute", "-f", "json"]);
    assert_eq!(names(&az, "Zone Name"), vec!["nova".to_string()], "{az:#}");
}

#[test]
fn anti_affinity_places_group_members_on_different_fake_hosts() {
    let c = Cloud::start_with_config("[compute]\ndriver = \"fake\"\nfake_hosts = 2\n", &[]);
    let hv = c.osc_json(&["hypervisor", "list", "-f", "json"]);
    assert_eq!(
        hv.as_array().map(Vec::len),
        Some(2),
        "two fake hosts: {hv:#}"
    );
    let g = c.osc_json(&[
        "server",
        "group",
        "create",
        "--policy",
        "anti-affinity",
        "-f",
        "json",
        "apart",
    ]);
    let gid = text(&g, "id");
    // The fake driver needs an image record to boot "from"; any active image will do.
    let img = c.dir().join("blank.raw");
    std::fs::write(&img, vec![0u8; 1 << 16]).unwrap();
    c.osc(&[
        "image",
        "create",
        "--file",
        img.to_str().unwrap(),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "blank",
    ]);
    let mut hosts = Vec::new();
    for name in ["a1", "a2"] {
        let s = c.osc_json(&[
            "server",
            "create",
            "--image",
            "blank",
            "--flavor",
            "m1.tiny",
            "--nic",
            "none",
            "--hint",
            &format!("group={gid}"),
            "--wait",
            "-f",
            "json",
            name,
        ]);
        assert_eq!(text(&s, "status"), "ACTIVE", "{s:#}");
        hosts.push(text(&s, "OS-EXT-SRV-ATTR:host"));
    }
    assert_ne!(
        hosts[0], hosts[1],
        "anti-affinity members share a host: {hosts:?}"
    );
    // A third member has nowhere to go.
    let s = c.osc_json(&[
        "server",
        "create",
        "--image",
        "blank",
        "--flavor",
        "m1.tiny",
        "--nic",
        "none",
        "--hint",
        &format!("group={gid}"),
        "-f",
        "json",
        "a3",
    ]);
    let id = text(&s, "id");
    let mut status = String::new();
    for _ in 0..120 {
        let s = c.osc_json(&["server", "show", &id, "-f", "json"]);
        status = text(&s, "status");
        if status == "ERROR" {
            assert!(s["fault"].to_string().contains("No valid host"), "{s:#}");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(status, "ERROR");
}
