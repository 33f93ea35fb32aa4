//! The processor's side: a member of a consumer group on the events topic.
//!
//! Every assigned partition is a stream of its own: a [`ProcessingJob`] with its own state,
//! checkpoint directory and Delta `txn` marker (`footfall-processor/kafka/TOPIC/PARTITION`),
//! exactly as the embedded log's single stream. When partitions are **assigned**, each one's
//! job is opened from its checkpoint and the consumer starts reading it at the checkpoint's
//! offset. When partitions are **revoked**, their rows are committed, their state is
//! checkpointed, the offsets are committed to Kafka, and the jobs are dropped — before the
//! group hands them to another member. Offsets are committed to Kafka only after the
//! checkpoint that covers them, so the group's committed offsets (what lag monitors read) never
//! run ahead of what the lake holds. A member that dies without revoking leaves its partitions
//! at their last checkpoint; the next owner replays from there and the tables skip the rows
//! they already hold.
//!
//! librdkafka calls the rebalance callback from inside `poll`, on the thread that polls; that
//! thread owns the consumer and runs the jobs' lake work on the given Tokio runtime.

use crate::letters::LetterStream;
use crate::KafkaSink;
use crate::{KafkaConfig, KafkaLogError};
use footfall_collector::DeadLetter;
use footfall_lake::processing::ProcessReport;
use footfall_lake::{Lake, ProcessingJob};
use footfall_log::{EventSink, Record, StoredRecord};
use footfall_processor::geo::GeoDb;
use footfall_processor::live::LiveSnapshot;
use footfall_processor::ProcessorConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How a group member processes.
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Brokers, topic, group and properties.
    pub kafka: KafkaConfig,
    /// The processor's horizons, gaps and privacy.
    pub processor: ProcessorConfig,
    /// Places IPs, if set.
    pub geo: Option<Arc<GeoDb>>,
    /// Where partitions' checkpoints live (`TOPIC-PARTITION/` under it). Every member of the
    /// group must see the same directory (one host, or a shared filesystem).
    pub checkpoints: PathBuf,
    /// Commit rows to the lake at most this often.
    pub commit_every: Duration,
    /// Checkpoint (and commit offsets to Kafka) at most this often.
    pub checkpoint_every: Duration,
    /// Records per poll round at most.
    pub max_batch_records: usize,
    /// Stop once no record has come for this long (after the first assignment): a run that
    /// catches up and ends, for batch schedules. `None`: run until stopped.
    pub stop_when_idle: Option<Duration>,
}

impl GroupOptions {
    /// Defaults for `kafka`: commit every second, checkpoint every 30 s.
    pub fn new(kafka: KafkaConfig, checkpoints: PathBuf) -> Self {
        Self {
            kafka,
            processor: ProcessorConfig::default(),
            geo: None,
            checkpoints,
            commit_every: Duration::from_secs(1),
            checkpoint_every: Duration::from_secs(30),
            max_batch_records: 20_000,
            stop_when_idle: None,
        }
    }
}

/// What a member did before it stopped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupReport {
    /// Rows and commits, summed over its partitions.
    pub processed: ProcessReport,
    /// Every partition it was assigned at some point.
    pub partitions_seen: Vec<i32>,
    /// Rebalances it took part in (assignments and revocations).
    pub rebalances: u64,
}

/// The partitions this member owns, shared by the poll loop and the rebalance callback (both
/// run on the polling thread; the lock only makes that explicit to the compiler).
#[derive(Default)]
struct Owned {
    jobs: BTreeMap<i32, ProcessingJob>,
    /// The dead-letter topic's partitions this member loads into `dead_letters`.
    letters: BTreeMap<i32, LetterStream>,
    /// Offsets last committed to Kafka, per partition.
    committed: BTreeMap<i32, u64>,
    report: GroupReport,
    failure: Option<String>,
}

/// The consumer's context: opens and closes partitions' jobs at rebalances.
struct GroupContext {
    options: GroupOptions,
    refused: crate::topics::RefusedConnections,
    dead_letters: KafkaSink,
    lake: Lake,
    runtime: Handle,
    owned: Mutex<Owned>,
}

impl GroupContext {
    fn lock(&self) -> MutexGuard<'_, Owned> {
        self.owned.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The dead-letter topic, when it is another topic than the events'.
    fn dlq(&self) -> Option<&str> {
        let dlq = self.options.kafka.dlq_topic.as_str();
        (!dlq.is_empty() && dlq != self.options.kafka.topic).then_some(dlq)
    }

    /// The lake progress marker of one partition.
    fn app_id(&self, partition: i32) -> String {
        format!("footfall-processor/kafka/{}/{partition}", self.options.kafka.topic)
    }

