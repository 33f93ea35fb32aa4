//! Every person's events in event-time order: what the analyses read. Persons are stitched:
//! an event made before a login (its `person_id` the anonymous id) belongs to the person the
//! links of `identities` lead that id to ([`footfall_lake::stitching`]), however much later the
//! links were made (they are read into memory first; the events stream past them batch by
//! batch).

use crate::error::AnalyticsError;
use crate::Micros;
use foldhash::HashMap;
use footfall_lake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use footfall_lake::arrow::compute::cast;
use footfall_lake::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use footfall_lake::Lake;
use futures::StreamExt;

/// One event of a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event time (µs).
    pub time: Micros,
    /// Log offset: orders events with the same time as they arrived.
    pub offset: i64,
    /// Event name, as an index into [`Timelines::names`].
    pub name: u32,
    /// `properties` JSON, when the analysis asked for it.
    pub properties: Option<Box<str>>,
    /// The breakdown value, as an index into [`Timelines::names`], if one was asked for.
    pub breakdown: Option<u32>,
}

/// Persons and their events, each person's sorted by (time, offset).
#[derive(Debug, Default, Clone)]
pub struct Timelines {
    /// Interned strings: event names and breakdown values.
    pub names: Vec<String>,
    // foldhash: a per-row lookup of short strings, where std's SipHash dominated loading.
    index: HashMap<String, u32>,
    /// Each person's id and events.
    pub persons: Vec<(String, Vec<Event>)>,
}

impl Timelines {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `text`, added if new.
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(text.to_owned());
        self.index.insert(text.to_owned(), i);
        i
    }

    /// The index of `text`, if known.
    pub fn lookup(&self, text: &str) -> Option<u32> {
        self.index.get(text).copied()
    }

    /// Builds timelines from `(person, time, offset, event, properties, breakdown)` rows.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = Row<'a>>) -> Self {
        let mut builder = Builder::default();
        rows.into_iter().for_each(|row| builder.push(row));
        builder.finish()
    }
}

/// Timelines built row by row.
#[derive(Default)]
struct Builder {
    timelines: Timelines,
    by_person: HashMap<String, Vec<Event>>,
}

impl Builder {
    fn push(&mut self, (person, time, offset, name, properties, breakdown): Row<'_>) {
        let name = self.timelines.intern(name);
        let breakdown = breakdown.map(|b| self.timelines.intern(b));
        let event = Event { time, offset, name, properties: properties.map(Into::into), breakdown };
        match self.by_person.get_mut(person) {
            Some(events) => events.push(event),
            None => {
                self.by_person.insert(person.to_owned(), vec![event]);
            }
        }
    }

