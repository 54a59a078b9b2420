//! The Fernet key repository, managed like Keystone's
//! `keystone/common/fernet_utils.py` (`keystone-manage fernet_setup` and
//! `fernet_rotate`), so a directory can move between Keystone and us:
//!
//! - every key is a file named by its index holding url-safe base64;
//! - `0` is the staged key: it decrypts but never encrypts, and becomes the
//!   next primary on rotation, so other nodes know it before it signs;
//! - the highest index is the primary key, which encrypts;
//! - everything in between is a secondary key, kept for decryption only.
//!
//! Files not named by a plain decimal index (such as `0.tmp`) are ignored, and
//! so are empty key files (Keystone warns and skips them too).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{FernetKey, TokenError};

const STAGED: u64 = 0;

/// A directory of Fernet keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRepository {
    path: PathBuf,
}

impl KeyRepository {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `keystone-manage fernet_setup`: creates the directory (mode 0700) and,
    /// if it holds no keys, a primary key `1` and a staged key `0`. Does
    /// nothing when a staged key exists already. A repository that has keys
    /// but lost its staged key gets a new one; its primary stays.
    pub fn setup(&self) -> Result<(), TokenError> {
        if !self.path.exists() {
            create_private_dir(&self.path)?;
            tracing::info!(path = %self.path.display(), "created fernet key repository");
        }
        let keys = self.scan()?;
        if keys.contains_key(&STAGED) {
            tracing::debug!(path = %self.path.display(), "fernet key repository already set up");
            return Ok(());
        }
        if keys.is_empty() {
            let tmp = self.write_tmp_key("1")?;
            self.rename(&tmp, &self.key_path(1))?;
        }
        let tmp = self.write_tmp_key("0")?;
        self.rename(&tmp, &self.key_path(STAGED))?;
        self.sync_dir()?;
        tracing::info!(path = %self.path.display(), "fernet key repository set up");
        Ok(())
    }

    /// `keystone-manage fernet_rotate`: the staged key `0` becomes the new
    /// primary (highest index + 1), a fresh staged key `0` is written, and the
    /// oldest secondaries are removed until at most `max_active_keys` keys
    /// remain, staged key included. New keys are written to `0.tmp` (mode
    /// 0600) and renamed into place.
    pub fn rotate(&self, max_active_keys: usize) -> Result<(), TokenError> {
        if max_active_keys < 2 {
            return Err(TokenError::Keys(format!(
                "max_active_keys is {max_active_keys}; a staged and a primary key need at least 2"
            )));
        }
        let keys = self.scan()?;
        if !keys.contains_key(&STAGED) {
            return Err(TokenError::Keys(format!(
                "{} has no staged key 0; run setup first",
                self.path.display()
            )));
        }
        let current_primary = keys.keys().next_back().copied().unwrap_or(STAGED);
        let new_primary = current_primary + 1;

        let tmp = self.write_tmp_key("0")?;
        self.rename(&self.key_path(STAGED), &self.key_path(new_primary))?;
        self.rename(&tmp, &self.key_path(STAGED))?;
        tracing::info!(
            path = %self.path.display(),
            primary = new_primary,
            "promoted staged fernet key to primary"
        );

        // Non-staged keys, newest first; the new primary is among them.
        let mut active: Vec<u64> = keys.keys().copied().filter(|&i| i != STAGED).collect();
        active.push(new_primary);
        active.sort_unstable_by(|a, b| b.cmp(a));
        while active.len() > max_active_keys - 1 {
            let Some(oldest) = active.pop() else { break };
            let path = self.key_path(oldest);
            fs::remove_file(&path).map_err(|e| TokenError::io(&path, e))?;
            tracing::info!(path = %path.display(), "purged excess fernet key");
        }
        self.sync_dir()
    }

