//! `ferrostack admin bootstrap`: the default domain, the admin project and user, the standard
//! roles with their implications, a region, and the identity service with its endpoints.
//! Idempotent: running it again changes nothing except the admin password if it differs.

use common_error::Result;
use identity_model::{
    Actor, Assignment, AssignmentTarget, Extra, Project, Role, User, DEFAULT_DOMAIN_ID,
};

use crate::catalog::INTERFACES;
use crate::{now, password, Identity};

/// What bootstrap created or found.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub admin_user_id: String,
    pub admin_project_id: String,
    pub demo_project_id: String,
    /// The admin password, when this run set it (first run, or an explicit password).
    pub admin_password: Option<String>,
}

/// The standard roles and what each implies.
const ROLES: [(&str, &[&str]); 5] = [
    ("admin", &["manager"]),
    ("manager", &["member"]),
    ("member", &["reader"]),
    ("reader", &[]),
    ("service", &[]),
];

impl Identity {
    /// Runs bootstrap. `identity_url` is the public identity v3 URL for the catalog. With
    /// `admin_password` the admin's password is set to it; without, an existing admin keeps
    /// theirs and a new one gets a random password (returned).
    pub async fn bootstrap(
        &self,
        admin_password: Option<&str>,
        identity_url: &str,
    ) -> Result<Bootstrapped> {
        let store = &self.store;
        if store.project_get(DEFAULT_DOMAIN_ID).await?.is_none() {
            self.project_create(Project {
                id: DEFAULT_DOMAIN_ID.into(),
                name: "Default".into(),
                domain_id: None,
                parent_id: None,
                description: "The default domain".into(),
                enabled: true,
                is_domain: true,
                tags: vec![],
                extra: Extra::new(),
            })
            .await?;
        }
        let admin_project = self
            .project_ensure("admin", "Bootstrap project for initializing the cloud.")
            .await?;
        let demo_project = self.project_ensure("demo", "Demo project").await?;
        let mut role_ids = std::collections::HashMap::new();
        for (name, _) in ROLES {
            let id = match store.role_list(Some(name), None).await?.into_iter().next() {
                Some(r) => r.id,
                None => {
                    let r = Role {
                        id: identity_db::new_id(),
                        name: name.into(),
                        domain_id: None,
                        description: None,
                        options: Extra::new(),
                    };
                    store.role_create(&r).await?;
                    r.id
                }
            };
            role_ids.insert(name, id);
        }
        for (name, implies) in ROLES {
            for i in implies {
                if let (Some(p), Some(q)) = (role_ids.get(name), role_ids.get(i)) {
                    store.implied_role_create(p, q).await?;
                }
            }
        }
        let mut password_set = None;
        let admin_id = match store
            .user_auth_row_by_name(DEFAULT_DOMAIN_ID, "admin")
            .await?
        {
            Some(row) => {
                if let Some(pw) = admin_password {
                    let same = match &row.password_hash {
                        Some(h) => password::verify(pw, h).await?,
                        None => false,
                    };
                    if !same {
                        let h = password::hash(pw, self.cfg.password_hash_rounds).await?;
                        store.user_set_password(&row.user.id, &h, now()).await?;
                    }
                    password_set = Some(pw.to_string());
                }
                row.user.id
            }
            None => {
                let pw = admin_password
                    .map(str::to_string)
                    .unwrap_or_else(random_password);
                let u = User {
                    id: identity_db::new_id(),
                    name: "admin".into(),
                    domain_id: DEFAULT_DOMAIN_ID.into(),
                    enabled: true,
                    default_project_id: None,
                    description: None,
                    email: None,
                    password_expires_at: None,
                    extra: Extra::new(),
                };
                let h = password::hash(&pw, self.cfg.password_hash_rounds).await?;
                store.user_create(&u, Some(&h), now()).await?;
                password_set = Some(pw);
                u.id
            }
        };
        if let Some(admin_role) = role_ids.get("admin") {
            for target in [
                AssignmentTarget::Project(admin_project.clone()),
                AssignmentTarget::Project(demo_project.clone()),
                AssignmentTarget::System,
            ] {
                store
                    .assignment_create(&Assignment {
                        actor: Actor::User(admin_id.clone()),
                        target,
                        role_id: admin_role.clone(),
                        inherited: false,
                    })
                    .await?;
            }
        }
        let region = self.cfg.region.clone();
        self.region_ensure(&region).await?;
        let sid = self
            .service_ensure("identity", "keystone", "Identity Service")
            .await?;
        for iface in INTERFACES {
            self.endpoint_ensure(&sid, iface, &region, identity_url)
                .await?;
        }
        self.invalidate();
        Ok(Bootstrapped {
            admin_user_id: admin_id,
            admin_project_id: admin_project,
            demo_project_id: demo_project,
            admin_password: password_set,
        })
    }

    async fn project_ensure(&self, name: &str, description: &str) -> Result<String> {
        if let Some(p) = self
            .store
            .project_get_by_name(DEFAULT_DOMAIN_ID, name)
            .await?
        {
            return Ok(p.id);
        }
        let p = self
            .project_create(Project {
                id: identity_db::new_id(),
                name: name.into(),
                domain_id: Some(DEFAULT_DOMAIN_ID.into()),
                parent_id: None,
                description: description.into(),
                enabled: true,
                is_domain: false,
                tags: vec![],
                extra: Extra::new(),
            })
            .await?;
        Ok(p.id)
    }
}

/// A random 24-character password of letters and digits.
fn random_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..24)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}
