//! Starting and stopping every role of one process: the event log (embedded, or Kafka), the
//! collector's HTTP server with the query API beside it, the lake loader (embedded log) and the
//! stream processor (over the embedded log, or as a Kafka consumer-group member). `serve` and
//! `demo` both use it.

use crate::event_log::EventLog;
use anyhow::Context;
use footfall_collector::{router, Collector, CollectorConfig};
use footfall_lake::metrics::RecentWindows;
use footfall_lake::{Lake, ProcessingJob};
use footfall_log::{EmbeddedLog, LogConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// A running server.
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The collector (for its metrics).
    pub collector: Arc<Collector>,
    log: EventLog,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    loader: Option<tokio::task::JoinHandle<()>>,
    processor: tokio::task::JoinHandle<()>,
    stop_group: Arc<std::sync::atomic::AtomicBool>,
    stop_loader: watch::Sender<bool>,
    sink: Option<tokio::task::JoinHandle<()>>,
    stop_sink: watch::Sender<bool>,
}

/// What a server runs with.
pub struct ServerOptions {
    /// The data directory (the logs live in `log/` under it).
    pub data: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Take a free port if `listen`'s is taken (the demo must just run).
    pub fallback_to_free_port: bool,
    /// The collector's settings.
    pub collector: CollectorConfig,
    /// The embedded log's settings.
    pub log: LogConfig,
    /// Kafka instead of the embedded log, if set.
    pub kafka: Option<footfall_kafka::KafkaConfig>,
    /// The lake the loader fills and the API queries.
    pub lake: Lake,
    /// The query API's bearer token, if any.
    pub api_token: Option<String>,
    /// What SQL queries may use, and the threads queries run on.
    pub sql: crate::config::SqlSettings,
    /// The stream processor's settings.
    pub processor: ProcessorOptions,
    /// The InfluxDB sink, if one is configured.
    pub influx: Option<InfluxOptions>,
}

/// The InfluxDB sink's settings.
#[derive(Debug, Clone)]
pub struct InfluxOptions {
    /// Where to write.
    pub client: footfall_influx::InfluxClient,
    /// Points per request at most.
    pub batch_points: usize,
    /// Requests in flight at once.
    pub requests_in_flight: usize,
    /// How often to send new windows.
    pub every: std::time::Duration,
}

/// The stream processor's configuration and its MaxMind database, if any.
#[derive(Debug, Clone, Default)]
pub struct ProcessorOptions {
    /// Horizons, gaps and privacy.
    pub config: footfall_processor::ProcessorConfig,
    /// Places IPs in a country and city.
    pub geo: Option<Arc<footfall_processor::geo::GeoDb>>,
}

impl ProcessorOptions {
    /// A Kafka group member's options with this processor configuration and MaxMind database.
    pub fn group_options(
        &self,
        kafka: footfall_kafka::KafkaConfig,
        checkpoints: PathBuf,
    ) -> footfall_kafka::GroupOptions {
        let mut group = footfall_kafka::GroupOptions::new(kafka, checkpoints);
        group.processor = self.config;
        group.geo = self.geo.clone();
        group
    }

    /// Opens the processing job in `lake` with these options.
    pub async fn open_job(&self, lake: &Lake, checkpoints: &Path) -> Result<ProcessingJob, footfall_lake::LakeError> {
        let job = ProcessingJob::open(lake, checkpoints, self.config).await?;
        Ok(match &self.geo {
            Some(geo) => job.with_geo(Arc::clone(geo)),
            None => job,
        })
    }
}

