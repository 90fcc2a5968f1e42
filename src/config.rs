//! Configuration: one struct, one source of defaults, four layers.
//!
//! Lowest to highest: [`Config::default`], an optional TOML file
//! (`--config` / `SCOOT_CONFIG`), `SCOOT_*` environment variables (nested
//! keys with `__`, e.g. `SCOOT_RENDER__THREADS=2`), then command-line flags.
//! With nothing set, Scoot listens on 127.0.0.1:8080 and keeps everything in
//! `./data`. This module depends on nothing in Scoot but `domain` types.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod render;

use crate::domain::{OutputFormat, VariantSpec};

pub use render::RenderConfig;

/// The top-level keys of [`Config`]. `SCOOT_*` variables outside these (the
/// `SCOOT_CONFIG` path, test switches) are not settings and are ignored;
/// misspelt keys inside a section are still refused.
const SECTIONS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "store_url",
    "log_format",
    "drain_seconds",
    "upload",
    "render",
    "cache",
    "auth",
    "web",
    "metrics",
    "storage",
    "trash",
];

/// Everything Scoot can be told. Each subsystem gets only its own section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where the SQLite database and local object store live by default.
    pub data_dir: PathBuf,
    /// `sqlite://PATH`; empty means `sqlite://DATA_DIR/scoot.db`.
    pub database_url: String,
    /// `file://PATH` or `memory://`; empty means `file://DATA_DIR/media`.
    pub store_url: String,
    /// `text` (human) or `json` (one object per line).
    pub log_format: String,
    /// On SIGTERM, how long `/readyz` answers 503 before the listener closes,
    /// so a load balancer stops sending traffic first.
    pub drain_seconds: u64,
    pub upload: UploadConfig,
    pub render: RenderConfig,
    pub cache: CacheConfig,
    pub auth: AuthConfig,
    pub web: WebConfig,
    pub metrics: MetricsConfig,
    pub storage: StorageConfig,
    pub trash: TrashConfig,
}

/// How long deleted photos can be restored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrashConfig {
    /// Days a deleted photo stays in its owner's trash before it is
    /// deleted for good; 0 deletes at once, with no trash.
    pub days: u32,
}

impl Default for TrashConfig {
    fn default() -> Self {
        Self { days: 30 }
    }
}

/// How much room the local disks must keep.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Below this many free megabytes on the disk of the data dir, the
    /// SQLite file or a `file://` store, uploads are refused with `507`
    /// and `/readyz` answers 503, so that what is already accepted can
    /// still be rendered and recorded. 0 turns the floor off.
    pub min_free_mb: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { min_free_mb: 256 }
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Empty: anyone who can reach the node (the figures name no user or
    /// photo). Otherwise `/metrics` answers only `Authorization: Bearer
    /// <this>`, as a Prometheus scrape job's `authorization` sends it.
    pub token: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            store_url: String::new(),
            log_format: "text".into(),
            drain_seconds: 0,
            upload: UploadConfig::default(),
            render: RenderConfig::default(),
            cache: CacheConfig::default(),
            auth: AuthConfig::default(),
            web: WebConfig::default(),
            metrics: MetricsConfig::default(),
            storage: StorageConfig::default(),
            trash: TrashConfig::default(),
        }
    }
}

/// Limits applied to every upload before anything is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Largest accepted original, in bytes.
    pub max_bytes: u64,
    /// Largest accepted image area, in pixels.
    pub max_pixels: u64,
    /// Largest accepted width or height, in pixels.
    pub max_side: u32,
    /// Most frames an animated GIF or WebP may have.
    pub max_frames: u32,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_side: 16_384,
            max_frames: 2000,
        }
    }
}

/// In-process caches (the memcached of the classic stack).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Budget for cached media bytes. The front's plain media answers
    /// (`web::front`) share these bytes, and may keep a quarter as much
    /// again of ones the byte cache has dropped.
    pub media_bytes: u64,
    /// Objects larger than this are streamed from the store, not cached.
    pub media_max_object: u64,
    /// How many photo records and gallery pages to keep.
    pub entries: u64,
    /// Budget for rendered HTML pages (with their compressed copies). The
    /// front's index of logged-out visitors' pages by URL (`web::front`)
    /// holds the same pages, shared, within a budget of the same size.
    pub page_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            media_bytes: 256 * 1024 * 1024,
            media_max_object: 8 * 1024 * 1024,
            entries: 10_000,
            page_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Sessions and passwords.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a browser session lasts.
    pub session_days: u32,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Login and setup attempts a minute from one client address (0 = no
    /// limit).
    pub attempts_per_address: u32,
    /// Login attempts a minute from one client address at one account.
    pub attempts_per_address_and_account: u32,
    /// Login attempts a minute at one account from all the addresses that
    /// have not logged in to it before: a crowd guessing one password.
    pub attempts_per_account: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_days: 30,
            secure_cookies: false,
            attempts_per_address: 30,
            attempts_per_address_and_account: 10,
            attempts_per_account: 60,
        }
    }
}

