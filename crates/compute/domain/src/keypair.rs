//! Keypairs (Nova's `KeypairAPI` and `crypto.py`): import an SSH public key (checked and
//! fingerprinted as Nova does: MD5 of the key blob in colon-hex) or an X.509 certificate
//! (SHA-1 of the DER, colon-hex), or generate a key pair and hand the private key back once.
//! Generation runs `ssh-keygen` (ed25519) or `openssl` (x509) in a private temporary
//! directory that is removed afterwards. The `key_pairs` quota is per user and checked in
//! the store's insert.
//!
//! A keypair another user owns is `NotFound` (kind `keypair`); the API words the message.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common_error::{Error, Result};
use compute_model::Keypair;
use md5::Digest as _;

use crate::{Compute, Context};

fn invalid(reason: &str) -> Error {
    Error::bad_request(format!("Keypair data is invalid: {reason}"))
}

/// Reads one SSH wire `string` (u32 length + bytes) from `b` at `*at`.
fn ssh_string<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let len_bytes = b.get(*at..*at + 4)?;
    let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
    let start = *at + 4;
    let s = b.get(start..start.checked_add(len)?)?;
    *at = start + len;
    Some(s)
}

/// Whether `blob` is a well-formed public key of type `kind` (field by field, as
/// `load_ssh_public_key` reads it).
fn blob_is_valid(kind: &str, blob: &[u8]) -> bool {
    let mut at = 0;
    if ssh_string(blob, &mut at) != Some(kind.as_bytes()) {
        return false;
    }
    let fields = match kind {
        "ssh-rsa" => 2,
        "ssh-dss" => 4,
        "ssh-ed25519" => 1,
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => 2,
        _ => return false,
    };
    let mut parts = Vec::new();
    for _ in 0..fields {
        match ssh_string(blob, &mut at) {
            Some(p) if !p.is_empty() => parts.push(p),
            _ => return false,
        }
    }
    if at != blob.len() {
        return false;
    }
    match kind {
        "ssh-ed25519" => parts[0].len() == 32,
        k if k.starts_with("ecdsa-sha2-") => {
            parts[0] == k.trim_start_matches("ecdsa-sha2-").as_bytes() && parts[1][0] == 0x04
        }
        _ => true,
    }
}

/// Nova's `crypto.generate_fingerprint`: the key must parse; the fingerprint is the MD5 of
/// the base64 field, colon-separated hex.
pub fn ssh_fingerprint(public_key: &str) -> Result<String> {
    let bad = || invalid("failed to generate fingerprint");
    let mut words = public_key.split_whitespace();
    let kind = words.next().ok_or_else(bad)?;
    let data = words.next().ok_or_else(bad)?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| bad())?;
    if !blob_is_valid(kind, &blob) {
        return Err(bad());
    }
    Ok(colon_hex(&md5::Md5::digest(&blob)))
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Nova's `crypto.generate_x509_fingerprint`: SHA-1 of the certificate's DER.
pub fn x509_fingerprint(pem: &str) -> Result<String> {
    let bad = |why: &str| {
        invalid(&format!(
            "failed to generate X509 fingerprint. Error message: {why}"
        ))
    };
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = pem
        .find(begin)
        .ok_or_else(|| bad("Unable to load PEM file."))?;
    let body = &pem[start + begin.len()..];
    let stop = body
        .find(end)
        .ok_or_else(|| bad("Unable to load PEM file."))?;
    let b64: String = body[..stop].split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad("Unable to load PEM file."))?;
    if der.first() != Some(&0x30) || der.len() < 16 {
        return Err(bad("error parsing asn1 value"));
    }
    Ok(colon_hex(&sha1(&der)))
}

