//! Glance's default policy: the image API rules of `glance/policies/` (base, image, tasks,
//! cache, discovery) with the secure-RBAC check strings and `scope_types` of current Glance.
//! Operators override them with a `policy.yaml` exactly as they would Glance's.
//!
//! Personas: `admin` anywhere is a cloud admin (`context_is_admin`); a project `member`
//! writes its own images; a project `reader` reads them; an image member project reads (and
//! with `member`, downloads) images shared with it.
//!
//! # Target keys the API must build
//!
//! Glance's `ImageTarget` over the image: `project_id` and `owner` (the image owner),
//! `visibility`, `id`, and `member_id` — the caller's project when the image is `shared`
//! and the caller is not its owner (absent otherwise). For `add_image` (no image yet):
//! `project_id` and `owner` (the requested owner, else the caller's project) and
//! `visibility`. For `get_images`: `project_id` = the caller's project.

use crate::RuleDefault;

const PROJECT: &[&str] = &["project"];
/// No scope check: for the base rules other rules reference.
const ANY_SCOPE: &[&str] = &[];

const ADMIN: &str = "rule:context_is_admin";
const ADMIN_OR_PROJECT_MEMBER: &str =
    "rule:context_is_admin or (role:member and project_id:%(project_id)s)";
const ADMIN_OR_PROJECT_READER: &str =
    "rule:context_is_admin or (role:reader and project_id:%(project_id)s)";
const ADMIN_OR_PROJECT_READER_GET_IMAGE: &str = "rule:context_is_admin or (role:reader and \
     (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or \
     'public':%(visibility)s or 'shared':%(visibility)s))";
const ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE: &str = "rule:context_is_admin or (role:member and \
     (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or \
     'public':%(visibility)s or 'shared':%(visibility)s))";
const ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE: &str =
    "rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)";
const ADMIN_OR_SHARED_MEMBER: &str =
    "rule:context_is_admin or (role:member and project_id:%(member_id)s)";
const ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER: &str =
    "rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)";
const SERVICE_OR_PROJECT_MEMBER: &str =
    "rule:service_api or (role:member and project_id:%(project_id)s and project_id:%(owner)s)";
const SERVICE: &str = "rule:service_api";
const ADMIN_OR_SERVICE_ROLE: &str = "rule:context_is_admin or rule:service_api";
const DEFAULT: &str = "rule:default";

const fn rule(
    name: &'static str,
    check_str: &'static str,
    scope_types: &'static [&'static str],
) -> RuleDefault {
    RuleDefault::new(name, check_str, scope_types)
}

