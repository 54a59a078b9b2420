//! The `file` volume driver: every volume is a sparse raw file on this host.
//!
//! Layout under `volume_dir`:
//! - `volumes/<id>.raw`: a volume. New data is written to `<id>.raw.part` and renamed, so a
//!   crash never leaves a half-written file under a volume's name (a `.part` file is garbage
//!   that the next operation on that id overwrites).
//! - `snapshots/<id>.raw`: a snapshot, a copy of its volume (`cp --reflink=auto`: a reflink
//!   where the filesystem can, else a sparse copy).
//! - `exports/<volume>.<attachment>.json`: one record per export. A local export (the compute
//!   host is this host) hands over the file itself; an NBD export is a `qemu-storage-daemon`
//!   whose pid and port the record keeps, so exports outlive a restart of this process (a
//!   running guest keeps its disk) and are found again by [`VolumeDriver::list_exports`].
//!
//! Layout under `backup_dir`: `chunks/<ab>/<sha256>` holds each distinct non-zero 4 MiB chunk
//! once; `backups/<id>.json` lists a backup's chunks by offset (`zero` for all-zero ones).
//! A backup with a parent is incremental by construction: only chunks the store lacks are
//! written. Deleting a backup removes the chunks no remaining backup names.
//!
//! Every method is idempotent, as the contract asks: the domain layer replays them after a
//! crash.

use std::collections::BTreeSet;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::process::Command;
use volume_model::driver::{
    BackupResult, Capacity, Connection, Connector, DriverError, DriverResult, VolumeDriver,
};

const GIB: u64 = 1 << 30;
/// Backup chunk size.
pub const CHUNK: usize = 4 << 20;

/// Where and how the driver keeps volumes (filled from the `[volume]` section).
#[derive(Debug, Clone)]
pub struct FileDriverConfig {
    pub volume_dir: PathBuf,
    pub backup_dir: PathBuf,
    pub capacity_gb: i64,
    /// `auto` (the file itself for a local connector) or `nbd` (always an NBD export).
    pub export: String,
    /// Address NBD exports listen on.
    pub nbd_host: String,
    /// Ports NBD exports may use, inclusive.
    pub nbd_ports: (u16, u16),
}

/// The `file` driver. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FileDriver {
    cfg: FileDriverConfig,
}

/// One export, as recorded on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ExportRecord {
    volume_id: String,
    attachment_id: String,
    /// `local` or `nbd`.
    kind: String,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: u16,
}

/// A backup's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    volume_id: String,
    size: u64,
    parent: Option<String>,
    /// Per chunk, in order: its sha256 (hex) or `zero`.
    chunks: Vec<String>,
    stored_bytes: u64,
}

fn failed(what: &str, e: impl std::fmt::Display) -> DriverError {
    DriverError::Failed(format!("{what}: {e}"))
}

/// Ids become file names: letters, digits and `-` only, 1 to 64 of them.
fn check_id(id: &str) -> DriverResult<()> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(DriverError::Invalid(format!("invalid id {id:?}")));
    }
    Ok(())
}

fn check_format(format: &str) -> DriverResult<()> {
    match format {
        "raw" | "qcow2" => Ok(()),
        other => Err(DriverError::Invalid(format!(
            "disk format {other:?} is not supported (raw, qcow2)"
        ))),
    }
}

async fn exists(p: &Path) -> bool {
    tokio::fs::metadata(p).await.is_ok()
}

async fn remove(p: &Path) -> DriverResult<()> {
    match tokio::fs::remove_file(p).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(failed(&format!("remove {}", p.display()), e)),
    }
}

