//! `footfall funnel`: a conversion funnel over the lake's `events`.

use crate::analysis::{split_steps, Analysis, ExclusionRequest, FunnelRequest, MaxGapRequest};
use crate::cli::FunnelArgs;
use crate::config::FootfallConfig;
use crate::metrics::now_micros;
use anyhow::Context;
use std::io::Write;

pub async fn run(args: FunnelArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    let exclusions = args
        .exclude
        .iter()
        .map(|text| {
            // EVENT:FROM-TO, e.g. "Product Removed:2-3".
            let (event, steps) =
                text.rsplit_once(':').context("--exclude is EVENT:FROM-TO, e.g. \"Product Removed:2-3\"")?;
            let (from, to) = steps.split_once('-').context("--exclude is EVENT:FROM-TO")?;
            Ok(ExclusionRequest {
                event: event.to_owned(),
                from_step: from.trim().parse().context("--exclude: FROM is a step number")?,
                to_step: to.trim().parse().context("--exclude: TO is a step number")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let max_gaps = args
        .max_gap
        .iter()
        .map(|text| {
            let (step, within) = text.split_once('=').context("--max-gap is STEP=DURATION, e.g. 3=30m")?;
            Ok(MaxGapRequest {
                step: step.trim().parse().context("--max-gap: STEP is a step number")?,
                within: within.trim().to_owned(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let request = FunnelRequest {
        max_gaps,
        steps: split_steps(&args.steps),
        window: Some(args.window.clone()),
        mode: Some(args.mode.clone()),
        from: args.from.clone(),
        to: args.to.clone(),
        exclusions,
        breakdown: args.breakdown.clone(),
        attribution: Some(args.attribution.clone()),
    };
    let results = request.run(&lake, now_micros()).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>4}  {:<28} {:<14} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11}",
        "step", "event", "breakdown", "persons", "% start", "% prev", "dropoff", "median s", "mean s"
    )?;
    let seconds = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| format!("{s:.0}"));
    for r in &results {
        writeln!(
            out,
            "{:>4}  {:<28} {:<14} {:>9} {:>8.1}% {:>8.1}% {:>9} {:>11} {:>11}",
            r.step,
            if r.optional { format!("?{}", r.event) } else { r.event.clone() },
            r.breakdown.as_deref().unwrap_or(""),
            r.persons,
            100.0 * r.conversion_from_start,
            100.0 * r.conversion_from_previous,
            r.dropoff,
            seconds(r.median_seconds_to_convert),
            seconds(r.mean_seconds_to_convert)
        )?;
    }
    if results.is_empty() {
        writeln!(out, "(nobody entered step 1 in the range)")?;
    }
    Ok(())
}