/// How pages are delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Where pages point image URLs: empty for Scoot's own `/media`, or a
    /// CDN (`https://cdn.example/media` in front of Scoot, or a bucket's
    /// public URL whose root holds the keys).
    pub media_base_url: String,
    /// Where pages point CSS/JS/icons: empty for Scoot's own `/assets`, or a
    /// CDN in front of it (`https://static.example/assets`).
    pub asset_base_url: String,
    /// Pages at least this long are compressed on the fly (Brotli or gzip,
    /// as the browser allows); 0 turns that off.
    pub compress_min_bytes: usize,
    /// How `/media/…` answers: empty serves the bytes; `presigned` (an S3
    /// store only) redirects to a short-lived presigned URL on the bucket,
    /// so that the bytes go from the bucket to the client (or the CDN).
    pub media_redirect: String,
    /// A request head must arrive within this many seconds, and an idle
    /// keep-alive connection is closed after as long.
    pub header_timeout_seconds: u64,
    /// A request body that sends nothing, or a client that reads nothing of
    /// its response, for this many seconds is cut off.
    pub stall_timeout_seconds: u64,
    /// Connections open at once; 0 picks the descriptor limit less an
    /// eighth (the database, the store and renders need the rest).
    pub max_connections: usize,
    /// Threads that serve connections, each with its own; 0 picks one per
    /// core (nginx's `worker_processes auto`).
    pub connection_threads: usize,
    /// Load balancers in front of Scoot (addresses or CIDR ranges, such
    /// as `"127.0.0.1"` or `"10.0.0.0/8"`): from these, the client's
    /// address is read from `X-Forwarded-For`. Empty trusts no one.
    pub trusted_proxies: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            media_base_url: String::new(),
            asset_base_url: String::new(),
            compress_min_bytes: 1024,
            media_redirect: String::new(),
            header_timeout_seconds: 10,
            stall_timeout_seconds: 60,
            max_connections: 0,
            connection_threads: 0,
            trusted_proxies: Vec::new(),
        }
    }
}

impl WebConfig {
    /// [`Self::trusted_proxies`], parsed; a bare address is a range of one.
    pub fn trusted_proxy_ranges(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("web.trusted_proxies: {entry:?} is not an address or CIDR range")
                    })
            })
            .collect()
    }

    /// [`Self::max_connections`], or what the descriptor limit leaves.
    pub fn connection_limit(&self) -> usize {
        if self.max_connections > 0 {
            return self.max_connections;
        }
        let descriptors = descriptor_limit().unwrap_or(1024);
        (descriptors - descriptors / 8).clamp(16, 1 << 20) as usize
    }

    /// [`Self::connection_threads`], or one per core.
    pub fn thread_count(&self) -> usize {
        match self.connection_threads {
            0 => cores(),
            n => n,
        }
    }
}

/// The CPU cores this process may use (at least one): what the settings
/// that say 0 for "one per core" count.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// This process's soft limit on open file descriptors.
#[cfg(target_os = "linux")]
fn descriptor_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(target_os = "linux"))]
fn descriptor_limit() -> Option<u64> {
    None
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
}

/// A configuration that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl Config {
    /// Builds the effective configuration from all four layers. `file` is the
    /// TOML file from `--config`; without it `SCOOT_CONFIG` is consulted.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let env_file = std::env::var_os("SCOOT_CONFIG").map(PathBuf::from);
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file.map(Path::to_path_buf).or(env_file) {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("SCOOT_").split("__").filter(|key| {
                let section = key.as_str().split('.').next().unwrap_or("");
                SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(section))
            }))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if self.render.variants.is_empty() {
            return invalid("render.variants must name at least one size".into());
        }
        for (i, v) in self.render.variants.iter().enumerate() {
            if !VariantSpec::valid_name(&v.name) {
                return invalid(format!(
                    "variant name {:?} must be [a-z0-9_]{{1,32}}",
                    v.name
                ));
            }
            if !(16..=8192).contains(&v.long_edge) {
                return invalid(format!("variant {} long_edge must be 16..=8192", v.name));
            }
            if self.render.variants[..i].iter().any(|o| o.name == v.name) {
                return invalid(format!("variant {} is named twice", v.name));
            }
        }
        if !(0..=19).contains(&self.render.nice) {
            return invalid("render.nice must be between 0 and 19".into());
        }
        if !(3..=3600).contains(&self.render.lease_seconds) {
            return invalid("render.lease_seconds must be 3..=3600".into());
        }
        if !(1..=3600).contains(&self.render.retry_seconds) {
            return invalid("render.retry_seconds must be 1..=3600".into());
        }
        if self.render.memory_budget_mb == 0 {
            return invalid("render.memory_budget_mb must be positive".into());
        }
        if !(1..=100).contains(&self.render.jpeg_quality) {
            return invalid("render.jpeg_quality must be 1..=100".into());
        }
        if !(1..=100).contains(&self.render.webp_quality) {
            return invalid("render.webp_quality must be 1..=100".into());
        }
        if self.render.webp_effort > 6 {
            return invalid("render.webp_effort must be 0..=6".into());
        }
        let formats = &self.render.formats;
        if (1..formats.len()).any(|i| formats[..i].contains(&formats[i])) {
            return invalid("render.formats names a format twice".into());
        }
        if !formats.contains(&OutputFormat::Jpeg) {
            return invalid(
                "render.formats must include \"jpeg\": it is what every browser shows".into(),
            );
        }
        if let Err(message) = self.web.trusted_proxy_ranges() {
            return invalid(message);
        }
        if !["", "presigned"].contains(&self.web.media_redirect.as_str()) {
            return invalid("web.media_redirect must be empty or \"presigned\"".into());
        }
        if self.upload.max_bytes == 0 || self.upload.max_pixels == 0 || self.upload.max_side == 0 {
            return invalid("upload limits must be positive".into());
        }
        for (key, value) in [
            ("web.media_base_url", &self.web.media_base_url),
            ("web.asset_base_url", &self.web.asset_base_url),
        ] {
            if !valid_base_url(value) {
                return invalid(format!(
                    "{key} must be empty, a path (/media) or an http(s) URL, not {value:?}"
                ));
            }
        }
        if self.trash.days > 3650 {
            return invalid("trash.days must be 0..=3650".into());
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return invalid("log_format must be \"text\" or \"json\"".into());
        }
        Ok(())
    }

    /// The database URL with the data-dir default applied.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("scoot.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The store URL with the data-dir default applied.
    pub fn store_url(&self) -> String {
        if self.store_url.is_empty() {
            format!("file://{}", self.data_dir.join("media").display())
        } else {
            self.store_url.clone()
        }
    }

    /// The effective configuration as TOML, for `scoot config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

