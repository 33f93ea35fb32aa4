//! `window_funnel(window_seconds, time, cond1, cond2, …)`: an SQL aggregate in the manner of
//! ClickHouse's `windowFunnel`. Per group (usually a person) it answers how many steps of the
//! chain `cond1 → cond2 → …` were reached in order within `window_seconds` of a `cond1` event:
//! 0 when no event met `cond1`. Events between steps do not matter (an `ordered` funnel).
//! Events at the same time are taken lowest step first, so they may complete consecutive
//! steps. 1 to 32 conditions; rows with a null time are skipped, a null condition is false.
//!
//! ```sql
//! SELECT level, count(*) AS persons FROM (
//!   SELECT person_id, window_funnel(3600, event_time, event = 'Product Viewed',
//!          event = 'Product Added', event = 'Order Completed') AS level
//!   FROM events GROUP BY person_id) GROUP BY level ORDER BY level
//! ```

use deltalake::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, TimeUnit};
use deltalake::datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use deltalake::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use deltalake::datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};
use deltalake::datafusion::physical_expr::expressions::Literal;
use std::sync::Arc;

/// Most conditions a funnel may have.
pub const MAX_STEPS: usize = 32;

/// The `window_funnel` aggregate, to register in a session.
pub fn window_funnel_udaf() -> AggregateUDF {
    AggregateUDF::from(WindowFunnel { signature: Signature::variadic_any(Volatility::Immutable) })
}

/// The function.
#[derive(Debug, PartialEq, Eq, Hash)]
struct WindowFunnel {
    signature: Signature,
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        "window_funnel"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() < 3 || arg_types.len() > MAX_STEPS + 2 {
            return plan_err!(
                "window_funnel(window_seconds, time, cond1, …) takes 1 to {MAX_STEPS} conditions, not {}",
                arg_types.len().saturating_sub(2)
            );
        }
        if !matches!(arg_types[1], DataType::Timestamp(..) | DataType::Int64 | DataType::Date32 | DataType::Date64) {
            return plan_err!("window_funnel: the time must be a timestamp, not {}", arg_types[1]);
        }
        if let Some(bad) = arg_types[2..].iter().find(|t| !matches!(t, DataType::Boolean | DataType::Null)) {
            return plan_err!("window_funnel: conditions must be boolean, not {bad}");
        }
        Ok(DataType::Int64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let window = match args.exprs[0].downcast_ref::<Literal>().map(|l| l.value()) {
            Some(ScalarValue::Int64(Some(w))) if *w >= 0 => *w,
            Some(ScalarValue::Int32(Some(w))) if *w >= 0 => i64::from(*w),
            Some(ScalarValue::UInt64(Some(w))) => i64::try_from(*w).unwrap_or(i64::MAX),
            _ => return plan_err!("window_funnel: the window must be a non-negative whole number of seconds"),
        };
        Ok(Box::new(FunnelAccumulator {
            window: window.saturating_mul(1_000_000),
            steps: args.exprs.len() - 2,
            times: Vec::new(),
            masks: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = || DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)));
        Ok(vec![
            Arc::new(Field::new(format!("{}[times]", args.name), list(), true)),
            Arc::new(Field::new(format!("{}[masks]", args.name), list(), true)),
        ])
    }
}

/// Events of one group that met any condition: times (µs) and which conditions they met.
#[derive(Debug)]
struct FunnelAccumulator {
    window: i64,
    steps: usize,
    times: Vec<i64>,
    masks: Vec<i64>,
}

