//! `footfall metrics`: a time series from the lake's `metrics_1m`, as the API gives it (without
//! the windows a running server holds in memory).

use crate::cli::MetricsArgs;
use crate::config::FootfallConfig;
use crate::metrics::now_micros;
use footfall_lake::metrics::format_time;
use std::io::Write;

pub async fn run(args: MetricsArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    let (query, step) = args.params.to_query(now_micros())?;
    let series = footfall_lake::metrics::query(&lake, &query, None).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &footfall_lake::metrics::to_json(&query, &step, &series))?;
        writeln!(out)?;
        return Ok(());
    }
    let by = query.by.map_or("", |b| b.name());
    writeln!(out, "{:<22} {:<18} value", "time", by)?;
    for s in &series {
        for &(time, value) in &s.points {
            writeln!(out, "{:<22} {:<18} {value}", format_time(time), s.group.as_deref().unwrap_or(""))?;
        }
    }
    Ok(())
}
