//! The command line: every command and flag, with the `FOOTFALL_*` environment variable that
//! can set it.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// footfall: real-time customer-behavior analytics in one binary.
#[derive(Debug, Parser)]
#[command(name = "footfall", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Configuration file (default: ./footfall.toml when it exists).
    #[arg(long, global = true, env = "FOOTFALL_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every role in one process: the collector (Segment API) over the embedded log.
    Serve(ServeArgs),
    /// Run the collector alone (Segment API → the event log: the embedded log, or Kafka with
    /// `[log] backend = "kafka"`); run as many as wanted against one Kafka.
    Collect(CollectArgs),
    /// Run the stream processor alone: the event log → `events`, `sessions`, `identities` and
    /// `metrics_1m` in the lake, exactly once. With Kafka, each one joins the consumer group and
    /// processes the partitions it is given.
    Process(ProcessArgs),
    /// Serve on a fresh data directory and feed it live simulated shoppers; prints the URL.
    Demo(DemoArgs),
    /// Simulate shoppers: backfill past days as fast as possible, or send live at a rate.
    Simulate(SimulateArgs),
    /// Run a read-only SQL query (DataFusion) over the lake's tables.
    Sql(SqlArgs),
    /// Print a time series of the one-minute windows (events, uniques, revenue, orders),
    /// rolled up to a step, optionally per device, channel or event.
    Metrics(MetricsArgs),
    /// A conversion funnel: persons per step, conversion, drop-off and time to convert.
    Funnel(FunnelArgs),
    /// Cohort retention: of the persons who did START in a period, how many did RETURN in each
    /// later period.
    Retention(RetentionArgs),
    /// Paths: the events persons did after (or before) an event, step by step (Sankey links).
    Paths(PathsArgs),
    /// Trends per interval: events, unique persons, sums of a property (with breakdown), the
    /// lifecycle of persons, or stickiness.
    Trends(TrendsArgs),
    /// RFM segments of buyers (Champions, Loyal, Potential Loyalists, At Risk, Hibernating,
    /// Lost): sizes and profiles.
    Segments(SegmentsArgs),
    /// Churn prediction: train logistic regression and boosted trees on who stopped coming,
    /// score every active person, or show the latest model's report.
    Churn {
        /// What to do.
        #[command(subcommand)]
        command: ChurnCommand,
    },
    /// Send the lake's one-minute windows to the `[influxdb]` of footfall.toml, or print them
    /// as line protocol.
    Influx {
        /// What to do.
        #[command(subcommand)]
        command: InfluxCommand,
    },
    /// Manage the lake: load it from the event log, compact it, vacuum it.
    Lake {
        /// What to do.
        #[command(subcommand)]
        command: LakeCommand,
    },
    /// Run the SQL transforms that build the gold tables.
    Jobs {
        /// What to do.
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Erase a person from every lake table (GDPR): their rows are deleted now, and their data
    /// files removed by the next `footfall lake vacuum`.
    Forget(ForgetArgs),
    /// Inspect the embedded event log.
    Log {
        /// What to inspect.
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Print a shell completion script: `footfall completions bash > /etc/bash_completion.d/footfall`
    /// (zsh: a `_footfall` file on `$fpath`; fish: `~/.config/fish/completions/footfall.fish`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of footfall and its commands: `footfall man > footfall.1`.
    Man,
}

/// Where the data lives and where to listen.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "FOOTFALL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Write key the collector accepts (repeat, or comma-separate, for several).
    #[arg(long = "write-key", env = "FOOTFALL_WRITE_KEY", value_delimiter = ',')]
    pub write_keys: Vec<String>,
}

/// `footfall serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data, address and keys.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `footfall collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Data directory (the embedded log's), address and keys.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `footfall process`.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
    /// Process what the log holds now, then stop (default: keep following it until Ctrl-C).
    /// With Kafka: stop once no record has come for `--idle-seconds`.
    #[arg(long)]
    pub once: bool,
    /// With Kafka and `--once`: seconds without a new record that mean caught up.
    #[arg(long, default_value_t = 3.0)]
    pub idle_seconds: f64,
    /// With Kafka: commit rows to the lake at most this often (seconds).
    #[arg(long, default_value_t = 1.0)]
    pub commit_seconds: f64,
    /// Log records per micro-batch at most.
    #[arg(long, default_value_t = footfall_lake::processing::MAX_BATCH_RECORDS)]
    pub batch_records: usize,
    /// Checkpoint the processor's state at most this often (seconds; 0: after every batch).
    #[arg(long, default_value_t = 30.0)]
    pub checkpoint_seconds: f64,
}

