//! Instances (Nova's `instances` table and its satellites): create with quota in one
//! transaction, read, list, compare-and-set updates of state, soft delete that gives the
//! quota back; metadata, tags, faults, instance actions and events, migrations.
//!
//! Every write bumps `generation` and may be guarded by an expected generation and by
//! expected vm/task states ([`Expect`]); a guard that no longer holds is a `Conflict` and
//! changes nothing.

mod action;
mod extra;
mod list;
mod migration;
mod network;
pub(crate) mod sql;
mod usage;

use std::collections::BTreeMap;

use common_db::{b2i, db_err, DbRow, Tx};
use common_error::{Error, Result};
use compute_model::{
    Fault, Flavor, Instance, InstanceAction, InstanceActionEvent, Migration, PowerState, TaskState,
    VmState,
};

pub use list::{InstanceQuery, ReadDeleted};
pub use usage::{QuotaChange, INSTANCE_QUOTA_RESOURCES};

use crate::workflow::{commit_workflow, insert_workflow, NewWorkflow, WorkflowCommit};
use crate::{col, now_text, Store};
use sql::{Bind, Stmt};

pub(crate) const INSTANCE_COLUMNS: &str = "uuid, name, project_id, user_id, image_ref, flavor, \
    new_flavor, vm_state, task_state, power_state, host, node, availability_zone, key_name, \
    key_data, user_data, description, hostname, locked, locked_reason, config_drive, \
    access_ip_v4, access_ip_v6, launch_index, reservation_id, progress, server_group, \
    created_at, updated_at, launched_at, terminated_at, deleted, generation";

/// One instance to insert with what goes with it in the same transaction.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub instance: Instance,
    /// Usually the `create` action.
    pub action: Option<InstanceAction>,
    /// Usually the `build` workflow (inserted `pending`).
    pub workflow: Option<NewWorkflow>,
}

/// What a create asks of the quota.
#[derive(Debug, Clone, Default)]
pub struct InstanceCreate {
    pub project_id: String,
    pub min_count: i64,
    pub max_count: i64,
    /// resource (`instances`, `cores`, `ram`) → amount one instance takes.
    pub per_instance: BTreeMap<String, i64>,
    /// resource → limit (absent or -1: unlimited).
    pub limits: BTreeMap<String, i64>,
}

/// Guards of a write. Empty lists and `None` mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    pub generation: Option<i64>,
    pub vm_states: Vec<VmState>,
    pub task_states: Option<Vec<Option<TaskState>>>,
}

impl Expect {
    /// Only when the instance is (still) doing `task`.
    pub fn task(task: TaskState) -> Self {
        Expect {
            task_states: Some(vec![Some(task)]),
            ..Expect::default()
        }
    }

    pub fn generation(generation: i64) -> Self {
        Expect {
            generation: Some(generation),
            ..Expect::default()
        }
    }
}

/// Columns to change; `None` leaves a column as it is (`Some(None)` clears a nullable one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceChange {
    pub name: Option<String>,
    pub vm_state: Option<VmState>,
    pub task_state: Option<Option<TaskState>>,
    pub power_state: Option<PowerState>,
    pub host: Option<Option<String>>,
    pub node: Option<Option<String>>,
    pub availability_zone: Option<Option<String>>,
    pub image_ref: Option<String>,
    pub flavor: Option<Flavor>,
    pub new_flavor: Option<Option<Flavor>>,
    pub key_name: Option<Option<String>>,
    pub key_data: Option<Option<String>>,
    pub user_data: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub hostname: Option<String>,
    pub locked: Option<bool>,
    pub locked_reason: Option<Option<String>>,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub progress: Option<i64>,
    pub launched_at: Option<Option<String>>,
    pub terminated_at: Option<Option<String>>,
}

