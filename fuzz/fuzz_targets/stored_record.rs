//! The processor's input: any bytes as a log record (what a foreign Kafka producer could
//! write), then the pipeline over it. A record is read or refused with a reason, never a panic.
#![no_main]

use footfall_log::StoredRecord;
use footfall_processor::{InputEvent, Outputs, Processor, ProcessorConfig, ProcessorState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (i64, &[u8])| {
    let (timestamp_ms, value) = input;
    let record = StoredRecord { partition: 0, offset: 7, timestamp_ms, key: Vec::new(), value: value.to_vec() };
    let parsed = InputEvent::from_record(&record);
    let config = ProcessorConfig::default();
    let mut processor = Processor::new(&config, ProcessorState::new(&config));
    let mut out = Outputs::default();
    processor.process_parsed(record.offset, parsed.ok(), &mut out);
    processor.process(&record, &mut out);
});
