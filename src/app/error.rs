//! What can go wrong in a service, in domain terms. Each variant keeps its
//! cause; the web layer maps them to statuses in one place
//! (`web::error`), the CLI prints them.

use crate::auth::AuthError;
use crate::blobs::BlobError;
use crate::db::DbError;
use crate::ingest::IngestError;
use crate::render::probe::ProbeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// There is no such thing, or the asker may not know it exists.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Nobody is logged in, and the action needs someone.
    #[error("log in or send a bearer token")]
    Unauthorized,
    /// The asker may see this but not do that.
    #[error("not allowed")]
    Forbidden,
    /// A value the caller sent breaks a rule (length, format, membership).
    #[error("{0}")]
    Invalid(String),
    /// A uniqueness rule: a name that is taken, setup already done.
    #[error("{0}")]
    Conflict(String),
    /// The upload is over the byte limit.
    #[error("upload is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    /// The bytes are not an image Scoot takes, or are over a pixel limit.
    #[error("{0}")]
    Unsupported(#[source] ProbeError),
    /// A bounded resource is taken; nothing changed. Try again later.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after_secs: u32,
    },
    /// The server cannot write what the request would store: a disk is
    /// full or below its floor, or read-only. Nothing changed.
    #[error("{0}")]
    NoSpace(String),
    /// Too many login or setup attempts from this client or at this
    /// account; nothing was checked.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u32 },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Something that should not happen (a thread gone, a bug).
    #[error("{0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

/// An error and the causes its own message leaves out, on one line: for
/// logs and for the CLI.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Why the server could not write: a disk is full, or cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    Full,
    ReadOnly,
}

impl StorageFault {
    /// The fault behind `e`, if one of its causes is a disk or a database
    /// saying it is full (`ENOSPC`, `EDQUOT`, `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`) or cannot be written (`EROFS`, `EACCES`, `EPERM`,
    /// `SQLITE_READONLY`).
    pub fn of(e: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut cause = Some(e);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind as K;
                match io.kind() {
                    K::StorageFull | K::QuotaExceeded => return Some(Self::Full),
                    K::ReadOnlyFilesystem | K::PermissionDenied => return Some(Self::ReadOnly),
                    _ => {}
                }
            }
            if let Some(code) = e
                .downcast_ref::<rusqlite::Error>()
                .and_then(rusqlite::Error::sqlite_error_code)
            {
                match code {
                    rusqlite::ErrorCode::DiskFull => return Some(Self::Full),
                    rusqlite::ErrorCode::ReadOnly => return Some(Self::ReadOnly),
                    _ => {}
                }
            }
            if e.downcast_ref::<tokio_postgres::Error>()
                .and_then(tokio_postgres::Error::code)
                == Some(&tokio_postgres::error::SqlState::DISK_FULL)
            {
                return Some(Self::Full);
            }
            cause = e.source();
        }
        None
    }

    /// What a client is told: nothing was saved, and why.
    pub fn message(self) -> &'static str {
        match self {
            Self::Full => "the server's storage is full; nothing was saved",
            Self::ReadOnly => "the server's storage cannot be written; nothing was saved",
        }
    }
}

impl AppError {
    /// Why the server could not write, when that is what went wrong.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        match self {
            Self::Db(e) => StorageFault::of(e),
            Self::Store(e) => StorageFault::of(e),
            Self::Io { source, .. } => StorageFault::of(source),
            _ => None,
        }
    }

    /// Which engine could not be reached, when that is what went wrong:
    /// nothing changed, and trying again shortly may work.
    pub fn unavailable(&self) -> Option<&'static str> {
        match self {
            Self::Db(d) if d.is_unavailable() => Some("database"),
            Self::Store(StoreError::Backend(_)) => Some("object store"),
            _ => None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub fn busy(message: impl Into<String>, retry_after_secs: u32) -> Self {
        Self::Busy {
            message: message.into(),
            retry_after_secs,
        }
    }
}

impl From<IngestError> for AppError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::TooLarge { limit } => Self::TooLarge { limit },
            IngestError::Refused(p) => Self::Unsupported(p),
            IngestError::Blob(b) => b.into(),
            IngestError::Db(d) => Self::Db(d),
            IngestError::Store(s) => Self::Store(s),
            IngestError::Io(source) => Self::Io {
                what: "staging an upload",
                source,
            },
            IngestError::LowSpace(low) => Self::NoSpace(format!(
                "the server is low on disk space; nothing was saved ({low})"
            )),
        }
    }
}

impl From<BlobError> for AppError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Busy => Self::busy(e.to_string(), 1),
            BlobError::LeaseSpent(_) => Self::Internal(e.to_string()),
            BlobError::Db(d) => Self::Db(d),
            BlobError::Store(s) => Self::Store(s),
        }
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::BadName | AuthError::BadPassword => Self::Invalid(e.to_string()),
            AuthError::NameTaken(_) => Self::Conflict(e.to_string()),
            AuthError::NoSuchUser(_) => Self::Invalid(e.to_string()),
            AuthError::Busy => Self::busy(e.to_string(), 1),
            AuthError::Db(d) => Self::Db(d),
            AuthError::Hash(h) => Self::Internal(format!("password hashing: {h}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::ffi::c_int) -> AppError {
        let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        AppError::Db(DbError::from(e))
    }

    fn disk(kind: std::io::ErrorKind) -> AppError {
        AppError::Store(StoreError::Backend(object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(kind)),
        }))
    }

    /// The causes that make a request `507`, found however deep they sit,
    /// and nothing else.
    #[test]
    fn storage_faults_are_found_among_the_causes() {
        use std::io::ErrorKind as K;
        let cases = [
            (sqlite(rusqlite::ffi::SQLITE_FULL), Some(StorageFault::Full)),
            (
                sqlite(rusqlite::ffi::SQLITE_READONLY),
                Some(StorageFault::ReadOnly),
            ),
            (sqlite(rusqlite::ffi::SQLITE_BUSY), None),
            (disk(K::StorageFull), Some(StorageFault::Full)),
            (disk(K::QuotaExceeded), Some(StorageFault::Full)),
            (disk(K::ReadOnlyFilesystem), Some(StorageFault::ReadOnly)),
            (disk(K::PermissionDenied), Some(StorageFault::ReadOnly)),
            (disk(K::ConnectionRefused), None),
            (
                AppError::Io {
                    what: "staging an upload",
                    source: std::io::Error::from(K::StorageFull),
                },
                Some(StorageFault::Full),
            ),
            (AppError::NotFound("photo"), None),
        ];
        for (error, fault) in cases {
            assert_eq!(error.storage_fault(), fault, "{}", with_causes(&error));
        }
    }
}
