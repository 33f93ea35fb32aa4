//! `footfall trends`: trends, lifecycle or stickiness over the lake's `events`, as JSON rows.

use crate::analysis::{Analysis, TrendsRequest};
use crate::cli::TrendsArgs;
use crate::config::FootfallConfig;
use crate::metrics::now_micros;
use std::io::Write;

pub async fn run(args: TrendsArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    let request = TrendsRequest {
        show: Some(args.show.clone()),
        event: args.event.clone(),
        interval: Some(args.interval.clone()),
        from: args.from.clone(),
        to: args.to.clone(),
        breakdown: args.breakdown.clone(),
    };
    let rows = request.run(&lake, now_micros()).await?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &rows)?;
    writeln!(out)?;
    Ok(())
}