fn micros(array: &ArrayRef) -> Result<ArrayRef> {
    let as_timestamp = match array.data_type() {
        DataType::Int64 => return Ok(Arc::clone(array)),
        DataType::Timestamp(_, zone) => cast(array, &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()))?,
        _ => cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
    };
    Ok(cast(&as_timestamp, &DataType::Int64)?)
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let times = micros(&values[1])?;
        let times = times.as_primitive::<Int64Type>();
        let conditions: Vec<BooleanArray> = values[2..]
            .iter()
            .map(|v| cast(v, &DataType::Boolean).map(|b| b.as_boolean().clone()))
            .collect::<std::result::Result<_, _>>()?;
        for row in 0..times.len() {
            if times.is_null(row) {
                continue;
            }
            let mask = conditions
                .iter()
                .enumerate()
                .fold(0i64, |m, (i, c)| m | (i64::from(c.is_valid(row) && c.value(row)) << i));
            if mask != 0 {
                self.times.push(times.value(row));
                self.masks.push(mask);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut order: Vec<usize> = (0..self.times.len()).collect();
        order.sort_by_key(|&i| (self.times[i], self.masks[i].trailing_zeros()));
        // started[k]: the latest start of a chain that has reached step k + 1 (the latest is
        // best: the window runs from the start).
        let mut started: Vec<Option<i64>> = vec![None; self.steps];
        for i in order {
            let (time, mask) = (self.times[i], self.masks[i]);
            // Highest step first, so one event completes at most one step.
            for k in (0..self.steps).rev() {
                if mask & (1 << k) == 0 {
                    continue;
                }
                if k == 0 {
                    started[0] = Some(time);
                } else if let Some(start) = started[k - 1].filter(|s| time - s <= self.window) {
                    started[k] = started[k].max(Some(start));
                }
            }
        }
        let level = started.iter().rposition(Option::is_some).map_or(0, |k| k + 1);
        Ok(ScalarValue::Int64(Some(level as i64)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + 8 * (self.times.capacity() + self.masks.capacity())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = |values: &[i64]| {
            ScalarValue::List(Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(
                values.iter().map(|v| Some(*v)),
            )])))
        };
        Ok(vec![list(&self.times), list(&self.masks)])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (times, masks) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..times.len() {
            if times.is_null(row) || masks.is_null(row) {
                continue;
            }
            let (t, m) = (times.value(row), masks.value(row));
            let (t, m) = (t.as_primitive::<Int64Type>(), m.as_primitive::<Int64Type>());
            if t.len() != m.len() {
                return exec_err!("window_funnel: corrupt partial state");
            }
            self.times.extend(t.values().iter());
            self.masks.extend(m.values().iter());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
    use deltalake::arrow::datatypes::Schema;
    use deltalake::datafusion::datasource::MemTable;
    use deltalake::datafusion::prelude::SessionContext;

    /// Levels per person by SQL over `(person, time µs, event)` rows split into `parts`
    /// partitions (so partial states merge).
    async fn levels(rows: &[(&str, i64, &str)], window: i64, steps: &[&str], parts: usize) -> Vec<(String, i64)> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("person", DataType::Utf8, false),
            Field::new("t", DataType::Int64, false),
            Field::new("event", DataType::Utf8, false),
        ]));
        let chunk = rows.len().div_ceil(parts).max(1);
        let partitions = rows
            .chunks(chunk)
            .map(|c| {
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(StringArray::from(c.iter().map(|r| r.0).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(c.iter().map(|r| r.1).collect::<Vec<_>>())),
                    Arc::new(StringArray::from(c.iter().map(|r| r.2).collect::<Vec<_>>())),
                ];
                vec![RecordBatch::try_new(Arc::clone(&schema), columns).expect("batch")]
            })
            .collect();
        let ctx = SessionContext::new();
        ctx.register_udaf(window_funnel_udaf());
        ctx.register_table("e", Arc::new(MemTable::try_new(schema, partitions).expect("table"))).expect("register");
        let conditions = steps.iter().map(|s| format!("event = '{s}'")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT person, window_funnel({window}, to_timestamp_micros(t), {conditions}) AS level FROM e GROUP BY person ORDER BY person"
        );
        let batches = ctx.sql(&sql).await.expect("plan").collect().await.expect("run");
        let mut out = Vec::new();
        for b in batches {
            let persons = b.column(0).as_string::<i32>();
            let levels = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                out.push((persons.value(i).to_owned(), levels.value(i)));
            }
        }
        out
    }

    const S: i64 = 1_000_000;

    #[tokio::test]
    async fn levels_follow_order_and_window_across_partitions() {
        let rows = [
            // a: view, add 10 s later, order at exactly the window's edge (60 s): level 3.
            ("a", 0, "view"),
            ("a", 10 * S, "add"),
            ("a", 60 * S, "order"),
            // b: add before view does not count; order 61 s after the view: level 2 only.
            ("b", 0, "add"),
            ("b", 5 * S, "view"),
            ("b", 6 * S, "add"),
            ("b", 66 * S, "order"),
            // c: a later view restarts the window: level 3 from the second attempt.
            ("c", 0, "view"),
            ("c", 100 * S, "view"),
            ("c", 130 * S, "add"),
            ("c", 150 * S, "order"),
            // d: never viewed.
            ("d", 0, "add"),
            // e: add and order at the same time as the view: ties may complete steps.
            ("e", 7 * S, "order"),
            ("e", 7 * S, "add"),
            ("e", 7 * S, "view"),
        ];
        for parts in [1, 3, 7] {
            let got = levels(&rows, 60, &["view", "add", "order"], parts).await;
            let expected: Vec<(String, i64)> =
                [("a", 3), ("b", 2), ("c", 3), ("d", 0), ("e", 3)].iter().map(|(p, l)| ((*p).to_owned(), *l)).collect();
            assert_eq!(got, expected, "{parts} partitions");
        }
    }

    #[tokio::test]
    async fn bad_arguments_are_plan_errors() {
        let ctx = SessionContext::new();
        ctx.register_udaf(window_funnel_udaf());
        for (sql, message) in [
            ("SELECT window_funnel(60, now())", "1 to 32 conditions"),
            ("SELECT window_funnel(60, 'x', true)", "time must be a timestamp"),
            ("SELECT window_funnel(60, now(), 'x')", "conditions must be boolean"),
        ] {
            let error = match ctx.sql(sql).await {
                Ok(frame) => frame.collect().await.expect_err(sql).to_string(),
                Err(e) => e.to_string(),
            };
            assert!(error.contains(message), "{sql}: {error}");
        }
    }
}