    fn finish(self) -> Timelines {
        let Self { mut timelines, by_person } = self;
        let mut persons: Vec<(String, Vec<Event>)> = by_person.into_iter().collect();
        persons.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, events) in &mut persons {
            events.sort_by_key(|e| (e.time, e.offset));
        }
        timelines.persons = persons;
        timelines
    }
}

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct LoadRequest {
    /// Events from this time (µs, inclusive; `Micros::MIN`: from the beginning).
    pub from: Micros,
    /// Up to this time (exclusive).
    pub to: Micros,
    /// Only these events (all if empty).
    pub events: Vec<String>,
    /// Keep `properties` of these events.
    pub properties_of: Vec<String>,
    /// The breakdown: `device`, `channel`, `campaign`, `browser`, `os`, `country`, or
    /// `prop:NAME` (a property of the event).
    pub breakdown: Option<String>,
    /// Instead of `properties_of`: an SQL expression over `events e` for the properties slot.
    pub properties_sql: Option<String>,
    /// Instead of `breakdown`: an SQL expression over `events e` for the breakdown slot.
    pub breakdown_sql: Option<String>,
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn timestamp(time: Micros) -> String {
    format!("to_timestamp_micros({time})")
}

/// The SQL column of a breakdown name.
pub fn breakdown_column(name: &str) -> Result<String, AnalyticsError> {
    Ok(match name {
        "device" | "device_type" => "e.device_type".into(),
        "channel" => "e.channel".into(),
        "campaign" | "utm_campaign" => "e.utm_campaign".into(),
        "browser" => "e.browser".into(),
        "os" => "e.os".into(),
        "country" => "e.country".into(),
        _ => match name.strip_prefix("prop:") {
            Some(property) if !property.is_empty() => format!("json_get_str(e.properties, {})", quoted(property)),
            _ => {
                return Err(AnalyticsError::BadRequest(format!(
                    "breakdown must be device, channel, campaign, browser, os, country or prop:NAME, not {name:?}"
                )))
            }
        },
    })
}

/// Loads the events of `request` from the lake's `events` (bots left out), persons stitched
/// through `identities`.
pub async fn load(lake: &Lake, request: &LoadRequest) -> Result<Timelines, AnalyticsError> {
    let breakdown = match (&request.breakdown_sql, &request.breakdown) {
        (Some(sql), _) => sql.clone(),
        (None, Some(name)) => breakdown_column(name)?,
        (None, None) => "CAST(NULL AS VARCHAR)".into(),
    };
    let list = |names: &[String]| names.iter().map(|n| quoted(n)).collect::<Vec<_>>().join(", ");
    let properties = if let Some(sql) = &request.properties_sql {
        sql.clone()
    } else if request.properties_of.is_empty() {
        "CAST(NULL AS VARCHAR)".into()
    } else {
        format!("CASE WHEN e.event IN ({}) THEN e.properties END", list(&request.properties_of))
    };
    let mut sql = format!(
        "SELECT e.person_id AS person, e.event_time AS time, e.log_offset AS offset, e.event AS event, \
         {properties} AS properties, {breakdown} AS breakdown FROM events e \
         WHERE NOT e.is_bot AND e.event_time < {}",
        timestamp(request.to)
    );
    if request.from > Micros::MIN {
        sql.push_str(&format!(" AND e.event_time >= {}", timestamp(request.from)));
    }
    if !request.events.is_empty() {
        sql.push_str(&format!(" AND e.event IN ({})", list(&request.events)));
    }
    let ctx = footfall_lake::sql::session(lake).await?;
    let links = footfall_lake::stitching::identity_roots(&ctx).await?;
    // Batch by batch: the rows are never all held as Arrow and as timelines at once.
    let frame =
        ctx.sql_with_options(&sql, footfall_lake::sql::read_only()).await.map_err(footfall_lake::LakeError::from)?;
    let mut stream = frame.execute_stream().await.map_err(footfall_lake::LakeError::from)?;
    let mut builder = Builder::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(footfall_lake::LakeError::from)?;
        let columns = Columns::new(&batch)?;
        for (person, time, offset, event, properties, by) in columns.rows() {
            // Stitched: an anonymous id linked to a person belongs to that person.
            let person = links.get(person).map_or(person, String::as_str);
            builder.push((person, time, offset, event, properties, by));
        }
    }
    Ok(builder.finish())
}

/// One batch's columns, cast to plain arrays.
struct Columns {
    person: ArrayRef,
    time: ArrayRef,
    offset: ArrayRef,
    event: ArrayRef,
    properties: ArrayRef,
    breakdown: ArrayRef,
}

impl Columns {
    fn new(batch: &RecordBatch) -> Result<Self, AnalyticsError> {
        let corrupt = |what: &str| AnalyticsError::BadRequest(format!("events: unexpected column {what}"));
        let column = |name: &str, to: &DataType| -> Result<ArrayRef, AnalyticsError> {
            let array = batch.column_by_name(name).ok_or_else(|| corrupt(name))?;
            cast(array, to).map_err(|e| AnalyticsError::BadRequest(format!("events: column {name}: {e}")))
        };
        Ok(Self {
            person: column("person", &DataType::Utf8)?,
            time: column("time", &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())))?,
            offset: column("offset", &DataType::Int64)?,
            event: column("event", &DataType::Utf8)?,
            properties: column("properties", &DataType::Utf8)?,
            breakdown: column("breakdown", &DataType::Utf8)?,
        })
    }

    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        let (person, event) = (self.person.as_string::<i32>(), self.event.as_string::<i32>());
        let (properties, breakdown) = (self.properties.as_string::<i32>(), self.breakdown.as_string::<i32>());
        let time = self.time.as_primitive::<TimestampMicrosecondType>();
        let offset = self.offset.as_primitive::<Int64Type>();
        (0..self.person.len()).map(move |i| {
            (
                person.value(i),
                time.value(i),
                offset.value(i),
                event.value(i),
                optional(properties, i),
                optional(breakdown, i),
            )
        })
    }
}

fn optional(array: &StringArray, i: usize) -> Option<&str> {
    (!array.is_null(i)).then(|| array.value(i))
}

/// `(person, time, offset, event, properties, breakdown)`.
type Row<'a> = (&'a str, Micros, i64, &'a str, Option<&'a str>, Option<&'a str>);
