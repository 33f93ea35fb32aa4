//! `footfall segments`: RFM segments of the buyers in the lake, sizes and profiles.

use crate::analysis::{Analysis, SegmentsRequest};
use crate::cli::SegmentsArgs;
use crate::config::FootfallConfig;
use crate::metrics::now_micros;
use std::io::Write;

pub async fn run(args: SegmentsArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    let request = SegmentsRequest { as_of: args.as_of.clone(), persons: args.json, k: args.k, write: args.write };
    let answer = request.run(&lake, now_micros()).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &answer)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "RFM as of {}: {} buyers", answer["as_of"].as_str().unwrap_or(""), answer["buyers"])?;
    writeln!(out, "{:<20} {:>8} {:>14} {:>10} {:>12}", "segment", "persons", "recency days", "orders", "revenue")?;
    for s in answer["segments"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "{:<20} {:>8} {:>14.1} {:>10.2} {:>12.2}",
            s["segment"].as_str().unwrap_or(""),
            s["persons"],
            s["mean_recency_days"].as_f64().unwrap_or(0.0),
            s["mean_frequency"].as_f64().unwrap_or(0.0),
            s["mean_monetary"].as_f64().unwrap_or(0.0)
        )?;
    }
    if let Some(clusters) = answer["clusters"].as_object() {
        writeln!(
            out,
            "\nbehavioural clusters of {} active persons (k = {}, by silhouette):",
            clusters["persons"], clusters["k"]
        )?;
        writeln!(out, "{:<8} {:>8}  stands out by", "cluster", "persons")?;
        for p in clusters["profiles"].as_array().into_iter().flatten() {
            writeln!(out, "{:<8} {:>8}  {}", p["cluster"], p["persons"], p["label"].as_str().unwrap_or(""))?;
        }
    }
    Ok(())
}
