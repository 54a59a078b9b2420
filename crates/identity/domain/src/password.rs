//! Password hashing with bcrypt, off the async runtime's worker threads.

use common_error::{Error, Result};

/// Longest password accepted (bcrypt ignores bytes past 72; Keystone caps at 4096 chars).
pub const MAX_PASSWORD_LEN: usize = 4096;

/// Bounds concurrent bcrypt work to one fewer than the CPUs (at least one), so a burst of
/// logins cannot starve token validation and every other request of CPU.
fn permits() -> &'static tokio::sync::Semaphore {
    static SEM: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SEM.get_or_init(|| {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        tokio::sync::Semaphore::new(cpus.saturating_sub(1).max(1))
    })
}

/// Hashes `password` with `cost` rounds on a blocking thread.
pub async fn hash(password: &str, cost: u32) -> Result<String> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|e| Error::internal("hash permit", e))?;
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || bcrypt::hash(pw, cost))
        .await
        .map_err(|e| Error::internal("join hash task", e))?
        .map_err(|e| Error::internal("hash password", e))
}

/// Checks `password` against `hash` on a blocking thread. A malformed hash never matches.
pub async fn verify(password: &str, hash: &str) -> Result<bool> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|e| Error::internal("verify permit", e))?;
    let pw = password.to_string();
    let h = hash.to_string();
    tokio::task::spawn_blocking(move || bcrypt::verify(pw, &h).unwrap_or(false))
        .await
        .map_err(|e| Error::internal("join verify task", e))
}

/// A hash of a random password, used to spend the same time on unknown users as on known
/// ones, so timing does not reveal which names exist.
pub fn dummy_hash() -> &'static str {
    "$2b$04$C6UzMDM.H6dfI/f/IKxGhuQeGQ5YbWzV9Fa6qV8yH7H7Lq2v3mH0e"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("s3cret", 4).await.unwrap();
        assert!(h.starts_with("$2"));
        assert!(verify("s3cret", &h).await.unwrap());
        assert!(!verify("wrong", &h).await.unwrap());
        assert!(!verify("x", "not-a-hash").await.unwrap());
    }
}
