//! Scoot: a photo site in one binary.
//!
//! People upload photos; Scoot keeps the originals in an object store,
//! renders the sizes pages need on a background pool, and serves gallery
//! pages and image bytes with the caching semantics a CDN expects. See
//! `docs/architecture.md` for the classic stack each part stands in for,
//! the data flow and the invariants.
//!
//! # Code map
//!
//! ```text
//! main.rs ─▶ commands ─▶ start() ─┬─▶ web ─▶ app (services: photos, trash, albums,
//!            import ─────────────┤           │    downloads, accounts, uploads, media, ops)
//!                                 │           ├─▶ ingest, blobs ─▶ db, store
//!                                 │           ├─▶ changes ─▶ cache, db (version, notices)
//!                                 │           └─▶ db  (the truth), store (blobs)
//!                                 └─▶ render::queue ─▶ render::pipeline (bytes in, bytes out)
//! main.rs ─▶ check ─▶ blobs, changes, db, store   (the database set against the store)
//! main.rs ─▶ backup ─▶ db, store, migrate          (the site in a folder, and back)
//! ```
//!
//! # Architecture invariants
//!
//! - `web` translates and nothing more: it calls `app` and never `db` or
//!   `store`. The CLI calls the same services.
//! - Every change to a photo, album or blob is announced through `changes`,
//!   which alone invalidates caches.
//! - `db` and `store` know nothing of `web`, `app` or `render`; `config`,
//!   `domain`, `keys`, `model` and `timeline` depend on nothing of ours but
//!   each other.
//! - `render::pipeline` and `render::probe` never touch the database, the
//!   store or the network.
//! - A photo row is committed only after its original is in the store, and
//!   together with its render job (no accepted upload is ever lost).
//! - The async runtime never blocks: SQLite runs on a bounded blocking
//!   seam, decoding and resizing on the render threads, password hashes on
//!   their own threads.

/// The application layer: services that own the rules of the site.
pub mod app;
/// Accounts, password hashing and tokens.
pub mod auth;
/// `scoot backup` and `scoot restore`: the site in a folder, and back.
pub mod backup;
/// When an original's blobs may be relied on or deleted, and deleting them.
pub mod blobs;
/// In-process caches for rows, pages and media bytes.
pub mod cache;
/// The one change path: cache invalidation, the data version and change
/// events, on every node.
pub mod changes;
/// `scoot check [--repair]`: the database set against the store.
pub mod check;
/// What the CLI subcommands do.
pub mod commands;
/// The layered configuration.
pub mod config;
/// The database traits and their engines: SQLite and PostgreSQL.
pub mod db;
/// Room on the local disks: writable at start, and the free-space floor.
pub mod disk;
/// Ids, hashes, formats and variant specs.
pub mod domain;
/// The last hour of operator figures, for the admin page.
pub mod history;
/// `scoot import`: bulk import through the upload path.
pub mod import;
/// From a staged upload to a committed photo and render job.
pub mod ingest;
/// Where blobs live in the store: keys named by content.
pub mod keys;
/// Prometheus metrics.
pub mod metrics;
/// `scoot migrate-db` and `scoot migrate-store`: a one-box install copied
/// into production engines.
pub mod migrate;
/// The records Scoot keeps: users, photos, variants, albums.
pub mod model;
/// A progress bar, or progress lines, for long commands.
pub mod progress;
/// Probing, rendering and the render queue.
pub mod render;
/// The object store wrapper: local disk, memory or S3.
pub mod store;
/// When a photo was taken: the gallery's date, orders and months.
pub mod timeline;
/// HTTP: pages, API, media, assets, health.
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpSocket;

use crate::app::App;
use crate::cache::Caches;
use crate::changes::Changes;
use crate::config::Config;
use crate::db::{DbError, Repo};
use crate::history::History;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::render::{PixelLimits, RenderDeps, RenderPool, RenderSettings};
use crate::store::{Store, StoreError};
use crate::web::AppState;

