//! The query of `GET /servers[/detail]` as Nova reads it: the query schema of the
//! microversion, unknown filters stripped for non-admins (`allow_all_filters`), status names,
//! time ranges, `deleted`, tags, `all_tenants`, `locked`, sorting and paging, into the
//! domain's [`ServerFilter`].

use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_domain::server::ServerFilter;
use serde_json::{json, Value};

use super::schema::{Format, Kw, Schema};
use super::schemas::non_negative_integer;
use super::util::{bool_lenient, bool_strict, invalid_input, own_target, to_stored_time, Caller};
use crate::{ApiState, Mv};

/// Nova's `CONF.api.max_limit`.
pub(crate) const MAX_LIMIT: usize = 1000;

const JOINED: [&str; 7] = [
    "block_device_mapping",
    "services",
    "metadata",
    "system_metadata",
    "info_cache",
    "security_groups",
    "pci_devices",
];

const IGNORED_SORT_KEYS: [&str; 22] = [
    "architecture",
    "cell_name",
    "cleaned",
    "default_ephemeral_device",
    "default_swap_device",
    "deleted",
    "deleted_at",
    "disable_terminate",
    "ephemeral_gb",
    "ephemeral_key_uuid",
    "id",
    "key_data",
    "launched_on",
    "locked",
    "memory_mb",
    "os_type",
    "reservation_id",
    "root_gb",
    "shutdown_terminate",
    "user_data",
    "vcpus",
    "vm_mode",
];

const SORT_KEYS: [&str; 29] = [
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "kernel_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked_by",
    "node",
    "power_state",
    "progress",
    "project_id",
    "ramdisk_id",
    "root_device_name",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
];

/// Every API status Nova maps from (vm_state, task_state).
const STATUSES: [&str; 19] = [
    "ACTIVE",
    "REBOOT",
    "HARD_REBOOT",
    "PASSWORD",
    "REBUILD",
    "MIGRATING",
    "RESIZE",
    "BUILD",
    "SHUTOFF",
    "VERIFY_RESIZE",
    "REVERT_RESIZE",
    "PAUSED",
    "SUSPENDED",
    "RESCUE",
    "ERROR",
    "DELETED",
    "SOFT_DELETED",
    "SHELVED",
    "SHELVED_OFFLOADED",
];

fn ignored_sort_keys(mv: Mv) -> Vec<&'static str> {
    IGNORED_SORT_KEYS
        .iter()
        .copied()
        .filter(|k| !(mv.at_least(73) && *k == "locked"))
        .collect()
}

fn sort_key_enum(mv: Mv) -> Vec<Value> {
    let mut keys: Vec<&str> = SORT_KEYS.to_vec();
    if mv.at_least(73) {
        keys.insert(0, "locked");
    }
    if !mv.at_least(75) {
        keys.extend(ignored_sort_keys(mv));
    }
    keys.into_iter().map(|k| json!(k)).collect()
}

fn multi(item: Schema) -> Schema {
    Schema::any()
        .with(Kw::Type(&["array"]))
        .with(Kw::Items(Box::new(item)))
}

/// Nova's `index_query*` schemas.
fn index_schema(mv: Mv) -> Schema {
    let plain = || multi(Schema::any().with(Kw::Type(&["string"])));
    let regex = || {
        multi(
            Schema::any()
                .with(Kw::Type(&["string"]))
                .with(Kw::Format(Format::Regex)),
        )
    };
    let time = || {
        multi(
            Schema::any()
                .with(Kw::Type(&["string"]))
                .with(Kw::Format(Format::DateTime)),
        )
    };
    let sort_key = multi(
        Schema::any()
            .with(Kw::Type(&["string"]))
            .with(Kw::Enum(sort_key_enum(mv))),
    );
    let mut props: Vec<(&'static str, Schema)> = vec![
        ("user_id", plain()),
        ("project_id", plain()),
        ("tenant_id", plain()),
        ("launch_index", plain()),
        ("image_ref", plain()),
        ("image", plain()),
    ];
    for k in [
        "kernel_id",
        "ramdisk_id",
        "hostname",
        "key_name",
        "power_state",
    ] {
        props.push((k, regex()));
    }
    props.extend([
        ("vm_state", plain()),
        ("task_state", plain()),
        ("host", plain()),
    ]);
    for k in [
        "node",
        "flavor",
        "reservation_id",
        "launched_at",
        "terminated_at",
        "availability_zone",
        "name",
        "display_name",
        "description",
        "display_description",
        "locked_by",
    ] {
        props.push((k, regex()));
    }
    props.push(("uuid", plain()));
    for k in [
        "root_device_name",
        "config_drive",
        "access_ip_v4",
        "access_ip_v6",
        "auto_disk_config",
        "progress",
    ] {
        props.push((k, regex()));
    }
    props.extend([
        ("sort_key", sort_key),
        ("sort_dir", plain()),
        ("all_tenants", plain()),
        ("soft_deleted", plain()),
        ("deleted", plain()),
        ("status", plain()),
        ("changes-since", time()),
        ("ip", regex()),
        ("ip6", regex()),
        ("created_at", regex()),
    ]);
    for k in JOINED {
        props.push((k, plain()));
    }
    props.push(("limit", multi(non_negative_integer())));
    props.push(("marker", plain()));
    if mv.at_least(26) {
        for k in ["tags", "tags-any", "not-tags", "not-tags-any"] {
            props.push((k, regex()));
        }
    }
    if mv.at_least(66) {
        props.push(("changes-before", time()));
    }
    if mv.at_least(73) {
        props.push(("locked", plain()));
    }
    let underscore = super::schema::Pattern {
        text: "^_",
        test: |k| k.starts_with('_'),
    };
    Schema::any()
        .with(Kw::Type(&["object"]))
        .with(Kw::Properties(props))
        .with(Kw::AdditionalProperties(!mv.at_least(75)))
        .with(Kw::PatternProperties(underscore, Box::new(plain())))
}

