//! Ferrostack's configuration: one TOML file, one section per service.
//!
//! Precedence: built-in defaults → `ferrostack.toml` → `FERROSTACK_<SECTION>__<KEY>` environment
//! variables → command-line flags (applied by the binary through [`Config::set`]). Services receive
//! their section as plain data and never read files or the environment themselves. Every field's
//! doc comment is its documentation; `docs/configuration.md` lists them with their defaults.

use std::path::{Path, PathBuf};

use common_error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding the SQLite database, Fernet keys, clouds.yaml and agent state.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub bus: BusConfig,
    pub log: LogConfig,
    pub identity: IdentityConfig,
    pub image: ImageConfig,
    pub rate_limit: RateLimitConfig,
    pub compute: ComputeConfig,
    pub network: NetworkConfig,
    pub volume: VolumeConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(".data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            bus: BusConfig::default(),
            log: LogConfig::default(),
            identity: IdentityConfig::default(),
            image: ImageConfig::default(),
            rate_limit: RateLimitConfig::default(),
            compute: ComputeConfig::default(),
            network: NetworkConfig::default(),
            volume: VolumeConfig::default(),
        }
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the API listener binds to.
    pub listen: String,
    /// Base URL clients use to reach the listener; written into the catalog and version
    /// documents. Empty means `http://<listen>`.
    pub public_url: String,
    /// Largest request body accepted by JSON APIs, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8800".into(),
            public_url: String::new(),
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl ServerConfig {
    /// The base URL for links, without a trailing slash.
    pub fn base_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}

/// The database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://user@host/db`. Empty means SQLite at
    /// `<data_dir>/ferrostack.db`.
    pub url: String,
    /// Connections in the read pool (and the only pool on PostgreSQL).
    pub max_connections: u32,
    /// Seconds a writer waits for SQLite's write lock before giving up.
    pub busy_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 8,
            busy_timeout_secs: 30,
        }
    }
}

/// The message bus.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `inproc` for the in-process bus, or an `amqp://user:pass@host:port/vhost` URL for RabbitMQ.
    pub url: String,
    /// Default timeout of an RPC call, in seconds.
    pub call_timeout_secs: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            url: "inproc".into(),
            call_timeout_secs: 60,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `info,sqlx=warn`.
    pub filter: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info,sqlx=warn".into(),
            format: "text".into(),
        }
    }
}

/// The identity service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Token lifetime in seconds.
    pub token_expiration_secs: u64,
    /// Fernet key repository. Empty means `<data_dir>/fernet-keys`.
    pub fernet_key_repository: String,
    /// Keys kept in the repository (staged + primary + secondaries), at least 2.
    pub fernet_max_active_keys: usize,
    /// bcrypt cost for password hashes (4..=31; Keystone uses 12).
    pub password_hash_rounds: u32,
    /// Path of a `policy.yaml` overriding default rules. Empty means defaults only.
    pub policy_file: String,
    /// Password of the `admin` user created by bootstrap; empty means a random one, written
    /// to clouds.yaml.
    pub bootstrap_password: String,
    /// Region created by bootstrap and used in the catalog.
    pub region: String,
    /// Seconds a cached revocation check stays valid.
    pub revocation_cache_secs: u64,
    /// Maximum number of entities a list call returns (0 means no limit).
    pub list_limit: usize,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            token_expiration_secs: 3600,
            fernet_key_repository: String::new(),
            fernet_max_active_keys: 3,
            password_hash_rounds: 12,
            policy_file: String::new(),
            bootstrap_password: String::new(),
            region: "RegionOne".into(),
            revocation_cache_secs: 2,
            list_limit: 0,
        }
    }
}

/// The image service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ImageConfig {
    /// Directory holding image data. Empty means `<data_dir>/images`.
    pub store_dir: String,
    /// Images a project may hold (0 means unlimited).
    pub image_count_total: u64,
    /// Bytes of image data a project may hold (0 means unlimited).
    pub image_size_total: u64,
    /// Largest single image in bytes (0 means unlimited); Glance's `image_size_cap`.
    pub image_size_cap: u64,
    /// Path of a `policy.yaml` overriding Glance's default rules. Empty means defaults only.
    pub policy_file: String,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            store_dir: String::new(),
            image_count_total: 1000,
            image_size_total: 1 << 40,
            image_size_cap: 1 << 40,
            policy_file: String::new(),
        }
    }
}

