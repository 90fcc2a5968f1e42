//! Whole tables on PostgreSQL, for `scoot migrate-db`.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::PostgresRepo;
use super::rows::get;
use deadpool_postgres::GenericClient;
use tokio_postgres::IsolationLevel;

use crate::db::copy::{
    Column, ColumnType, CopyRepo, Row, TABLES, Value, insert_sql, key_of, select_sql,
};
use crate::db::sqlite::SqliteRepo;
use crate::db::{DbError, DbResult};
use crate::domain::now_millis;

type Param = Box<dyn ToSql + Sync + Send>;

/// `v` as a parameter of a column of type `kind`.
fn param(kind: ColumnType, v: &Value) -> DbResult<Param> {
    let mismatch = || DbError::Corrupt(format!("{v:?} in a {kind:?} column"));
    Ok(match (kind, v) {
        (ColumnType::Text, Value::Text(s)) => Box::new(Some(s.clone())),
        (ColumnType::Text, Value::Null) => Box::new(None::<String>),
        (ColumnType::Integer, Value::Int(i)) => {
            Box::new(Some(i32::try_from(*i).map_err(|_| mismatch())?))
        }
        (ColumnType::Integer, Value::Null) => Box::new(None::<i32>),
        (ColumnType::BigInt, Value::Int(i)) => Box::new(Some(*i)),
        (ColumnType::BigInt, Value::Null) => Box::new(None::<i64>),
        (ColumnType::Double, Value::Real(f)) => Box::new(Some(*f)),
        (ColumnType::Double, Value::Int(i)) => Box::new(Some(*i as f64)),
        (ColumnType::Double, Value::Null) => Box::new(None::<f64>),
        _ => return Err(mismatch()),
    })
}

fn value(row: &tokio_postgres::Row, i: usize, kind: ColumnType) -> DbResult<Value> {
    Ok(match kind {
        ColumnType::Text => get::<Option<String>>(row, i)?.map_or(Value::Null, Value::Text),
        ColumnType::Integer => {
            get::<Option<i32>>(row, i)?.map_or(Value::Null, |v| Value::Int(v.into()))
        }
        ColumnType::BigInt => get::<Option<i64>>(row, i)?.map_or(Value::Null, Value::Int),
        ColumnType::Double => get::<Option<f64>>(row, i)?.map_or(Value::Null, Value::Real),
    })
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
}

/// [`CopyRepo::read_rows`] on `c`, a connection or a transaction.
async fn read_page(
    c: &impl GenericClient,
    table: &str,
    columns: &[Column],
    key: &[&str],
    after: Option<&[Value]>,
    limit: u32,
) -> DbResult<Vec<Row>> {
    let sql = select_sql(table, columns, key, after.is_some(), |i| format!("${i}"));
    let mut params = Vec::new();
    for (k, v) in key.iter().zip(after.unwrap_or_default()) {
        let kind = columns
            .iter()
            .find(|c| c.name == *k)
            .map(|c| c.kind)
            .ok_or_else(|| DbError::Corrupt(format!("{table} has no column {k}")))?;
        params.push(param(kind, v)?);
    }
    params.push(Box::new(i64::from(limit)));
    let stmt = c.prepare_cached(&sql).await?;
    let rows = c.query(&stmt, &refs(&params)).await?;
    rows.iter()
        .map(|r| {
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| value(r, i, c.kind))
                .collect()
        })
        .collect()
}

#[async_trait]
impl CopyRepo for PostgresRepo {
    async fn columns(&self, table: &str) -> DbResult<Vec<Column>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1
                 ORDER BY ordinal_position",
                &[&table],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let (name, declared): (String, String) = (get(r, 0)?, get(r, 1)?);
                let kind = ColumnType::from_declared(&declared).ok_or_else(|| {
                    DbError::Corrupt(format!("{table}.{name}: unknown type {declared}"))
                })?;
                Ok(Column { name, kind })
            })
            .collect()
    }

    async fn read_rows(
        &self,
        table: &str,
        columns: &[Column],
        key: &[&str],
        after: Option<&[Value]>,
        limit: u32,
    ) -> DbResult<Vec<Row>> {
        let client = self.client().await?;
        read_page(&client, table, columns, key, after, limit).await
    }

    async fn write_rows(&self, table: &str, columns: &[Column], rows: &[Row]) -> DbResult<u64> {
        let sql = insert_sql(table, columns, |i| format!("${i}"));
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stmt = tx.prepare_cached(&sql).await?;
        let mut written = 0;
        for row in rows {
            let params = columns
                .iter()
                .zip(row)
                .map(|(c, v)| param(c.kind, v))
                .collect::<DbResult<Vec<_>>>()?;
            written += tx.execute(&stmt, &refs(&params)).await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn count_rows(&self, table: &str) -> DbResult<u64> {
        let row = self
            .client()
            .await?
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await?;
        Ok(get::<i64>(&row, 0)?.unsigned_abs())
    }

    async fn copy_marker(&self) -> DbResult<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT source FROM copy_progress", &[])
            .await?;
        row.map(|r| get(&r, 0)).transpose()
    }

    async fn snapshot_to(&self, path: &std::path::Path) -> DbResult<()> {
        let target = SqliteRepo::open(path.to_path_buf()).await?;
        let mut client = self.client().await?;
        // Every page read in one transaction that sees the database as of
        // its first read, and writes nothing.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        for (table, key) in TABLES {
            let columns = self.columns(table).await?;
            let mut after = None;
            loop {
                let rows = read_page(&tx, table, &columns, key, after.as_deref(), 1000).await?;
                let Some(last) = rows.last() else { break };
                after = Some(key_of(&columns, key, last));
                target.write_rows(table, &columns, &rows).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_copy_marker(&self, source: Option<&str>) -> DbResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("DELETE FROM copy_progress", &[]).await?;
        if let Some(source) = source {
            tx.execute(
                "INSERT INTO copy_progress (source, started_at) VALUES ($1, $2)",
                &[&source, &now_millis()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
