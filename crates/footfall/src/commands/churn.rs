//! `footfall churn train|score|report`: churn prediction over the lake.

use crate::cli::{ChurnCommand, ChurnReportArgs, ChurnScoreArgs, ChurnTrainArgs};
use crate::config::FootfallConfig;
use crate::metrics::now_micros;
use anyhow::Context;
use footfall_analytics::churn::{ChurnConfig, ChurnReport};
use footfall_analytics::churn_store;
use footfall_lake::metrics::{format_time, parse_time};
use indicatif::ProgressBar;
use std::io::Write;

pub async fn run(command: ChurnCommand, config: &FootfallConfig) -> anyhow::Result<()> {
    match command {
        ChurnCommand::Train(args) => train(args, config).await,
        ChurnCommand::Score(args) => score(args, config).await,
        ChurnCommand::Report(args) => report(args, config).await,
    }
}

fn spinner(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

async fn train(args: ChurnTrainArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let lake = config.lake(&config.data_dir(args.data.as_deref()))?;
    let test_cutoff =
        args.cutoff.as_deref().map(|t| parse_time(t).with_context(|| format!("--cutoff {t:?}"))).transpose()?;
    if args.horizon_days < 1 || args.lookback_days < 1 {
        anyhow::bail!("--horizon-days and --lookback-days must be at least 1");
    }
    let churn = ChurnConfig {
        horizon_days: args.horizon_days,
        lookback_days: args.lookback_days,
        test_cutoff,
        seed: args.seed,
        ..ChurnConfig::default()
    };
    let bar = spinner("loading events and training");
    let model = churn_store::train(&lake, churn, now_micros()).await;
    bar.finish_and_clear();
    print_report(&model?.report, args.json)
}

async fn report(args: ChurnReportArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let lake = config.lake(&config.data_dir(args.data.as_deref()))?;
    let (model, trained_at) =
        churn_store::latest_model(&lake).await?.context("no churn model yet: run `footfall churn train` first")?;
    if !args.json {
        println!("trained at {}", format_time(trained_at));
    }
    print_report(&model.report, args.json)
}

fn print_report(report: &ChurnReport, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 };
    writeln!(
        out,
        "train: features at {}, {} persons, {} churned ({:.1}%)",
        format_time(report.train_cutoff),
        report.train_persons,
        report.train_churners,
        share(report.train_churners, report.train_persons)
    )?;
    writeln!(
        out,
        "test:  features at {}, {} persons, {} churned ({:.1}%)\n",
        format_time(report.test_cutoff),
        report.test_persons,
        report.test_churners,
        share(report.test_churners, report.test_persons)
    )?;
    writeln!(out, "{:<22} {:>8} {:>16}", "model", "ROC AUC", "precision@10%")?;
    for m in &report.models {
        let mark = if m.model == report.chosen { "  ← scores" } else { "" };
        writeln!(out, "{:<22} {:>8.3} {:>15.1}%{mark}", m.model, m.auc, 100.0 * m.precision_at_10pct)?;
    }
    for m in &report.models {
        writeln!(
            out,
            "\ncalibration of {}:\n{:<12} {:>8} {:>10} {:>10}",
            m.model, "predicted", "persons", "mean", "observed"
        )?;
        for bin in m.calibration.iter().filter(|b| b.persons > 0) {
            writeln!(
                out,
                "{:<12} {:>8} {:>10.3} {:>10.3}",
                format!("{:.1}–{:.1}", bin.from, bin.to),
                bin.persons,
                bin.mean_predicted,
                bin.observed
            )?;
        }
    }
    Ok(())
}

async fn score(args: ChurnScoreArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let lake = config.lake(&config.data_dir(args.data.as_deref()))?;
    let bar = spinner("scoring");
    let scoring = churn_store::score(&lake).await;
    bar.finish_and_clear();
    let scoring = scoring?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &scoring)?;
        writeln!(out)?;
        return Ok(());
    }
    let count = |risk: &str| scoring.scores.iter().filter(|s| s.risk == risk).count();
    writeln!(
        out,
        "scored {} active persons as of {} with {} (trained {}): {} high, {} medium, {} low risk",
        scoring.scores.len(),
        format_time(scoring.cutoff),
        scoring.model,
        format_time(scoring.trained_at),
        count("high"),
        count("medium"),
        count("low")
    )?;
    writeln!(
        out,
        "\n{:<6} {:<36} {:>11} {:>13} {:>7} {:>10}",
        "rank", "person", "churn risk", "recency days", "orders", "revenue"
    )?;
    for s in scoring.scores.iter().take(args.top) {
        writeln!(
            out,
            "{:<6} {:<36} {:>10.1}% {:>13.1} {:>7} {:>10.2}",
            s.rank,
            s.person_id,
            100.0 * s.probability,
            s.recency_days,
            s.orders,
            s.revenue
        )?;
    }
    Ok(())
}
