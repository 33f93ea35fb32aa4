//! `footfall paths`: what persons did after (or before) an event, step by step.

use crate::analysis::{Analysis, PathsRequest};
use crate::cli::PathsArgs;
use crate::config::FootfallConfig;
use crate::metrics::now_micros;
use std::io::Write;

pub async fn run(args: PathsArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    let request = PathsRequest {
        event: args.event.clone(),
        direction: Some(args.direction.clone()),
        depth: Some(args.depth),
        top: Some(args.top),
        from: args.from.clone(),
        to: args.to.clone(),
    };
    let links = request.run(&lake, now_micros()).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &links)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{:>4}  {:<28} {:<28} {:>9}", "step", "from", "to", "persons")?;
    for l in &links {
        writeln!(out, "{:>4}  {:<28} {:<28} {:>9}", l.step, l.source, l.target, l.persons)?;
    }
    Ok(())
}