    async fn open_job(&self, partition: i32) -> Result<ProcessingJob, KafkaLogError> {
        let dir = self.options.checkpoints.join(format!("{}-{partition}", self.options.kafka.topic));
        let job = ProcessingJob::open_stream(&self.lake, &dir, self.options.processor, &self.app_id(partition))
            .await?
            .with_source(format!("kafka://{}/{partition}", self.options.kafka.topic));
        let job = match &self.options.geo {
            Some(geo) => job.with_geo(Arc::clone(geo)),
            None => job,
        };
        Ok(job
            .keeping_unreadable()
            .with_commit_interval(self.options.commit_every)
            .with_checkpoint_interval(self.options.checkpoint_every)
            .with_max_batch_records(self.options.max_batch_records))
    }

    /// Opens each assigned partition's job and starts it at its checkpoint's offset.
    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) -> Result<(), KafkaLogError> {
        let partitions: Vec<(String, i32)> =
            tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
        let mut owned = self.lock();
        owned.report.rebalances += 1;
        for (topic, partition) in partitions {
            if Some(topic.as_str()) == self.dlq() {
                let letters = self.runtime.block_on(LetterStream::open(
                    &self.lake,
                    &topic,
                    partition,
                    self.options.processor.ip_policy,
                ))?;
                let next = letters.next_offset();
                tpl.set_partition_offset(&topic, partition, Offset::Offset(next as i64))?;
                tracing::info!(topic, partition, offset = next, "dead-letter partition assigned");
                owned.letters.insert(partition, letters);
                continue;
            }
            let job = self.runtime.block_on(self.open_job(partition))?;
            let next = job.next_offset();
            tpl.set_partition_offset(&topic, partition, Offset::Offset(next as i64))?;
            tracing::info!(topic, partition, offset = next, "partition assigned; resuming from its checkpoint");
            owned.committed.insert(partition, next);
            owned.jobs.insert(partition, job);
            if !owned.report.partitions_seen.contains(&partition) {
                owned.report.partitions_seen.push(partition);
            }
        }
        drop(owned);
        consumer.assign(tpl)?;
        Ok(())
    }

    /// Commits, checkpoints and hands back each revoked partition.
    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) -> Result<(), KafkaLogError> {
        let dlq = self.dlq().unwrap_or_default().to_owned();
        let letter_partitions: Vec<i32> =
            tpl.elements().iter().filter(|e| e.topic() == dlq).map(|e| e.partition()).collect();
        let partitions: Vec<i32> = tpl.elements().iter().filter(|e| e.topic() != dlq).map(|e| e.partition()).collect();
        let mut owned = self.lock();
        owned.report.rebalances += 1;
        if consumer.assignment_lost() {
            for partition in &letter_partitions {
                owned.letters.remove(partition);
            }
            // The group moved on without us (session or poll interval expired): another member
            // may own these partitions already, so nothing more is written for them; their
            // next owner resumes from the last checkpoint.
            for partition in partitions {
                owned.jobs.remove(&partition);
                owned.committed.remove(&partition);
                tracing::warn!(partition, "partition lost; dropped without committing");
            }
            drop(owned);
            consumer.unassign()?;
            return Ok(());
        }
        let mut loaded = Vec::new();
        for partition in letter_partitions {
            if let Some(mut letters) = owned.letters.remove(&partition) {
                self.runtime.block_on(letters.flush())?;
                loaded.push((partition, letters.committed_offset()));
            }
        }
        commit_offsets(consumer, &dlq, &loaded)?;
        let mut finished = Vec::new();
        for partition in partitions {
            if let Some(mut job) = owned.jobs.remove(&partition) {
                let report = self.runtime.block_on(job.finish())?;
                owned.report.processed.add(&report);
                finished.push((partition, job.checkpointed_offset()));
                tracing::info!(partition, offset = job.checkpointed_offset(), "partition revoked; checkpointed");
            }
        }
        let result = commit_offsets(consumer, &self.options.kafka.topic, &finished);
        for (partition, _) in &finished {
            owned.committed.remove(partition);
        }
        drop(owned);
        consumer.unassign()?;
        result
    }
}

impl ClientContext for GroupContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.refused.observe(&error, reason);
        tracing::error!(%error, reason, "librdkafka");
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                tracing::error!(error = ?other, "rebalance error");
                consumer.unassign().map_err(KafkaLogError::from)
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "rebalance failed; this member stops");
            self.lock().failure = Some(e.to_string());
        }
    }
}

/// Commits `offsets` (partition, next offset) of `topic` to Kafka, synchronously.
fn commit_offsets(
    consumer: &BaseConsumer<GroupContext>,
    topic: &str,
    offsets: &[(i32, u64)],
) -> Result<(), KafkaLogError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for (partition, offset) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset as i64))?;
    }
    consumer.commit(&tpl, CommitMode::Sync)?;
    Ok(())
}

