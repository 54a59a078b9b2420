//! Building and running the HTTP listener with every enabled service mounted under its path
//! prefix, plus `/healthz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common_config::Config;
use common_db::Db;
use common_http::auth::{auth_layer, AuthState};
use common_http::observe::{observe_layer, ObserveState};
use common_http::{service_layer, Dialect, RateLimiter};
use common_observability::Metrics;
use common_policy::Enforcer;
use identity_api::{ApiState, LocalValidator};
use identity_domain::Identity;
use identity_token::KeyRepository;
use tokio::sync::oneshot;

/// How to start.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Services to mount (`identity`, ...).
    pub services: Vec<String>,
    /// Run bootstrap (admin, roles, catalog) and write clouds.yaml, as `up` does.
    pub bootstrap: bool,
    /// Also merge the cloud into `~/.config/openstack/clouds.yaml`.
    pub user_clouds_yaml: bool,
    /// Images to create as public in the admin project, from these files, once up (`up
    /// --seed-image NAME=PATH`); needs `bootstrap`. Skipped when the name already exists.
    pub seed_images: Vec<(String, std::path::PathBuf)>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            services: vec![
                "identity".into(),
                "image".into(),
                "placement".into(),
                "network".into(),
                "volume".into(),
                "compute".into(),
            ],
            bootstrap: true,
            user_clouds_yaml: false,
            seed_images: Vec::new(),
        }
    }
}

/// A running cloud.
pub struct Running {
    pub addr: SocketAddr,
    pub base_url: String,
    pub identity: Option<Identity>,
    pub db: Db,
    /// The message bus (in-process for all-in-one, RabbitMQ in split mode).
    pub bus: Arc<dyn common_bus::Bus>,
    /// The admin password when this start set it.
    pub admin_password: Option<String>,
    /// The compute service's background parts (conductor, this host's agents).
    pub compute: Option<crate::compute::Background>,
    /// This host's network agent.
    pub network: Option<crate::network::Background>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests, closes the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let res = (&mut self.task).await;
        if let Some(c) = self.compute.take() {
            c.stop().await;
        }
        if let Some(n) = self.network.take() {
            n.stop().await;
        }
        self.db.close().await;
        res??;
        Ok(())
    }

    /// Waits until the server ends (after a signal handled by the caller's shutdown).
    pub fn shutdown_sender(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }

    /// Waits for the server task.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        self.db.close().await;
        Ok(())
    }
}

/// Opens the database and runs every service's migrations.
pub async fn open_db(cfg: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("create data dir {}", cfg.data_dir.display()))?;
    let db = Db::connect(
        &cfg.database_url(),
        cfg.database.max_connections,
        Duration::from_secs(cfg.database.busy_timeout_secs),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    identity_db::Store::new(db.clone())
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    image_db::Store::new(db.clone())
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    placement_db::Store::new(db.clone())
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    compute_db::Store::new(db.clone())
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    network_db::Store::new(db.clone())
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(db)
}