    /// Loads keys: primary first, then secondaries newest first, then the
    /// staged key. Fails on a missing or empty repository and on a malformed
    /// key file.
    pub fn load(&self) -> Result<Vec<FernetKey>, TokenError> {
        warn_if_world_accessible(&self.path);
        let keys = self.scan()?;
        if keys.is_empty() {
            return Err(TokenError::Keys(format!(
                "no keys in {}; run setup first",
                self.path.display()
            )));
        }
        let mut ordered: Vec<(u64, FernetKey)> = Vec::with_capacity(keys.len());
        for (index, text) in keys.iter().rev() {
            let key = FernetKey::from_base64(text).map_err(|e| {
                let file = self.key_path(*index);
                TokenError::Keys(format!("malformed key file {}: {e}", file.display()))
            })?;
            ordered.push((*index, key));
        }
        // Sorted newest first, the staged key 0 is naturally last.
        tracing::debug!(
            path = %self.path.display(),
            count = ordered.len(),
            "loaded fernet keys"
        );
        Ok(ordered.into_iter().map(|(_, key)| key).collect())
    }

    /// Key files by index with their (non-empty) contents.
    fn scan(&self) -> Result<BTreeMap<u64, String>, TokenError> {
        let entries = fs::read_dir(&self.path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TokenError::Keys(format!(
                    "{} does not exist; run setup first",
                    self.path.display()
                ))
            } else {
                TokenError::io(&self.path, e)
            }
        })?;
        let mut keys = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| TokenError::io(&self.path, e))?;
            let Some(index) = entry.file_name().to_str().and_then(key_index) else {
                continue;
            };
            let path = entry.path();
            // Follows symlinks, like Python's os.path.isfile.
            if !path.is_file() {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(|e| TokenError::io(&path, e))?;
            if text.is_empty() {
                tracing::warn!(path = %path.display(), "ignoring empty fernet key file");
                continue;
            }
            keys.insert(index, text);
        }
        Ok(keys)
    }

    fn key_path(&self, index: u64) -> PathBuf {
        self.path.join(index.to_string())
    }

    /// Writes a new random key to `<name>.tmp`, mode 0600, flushed to disk.
    fn write_tmp_key(&self, name: &str) -> Result<PathBuf, TokenError> {
        let key = FernetKey::generate()?;
        let path = self.path.join(format!("{name}.tmp"));
        let mut file = private_file(&path).map_err(|e| TokenError::io(&path, e))?;
        file.write_all(key.to_base64().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| TokenError::io(&path, e))?;
        Ok(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), TokenError> {
        fs::rename(from, to).map_err(|e| TokenError::io(from, e))
    }

    /// Makes the renames durable.
    fn sync_dir(&self) -> Result<(), TokenError> {
        fs::File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| TokenError::io(&self.path, e))
    }
}

/// The index of a key file: a plain decimal number (no sign, no leading zero).
fn key_index(name: &str) -> Option<u64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: u64 = name.parse().ok()?;
    (index.to_string() == name).then_some(index)
}

#[cfg(unix)]
fn create_private_dir(path: &Path) -> Result<(), TokenError> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o700)))
        .map_err(|e| TokenError::io(path, e))
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> Result<(), TokenError> {
    fs::create_dir_all(path).map_err(|e| TokenError::io(path, e))
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A stale temp file keeps its old mode; make sure it is private.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::File::create(path)
}