/// `footfall demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory (default: a new temporary directory, removed at exit).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080, or a free port if that one is taken).
    #[arg(long, env = "FOOTFALL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Simulated events per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
}

/// `footfall simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Seed: the same seed, users and period give the same events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of shoppers.
    #[arg(long, default_value_t = 1_000)]
    pub users: u32,
    /// Backfill: simulate this many past days, as fast as possible.
    #[arg(long, conflicts_with = "rate")]
    pub days: Option<f64>,
    /// Backfill: churners stop visiting at a uniformly random time within this many days of
    /// the start (default: the first 30 days).
    #[arg(long, requires = "days")]
    pub churn_within_days: Option<f64>,
    /// Live: send this many events per second, stamped with the current time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// End of the backfilled period (RFC 3339; default: now). Fix it for reproducible output.
    #[arg(long)]
    pub end: Option<String>,
    /// Stop after this many events.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Live mode: stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Collector to post to (its base URL, e.g. http://127.0.0.1:8080).
    #[arg(long, requires = "write_key")]
    pub to: Option<String>,
    /// Write key for `--to`.
    #[arg(long, env = "FOOTFALL_WRITE_KEY")]
    pub write_key: Option<String>,
    /// Write NDJSON (one Segment message per line) to this file (`-` for stdout).
    #[arg(long, conflicts_with = "to")]
    pub out: Option<PathBuf>,
    /// Messages per batch request.
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// Batch requests in flight at once (backfill). Above 1, requests may land out of order,
    /// and a backfill spreads few events over much event time: events behind the processor's
    /// allowed lateness are then flagged late and left out of the one-minute windows.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
}

/// `footfall sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT event, count(*) FROM raw_events GROUP BY event".
    pub query: String,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
    /// How to print the result (`parquet` needs `--output`).
    #[arg(long, value_enum, default_value_t = crate::output::Format::Table)]
    pub format: crate::output::Format,
    /// Write the result to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// `footfall metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// What to query.
    #[command(flatten)]
    pub params: crate::metrics::MetricsParams,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `footfall funnel`.