/// SHA-1 (FIPS 180-4), for X.509 fingerprints only.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// A private directory removed on drop, for key generation.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<Self> {
        let p = std::env::temp_dir().join(format!("ferrostack-keygen-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&p).map_err(|e| Error::internal("create keygen directory", e))?;
        Ok(ScratchDir(p))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run(program: &str, args: &[&str], dir: &Path) -> Result<()> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::internal(&format!("run {program}"), e))?;
    if !out.status.success() {
        return Err(Error::internal(
            &format!("run {program}"),
            String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(())
}

fn read(dir: &Path, name: &str) -> Result<String> {
    std::fs::read_to_string(dir.join(name)).map_err(|e| Error::internal("read generated key", e))
}

/// A new SSH key pair: (private key, public key, fingerprint).
async fn generate_ssh() -> Result<(String, String, String)> {
    let dir = ScratchDir::new()?;
    run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "Generated-by-Nova",
            "-f",
            "key",
        ],
        &dir.0,
    )
    .await?;
    let private = read(&dir.0, "key")?;
    let public = read(&dir.0, "key.pub")?.trim().to_string();
    let fp = ssh_fingerprint(&public)?;
    Ok((private, public, fp))
}

/// A self-signed client certificate for `user_id` (Nova's `generate_winrm_x509_cert`):
/// (private key, certificate, fingerprint).
async fn generate_x509(user_id: &str) -> Result<(String, String, String)> {
    let dir = ScratchDir::new()?;
    let subject = format!("/CN={}", user_id.replace('/', "_"));
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "3650",
            "-newkey",
            "rsa:2048",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            &subject,
            "-addext",
            "extendedKeyUsage=clientAuth",
        ],
        &dir.0,
    )
    .await?;
    let private = read(&dir.0, "key.pem")?;
    let cert = read(&dir.0, "cert.pem")?;
    let fp = x509_fingerprint(&cert)?;
    Ok((private, cert, fp))
}

impl Compute {
    /// Imports `public_key` or, without one, generates a key pair for `user_id`; returns
    /// the keypair and, when generated, its private key. `Conflict` for a taken name,
    /// `Forbidden` over the `key_pairs` quota, `BadRequest` for an invalid key.
    pub async fn keypair_create(
        &self,
        ctx: &Context,
        user_id: &str,
        name: &str,
        key_type: &str,
        public_key: Option<&str>,
    ) -> Result<(Keypair, Option<String>)> {
        let limit = self
            .quota_limits(&ctx.project_id)
            .await?
            .get("key_pairs")
            .copied()
            .unwrap_or(-1);
        if limit >= 0 && self.store.keypair_count(user_id).await? >= limit {
            return Err(Error::forbidden("Quota exceeded, too many key pairs."));
        }
        if self.store.keypair_get(user_id, name).await?.is_some() {
            return Err(Error::conflict(format!(
                "Key pair '{name}' already exists."
            )));
        }
        let (private, public, fingerprint) = match (public_key, key_type) {
            (Some(p), "x509") => (None, p.to_string(), x509_fingerprint(p)?),
            (Some(p), _) => (None, p.to_string(), ssh_fingerprint(p)?),
            (None, "x509") => {
                let (k, c, f) = generate_x509(user_id).await?;
                (Some(k), c, f)
            }
            (None, _) => {
                let (k, p, f) = generate_ssh().await?;
                (Some(k), p, f)
            }
        };
        let k = Keypair {
            name: name.to_string(),
            user_id: user_id.to_string(),
            key_type: key_type.to_string(),
            public_key: public,
            fingerprint,
            created_at: compute_db::now_text(),
        };
        let k = self.store.keypair_create(&k, limit).await?;
        Ok((k, private))
    }

    /// `user_id`'s keypair `name`, else `NotFound` kind `keypair`.
    pub async fn keypair_get(&self, _ctx: &Context, user_id: &str, name: &str) -> Result<Keypair> {
        self.store
            .keypair_get(user_id, name)
            .await?
            .ok_or_else(|| Error::not_found("keypair", name))
    }

    /// `user_id`'s keypairs by name, paged by name.
    pub async fn keypair_list(
        &self,
        _ctx: &Context,
        user_id: &str,
        limit: Option<usize>,
        marker: Option<&str>,
    ) -> Result<Vec<Keypair>> {
        self.store.keypair_list(user_id, limit, marker).await
    }