/// `[compute]`: the compute API, scheduler, conductor and this host's compute agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Virt driver of this host's agent: `qemu` (real VMs) or `fake` (no processes; scale
    /// benchmarks and scheduling tests only).
    pub driver: String,
    /// This host's name as compute services and hypervisors show it. Empty means the
    /// machine's hostname.
    pub host: String,
    /// Availability zone of this host.
    pub availability_zone: String,
    /// Directory holding instance disks, consoles and the image cache. Empty means
    /// `<data_dir>/instances`.
    pub instances_dir: String,
    /// `auto` (KVM only when a probe shows a guest actually runs), `kvm` or `tcg`.
    pub accel: String,
    /// Placement allocation ratios reported for this host.
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    /// Memory (MiB) and disk (GiB) kept back for the host.
    pub reserved_host_memory_mb: i64,
    pub reserved_host_disk_gb: i64,
    /// With the `fake` driver: how many fake hosts (agents) this process runs, named
    /// `<host>-1` … `<host>-N` (scheduling tests and scale benchmarks). 1 means just `<host>`.
    pub fake_hosts: u32,
    /// Capacity the `fake` driver reports per host.
    pub fake_vcpus: i64,
    pub fake_memory_mb: i64,
    pub fake_disk_gb: i64,
    /// Seconds between agent heartbeats; a service silent for `service_down_secs` is down.
    pub heartbeat_secs: u64,
    pub service_down_secs: u64,
    /// Seconds between power-state syncs of running VMs.
    pub power_sync_secs: u64,
    /// Seconds a graceful power-off waits before a hard stop.
    pub shutdown_timeout_secs: u64,
    /// Scheduler weighing: `spread` (most free first) or `pack` (least free first).
    pub weigh: String,
    /// Default per-project quotas (os-quota-sets); -1 means unlimited.
    pub quota_instances: i64,
    pub quota_cores: i64,
    pub quota_ram: i64,
    pub quota_key_pairs: i64,
    pub quota_server_groups: i64,
    pub quota_server_group_members: i64,
    pub quota_metadata_items: i64,
    /// Path of a `policy.yaml` overriding Nova's default rules. Empty means defaults only.
    pub policy_file: String,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            driver: "qemu".into(),
            host: String::new(),
            availability_zone: "nova".into(),
            instances_dir: String::new(),
            accel: "auto".into(),
            cpu_allocation_ratio: 16.0,
            ram_allocation_ratio: 1.5,
            disk_allocation_ratio: 1.0,
            reserved_host_memory_mb: 512,
            reserved_host_disk_gb: 0,
            fake_hosts: 1,
            fake_vcpus: 32,
            fake_memory_mb: 131072,
            fake_disk_gb: 2048,
            heartbeat_secs: 10,
            service_down_secs: 60,
            power_sync_secs: 5,
            shutdown_timeout_secs: 60,
            weigh: "spread".into(),
            quota_instances: 10,
            quota_cores: 20,
            quota_ram: 51200,
            quota_key_pairs: 100,
            quota_server_groups: 10,
            quota_server_group_members: 10,
            quota_metadata_items: 128,
            policy_file: String::new(),
        }
    }
}

/// `[network]`: the network API (Neutron v2.0) and this host's network agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Data plane of this host's agent: `linux` (bridges, namespaces, nftables, dnsmasq) or
    /// `none` (no agent: the API only, ports stay DOWN; for API tests and API-only hosts).
    pub dataplane: String,
    /// Prefix of every network namespace the agent creates (namespace names are global on a
    /// host, so two clouds on one machine need different prefixes).
    pub namespace_prefix: String,
    /// Type of networks projects create: `vxlan` or `local`.
    pub tenant_network_type: String,
    /// VXLAN VNI range for tenant networks, `first:last`.
    pub vni_range: String,
    /// This host's underlay address for VXLAN. Empty means VXLAN devices carry no remote
    /// (a single host).
    pub underlay_ip: String,
    /// `physnet:interface` pairs; a flat network on a physical network with no mapping
    /// gets no uplink (in all-in-one, `public` is joined to the external namespace instead).
    pub physical_interface_mappings: Vec<String>,
    /// MTU of tenant (VXLAN) networks; flat networks get `physical_mtu`.
    pub tenant_mtu: u32,
    pub physical_mtu: u32,
    /// Bootstrap: create a `public` external flat network on physical network `public` with
    /// this subnet (an empty string skips it), a `private` network for the demo project with
    /// `private_cidr` and a `router1` between them.
    pub public_cidr: String,
    pub public_gateway: String,
    pub private_cidr: String,
    /// The "outside world" of all-in-one: a namespace `<namespace_prefix>ext` plugged into the
    /// public network's bridge with `public_gateway` as its address, so floating IPs and SNAT
    /// can be reached and tested without touching the host's real network.
    pub external_namespace: bool,
    /// DNS servers handed out by DHCP when a subnet names none (empty: none).
    pub default_dns: Vec<String>,
    /// Seconds between full resynchronisations of the agent (besides every change).
    pub resync_secs: u64,
    /// Default per-project quotas (`/v2.0/quotas`); -1 means unlimited.
    pub quota_network: i64,
    pub quota_subnet: i64,
    pub quota_port: i64,
    pub quota_router: i64,
    pub quota_floatingip: i64,
    pub quota_security_group: i64,
    pub quota_security_group_rule: i64,
    /// Path of a `policy.yaml` overriding Neutron's default rules. Empty means defaults only.
    pub policy_file: String,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            dataplane: "linux".into(),
            namespace_prefix: "fs-".into(),
            tenant_network_type: "vxlan".into(),
            vni_range: "1:65535".into(),
            underlay_ip: String::new(),
            physical_interface_mappings: Vec::new(),
            tenant_mtu: 1450,
            physical_mtu: 1500,
            public_cidr: "172.24.4.0/24".into(),
            public_gateway: "172.24.4.1".into(),
            private_cidr: "10.0.0.0/26".into(),
            external_namespace: true,
            default_dns: Vec::new(),
            resync_secs: 60,
            quota_network: 100,
            quota_subnet: 100,
            quota_port: 500,
            quota_router: 10,
            quota_floatingip: 50,
            quota_security_group: 10,
            quota_security_group_rule: 100,
            policy_file: String::new(),
        }
    }
}