/// Runs a host tool; `Failed` with its stderr when it fails.
async fn run(program: &str, args: &[&str]) -> DriverResult<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| failed(&format!("run {program}"), e))?;
    if !out.status.success() {
        return Err(DriverError::Failed(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn part(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Grows `p` to `size_gb` GiB (never shrinks).
async fn grow(p: &Path, size_gb: i64) -> DriverResult<()> {
    let want = u64::try_from(size_gb).unwrap_or(0) * GIB;
    let f = tokio::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .await
        .map_err(|e| failed(&format!("open {}", p.display()), e))?;
    let len = f.metadata().await.map_err(|e| failed("stat", e))?.len();
    if want > len {
        f.set_len(want).await.map_err(|e| failed("grow", e))?;
    }
    f.sync_all().await.map_err(|e| failed("sync", e))?;
    Ok(())
}

/// Copies `src` to `dst` through `dst.part` (a reflink where the filesystem can, else a
/// sparse copy), then grows it to `size_gb`.
async fn copy_into(src: &Path, dst: &Path, size_gb: Option<i64>) -> DriverResult<()> {
    let tmp = part(dst);
    remove(&tmp).await?;
    let (s, t) = (src.display().to_string(), tmp.display().to_string());
    run("cp", &["--reflink=auto", "--sparse=always", &s, &t]).await?;
    if let Some(gb) = size_gb {
        grow(&tmp, gb).await?;
    }
    tokio::fs::rename(&tmp, dst)
        .await
        .map_err(|e| failed("rename", e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl FileDriver {
    /// The driver over its directories (created if missing).
    pub fn new(cfg: FileDriverConfig) -> std::io::Result<FileDriver> {
        for d in ["volumes", "snapshots", "exports"] {
            std::fs::create_dir_all(cfg.volume_dir.join(d))?;
        }
        for d in ["chunks", "backups"] {
            std::fs::create_dir_all(cfg.backup_dir.join(d))?;
        }
        Ok(FileDriver { cfg })
    }

    /// The file of volume `id` (which need not exist).
    pub fn volume_path(&self, id: &str) -> PathBuf {
        self.cfg
            .volume_dir
            .join("volumes")
            .join(format!("{id}.raw"))
    }

    fn snapshot_path(&self, id: &str) -> PathBuf {
        self.cfg
            .volume_dir
            .join("snapshots")
            .join(format!("{id}.raw"))
    }

    fn export_path(&self, volume_id: &str, attachment_id: &str) -> PathBuf {
        self.cfg
            .volume_dir
            .join("exports")
            .join(format!("{volume_id}.{attachment_id}.json"))
    }

    fn manifest_path(&self, backup_id: &str) -> PathBuf {
        self.cfg
            .backup_dir
            .join("backups")
            .join(format!("{backup_id}.json"))
    }

    async fn records(&self) -> DriverResult<Vec<ExportRecord>> {
        let dir = self.cfg.volume_dir.join("exports");
        let mut rd = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| failed("list exports", e))?;
        let mut out = Vec::new();
        while let Some(e) = rd
            .next_entry()
            .await
            .map_err(|e| failed("list exports", e))?
        {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let Ok(text) = tokio::fs::read(&p).await else {
                continue;
            };
            match serde_json::from_slice::<ExportRecord>(&text) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "unreadable export record")
                }
            }
        }
        Ok(out)
    }

    async fn write_record(&self, r: &ExportRecord) -> DriverResult<()> {
        let p = self.export_path(&r.volume_id, &r.attachment_id);
        let tmp = part(&p);
        let text = serde_json::to_vec_pretty(r).map_err(|e| failed("encode export", e))?;
        tokio::fs::write(&tmp, text)
            .await
            .map_err(|e| failed("write export record", e))?;
        tokio::fs::rename(&tmp, &p)
            .await
            .map_err(|e| failed("rename export record", e))
    }

    /// Whether `pid` is a `qemu-storage-daemon` serving `file`.
    fn is_our_daemon(pid: u32, file: &Path) -> bool {
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        cmd.contains("qemu-storage-daemon") && cmd.contains(&*file.to_string_lossy())
    }

    async fn stop_daemon(pid: u32, file: &Path) -> DriverResult<()> {
        if !Self::is_our_daemon(pid, file) {
            return Ok(());
        }
        let _ = run("kill", &["-TERM", &pid.to_string()]).await;
        for _ in 0..50 {
            if !Self::is_our_daemon(pid, file) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = run("kill", &["-KILL", &pid.to_string()]).await;
        Ok(())
    }

    async fn nbd_export(&self, id: &str, attachment_id: &str) -> DriverResult<ExportRecord> {
        let file = self.volume_path(id);
        let used: BTreeSet<u16> = self.records().await?.iter().map(|r| r.port).collect();
        let (first, last) = self.cfg.nbd_ports;
        let pidfile = self
            .cfg
            .volume_dir
            .join("exports")
            .join(format!("{id}.{attachment_id}.pid"));
        let mut last_err = String::from("no free port");
        for port in first..=last {
            if used.contains(&port) {
                continue;
            }
            remove(&pidfile).await?;
            let blockdev = format!(
                "driver=file,node-name=f0,filename={}",
                file.display().to_string().replace(',', ",,")
            );
            let server = format!(
                "addr.type=inet,addr.host={},addr.port={port}",
                self.cfg.nbd_host
            );
            let export = format!("type=nbd,id=e0,node-name=f0,name={id},writable=on");
            let pf = pidfile.display().to_string();
            match run(
                "qemu-storage-daemon",
                &[
                    "--blockdev",
                    &blockdev,
                    "--nbd-server",
                    &server,
                    "--export",
                    &export,
                    "--pidfile",
                    &pf,
                    "--daemonize",
                ],
            )
            .await
            {
                Ok(_) => {
                    let pid = tokio::fs::read_to_string(&pidfile)
                        .await
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok())
                        .ok_or_else(|| failed("read the NBD daemon's pid", "no pid file"))?;
                    let _ = remove(&pidfile).await;
                    return Ok(ExportRecord {
                        volume_id: id.to_string(),
                        attachment_id: attachment_id.to_string(),
                        kind: "nbd".into(),
                        pid: Some(pid),
                        host: self.cfg.nbd_host.clone(),
                        port,
                    });
                }
                Err(e) => last_err = e.to_string(),
            }
        }
        Err(DriverError::Failed(format!(
            "export {id} over NBD: {last_err}"
        )))
    }

    fn backup_sync(
        &self,
        volume_id: &str,
        backup_id: &str,
        parent: Option<&str>,
    ) -> DriverResult<BackupResult> {
        let mpath = self.manifest_path(backup_id);
        if let Ok(text) = std::fs::read(&mpath) {
            if let Ok(m) = serde_json::from_slice::<Manifest>(&text) {
                return Ok(BackupResult {
                    stored_bytes: m.stored_bytes,
                    incremental: m.parent.is_some(),
                });
            }
        }
        if let Some(p) = parent {
            check_id(p)?;
            if !self.manifest_path(p).exists() {
                return Err(DriverError::NotFound(format!("backup {p}")));
            }
        }
        let src = self.volume_path(volume_id);
        let mut f = std::fs::File::open(&src).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DriverError::NotFound(format!("volume {volume_id}")),
            _ => failed("open volume", e),
        })?;
        let size = f.metadata().map_err(|e| failed("stat volume", e))?.len();
        let mut buf = vec![0u8; CHUNK];
        let mut chunks = Vec::new();
        let mut stored = 0u64;
        loop {
            let mut n = 0;
            while n < CHUNK {
                let r = f
                    .read(&mut buf[n..])
                    .map_err(|e| failed("read volume", e))?;
                if r == 0 {
                    break;
                }
                n += r;
            }
            if n == 0 {
                break;
            }
            let data = &buf[..n];
            if data.iter().all(|&b| b == 0) {
                chunks.push("zero".to_string());
            } else {
                let h = hex(&Sha256::digest(data));
                let dir = self.cfg.backup_dir.join("chunks").join(&h[..2]);
                let path = dir.join(&h);
                if !path.exists() {
                    std::fs::create_dir_all(&dir).map_err(|e| failed("chunk dir", e))?;
                    let tmp = part(&path);
                    let mut out =
                        std::fs::File::create(&tmp).map_err(|e| failed("write chunk", e))?;
                    out.write_all(data).map_err(|e| failed("write chunk", e))?;
                    out.sync_all().map_err(|e| failed("sync chunk", e))?;
                    std::fs::rename(&tmp, &path).map_err(|e| failed("rename chunk", e))?;
                    stored += n as u64;
                }
                chunks.push(h);
            }
            if n < CHUNK {
                break;
            }
        }
        let m = Manifest {
            volume_id: volume_id.to_string(),
            size,
            parent: parent.map(str::to_string),
            chunks,
            stored_bytes: stored,
        };
        let tmp = part(&mpath);
        std::fs::write(
            &tmp,
            serde_json::to_vec(&m).map_err(|e| failed("encode manifest", e))?,
        )
        .map_err(|e| failed("write manifest", e))?;
        std::fs::rename(&tmp, &mpath).map_err(|e| failed("rename manifest", e))?;
        Ok(BackupResult {
            stored_bytes: stored,
            incremental: parent.is_some(),
        })
    }

    fn manifest(&self, backup_id: &str) -> DriverResult<Manifest> {
        let text = std::fs::read(self.manifest_path(backup_id)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DriverError::NotFound(format!("backup {backup_id}")),
            _ => failed("read manifest", e),
        })?;
        serde_json::from_slice(&text).map_err(|e| failed("decode manifest", e))
    }

    fn restore_sync(&self, backup_id: &str, volume_id: &str) -> DriverResult<()> {
        let m = self.manifest(backup_id)?;
        let dst = self.volume_path(volume_id);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&dst)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    DriverError::NotFound(format!("volume {volume_id}"))
                }
                _ => failed("open volume", e),
            })?;
        let len = f.metadata().map_err(|e| failed("stat volume", e))?.len();
        if len < m.size {
            return Err(DriverError::Invalid(format!(
                "volume {volume_id} ({len} bytes) is smaller than backup {backup_id} ({} bytes)",
                m.size
            )));
        }
        // The whole volume is replaced: zero it (sparsely), then write the data chunks.
        f.set_len(0).map_err(|e| failed("clear volume", e))?;
        f.set_len(len).map_err(|e| failed("clear volume", e))?;
        for (i, h) in m.chunks.iter().enumerate() {
            if h == "zero" {
                continue;
            }
            let data = std::fs::read(
                self.cfg
                    .backup_dir
                    .join("chunks")
                    .join(&h[..2.min(h.len())])
                    .join(h),
            )
            .map_err(|e| failed(&format!("read chunk {h}"), e))?;
            f.seek(SeekFrom::Start((i * CHUNK) as u64))
                .map_err(|e| failed("seek volume", e))?;
            f.write_all(&data).map_err(|e| failed("write volume", e))?;
        }
        f.sync_all().map_err(|e| failed("sync volume", e))
    }

    fn delete_backup_sync(&self, backup_id: &str) -> DriverResult<()> {
        let p = self.manifest_path(backup_id);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed("remove manifest", e)),
        }
        // Chunks no remaining manifest names go.
        let mut keep = BTreeSet::new();
        let dir = self.cfg.backup_dir.join("backups");
        for e in std::fs::read_dir(&dir)
            .map_err(|e| failed("list backups", e))?
            .flatten()
        {
            if let Ok(text) = std::fs::read(e.path()) {
                if let Ok(m) = serde_json::from_slice::<Manifest>(&text) {
                    keep.extend(m.chunks);
                }
            }
        }
        let chunks = self.cfg.backup_dir.join("chunks");
        for sub in std::fs::read_dir(&chunks)
            .map_err(|e| failed("list chunks", e))?
            .flatten()
        {
            for c in std::fs::read_dir(sub.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = c.file_name().to_string_lossy().into_owned();
                if !keep.contains(&name) {
                    let _ = std::fs::remove_file(c.path());
                }
            }
        }
        Ok(())
    }

    async fn list_ids(&self, sub: &str) -> DriverResult<Vec<String>> {
        let mut rd = tokio::fs::read_dir(self.cfg.volume_dir.join(sub))
            .await
            .map_err(|e| failed("list", e))?;
        let mut out = Vec::new();
        while let Some(e) = rd.next_entry().await.map_err(|e| failed("list", e))? {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".raw") {
                out.push(id.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> DriverResult<T> + Send + 'static,
) -> DriverResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| failed("background task", e))?
}