/// Dead letters (the collector's JSON shape) for the records at `unreadable`'s offsets.
fn dead_letters_for(
    topic: &str,
    partition: i32,
    records: &[StoredRecord],
    unreadable: &[(u64, String)],
) -> Vec<Record> {
    let now = chrono::Utc::now();
    let received_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    unreadable
        .iter()
        .filter_map(|(offset, reason)| {
            let record = records.iter().find(|r| r.offset == *offset)?;
            let endpoint = format!("kafka://{topic}/{partition}/{offset}");
            let letter =
                DeadLetter::new(reason.clone(), crate::letters::UNREADABLE, &received_at, &endpoint, &record.value);
            Some(Record { key: record.key.clone(), value: letter.to_json(), timestamp_ms: now.timestamp_millis() })
        })
        .collect()
}

/// Produces `letters` and waits for the brokers' acknowledgement.
async fn dead_letter(sink: &KafkaSink, letters: Vec<Record>) -> Result<(), String> {
    let pending = sink.append(letters).map_err(|e| e.to_string())?;
    pending.await.map(|_| ()).map_err(|e| e.to_string())
}

/// Loads every dead-letter partition's queued records; returns (partition, next offset) of
/// those that moved.
fn flush_letters(runtime: &Handle, owned: &mut Owned) -> Result<Vec<(i32, u64)>, KafkaLogError> {
    let mut loaded = Vec::new();
    for (partition, letters) in owned.letters.iter_mut() {
        let before = letters.committed_offset();
        runtime.block_on(letters.flush())?;
        if letters.committed_offset() > before {
            loaded.push((*partition, letters.committed_offset()));
        }
    }
    Ok(loaded)
}

/// Runs one member of the group until `stop` is set: polls, processes each partition's records
/// with its job, commits rows and checkpoints on their intervals, and commits offsets after
/// checkpoints. Blocking: call it on a thread of its own (not a runtime worker); lake work
/// runs on `runtime`. At stop every partition is committed and checkpointed, and the member
/// leaves the group.
pub fn run(
    lake: Lake,
    options: GroupOptions,
    runtime: Handle,
    stop: Arc<AtomicBool>,
) -> Result<GroupReport, KafkaLogError> {
    run_observed(lake, options, runtime, stop, &mut |_| {})
}

