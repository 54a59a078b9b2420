//! `bench image`: upload and download of one large image through the image API
//! (`PUT` / `GET /image/v2/images/{id}/file`) against plain copies of the same bytes on the
//! same filesystem, in one run, with the server's resident memory before and after.
//!
//! Each repetition does, in order: `cp` + fsync of the source, `dd bs=1M conv=fsync` of it,
//! create an image, upload the source (timed until the 204, which the server sends after its
//! own fsync), check the image's size, `checksum` and `os_hash_value`, download the data into a
//! file (timed until that file is fsync'd), check its sha256, delete the image. Every copy is
//! removed as soon as it is timed. The report gives the median of the repetitions.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context as _};
use http::Method;
use serde_json::{json, Value};

use crate::load::{self, Call};
use crate::report::{self, Machine};
use crate::server::{self, Memory, Server};
use crate::transfer::{self, Source};

const IMAGES: &str = "/image/v2/images";
const MB: f64 = 1e6;
/// Share of the plain copy's rate the transfers must reach (issue 3, acceptance 4).
pub const TARGET_RATIO: f64 = 0.70;

/// Options of `bench image`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImageArgs {
    /// Size of the image, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// Repetitions; the report gives the median.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Bytes per chunk the client reads from the file and sends, in KiB.
    #[arg(long, default_value_t = 1024)]
    pub chunk_kib: usize,
    /// Directory for the source file and the copies (default: a temporary directory next to
    /// the server's data directory). Must be on the same filesystem as the data directory.
    #[arg(long)]
    pub scratch: Option<PathBuf>,
}

/// One timed step, over the repetitions.
#[derive(Clone, Debug, Default)]
pub struct Step {
    pub label: &'static str,
    pub secs: Vec<f64>,
    /// CPU cores used during each run: server, load generator, everything else.
    pub cores: Vec<(f64, f64, f64)>,
    /// The server's CPU seconds in each run.
    pub server_cpu: Vec<f64>,
}

impl Step {
    fn new(label: &'static str) -> Step {
        Step {
            label,
            ..Default::default()
        }
    }
}

/// Everything one `bench image` run produced.
#[derive(Clone, Debug, Default)]
pub struct ImageReport {
    pub date: String,
    pub commit: String,
    pub machine: Machine,
    pub command: String,
    pub filesystem: String,
    pub size: u64,
    pub chunk_kib: usize,
    pub steps: Vec<Step>,
    /// Server memory readings, labelled, in order.
    pub memory: Vec<(String, Memory)>,
    pub loadgen: Memory,
    pub checks: Vec<String>,
    pub load_average: (String, String),
}

/// The filesystem holding `path`: type, device and mount point, from `/proc/self/mounts`.
fn filesystem_of(path: &Path) -> String {
    let p = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && p.starts_with(f[1])).then(|| {
                (
                    f[1].len(),
                    format!("{} on {} (mounted at {})", f[2], f[0], f[1]),
                )
            })
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, d)| d)
        .unwrap_or_else(|| "unknown".into())
}

async fn json_call(srv: &Server, call: &Call, want: u16) -> anyhow::Result<Value> {
    let r = load::once(srv.addr, call).await?;
    if r.status.as_u16() != want {
        bail!(
            "{} {}: HTTP {} (wanted {want}): {}",
            call.method,
            call.path,
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&r.body)?)
}

async fn admin_token(srv: &Server) -> anyhow::Result<String> {
    let call = Call::new(Method::POST, &format!("{}?nocatalog", crate::TOKENS))
        .json(&crate::password_body(&srv.admin_password));
    let r = load::once(srv.addr, &call).await?;
    ensure!(
        r.status.as_u16() == 201,
        "admin token issue: HTTP {}",
        r.status
    );
    Ok(r.headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow!("no X-Subject-Token"))?
        .to_string())
}