/// How often expired sessions and API tokens, and photos kept in the
/// trash past `trash.days`, are deleted (and once at start).
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Why Scoot could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database named by `database_url` cannot be used.
    #[error("database_url: {0}")]
    Database(#[source] DbError),
    /// The store named by `store_url` cannot be used.
    #[error("store_url {url}: {source}")]
    Storage {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local directory Scoot writes to cannot be written.
    #[error("cannot write to {0}")]
    NotWritable(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The threads that serve connections cannot be started.
    #[error("cannot start the connection threads: {0}")]
    Threads(#[source] std::io::Error),
}

/// The database and store named by a configuration, once both answer.
pub async fn open_backends(config: &Config) -> Result<(Arc<dyn Repo>, Store), StartError> {
    let db = db::open(&config.database_url())
        .await
        .map_err(StartError::Database)?;
    let url = config.store_url();
    let storage = |source| StartError::Storage {
        url: url.clone(),
        source,
    };
    let store = Store::open(&url).map_err(storage)?;
    store.ping().await.map_err(storage)?;
    if config.web.media_redirect == "presigned" && !store.signs_urls() {
        return Err(StartError::Storage {
            url,
            source: StoreError::Url(
                "web.media_redirect = \"presigned\" needs an s3:// store".into(),
            ),
        });
    }
    Ok((db, store))
}

/// A running Scoot: HTTP server and render pool.
pub struct RunningApp {
    addr: SocketAddr,
    setup_url: Option<String>,
    state: AppState,
    drain: Duration,
    stopping: tokio::sync::watch::Sender<bool>,
    serving: web::server::Serving,
    render: RenderPool,
}

impl RunningApp {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first-run setup link, if there were no users at start.
    pub fn setup_url(&self) -> Option<&str> {
        self.setup_url.as_deref()
    }

    /// The services the server calls.
    pub fn app(&self) -> &App {
        &self.state.app
    }

    /// Graceful stop: `/readyz` turns 503 (for `drain_seconds`), then the
    /// listener closes, idle and stalled connections close, requests in
    /// progress finish (30 s at most), and running renders finish (queued
    /// ones stay queued in the database).
    pub async fn shutdown(self) {
        self.state.draining.store(true, Ordering::SeqCst);
        if !self.drain.is_zero() {
            tracing::info!(
                seconds = self.drain.as_secs(),
                "draining: /readyz answers 503"
            );
            tokio::time::sleep(self.drain).await;
        }
        let _ = self.stopping.send(true);
        self.serving.stop(Duration::from_secs(30)).await;
        self.render.shutdown(Duration::from_secs(60)).await;
        tracing::info!("stopped");
    }
}

/// Everything but HTTP: backends, caches, metrics, the render pool and the
/// services. `scoot serve` puts a web server in front of it; `scoot
/// import` feeds it files.
pub struct Core {
    /// The services; every rule and change goes through them.
    pub app: App,
    pub db: Arc<dyn Repo>,
    pub store: Store,
    pub changes: Changes,
    pub metrics: Metrics,
    pub render: RenderPool,
    /// This node's side of the admin page's hour.
    pub history: History,
}

/// Opens the backends, recovers interrupted work and starts the render pool.
pub async fn start_core(config: &Config) -> Result<Core, StartError> {
    for dir in disk::local_dirs(config) {
        disk::check_writable(&dir).map_err(StartError::NotWritable)?;
    }
    let (db, store) = open_backends(config).await?;
    start_core_on(config, db, store).await
}

/// [`start_core`] on backends opened already (a test may wrap them).
pub async fn start_core_on(
    config: &Config,
    db: Arc<dyn Repo>,
    store: Store,
) -> Result<Core, StartError> {
    // On a shared database other nodes' renders are running; a lease that
    // runs out brings back what a dead node held.
    if !db.shared() {
        let requeued = db.requeue_running(crate::domain::now_millis()).await?;
        if requeued > 0 {
            tracing::info!(
                jobs = requeued,
                "re-queued renders interrupted by the last shutdown"
            );
        }
    }
    let staging_dir = ingest::staging_dir(config);
    ingest::clear_staging_dir(&staging_dir);

    let metrics = Metrics::new();
    let caches = Caches::new(&config.cache, &metrics.cache_lookups);
    let node = Changes::new_node_name();
    tracing::info!(%node, "node started");
    let changes = Changes::new(caches.clone(), db.clone(), &node);
    changes.load_version().await?;
    let limits = PixelLimits::of_upload(&config.upload);
    let render = RenderPool::start(
        config.render.clone(),
        RenderSettings::from_config(&config.render, limits),
        RenderDeps {
            db: db.clone(),
            store: store.clone(),
            changes: changes.clone(),
            metrics: metrics.clone(),
            node: node.as_str().into(),
        },
    );
    let ingest = Ingest {
        db: db.clone(),
        store: store.clone(),
        changes: changes.clone(),
        queue: render.queue(),
        limits,
        staging_dir,
        max_bytes: config.upload.max_bytes,
        checking: Arc::new(tokio::sync::Semaphore::new(crate::config::cores())),
        check_duration: metrics.upload_check_duration.clone(),
        floor: disk::SpaceFloor::start(disk::local_dirs(config), config.storage.min_free_mb),
    };
    let history = History::new(&node);
    let app = App::new(app::Parts {
        db: db.clone(),
        store: store.clone(),
        caches,
        changes: changes.clone(),
        metrics: metrics.clone(),
        ingest,
        hasher: auth::Hasher::per_core(),
        auth: config.auth.clone(),
        history: history.clone(),
        media_redirect: config.web.media_redirect == "presigned",
        metrics_token: config.metrics.token.clone(),
        trash_days: config.trash.days,
    });
    Ok(Core {
        app,
        db,
        store,
        changes,
        metrics,
        render,
        history,
    })
}

/// Starts the core and the HTTP server, and returns once Scoot is listening.
pub async fn start(config: Config) -> Result<RunningApp, StartError> {
    let core = start_core(&config).await?;
    serve(config, core).await
}

/// [`start`] on backends opened already (a test may wrap them).
pub async fn start_on(
    config: Config,
    db: Arc<dyn Repo>,
    store: Store,
) -> Result<RunningApp, StartError> {
    let core = start_core_on(&config, db, store).await?;
    serve(config, core).await
}

/// Puts the HTTP server in front of a started core.
async fn serve(config: Config, core: Core) -> Result<RunningApp, StartError> {
    let Core {
        app,
        db,
        store,
        changes,
        metrics,
        render,
        history,
    } = core;
    let setup_token = app.accounts.open_setup().await?;
    let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
    let pages = web::page_cache::PageCache::new(config.cache.page_bytes, &metrics.cache_lookups);
    changes.follow(stopping_rx.clone());
    blobs::spawn_sweeper(db.clone(), store, changes, stopping_rx.clone());
    tokio::spawn(history.run(db, metrics.clone(), stopping_rx.clone()));
    tokio::spawn(
        app.accounts
            .clone()
            .purge_expired_every(PURGE_EVERY, stopping_rx.clone()),
    );
    tokio::spawn(
        app.trash
            .clone()
            .purge_due_every(PURGE_EVERY, stopping_rx.clone()),
    );
    let state = AppState::new(web::Shared {
        app,
        metrics,
        urls: web::urls::Urls::new(&config.web),
        compress_min_bytes: config.web.compress_min_bytes,
        pages,
        draining: Arc::new(AtomicBool::new(false)),
        trusted_proxies: config.web.trusted_proxy_ranges().unwrap_or_default(),
        stopping: stopping_rx,
    });

    let listener = bind(config.listen).map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    // Large pages leave by `sendfile` from a copy on the data's disk.
    web::zero_copy::keep_copies_in(config.data_dir.clone());
    let site = web::service(&state, &config.cache);
    let express = site.express();
    let serving = web::server::spawn(
        listener,
        site,
        express,
        web::server::Limits {
            header_timeout: Duration::from_secs(config.web.header_timeout_seconds),
            stall_timeout: Duration::from_secs(config.web.stall_timeout_seconds),
            max_connections: config.web.connection_limit(),
            threads: config.web.thread_count(),
        },
    )
    .map_err(StartError::Threads)?;
    tracing::info!(%addr, "listening");

    let setup_url = setup_token.map(|t| format!("http://{addr}/setup?token={t}"));
    if let Some(url) = &setup_url {
        tracing::info!("no users yet: open {url} to create the admin account");
    }
    Ok(RunningApp {
        addr,
        setup_url,
        state,
        drain: Duration::from_secs(config.drain_seconds),
        stopping,
        serving,
        render,
    })
}

/// Runs Scoot until `shutdown` resolves, then drains gracefully.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let app = start(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    app.shutdown().await;
    Ok(())
}

/// A listener with `TCP_NODELAY` (inherited by accepted sockets), which warp
/// does not set: without it, small streamed replies stall on delayed ACKs.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
