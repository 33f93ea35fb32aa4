//! `footfall sql`, `footfall lake ...`, `footfall jobs ...` and `footfall forget`: the lake
//! from the command line.

use crate::cli::{ForgetArgs, JobsCommand, LakeCommand, SqlArgs};
use crate::config::FootfallConfig;
use crate::output::Format;
use anyhow::Context;
use footfall_lake::{maintenance, Interval, Loader, Transform};
use footfall_log::LogReader;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub async fn sql(args: SqlArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let lake = config.lake(&config.data_dir(args.data.as_deref()))?;
    // The command line prints every row; memory and time are bounded as in a server.
    let limits = footfall_lake::sql::QueryLimits { max_rows: usize::MAX, ..config.sql.limits()? };
    let batches = footfall_lake::sql::query_bounded(&lake, &args.query, limits).await?.batches;
    match (&args.output, args.format) {
        (Some(path), Format::Parquet) => crate::output::write_parquet(&batches, path),
        (Some(path), format) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            crate::output::print(&batches, format, &mut out)?;
            out.flush().with_context(|| format!("writing {}", path.display()))
        }
        (None, format) => crate::output::print(&batches, format, &mut std::io::stdout().lock()),
    }
}

pub async fn run(command: LakeCommand, config: &FootfallConfig) -> anyhow::Result<()> {
    match command {
        LakeCommand::Load { data, batch_rows } => {
            let data = config.data_dir(data.as_deref());
            let log = data.join("log");
            let lake = config.lake(&data)?;
            let mut loader = Loader::open(&lake)
                .await
                .context("opening the lake")?
                .with_max_batch_rows(batch_rows)
                .with_ip_policy(config.processor.ip);
            // Snapshot readers: safe beside a running server, and they never change the log.
            let events = |offset| LogReader::snapshot(&log.join("events"), offset);
            let dead = |offset| LogReader::snapshot(&log.join("dead-letters"), offset);
            let report = loader.load_available(&events, &dead).await?;
            eprintln!(
                "loaded {} events and {} dead letters in {} commits ({} records left out)",
                report.events, report.dead_letters, report.commits, report.skipped
            );
        }
        LakeCommand::Optimize { table, data } => {
            let lake = config.lake(&config.data_dir(data.as_deref()))?;
            for name in tables(&lake, table).await? {
                let report = maintenance::optimize(&lake, &name).await.with_context(|| format!("optimizing {name}"))?;
                eprintln!("{name}: compacted {} files into {}", report.files_removed, report.files_added);
            }
        }
        LakeCommand::Vacuum { table, retain_hours, data } => {
            anyhow::ensure!(retain_hours.is_finite() && retain_hours >= 0.0, "--retain-hours must be 0 or more");
            let lake = config.lake(&config.data_dir(data.as_deref()))?;
            let retain = Duration::from_secs_f64(retain_hours * 3600.0);
            for name in tables(&lake, table).await? {
                let deleted =
                    maintenance::vacuum(&lake, &name, retain).await.with_context(|| format!("vacuuming {name}"))?;
                eprintln!("{name}: deleted {deleted} files");
            }
        }
    }
    Ok(())
}

/// The named table, or every table the lake has.
async fn tables(lake: &footfall_lake::Lake, named: Option<String>) -> anyhow::Result<Vec<String>> {
    if let Some(name) = named {
        return Ok(vec![name]);
    }
    let mut present = Vec::new();
    for name in footfall_lake::sql::table_names(lake) {
        if lake.open_table(&name).await?.is_some() {
            present.push(name);
        }
    }
    Ok(present)
}

pub async fn jobs(command: JobsCommand, config: &FootfallConfig) -> anyhow::Result<()> {
    let dir = |flag: Option<PathBuf>| flag.or_else(|| config.transforms_dir());
    match command {
        JobsCommand::List { transforms } => {
            let mut all = match dir(transforms) {
                Some(dir) => Transform::from_dir(&dir)?,
                None => Vec::new(),
            };
            let builtin: Vec<Transform> =
                Transform::builtin().into_iter().filter(|b| !all.iter().any(|t| t.name == b.name)).collect();
            all.extend(builtin);
            for transform in all {
                println!("{}/{}", transform.layer, transform.name);
            }
        }
        JobsCommand::Run { name, from, to, data, transforms } => {
            let lake = config.lake(&config.data_dir(data.as_deref()))?;
            let transform = Transform::find(&name, dir(transforms).as_deref())?;
            let interval = match (from, to) {
                (Some(from), Some(to)) => {
                    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
                    Interval::Days { from, to }
                }
                _ => Interval::New,
            };
            let report = transform.run(&lake, interval).await.with_context(|| format!("running job {name}"))?;
            match (report.days.first(), report.days.last()) {
                (Some(first), Some(last)) => eprintln!(
                    "{name}: rebuilt {} days ({first} to {last}) with {} rows",
                    report.days.len(),
                    report.rows
                ),
                _ => eprintln!("{name}: up to date, nothing new"),
            }
        }
    }
    Ok(())
}

pub async fn forget(args: ForgetArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    anyhow::ensure!(!args.user.is_empty(), "--user needs a user id");
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    let requested_by = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let report = maintenance::forget(&lake, &args.user, &requested_by).await.context("erasing the person")?;
    // The processor's checkpoints: else the person comes back, linked, on their next event.
    let checkpoints = footfall_lake::processing::forget_in_checkpoints(&data.join("processor"), &report.ids)
        .context("erasing the person from the processor's checkpoints")?;
    eprintln!("forgot {} (ids: {}; request {})", args.user, report.ids.join(", "), report.request_id);
    for (table, rows) in &report.deleted {
        eprintln!("  {table}: {rows} rows deleted");
    }
    eprintln!(
        "  processor checkpoints: {} rewritten, {} unreadable ones removed, {} entries forgotten",
        checkpoints.rewritten, checkpoints.removed, checkpoints.entries
    );
    eprintln!(
        "their rows are gone from every query; run `footfall lake vacuum --retain-hours 0` to delete the old files too"
    );
    Ok(())
}
