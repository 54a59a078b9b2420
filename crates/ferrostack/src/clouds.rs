//! Writing `clouds.yaml` so that `openstack --os-cloud ferrostack ...` works at once.
//!
//! Always written to `<data_dir>/clouds.yaml` (mode 0600). With `user` set, the `ferrostack`
//! entry is also merged into `~/.config/openstack/clouds.yaml`, keeping other clouds there.

use std::path::Path;

use anyhow::Context as _;
use common_config::Config;
use serde_yaml::{Mapping, Value};

/// The name of the cloud entry.
pub const CLOUD_NAME: &str = "ferrostack";

fn entry(cfg: &Config, base_url: &str, password: &str) -> Value {
    let yaml = format!(
        "auth:\n  auth_url: {base_url}/identity/v3\n  username: admin\n  password: \"{password}\"\n  project_name: admin\n  user_domain_name: Default\n  project_domain_name: Default\nregion_name: {}\nidentity_api_version: 3\ninterface: public\n",
        cfg.identity.region
    );
    serde_yaml::from_str(&yaml).unwrap_or(Value::Null)
}

fn merge_into(path: &Path, cloud: Value) -> anyhow::Result<()> {
    let mut doc: Value = match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))?
        }
        Err(_) => Value::Mapping(Mapping::new()),
    };
    if !doc.is_mapping() {
        doc = Value::Mapping(Mapping::new());
    }
    let root = doc.as_mapping_mut().context("clouds.yaml root")?;
    let clouds = root
        .entry(Value::from("clouds"))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !clouds.is_mapping() {
        *clouds = Value::Mapping(Mapping::new());
    }
    if let Some(m) = clouds.as_mapping_mut() {
        m.insert(Value::from(CLOUD_NAME), cloud);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_yaml::to_string(&doc)?;
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Writes the cloud entry with the admin password.
pub fn write(cfg: &Config, base_url: &str, password: &str, user: bool) -> anyhow::Result<()> {
    let cloud = entry(cfg, base_url, password);
    merge_into(&cfg.data_dir.join("clouds.yaml"), cloud.clone())?;
    if user {
        if let Some(home) = std::env::var_os("HOME") {
            let p = Path::new(&home).join(".config/openstack/clouds.yaml");
            merge_into(&p, cloud)?;
            tracing::info!(path = %p.display(), "updated clouds.yaml");
        }
    }
    Ok(())
}
