//! Identity's data types: what the domain layer hands the API layer and the store hands the
//! domain layer. Plain data, no I/O. Must not depend on any other service.

use serde::{Deserialize, Serialize};

/// The id of the domain created at bootstrap, as in Keystone.
pub const DEFAULT_DOMAIN_ID: &str = "default";
/// `domain_id` stored for rows that are domains themselves (Keystone's root sentinel).
pub const ROOT_DOMAIN_SENTINEL: &str = "<<keystone.domain.root>>";
/// `domain_id` stored for global roles (Keystone's null-domain sentinel).
pub const NULL_DOMAIN_SENTINEL: &str = "<<null>>";

pub type Extra = serde_json::Map<String, serde_json::Value>;

/// A project or, with `is_domain`, a domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    /// For a domain: `None`. For a project: its domain.
    pub domain_id: Option<String>,
    pub parent_id: Option<String>,
    pub description: String,
    pub enabled: bool,
    pub is_domain: bool,
    pub tags: Vec<String>,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub password_expires_at: Option<i64>,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    /// `None` for a global role; a domain id for a domain-specific role.
    pub domain_id: Option<String>,
    pub description: Option<String>,
    pub options: Extra,
}

/// What an assignment is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AssignmentTarget {
    Project(String),
    Domain(String),
    System,
}

/// Who an assignment is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Actor {
    User(String),
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assignment {
    pub actor: Actor,
    pub target: AssignmentTarget,
    pub role_id: String,
    pub inherited: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub service_type: String,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub region_id: Option<String>,
    pub interface: String,
    pub url: String,
    pub enabled: bool,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationCredential {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub user_id: String,
    pub project_id: String,
    pub expires_at: Option<i64>,
    pub unrestricted: bool,
    pub roles: Vec<Role>,
    /// bcrypt hash of the secret; never rendered.
    pub secret_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub cred_type: String,
    pub blob: String,
    pub extra: Extra,
}

/// A token revocation event, as Keystone records them: every field set must match a token
/// for it to be revoked, and only tokens issued at or before `issued_before` are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RevocationEvent {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub audit_id: Option<String>,
    pub audit_chain_id: Option<String>,
    pub app_cred_id: Option<String>,
    pub issued_before: i64,
    pub revoked_at: i64,
}

/// The scope a token asks for or carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Unscoped,
    Project(String),
    Domain(String),
    System,
}

/// Everything a validated token resolves to, apart from the token's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedScope {
    pub user: User,
    pub user_domain_name: String,
    pub project: Option<Project>,
    pub project_domain_name: Option<String>,
    pub domain: Option<Project>,
    pub roles: Vec<Role>,
}

/// A page request and its filters for list calls.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
    pub parent_id: Option<String>,
    pub is_domain: Option<bool>,
    pub tags: Vec<String>,
    pub tags_any: Vec<String>,
    pub not_tags: Vec<String>,
    pub not_tags_any: Vec<String>,
    pub limit: Option<usize>,
}