/// A guarded change of an instance and the records that go with it, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct InstanceUpdate {
    pub expect: Expect,
    pub change: InstanceChange,
    pub fault: Option<Fault>,
    pub action: Option<InstanceAction>,
    /// (request id, event): inserted or, when it exists, finished.
    pub event: Option<(String, InstanceActionEvent)>,
    /// (request id, message): the action's outcome (`Some("Error")` when it failed).
    pub action_finish: Option<(String, Option<String>)>,
    pub workflow: Option<NewWorkflow>,
    /// The workflow step (its last) this change completes.
    pub workflow_commit: Option<WorkflowCommit>,
    pub quota: Option<QuotaChange>,
    pub migration_new: Option<Migration>,
    /// (migration uuid, status).
    pub migration_status: Option<(String, String)>,
}

fn flavor_text(f: &Flavor) -> Result<String> {
    serde_json::to_string(f).map_err(|e| Error::internal("encode flavor", e))
}

fn flavor_parse(s: &str) -> Result<Flavor> {
    serde_json::from_str(s).map_err(|e| Error::internal("decode flavor", e))
}

/// An instance row as a model (metadata, tags and fault left empty).
pub(crate) fn instance_row(row: &DbRow) -> Result<Instance> {
    let vm: String = col(row, "vm_state")?;
    let task: Option<String> = col(row, "task_state")?;
    let new_flavor: Option<String> = col(row, "new_flavor")?;
    let deleted: i64 = col(row, "deleted")?;
    let vm_state = if deleted != 0 {
        VmState::Deleted
    } else {
        VmState::parse(&vm).ok_or_else(|| Error::Internal(format!("unknown vm_state {vm}")))?
    };
    Ok(Instance {
        uuid: col(row, "uuid")?,
        name: col(row, "name")?,
        project_id: col(row, "project_id")?,
        user_id: col(row, "user_id")?,
        image_ref: col(row, "image_ref")?,
        flavor: flavor_parse(&col::<String>(row, "flavor")?)?,
        new_flavor: new_flavor.as_deref().map(flavor_parse).transpose()?,
        vm_state,
        task_state: task.as_deref().and_then(TaskState::parse),
        power_state: PowerState::from_code(col(row, "power_state")?),
        host: col(row, "host")?,
        node: col(row, "node")?,
        availability_zone: col(row, "availability_zone")?,
        key_name: col(row, "key_name")?,
        key_data: col(row, "key_data")?,
        user_data: col(row, "user_data")?,
        metadata: BTreeMap::new(),
        tags: Vec::new(),
        description: col(row, "description")?,
        hostname: col(row, "hostname")?,
        locked: col::<i64>(row, "locked")? != 0,
        locked_reason: col(row, "locked_reason")?,
        config_drive: col::<i64>(row, "config_drive")? != 0,
        access_ip_v4: col(row, "access_ip_v4")?,
        access_ip_v6: col(row, "access_ip_v6")?,
        launch_index: col(row, "launch_index")?,
        reservation_id: col(row, "reservation_id")?,
        progress: col(row, "progress")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        launched_at: col(row, "launched_at")?,
        terminated_at: col(row, "terminated_at")?,
        fault: None,
        server_group: col(row, "server_group")?,
        generation: col(row, "generation")?,
    })
}

