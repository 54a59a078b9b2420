//! Golden server bodies at 2.1, 2.47 and 2.79 (a member's view and an admin's), built from a
//! hand-made instance so that every field is pinned.

use std::collections::BTreeMap;

use compute_model::{Fault, Flavor, Instance, PowerState, TaskState, VmState};
use serde_json::{json, Value};

use crate::servers::views::{self, ViewOpts};
use crate::Mv;

const BASE: &str = "http://cloud.test";
const ID: &str = "9168b536-cd40-4630-b43f-b259807c6e87";
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";
const PROJECT: &str = "6f70656e737461636b20342065766572";
/// sha224(PROJECT + "compute1"), as Python's hashlib computes it.
const HOST_ID: &str = "d8a01c342b5f69f2a1949a5bac4f7fff5b6102ee3ba689e8779fcb07";

pub(crate) fn instance() -> Instance {
    Instance {
        uuid: ID.into(),
        name: "new-server-test".into(),
        project_id: PROJECT.into(),
        user_id: "fake-user".into(),
        image_ref: IMAGE.into(),
        flavor: Flavor {
            id: "1".into(),
            name: "m1.tiny".into(),
            vcpus: 1,
            ram: 512,
            disk: 1,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            disabled: false,
            description: None,
            extra_specs: BTreeMap::from([("hw:cpu_policy".to_string(), "shared".to_string())]),
        },
        new_flavor: None,
        vm_state: VmState::Active,
        task_state: None,
        power_state: PowerState::Running,
        host: Some("compute1".into()),
        node: Some("5e1c8a2e-9a0e-4b5c-8d3e-2f1a0b9c8d7e".into()),
        availability_zone: Some("nova".into()),
        key_name: Some("kp".into()),
        key_data: Some("ssh-ed25519 AAAA".into()),
        user_data: Some("IyEvYmluL3NoCg==".into()),
        metadata: BTreeMap::from([("My Server Name".to_string(), "Apache1".to_string())]),
        tags: vec!["tag1".into()],
        description: Some("a server".into()),
        hostname: "new-server-test".into(),
        locked: false,
        locked_reason: None,
        config_drive: true,
        access_ip_v4: String::new(),
        access_ip_v6: String::new(),
        launch_index: 0,
        reservation_id: "r-3fhpjulh".into(),
        progress: 0,
        created_at: "2026-11-22T01:07:43.123456".into(),
        updated_at: "2026-11-22T01:07:51.000001".into(),
        launched_at: Some("2026-11-22T01:07:50.880302".into()),
        terminated_at: None,
        fault: None,
        server_group: None,
        generation: 4,
    }
}

fn member() -> ViewOpts {
    ViewOpts::show()
}

fn admin() -> ViewOpts {
    ViewOpts {
        extended_attr: true,
        host_status: true,
        extra_specs: true,
        is_admin: true,
        ..ViewOpts::show()
    }
}

fn links() -> Value {
    json!([
        {"rel": "self", "href": format!("{BASE}/compute/v2.1/servers/{ID}")},
        {"rel": "bookmark", "href": format!("{BASE}/compute/servers/{ID}")},
    ])
}