/// Glance's default rules, in the order of Glance's policy modules.
pub const DEFAULTS: &[RuleDefault] = &[
    // base.py
    rule("default", "", ANY_SCOPE),
    rule("context_is_admin", "role:admin", ANY_SCOPE),
    rule("service_api", "role:service or role:admin", ANY_SCOPE),
    // image.py
    rule("add_image", ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE, PROJECT),
    rule("delete_image", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule("get_image", ADMIN_OR_PROJECT_READER_GET_IMAGE, PROJECT),
    rule("get_images", ADMIN_OR_PROJECT_READER, PROJECT),
    rule("modify_image", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule("publicize_image", ADMIN, PROJECT),
    rule("communitize_image", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule(
        "download_image",
        ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE,
        PROJECT,
    ),
    rule(
        "download_from_store",
        ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE,
        PROJECT,
    ),
    rule("upload_image", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule("delete_image_location", ADMIN, PROJECT),
    rule("get_image_location", ADMIN_OR_PROJECT_READER, PROJECT),
    rule("set_image_location", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule("add_image_location", SERVICE_OR_PROJECT_MEMBER, PROJECT),
    rule("fetch_image_location", SERVICE, PROJECT),
    rule("add_member", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule("delete_member", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule(
        "get_member",
        ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
        PROJECT,
    ),
    rule(
        "get_members",
        ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
        PROJECT,
    ),
    rule("modify_member", ADMIN_OR_SHARED_MEMBER, PROJECT),
    rule("manage_image_cache", ADMIN, PROJECT),
    rule("deactivate", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule("reactivate", ADMIN_OR_PROJECT_MEMBER, PROJECT),
    rule("copy_image", ADMIN, PROJECT),
    rule("list_cached_nodes", ADMIN, PROJECT),
    // tasks.py
    rule("get_task", DEFAULT, PROJECT),
    rule("get_tasks", DEFAULT, PROJECT),
    rule("add_task", DEFAULT, PROJECT),
    rule("modify_task", DEFAULT, PROJECT),
    rule("tasks_api_access", ADMIN, PROJECT),
    // cache.py
    rule("cache_image", ADMIN, PROJECT),
    rule("cache_list", ADMIN, PROJECT),
    rule("cache_delete", ADMIN, PROJECT),
    rule("cache_clean", ADMIN, PROJECT),
    rule("cache_prune", ADMIN, PROJECT),
    // discovery.py
    rule("stores_info_detail", ADMIN_OR_SERVICE_ROLE, PROJECT),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{target, Credentials, Enforcer};

    fn creds(project: &str, roles: &[&str]) -> Credentials {
        Credentials {
            user_id: "u".into(),
            user_domain_id: "default".into(),
            project_id: Some(project.into()),
            project_domain_id: Some("default".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    fn image(owner: &str, visibility: &str, member: Option<&str>) -> crate::Target {
        let mut t = target(&[
            ("project_id", owner),
            ("owner", owner),
            ("visibility", visibility),
        ]);
        if let Some(m) = member {
            t.insert("member_id".into(), m.into());
        }
        t
    }

    #[test]
    fn defaults_load_without_dangling_references() {
        let e = Enforcer::new(DEFAULTS).unwrap();
        assert!(
            e.undefined_references().is_empty(),
            "{:?}",
            e.undefined_references()
        );
    }

    #[test]
    fn personas() {
        let e = Enforcer::new(DEFAULTS).unwrap();
        let member = creds("p1", &["member", "reader"]);
        let reader = creds("p1", &["reader"]);
        let other = creds("p2", &["member", "reader"]);
        let admin = creds("p9", &["admin", "member", "reader"]);
        let own = image("p1", "private", None);
        assert!(e.enforce("modify_image", &own, &member));
        assert!(!e.enforce("modify_image", &own, &reader));
        assert!(e.enforce("get_image", &own, &reader));
        assert!(!e.enforce("get_image", &own, &other));
        assert!(e.enforce("modify_image", &own, &admin));
        assert!(!e.enforce("publicize_image", &own, &member));
        assert!(e.enforce("publicize_image", &own, &admin));
        assert!(e.enforce("communitize_image", &own, &member));
        // An image shared with p2: p2 reads and downloads it and answers the offer, but may
        // not change it or its member list.
        let shared = image("p1", "shared", Some("p2"));
        assert!(e.enforce("get_image", &shared, &other));
        assert!(e.enforce("download_image", &shared, &other));
        assert!(e.enforce("modify_member", &shared, &other));
        assert!(e.enforce("get_members", &shared, &other));
        assert!(!e.enforce("add_member", &shared, &other));
        assert!(!e.enforce("delete_member", &shared, &other));
        assert!(!e.enforce("modify_image", &shared, &other));
        // The owner may not answer for the consumer.
        let owned_shared = image("p1", "shared", None);
        assert!(!e.enforce("modify_member", &owned_shared, &member));
        // Creating for another owner needs admin.
        let for_p2 = target(&[
            ("project_id", "p2"),
            ("owner", "p2"),
            ("visibility", "private"),
        ]);
        assert!(!e.enforce("add_image", &for_p2, &member));
        assert!(e.enforce("add_image", &for_p2, &admin));
        assert!(e.enforce("add_image", &image("p1", "private", None), &member));
    }

    #[test]
    fn system_scoped_tokens_are_refused() {
        let e = Enforcer::new(DEFAULTS).unwrap();
        let sys = Credentials {
            user_id: "u".into(),
            system_scope: Some("all".into()),
            roles: vec!["admin".into()],
            ..Default::default()
        };
        assert!(!e.enforce("get_images", &target(&[]), &sys));
    }
}