/// Opens the logs under `data/log/`, serves the collector and the query API on `listen`, and
/// loads the lake in the background.
pub async fn start(options: ServerOptions) -> anyhow::Result<RunningServer> {
    let ServerOptions {
        data,
        listen,
        fallback_to_free_port,
        collector: collector_config,
        log: log_config,
        kafka,
        lake,
        api_token,
        sql,
        processor,
        influx,
    } = options;
    collector_config.check().map_err(anyhow::Error::msg)?;
    let connection_limits = collector_config.connection_limits();
    let log = EventLog::open(kafka.as_ref(), &data.join("log"), log_config).await?;
    let mut collector_config = collector_config;
    collector_config.key_by_device = log.key_by_device();
    let (events_sink, dead_letters_sink) = log.sinks();
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) if fallback_to_free_port && e.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::warn!(%listen, "address in use; taking a free port instead");
            tokio::net::TcpListener::bind(SocketAddr::new(listen.ip(), 0)).await.context("binding a free port")?
        }
        Err(e) => return Err(e).with_context(|| format!("cannot listen on {listen}")),
    };
    let addr = listener.local_addr().context("reading the bound address")?;
    let collector_config_key = collector_config.write_keys.first().cloned().unwrap_or_default();
    let collector = Arc::new(Collector::new(collector_config, events_sink, dead_letters_sink));
    let (stop, mut stopped) = watch::channel(false);
    let (live, live_view) = watch::channel(Arc::new(String::from("{}")));
    let (recent, recent_requests) = tokio::sync::mpsc::channel(16);
    let (forget, forget_requests) = tokio::sync::mpsc::channel(4);
    let api = crate::api::router(crate::api::ApiState {
        lake: lake.clone(),
        token: api_token,
        live: live_view,
        stopping: stopped.clone(),
        recent: Some(recent),
        metrics: Arc::new(footfall_lake::metrics::MetricsStore::new(lake.clone())),
        sql_limits: sql.limits()?,
        queries: Arc::new(crate::api::QueryThreads::new(sql.threads).context("starting the query threads")?),
        forget: Some(forget),
    });
    let shop_key = collector_config_key.clone();
    let app = router(Arc::clone(&collector)).merge(api).merge(crate::web::router(shop_key));
    let task = tokio::spawn(footfall_collector::serve(listener, app, connection_limits, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let (stop_loader, loader_stopped) = watch::channel(false);
    let loader = match &log {
        EventLog::Embedded { events, dead_letters } => Some(tokio::spawn(run_loader(
            lake.clone(),
            processor.config.ip_policy,
            Arc::clone(events),
            Arc::clone(dead_letters),
            loader_stopped.clone(),
        ))),
        EventLog::Kafka { .. } => None,
    };
    let (stop_sink, sink_stopped) = watch::channel(false);
    let sink = match influx {
        Some(options) => {
            let sink = footfall_influx::InfluxSink::open(lake.clone(), options.client, &data.join("influxdb.cursor"))
                .context("opening the InfluxDB sink")?
                .with_batch_points(options.batch_points)
                .with_requests_in_flight(options.requests_in_flight);
            Some(tokio::spawn(sink.run(options.every, sink_stopped)))
        }
        None => None,
    };
    let channels = Channels { live, recent_requests, forget_requests };
    let stop_group = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let processor = match (&log, kafka) {
        (EventLog::Embedded { events, .. }, _) => tokio::spawn(run_processor(
            lake,
            data.join("processor"),
            processor,
            Arc::clone(events),
            channels,
            loader_stopped,
        )),
        (EventLog::Kafka { .. }, Some(config)) => {
            let checkpoints = data.join("processor").join("kafka");
            tokio::spawn(run_group_member(lake, checkpoints, processor, config, channels, Arc::clone(&stop_group)))
        }
        (EventLog::Kafka { .. }, None) => anyhow::bail!("a Kafka log without its settings"),
    };
    Ok(RunningServer { addr, collector, log, stop, task, loader, processor, stop_group, stop_loader, sink, stop_sink })
}

impl RunningServer {
    /// Stops accepting connections, lets in-flight requests finish, then flushes and closes the
    /// logs.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("server task")?.context("server")?;
        // Every request is answered now: the loader makes a last pass over all of it, then stops.
        let _ = self.stop_loader.send(true);
        self.stop_group.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(loader) = self.loader {
            loader.await.context("lake loader task")?;
        }
        self.processor.await.context("stream processor task")?;
        // The processor's last windows are committed: the sink sends them, then stops.
        let _ = self.stop_sink.send(true);
        if let Some(sink) = self.sink {
            sink.await.context("InfluxDB sink task")?;
        }
        let log = self.log;
        tokio::task::spawn_blocking(move || log.close()).await.context("closing the logs")?;
        Ok(())
    }
}