/// [`run`], handing the live view of this member's partitions (merged) to `live` after every
/// round that brought records.
pub fn run_observed(
    lake: Lake,
    options: GroupOptions,
    runtime: Handle,
    stop: Arc<AtomicBool>,
    live: &mut dyn FnMut(LiveSnapshot),
) -> Result<GroupReport, KafkaLogError> {
    options.kafka.validate()?;
    let dead_letters = KafkaSink::new(&options.kafka, &options.kafka.dlq_topic)?;
    let context = GroupContext {
        options: options.clone(),
        refused: crate::topics::RefusedConnections::default(),
        dead_letters,
        lake,
        runtime: runtime.clone(),
        owned: Mutex::new(Owned::default()),
    };
    let consumer: BaseConsumer<GroupContext> = options.kafka.consumer_config().create_with_context(context)?;
    let topic = options.kafka.topic.clone();
    let dlq = consumer.context().dlq().map(str::to_owned);
    let mut topics = vec![topic.as_str()];
    topics.extend(dlq.as_deref());
    for name in &topics {
        let metadata = consumer.fetch_metadata(Some(name), Duration::from_secs(10));
        crate::topics::check(metadata, &consumer.context().refused, name, &options.kafka.brokers)?;
    }
    consumer.subscribe(&topics)?;
    let mut batch: BTreeMap<i32, Vec<StoredRecord>> = BTreeMap::new();
    let mut letters_batch: BTreeMap<i32, Vec<StoredRecord>> = BTreeMap::new();
    let mut last_letters_flush = Instant::now();
    let mut last_error_log = Instant::now() - Duration::from_secs(60);
    let mut last_record: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        // One round: wait up to 100 ms for a record, then take what is already fetched.
        let mut taken = 0;
        while taken < options.max_batch_records {
            let wait = if taken == 0 { Duration::from_millis(100) } else { Duration::ZERO };
            match consumer.poll(wait) {
                None => break,
                Some(Ok(message)) => {
                    let record = crate::source::stored(&message);
                    let into = if message.topic() == topic { &mut batch } else { &mut letters_batch };
                    into.entry(message.partition()).or_default().push(record);
                    taken += 1;
                }
                Some(Err(e)) => {
                    // Brokers down, a partition moving: librdkafka retries on its own.
                    if last_error_log.elapsed() > Duration::from_secs(5) {
                        tracing::warn!(error = %e, "consumer error; librdkafka retries");
                        last_error_log = Instant::now();
                    }
                    break;
                }
            }
        }
        let mut guard = consumer.context().lock();
        if let Some(failure) = guard.failure.take() {
            return Err(KafkaLogError::Rebalance(failure));
        }
        if taken > 0 || (last_record.is_none() && guard.report.rebalances > 0) {
            last_record = Some(Instant::now());
        }
        if let (Some(idle), Some(last)) = (options.stop_when_idle, last_record) {
            if last.elapsed() >= idle {
                break;
            }
        }
        let owned = &mut *guard;
        let mut to_commit = Vec::new();
        for (partition, job) in owned.jobs.iter_mut() {
            let mut report = ProcessReport::default();
            // Records of partitions revoked since they were fetched are left to their new owner.
            let records = batch.remove(partition).unwrap_or_default();
            let result = runtime.block_on(async {
                job.process_records(&records, &mut report).await?;
                let unreadable = job.take_unreadable();
                if !unreadable.is_empty() {
                    match consumer.context().dlq() {
                        // Acknowledged before the offsets past them can be committed; if not,
                        // the partition resumes from its checkpoint and tries again.
                        Some(_) => {
                            let letters = dead_letters_for(&topic, *partition, &records, &unreadable);
                            dead_letter(&consumer.context().dead_letters, letters)
                                .await
                                .map_err(|e| footfall_lake::LakeError::Worker(format!("dead-lettering: {e}")))?;
                        }
                        // No separate dead-letter topic: a letter in the events topic would be
                        // unreadable itself, and dead-lettered again.
                        None => tracing::warn!(
                            partition,
                            records = unreadable.len(),
                            "unreadable records skipped (no dead-letter topic)"
                        ),
                    }
                }
                job.flush_if_due(&mut report).await
            });
            owned.report.processed.add(&report);
            if let Err(e) = result {
                // The job resumes from its checkpoint; the tables skip what they hold.
                tracing::warn!(partition, error = %e, "processing failed; resuming the partition from its checkpoint");
                let context = consumer.context();
                *job = runtime.block_on(context.open_job(*partition))?;
                consumer.seek(&topic, *partition, Offset::Offset(job.next_offset() as i64), Duration::from_secs(10))?;
                continue;
            }
            let checkpointed = job.checkpointed_offset();
            if owned.committed.get(partition).is_none_or(|c| *c < checkpointed) {
                to_commit.push((*partition, checkpointed));
            }
        }
        batch.clear();
        for (partition, letters) in owned.letters.iter_mut() {
            letters.push(letters_batch.remove(partition).unwrap_or_default());
        }
        letters_batch.clear();
        if last_letters_flush.elapsed() >= options.commit_every {
            last_letters_flush = Instant::now();
            // A failed load keeps its records queued for the next try (the lake says what it holds).
            let loaded = flush_letters(&runtime, owned).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "loading dead letters into the lake failed; retrying");
                Vec::new()
            });
            if let Some(dlq) = &dlq {
                if let Err(e) = commit_offsets(&consumer, dlq, &loaded) {
                    tracing::warn!(error = %e, "committing dead-letter offsets to Kafka failed; retrying later");
                }
            }
        }
        if taken > 0 {
            live(LiveSnapshot::merge(owned.jobs.values_mut().map(ProcessingJob::live_snapshot).collect()));
        }
        match commit_offsets(&consumer, &topic, &to_commit) {
            Ok(()) => owned.committed.extend(to_commit),
            // Retried after the next checkpoint; the checkpoint, not Kafka, says where to resume.
            Err(e) => tracing::warn!(error = %e, "committing offsets to Kafka failed; retrying later"),
        }
    }
    // Stop: commit and checkpoint every partition, commit the offsets, leave the group.
    let mut guard = consumer.context().lock();
    let owned = &mut *guard;
    let mut finished = Vec::new();
    for (partition, job) in owned.jobs.iter_mut() {
        let report = runtime.block_on(job.finish())?;
        owned.report.processed.add(&report);
        finished.push((*partition, job.checkpointed_offset()));
    }
    if let Err(e) = commit_offsets(&consumer, &topic, &finished) {
        tracing::warn!(error = %e, "committing offsets to Kafka at stop failed; the checkpoints hold them");
    }
    let loaded = flush_letters(&runtime, owned)?;
    if let Some(dlq) = &dlq {
        if let Err(e) = commit_offsets(&consumer, dlq, &loaded) {
            tracing::warn!(error = %e, "committing dead-letter offsets to Kafka at stop failed; the lake holds them");
        }
    }
    owned.jobs.clear();
    owned.letters.clear();
    let report = owned.report.clone();
    drop(guard);
    consumer.unsubscribe();
    drop(consumer);
    Ok(report)
}
