//! From a validated token to policy credentials, and the local token validator other
//! services' APIs use in all-in-one mode.

use common_error::Result;
use common_http::{AuthContext, TokenValidator};
use common_policy::{Credentials, Target};
use identity_domain::{Identity, IssuedToken};
use identity_model::Scope;

use crate::ApiState;

/// Builds the caller as policy and handlers see it.
pub fn auth_context(t: &IssuedToken) -> AuthContext {
    let r = &t.resolved;
    let creds = Credentials {
        user_id: r.user.id.clone(),
        user_domain_id: r.user.domain_id.clone(),
        project_id: r.project.as_ref().map(|p| p.id.clone()),
        project_domain_id: r.project.as_ref().and_then(|p| p.domain_id.clone()),
        domain_id: r.domain.as_ref().map(|d| d.id.clone()),
        system_scope: matches!(t.scope, Scope::System).then(|| "all".to_string()),
        roles: r.roles.iter().map(|r| r.name.to_lowercase()).collect(),
        is_admin_project: r.project.is_some(),
        application_credential_id: t.app_cred.as_ref().map(|a| a.id.clone()),
    };
    AuthContext {
        token: t.id.clone(),
        credentials: creds,
        user_name: r.user.name.clone(),
        user_domain_name: r.user_domain_name.clone(),
        project_name: r.project.as_ref().map(|p| p.name.clone()),
        project_domain_name: r.project_domain_name.clone(),
        domain_name: r.domain.as_ref().map(|d| d.name.clone()),
        roles: r
            .roles
            .iter()
            .map(|r| (r.id.clone(), r.name.clone()))
            .collect(),
        methods: t.methods.clone(),
        audit_ids: t.audit_ids.clone(),
        issued_at: t.issued_at,
        expires_at: t.expires_at,
        app_cred_id: t.app_cred.as_ref().map(|a| a.id.clone()),
    }
}

/// Validates tokens in this process against the identity domain layer.
#[derive(Clone)]
pub struct LocalValidator(pub Identity);

#[async_trait::async_trait]
impl TokenValidator for LocalValidator {
    async fn validate(&self, token: &str) -> Result<AuthContext> {
        let t = self.0.validate(token).await?;
        Ok(auth_context(&t))
    }
}

impl ApiState {
    /// Checks `action` against the policy for the caller and target.
    pub fn authorize(&self, auth: &AuthContext, action: &str, target: &Target) -> Result<()> {
        self.policy.authorize(action, target, &auth.credentials)
    }
}

/// A target built from `(key, value)` pairs, skipping absent values.
pub fn target(pairs: &[(&str, Option<&str>)]) -> Target {
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
        .collect()
}

/// The domain new entities go to when the request names none: the token's project domain,
/// its domain scope, or the user's domain.
pub fn default_domain(auth: &AuthContext) -> String {
    let c = &auth.credentials;
    c.project_domain_id
        .clone()
        .or_else(|| c.domain_id.clone())
        .unwrap_or_else(|| c.user_domain_id.clone())
}
