//! The server body per microversion (Nova's `views/servers.py`), up to 2.79.
//!
//! `addresses` and `security_groups` come from the network service ([`networking`]:
//! `security_groups` only for servers with ports, as Nova does).
//!
//! Where Ferrostack has no equivalent yet: `os-extended-volumes:volumes_attached` is `[]`,
//! `host_status` is `UP` when the server has a host and `""`
//! otherwise (the service's state is not consulted), `OS-EXT-SRV-ATTR:instance_name` is
//! `instance-<first 8 hex digits of the uuid>` (Nova uses the database id), and
//! `hypervisor_hostname` is the host's name.

use compute_domain::ports::InstanceNetworking;
use compute_model::{state, Instance, TaskState, VmState};
use serde_json::{json, Map, Value};

use super::hostid::host_id;
use super::util::{bookmark_href, isotime, links, strtime};
use crate::Mv;

/// Which optional parts of the body to render.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewOpts {
    /// Availability zone, config drive, usage timestamps, extended status, volumes.
    pub full: bool,
    pub keypair: bool,
    /// `OS-EXT-SRV-ATTR:*` (policy `os-extended-server-attributes`).
    pub extended_attr: bool,
    /// `host_status` at 2.16+ (policy `servers:show:host_status`).
    pub host_status: bool,
    /// The embedded flavor's `extra_specs` at 2.47+ (policy `show:flavor-extra-specs`).
    pub extra_specs: bool,
    /// `OS-EXT-SRV-ATTR:user_data` (left out of rebuild, which adds `user_data` itself).
    pub user_data: bool,
    /// Fault details of 500s are for admins only.
    pub is_admin: bool,
}

impl ViewOpts {
    /// `GET /servers/{id}` and `/servers/detail`.
    pub fn show() -> ViewOpts {
        ViewOpts {
            full: true,
            keypair: true,
            extended_attr: false,
            host_status: false,
            extra_specs: false,
            user_data: true,
            is_admin: false,
        }
    }

    /// `PUT /servers/{id}` and rebuild: everything from 2.75, a reduced body before.
    pub fn after_write(mv: Mv) -> ViewOpts {
        let all = mv.at_least(75);
        ViewOpts {
            full: all,
            keypair: all,
            ..ViewOpts::show()
        }
    }
}

const PROGRESS_STATUSES: [&str; 6] = [
    "ACTIVE",
    "BUILD",
    "REBUILD",
    "RESIZE",
    "VERIFY_RESIZE",
    "MIGRATING",
];

/// Nova's API status.
pub(crate) fn status(inst: &Instance) -> &'static str {
    if inst.vm_state == VmState::Deleted {
        return "DELETED";
    }
    state::status(inst.vm_state, inst.task_state)
}

/// `{"id", "name", "links"}` (the `GET /servers` entry).
pub(crate) fn basic(base: &str, inst: &Instance) -> Value {
    json!({"id": inst.uuid, "name": inst.name, "links": links(base, "servers", &inst.uuid)})
}

fn image(base: &str, inst: &Instance) -> Value {
    if inst.image_ref.is_empty() {
        return json!("");
    }
    let id = super::util::id_from_href(&inst.image_ref);
    json!({"id": id, "links": [{"rel": "bookmark", "href": bookmark_href(base, "images", &id)}]})
}

fn flavor(base: &str, mv: Mv, inst: &Instance, extra_specs: bool) -> Value {
    let f = &inst.flavor;
    if !mv.at_least(47) {
        return json!({
            "id": f.id,
            "links": [{"rel": "bookmark", "href": bookmark_href(base, "flavors", &f.id)}],
        });
    }
    let mut v = json!({
        "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk, "ephemeral": f.ephemeral,
        "swap": f.swap, "original_name": f.name,
    });
    if extra_specs {
        v["extra_specs"] = json!(f.extra_specs);
    }
    v
}

fn fault(inst: &Instance, is_admin: bool) -> Option<Value> {
    let f = inst.fault.as_ref()?;
    let mut v = json!({"code": f.code, "created": isotime(&f.created), "message": f.message});
    if !f.details.is_empty() && (is_admin || f.code != 500) {
        v["details"] = json!(f.details);
    }
    Some(v)
}

fn opt_time(t: &Option<String>) -> Value {
    t.as_deref().map_or(Value::Null, |t| json!(strtime(t)))
}