#[cfg(unix)]
fn warn_if_world_accessible(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o005 != 0 {
            tracing::warn!(path = %path.display(), "fernet key repository is world readable");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_world_accessible(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, KeyRepository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = KeyRepository::new(dir.path().join("fernet-keys"));
        (dir, repo)
    }

    fn indices(repo: &KeyRepository) -> Vec<u64> {
        repo.scan().unwrap().keys().copied().collect()
    }

    #[test]
    fn key_index_accepts_plain_numbers_only() {
        assert_eq!(key_index("0"), Some(0));
        assert_eq!(key_index("17"), Some(17));
        for name in ["", "0.tmp", "+1", "01", "-1", "1_0", " 1", "x"] {
            assert_eq!(key_index(name), None, "{name:?}");
        }
    }

    #[test]
    fn setup_creates_private_staged_and_primary_keys_once() {
        let (_dir, repo) = repo();
        repo.setup().unwrap();
        assert_eq!(indices(&repo), [0, 1]);
        let before = repo.scan().unwrap();
        repo.setup().unwrap();
        assert_eq!(repo.scan().unwrap(), before);
        assert!(!repo.path().join("0.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(repo.path()), 0o700);
            assert_eq!(mode(&repo.key_path(0)), 0o600);
            assert_eq!(mode(&repo.key_path(1)), 0o600);
        }
    }

    #[test]
    fn setup_restores_a_lost_staged_key_and_keeps_the_primary() {
        let (_dir, repo) = repo();
        repo.setup().unwrap();
        repo.rotate(3).unwrap();
        fs::remove_file(repo.key_path(0)).unwrap();
        let primary = fs::read_to_string(repo.key_path(2)).unwrap();
        repo.setup().unwrap();
        assert_eq!(indices(&repo), [0, 1, 2]);
        assert_eq!(fs::read_to_string(repo.key_path(2)).unwrap(), primary);
    }

    #[test]
    fn rotate_promotes_staged_and_keeps_at_most_max_active_keys() {
        let (_dir, repo) = repo();
        repo.setup().unwrap();
        let staged = fs::read_to_string(repo.key_path(0)).unwrap();
        repo.rotate(3).unwrap();
        assert_eq!(indices(&repo), [0, 1, 2]);
        assert_eq!(fs::read_to_string(repo.key_path(2)).unwrap(), staged);
        assert_ne!(fs::read_to_string(repo.key_path(0)).unwrap(), staged);
        for _ in 0..4 {
            repo.rotate(3).unwrap();
        }
        assert_eq!(indices(&repo), [0, 5, 6]);
        repo.rotate(5).unwrap();
        assert_eq!(indices(&repo), [0, 5, 6, 7]);
        repo.rotate(2).unwrap();
        assert_eq!(indices(&repo), [0, 8]);
    }

    #[test]
    fn rotate_needs_a_set_up_repository_and_two_active_keys() {
        let (_dir, repo) = repo();
        assert!(matches!(repo.rotate(3), Err(TokenError::Keys(_))));
        repo.setup().unwrap();
        assert!(matches!(repo.rotate(1), Err(TokenError::Keys(_))));
        fs::remove_file(repo.key_path(0)).unwrap();
        assert!(matches!(repo.rotate(3), Err(TokenError::Keys(_))));
    }

    #[test]
    fn load_orders_primary_secondaries_then_staged() {
        let (_dir, repo) = repo();
        repo.setup().unwrap();
        repo.rotate(4).unwrap();
        repo.rotate(4).unwrap();
        let read = |i| FernetKey::from_base64(&fs::read_to_string(repo.key_path(i)).unwrap());
        let expected: Vec<FernetKey> = [3, 2, 1, 0].map(|i| read(i).unwrap()).into();
        assert_eq!(repo.load().unwrap(), expected);
    }

    #[test]
    fn load_fails_clearly_on_missing_empty_or_garbage() {
        let (_dir, repo) = repo();
        let err = repo.load().unwrap_err();
        assert!(
            matches!(&err, TokenError::Keys(m) if m.contains("does not exist")),
            "{err}"
        );
        fs::create_dir_all(repo.path()).unwrap();
        let err = repo.load().unwrap_err();
        assert!(
            matches!(&err, TokenError::Keys(m) if m.contains("no keys")),
            "{err}"
        );
        fs::write(repo.key_path(0), "").unwrap();
        assert!(matches!(repo.load(), Err(TokenError::Keys(_))));
        fs::write(repo.path().join("notes.txt"), "ignored").unwrap();
        fs::write(repo.key_path(1), "this is not a fernet key").unwrap();
        let err = repo.load().unwrap_err();
        assert!(
            matches!(&err, TokenError::Keys(m) if m.contains("malformed key file")),
            "{err}"
        );
    }
}
