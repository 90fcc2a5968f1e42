//! Whole tables, row by row, for `scoot migrate-db`: one engine's rows
//! read and written by another's, unchanged.
//!
//! Both engines ran the same migrations, so a table has the same columns
//! on both; the source says what they are. Rows are read in primary-key
//! order, a page after a key, and written with `ON CONFLICT DO NOTHING`,
//! so a copy that was interrupted is resumed by running it again.

use async_trait::async_trait;

use super::DbResult;

/// Every table of Scoot's data, in an order that writes a row only after
/// the rows it refers to, with its primary key. `site_version`,
/// `schema_migrations` and `node_samples` (the admin page's last hour of
/// counters) are not copied: every database has its own.
pub const TABLES: &[(&str, &[&str])] = &[
    ("users", &["id"]),
    ("auth_tokens", &["token_hash"]),
    ("photos", &["id"]),
    ("variants", &["photo_id", "name", "format"]),
    ("render_jobs", &["id"]),
    ("albums", &["id"]),
    ("album_photos", &["album_id", "photo_id"]),
    ("blobs", &["hash"]),
    ("blob_uploads", &["id"]),
    ("storage_use", &["shard"]),
];

/// A column's type, as the migrations declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    /// `INTEGER`: 32 bits on PostgreSQL.
    Integer,
    BigInt,
    Double,
}

impl ColumnType {
    /// From a declared type (SQLite's `PRAGMA table_info`, PostgreSQL's
    /// `information_schema`).
    pub fn from_declared(declared: &str) -> Option<Self> {
        match declared.to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "integer" => Some(Self::Integer),
            "bigint" => Some(Self::BigInt),
            "double precision" => Some(Self::Double),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

pub type Row = Vec<Value>;

#[async_trait]
pub trait CopyRepo: Send + Sync {
    /// The columns of `table`, in order.
    async fn columns(&self, table: &str) -> DbResult<Vec<Column>>;
    /// Up to `limit` rows of `table` (all `columns`), in the order of
    /// `key`, after the row whose key values are `after`.
    async fn read_rows(
        &self,
        table: &str,
        columns: &[Column],
        key: &[&str],
        after: Option<&[Value]>,
        limit: u32,
    ) -> DbResult<Vec<Row>>;
    /// Writes rows, in one transaction; rows whose key exists are left
    /// as they are. Returns how many were new.
    async fn write_rows(&self, table: &str, columns: &[Column], rows: &[Row]) -> DbResult<u64>;
    async fn count_rows(&self, table: &str) -> DbResult<u64>;
    /// The source of a copy into this database that has not finished.
    async fn copy_marker(&self) -> DbResult<Option<String>>;
    /// Records (`Some`) or clears (`None`) an unfinished copy from `source`.
    async fn set_copy_marker(&self, source: Option<&str>) -> DbResult<()>;
    /// Writes every table of [`TABLES`], as of one moment, into a new
    /// SQLite file at `path` (which must not exist yet): the snapshot
    /// `scoot backup` keeps. Safe while the database is in use.
    async fn snapshot_to(&self, path: &std::path::Path) -> DbResult<()>;
}

/// The values of `key`'s columns in `row`.
pub fn key_of(columns: &[Column], key: &[&str], row: &Row) -> Vec<Value> {
    key.iter()
        .filter_map(|k| columns.iter().position(|c| c.name == *k))
        .map(|i| row[i].clone())
        .collect()
}

/// `SELECT cols FROM table [WHERE (key) > (…)] ORDER BY key LIMIT n`, with
/// placeholders written by `param` (`?1` or `$1`).
pub fn select_sql(
    table: &str,
    columns: &[Column],
    key: &[&str],
    after: bool,
    param: impl Fn(usize) -> String,
) -> String {
    let cols = columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let keys = key.join(", ");
    let mut sql = format!("SELECT {cols} FROM {table}");
    if after {
        let params = (1..=key.len()).map(&param).collect::<Vec<_>>().join(", ");
        sql.push_str(&format!(" WHERE ({keys}) > ({params})"));
    }
    sql.push_str(&format!(
        " ORDER BY {keys} LIMIT {}",
        param(key.len() * usize::from(after) + 1)
    ));
    sql
}

/// `INSERT INTO table (cols) VALUES (…) ON CONFLICT DO NOTHING`.
pub fn insert_sql(table: &str, columns: &[Column], param: impl Fn(usize) -> String) -> String {
    let cols = columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let params = (1..=columns.len())
        .map(param)
        .collect::<Vec<_>>()
        .join(", ");
    format!("INSERT INTO {table} ({cols}) VALUES ({params}) ON CONFLICT DO NOTHING")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<Column> {
        names
            .iter()
            .map(|n| Column {
                name: (*n).into(),
                kind: ColumnType::Text,
            })
            .collect()
    }

    #[test]
    fn statements_page_by_key() {
        let c = cols(&["a", "b", "c"]);
        let dollar = |i| format!("${i}");
        assert_eq!(
            select_sql("t", &c, &["a", "b"], false, dollar),
            "SELECT a, b, c FROM t ORDER BY a, b LIMIT $1"
        );
        assert_eq!(
            select_sql("t", &c, &["a", "b"], true, dollar),
            "SELECT a, b, c FROM t WHERE (a, b) > ($1, $2) ORDER BY a, b LIMIT $3"
        );
        assert_eq!(
            insert_sql("t", &c, |i| format!("?{i}")),
            "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
        );
        let row = vec![Value::Int(1), Value::Null, Value::Text("x".into())];
        assert_eq!(
            key_of(&c, &["c", "a"], &row),
            [Value::Text("x".into()), Value::Int(1)]
        );
    }

    #[test]
    fn declared_types_are_known() {
        assert_eq!(
            ColumnType::from_declared("BIGINT"),
            Some(ColumnType::BigInt)
        );
        assert_eq!(
            ColumnType::from_declared("double precision"),
            Some(ColumnType::Double)
        );
        assert_eq!(ColumnType::from_declared("blob"), None);
    }
}
