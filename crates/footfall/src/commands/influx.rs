//! `footfall influx sync|lines`: the InfluxDB sink run once from the command line, or its
//! line protocol printed.

use crate::cli::InfluxCommand;
use crate::config::FootfallConfig;
use anyhow::Context;
use footfall_influx::sink::write_window;
use footfall_influx::InfluxSink;
use std::io::Write;
use std::time::Instant;

pub async fn run(command: InfluxCommand, config: &FootfallConfig) -> anyhow::Result<()> {
    match command {
        InfluxCommand::Sync { data, from_start } => {
            let data = config.data_dir(data.as_deref());
            let options = config.influxdb.options()?.context("set [influxdb] url in footfall.toml first")?;
            let cursor = data.join("influxdb.cursor");
            if from_start && cursor.exists() {
                std::fs::remove_file(&cursor).with_context(|| format!("removing {}", cursor.display()))?;
            }
            options.client.ensure_database().await?;
            let mut sink =
                InfluxSink::open(config.lake(&data)?, options.client, &cursor)?.with_batch_points(options.batch_points);
            let began = Instant::now();
            let report = sink.send_new().await?;
            let seconds = began.elapsed().as_secs_f64();
            eprintln!(
                "sent {} points in {} requests in {seconds:.2} s ({:.0} points/s){}",
                report.points,
                report.requests,
                report.points as f64 / seconds.max(1e-9),
                if report.refused > 0 { format!("; InfluxDB refused {}", report.refused) } else { String::new() }
            );
            Ok(())
        }
        InfluxCommand::Lines { data, output } => {
            let data = config.data_dir(data.as_deref());
            let windows = footfall_lake::metrics::windows_closed_since(&config.lake(&data)?, 0).await?;
            let mut text = String::with_capacity(windows.len() * 120);
            windows.iter().for_each(|w| write_window(&mut text, w));
            match output {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(())
        }
    }
}
