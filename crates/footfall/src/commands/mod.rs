//! One module per command.

mod churn;
mod collect;
mod demo;
mod funnel;
mod influx;
mod lake;
mod log;
mod metrics;
mod paths;
mod process;
mod retention;
mod segments;
mod serve;
mod simulate;
mod trends;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // From the command line's definitions alone: no configuration needed.
    match cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into memory first: the generator panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "footfall", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            return Ok(());
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            return Ok(());
        }
        _ => {}
    }
    let config = crate::config::FootfallConfig::load(cli.config.as_deref())?;
    match cli.command {
        Command::Log { command } => log::run(command, &config),
        Command::Sql(args) => runtime()?.block_on(lake::sql(args, &config)),
        Command::Metrics(args) => runtime()?.block_on(metrics::run(args, &config)),
        Command::Funnel(args) => runtime()?.block_on(funnel::run(args, &config)),
        Command::Retention(args) => runtime()?.block_on(retention::run(args, &config)),
        Command::Paths(args) => runtime()?.block_on(paths::run(args, &config)),
        Command::Trends(args) => runtime()?.block_on(trends::run(args, &config)),
        Command::Segments(args) => runtime()?.block_on(segments::run(args, &config)),
        Command::Churn { command } => runtime()?.block_on(churn::run(command, &config)),
        Command::Influx { command } => runtime()?.block_on(influx::run(command, &config)),
        Command::Lake { command } => runtime()?.block_on(lake::run(command, &config)),
        Command::Jobs { command } => runtime()?.block_on(lake::jobs(command, &config)),
        Command::Forget(args) => runtime()?.block_on(lake::forget(args, &config)),
        Command::Collect(args) => runtime()?.block_on(collect::run(args, &config)),
        Command::Process(args) => runtime()?.block_on(process::run(args, &config)),
        Command::Serve(args) => runtime()?.block_on(serve::run(args, config)),
        Command::Demo(args) => runtime()?.block_on(demo::run(args, config)),
        Command::Simulate(args) => runtime()?.block_on(simulate::run(args)),
        Command::Completions { .. } | Command::Man => Ok(()),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
