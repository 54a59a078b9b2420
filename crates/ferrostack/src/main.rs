//! `ferrostack`: one binary for every role of the cloud.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use common_config::Config;
use ferrostack::{start, StartOptions};

#[derive(Parser)]
#[command(
    name = "ferrostack",
    version,
    about = "An OpenStack-compatible cloud in one binary"
)]
struct Cli {
    /// Configuration file (TOML). Defaults to ./ferrostack.toml if present.
    #[arg(long, global = true, env = "FERROSTACK_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, keys, clouds.yaml).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://...` or `postgres://...`).
    #[arg(long, global = true)]
    database: Option<String>,
    /// Message bus: `inproc` or `amqp://user:pass@host:port/vhost` (RabbitMQ).
    #[arg(long, global = true)]
    bus: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// All-in-one: every service in this process on one listener, bootstrapped on first start.
    Up {
        /// Address to listen on.
        #[arg(long)]
        listen: Option<String>,
        /// Do not touch ~/.config/openstack/clouds.yaml (the data directory's copy is still written).
        #[arg(long)]
        no_user_clouds_yaml: bool,
        /// Once up, upload the qcow2 file PATH as the public image NAME in the admin project,
        /// unless it is there already (repeatable), e.g. `--seed-image tiny=tiny.qcow2`.
        #[arg(long = "seed-image", value_name = "NAME=PATH", value_parser = ferrostack::seed::parse_seed)]
        seed_images: Vec<(String, PathBuf)>,
    },
    /// Split mode: run one role.
    Serve {
        /// The role: `api`.
        #[arg(long)]
        role: String,
        /// Services of the api role, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "identity")]
        services: Vec<String>,
        #[arg(long)]
        listen: Option<String>,
    },
    /// Administrative commands.
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Database commands.
    Db {
        #[command(subcommand)]
        cmd: DbCmd,
    },
    /// Fernet key repository commands.
    Fernet {
        #[command(subcommand)]
        cmd: FernetCmd,
    },
    /// Create the admin user, roles, region and identity endpoints; write clouds.yaml.
    Bootstrap {
        /// The admin password (random if omitted and the admin is new).
        #[arg(long, env = "FERROSTACK_BOOTSTRAP_PASSWORD")]
        password: Option<String>,
        /// Public base URL of the API listener, for the catalog.
        #[arg(long)]
        public_url: Option<String>,
        /// Do not touch ~/.config/openstack/clouds.yaml (the data directory's copy is still written).
        #[arg(long)]
        no_user_clouds_yaml: bool,
        /// Services to register in the catalog besides identity, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "image,placement,compute")]
        services: Vec<String>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
}

#[derive(Subcommand)]
enum DbCmd {
    /// Apply every pending migration.
    Migrate,
}

#[derive(Subcommand)]
enum FernetCmd {
    /// Create the key repository if empty.
    Setup,
    /// Rotate keys: staged becomes primary, a new staged key is made, the oldest go.
    Rotate,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the effective configuration.
    Dump,
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let file = cli.config.clone().or_else(|| {
        let p = PathBuf::from("ferrostack.toml");
        p.exists().then_some(p)
    });
    let mut cfg =
        Config::load(file.as_deref(), std::env::vars()).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(d) = &cli.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(db) = &cli.database {
        cfg.database.url = db.clone();
    }
    if let Some(bus) = &cli.bus {
        cfg.bus.url = bus.clone();
    }
    Ok(cfg)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run_until_signal(cfg: Config, opts: StartOptions) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut running = start(cfg, opts).await?;
    tracing::info!(
        url = %running.base_url,
        startup_ms = started.elapsed().as_millis() as u64,
        "ferrostack is up; identity at {}/identity/v3",
        running.base_url
    );
    println!(
        "ferrostack is up at {} (identity: {}/identity/v3)",
        running.base_url, running.base_url
    );
    if running.admin_password.is_some() {
        println!(
            "admin credentials written to clouds.yaml: openstack --os-cloud ferrostack token issue"
        );
    }
    let stop = running.shutdown_sender();
    wait_for_signal().await;
    tracing::info!("shutting down");
    if let Some(tx) = stop {
        let _ = tx.send(());
    }
    running.wait().await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = load_config(&cli)?;
    common_observability::init_tracing(&cfg.log.filter, &cfg.log.format);
    match cli.cmd {
        Cmd::Up {
            listen,
            no_user_clouds_yaml,
            seed_images,
        } => {
            if let Some(l) = listen {
                cfg.server.listen = l;
            }
            let opts = StartOptions {
                services: StartOptions::default().services,
                bootstrap: true,
                user_clouds_yaml: !no_user_clouds_yaml,
                seed_images,
            };
            run_until_signal(cfg, opts).await
        }
        Cmd::Serve {
            role,
            services,
            listen,
        } => {
            if let Some(l) = listen {
                cfg.server.listen = l;
            }
            if role != "api" {
                bail!("role {role:?} is not available yet (available: api)");
            }
            run_until_signal(
                cfg,
                StartOptions {
                    services,
                    bootstrap: false,
                    user_clouds_yaml: false,
                    seed_images: Vec::new(),
                },
            )
            .await
        }
        Cmd::Admin { cmd } => match cmd {
            AdminCmd::Db {
                cmd: DbCmd::Migrate,
            } => {
                let db = ferrostack::server::open_db(&cfg).await?;
                db.close().await;
                println!("migrations applied");
                Ok(())
            }
            AdminCmd::Fernet { cmd } => {
                let repo = identity_token::KeyRepository::new(cfg.fernet_key_repository());
                match cmd {
                    FernetCmd::Setup => repo.setup().map_err(|e| anyhow::anyhow!("{e}"))?,
                    FernetCmd::Rotate => {
                        repo.setup().map_err(|e| anyhow::anyhow!("{e}"))?;
                        repo.rotate(cfg.identity.fernet_max_active_keys)
                            .map_err(|e| anyhow::anyhow!("{e}"))?
                    }
                }
                println!("fernet keys in {}", repo.path().display());
                Ok(())
            }
            AdminCmd::Bootstrap {
                password,
                public_url,
                no_user_clouds_yaml,
                services,
            } => {
                if let Some(u) = public_url {
                    cfg.server.public_url = u;
                }
                let base = cfg.server.base_url();
                let db = ferrostack::server::open_db(&cfg).await?;
                let id = ferrostack::server::identity(&cfg, &db)?;
                let b = id
                    .bootstrap(password.as_deref(), &format!("{base}/identity/v3"))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("bootstrap")?;
                for svc in &services {
                    ferrostack::catalog::register(&id, svc, &base, &cfg.identity.region).await?;
                }
                if let Some(pw) = &b.admin_password {
                    ferrostack::clouds::write(&cfg, &base, pw, !no_user_clouds_yaml)?;
                }
                db.close().await;
                println!(
                    "bootstrapped: admin user {} in project {}",
                    b.admin_user_id, b.admin_project_id
                );
                Ok(())
            }
            AdminCmd::Config {
                cmd: ConfigCmd::Dump,
            } => {
                print!("{}", cfg.dump());
                Ok(())
            }
        },
    }
}