/// The detailed server (the object inside `{"server": ...}`).
/// `base` is the listener's public URL (`ApiState::base_url`).
pub(crate) fn server(base: &str, mv: Mv, inst: &Instance, o: ViewOpts) -> Value {
    let st = status(inst);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("id", json!(inst.uuid));
    put("name", json!(inst.name));
    put("status", json!(st));
    put("tenant_id", json!(inst.project_id));
    put("user_id", json!(inst.user_id));
    put("metadata", json!(inst.metadata));
    put(
        "hostId",
        json!(host_id(inst.host.as_deref(), &inst.project_id)),
    );
    put("image", image(base, inst));
    put("flavor", flavor(base, mv, inst, o.extra_specs));
    put("created", json!(isotime(&inst.created_at)));
    put("updated", json!(isotime(&inst.updated_at)));
    put("addresses", json!({}));
    put("accessIPv4", json!(inst.access_ip_v4));
    put("accessIPv6", json!(inst.access_ip_v6));
    put("links", links(base, "servers", &inst.uuid));
    put("OS-DCF:diskConfig", json!("MANUAL"));
    if st == "ERROR" || st == "DELETED" {
        if let Some(f) = fault(inst, o.is_admin) {
            put("fault", f);
        }
    }
    if PROGRESS_STATUSES.contains(&st) {
        put("progress", json!(inst.progress));
    }
    if o.full {
        put(
            "OS-EXT-AZ:availability_zone",
            json!(inst.availability_zone.clone().unwrap_or_default()),
        );
        put(
            "config_drive",
            json!(if inst.config_drive { "True" } else { "" }),
        );
        put("OS-SRV-USG:launched_at", opt_time(&inst.launched_at));
        put("OS-SRV-USG:terminated_at", opt_time(&inst.terminated_at));
        put(
            "OS-EXT-STS:task_state",
            json!(inst.task_state.map(TaskState::as_str)),
        );
        put("OS-EXT-STS:vm_state", json!(inst.vm_state.as_str()));
        put("OS-EXT-STS:power_state", json!(inst.power_state.code()));
        put("os-extended-volumes:volumes_attached", json!([]));
    }
    if o.keypair {
        put("key_name", json!(inst.key_name));
    }
    if o.extended_attr {
        let short: String = inst.uuid.chars().filter(|c| *c != '-').take(8).collect();
        put("OS-EXT-SRV-ATTR:host", json!(inst.host));
        put(
            "OS-EXT-SRV-ATTR:instance_name",
            json!(format!("instance-{short}")),
        );
        put("OS-EXT-SRV-ATTR:hypervisor_hostname", json!(inst.host));
        if mv.at_least(3) {
            put("OS-EXT-SRV-ATTR:hostname", json!(inst.hostname));
            put("OS-EXT-SRV-ATTR:kernel_id", json!(""));
            put("OS-EXT-SRV-ATTR:launch_index", json!(inst.launch_index));
            put("OS-EXT-SRV-ATTR:ramdisk_id", json!(""));
            put("OS-EXT-SRV-ATTR:reservation_id", json!(inst.reservation_id));
            put(
                "OS-EXT-SRV-ATTR:root_device_name",
                if inst.host.is_some() {
                    json!("/dev/vda")
                } else {
                    Value::Null
                },
            );
            if o.user_data {
                put("OS-EXT-SRV-ATTR:user_data", json!(inst.user_data));
            }
        }
    }
    if mv.at_least(9) {
        put("locked", json!(inst.locked));
    }
    if mv.at_least(16) && o.host_status {
        let hs = if inst.host.as_deref().is_some_and(|h| !h.is_empty()) {
            "UP"
        } else {
            ""
        };
        put("host_status", json!(hs));
    }
    if mv.at_least(19) {
        put("description", json!(inst.description));
    }
    if mv.at_least(26) {
        put("tags", json!(inst.tags));
    }
    if mv.at_least(63) {
        put("trusted_image_certificates", Value::Null);
    }
    if mv.at_least(73) {
        put("locked_reason", json!(inst.locked_reason));
    }
    Value::Object(m)
}

/// Sets a detailed view's `addresses` (Nova's `views/addresses.py` with the `OS-EXT-IPS`
/// and `OS-EXT-IPS-MAC` attributes) and, for a server with ports, its `security_groups`.
pub(crate) fn networking(view: &mut Value, n: Option<&InstanceNetworking>) {
    let Some(n) = n else { return };
    let mut addresses = Map::new();
    for (network, list) in &n.addresses {
        let items: Vec<Value> = list
            .iter()
            .map(|a| {
                json!({
                    "version": a.version,
                    "addr": a.addr,
                    "OS-EXT-IPS:type": a.kind,
                    "OS-EXT-IPS-MAC:mac_addr": a.mac,
                })
            })
            .collect();
        addresses.insert(network.clone(), Value::Array(items));
    }
    if let Some(m) = view.as_object_mut() {
        m.insert("addresses".into(), Value::Object(addresses));
        if !n.security_groups.is_empty() {
            let groups: Vec<Value> = n
                .security_groups
                .iter()
                .map(|g| json!({ "name": g }))
                .collect();
            m.insert("security_groups".into(), Value::Array(groups));
        }
    }
}