/// What non-admins may filter on (Nova's `_get_server_search_options`).
fn allowed_for_users(mv: Mv) -> Vec<&'static str> {
    let mut opts = vec![
        "reservation_id",
        "name",
        "status",
        "image",
        "flavor",
        "ip",
        "changes-since",
        "all_tenants",
    ];
    if mv.at_least(5) {
        opts.push("ip6");
    }
    if mv.at_least(26) {
        opts.extend(["tags", "tags-any", "not-tags", "not-tags-any"]);
    }
    if mv.at_least(66) {
        opts.push("changes-before");
    }
    if mv.at_least(73) {
        opts.push("locked");
    }
    opts
}

/// A parsed list request.
pub(crate) struct ListQuery {
    pub filter: ServerFilter,
    /// The request's parameters, for the next link.
    pub params: Vec<(String, String)>,
    /// The page size the next link depends on.
    pub page: usize,
    /// Nova answers an empty list (no query) for an unknown status before 2.38.
    pub nothing: bool,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg)
}

/// Nova's query schema of the microversion (checked before anything else).
pub(crate) fn validate(mv: Mv, params: &[(String, String)]) -> Result<()> {
    let mut grouped: serde_json::Map<String, Value> = serde_json::Map::new();
    for (k, v) in params {
        if let Value::Array(a) = grouped.entry(k.clone()).or_insert_with(|| json!([])) {
            a.push(json!(v));
        }
    }
    index_schema(mv)
        .validate(&Value::Object(grouped))
        .map_err(|e| bad(e.query_message()))
}