/// `[volume]`: the block storage API (Cinder v3) and this host's volume backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeConfig {
    /// Volume driver of this host: `file` (raw files under `volume_dir`).
    pub driver: String,
    /// Directory of the volume files; empty means `<data_dir>/volumes`.
    pub volume_dir: String,
    /// Directory of the filesystem backup target; empty means `<data_dir>/backups`.
    pub backup_dir: String,
    /// How a volume reaches a compute host: `auto` (the file itself when the compute host is
    /// this host, else an NBD export) or `nbd` (always an NBD export by qemu-storage-daemon).
    pub export: String,
    /// Address the NBD exports listen on (other compute hosts must reach it).
    pub nbd_host: String,
    /// TCP ports the NBD exports may use, `first:last`.
    pub nbd_port_range: String,
    /// Capacity this backend reports (GiB) and refuses to go beyond.
    pub capacity_gb: i64,
    /// Name of the volume type used when a request names none.
    pub default_volume_type: String,
    /// The availability zone of this backend.
    pub availability_zone: String,
    /// Default per-project quotas (`/v3/{project}/os-quota-sets`); -1 means unlimited.
    pub quota_volumes: i64,
    pub quota_snapshots: i64,
    pub quota_gigabytes: i64,
    pub quota_backups: i64,
    pub quota_backup_gigabytes: i64,
    pub quota_per_volume_gigabytes: i64,
    /// Path of a `policy.yaml` overriding Cinder's default rules. Empty means defaults only.
    pub policy_file: String,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        VolumeConfig {
            driver: "file".into(),
            volume_dir: String::new(),
            backup_dir: String::new(),
            export: "auto".into(),
            nbd_host: "127.0.0.1".into(),
            nbd_port_range: "10810:10999".into(),
            capacity_gb: 1000,
            default_volume_type: "__DEFAULT__".into(),
            availability_zone: "nova".into(),
            quota_volumes: 10,
            quota_snapshots: 10,
            quota_gigabytes: 1000,
            quota_backups: 10,
            quota_backup_gigabytes: 1000,
            quota_per_volume_gigabytes: -1,
            policy_file: String::new(),
        }
    }
}

/// Rate limits (token buckets). A rate of 0 disables that limit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// `POST /v3/auth/tokens` per user name or id, per second.
    pub token_per_user_per_sec: f64,
    /// `POST /v3/auth/tokens` per source address, per second.
    pub token_per_addr_per_sec: f64,
    /// Burst allowance of the token-endpoint buckets.
    pub token_burst: f64,
    /// Authenticated API requests per project, per second.
    pub api_per_project_per_sec: f64,
    /// Burst allowance of the per-project bucket.
    pub api_burst: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            token_per_user_per_sec: 20.0,
            token_per_addr_per_sec: 200.0,
            token_burst: 100.0,
            api_per_project_per_sec: 0.0,
            api_burst: 1000.0,
        }
    }
}