async fn insert_instance(tx: &mut Tx<'static>, i: &Instance) -> Result<()> {
    let mut s = Stmt::new(&format!(
        "INSERT INTO compute_instance ({INSTANCE_COLUMNS}) VALUES "
    ));
    s.push_list(vec![
        i.uuid.clone().into(),
        i.name.clone().into(),
        i.project_id.clone().into(),
        i.user_id.clone().into(),
        i.image_ref.clone().into(),
        flavor_text(&i.flavor)?.into(),
        i.new_flavor.as_ref().map(flavor_text).transpose()?.into(),
        i.vm_state.as_str().into(),
        i.task_state.map(|t| t.as_str().to_string()).into(),
        i.power_state.code().into(),
        i.host.clone().into(),
        i.node.clone().into(),
        i.availability_zone.clone().into(),
        i.key_name.clone().into(),
        i.key_data.clone().into(),
        i.user_data.clone().into(),
        i.description.clone().into(),
        i.hostname.clone().into(),
        b2i(i.locked).into(),
        i.locked_reason.clone().into(),
        b2i(i.config_drive).into(),
        i.access_ip_v4.clone().into(),
        i.access_ip_v6.clone().into(),
        i.launch_index.into(),
        i.reservation_id.clone().into(),
        i.progress.into(),
        i.server_group.clone().into(),
        i.created_at.clone().into(),
        i.updated_at.clone().into(),
        i.launched_at.clone().into(),
        i.terminated_at.clone().into(),
        0i64.into(),
        i.generation.into(),
    ]);
    s.execute(tx, "insert instance").await?;
    for (k, v) in &i.metadata {
        sqlx::query(
            "INSERT INTO compute_instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
        )
        .bind(&i.uuid)
        .bind(k)
        .bind(v)
        .execute(&mut **tx)
        .await
        .map_err(db_err("insert instance metadata"))?;
    }
    for t in &i.tags {
        sqlx::query(
            "INSERT INTO compute_instance_tag (instance_uuid, tag) VALUES ($1, $2) \
             ON CONFLICT (instance_uuid, tag) DO NOTHING",
        )
        .bind(&i.uuid)
        .bind(t)
        .execute(&mut **tx)
        .await
        .map_err(db_err("insert instance tag"))?;
    }
    Ok(())
}

/// The row (deleted or not) inside a transaction.
async fn row_in(tx: &mut Tx<'static>, uuid: &str) -> Result<Option<Instance>> {
    let row = sqlx::query(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM compute_instance WHERE uuid = $1"
    ))
    .bind(uuid)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err("read instance"))?;
    row.as_ref().map(instance_row).transpose()
}

fn describe(i: &Instance) -> String {
    format!(
        "Instance {} is in vm_state {} task_state {}; it changed while the request was processed",
        i.uuid,
        i.vm_state.as_str(),
        i.task_state.map(|t| t.as_str()).unwrap_or("None")
    )
}

/// The SET and WHERE of a guarded update.
fn update_stmt(
    uuid: &str,
    x: &Expect,
    c: &InstanceChange,
    now: &str,
    delete: bool,
) -> Result<Stmt> {
    let mut s = Stmt::new("UPDATE compute_instance SET generation = generation + 1");
    s.push(", updated_at = ?", vec![now.into()]);
    if delete {
        s.push(", deleted = 1, deleted_at = ?", vec![now.into()]);
    }
    let mut set = |col: &str, b: Bind| {
        s.push(&format!(", {col} = ?"), vec![b]);
    };
    if let Some(v) = &c.name {
        set("name", v.clone().into());
    }
    if let Some(v) = c.vm_state {
        set("vm_state", v.as_str().into());
    }
    if let Some(v) = c.task_state {
        set("task_state", v.map(|t| t.as_str().to_string()).into());
    }
    if let Some(v) = c.power_state {
        set("power_state", v.code().into());
    }
    let opt = |v: &Option<Option<String>>| v.clone().map(Bind::OptText);
    for (col, v) in [
        ("host", opt(&c.host)),
        ("node", opt(&c.node)),
        ("availability_zone", opt(&c.availability_zone)),
        ("key_name", opt(&c.key_name)),
        ("key_data", opt(&c.key_data)),
        ("user_data", opt(&c.user_data)),
        ("description", opt(&c.description)),
        ("locked_reason", opt(&c.locked_reason)),
        ("launched_at", opt(&c.launched_at)),
        ("terminated_at", opt(&c.terminated_at)),
        ("image_ref", c.image_ref.clone().map(Bind::Text)),
        ("hostname", c.hostname.clone().map(Bind::Text)),
        ("access_ip_v4", c.access_ip_v4.clone().map(Bind::Text)),
        ("access_ip_v6", c.access_ip_v6.clone().map(Bind::Text)),
        ("locked", c.locked.map(|b| Bind::Int(b2i(b)))),
        ("progress", c.progress.map(Bind::Int)),
    ] {
        if let Some(b) = v {
            set(col, b);
        }
    }
    if let Some(f) = &c.flavor {
        set("flavor", flavor_text(f)?.into());
    }
    if let Some(f) = &c.new_flavor {
        set(
            "new_flavor",
            f.as_ref().map(flavor_text).transpose()?.into(),
        );
    }
    s.push(" WHERE uuid = ? AND deleted = 0", vec![uuid.into()]);
    if let Some(g) = x.generation {
        s.push(" AND generation = ?", vec![g.into()]);
    }
    if !x.vm_states.is_empty() {
        s.push(" AND vm_state IN ", vec![]);
        s.push_list(x.vm_states.iter().map(|v| v.as_str().into()).collect());
    }
    if let Some(ts) = &x.task_states {
        let named: Vec<Bind> = ts.iter().flatten().map(|t| t.as_str().into()).collect();
        let null = ts.iter().any(Option::is_none);
        match (null, named.is_empty()) {
            (true, true) => s.push(" AND task_state IS NULL", vec![]),
            (false, true) => s.push(" AND 1 = 0", vec![]),
            (true, false) => s
                .push(" AND (task_state IS NULL OR task_state IN ", vec![])
                .push_list(named)
                .push(")", vec![]),
            (false, false) => s.push(" AND task_state IN ", vec![]).push_list(named),
        };
    }
    Ok(s)
}

