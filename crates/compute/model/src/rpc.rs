//! The messages between the conductor (compute domain) and the compute agents, carried by
//! the bus: calls to `compute.<host>` and casts back to `compute.conductor`.
//!
//! Each request is one variant of [`AgentRequest`]; on the wire the bus method is the
//! variant's snake_case name and the args are its fields as a JSON object. Every agent
//! operation is idempotent (a repeated `spawn` of a running instance or `destroy` of a gone
//! one succeeds), so the conductor may replay a step after a crash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{PowerState, Vif};

/// The bus topic the agent on `host` serves.
pub fn agent_topic(host: &str) -> String {
    format!("compute.{host}")
}

/// The bus topic the conductor serves (agents' reports).
pub const CONDUCTOR_TOPIC: &str = "compute.conductor";

/// Everything an agent needs to create (or re-create) an instance's VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub uuid: String,
    pub name: String,
    pub hostname: String,
    pub project_id: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    /// GiB; the root overlay is grown to this size when larger than the image.
    pub root_gb: i64,
    /// The image to boot from (the agent fetches and caches it by id).
    pub image_id: String,
    /// Image properties that shape the VM (`hw_*`), passed to the driver as they are.
    pub image_properties: BTreeMap<String, String>,
    /// `meta_data.json` for the config drive (OpenStack metadata format).
    pub meta_data: serde_json::Value,
    /// `user_data` as the client sent it (base64), if any.
    pub user_data: Option<String>,
    /// Attach a config drive (always on while there is no metadata service on a network).
    pub config_drive: bool,
    /// The NICs, in the guest's order: each port is plugged (its tap wired by the network
    /// agent) before the VM starts.
    #[serde(default)]
    pub nics: Vec<Vif>,
    /// `network_data.json` for the config drive (`null`: none).
    #[serde(default)]
    pub network_data: serde_json::Value,
}

/// A request to the agent on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum AgentRequest {
    /// Fetch the image into the cache, create the overlay and boot. Reply: [`PowerReply`].
    Spawn {
        spec: InstanceSpec,
    },
    /// Stop the VM (hard) and remove everything the instance has on the host. Reply: `{}`.
    Destroy {
        uuid: String,
    },
    /// Graceful power-off (ACPI) with a hard-kill fallback after `timeout_secs`. Reply: [`PowerReply`].
    PowerOff {
        uuid: String,
        timeout_secs: u64,
    },
    /// Boot an existing instance again from its overlay. Reply: [`PowerReply`].
    PowerOn {
        spec: InstanceSpec,
    },
    /// Soft (ACPI reset / power cycle) or hard (QMP `system_reset`) reboot. Reply: [`PowerReply`].
    Reboot {
        uuid: String,
        hard: bool,
    },
    Pause {
        uuid: String,
    },
    Unpause {
        uuid: String,
    },
    /// Save the VM's state to disk and stop its process. Reply: [`PowerReply`].
    Suspend {
        uuid: String,
    },
    /// Restore a suspended VM. Reply: [`PowerReply`].
    Resume {
        spec: InstanceSpec,
    },
    /// The serial console log, the last `length` lines when given. Reply: [`ConsoleReply`].
    ConsoleOutput {
        uuid: String,
        length: Option<i64>,
    },
    /// Write a flattened copy of the root disk and upload it as the (queued) image
    /// `image_id`. Reply: `{}`.
    Snapshot {
        uuid: String,
        image_id: String,
    },
    /// Apply a new flavor: power off, grow the disk, boot with the new CPU/RAM. Reply:
    /// [`PowerReply`].
    Resize {
        spec: InstanceSpec,
    },
    /// Boot the instance from a fresh overlay of the image `rescue_image_id` (fetched through
    /// the image cache like a spawn's), with its own disk attached second. Reply:
    /// [`PowerReply`].
    Rescue {
        spec: InstanceSpec,
        rescue_image_id: String,
    },
    /// Drop the rescue disk and boot the instance from its own disk again. Reply:
    /// [`PowerReply`].
    Unrescue {
        spec: InstanceSpec,
    },
    /// The power state of every instance the agent knows. Reply: [`StatesReply`].
    PowerStates {},
    /// Destroy every instance on the host that is not in `keep`. Reply: [`SyncReply`].
    Sync {
        keep: Vec<String>,
    },
}