/// The identity domain service over `db`.
pub fn identity(cfg: &Config, db: &Db) -> anyhow::Result<Identity> {
    let keys = KeyRepository::new(cfg.fernet_key_repository());
    Identity::new(
        identity_db::Store::new(db.clone()),
        cfg.identity.clone(),
        keys,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Loads the identity policy: defaults plus the optional policy file.
pub fn identity_policy(cfg: &Config) -> anyhow::Result<Enforcer> {
    let mut e =
        Enforcer::new(common_policy::keystone::DEFAULTS).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !cfg.identity.policy_file.is_empty() {
        let text = std::fs::read_to_string(&cfg.identity.policy_file)
            .with_context(|| format!("read policy file {}", cfg.identity.policy_file))?;
        e = e
            .with_overrides(&text)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(e)
}

/// The image domain service over `db` and the filesystem store, recovered from any crash.
pub async fn image(cfg: &Config, db: &Db) -> anyhow::Result<image_domain::Images> {
    let dir = cfg.image_store_dir();
    let store = image_store::FsStore::open(&dir)
        .with_context(|| format!("open image store {}", dir.display()))?;
    let images = image_domain::Images::new(
        image_db::Store::new(db.clone()),
        Arc::new(store),
        cfg.image.clone(),
    );
    images
        .recover()
        .await
        .map_err(|e| anyhow::anyhow!("recover image store: {e}"))?;
    Ok(images)
}

/// Loads the image policy: Glance's defaults plus the optional policy file.
pub fn image_policy(cfg: &Config) -> anyhow::Result<Enforcer> {
    let mut e =
        Enforcer::new(common_policy::glance::DEFAULTS).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !cfg.image.policy_file.is_empty() {
        let text = std::fs::read_to_string(&cfg.image.policy_file)
            .with_context(|| format!("read policy file {}", cfg.image.policy_file))?;
        e = e
            .with_overrides(&text)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(e)
}

#[derive(Clone)]
struct Top {
    metrics: Arc<Metrics>,
    db: Db,
}

async fn healthz(State(t): State<Top>) -> impl IntoResponse {
    match t.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}

async fn metrics_text(State(t): State<Top>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        t.metrics.render(),
    )
}

/// Wraps one service's router with the shared layers: token validation (when `auth` is
/// given), error rendering in the service's dialect, request ids and metrics.
fn wrap_service(
    router: Router,
    dialect: Dialect,
    service: &'static str,
    auth: Option<AuthState>,
    metrics: &Arc<Metrics>,
) -> Router {
    let router = match auth {
        Some(a) => router.layer(axum::middleware::from_fn_with_state(a, auth_layer)),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn(move |req, next| {
            service_layer(dialect.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn_with_state(
            ObserveState {
                service,
                metrics: metrics.clone(),
            },
            observe_layer,
        ))
}

/// Mounts `router` at `prefix` and also at `prefix/`, which `nest` leaves unrouted, so that
/// a service's version document answers with and without the trailing slash.
fn mount(app: Router, prefix: &str, router: Router) -> Router {
    use tower::ServiceExt as _;
    let root = router
        .clone()
        .map_request(|mut req: axum::extract::Request| {
            let path = req
                .uri()
                .query()
                .map(|q| format!("/?{q}"))
                .unwrap_or_else(|| "/".into());
            if let Ok(u) = path.parse() {
                *req.uri_mut() = u;
            }
            req
        });
    app.route_service(&format!("{prefix}/"), root)
        .nest(prefix, router)
}

/// Binds, wires the services and starts serving in a background task.
pub async fn start(cfg: Config, opts: StartOptions) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
        .await
        .with_context(|| format!("bind {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let mut cfg = cfg;
    if cfg.server.public_url.is_empty() {
        cfg.server.public_url = format!("http://{addr}");
    }
    let base_url = cfg.server.base_url();
    let db = open_db(&cfg).await?;
    let bus = common_bus::connect(&cfg.bus.url)
        .await
        .map_err(|e| anyhow::anyhow!("message bus: {e}"))?;
    tracing::info!(
        kind = if cfg.bus.url == "inproc" {
            "in-process"
        } else {
            "amqp"
        },
        "message bus connected"
    );
    let metrics = Arc::new(Metrics::new());
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::from_fn_with_state(
            ObserveState {
                service: "ferrostack",
                metrics: metrics.clone(),
            },
            observe_layer,
        ))
        .with_state(Top {
            metrics: metrics.clone(),
            db: db.clone(),
        });
    let mut identity_svc = None;
    let mut admin_password = None;
    // The token validator every service's API uses; set up by the identity service, which
    // must be mounted first (a remote identity client for split mode is not there yet).
    let mut auth: Option<AuthState> = None;
    // For seeding: the image service and the bootstrap admin as its caller.
    let mut seeder: (Option<image_domain::Images>, Option<image_domain::Caller>) = (None, None);
    let mut compute_bg = None;
    // The admin and demo projects, when this start bootstraps (for the network topology).
    let mut projects: Option<(String, String)> = None;
    // The network service and this host's agent, for compute (ports, plugging) when both
    // run here; the metadata service gets the compute service once it starts.
    let mut network_parts: Option<(network_domain::Network, Option<network_agent::Agent>)> = None;
    let mut network_bg = None;
    let compute_cell = Arc::new(std::sync::OnceLock::new());
    for svc in &opts.services {
        match svc.as_str() {
            "identity" => {
                let id = identity(&cfg, &db)?;
                if opts.bootstrap {
                    let pw = (!cfg.identity.bootstrap_password.is_empty())
                        .then(|| cfg.identity.bootstrap_password.clone());
                    let b = id
                        .bootstrap(pw.as_deref(), &format!("{base_url}/identity/v3"))
                        .await
                        .map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
                    projects = Some((b.admin_project_id.clone(), b.demo_project_id.clone()));
                    if let Some(pw) = &b.admin_password {
                        crate::clouds::write(&cfg, &base_url, pw, opts.user_clouds_yaml)?;
                    }
                    seeder.1 = Some(image_domain::Caller {
                        user_id: b.admin_user_id.clone(),
                        project_id: Some(b.admin_project_id.clone()),
                        is_admin: true,
                    });
                    admin_password = b.admin_password;
                }
                let policy = Arc::new(identity_policy(&cfg)?);
                let rl = &cfg.rate_limit;
                let state = ApiState {
                    identity: id.clone(),
                    policy,
                    base_url: base_url.clone(),
                    token_per_user: Arc::new(RateLimiter::new(rl.token_per_user_per_sec, rl.token_burst)),
                    token_per_addr: Arc::new(RateLimiter::new(rl.token_per_addr_per_sec, rl.token_burst)),
                };
                let dialect = state.dialect();
                auth = Some(AuthState {
                    validator: Arc::new(LocalValidator(id.clone())),
                    per_project: Arc::new(RateLimiter::new(rl.api_per_project_per_sec, rl.api_burst)),
                });
                let router = wrap_service(identity_api::router(state), dialect, "identity", auth.clone(), &metrics);
                app = mount(app, "/identity", router);
                let watcher = id.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(5));
                    loop {
                        tick.tick().await;
                        watcher.reload_keys_if_changed(Duration::from_secs(1));
                    }
                });
                identity_svc = Some(id);
            }
            "image" => {
                let Some(a) = auth.clone() else {
                    bail!("the image service needs the identity service mounted before it");
                };
                if opts.bootstrap {
                    if let Some(id) = &identity_svc {
                        let sid = id.service_ensure("image", "glance", "Image Service").await.map_err(|e| anyhow::anyhow!("{e}"))?;
                        for iface in ["public", "internal", "admin"] {
                            id.endpoint_ensure(&sid, iface, &cfg.identity.region, &format!("{base_url}/image"))
                                .await
                                .map_err(|e| anyhow::anyhow!("{e}"))?;
                        }
                    }
                }
                let images = image(&cfg, &db).await?;
                seeder.0 = Some(images.clone());
                let state = image_api::ApiState {
                    images,
                    policy: Arc::new(image_policy(&cfg)?),
                    base_url: base_url.clone(),
                };
                let router = wrap_service(image_api::router(state), Dialect::Image, "image", Some(a), &metrics);
                app = mount(app, "/image", router);
            }
            "placement" => {
                let Some(a) = auth.clone() else {
                    bail!("the placement service needs the identity service mounted before it");
                };
                if opts.bootstrap {
                    if let Some(id) = &identity_svc {
                        crate::catalog::register(id, "placement", &base_url, &cfg.identity.region).await?;
                    }
                }
                let state = placement_api::ApiState {
                    placement: placement_domain::Placement::new(placement_db::Store::new(db.clone())),
                    policy: Arc::new(
                        Enforcer::new(common_policy::placement::DEFAULTS).map_err(|e| anyhow::anyhow!("{e}"))?,
                    ),
                    base_url: base_url.clone(),
                };
                let router = wrap_service(placement_api::router(state), Dialect::Placement, "placement", Some(a), &metrics);
                app = mount(app, "/placement", router);
            }
            "compute" => {
                let Some(a) = auth.clone() else {
                    bail!("the compute service needs the identity service mounted before it");
                };
                if opts.bootstrap {
                    if let Some(id) = &identity_svc {
                        crate::catalog::register(id, "compute", &base_url, &cfg.identity.region).await?;
                    }
                }
                let images = match &seeder.0 {
                    Some(i) => i.clone(),
                    None => image(&cfg, &db).await?,
                };
                let (state, bg) = crate::compute::start(
                    &cfg,
                    &db,
                    bus.clone(),
                    images,
                    opts.bootstrap,
                    &base_url,
                    network_parts.clone(),
                )
                .await?;
                let _ = compute_cell.set(state.compute.clone());
                compute_bg = Some(bg);
                let router = wrap_service(compute_api::router(state), Dialect::Compute, "compute", Some(a), &metrics);
                app = mount(app, "/compute", router);
            }
            "network" => {
                let Some(a) = auth.clone() else {
                    bail!("the network service needs the identity service mounted before it");
                };
                if opts.bootstrap {
                    if let Some(id) = &identity_svc {
                        crate::catalog::register(id, "network", &base_url, &cfg.identity.region).await?;
                    }
                }
                let network = network_domain::Network::new(network_db::Store::new(db.clone()), cfg.network.clone());
                let mut policy = Enforcer::new(common_policy::neutron::DEFAULTS).map_err(|e| anyhow::anyhow!("{e}"))?;
                if !cfg.network.policy_file.is_empty() {
                    let text = std::fs::read_to_string(&cfg.network.policy_file)
                        .with_context(|| format!("read policy file {}", cfg.network.policy_file))?;
                    policy = policy.with_overrides(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                let metadata = crate::network::Metadata {
                    network: network.clone(),
                    compute: compute_cell.clone(),
                };
                let host = crate::compute::host_name(&cfg);
                let bg = crate::network::start_agent(&cfg, &network, &host, Some(Arc::new(metadata)))?;
                if let Some((admin, demo)) = &projects {
                    crate::network::bootstrap(&cfg, &network, admin, demo).await?;
                }
                network_parts = Some((network.clone(), bg.as_ref().map(|b| b.agent.clone())));
                network_bg = bg;
                let state = network_api::ApiState {
                    net: network,
                    policy: Arc::new(policy),
                    base_url: base_url.clone(),
                };
                let router = wrap_service(network_api::router(state), Dialect::Network, "network", Some(a), &metrics);
                app = mount(app, "/network", router);
            }
            "volume" => {
                let Some(a) = auth.clone() else {
                    bail!("the volume service needs the identity service mounted before it");
                };
                if opts.bootstrap {
                    if let Some(id) = &identity_svc {
                        crate::catalog::register(id, "volume", &base_url, &cfg.identity.region).await?;
                    }
                }
                let images = match &seeder.0 {
                    Some(i) => i.clone(),
                    None => image(&cfg, &db).await?,
                };
                let volumes = crate::volume::start(&cfg, &db, images).await?;
                let mut policy = Enforcer::new(common_policy::cinder::DEFAULTS).map_err(|e| anyhow::anyhow!("{e}"))?;
                if !cfg.volume.policy_file.is_empty() {
                    let text = std::fs::read_to_string(&cfg.volume.policy_file)
                        .with_context(|| format!("read policy file {}", cfg.volume.policy_file))?;
                    policy = policy.with_overrides(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                let state = volume_api::ApiState {
                    volumes,
                    policy: Arc::new(policy),
                    base_url: base_url.clone(),
                };
                let router = wrap_service(volume_api::router(state), Dialect::Volume, "volume", Some(a), &metrics);
                app = mount(app, "/volume", router);
            }
            other => bail!("service {other:?} is not available yet (known: identity, image, placement, network, volume, compute)"),
        }
    }
    drop(auth);
    let (tx, rx) = oneshot::channel::<()>();
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        axum::serve(listener, make)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    tracing::info!(%addr, services = ?opts.services, "ferrostack listening");
    match seeder {
        (Some(images), Some(admin)) => {
            crate::seed::seed_images(&images, &admin, &opts.seed_images).await
        }
        _ if !opts.seed_images.is_empty() => {
            tracing::error!("seed images need the image service and bootstrap; none seeded")
        }
        _ => {}
    }
    Ok(Running {
        addr,
        base_url,
        identity: identity_svc,
        db,
        bus,
        admin_password,
        compute: compute_bg,
        network: network_bg,
        shutdown: Some(tx),
        task,
    })
}