impl Store {
    /// Inserts up to `req.max_count` instances (at least `req.min_count`) built by `build`
    /// (given how many fit the quota), their usage, actions and workflows in one
    /// transaction. `Forbidden` with Nova's quota message when not even `min_count` fit.
    pub async fn instance_create<F>(&self, req: &InstanceCreate, build: F) -> Result<Vec<Instance>>
    where
        F: FnOnce(i64) -> Result<Vec<NewInstance>> + Send,
    {
        let mut tx = self.db().begin().await?;
        let used = usage::lock(&mut tx, &req.project_id).await?;
        let (n, overs) = usage::fit(
            req.min_count,
            req.max_count,
            &req.per_instance,
            &used,
            &req.limits,
        );
        if n < req.min_count || n < 1 {
            let requested = req
                .per_instance
                .iter()
                .map(|(r, each)| (r.clone(), each * req.min_count.max(1)))
                .collect();
            let overs = if overs.is_empty() {
                vec!["instances".to_string()]
            } else {
                overs
            };
            return Err(usage::exceeded(&overs, &requested, &used, &req.limits));
        }
        let news = build(n)?;
        let count = i64::try_from(news.len()).map_err(|e| Error::internal("count instances", e))?;
        let change = QuotaChange {
            deltas: req
                .per_instance
                .iter()
                .map(|(r, each)| (r.clone(), each * count))
                .collect(),
            limits: req.limits.clone(),
        };
        usage::apply(&mut tx, &req.project_id, &change).await?;
        for new in &news {
            insert_instance(&mut tx, &new.instance).await?;
            if let Some(a) = &new.action {
                action::insert_action(&mut tx, a).await?;
            }
            if let Some(w) = &new.workflow {
                insert_workflow(&mut tx, w).await?;
            }
        }
        tx.commit()
            .await
            .map_err(db_err("commit instance create"))?;
        Ok(news.into_iter().map(|n| n.instance).collect())
    }