/// Times `f` and the CPU every party used meanwhile; records both in `step`.
async fn measure<F, Fut>(
    step: &mut Step,
    (pid, tick, bytes): (&str, f64, u64),
    f: F,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<f64>>,
{
    let (s0, m0, a0) = crate::cpu_snapshot(pid)?;
    let wall = std::time::Instant::now();
    let secs = f().await?;
    let elapsed = wall.elapsed().as_secs_f64();
    let (s1, m1, a1) = crate::cpu_snapshot(pid)?;
    let srv = (s1 - s0) as f64 / tick;
    let me = (m1 - m0) as f64 / tick;
    let all = a1.saturating_sub(a0) as f64 / tick;
    step.secs.push(secs);
    step.server_cpu.push(srv);
    step.cores.push((
        srv / elapsed,
        me / elapsed,
        ((all - srv - me) / elapsed).max(0.0),
    ));
    eprintln!(
        "{}: {:.2} s = {:.0} MB/s (server {:.2} cores, loadgen {:.2}, others {:.2})",
        step.label,
        secs,
        bytes as f64 / MB / secs,
        srv / elapsed,
        me / elapsed,
        ((all - srv - me) / elapsed).max(0.0)
    );
    Ok(())
}

fn remove(p: &Path) {
    let _ = std::fs::remove_file(p);
}

/// The `blobs` left in the server's image store.
fn blob_count(data_dir: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(data_dir.join("images").join("blobs")) else {
        return 0;
    };
    dirs.flatten()
        .map(|d| std::fs::read_dir(d.path()).map_or(0, |f| f.count()))
        .sum()
}

/// One repetition: the two copies, the upload, the download, the clean-up.
async fn repetition(
    cx: &Cx<'_>,
    steps: &mut [Step; 4],
    memory: &mut Vec<(String, Memory)>,
    checks: &mut Vec<String>,
    rep: usize,
) -> anyhow::Result<()> {
    let Cx {
        srv,
        args,
        ia,
        src,
        scratch,
        token,
        tick,
    } = *cx;
    let pid = srv.pid.to_string();
    let m = (pid.as_str(), tick, src.size);
    let copy = scratch.join("copy.bin");
    let quiet = || crate::wait_quiet(args.quiet_wait, args.quiet_cores, tick);
    if args.quiet_wait > 0.0 {
        quiet().await?;
    }
    measure(&mut steps[0], m, || async {
        transfer::copy_cp(&src.path, &copy)
    })
    .await?;
    remove(&copy);
    if args.quiet_wait > 0.0 {
        quiet().await?;
    }
    measure(&mut steps[1], m, || async {
        transfer::copy_dd(&src.path, &copy)
    })
    .await?;
    remove(&copy);

    let create = Call::new(Method::POST, IMAGES)
        .header("x-auth-token", token)?
        .json(&json!({"name": format!("bench-{rep}"), "disk_format": "raw", "container_format": "bare"}));
    let img = json_call(srv, &create, 201).await?;
    let id = img["id"]
        .as_str()
        .ok_or_else(|| anyhow!("create answered no id: {img}"))?
        .to_string();
    let file = format!("{IMAGES}/{id}/file");
    if args.quiet_wait > 0.0 {
        quiet().await?;
    }
    let chunk = ia.chunk_kib.max(1) * 1024;
    measure(&mut steps[2], m, || async {
        let t = transfer::upload(srv.addr, &file, token, &src.path, src.size, chunk).await?;
        ensure!(
            t.status.as_u16() == 204,
            "upload: HTTP {}: {}",
            t.status,
            t.error_body
        );
        Ok(t.secs)
    })
    .await?;
    memory.push((
        format!("after upload {}", rep + 1),
        server::memory(srv.pid)?,
    ));
    let show = Call::new(Method::GET, &format!("{IMAGES}/{id}")).header("x-auth-token", token)?;
    let img = json_call(srv, &show, 200).await?;
    let want = ("active", src.size, src.md5.as_str(), src.sha512.as_str());
    let got = (
        img["status"].as_str().unwrap_or_default(),
        img["size"].as_u64().unwrap_or_default(),
        img["checksum"].as_str().unwrap_or_default(),
        img["os_hash_value"].as_str().unwrap_or_default(),
    );
    ensure!(
        got == want,
        "the uploaded image is not the source: {got:?} != {want:?}"
    );

    let dest = scratch.join("download.bin");
    if args.quiet_wait > 0.0 {
        quiet().await?;
    }
    measure(&mut steps[3], m, || async {
        let t = transfer::download(srv.addr, &file, token, &dest).await?;
        ensure!(
            t.status.as_u16() == 200,
            "download: HTTP {}: {}",
            t.status,
            t.error_body
        );
        ensure!(
            t.bytes == src.size,
            "download: {} of {} bytes",
            t.bytes,
            src.size
        );
        Ok(t.secs)
    })
    .await?;
    memory.push((
        format!("after download {}", rep + 1),
        server::memory(srv.pid)?,
    ));
    let (sha, n) = transfer::sha256_file(&dest)?;
    remove(&dest);
    ensure!(
        sha == src.sha256 && n == src.size,
        "the download differs from the source: {n} bytes, sha256 {sha}"
    );
    let delete =
        Call::new(Method::DELETE, &format!("{IMAGES}/{id}")).header("x-auth-token", token)?;
    json_call(srv, &delete, 204).await?;
    let left = blob_count(&srv.data_dir);
    ensure!(
        left == 0,
        "{left} blobs left in the store after deleting the image"
    );
    checks.push(format!(
        "run {}: image active with size {}, `checksum` = the source's md5 and `os_hash_value` = its sha512; the download's sha256 = the source's; image deleted, no blob left",
        rep + 1,
        src.size
    ));
    Ok(())
}

/// What a repetition needs.
#[derive(Clone, Copy)]
struct Cx<'a> {
    srv: &'a Server,
    args: &'a crate::Args,
    ia: &'a ImageArgs,
    src: &'a Source,
    scratch: &'a Path,
    token: &'a str,
    tick: f64,
}

