//! `footfall sql` and `footfall lake ...`: the lake from the command line.

use crate::cli::{LakeCommand, SqlArgs};
use crate::config::FootfallConfig;
use anyhow::Context;
use footfall_lake::Loader;
use footfall_log::LogReader;

pub async fn sql(args: SqlArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let lake = config.data_dir(args.data.as_deref()).join("lake");
    let batches = footfall_lake::sql::query(&lake, &args.query).await?;
    let stdout = std::io::stdout();
    crate::output::print(&batches, args.format, &mut stdout.lock())
}

pub async fn run(command: LakeCommand, config: &FootfallConfig) -> anyhow::Result<()> {
    match command {
        LakeCommand::Load { data, batch_rows } => {
            let data = config.data_dir(data.as_deref());
            let log = data.join("log");
            let mut loader =
                Loader::open(&data.join("lake")).await.context("opening the lake")?.with_max_batch_rows(batch_rows);
            // Snapshot readers: safe beside a running server, and they never change the log.
            let events = |offset| LogReader::snapshot(&log.join("events"), offset);
            let dead = |offset| LogReader::snapshot(&log.join("dead-letters"), offset);
            let report = loader.load_available(&events, &dead).await?;
            eprintln!(
                "loaded {} events and {} dead letters in {} commits ({} records left out)",
                report.events, report.dead_letters, report.commits, report.skipped
            );
            Ok(())
        }
    }
}