#[async_trait::async_trait]
impl VolumeDriver for FileDriver {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn capacity(&self) -> DriverResult<Capacity> {
        let mut used = 0u64;
        for (sub, ids) in [
            ("volumes", self.list_volumes().await?),
            ("snapshots", self.list_snapshots().await?),
        ] {
            for id in ids {
                let p = self.cfg.volume_dir.join(sub).join(format!("{id}.raw"));
                if let Ok(m) = tokio::fs::metadata(&p).await {
                    used += m.len();
                }
            }
        }
        let used_gb = used.div_ceil(GIB) as i64;
        Ok(Capacity {
            total_gb: self.cfg.capacity_gb,
            free_gb: (self.cfg.capacity_gb - used_gb).max(0),
        })
    }

    async fn list_volumes(&self) -> DriverResult<Vec<String>> {
        self.list_ids("volumes").await
    }

    async fn list_snapshots(&self) -> DriverResult<Vec<String>> {
        self.list_ids("snapshots").await
    }

    async fn list_exports(&self) -> DriverResult<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = self
            .records()
            .await?
            .into_iter()
            .map(|r| (r.volume_id, r.attachment_id))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn create(&self, id: &str, size_gb: i64) -> DriverResult<()> {
        check_id(id)?;
        let p = self.volume_path(id);
        if exists(&p).await {
            return grow(&p, size_gb).await;
        }
        let tmp = part(&p);
        tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| failed("create volume", e))?;
        grow(&tmp, size_gb).await?;
        tokio::fs::rename(&tmp, &p)
            .await
            .map_err(|e| failed("rename volume", e))
    }

    async fn create_from_image(
        &self,
        id: &str,
        size_gb: i64,
        image: &Path,
        format: &str,
    ) -> DriverResult<()> {
        check_id(id)?;
        check_format(format)?;
        let p = self.volume_path(id);
        if exists(&p).await {
            return grow(&p, size_gb).await;
        }
        let src = image.display().to_string();
        let info = run("qemu-img", &["info", "--output=json", "-f", format, &src]).await?;
        let virtual_size = serde_json::from_str::<serde_json::Value>(&info)
            .ok()
            .and_then(|v| v["virtual-size"].as_u64())
            .ok_or_else(|| failed("read the image's virtual size", &info))?;
        let want = u64::try_from(size_gb).unwrap_or(0) * GIB;
        if virtual_size > want {
            return Err(DriverError::Invalid(format!(
                "Image virtual size is {}GB and doesn't fit in a volume of size {size_gb}GB.",
                virtual_size.div_ceil(GIB)
            )));
        }
        let tmp = part(&p);
        remove(&tmp).await?;
        let t = tmp.display().to_string();
        run(
            "qemu-img",
            &["convert", "-f", format, "-O", "raw", &src, &t],
        )
        .await?;
        grow(&tmp, size_gb).await?;
        tokio::fs::rename(&tmp, &p)
            .await
            .map_err(|e| failed("rename volume", e))
    }

    async fn create_from_snapshot(
        &self,
        id: &str,
        size_gb: i64,
        snapshot_id: &str,
    ) -> DriverResult<()> {
        check_id(id)?;
        check_id(snapshot_id)?;
        let p = self.volume_path(id);
        if exists(&p).await {
            return grow(&p, size_gb).await;
        }
        let src = self.snapshot_path(snapshot_id);
        if !exists(&src).await {
            return Err(DriverError::NotFound(format!("snapshot {snapshot_id}")));
        }
        copy_into(&src, &p, Some(size_gb)).await
    }

    async fn clone_volume(&self, id: &str, size_gb: i64, source_id: &str) -> DriverResult<()> {
        check_id(id)?;
        check_id(source_id)?;
        let p = self.volume_path(id);
        if exists(&p).await {
            return grow(&p, size_gb).await;
        }
        let src = self.volume_path(source_id);
        if !exists(&src).await {
            return Err(DriverError::NotFound(format!("volume {source_id}")));
        }
        copy_into(&src, &p, Some(size_gb)).await
    }

    async fn delete(&self, id: &str) -> DriverResult<()> {
        check_id(id)?;
        for r in self.records().await? {
            if r.volume_id == id {
                self.unexport(id, &r.attachment_id).await?;
            }
        }
        let p = self.volume_path(id);
        remove(&part(&p)).await?;
        remove(&p).await
    }

    async fn extend(&self, id: &str, new_size_gb: i64) -> DriverResult<()> {
        check_id(id)?;
        let p = self.volume_path(id);
        let len = tokio::fs::metadata(&p)
            .await
            .map_err(|_| DriverError::NotFound(format!("volume {id}")))?
            .len();
        let want = u64::try_from(new_size_gb).unwrap_or(0) * GIB;
        if want < len {
            return Err(DriverError::Invalid(format!(
                "volume {id} cannot shrink from {len} to {want} bytes"
            )));
        }
        grow(&p, new_size_gb).await
    }

    async fn create_snapshot(&self, snapshot_id: &str, volume_id: &str) -> DriverResult<()> {
        check_id(snapshot_id)?;
        check_id(volume_id)?;
        let dst = self.snapshot_path(snapshot_id);
        if exists(&dst).await {
            return Ok(());
        }
        let src = self.volume_path(volume_id);
        if !exists(&src).await {
            return Err(DriverError::NotFound(format!("volume {volume_id}")));
        }
        copy_into(&src, &dst, None).await
    }

    async fn delete_snapshot(&self, snapshot_id: &str) -> DriverResult<()> {
        check_id(snapshot_id)?;
        let p = self.snapshot_path(snapshot_id);
        remove(&part(&p)).await?;
        remove(&p).await
    }

    async fn copy_to_image(&self, id: &str, dest: &Path, format: &str) -> DriverResult<()> {
        check_id(id)?;
        check_format(format)?;
        let src = self.volume_path(id);
        if !exists(&src).await {
            return Err(DriverError::NotFound(format!("volume {id}")));
        }
        let (s, d) = (src.display().to_string(), dest.display().to_string());
        run("qemu-img", &["convert", "-f", "raw", "-O", format, &s, &d])
            .await
            .map(|_| ())
    }

    async fn export(
        &self,
        id: &str,
        attachment_id: &str,
        connector: &Connector,
    ) -> DriverResult<Connection> {
        check_id(id)?;
        check_id(attachment_id)?;
        let file = self.volume_path(id);
        if !exists(&file).await {
            return Err(DriverError::NotFound(format!("volume {id}")));
        }
        let existing = self
            .records()
            .await?
            .into_iter()
            .find(|r| r.volume_id == id && r.attachment_id == attachment_id);
        let record = match existing {
            Some(r) if r.kind == "local" => r,
            Some(r) if r.pid.is_some_and(|p| Self::is_our_daemon(p, &file)) => r,
            _ if connector.local && self.cfg.export == "auto" => ExportRecord {
                volume_id: id.to_string(),
                attachment_id: attachment_id.to_string(),
                kind: "local".into(),
                pid: None,
                host: String::new(),
                port: 0,
            },
            _ => self.nbd_export(id, attachment_id).await?,
        };
        self.write_record(&record).await?;
        Ok(match record.kind.as_str() {
            "local" => Connection::Local {
                device_path: file,
                format: "raw".into(),
            },
            _ => Connection::Nbd {
                host: record.host,
                port: record.port,
                export: id.to_string(),
                format: "raw".into(),
            },
        })
    }

    async fn unexport(&self, id: &str, attachment_id: &str) -> DriverResult<()> {
        check_id(id)?;
        check_id(attachment_id)?;
        let p = self.export_path(id, attachment_id);
        let Ok(text) = tokio::fs::read(&p).await else {
            return Ok(());
        };
        if let Ok(r) = serde_json::from_slice::<ExportRecord>(&text) {
            if let Some(pid) = r.pid {
                Self::stop_daemon(pid, &self.volume_path(id)).await?;
            }
        }
        remove(&p).await
    }

    async fn backup(
        &self,
        volume_id: &str,
        backup_id: &str,
        parent: Option<&str>,
    ) -> DriverResult<BackupResult> {
        check_id(volume_id)?;
        check_id(backup_id)?;
        let (me, v, b, p) = (
            self.clone(),
            volume_id.to_string(),
            backup_id.to_string(),
            parent.map(str::to_string),
        );
        blocking(move || me.backup_sync(&v, &b, p.as_deref())).await
    }

    async fn restore(&self, backup_id: &str, volume_id: &str) -> DriverResult<()> {
        check_id(volume_id)?;
        check_id(backup_id)?;
        let (me, v, b) = (self.clone(), volume_id.to_string(), backup_id.to_string());
        blocking(move || me.restore_sync(&b, &v)).await
    }

    async fn delete_backup(&self, backup_id: &str) -> DriverResult<()> {
        check_id(backup_id)?;
        let (me, b) = (self.clone(), backup_id.to_string());
        blocking(move || me.delete_backup_sync(&b)).await
    }
}
