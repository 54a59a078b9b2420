//! Credentials (`/v3/credentials`): EC2 key pairs and other typed secrets owned by a user.
//! An EC2 credential's id is the SHA-256 of its access key, as in Keystone, so the key can be
//! found again from a signed request. Blobs are secrets: never logged.

use common_error::{Error, Result};
pub use identity_db::CredentialFilter;
use identity_model::Credential;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalog::expecting;
use crate::Identity;

/// Keys of an EC2 blob that bind it to a delegation and may not change once set.
const BOUND_KEYS: [&str; 4] = ["trust_id", "app_cred_id", "access_token_id", "access_id"];

/// Whether a credential type is EC2 (case-insensitive, as Keystone compares it).
pub fn is_ec2(cred_type: &str) -> bool {
    cred_type.eq_ignore_ascii_case("ec2")
}

/// Parses an EC2 blob: a JSON object with a non-null `access`.
pub fn ec2_blob(blob: &str) -> Result<Map<String, Value>> {
    let v: Value =
        serde_json::from_str(blob).map_err(|_| Error::bad_request("Invalid blob in credential"))?;
    let obj = match v {
        Value::Object(o) if !o.is_empty() => o,
        _ => return Err(expecting("blob", "credential")),
    };
    if obj.get("access").is_none_or(Value::is_null) {
        return Err(expecting("access", "credential"));
    }
    Ok(obj)
}

/// The id of an EC2 credential: the hex SHA-256 of its access key.
pub fn ec2_id(access: &str) -> String {
    Sha256::digest(access.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn access_text(blob: &Map<String, Value>) -> String {
    match blob.get("access") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

impl Identity {
    /// Creates a credential. An EC2 credential needs a project and a blob with an access key,
    /// and gets the key's hash as id; one created with an application-credential token is
    /// bound to it (`app_cred_id` in the blob), and the token must be unrestricted.
    pub async fn credential_create(
        &self,
        mut c: Credential,
        caller_app_cred: Option<&str>,
    ) -> Result<Credential> {
        if is_ec2(&c.cred_type) {
            self.app_cred_check_manager(caller_app_cred, "credentials")
                .await?;
            if c.project_id.is_none() {
                return Err(Error::bad_request("'project_id' is a required property"));
            }
            let mut blob = ec2_blob(&c.blob)?;
            c.id = ec2_id(&access_text(&blob));
            if let Some(ac) = caller_app_cred {
                blob.insert("app_cred_id".into(), Value::String(ac.to_string()));
                c.blob = Value::Object(blob).to_string();
            }
        } else {
            c.id = identity_db::new_id();
        }
        let duplicate = || {
            Error::conflict(format!(
                "Conflict occurred attempting to store credential - Duplicate entry found with ID {}.",
                c.id
            ))
        };
        if self.store.credential_get(&c.id).await?.is_some() {
            return Err(duplicate());
        }
        self.store
            .credential_create(&c)
            .await
            .map_err(|e| match e {
                Error::Conflict(_) => duplicate(),
                other => other,
            })?;
        Ok(c)
    }

    /// A credential by id; 404 when there is none.
    pub async fn credential_get(&self, id: &str) -> Result<Credential> {
        self.store
            .credential_get(id)
            .await?
            .ok_or_else(|| Error::not_found("credential", id))
    }

    pub async fn credential_list(&self, f: &CredentialFilter) -> Result<Vec<Credential>> {
        self.store.credential_list(f).await
    }

    /// Applies a partial update. An EC2 credential keeps a valid blob, a project, and the
    /// delegation it was bound to.
    pub async fn credential_update(
        &self,
        id: &str,
        apply: impl FnOnce(&mut Credential) -> Result<()>,
    ) -> Result<Credential> {
        let old = self.credential_get(id).await?;
        let mut c = old.clone();
        apply(&mut c)?;
        c.id = old.id.clone();
        if is_ec2(&c.cred_type) {
            if c.project_id.is_none() {
                return Err(expecting("project_id", "credential"));
            }
            let new_blob = ec2_blob(&c.blob)?;
            if is_ec2(&old.cred_type) {
                let old_blob: Map<String, Value> = match serde_json::from_str(&old.blob) {
                    Ok(Value::Object(o)) => o,
                    _ => Map::new(),
                };
                for k in BOUND_KEYS {
                    if old_blob.get(k) != new_blob.get(k) {
                        return Err(Error::bad_request(format!(
                            "{k} can not be updated for credential"
                        )));
                    }
                }
            }
        }
        self.store.credential_update(&c).await?;
        Ok(c)
    }

    pub async fn credential_delete(&self, id: &str) -> Result<()> {
        if !self.store.credential_delete(id).await? {
            return Err(Error::not_found("credential", id));
        }
        Ok(())
    }

    /// Deletes a user's credentials (Keystone does this when the user is deleted).
    pub async fn credentials_purge_for_user(&self, user_id: &str) -> Result<()> {
        self.store
            .credentials_delete_for_user(user_id)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_ids_are_sha256_of_the_access_key() {
        assert_eq!(
            ec2_id("a"),
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
    }

    #[test]
    fn ec2_blobs_need_an_access_key() {
        assert!(ec2_blob(r#"{"access": "a", "secret": "s"}"#).is_ok());
        for bad in [
            "",
            "nope",
            "[]",
            "{}",
            r#"{"secret": "s"}"#,
            r#"{"access": null}"#,
            "3",
        ] {
            assert_eq!(ec2_blob(bad).unwrap_err().status(), 400, "{bad}");
        }
    }
}
