//! `footfall log dump`: the stored events or dead letters as NDJSON, in log order.

use crate::cli::LogCommand;
use anyhow::Context;
use footfall_log::LogReader;
use std::io::Write;

pub fn run(command: LogCommand, config: &crate::config::FootfallConfig) -> anyhow::Result<()> {
    match command {
        LogCommand::Dump { data, dead_letter, from } => {
            let data = config.data_dir(data.as_deref());
            let topic = if dead_letter { "dead-letters" } else { "events" };
            let dir = data.join("log").join(topic);
            if !dir.exists() {
                anyhow::bail!("no event log at {} (is --data right?)", dir.display());
            }
            // A snapshot reader: safe while a server is writing, and never modifies the files.
            let mut reader = LogReader::snapshot(&dir, from);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            loop {
                let batch = reader.read_batch(10_000).context("reading the log")?;
                if batch.is_empty() {
                    break;
                }
                for record in batch {
                    let written = out.write_all(&record.value).and_then(|_| out.write_all(b"\n"));
                    if let Err(e) = written {
                        if e.kind() == std::io::ErrorKind::BrokenPipe {
                            return Ok(());
                        }
                        return Err(e).context("writing to stdout");
                    }
                }
            }
            match out.flush() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
                _ => Ok(()),
            }
        }
    }
}
