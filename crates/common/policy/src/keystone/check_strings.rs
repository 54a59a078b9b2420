//! The check strings of Keystone's defaults, spelled exactly as Keystone renders them (so a
//! generated `policy.yaml` matches Keystone's), named after who they let in.

/// Any admin (`admin_required`).
pub(super) const ADMIN: &str = "rule:admin_required";

/// Any authenticated caller.
pub(super) const ANYONE: &str = "";

/// An admin or a system reader.
pub(super) const ADMIN_OR_SYSTEM_READER: &str =
    "rule:admin_required or (role:reader and system_scope:all)";

/// A service user or an admin.
pub(super) const SERVICE_OR_ADMIN: &str = "rule:service_or_admin";

/// The caller is the user named in the request path (`user_id`).
pub(super) const PATH_USER: &str = "user_id:%(user_id)s";

/// An admin, or the owner of the subject token.
pub(super) const ADMIN_OR_TOKEN_SUBJECT: &str = "rule:admin_required or rule:token_subject";

/// The roles a domain manager may grant or revoke: manager, member, reader.
pub(super) const DOMAIN_MANAGER_ASSIGNABLE_ROLES: &str =
    "'manager':%(target.role.name)s or 'member':%(target.role.name)s or \
     'reader':%(target.role.name)s";

/// A system reader, or the user the access rule belongs to.
pub(super) const SYSTEM_READER_OR_TARGET_USER: &str =
    "(role:reader and system_scope:all) or user_id:%(target.user.id)s";

/// A system admin, or the user the access rule belongs to.
pub(super) const SYSTEM_ADMIN_OR_TARGET_USER: &str =
    "(role:admin and system_scope:all) or user_id:%(target.user.id)s";

/// An admin, a system reader, or the user in the request path.
pub(super) const ADMIN_OR_SYSTEM_READER_OR_OWNER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or rule:owner";

/// An admin, a system reader, or the credential's owner.
pub(super) const ADMIN_OR_SYSTEM_READER_OR_CREDENTIAL_OWNER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or \
     user_id:%(target.credential.user_id)s";

/// An admin or the credential's owner.
pub(super) const ADMIN_OR_CREDENTIAL_OWNER: &str =
    "(rule:admin_required) or user_id:%(target.credential.user_id)s";

/// An admin, a system reader, or a token scoped to the domain or to one of its projects.
pub(super) const DOMAIN_READER_OR_MEMBER: &str =
    "rule:admin_required or (role:reader and system_scope:all) or \
     token.domain.id:%(target.domain.id)s or token.project.domain.id:%(target.domain.id)s";

/// An admin, a system reader, or a reader on the domain.
pub(super) const DOMAINS_READER: &str =
    "rule:admin_required or (role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.domain.id)s)";

/// An admin, or a member who owns the EC2 credential.
pub(super) const ADMIN_OR_MEMBER_CREDENTIAL_OWNER: &str =
    "(rule:admin_required) or (role:member and user_id:%(target.credential.user_id)s)";

/// An admin, a system reader, or a domain reader over both the actor and the target, for a
/// role that is global or of that domain.
pub(super) const GRANT_CHECKER: &str =
    "(rule:admin_required) or ((role:reader and system_scope:all) or ((role:reader and \
     domain_id:%(target.user.domain_id)s and domain_id:%(target.project.domain_id)s) or \
     (role:reader and domain_id:%(target.user.domain_id)s and \
     domain_id:%(target.domain.id)s) or (role:reader and \
     domain_id:%(target.group.domain_id)s and domain_id:%(target.project.domain_id)s) or \
     (role:reader and domain_id:%(target.group.domain_id)s and \
     domain_id:%(target.domain.id)s)) and (domain_id:%(target.role.domain_id)s or \
     None:%(target.role.domain_id)s))";

/// An admin, a system reader, or a domain reader over both the actor and the target.
pub(super) const GRANT_READER: &str =
    "(rule:admin_required) or ((role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.user.domain_id)s and domain_id:%(target.project.domain_id)s) or \
     (role:reader and domain_id:%(target.user.domain_id)s and \
     domain_id:%(target.domain.id)s) or (role:reader and \
     domain_id:%(target.group.domain_id)s and domain_id:%(target.project.domain_id)s) or \
     (role:reader and domain_id:%(target.group.domain_id)s and \
     domain_id:%(target.domain.id)s))";