/// `https://cdn.example:8443/media` → `https://cdn.example:8443`; `None`
/// for a path (served by Scoot itself) or anything that is not http(s).
pub fn base_origin(base: &str) -> Option<&str> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))?;
    let host_len = rest.find('/').unwrap_or(rest.len());
    Some(&base[..base.len() - rest.len() + host_len])
}

/// A base URL setting is empty, a path, or http(s) with a host; it ends
/// up in a Content-Security-Policy header, so printable ASCII only and no
/// quotes or separators.
fn valid_base_url(s: &str) -> bool {
    let clean = s.bytes().all(|b| b.is_ascii_graphic()) && !s.contains(['"', '\'', ';', ',']);
    clean
        && (s.is_empty()
            || (s.starts_with('/') && !s.starts_with("//"))
            || base_origin(s).is_some_and(|o| !o.ends_with("://")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        for ok in ["", "/cdn", "https://cdn.example", "http://localhost:9000/b"] {
            assert!(valid_base_url(ok), "{ok}");
        }
        for bad in [
            "cdn.example",
            "//cdn.example",
            "https://",
            "https://\u{fc}.example",
            "https://a b",
            "ftp://x",
        ] {
            assert!(!valid_base_url(bad), "{bad}");
        }
        assert_eq!(
            base_origin("https://cdn.example:8443/media"),
            Some("https://cdn.example:8443")
        );
        assert_eq!(base_origin("/media"), None);
    }

    #[test]
    fn defaults_need_nothing() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url(), "sqlite://data/scoot.db");
        assert_eq!(c.store_url(), "file://data/media");
    }

    #[test]
    fn flags_override_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scoot.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/x\"\n[render]\njpeg_quality = 90\n",
        )
        .unwrap();
        let flags = Overrides {
            listen: Some("0.0.0.0:1234".parse().unwrap()),
            ..Overrides::default()
        };
        let c = Config::load(Some(&file), &flags).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:1234");
        assert_eq!(c.data_dir, PathBuf::from("/srv/x"));
        assert_eq!(c.render.jpeg_quality, 90);
        assert_eq!(c.render.variants.len(), 4);
    }

    #[test]
    fn sections_list_every_top_level_key() {
        let value = serde_json::to_value(Config::default()).unwrap();
        let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        let mut sections: Vec<_> = SECTIONS.iter().map(|s| s.to_string()).collect();
        keys.sort();
        sections.sort();
        assert_eq!(keys, sections);
    }

    #[test]
    fn bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scoot.toml");
        std::fs::write(&file, "[render]\njpeg_quality = 0\n").unwrap();
        assert!(Config::load(Some(&file), &Overrides::default()).is_err());
        std::fs::write(&file, "no_such_key = 1\n").unwrap();
        assert!(Config::load(Some(&file), &Overrides::default()).is_err());
        std::fs::write(&file, "[web]\ntrusted_proxies = [\"10.0.0.0/33\"]\n").unwrap();
        assert!(Config::load(Some(&file), &Overrides::default()).is_err());
        std::fs::write(
            &file,
            "[web]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(config.web.trusted_proxy_ranges().unwrap().len(), 3);
    }
}