    /// An instance with its metadata, tags and latest fault; deleted ones only when asked.
    pub async fn instance_get(&self, uuid: &str, read_deleted: bool) -> Result<Option<Instance>> {
        let row = sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM compute_instance WHERE uuid = $1"
        ))
        .bind(uuid)
        .fetch_optional(self.db().reader())
        .await
        .map_err(db_err("read instance"))?;
        let Some(row) = row else { return Ok(None) };
        let mut i = instance_row(&row)?;
        if i.vm_state == VmState::Deleted && !read_deleted {
            return Ok(None);
        }
        self.fill(std::slice::from_mut(&mut i)).await?;
        Ok(Some(i))
    }

    /// Applies a guarded change and its records in one transaction; returns the instance as
    /// it is afterwards. `NotFound` when there is no (undeleted) instance, `Conflict` when a
    /// guard does not hold, `Forbidden` when a quota change does not fit.
    pub async fn instance_update(&self, uuid: &str, u: &InstanceUpdate) -> Result<Instance> {
        let now = now_text();
        let mut tx = self.db().begin().await?;
        let stmt = update_stmt(uuid, &u.expect, &u.change, &now, false)?;
        let n = stmt.execute(&mut tx, "update instance").await?;
        let cur = row_in(&mut tx, uuid).await?;
        let cur = match cur {
            Some(i) if i.vm_state != VmState::Deleted => i,
            _ => return Err(Error::not_found("instance", uuid)),
        };
        if n == 0 {
            return Err(Error::Conflict(describe(&cur)));
        }
        if let Some(q) = &u.quota {
            usage::apply(&mut tx, &cur.project_id, q).await?;
        }
        if let Some(f) = &u.fault {
            extra::insert_fault(&mut tx, uuid, f).await?;
        }
        if let Some(a) = &u.action {
            action::insert_action(&mut tx, a).await?;
        }
        if let Some((req, e)) = &u.event {
            action::upsert_event(&mut tx, uuid, req, e).await?;
        }
        if let Some((req, msg)) = &u.action_finish {
            action::finish_action(&mut tx, uuid, req, msg.as_deref()).await?;
        }
        if let Some(w) = &u.workflow {
            insert_workflow(&mut tx, w).await?;
        }
        if let Some(w) = &u.workflow_commit {
            commit_workflow(&mut tx, w).await?;
        }
        if let Some(m) = &u.migration_new {
            migration::insert_migration(&mut tx, m).await?;
        }
        if let Some((m, status)) = &u.migration_status {
            migration::set_status(&mut tx, m, status).await?;
        }
        tx.commit()
            .await
            .map_err(db_err("commit instance update"))?;
        let mut out = cur;
        self.fill(std::slice::from_mut(&mut out)).await?;
        Ok(out)
    }

    /// Soft-deletes an instance (`deleted`, `deleted_at`, `terminated_at`, vm_state
    /// `deleted`, task cleared) and gives back its quota usage, in one transaction. With
    /// `expect`, only while it holds. Deleting a deleted instance is `NotFound`.
    pub async fn instance_soft_delete(&self, uuid: &str, expect: &Expect) -> Result<()> {
        let now = now_text();
        let mut tx = self.db().begin().await?;
        let cur = match row_in(&mut tx, uuid).await? {
            Some(i) if i.vm_state != VmState::Deleted => i,
            _ => return Err(Error::not_found("instance", uuid)),
        };
        let change = InstanceChange {
            vm_state: Some(VmState::Deleted),
            task_state: Some(None),
            power_state: Some(PowerState::NoState),
            terminated_at: Some(Some(now.clone())),
            ..InstanceChange::default()
        };
        let stmt = update_stmt(uuid, expect, &change, &now, true)?;
        if stmt.execute(&mut tx, "delete instance").await? == 0 {
            return Err(Error::Conflict(describe(&cur)));
        }
        // What the instance holds: its flavor, or the larger of both during a resize.
        let (mut cores, mut ram) = (cur.flavor.vcpus, cur.flavor.ram);
        if let Some(nf) = &cur.new_flavor {
            cores = cores.max(nf.vcpus);
            ram = ram.max(nf.ram);
        }
        let back = QuotaChange {
            deltas: [("instances", -1), ("cores", -cores), ("ram", -ram)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            limits: BTreeMap::new(),
        };
        usage::apply(&mut tx, &cur.project_id, &back).await?;
        tx.commit()
            .await
            .map_err(db_err("commit instance delete"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