/// An admin; a domain admin over actor and target, for a role that is global or of that
/// domain; or a domain manager over actor and target, for a role it may assign.
pub(super) const GRANT_MANAGER: &str =
    "(rule:admin_required) or ((role:admin and domain_id:%(target.user.domain_id)s and \
     domain_id:%(target.project.domain_id)s) or (role:admin and \
     domain_id:%(target.user.domain_id)s and domain_id:%(target.domain.id)s) or (role:admin \
     and domain_id:%(target.group.domain_id)s and domain_id:%(target.project.domain_id)s) \
     or (role:admin and domain_id:%(target.group.domain_id)s and \
     domain_id:%(target.domain.id)s)) and (domain_id:%(target.role.domain_id)s or \
     None:%(target.role.domain_id)s) or ((role:manager and \
     domain_id:%(target.user.domain_id)s and domain_id:%(target.project.domain_id)s) or \
     (role:manager and domain_id:%(target.user.domain_id)s and \
     domain_id:%(target.domain.id)s) or (role:manager and \
     domain_id:%(target.group.domain_id)s and domain_id:%(target.project.domain_id)s) or \
     (role:manager and domain_id:%(target.group.domain_id)s and \
     domain_id:%(target.domain.id)s)) and rule:domain_managed_target_role";

/// An admin, a system reader, or a reader on the group's domain.
pub(super) const GROUP_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.group.domain_id)s)";

/// An admin, a system reader, a reader on the user's domain, or the user in the request path.
pub(super) const USER_GROUPS_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.user.domain_id)s) or user_id:%(user_id)s";

/// An admin or a manager on the group's domain.
pub(super) const GROUP_MANAGER: &str =
    "(rule:admin_required) or (role:manager and domain_id:%(target.group.domain_id)s)";

/// An admin, or a manager on the domain of both the group and the user.
pub(super) const GROUP_MEMBERSHIP_MANAGER: &str =
    "(rule:admin_required) or (role:manager and domain_id:%(target.group.domain_id)s and \
     domain_id:%(target.user.domain_id)s)";

/// An admin, a system reader, or a reader on the domain of both the group and the user.
pub(super) const GROUP_MEMBERSHIP_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s)";

/// An admin, a system reader, a token on the limit's domain, or a token on the limit's project.
pub(super) const LIMIT_READER: &str =
    "rule:admin_required or (role:reader and system_scope:all) or \
     (domain_id:%(target.limit.domain.id)s or domain_id:%(target.limit.project.domain_id)s) \
     or (project_id:%(target.limit.project_id)s and not None:%(target.limit.project_id)s)";

/// An admin, a system reader, a reader on the project's domain, or any role on the project itself.
pub(super) const PROJECT_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s) or \
     project_id:%(target.project.id)s";

/// An admin, a system reader, or a reader on a domain-scoped token (the API puts the token's
/// domain in `target.domain_id`).
pub(super) const DOMAIN_SCOPED_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.domain_id)s)";

/// An admin, a system reader, a reader on the user's domain, or the user.
pub(super) const USER_PROJECTS_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
     domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s";

/// An admin, or a manager on the project's domain.
pub(super) const PROJECT_MANAGER: &str =
    "(rule:admin_required) or (role:manager and domain_id:%(target.project.domain_id)s and \
     not None:%(target.project.domain_id)s)";

/// An admin, a system reader, or a manager looking at a role it may assign.
pub(super) const ROLE_READER: &str =
    "(rule:admin_required or (role:reader and system_scope:all)) or (role:manager and \
     rule:domain_managed_target_role)";

/// An admin, a system reader, or a manager on a domain-scoped token.
pub(super) const ROLES_READER: &str =
    "(rule:admin_required or (role:reader and system_scope:all)) or (role:manager and not \
     domain_id:None)";

/// An admin, a system reader, or the owner of the subject token.
pub(super) const TOKEN_CHECKER: &str =
    "rule:admin_required or (role:reader and system_scope:all) or rule:token_subject";

/// An admin, a system reader, a service user, or the owner of the subject token.
pub(super) const TOKEN_VALIDATOR: &str =
    "rule:admin_required or (role:reader and system_scope:all) or rule:service_role or \
     rule:token_subject";

/// The trustor of the trust being created.
pub(super) const TRUSTOR: &str = "user_id:%(target.trust.trustor_user_id)s";

/// An admin, a system reader, or the trustor.
pub(super) const TRUSTOR_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all or \
     user_id:%(target.trust.trustor_user_id)s)";

/// An admin, a system reader, or the trustee.
pub(super) const TRUSTEE_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all or \
     user_id:%(target.trust.trustee_user_id)s)";

/// An admin, a system reader, the trustor or the trustee.
pub(super) const TRUST_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all or \
     user_id:%(target.trust.trustor_user_id)s or user_id:%(target.trust.trustee_user_id)s)";

/// An admin or the trustor.
pub(super) const ADMIN_OR_TRUSTOR: &str =
    "rule:admin_required or user_id:%(target.trust.trustor_user_id)s";

/// An admin, a system reader, a reader on the user's domain (domain token), or the user.
pub(super) const USER_READER: &str =
    "(rule:admin_required) or (role:reader and system_scope:all) or (role:reader and \
     token.domain.id:%(target.user.domain_id)s) or user_id:%(target.user.id)s";

/// An admin, or a manager on a token scoped to the user's domain.
pub(super) const USER_MANAGER: &str =
    "(rule:admin_required) or (role:manager and token.domain.id:%(target.user.domain_id)s)";
