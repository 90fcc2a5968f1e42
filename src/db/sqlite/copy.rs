//! Whole tables on SQLite, for `scoot migrate-db`.

use async_trait::async_trait;
use rusqlite::types::Value as Sql;
use rusqlite::{OptionalExtension, params_from_iter};

use super::SqliteRepo;
use crate::db::copy::{Column, ColumnType, CopyRepo, Row, Value, insert_sql, select_sql};
use crate::db::{DbError, DbResult};
use crate::domain::now_millis;

fn to_sql(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Int(i) => Sql::Integer(*i),
        Value::Real(f) => Sql::Real(*f),
        Value::Text(s) => Sql::Text(s.clone()),
    }
}

fn from_sql(v: Sql) -> DbResult<Value> {
    Ok(match v {
        Sql::Null => Value::Null,
        Sql::Integer(i) => Value::Int(i),
        Sql::Real(f) => Value::Real(f),
        Sql::Text(s) => Value::Text(s),
        Sql::Blob(_) => return Err(DbError::Corrupt("a BLOB in a copied table".into())),
    })
}

#[async_trait]
impl CopyRepo for SqliteRepo {
    async fn columns(&self, table: &str) -> DbResult<Vec<Column>> {
        let table = table.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare(&format!("PRAGMA table_info({table})"))?;
            let columns = stmt
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            columns
                .into_iter()
                .map(|(name, declared)| {
                    let kind = ColumnType::from_declared(&declared).ok_or_else(|| {
                        DbError::Corrupt(format!("{table}.{name}: unknown type {declared}"))
                    })?;
                    Ok(Column { name, kind })
                })
                .collect()
        })
        .await
    }

    async fn read_rows(
        &self,
        table: &str,
        columns: &[Column],
        key: &[&str],
        after: Option<&[Value]>,
        limit: u32,
    ) -> DbResult<Vec<Row>> {
        let sql = select_sql(table, columns, key, after.is_some(), |i| format!("?{i}"));
        let mut params: Vec<Sql> = after.unwrap_or_default().iter().map(to_sql).collect();
        params.push(Sql::Integer(limit.into()));
        let width = columns.len();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(params))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let row = (0..width)
                    .map(|i| from_sql(r.get::<_, Sql>(i)?))
                    .collect::<DbResult<Row>>()?;
                out.push(row);
            }
            Ok(out)
        })
        .await
    }

    async fn write_rows(&self, table: &str, columns: &[Column], rows: &[Row]) -> DbResult<u64> {
        let sql = insert_sql(table, columns, |i| format!("?{i}"));
        let rows = rows.to_vec();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(&sql)?;
            let mut written = 0;
            for row in &rows {
                written += stmt.execute(params_from_iter(row.iter().map(to_sql)))? as u64;
            }
            Ok(written)
        })
        .await
    }

    async fn count_rows(&self, table: &str) -> DbResult<u64> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        self.read(move |c| {
            let n: i64 = c.query_row(&sql, [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn copy_marker(&self) -> DbResult<Option<String>> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT source FROM copy_progress", [], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn snapshot_to(&self, path: &std::path::Path) -> DbResult<()> {
        // One read transaction: what the file holds is the database as of
        // its start, whatever is written meanwhile.
        let target = path.to_string_lossy().into_owned();
        self.read(move |c| {
            c.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        })
        .await
    }

    async fn set_copy_marker(&self, source: Option<&str>) -> DbResult<()> {
        let source = source.map(str::to_owned);
        self.write(move |tx| {
            tx.execute("DELETE FROM copy_progress", [])?;
            if let Some(source) = source {
                tx.execute(
                    "INSERT INTO copy_progress (source, started_at) VALUES (?1, ?2)",
                    rusqlite::params![source, now_millis()],
                )?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_are_the_declared_ones() {
        // Every column the migrations declare has a type the copy knows.
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn).unwrap();
        for (table, _) in crate::db::copy::TABLES {
            let mut stmt = conn
                .prepare(&format!("PRAGMA table_info({table})"))
                .unwrap();
            let types: Vec<String> = stmt
                .query_map([], |r| r.get(2))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(!types.is_empty(), "{table} exists");
            for t in types {
                assert!(ColumnType::from_declared(&t).is_some(), "{table}: {t}");
            }
        }
    }
}