/// With Kafka: this process's member of the processors' consumer group, publishing the live view
/// of its partitions. Closed windows reach the metrics API through the lake only (open ones live
/// in whichever member owns their partition). A failed member starts again after 5 s from its
/// partitions' checkpoints.
async fn run_group_member(
    lake: Lake,
    checkpoints: PathBuf,
    options: ProcessorOptions,
    kafka: footfall_kafka::KafkaConfig,
    channels: Channels,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let Channels { live, mut recent_requests, mut forget_requests } = channels;
    let answers = tokio::spawn(async move {
        while let Some(reply) = recent_requests.recv().await {
            let _ = reply.send(Arc::new(RecentWindows { committed: u64::MAX, windows: Vec::new() }));
        }
    });
    // The members' state lives in each partition's owner, wherever it runs: an erasure needs
    // them stopped (then `footfall forget`), so the API says so.
    let refusals = tokio::spawn(async move {
        while let Some(call) = forget_requests.recv().await {
            let _ = call.reply.send(Err((
                axum::http::StatusCode::CONFLICT,
                "with a Kafka log, erase with the processors stopped: `footfall forget --user ID`".into(),
            )));
        }
    });
    let live = Arc::new(live);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let mut group = options.group_options(kafka.clone(), checkpoints.clone());
        group.commit_every = COMMIT_EVERY;
        let (lake, member_stop, live, runtime) =
            (lake.clone(), Arc::clone(&stop), Arc::clone(&live), tokio::runtime::Handle::current());
        let member = tokio::task::spawn_blocking(move || {
            let mut publish = |snapshot: footfall_processor::live::LiveSnapshot| {
                if let Ok(text) = serde_json::to_string(&snapshot) {
                    live.send_replace(Arc::new(text));
                }
            };
            footfall_kafka::group::run_observed(lake, group, runtime, member_stop, &mut publish)
        })
        .await;
        match member {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the Kafka consumer-group member failed; restarting it in 5 s"),
            Err(e) => tracing::error!(error = %e, "the Kafka consumer-group member panicked; restarting it in 5 s"),
        }
        for _ in 0..50 {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    answers.abort();
    refusals.abort();
}

/// Loads the lake from the logs about once a second (micro-batches), and once more at stop.
/// A failed pass is logged and retried: the tables say where loading stands, so nothing is
/// lost or loaded twice.
async fn run_loader(
    lake: Lake,
    ip_policy: footfall_processor::enrich::IpPolicy,
    events: Arc<EmbeddedLog>,
    dead_letters: Arc<EmbeddedLog>,
    mut stop: watch::Receiver<bool>,
) {
    let mut loader = loop {
        match footfall_lake::Loader::open(&lake).await {
            Ok(loader) => break loader.with_ip_policy(ip_policy),
            Err(e) => {
                tracing::error!(error = %e, lake = %lake.root(), "cannot open the lake; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {},
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let events_from = |offset| events.reader(offset);
        let dead_from = |offset| dead_letters.reader(offset);
        match loader.load_available(&events_from, &dead_from).await {
            Ok(report) if report.commits > 0 => {
                tracing::debug!(events = report.events, dead_letters = report.dead_letters, "loaded the lake")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "loading the lake failed; retrying"),
        }
        if stopping {
            return;
        }
    }
}

/// How often the processor looks for new events (the live view's freshness).
const PROCESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// How the processor task talks to the API: the live view it publishes, and requests for the
/// windows the lake does not hold yet.
struct Channels {
    live: watch::Sender<Arc<String>>,
    recent_requests: tokio::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<Arc<RecentWindows>>>,
    forget_requests: tokio::sync::mpsc::Receiver<crate::api::ForgetCall>,
}

/// What wakes the processor task.
enum Wake {
    Tick,
    Stop,
    Recent(tokio::sync::oneshot::Sender<Arc<RecentWindows>>),
    Forget(crate::api::ForgetCall),
}

/// How often the processor commits to the lake.
const COMMIT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the stream processor over the event log every 100 ms (committing about once a second)
/// and publishes the live view after each pass; at stop it commits what is left and
/// checkpoints. A failed pass reopens the job from its last checkpoint: the tables say what
/// they hold, so the replay neither loses nor repeats a row.
async fn run_processor(
    lake: Lake,
    checkpoints: PathBuf,
    options: ProcessorOptions,
    events: Arc<EmbeddedLog>,
    channels: Channels,
    mut stop: watch::Receiver<bool>,
) {
    let Channels { live, mut recent_requests, mut forget_requests } = channels;
    let open =
        || async { options.open_job(&lake, &checkpoints).await.map(|job| job.with_commit_interval(COMMIT_EVERY)) };
    let mut job: Option<ProcessingJob> = None;
    let mut tick = tokio::time::interval(PROCESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let wake = tokio::select! {
            _ = tick.tick() => Wake::Tick,
            _ = stop.wait_for(|s| *s) => Wake::Stop,
            Some(reply) = recent_requests.recv() => Wake::Recent(reply),
            Some(call) = forget_requests.recv() => Wake::Forget(call),
        };
        let stopping = match wake {
            Wake::Recent(reply) => {
                let recent = match job.as_ref() {
                    Some(running) => running.recent_windows(),
                    // Nothing in memory: every stored window counts.
                    None => RecentWindows { committed: u64::MAX, windows: Vec::new() },
                };
                let _ = reply.send(Arc::new(recent));
                continue;
            }
            Wake::Forget(call) => {
                if job.is_none() {
                    job = open().await.map_err(|e| tracing::error!(error = %e, "cannot open the processor")).ok();
                }
                let answer = match job.as_mut() {
                    Some(running) => erase(&lake, running, &events, &call).await,
                    None => Err((axum::http::StatusCode::SERVICE_UNAVAILABLE, "the processor cannot open".into())),
                };
                if answer.is_err() {
                    // Its state may be half way: resume from the (erased) checkpoints.
                    job = None;
                }
                let _ = call.reply.send(answer);
                continue;
            }
            Wake::Tick => false,
            Wake::Stop => true,
        };
        if job.is_none() {
            match open().await {
                Ok(opened) => job = Some(opened),
                Err(e) => tracing::error!(error = %e, "cannot open the processor's tables; retrying"),
            }
        }
        if let Some(running) = job.as_mut() {
            let reader = |offset| events.reader(offset);
            match running.run_available(&reader).await {
                Ok(report) => {
                    if report.records > 0 {
                        let snapshot = running.live_snapshot();
                        if let Ok(text) = serde_json::to_string(&snapshot) {
                            live.send_replace(Arc::new(text));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "processing failed; resuming from the last checkpoint");
                    job = None;
                }
            }
        }
        if stopping {
            if let Some(running) = job.as_mut() {
                if let Err(e) = running.finish().await {
                    tracing::warn!(error = %e, "could not commit and checkpoint the processor at stop");
                }
            }
            return;
        }
    }
}

/// How long an erasure waits for the loader to load what the processor has seen.
const LOADER_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(60);

/// One erasure while the server runs, in the processor task (so no event is processed while
/// it goes on): everything in the log so far processed and committed, then loaded by the
/// loader (so no row of the user lands after the delete), the tables erased, then the
/// processor's state, live view and checkpoints.
async fn erase(
    lake: &Lake,
    job: &mut ProcessingJob,
    events: &EmbeddedLog,
    call: &crate::api::ForgetCall,
) -> Result<serde_json::Value, (axum::http::StatusCode, String)> {
    use axum::http::StatusCode;
    use footfall_lake::schema;
    let failed = |e: footfall_lake::LakeError| (StatusCode::INTERNAL_SERVER_ERROR, format!("erasing: {e}"));
    let reader = |offset| events.reader(offset);
    let mut report = footfall_lake::ProcessReport::default();
    job.run_available(&reader).await.map_err(failed)?;
    job.flush(&mut report).await.map_err(failed)?;
    let seen = job.next_offset() as i64;
    let started = std::time::Instant::now();
    loop {
        let raw = footfall_lake::LakeTable::open(
            lake,
            schema::RAW_EVENTS,
            schema::raw_events(),
            &[schema::RAW_EVENTS_PARTITION],
        )
        .await
        .map_err(failed)?;
        if raw.committed_version(footfall_lake::LOADER_APP_ID).await.map_err(failed)?.unwrap_or(0) >= seen {
            break;
        }
        if started.elapsed() > LOADER_CATCH_UP {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "the lake loader is behind; nothing was erased, try again".into(),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let forgotten =
        footfall_lake::maintenance::forget(lake, &call.user_id, &call.requested_by).await.map_err(failed)?;
    let entries = job.forget(&forgotten.ids, &mut report).await.map_err(failed)?;
    tracing::info!(request = %forgotten.request_id, rows = forgotten.rows(), "erased a user");
    let deleted: serde_json::Map<String, serde_json::Value> =
        forgotten.deleted.iter().map(|(table, rows)| (table.clone(), serde_json::Value::from(*rows))).collect();
    Ok(serde_json::json!({
        "request_id": forgotten.request_id,
        "ids": forgotten.ids,
        "deleted": deleted,
        "processor_entries": entries,
    }))
}

/// Resolves at Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// A random write key for a server started without one.
pub fn generate_write_key() -> String {
    format!("ff_{}", uuid::Uuid::new_v4().simple())
}
