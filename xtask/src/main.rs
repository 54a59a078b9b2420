//! `cargo xtask`: the project's own commands.
//!
//! - `cargo xtask up [-- ARGS]`: install the Debian packages the cloud needs, build the release
//!   binary and the tiny guest image (cached), and exec
//!   `ferrostack up --seed-image=tiny=<image> ARGS`.
//! - `cargo xtask test [STAGE...]`: install what the tests need, build, and run every suite
//!   (unit + integration on SQLite, the API suite on PostgreSQL, end-to-end with the real
//!   `openstack` CLI). Stages: `unit`, `pg`, `e2e` (default: all).
//! - `cargo xtask lint`: `cargo fmt --check` and clippy with `-D warnings`.
//! - `cargo xtask bench [-- ARGS]`: `cargo run --release -p bench -- ARGS`.
//!
//! Builds go to `$CARGO_TARGET_DIR`, or `$HOME/.cache/ferrostack-target` when it is unset, so a
//! fresh clone reuses an earlier build on the same machine.

mod prereqs;
mod test;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context as _};

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  up [-- ARGS]       install Debian packages, build release + the guest image,
                     exec `ferrostack up --seed-image=tiny=IMAGE ARGS`
  test [STAGE...]    prerequisites, build, then the test stages: unit, pg, e2e (default: all)
  lint               cargo fmt --check; cargo clippy --workspace --all-targets -D warnings
  bench [-- ARGS]    cargo run --release -p bench -- ARGS
";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    let cmd = args.remove(0);
    let rest = strip_separator(args);
    let res = match cmd.as_str() {
        "up" => up(&rest),
        "test" => test::run(&rest),
        "lint" => lint(),
        "bench" => bench(&rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(true)
        }
        other => {
            eprintln!("xtask: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match res {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Drops a leading `--` (from `cargo xtask up -- --listen ...`).
fn strip_separator(mut args: Vec<String>) -> Vec<String> {
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    args
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Where cargo builds: `$CARGO_TARGET_DIR`, else `$HOME/.cache/ferrostack-target`, else
/// `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".cache/ferrostack-target"),
            None => root().join("target"),
        },
    }
}

/// `cargo <args>` run from the workspace root with the target directory set.
pub fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut c = Command::new(cargo);
    c.args(args)
        .current_dir(root())
        .env("CARGO_TARGET_DIR", target_dir());
    c
}

/// Runs `cmd` with inherited output; true when it exits 0.
pub fn run_status(cmd: &mut Command) -> anyhow::Result<bool> {
    let status = cmd.status().with_context(|| format!("run {cmd:?}"))?;
    Ok(status.success())
}

/// Prints a stage header.
pub fn header(text: &str) {
    println!("\n==> {text}");
}

fn up(args: &[String]) -> anyhow::Result<bool> {
    header("Debian packages for the cloud and its guest image");
    prereqs::ensure_debian_packages(prereqs::UP_PACKAGES, true)?;
    prereqs::ensure_debian_packages(prereqs::GUEST_PACKAGES, true)?;
    header("build (release): cargo build --release -p ferrostack");
    if !run_status(&mut cargo(["build", "--release", "-p", "ferrostack"]))? {
        bail!("cargo build --release -p ferrostack failed");
    }
    let mut up_args = Vec::new();
    // Unless the caller seeds `tiny` from a file of their own.
    let own_tiny = args
        .iter()
        .any(|a| a.starts_with("tiny=") || a.starts_with("--seed-image=tiny="));
    if !own_tiny {
        match guest_image() {
            Ok(path) => up_args.push(format!("--seed-image=tiny={path}")),
            Err(e) => eprintln!("xtask: warning: no `tiny` image will be seeded: {e:#}"),
        }
    }
    up_args.extend(args.iter().cloned());
    let bin = target_dir().join("release/ferrostack");
    header(&format!("{} up {}", bin.display(), up_args.join(" ")));
    exec(Command::new(&bin).arg("up").args(&up_args))
}

/// Builds the tiny guest image if it is not cached (`guest-image`'s `ensure-guest-image`
/// binary) and returns its path.
fn guest_image() -> anyhow::Result<String> {
    header("guest image: cargo run -q -p guest-image --bin ensure-guest-image");
    let out = cargo([
        "run",
        "-q",
        "-p",
        "guest-image",
        "--bin",
        "ensure-guest-image",
    ])
    .stderr(std::process::Stdio::inherit())
    .output()
    .context("run ensure-guest-image")?;
    if !out.status.success() {
        bail!("ensure-guest-image failed ({})", out.status);
    }
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if path.is_empty() || !Path::new(&path).is_file() {
        bail!("ensure-guest-image printed no image path ({path:?})");
    }
    Ok(path)
}

/// Replaces this process with `cmd` (so signals reach it directly).
fn exec(cmd: &mut Command) -> anyhow::Result<bool> {
    use std::os::unix::process::CommandExt as _;
    let err = cmd.exec();
    Err(anyhow::Error::new(err).context(format!("exec {cmd:?}")))
}

fn lint() -> anyhow::Result<bool> {
    header("cargo fmt --all -- --check");
    let fmt = run_status(&mut cargo(["fmt", "--all", "--", "--check"]))?;
    header("cargo clippy --workspace --all-targets -- -D warnings");
    let clippy = run_status(&mut cargo([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    println!(
        "\nlint: fmt {}, clippy {}",
        if fmt { "ok" } else { "FAILED" },
        if clippy { "ok" } else { "FAILED" }
    );
    Ok(fmt && clippy)
}

fn bench(args: &[String]) -> anyhow::Result<bool> {
    header(&format!(
        "cargo run --release -p bench -- {}",
        args.join(" ")
    ));
    run_status(cargo(["run", "--release", "-p", "bench", "--"]).args(args))
}