/// Nova's `_get_servers` up to the database call, on a [`validate`]d query.
pub(crate) fn parse(
    s: &ApiState,
    mv: Mv,
    caller: &Caller,
    params: Vec<(String, String)>,
    detail: bool,
) -> Result<ListQuery> {
    // The last value of each parameter, as Nova's `search_opts.update(req.GET)` keeps it.
    let mut opts: BTreeMap<String, String> = params.iter().cloned().collect();
    let all_filters = s.can(
        caller,
        "os_compute_api:servers:allow_all_filters",
        &own_target(caller),
    );
    if all_filters {
        for k in ["sort_key", "sort_dir", "limit", "marker"] {
            opts.remove(k);
        }
    } else {
        let allowed = allowed_for_users(mv);
        opts.retain(|k, _| allowed.contains(&k.as_str()));
    }
    if let Some(k) = opts
        .keys()
        .find(|k| JOINED.contains(&k.as_str()) || k.starts_with('_'))
    {
        return Err(bad(format!("Invalid filter field: {k}.")));
    }

    let mut f = ServerFilter::default();
    let mut nothing = false;
    let statuses: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "status")
        .map(|(_, v)| v.to_uppercase())
        .collect();
    if opts.contains_key("status") {
        f.status = statuses
            .into_iter()
            .filter(|st| STATUSES.contains(&st.as_str()))
            .collect();
        f.status.dedup();
        if f.status.is_empty() {
            if mv.at_least(38) {
                return Err(bad("Invalid status value"));
            }
            nothing = true;
        } else if f.status.iter().all(|st| st == "DELETED") {
            if !caller.ctx.is_admin {
                return Err(Error::forbidden(
                    "Only administrators may list deleted instances",
                ));
            }
            f.deleted = true;
        }
    }
    if let Some(v) = opts.get("changes-since") {
        f.changes_since =
            Some(to_stored_time(v).ok_or_else(|| bad("Invalid filter field: changes-since."))?);
    }
    if let Some(v) = opts.get("changes-before") {
        let before =
            to_stored_time(v).ok_or_else(|| bad("Invalid filter field: changes-before."))?;
        if f.changes_since
            .as_ref()
            .is_some_and(|since| before < *since)
        {
            return Err(bad(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
        f.changes_before = Some(before);
    }
    match opts.get("deleted") {
        Some(v) => f.deleted = f.deleted || bool_lenient(v),
        None => {
            if f.changes_since.is_some() || f.changes_before.is_some() {
                f.deleted = true;
            }
        }
    }
    if mv.at_least(26) {
        let split = |k: &str| -> Vec<String> {
            opts.get(k)
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        };
        f.tags = split("tags");
        f.tags_any = split("tags-any");
        f.not_tags = split("not-tags");
        f.not_tags_any = split("not-tags-any");
    }
    let all_tenants = match opts.get("all_tenants") {
        Some(v) if !v.is_empty() => bool_strict(v).map_err(|e| invalid_input(&e))?,
        Some(_) => true,
        None => false,
    };
    if let Some(v) = opts.get("locked") {
        f.locked = Some(bool_strict(v).map_err(|e| invalid_input(&e))?);
    }
    if all_tenants {
        let rule = if detail {
            "os_compute_api:servers:detail:get_all_tenants"
        } else {
            "os_compute_api:servers:index:get_all_tenants"
        };
        s.authorize(caller, rule, &own_target(caller))?;
        f.all_tenants = true;
        f.project_id = opts
            .get("project_id")
            .or_else(|| opts.get("tenant_id"))
            .cloned();
    }
    f.name = opts
        .get("name")
        .or_else(|| opts.get("display_name"))
        .cloned();
    f.image = opts.get("image").or_else(|| opts.get("image_ref")).cloned();
    f.flavor = opts.get("flavor").cloned();
    f.host = opts.get("host").cloned();
    f.user_id = opts.get("user_id").cloned();
    f.availability_zone = opts.get("availability_zone").cloned();

    // Paging and sorting come from the request itself, whatever was stripped above.
    let limit = match params.iter().rev().find(|(k, _)| k == "limit") {
        // Already validated as digits; a number too large for usize is just "many".
        Some((_, v)) => v.parse::<usize>().unwrap_or(MAX_LIMIT),
        None => MAX_LIMIT,
    };
    let page = limit.min(MAX_LIMIT);
    f.limit = Some(page);
    f.marker = params
        .iter()
        .rev()
        .find(|(k, _)| k == "marker")
        .map(|(_, v)| v.clone());
    f.sort = sort_params(mv, caller, &params)?;
    Ok(ListQuery {
        filter: f,
        params,
        page,
        nothing,
    })
}

/// Nova's `get_sort_params` + `remove_invalid_sort_keys` + the database layer's pairing of
/// keys with directions.
fn sort_params(
    mv: Mv,
    caller: &Caller,
    params: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    let mut keys: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "sort_key")
        .map(|(_, v)| v.trim().to_string())
        .collect();
    let mut dirs: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "sort_dir")
        .map(|(_, v)| v.trim().to_string())
        .collect();
    if keys.is_empty() {
        keys.push("created_at".into());
    }
    if dirs.is_empty() {
        dirs.push("desc".into());
    }
    let ignored = ignored_sort_keys(mv);
    let mut i = 0;
    while i < keys.len() {
        if ignored.contains(&keys[i].as_str()) {
            if dirs.len() > i {
                dirs.remove(i);
            }
            keys.remove(i);
            continue;
        }
        if (keys[i] == "host" || keys[i] == "node") && !caller.ctx.is_admin {
            return Err(Error::forbidden(format!(
                "Only administrators can sort servers by {}",
                keys[i]
            )));
        }
        i += 1;
    }
    if dirs.len() > keys.len() && !keys.is_empty() {
        return Err(invalid_input("Sort direction size exceeds sort key size"));
    }
    if dirs.iter().any(|d| d != "asc" && d != "desc") {
        return Err(invalid_input(
            "Unknown sort direction, must be 'desc' or 'asc'",
        ));
    }
    let default_dir = dirs.first().cloned().unwrap_or_else(|| "desc".into());
    Ok(keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            (
                k,
                dirs.get(i).cloned().unwrap_or_else(|| default_dir.clone()),
            )
        })
        .collect())
}
