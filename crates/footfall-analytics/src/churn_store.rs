//! Where churn models and scores live in the lake: gold `churn_models` (one row per training,
//! appended: when, the test AUCs, the chosen model, the whole model and report as JSON) and
//! gold `churn_scores` (every active person's churn probability, replaced at each scoring).

use crate::churn::{ChurnConfig, ChurnModel};
use crate::error::AnalyticsError;
use crate::features::PersonFeatures;
use crate::features::{self, Frame, DAY};
use crate::Micros;
use footfall_lake::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use footfall_lake::arrow::compute::cast;
use footfall_lake::arrow::datatypes::{DataType, Field, Schema, TimeUnit, TimestampMicrosecondType};
use footfall_lake::{Lake, LakeError, LakeTable};
use std::sync::Arc;

/// The gold table of trained models.
pub const MODELS_TABLE: &str = "churn_models";
/// The gold table of scores.
pub const SCORES_TABLE: &str = "churn_scores";

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn timestamps(values: Vec<Micros>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// Appends `model`, trained at `trained_at`, to `churn_models`.
pub async fn save_model(lake: &Lake, model: &ChurnModel, trained_at: Micros) -> Result<(), AnalyticsError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("trained_at", utc(), false),
        Field::new("train_cutoff", utc(), false),
        Field::new("test_cutoff", utc(), false),
        Field::new("chosen", DataType::Utf8, false),
        Field::new("auc_logistic_regression", DataType::Float64, false),
        Field::new("auc_boosted_trees", DataType::Float64, false),
        Field::new("test_persons", DataType::Int64, false),
        Field::new("model", DataType::Utf8, false),
    ]));
    let report = &model.report;
    let auc = |name: &str| report.models.iter().find(|m| m.model == name).map_or(f64::NAN, |m| m.auc);
    let columns: Vec<ArrayRef> = vec![
        timestamps(vec![trained_at]),
        timestamps(vec![report.train_cutoff]),
        timestamps(vec![report.test_cutoff]),
        Arc::new(StringArray::from(vec![report.chosen.as_str()])),
        Arc::new(Float64Array::from(vec![auc("logistic_regression")])),
        Arc::new(Float64Array::from(vec![auc("boosted_trees")])),
        Arc::new(Int64Array::from(vec![report.test_persons as i64])),
        Arc::new(StringArray::from(vec![model.to_json()?])),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(LakeError::from)?;
    let mut table = LakeTable::open(lake, MODELS_TABLE, schema, &[]).await?;
    table.append(batch, "footfall-churn-train", trained_at).await?;
    Ok(())
}

/// The most recently trained model and when it was trained, if there is one.
pub async fn latest_model(lake: &Lake) -> Result<Option<(ChurnModel, Micros)>, AnalyticsError> {
    let query = format!("SELECT trained_at, model FROM {MODELS_TABLE} ORDER BY trained_at DESC LIMIT 1");
    let Some(batches) = footfall_lake::sql::query_if_exists(lake, MODELS_TABLE, &query).await? else {
        return Ok(None);
    };
    if let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) {
        let corrupt = |e: String| AnalyticsError::Model(format!("{MODELS_TABLE}: {e}"));
        let trained = cast(batch.column(0), &utc()).map_err(|e| corrupt(e.to_string()))?;
        let model = cast(batch.column(1), &DataType::Utf8).map_err(|e| corrupt(e.to_string()))?;
        let trained_at = trained.as_primitive::<TimestampMicrosecondType>().value(0);
        let model = model.as_string::<i32>();
        if model.is_null(0) {
            return Err(corrupt("empty model".into()));
        }
        return Ok(Some((ChurnModel::from_json(model.value(0))?, trained_at)));
    }
    Ok(None)
}

/// One person's score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChurnScore {
    /// Person id.
    pub person_id: String,
    /// Churn probability.
    pub probability: f64,
    /// 1 for the highest probability.
    pub rank: u64,
    /// `high` (top 10%), `medium` (next 20%) or `low`.
    pub risk: &'static str,
    /// Days since the person's last event.
    pub recency_days: f64,
    /// Their events in the last 30 days.
    pub events_30d: f64,
    /// Their orders in the lookback.
    pub orders: f64,
    /// Their revenue in the lookback.
    pub revenue: f64,
}

