//! Printing query results: an aligned table for people, CSV and JSON for programs, Parquet
//! for other engines. JSON is one document, an array of row objects, and nothing else goes to
//! stdout.

use anyhow::Context;
use clap::ValueEnum;
use footfall_lake::arrow::array::Array;
use footfall_lake::arrow::datatypes::DataType;
use footfall_lake::arrow::record_batch::RecordBatch;
use footfall_lake::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Value};
use std::io::Write;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// A Parquet file (needs `--output`).
    Parquet,
}

/// A result column: its name and its Arrow type.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Its type: `string`, `integer`, `float`, `decimal`, `boolean`, `date`, `timestamp`,
    /// else Arrow's own name for it.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A short, engine-neutral name of an Arrow type.
fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        t if t.is_integer() => "integer".into(),
        t if t.is_floating() => "float".into(),
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            "decimal".into()
        }
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Dictionary(_, value) => type_name(value),
        other => other.to_string(),
    }
}

/// The results as columns and one JSON object per row.
pub fn json_rows(batches: &[RecordBatch]) -> anyhow::Result<(Vec<Column>, Vec<Value>)> {
    let Cells { names, types, rows } = cells(batches)?;
    let objects = rows
        .into_iter()
        .map(|row| {
            let object: Map<String, Value> = names
                .iter()
                .zip(&types)
                .zip(row)
                .map(|((name, data_type), cell)| (name.clone(), json_value(cell, data_type)))
                .collect();
            Value::Object(object)
        })
        .collect();
    let columns = names.into_iter().zip(types).map(|(name, t)| Column { name, data_type: type_name(&t) }).collect();
    Ok((columns, objects))
}

/// Writes `batches` as a Parquet file at `path`, with their schema.
pub fn write_parquet(batches: &[RecordBatch], path: &std::path::Path) -> anyhow::Result<()> {
    use footfall_lake::parquet::arrow::ArrowWriter;
    let Some(first) = batches.first() else { anyhow::bail!("the query returned no schema to write") };
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, first.schema(), None).context("starting the Parquet file")?;
    for batch in batches {
        writer.write(batch).context("writing Parquet")?;
    }
    writer.close().context("finishing the Parquet file")?;
    Ok(())
}

/// Query results as text: column names and types, and rows of display strings (`None` for
/// null).
#[derive(Default)]
struct Cells {
    names: Vec<String>,
    types: Vec<DataType>,
    rows: Vec<Vec<Option<String>>>,
}

/// The results as [`Cells`].
fn cells(batches: &[RecordBatch]) -> anyhow::Result<Cells> {
    let Some(first) = batches.first() else { return Ok(Cells::default()) };
    let schema = first.schema();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    let types = schema.fields().iter().map(|f| f.data_type().clone()).collect();
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .context("formatting results")?;
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(column, f)| (!column.is_null(row)).then(|| f.value(row).to_string()))
                    .collect(),
            );
        }
    }
    Ok(Cells { names, types, rows })
}

/// Writes `batches` to `out` in `format`.
pub fn print(batches: &[RecordBatch], format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let Cells { names, rows, .. } = cells(batches)?;
            let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.as_deref().map_or(4, |c| c.chars().count()));
                }
            }
            let line = |cells: Vec<&str>| {
                cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join(" | ")
            };
            writeln!(out, "{}", line(names.iter().map(String::as_str).collect()))?;
            writeln!(out, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"))?;
            for row in &rows {
                writeln!(out, "{}", line(row.iter().map(|c| c.as_deref().unwrap_or("null")).collect()))?;
            }
            writeln!(out, "({} rows)", rows.len())?;
        }
        Format::Csv => {
            let Cells { names, rows, .. } = cells(batches)?;
            let quote = |s: &str| {
                if s.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_owned()
                }
            };
            writeln!(out, "{}", names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(","))?;
            for row in &rows {
                writeln!(
                    out,
                    "{}",
                    row.iter().map(|c| c.as_deref().map(quote).unwrap_or_default()).collect::<Vec<_>>().join(",")
                )?;
            }
        }
        Format::Json => {
            let (_, objects) = json_rows(batches)?;
            serde_json::to_writer(&mut *out, &objects)?;
            writeln!(out)?;
        }
        Format::Parquet => anyhow::bail!("Parquet is written to a file: give --output FILE"),
    }
    Ok(())
}

/// A cell as JSON: numbers and booleans as themselves, everything else as its display text.
fn json_value(cell: Option<String>, data_type: &DataType) -> Value {
    let Some(text) = cell else { return Value::Null };
    let numeric = data_type.is_numeric() || matches!(data_type, DataType::Boolean);
    if numeric {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            return value;
        }
    }
    Value::String(text)
}