pub(crate) async fn bench(args: &crate::Args, ia: &ImageArgs) -> anyhow::Result<ImageReport> {
    ensure!(
        ia.size_mib > 0 && ia.reps > 0,
        "--size-mib and --reps must be positive"
    );
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let machine = Machine::probe();
    let load_before = server::load_average();
    let tick = server::clock_ticks() as f64;
    let bin = server::resolve_binary(args.no_build)?;
    let srv = Server::start(&server::Options {
        bin,
        bcrypt_cost: args.bcrypt_cost,
        data_dir: args.data_dir.clone(),
    })?;
    eprintln!("ferrostack pid {} at http://{}", srv.pid, srv.addr);
    let parent = srv
        .data_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let (_tmp, scratch) = match &ia.scratch {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (None, d.clone())
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("ferrostack-imagebench-")
                .tempdir_in(&parent)?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let (dev_scratch, dev_data) = (
        std::fs::metadata(&scratch)?.dev(),
        std::fs::metadata(&srv.data_dir)?.dev(),
    );
    ensure!(
        dev_scratch == dev_data,
        "{} and the server's data directory {} are on different filesystems",
        scratch.display(),
        srv.data_dir.display()
    );
    let size = ia.size_mib << 20;
    eprintln!(
        "writing {} MiB of random data to {}...",
        ia.size_mib,
        scratch.display()
    );
    let src_path = scratch.join("source.bin");
    let src = transfer::make_source(&src_path, size).context("write the source file")?;
    let token = admin_token(&srv)
        .await
        .with_context(|| format!("login; server log:\n{}", srv.log_tail()))?;
    tokio::time::sleep(crate::secs(args.idle)).await;
    let mut memory = vec![(
        "after start and login, before any image data".to_string(),
        server::memory(srv.pid)?,
    )];
    let mut steps = [
        Step::new("plain copy: `cp` + fsync"),
        Step::new("plain copy: `dd bs=1M conv=fsync`"),
        Step::new("upload: `PUT /image/v2/images/{id}/file`"),
        Step::new("download: `GET /image/v2/images/{id}/file` to a file + fsync"),
    ];
    let mut checks = Vec::new();
    let cx = Cx {
        srv: &srv,
        args,
        ia,
        src: &src,
        scratch: &scratch,
        token: &token,
        tick,
    };
    for rep in 0..ia.reps {
        eprintln!("repetition {} of {}", rep + 1, ia.reps);
        repetition(&cx, &mut steps, &mut memory, &mut checks, rep)
            .await
            .with_context(|| format!("repetition {}; server log:\n{}", rep + 1, srv.log_tail()))?;
    }
    tokio::time::sleep(crate::secs(args.idle)).await;
    memory.push(("at the end, idle".to_string(), server::memory(srv.pid)?));
    remove(&src_path);
    let filesystem = filesystem_of(&scratch);
    srv.stop();
    let cmdline: Vec<String> = std::env::args().skip(1).collect();
    Ok(ImageReport {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        commit: report::git_commit(&workspace),
        machine,
        command: format!("cargo xtask bench -- {}", cmdline.join(" ")),
        filesystem,
        size,
        chunk_kib: ia.chunk_kib,
        steps: steps.to_vec(),
        memory,
        loadgen: server::memory(std::process::id())?,
        checks,
        load_average: (load_before, server::load_average()),
    })
}
