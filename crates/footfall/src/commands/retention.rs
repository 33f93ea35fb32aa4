//! `footfall retention`: the cohort × period matrix over the lake's `events`.

use crate::analysis::{Analysis, RetentionRequest};
use crate::cli::RetentionArgs;
use crate::config::FootfallConfig;
use crate::metrics::now_micros;
use std::collections::BTreeMap;
use std::io::Write;

pub async fn run(args: RetentionArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    let request = RetentionRequest {
        start: args.start.clone(),
        return_event: args.return_event.clone(),
        period: Some(args.period.clone()),
        periods: Some(args.periods),
        cohorts: Some(args.cohorts.clone()),
        mode: Some(args.mode.clone()),
        from: args.from.clone(),
        to: args.to.clone(),
        breakdown: args.breakdown.clone(),
    };
    let cells = request.run(&lake, now_micros()).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &cells)?;
        writeln!(out)?;
        return Ok(());
    }
    // One row per cohort: its size, then the percent per period ("…" while incomplete).
    let mut rows: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    for c in &cells {
        let mut label = c["cohort"].as_str().unwrap_or_default().to_owned();
        if let Some(by) = c.get("breakdown") {
            label = format!("{} {label}", by.as_str().unwrap_or("(none)"));
        }
        let row = rows.entry(label).or_default();
        row.0 = c["cohort_size"].as_u64().unwrap_or(0);
        let percent = c["percent"].as_f64().unwrap_or(0.0);
        let mark = if c["incomplete"].as_bool().unwrap_or(false) { "…" } else { "" };
        row.1.push(format!("{percent:.1}%{mark}"));
    }
    let width = rows.keys().map(|k| k.chars().count()).max().unwrap_or(0).max(12);
    write!(out, "{:<width$} {:>7}", "cohort", "persons")?;
    for k in 0..=args.periods {
        write!(out, " {:>8}", format!("{}{k}", &args.period[..1]))?;
    }
    writeln!(out)?;
    for (cohort, (size, percents)) in rows {
        write!(out, "{cohort:<width$} {size:>7}")?;
        for p in percents {
            write!(out, " {p:>8}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
