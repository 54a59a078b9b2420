//! Moving one large file: a streamed HTTP upload and download over one hyper HTTP/1.1
//! connection, the plain copies they are compared with, and the hashes that check them.
//!
//! Neither side ever holds the file whole: the upload body is fed by a reader thread, a few
//! chunks ahead at most (a bounded channel), and the download is drained by a writer thread
//! the same way, so the load generator's own memory stays small.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll};
use std::time::Instant;

use anyhow::{anyhow, ensure, Context as _};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use md5::Digest as _;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Chunks in flight between the file thread and the connection.
const CHANNEL_DEPTH: usize = 4;

/// A request body fed chunk by chunk by a reader thread.
struct ChannelBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    remaining: u64,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Reads `path` in `chunk`-byte pieces into a bounded channel, on a thread of its own.
fn spawn_reader(path: PathBuf, chunk: usize) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    std::thread::spawn(move || {
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        loop {
            // `read_to_end` into spare capacity: no zeroing, no reallocation.
            let mut buf = Vec::with_capacity(chunk);
            match (&mut f).take(chunk as u64).read_to_end(&mut buf) {
                Ok(0) => return,
                Ok(_) => {
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

async fn connect<B>(addr: SocketAddr) -> anyhow::Result<(SendRequest<B>, HeaderValue)>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, HeaderValue::from_str(&addr.to_string())?))
}

/// How one transfer went.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub status: StatusCode,
    /// Body bytes moved (sent for an upload, written for a download).
    pub bytes: u64,
    pub secs: f64,
    /// The response body when it was not a success (for the report), else empty.
    pub error_body: String,
}

/// `PUT path` with the file as an `application/octet-stream` body of `size` bytes, read in
/// `chunk`-byte pieces. Timed from the request to the end of the response.
pub async fn upload(
    addr: SocketAddr,
    path: &str,
    token: &str,
    file: &Path,
    size: u64,
    chunk: usize,
) -> anyhow::Result<Transfer> {
    let (mut sender, host) = connect::<ChannelBody>(addr).await?;
    let start = Instant::now();
    let body = ChannelBody {
        rx: spawn_reader(file.to_path_buf(), chunk),
        remaining: size,
    };
    let req = Request::builder()
        .method(Method::PUT)
        .uri(path)
        .header(HOST, host)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, size)
        .header("x-auth-token", token)
        .body(body)?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let secs = start.elapsed().as_secs_f64();
    Ok(Transfer {
        status,
        bytes: size,
        secs,
        error_body: if status.is_success() {
            String::new()
        } else {
            String::from_utf8_lossy(&body).chars().take(300).collect()
        },
    })
}

/// `GET path` into the file `dest` (created), written by a thread of its own and fsync'd at
/// the end. Timed from the request until the data is on disk.
pub async fn download(
    addr: SocketAddr,
    path: &str,
    token: &str,
    dest: &Path,
) -> anyhow::Result<Transfer> {
    let (mut sender, host) = connect::<Empty<Bytes>>(addr).await?;
    let start = Instant::now();
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(HOST, host)
        .header("x-auth-token", token)
        .body(Empty::new())?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.into_body().collect().await?.to_bytes();
        return Ok(Transfer {
            status,
            bytes: 0,
            secs: start.elapsed().as_secs_f64(),
            error_body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        });
    }
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH * 4);
    let (done_tx, done_rx) = oneshot::channel::<std::io::Result<u64>>();
    let dest = dest.to_path_buf();
    std::thread::spawn(move || {
        let res = (|| {
            let mut f = File::create(&dest)?;
            let mut n = 0u64;
            while let Some(b) = rx.blocking_recv() {
                f.write_all(&b)?;
                n += b.len() as u64;
            }
            f.sync_all()?;
            Ok(n)
        })();
        let _ = done_tx.send(res);
    });
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if tx.send(data).await.is_err() {
                break;
            }
        }
    }
    drop(tx);
    let bytes = done_rx
        .await
        .map_err(|_| anyhow!("download writer thread died"))?
        .context("write the download")?;
    Ok(Transfer {
        status,
        bytes,
        secs: start.elapsed().as_secs_f64(),
        error_body: String::new(),
    })
}

/// `cp src dst`, then fsync of `dst`; seconds.
pub fn copy_cp(src: &Path, dst: &Path) -> anyhow::Result<f64> {
    let t = Instant::now();
    let st = Command::new("cp").arg(src).arg(dst).status()?;
    ensure!(st.success(), "cp failed: {st}");
    File::open(dst)?.sync_all()?;
    Ok(t.elapsed().as_secs_f64())
}

/// `dd if=src of=dst bs=1M conv=fsync`; seconds.
pub fn copy_dd(src: &Path, dst: &Path) -> anyhow::Result<f64> {
    let t = Instant::now();
    let st = Command::new("dd")
        .arg(format!("if={}", src.display()))
        .arg(format!("of={}", dst.display()))
        .args(["bs=1M", "conv=fsync", "status=none"])
        .status()?;
    ensure!(st.success(), "dd failed: {st}");
    Ok(t.elapsed().as_secs_f64())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The benchmark's data: random bytes in a file, and their hashes.
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub sha512: String,
    pub md5: String,
}

/// Writes `size` bytes from `/dev/urandom` (incompressible) to `path`, hashing them on the
/// way, and fsyncs the file. The data stays in the page cache for what follows.
pub fn make_source(path: &Path, size: u64) -> anyhow::Result<Source> {
    let mut rnd = File::open("/dev/urandom")?;
    let mut out = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let (mut s256, mut s512, mut m5) = (sha2::Sha256::new(), sha2::Sha512::new(), md5::Md5::new());
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rnd.read_exact(&mut buf[..n])?;
        out.write_all(&buf[..n])?;
        s256.update(&buf[..n]);
        s512.update(&buf[..n]);
        m5.update(&buf[..n]);
        left -= n as u64;
    }
    out.sync_all()?;
    Ok(Source {
        path: path.to_path_buf(),
        size,
        sha256: hex(&s256.finalize()),
        sha512: hex(&s512.finalize()),
        md5: hex(&m5.finalize()),
    })
}

/// The sha256 and length of a file, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_hashes_match_a_reread() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("src.bin");
        let s = make_source(&p, 3 * 1024 * 1024 + 5).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), s.size);
        assert_eq!(sha256_file(&p).unwrap(), (s.sha256.clone(), s.size));
        assert_eq!((s.sha512.len(), s.md5.len()), (128, 32));
        let q = dir.path().join("copy.bin");
        copy_dd(&p, &q).unwrap();
        assert_eq!(sha256_file(&q).unwrap().0, s.sha256);
    }

    #[tokio::test]
    async fn reader_chunks_cover_the_file_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![9u8; 2500]).unwrap();
        let mut rx = spawn_reader(p, 1000);
        let mut sizes = Vec::new();
        while let Some(c) = rx.recv().await {
            sizes.push(c.unwrap().len());
        }
        assert_eq!(sizes, vec![1000, 1000, 500]);
    }
}