/// The body every microversion shares.
fn common() -> Value {
    json!({
        "id": ID,
        "name": "new-server-test",
        "status": "ACTIVE",
        "tenant_id": PROJECT,
        "user_id": "fake-user",
        "metadata": {"My Server Name": "Apache1"},
        "hostId": HOST_ID,
        "image": {"id": IMAGE, "links": [{"rel": "bookmark", "href": format!("{BASE}/compute/images/{IMAGE}")}]},
        "created": "2026-11-22T01:07:43Z",
        "updated": "2026-11-22T01:07:51Z",
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "True",
        "OS-SRV-USG:launched_at": "2026-11-22T01:07:50.880302",
        "OS-SRV-USG:terminated_at": null,
        "OS-EXT-STS:task_state": null,
        "OS-EXT-STS:vm_state": "active",
        "OS-EXT-STS:power_state": 1,
        "os-extended-volumes:volumes_attached": [],
        "key_name": "kp",
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

fn extended_attrs() -> Value {
    json!({
        "OS-EXT-SRV-ATTR:host": "compute1",
        "OS-EXT-SRV-ATTR:instance_name": "instance-9168b536",
        "OS-EXT-SRV-ATTR:hypervisor_hostname": "compute1",
        "OS-EXT-SRV-ATTR:hostname": "new-server-test",
        "OS-EXT-SRV-ATTR:kernel_id": "",
        "OS-EXT-SRV-ATTR:launch_index": 0,
        "OS-EXT-SRV-ATTR:ramdisk_id": "",
        "OS-EXT-SRV-ATTR:reservation_id": "r-3fhpjulh",
        "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
        "OS-EXT-SRV-ATTR:user_data": "IyEvYmluL3NoCg==",
    })
}

#[test]
fn golden_2_1_member() {
    let got = views::server(BASE, Mv(1), &instance(), member());
    let want = merge(
        common(),
        json!({"flavor": {"id": "1", "links": [{"rel": "bookmark", "href": format!("{BASE}/compute/flavors/1")}]}}),
    );
    assert_eq!(got, want, "{got:#}");
}

#[test]
fn golden_2_1_admin_has_the_extended_attributes_of_2_1_only() {
    let got = views::server(BASE, Mv(1), &instance(), admin());
    let want = merge(
        common(),
        json!({
            "flavor": {"id": "1", "links": [{"rel": "bookmark", "href": format!("{BASE}/compute/flavors/1")}]},
            "OS-EXT-SRV-ATTR:host": "compute1",
            "OS-EXT-SRV-ATTR:instance_name": "instance-9168b536",
            "OS-EXT-SRV-ATTR:hypervisor_hostname": "compute1",
        }),
    );
    assert_eq!(got, want, "{got:#}");
}

#[test]
fn golden_2_47_embeds_the_flavor() {
    let got = views::server(BASE, Mv(47), &instance(), member());
    let want = merge(
        common(),
        json!({
            "flavor": {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0, "original_name": "m1.tiny"},
            "locked": false,
            "description": "a server",
            "tags": ["tag1"],
        }),
    );
    assert_eq!(got, want, "{got:#}");
}

#[test]
fn golden_2_79_admin() {
    let got = views::server(BASE, Mv(79), &instance(), admin());
    let want = merge(
        merge(common(), extended_attrs()),
        json!({
            "flavor": {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                       "original_name": "m1.tiny", "extra_specs": {"hw:cpu_policy": "shared"}},
            "locked": false,
            "host_status": "UP",
            "description": "a server",
            "tags": ["tag1"],
            "trusted_image_certificates": null,
            "locked_reason": null,
        }),
    );
    assert_eq!(got, want, "{got:#}");
}

#[test]
fn update_body_before_2_75_is_reduced() {
    let got = views::server(BASE, Mv(74), &instance(), ViewOpts::after_write(Mv(74)));
    let obj = got.as_object().cloned().unwrap_or_default();
    for gone in [
        "OS-EXT-AZ:availability_zone",
        "config_drive",
        "key_name",
        "OS-SRV-USG:launched_at",
        "OS-EXT-STS:vm_state",
        "os-extended-volumes:volumes_attached",
        "OS-EXT-SRV-ATTR:host",
        "host_status",
    ] {
        assert!(!obj.contains_key(gone), "{gone} in {got:#}");
    }
    assert_eq!(got["locked_reason"], Value::Null);
    let full = views::server(BASE, Mv(75), &instance(), ViewOpts::after_write(Mv(75)));
    assert_eq!(full["OS-EXT-STS:vm_state"], "active");
    assert_eq!(full["key_name"], "kp");
}

#[test]
fn boot_from_volume_building_and_faulted_servers() {
    let mut i = instance();
    i.image_ref = String::new();
    i.host = None;
    i.vm_state = VmState::Building;
    i.task_state = Some(TaskState::Scheduling);
    i.power_state = PowerState::NoState;
    i.progress = 0;
    let v = views::server(BASE, Mv(79), &i, admin());
    assert_eq!(v["image"], "");
    assert_eq!(v["hostId"], "");
    assert_eq!(v["status"], "BUILD");
    assert_eq!(v["progress"], 0);
    assert_eq!(v["host_status"], "");
    assert_eq!(v["OS-EXT-STS:task_state"], "scheduling");
    assert_eq!(v["OS-EXT-SRV-ATTR:root_device_name"], Value::Null);

    i.vm_state = VmState::Error;
    i.task_state = None;
    i.fault = Some(Fault {
        code: 500,
        message: "No valid host was found. There are not enough hosts available.".into(),
        details: "Traceback: scheduler".into(),
        created: "2026-11-22T01:08:00.5".into(),
    });
    let as_admin = views::server(BASE, Mv(79), &i, admin());
    assert_eq!(as_admin["status"], "ERROR");
    assert!(as_admin.get("progress").is_none());
    assert_eq!(
        as_admin["fault"],
        json!({"code": 500, "created": "2026-11-22T01:08:00Z",
               "message": "No valid host was found. There are not enough hosts available.",
               "details": "Traceback: scheduler"})
    );
    let as_member = views::server(BASE, Mv(79), &i, member());
    assert!(
        as_member["fault"].get("details").is_none(),
        "500 details are for admins"
    );

    i.vm_state = VmState::Stopped;
    let v = views::server(BASE, Mv(79), &i, member());
    assert_eq!(v["status"], "SHUTOFF");
    assert!(
        v.get("fault").is_none(),
        "faults show only in ERROR and DELETED"
    );
    assert!(v.get("progress").is_none());
}

#[test]
fn index_entries_are_id_name_links() {
    let v = views::basic(BASE, &instance());
    assert_eq!(
        v,
        json!({"id": ID, "name": "new-server-test", "links": links()})
    );
}