#[derive(Debug, Args)]
pub struct FunnelArgs {
    /// Steps, comma-separated; each `Event` or `Event[property=value,…]`.
    #[arg(long)]
    pub steps: String,
    /// Conversion window from step 1: 30m, 1h, 7d, …
    #[arg(long, default_value = "1d")]
    pub window: String,
    /// ordered (other events may come between), strict (nothing between) or any (any order).
    #[arg(long, default_value = "ordered")]
    pub mode: String,
    /// Attempts from (RFC 3339 or Unix seconds; default: 30 days before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// Attempts until (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Drop persons doing EVENT between steps FROM and TO: `EVENT:FROM-TO` (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Break down by device, channel, campaign, browser, os, country or prop:NAME.
    #[arg(long)]
    pub breakdown: Option<String>,
    /// Which step gives the breakdown value: first, last or stepN.
    #[arg(long, default_value = "first")]
    pub attribution: String,
    /// A maximum gap from the previous step: STEP=DURATION, e.g. `3=30m` (repeatable).
    #[arg(long)]
    pub max_gap: Vec<String>,
    /// Print JSON (one object per step and breakdown value).
    #[arg(long)]
    pub json: bool,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall retention`.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// The event that puts a person in a cohort.
    #[arg(long)]
    pub start: String,
    /// The event that counts as coming back.
    #[arg(long = "return")]
    pub return_event: String,
    /// day, week or month.
    #[arg(long, default_value = "day")]
    pub period: String,
    /// Periods after the cohort's.
    #[arg(long, default_value_t = 7)]
    pub periods: usize,
    /// first_time (a person's first period only) or recurring (every period they started in).
    #[arg(long, default_value = "first_time")]
    pub cohorts: String,
    /// bounded (came back in exactly period k) or unbounded (in k or later).
    #[arg(long, default_value = "bounded")]
    pub mode: String,
    /// Cohorts from (RFC 3339 or Unix seconds; default: PERIODS periods before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// Cohorts until (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Split cohorts by device, channel, campaign, browser, os, country or prop:NAME (as of
    /// each person's first start event in the cohort's period).
    #[arg(long)]
    pub breakdown: Option<String>,
    /// Print JSON (one object per cohort and period).
    #[arg(long)]
    pub json: bool,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall paths`.
#[derive(Debug, Args)]
pub struct PathsArgs {
    /// The event paths start (or end) at.
    #[arg(long)]
    pub event: String,
    /// after or before.
    #[arg(long, default_value = "after")]
    pub direction: String,
    /// Events per path.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Links kept per step, the most travelled first (0: all).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Anchor events from (RFC 3339 or Unix seconds; default: 30 days before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// Anchor events until (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Print JSON (one object per link).
    #[arg(long)]
    pub json: bool,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall trends`.
#[derive(Debug, Args)]
pub struct TrendsArgs {
    /// events, uniques, sum:PROPERTY, lifecycle or stickiness.
    #[arg(long, default_value = "events")]
    pub show: String,
    /// Only this event (every event if not given; sum: needs one).
    #[arg(long)]
    pub event: Option<String>,
    /// day, week or month.
    #[arg(long, default_value = "day")]
    pub interval: String,
    /// From (RFC 3339 or Unix seconds; default: 30 days before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// To (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Break down by device, channel, campaign, browser, os, country or prop:NAME.
    #[arg(long)]
    pub breakdown: Option<String>,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall segments`.
#[derive(Debug, Args)]
pub struct SegmentsArgs {
    /// The day RFM is computed for (RFC 3339 or Unix seconds; default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Print JSON, with every buyer's scores.
    #[arg(long)]
    pub json: bool,
    /// Behavioural clusters (default: the k from 2 to 8 with the best silhouette).
    #[arg(long)]
    pub k: Option<usize>,
    /// Also replace the gold `segments` table (a row per buyer or clustered person) in the lake.
    #[arg(long)]
    pub write: bool,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall churn ...`.
#[derive(Debug, Subcommand)]
pub enum ChurnCommand {
    /// Train and test both models (time split), store them in gold `churn_models`, print the
    /// report.
    Train(ChurnTrainArgs),
    /// Score every person active in the last 30 days of data with the latest model into gold
    /// `churn_scores`; print the risk distribution and the most at risk.
    Score(ChurnScoreArgs),
    /// Print the latest model's report (AUC, precision at 10%, calibration).
    Report(ChurnReportArgs),
}

/// `footfall churn train`.
#[derive(Debug, Args)]
pub struct ChurnTrainArgs {
    /// Test cutoff (RFC 3339 or Unix seconds; default: the last midnight whose horizon the data
    /// covers). Training uses the cutoff one horizon earlier.
    #[arg(long)]
    pub cutoff: Option<String>,
    /// Days without activity after a cutoff that make a churner.
    #[arg(long, default_value_t = 30)]
    pub horizon_days: i64,
    /// Days of history the features read.
    #[arg(long, default_value_t = 90)]
    pub lookback_days: i64,
    /// Seed of the boosted trees (the report is the same for the same data and seed).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall churn score`.
#[derive(Debug, Args)]
pub struct ChurnScoreArgs {
    /// How many of the most at-risk persons to print.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print JSON (every score).
    #[arg(long)]
    pub json: bool,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall churn report`.
#[derive(Debug, Args)]
pub struct ChurnReportArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall influx ...`.
#[derive(Debug, Subcommand)]
pub enum InfluxCommand {
    /// Send every window past the sink's cursor (what `serve` does each second), once.
    Sync {
        /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
        #[arg(long, env = "FOOTFALL_DATA")]
        data: Option<PathBuf>,
        /// Start over: send every stored window again (each overwrites itself).
        #[arg(long)]
        from_start: bool,
    },
    /// Print every stored window as the line protocol the sink sends.
    Lines {
        /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
        #[arg(long, env = "FOOTFALL_DATA")]
        data: Option<PathBuf>,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `footfall forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The user id (`userId`) of the person to erase.
    #[arg(long = "user")]
    pub user: String,
    /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
    #[arg(long, env = "FOOTFALL_DATA")]
    pub data: Option<PathBuf>,
}

/// `footfall jobs ...`.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List the transforms: built-in ones and those in `[lake] transforms`.
    List {
        /// A folder of `LAYER/NAME.sql` transforms (default: `[lake] transforms`).
        #[arg(long, env = "FOOTFALL_LAKE_TRANSFORMS")]
        transforms: Option<PathBuf>,
    },
    /// Run one transform: by default over the days that got new data since its last run.
    Run {
        /// The transform (its file name without `.sql`).
        name: String,
        /// Rebuild from this day (YYYY-MM-DD) instead of only the new data; needs `--to`.
        #[arg(long, requires = "to")]
        from: Option<chrono::NaiveDate>,
        /// Rebuild up to this day, included; needs `--from`.
        #[arg(long, requires = "from")]
        to: Option<chrono::NaiveDate>,
        /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
        #[arg(long, env = "FOOTFALL_DATA")]
        data: Option<PathBuf>,
        /// A folder of `LAYER/NAME.sql` transforms (default: `[lake] transforms`).
        #[arg(long, env = "FOOTFALL_LAKE_TRANSFORMS")]
        transforms: Option<PathBuf>,
    },
}

/// `footfall lake ...`.
#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Load the bronze tables from the event log, once, up to its current end (exactly once:
    /// safe to repeat, and safe after a crash).
    Load {
        /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
        #[arg(long, env = "FOOTFALL_DATA")]
        data: Option<PathBuf>,
        /// Log records per commit at most.
        #[arg(long, default_value_t = footfall_lake::loader::MAX_BATCH_ROWS)]
        batch_rows: usize,
    },
    /// Compact the small files of a table (every table when none is named) into larger ones.
    Optimize {
        /// The table (default: all).
        table: Option<String>,
        /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
        #[arg(long, env = "FOOTFALL_DATA")]
        data: Option<PathBuf>,
    },
    /// Delete data files that no table version younger than the retention needs.
    Vacuum {
        /// The table (default: all).
        table: Option<String>,
        /// Keep files that versions of the last this-many hours need (Delta's default: 168).
        /// 0 removes deleted rows' files at once (after `footfall forget`).
        #[arg(long, default_value_t = 168.0)]
        retain_hours: f64,
        /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
        #[arg(long, env = "FOOTFALL_DATA")]
        data: Option<PathBuf>,
    },
}

/// `footfall log ...`.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Print every stored event (or dead letter) as NDJSON, in log order.
    Dump {
        /// Data directory (default: `data` in footfall.toml, else ./footfall-data).
        #[arg(long, env = "FOOTFALL_DATA")]
        data: Option<PathBuf>,
        /// Dump the dead letters (with their reasons) instead of the events.
        #[arg(long)]
        dead_letter: bool,
        /// Start at this offset.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every option of `command` and its subcommands, with the path of commands to it.
    fn options(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            out.push((format!("{path} --{}", arg.get_long().unwrap_or(arg.get_id().as_str())), arg.clone()));
        }
        for sub in command.get_subcommands() {
            options(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_option_has_a_description_of_its_own() {
        let mut all = Vec::new();
        options(&Cli::command(), "footfall", &mut all);
        assert!(all.len() > 100, "{} options", all.len());
        for (name, arg) in &all {
            if arg.is_hide_set() || matches!(arg.get_id().as_str(), "help" | "version") {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(!help.trim().is_empty(), "{name} has no description");
            // A description that says what another option does is attached to the wrong field.
            let says_json = help.starts_with("Print") && help.contains("JSON");
            assert_eq!(says_json, arg.get_id() == "json", "{name}: {help}");
            if arg.get_id() == "breakdown" {
                assert!(help.contains("by ") || help.contains("Split"), "{name}: {help}");
            }
            if arg.get_id() == "max_gap" {
                assert!(help.contains("gap"), "{name}: {help}");
            }
        }
    }

    #[test]
    fn completions_and_the_man_page_come_from_the_same_definitions() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "footfall", &mut script);
            let script = String::from_utf8(script).expect("utf-8");
            for word in ["funnel", "retention", "forget", "steps", "format", "max-gap"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page).expect("render");
        let page = String::from_utf8(page).expect("utf-8");
        assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{}", &page[..page.len().min(200)]);
        assert!(page.contains("funnel") && page.contains("forget"));
    }
}