impl Config {
    /// Loads defaults, then the file (if given and present), then `FERROSTACK_*` variables from
    /// `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let mut value = toml::Value::try_from(Config::default())
            .map_err(|e| Error::internal("serialize default config", e))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::bad_request(format!("cannot read config {}: {e}", path.display()))
            })?;
            let file_value: toml::Value = toml::from_str(&text)
                .map_err(|e| Error::bad_request(format!("{}: {e}", path.display())))?;
            merge(&mut value, file_value);
        }
        for (key, val) in env {
            if let Some(rest) = key.strip_prefix("FERROSTACK_") {
                if rest == "CONFIG" {
                    continue;
                }
                let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
                set_path(&mut value, &path, &val)?;
            }
        }
        value
            .try_into()
            .map_err(|e: toml::de::Error| Error::bad_request(e.to_string()))
    }

    /// Sets one key by dotted path (`identity.token_expiration_secs`), parsing the value as the
    /// type the field already has. Used for flags.
    pub fn set(&mut self, dotted: &str, raw: &str) -> Result<()> {
        let mut value =
            toml::Value::try_from(&*self).map_err(|e| Error::internal("serialize config", e))?;
        let path: Vec<String> = dotted.split('.').map(str::to_string).collect();
        set_path(&mut value, &path, raw)?;
        *self = value
            .try_into()
            .map_err(|e: toml::de::Error| Error::bad_request(e.to_string()))?;
        Ok(())
    }

    /// The effective configuration as TOML.
    pub fn dump(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The database URL with the SQLite default applied.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("ferrostack.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The image store directory with the default applied.
    pub fn image_store_dir(&self) -> PathBuf {
        if self.image.store_dir.is_empty() {
            self.data_dir.join("images")
        } else {
            PathBuf::from(&self.image.store_dir)
        }
    }

    /// The Fernet key repository with the default applied.
    /// Where instance disks, consoles and the image cache live.
    pub fn instances_dir(&self) -> PathBuf {
        if self.compute.instances_dir.is_empty() {
            self.data_dir.join("instances")
        } else {
            PathBuf::from(&self.compute.instances_dir)
        }
    }

    pub fn fernet_key_repository(&self) -> PathBuf {
        if self.identity.fernet_key_repository.is_empty() {
            self.data_dir.join("fernet-keys")
        } else {
            PathBuf::from(&self.identity.fernet_key_repository)
        }
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn set_path(root: &mut toml::Value, path: &[String], raw: &str) -> Result<()> {
    let unknown = || Error::bad_request(format!("unknown configuration key {}", path.join(".")));
    let mut cur = root;
    for (i, key) in path.iter().enumerate() {
        let table = cur.as_table_mut().ok_or_else(unknown)?;
        let slot = table.get_mut(key).ok_or_else(unknown)?;
        if i + 1 == path.len() {
            *slot = parse_like(slot, raw).ok_or_else(|| {
                Error::bad_request(format!("invalid value {raw:?} for {}", path.join(".")))
            })?;
            return Ok(());
        }
        cur = slot;
    }
    Err(unknown())
}

fn parse_like(existing: &toml::Value, raw: &str) -> Option<toml::Value> {
    Some(match existing {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(raw.parse().ok()?),
        toml::Value::Float(_) => toml::Value::Float(raw.parse().ok()?),
        toml::Value::Boolean(_) => toml::Value::Boolean(raw.parse().ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ferrostack.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\n[identity]\nregion = \"R2\"\n",
        )
        .unwrap();
        let env = vec![("FERROSTACK_IDENTITY__REGION".to_string(), "R3".to_string())];
        let mut cfg = Config::load(Some(&file), env).unwrap();
        assert_eq!(cfg.server.listen, "127.0.0.1:9000");
        assert_eq!(cfg.identity.region, "R3");
        assert_eq!(cfg.identity.token_expiration_secs, 3600);
        cfg.set("identity.token_expiration_secs", "60").unwrap();
        assert_eq!(cfg.identity.token_expiration_secs, 60);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let env = vec![("FERROSTACK_IDENTITY__NOPE".to_string(), "1".to_string())];
        assert!(Config::load(None, env).is_err());
        let env = vec![(
            "FERROSTACK_IDENTITY__PASSWORD_HASH_ROUNDS".to_string(),
            "x".to_string(),
        )];
        assert!(Config::load(None, env).is_err());
    }

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../../../../docs/configuration.md");
        let value = toml::Value::try_from(Config::default()).unwrap();
        let mut missing = Vec::new();
        for (key, v) in value.as_table().unwrap() {
            match v.as_table() {
                Some(section) => {
                    assert!(
                        doc.contains(&format!("## `[{key}]`")),
                        "section [{key}] is not documented"
                    );
                    for k in section.keys() {
                        if !doc.contains(&format!("| `{k}` |")) {
                            missing.push(format!("{key}.{k}"));
                        }
                    }
                }
                None if !doc.contains(&format!("| `{key}` |")) => missing.push(key.clone()),
                None => {}
            }
        }
        assert!(
            missing.is_empty(),
            "undocumented keys in docs/configuration.md: {missing:?}"
        );
    }

    #[test]
    fn sqlite_is_the_default_database() {
        let cfg = Config::default();
        assert!(cfg.database_url().starts_with("sqlite://"));
        assert_eq!(cfg.server.base_url(), "http://127.0.0.1:8800");
    }
}