impl AgentRequest {
    /// The bus method and args of this request.
    pub fn to_wire(&self) -> Result<(String, serde_json::Value), serde_json::Error> {
        let v = serde_json::to_value(self)?;
        let method = v
            .get("method")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        let args = v.get("args").cloned().unwrap_or(serde_json::Value::Null);
        Ok((method, args))
    }

    /// The request a bus method and args stand for.
    pub fn from_wire(method: &str, args: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "method": method, "args": args }))
    }
}

/// Reply of requests that change the power state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerReply {
    pub power_state: PowerState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleReply {
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatesReply {
    pub states: BTreeMap<String, PowerState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReply {
    pub destroyed: Vec<String>,
}

/// What an agent reports to the conductor (casts on [`CONDUCTOR_TOPIC`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum ConductorReport {
    /// The agent started or is alive: its host, resources and resource provider.
    /// Sent at start and every heartbeat interval.
    Heartbeat { service: Box<crate::ComputeService> },
    /// A VM changed power state on its own (died, shut itself down).
    PowerStateChanged {
        uuid: String,
        power_state: PowerState,
    },
}

impl ConductorReport {
    pub fn to_wire(&self) -> Result<(String, serde_json::Value), serde_json::Error> {
        let v = serde_json::to_value(self)?;
        let method = v
            .get("method")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        let args = v.get("args").cloned().unwrap_or(serde_json::Value::Null);
        Ok((method, args))
    }

    pub fn from_wire(method: &str, args: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "method": method, "args": args }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_the_wire_form() {
        let r = AgentRequest::PowerOff {
            uuid: "u1".into(),
            timeout_secs: 30,
        };
        let (m, a) = r.to_wire().unwrap();
        assert_eq!(m, "power_off");
        assert_eq!(a, serde_json::json!({"uuid": "u1", "timeout_secs": 30}));
        assert_eq!(AgentRequest::from_wire(&m, a).unwrap(), r);
        let (m, a) = AgentRequest::PowerStates {}.to_wire().unwrap();
        assert_eq!(m, "power_states");
        assert_eq!(
            AgentRequest::from_wire(&m, a).unwrap(),
            AgentRequest::PowerStates {}
        );
        assert!(AgentRequest::from_wire("nope", serde_json::json!({})).is_err());
    }

    #[test]
    fn rescue_carries_the_spec_and_the_rescue_image() {
        let spec = InstanceSpec {
            uuid: "u1".into(),
            name: "vm".into(),
            hostname: "vm".into(),
            project_id: "p1".into(),
            vcpus: 1,
            memory_mb: 128,
            root_gb: 1,
            image_id: "img".into(),
            image_properties: BTreeMap::new(),
            meta_data: serde_json::json!({}),
            user_data: None,
            config_drive: true,
            nics: Vec::new(),
            network_data: serde_json::Value::Null,
        };
        let r = AgentRequest::Rescue {
            spec: spec.clone(),
            rescue_image_id: "rescue-img".into(),
        };
        let (m, a) = r.to_wire().unwrap();
        assert_eq!(m, "rescue");
        assert_eq!(a["rescue_image_id"], "rescue-img");
        assert_eq!(a["spec"]["uuid"], "u1");
        assert_eq!(AgentRequest::from_wire(&m, a).unwrap(), r);
        let r = AgentRequest::Unrescue { spec };
        let (m, a) = r.to_wire().unwrap();
        assert_eq!(m, "unrescue");
        assert_eq!(AgentRequest::from_wire(&m, a).unwrap(), r);
    }
}