/// Ranks `persons` by `probabilities` (highest first; ties by person id).
pub fn rank(persons: &[PersonFeatures], probabilities: &[f64]) -> Vec<ChurnScore> {
    let mut order: Vec<usize> = (0..persons.len()).collect();
    order.sort_by(|&a, &b| {
        probabilities[b].total_cmp(&probabilities[a]).then_with(|| persons[a].person_id.cmp(&persons[b].person_id))
    });
    let n = persons.len() as f64;
    order
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let p = &persons[k];
            let share = (i + 1) as f64 / n;
            ChurnScore {
                person_id: p.person_id.clone(),
                probability: probabilities[k],
                rank: i as u64 + 1,
                risk: if share <= 0.1 {
                    "high"
                } else if share <= 0.3 {
                    "medium"
                } else {
                    "low"
                },
                recency_days: p.recency_days,
                events_30d: p.events_30d,
                orders: p.orders,
                revenue: p.revenue,
            }
        })
        .collect()
}

/// Replaces `churn_scores` with `scores` (features as of `cutoff`, by the model trained at
/// `trained_at`).
pub async fn write_scores(
    lake: &Lake,
    scores: &[ChurnScore],
    model: &str,
    cutoff: Micros,
    trained_at: Micros,
) -> Result<(), AnalyticsError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, false),
        Field::new("churn_probability", DataType::Float64, false),
        Field::new("rank", DataType::Int64, false),
        Field::new("risk", DataType::Utf8, false),
        Field::new("recency_days", DataType::Float64, false),
        Field::new("events_30d", DataType::Float64, false),
        Field::new("orders", DataType::Float64, false),
        Field::new("revenue", DataType::Float64, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("cutoff", utc(), false),
        Field::new("trained_at", utc(), false),
    ]));
    let floats = |f: &dyn Fn(&ChurnScore) -> f64| Arc::new(scores.iter().map(f).collect::<Float64Array>()) as ArrayRef;
    let n = scores.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(scores.iter().map(|s| Some(s.person_id.as_str())).collect::<StringArray>()),
        floats(&|s| s.probability),
        Arc::new(scores.iter().map(|s| s.rank as i64).collect::<Int64Array>()),
        Arc::new(scores.iter().map(|s| Some(s.risk)).collect::<StringArray>()),
        floats(&|s| s.recency_days),
        floats(&|s| s.events_30d),
        floats(&|s| s.orders),
        floats(&|s| s.revenue),
        Arc::new(StringArray::from(vec![model; n])),
        timestamps(vec![cutoff; n]),
        timestamps(vec![trained_at; n]),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(LakeError::from)?;
    let mut table = LakeTable::open(lake, SCORES_TABLE, schema, &[]).await?;
    table.replace(vec![batch]).await?;
    Ok(())
}

/// Trains churn models on the lake's events (see [`ChurnModel::train`]) and appends them to
/// `churn_models` as trained at `now`.
pub async fn train(lake: &Lake, config: ChurnConfig, now: Micros) -> Result<ChurnModel, AnalyticsError> {
    let end = features::data_end(lake)
        .await?
        .ok_or_else(|| AnalyticsError::BadRequest("the lake has no events yet".into()))?;
    let (train_cutoff, _) = config.cutoffs(end);
    let timelines = features::load_events(lake, train_cutoff - config.lookback_days * DAY, end).await?;
    let model = ChurnModel::train(&timelines, end, config)?;
    save_model(lake, &model, now).await?;
    Ok(model)
}

/// What scoring did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scoring {
    /// Features were taken as of this time (µs): the end of the data.
    pub cutoff: Micros,
    /// When the model was trained (µs).
    pub trained_at: Micros,
    /// The model that scored.
    pub model: String,
    /// Every active person, highest risk first.
    pub scores: Vec<ChurnScore>,
}

/// Scores every person active in the 30 days before the end of the data with the latest
/// model and replaces `churn_scores` with the result.
pub async fn score(lake: &Lake) -> Result<Scoring, AnalyticsError> {
    let (model, trained_at) = latest_model(lake)
        .await?
        .ok_or_else(|| AnalyticsError::BadRequest("no churn model yet: run `footfall churn train` first".into()))?;
    let end = features::data_end(lake)
        .await?
        .ok_or_else(|| AnalyticsError::BadRequest("the lake has no events yet".into()))?;
    let config = model.report.config;
    let frame = Frame { cutoff: end, lookback_days: config.lookback_days, active_days: config.active_days };
    let timelines = features::load_events(lake, frame.start(), end).await?;
    let persons = features::compute(&timelines, frame);
    let scores = rank(&persons, &model.score(&persons));
    write_scores(lake, &scores, &model.report.chosen, end, trained_at).await?;
    Ok(Scoring { cutoff: end, trained_at, model: model.report.chosen.clone(), scores })
}