    pub async fn keypair_delete(&self, _ctx: &Context, user_id: &str, name: &str) -> Result<()> {
        if self.store.keypair_delete(user_id, name).await? {
            Ok(())
        } else {
            Err(Error::not_found("keypair", name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{compute, member};

    // Made with `ssh-keygen`; fingerprints from `ssh-keygen -l -E md5`.
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC+0mBJLivcBQPw6jHdfu8n80a0QOL+DjIrEU+mgu6SlXoBaDMj0A9Vk8kxC4oYne/Z7QztbDKPfkrdb5+JTSWU8biNynmfPsm8lA6yKJ94xN9b6RurpGTJuk3eIsq5+Z8xCtVkTysShsn1JqD6wNsHFY+/EN2Lh0zC1s2V2I//Zw== test";
    const RSA_FP: &str = "dd:70:83:72:7c:45:ce:fc:ff:b5:b8:ab:af:29:e4:49";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJZI5ddBwrRI91g8hLVGctV8+5HK/GQMKJOLosNYesOEo1k/6SGv8e2ArewrlypnSpymzmNahPWa4g/ERAf99t0= test";
    const ECDSA_FP: &str = "ed:ad:ba:b0:d4:fc:4e:97:db:3c:00:d0:1e:a7:6d:1c";

    #[test]
    fn fingerprints_match_ssh_keygen() {
        assert_eq!(ssh_fingerprint(RSA).unwrap(), RSA_FP);
        assert_eq!(ssh_fingerprint(ECDSA).unwrap(), ECDSA_FP);
        for bad in [
            "",
            "ssh-rsa",
            "ssh-rsa !!!",
            "ssh-rsa AAAA",
            "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB",
        ] {
            assert_eq!(
                ssh_fingerprint(bad),
                Err(Error::bad_request(
                    "Keypair data is invalid: failed to generate fingerprint"
                )),
                "{bad:?}"
            );
        }
        assert!(x509_fingerprint("not a cert").is_err());
    }

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(
            colon_hex(&sha1(b"abc")).replace(':', ""),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            colon_hex(&sha1(b"")).replace(':', ""),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            colon_hex(&sha1(long)).replace(':', ""),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    #[tokio::test]
    async fn generate_import_get_delete() {
        let (c, _d) = compute().await;
        let ctx = member("p1");
        let (k, private) = c
            .keypair_create(&ctx, "u1", "gen", "ssh", None)
            .await
            .unwrap();
        let private = private.unwrap();
        assert!(private.contains("PRIVATE KEY"), "{private}");
        assert!(k.public_key.starts_with("ssh-ed25519 "), "{}", k.public_key);
        assert_eq!(k.fingerprint, ssh_fingerprint(&k.public_key).unwrap());
        let (imp, none) = c
            .keypair_create(&ctx, "u1", "imp", "ssh", Some(RSA))
            .await
            .unwrap();
        assert!(none.is_none());
        assert_eq!(imp.fingerprint, RSA_FP);
        assert_eq!(
            c.keypair_create(&ctx, "u1", "imp", "ssh", Some(RSA)).await,
            Err(Error::conflict("Key pair 'imp' already exists."))
        );
        assert_eq!(c.keypair_get(&ctx, "u1", "imp").await.unwrap(), imp);
        assert_eq!(
            c.keypair_get(&ctx, "u2", "imp").await,
            Err(Error::not_found("keypair", "imp"))
        );
        c.keypair_delete(&ctx, "u1", "imp").await.unwrap();
        assert!(c.keypair_delete(&ctx, "u1", "imp").await.is_err());
    }

    #[tokio::test]
    async fn x509_generation_and_import() {
        let (c, _d) = compute().await;
        let ctx = member("p1");
        let (k, private) = c
            .keypair_create(&ctx, "u1", "cert", "x509", None)
            .await
            .unwrap();
        assert!(private.unwrap().contains("PRIVATE KEY"));
        assert!(k.public_key.contains("BEGIN CERTIFICATE"));
        let (again, _) = c
            .keypair_create(&ctx, "u1", "cert2", "x509", Some(&k.public_key))
            .await
            .unwrap();
        assert_eq!(again.fingerprint, k.fingerprint);
        assert_eq!(again.fingerprint.len(), 59);
    }
}
