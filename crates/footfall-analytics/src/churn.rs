//! Churn prediction: who will not come back.
//!
//! A person *churned* at a cutoff when they were active in the 30 days before it (see
//! [`Frame`]) and made no event in the `horizon_days` after it. Training is split in time:
//! models learn from features at the **train cutoff** with the labels of the horizon after it,
//! and are judged on persons at the **test cutoff** (one horizon later, the last one whose
//! horizon the data covers), so nothing the test set's labels hold is seen in training.
//!
//! Two models: logistic regression (smartcore, on log-scaled standardized features) and
//! gradient-boosted trees (forust, log loss). The report gives each one's ROC AUC, precision
//! among the top 10% by score and a calibration table; the one with the better test AUC
//! scores every active person (features at the end of the data) into gold `churn_scores`.

use crate::error::AnalyticsError;
use crate::features::{self, log_scaled, Frame, PersonFeatures, Standardizer, DAY};
use crate::timeline::Timelines;
use crate::Micros;
use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

/// How to train.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChurnConfig {
    /// Days without activity after a cutoff that make a churner.
    pub horizon_days: i64,
    /// Days of history features read.
    pub lookback_days: i64,
    /// Persons active in this many days before a cutoff are the population.
    pub active_days: i64,
    /// The test cutoff (µs); the latest the data allows if none.
    pub test_cutoff: Option<Micros>,
    /// Seed of the boosted trees' sampling.
    pub seed: u64,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        Self { horizon_days: 30, lookback_days: 90, active_days: 30, test_cutoff: None, seed: 42 }
    }
}

impl ChurnConfig {
    /// The test and train cutoffs for data ending at `data_end` (exclusive): test at the last
    /// UTC midnight whose horizon the data covers, train one horizon earlier.
    pub fn cutoffs(&self, data_end: Micros) -> (Micros, Micros) {
        let horizon = self.horizon_days * DAY;
        let test = self.test_cutoff.unwrap_or_else(|| (data_end - horizon).div_euclid(DAY) * DAY);
        (test - horizon, test)
    }

    fn frame(&self, cutoff: Micros) -> Frame {
        Frame { cutoff, lookback_days: self.lookback_days, active_days: self.active_days }
    }
}

/// Persons, their feature vectors and labels (true: churned).
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Each person's features.
    pub persons: Vec<PersonFeatures>,
    /// Churned in the horizon after the cutoff.
    pub churned: Vec<bool>,
}

/// Features at `frame` with the label of the `horizon_days` after its cutoff.
pub fn labelled(timelines: &Timelines, frame: Frame, horizon_days: i64) -> Dataset {
    let persons = features::compute(timelines, frame);
    let end = frame.cutoff + horizon_days * DAY;
    let index: std::collections::HashMap<&str, usize> =
        timelines.persons.iter().enumerate().map(|(i, (p, _))| (p.as_str(), i)).collect();
    let churned = persons
        .iter()
        .map(|p| {
            let events = index.get(p.person_id.as_str()).map(|&i| &timelines.persons[i].1);
            !events.is_some_and(|events| events.iter().any(|e| e.time >= frame.cutoff && e.time < end))
        })
        .collect();
    Dataset { persons, churned }
}

/// Logistic regression on log-scaled, standardized features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// The scale learned on the training set.
    pub standardizer: Standardizer,
    /// One weight per feature.
    pub weights: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
}

impl LogisticModel {
    /// Fits the model (L2 penalty `alpha`).
    pub fn fit(rows: &[Vec<f64>], churned: &[bool], alpha: f64) -> Result<Self, AnalyticsError> {
        let scaled: Vec<Vec<f64>> = rows.iter().map(|r| log_scaled(r)).collect();
        let standardizer = Standardizer::fit(&scaled);
        let z: Vec<Vec<f64>> = scaled.iter().map(|r| standardizer.apply(r)).collect();
        let x = DenseMatrix::from_2d_vec(&z).map_err(|e| AnalyticsError::Model(format!("logistic regression: {e}")))?;
        let y: Vec<i32> = churned.iter().map(|&c| i32::from(c)).collect();
        let model = LogisticRegression::fit(&x, &y, LogisticRegressionParameters::default().with_alpha(alpha))
            .map_err(|e| AnalyticsError::Model(format!("logistic regression: {e}")))?;
        if model.classes().len() != 2 {
            return Err(AnalyticsError::Model("logistic regression needs churners and non-churners".into()));
        }
        let coefficients = model.coefficients();
        let weights = (0..z.first().map_or(0, Vec::len)).map(|j| *coefficients.get((0, j))).collect();
        Ok(Self { standardizer, weights, intercept: *model.intercept().get((0, 0)) })
    }

    /// The churn probability of one feature vector.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let z = self.standardizer.apply(&log_scaled(row));
        sigmoid(self.intercept + z.iter().zip(&self.weights).map(|(x, w)| x * w).sum::<f64>())
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Column-major copy of `rows`, as forust reads data.
fn column_major(rows: &[Vec<f64>]) -> Vec<f64> {
    let width = rows.first().map_or(0, Vec::len);
    (0..width).flat_map(|j| rows.iter().map(move |r| r[j])).collect()
}

/// Gradient-boosted trees (log loss).
pub struct BoostedModel {
    booster: GradientBooster,
}

impl BoostedModel {
    /// Fits 100 trees of depth 4 (learning rate 0.1), deterministic for `seed`.
    pub fn fit(rows: &[Vec<f64>], churned: &[bool], seed: u64) -> Result<Self, AnalyticsError> {
        let data = column_major(rows);
        let width = rows.first().map_or(0, Vec::len);
        let matrix = Matrix::new(&data, rows.len(), width);
        let y: Vec<f64> = churned.iter().map(|&c| f64::from(u8::from(c))).collect();
        let mut booster = GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(100)
            .set_learning_rate(0.1)
            .set_max_depth(4)
            .set_seed(seed)
            .set_parallel(false);
        booster.fit_unweighted(&matrix, &y, None).map_err(|e| AnalyticsError::Model(format!("boosted trees: {e}")))?;
        Ok(Self { booster })
    }

    /// Churn probabilities of `rows`.
    pub fn predict(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        if rows.is_empty() {
            return Vec::new();
        }
        let data = column_major(rows);
        let matrix = Matrix::new(&data, rows.len(), rows[0].len());
        self.booster.predict(&matrix, false).into_iter().map(sigmoid).collect()
    }

    /// The model as JSON.
    pub fn to_json(&self) -> Result<String, AnalyticsError> {
        self.booster.json_dump().map_err(|e| AnalyticsError::Model(format!("boosted trees: {e}")))
    }

    /// A model from [`Self::to_json`].
    pub fn from_json(json: &str) -> Result<Self, AnalyticsError> {
        GradientBooster::from_json(json)
            .map(|booster| Self { booster })
            .map_err(|e| AnalyticsError::Model(format!("boosted trees: {e}")))
    }
}

/// ROC AUC: the chance that a random churner scores above a random non-churner (ties count
/// half), by the rank-sum formula with tied scores sharing their mean rank.
pub fn roc_auc(scores: &[f64], churned: &[bool]) -> Option<f64> {
    let positives = churned.iter().filter(|&&c| c).count();
    let negatives = churned.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 … j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * order[i..j].iter().filter(|&&k| churned[k]).count() as f64;
        i = j;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Share of churners among the top `fraction` of persons by score (at least one person).
pub fn precision_at(scores: &[f64], churned: &[bool], fraction: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let top = ((scores.len() as f64 * fraction).ceil() as usize).clamp(1, scores.len());
    order[..top].iter().filter(|&&i| churned[i]).count() as f64 / top as f64
}

/// One bin of predicted probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Predicted probabilities from…
    pub from: f64,
    /// …to (exclusive, but 1.0 included in the last bin).
    pub to: f64,
    /// Persons in the bin.
    pub persons: u64,
    /// Their mean predicted probability.
    pub mean_predicted: f64,
    /// The share of them that churned.
    pub observed: f64,
}

/// Ten bins of width 0.1: predicted against observed churn.
pub fn calibration(scores: &[f64], churned: &[bool]) -> Vec<CalibrationBin> {
    let mut sums = [(0u64, 0.0f64, 0u64); 10];
    for (s, &c) in scores.iter().zip(churned) {
        let bin = ((s * 10.0).floor().max(0.0) as usize).min(9);
        sums[bin] = (sums[bin].0 + 1, sums[bin].1 + s, sums[bin].2 + u64::from(c));
    }
    sums.iter()
        .enumerate()
        .map(|(i, &(n, total, churners))| CalibrationBin {
            from: i as f64 / 10.0,
            to: (i + 1) as f64 / 10.0,
            persons: n,
            mean_predicted: if n == 0 { 0.0 } else { total / n as f64 },
            observed: if n == 0 { 0.0 } else { churners as f64 / n as f64 },
        })
        .collect()
}

/// How one model did on the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// `logistic_regression` or `boosted_trees`.
    pub model: String,
    /// ROC AUC.
    pub auc: f64,
    /// Churners among the top 10% by score.
    pub precision_at_10pct: f64,
    /// Predicted against observed churn.
    pub calibration: Vec<CalibrationBin>,
}

impl ModelReport {
    fn new(model: &str, scores: &[f64], churned: &[bool]) -> Result<Self, AnalyticsError> {
        let auc = roc_auc(scores, churned)
            .ok_or_else(|| AnalyticsError::Model("the test set needs churners and non-churners".into()))?;
        Ok(Self {
            model: model.into(),
            auc,
            precision_at_10pct: precision_at(scores, churned, 0.1),
            calibration: calibration(scores, churned),
        })
    }
}

/// What training found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnReport {
    /// Features at this time trained the models (µs).
    pub train_cutoff: Micros,
    /// Features at this time tested them (µs).
    pub test_cutoff: Micros,
    /// Persons in the training set.
    pub train_persons: u64,
    /// Of them, churned.
    pub train_churners: u64,
    /// Persons in the test set.
    pub test_persons: u64,
    /// Of them, churned.
    pub test_churners: u64,
    /// Each model's results on the test set.
    pub models: Vec<ModelReport>,
    /// The model that scores: the one with the higher test AUC.
    pub chosen: String,
    /// Feature names.
    pub features: Vec<String>,
    /// The training configuration.
    pub config: ChurnConfig,
}

/// Trained models with their report.
pub struct ChurnModel {
    /// The report.
    pub report: ChurnReport,
    /// Logistic regression.
    pub logistic: LogisticModel,
    /// Boosted trees.
    pub boosted: BoostedModel,
}

/// Stored form of a [`ChurnModel`].
#[derive(Serialize, Deserialize)]
struct StoredModel {
    report: ChurnReport,
    logistic: LogisticModel,
    boosted: String,
}

impl ChurnModel {
    /// Trains and tests both models on `timelines` (events up to `data_end`, exclusive).
    pub fn train(timelines: &Timelines, data_end: Micros, config: ChurnConfig) -> Result<Self, AnalyticsError> {
        let (train_cutoff, test_cutoff) = config.cutoffs(data_end);
        if test_cutoff + config.horizon_days * DAY > data_end {
            return Err(AnalyticsError::BadRequest(format!(
                "the data must cover the {} days after the test cutoff: it ends {} days after it",
                config.horizon_days,
                (data_end - test_cutoff) / DAY
            )));
        }
        let train = labelled(timelines, config.frame(train_cutoff), config.horizon_days);
        let test = labelled(timelines, config.frame(test_cutoff), config.horizon_days);
        let vectors = |d: &Dataset| d.persons.iter().map(PersonFeatures::vector).collect::<Vec<_>>();
        let (train_x, test_x) = (vectors(&train), vectors(&test));
        if train.churned.iter().all(|&c| c) || !train.churned.iter().any(|&c| c) {
            return Err(AnalyticsError::Model(format!(
                "the training set ({} persons at the train cutoff) needs churners and non-churners",
                train.persons.len()
            )));
        }
        let logistic = LogisticModel::fit(&train_x, &train.churned, 1.0)?;
        let boosted = BoostedModel::fit(&train_x, &train.churned, config.seed)?;
        let logistic_scores: Vec<f64> = test_x.iter().map(|r| logistic.predict(r)).collect();
        let boosted_scores = boosted.predict(&test_x);
        let models = vec![
            ModelReport::new("logistic_regression", &logistic_scores, &test.churned)?,
            ModelReport::new("boosted_trees", &boosted_scores, &test.churned)?,
        ];
        let chosen = if models[1].auc >= models[0].auc { &models[1] } else { &models[0] };
        let count = |d: &Dataset| d.churned.iter().filter(|&&c| c).count() as u64;
        let report = ChurnReport {
            train_cutoff,
            test_cutoff,
            train_persons: train.persons.len() as u64,
            train_churners: count(&train),
            test_persons: test.persons.len() as u64,
            test_churners: count(&test),
            chosen: chosen.model.clone(),
            models,
            features: features::names(),
            config,
        };
        Ok(Self { report, logistic, boosted })
    }

    /// Churn probabilities of `persons` by the chosen model.
    pub fn score(&self, persons: &[PersonFeatures]) -> Vec<f64> {
        let rows: Vec<Vec<f64>> = persons.iter().map(PersonFeatures::vector).collect();
        if self.report.chosen == "logistic_regression" {
            rows.iter().map(|r| self.logistic.predict(r)).collect()
        } else {
            self.boosted.predict(&rows)
        }
    }

    /// The model and report as JSON (what the `churn_models` table stores).
    pub fn to_json(&self) -> Result<String, AnalyticsError> {
        let stored = StoredModel {
            report: self.report.clone(),
            logistic: self.logistic.clone(),
            boosted: self.boosted.to_json()?,
        };
        serde_json::to_string(&stored).map_err(|e| AnalyticsError::Model(format!("storing the model: {e}")))
    }

    /// A model from [`Self::to_json`].
    pub fn from_json(json: &str) -> Result<Self, AnalyticsError> {
        let stored: StoredModel =
            serde_json::from_str(json).map_err(|e| AnalyticsError::Model(format!("reading the model: {e}")))?;
        Ok(Self {
            report: stored.report,
            logistic: stored.logistic,
            boosted: BoostedModel::from_json(&stored.boosted)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AUC by its definition: over every (churner, non-churner) pair.
    fn pairwise_auc(scores: &[f64], churned: &[bool]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for i in 0..scores.len() {
            for j in 0..scores.len() {
                if churned[i] && !churned[j] {
                    pairs += 1.0;
                    wins += if scores[i] > scores[j] {
                        1.0
                    } else if scores[i] == scores[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn auc_equals_the_pairwise_definition_with_ties() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for _ in 0..50 {
            let n = 2 + (next() % 40) as usize;
            let scores: Vec<f64> = (0..n).map(|_| (next() % 8) as f64 / 8.0).collect();
            let mut churned: Vec<bool> = (0..n).map(|_| next() % 3 == 0).collect();
            churned[0] = true;
            churned[1] = false;
            let auc = roc_auc(&scores, &churned).expect("both classes");
            assert!((auc - pairwise_auc(&scores, &churned)).abs() < 1e-12);
        }
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.1, 0.9], &[false, true]), Some(1.0));
    }

    #[test]
    fn precision_at_top_and_calibration_bins() {
        let scores = [0.95, 0.85, 0.15, 0.05, 0.55, 0.45, 0.35, 0.25, 0.75, 0.65];
        let churned = [true, false, false, false, true, false, false, false, true, false];
        assert_eq!(precision_at(&scores, &churned, 0.1), 1.0);
        assert_eq!(precision_at(&scores, &churned, 0.2), 0.5);
        let bins = calibration(&scores, &churned);
        assert_eq!(bins.len(), 10);
        assert!(bins.iter().all(|b| b.persons == 1));
        assert_eq!(bins[9].observed, 1.0);
        assert!((bins[9].mean_predicted - 0.95).abs() < 1e-12);
        assert_eq!(calibration(&[1.0], &[true])[9].persons, 1);
    }

    #[test]
    fn both_models_rank_a_clear_signal_and_boosted_trees_survive_json() {
        // Churn when the first feature is large; the second is noise.
        let rows: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i % 50), f64::from((i * 7) % 13)]).collect();
        let churned: Vec<bool> = rows.iter().map(|r| r[0] > 30.0).collect();
        let model = LogisticModel::fit(&rows, &churned, 0.1).expect("fits");
        let scores: Vec<f64> = rows.iter().map(|r| model.predict(r)).collect();
        assert!(roc_auc(&scores, &churned).expect("both") > 0.99);
        assert!(model.weights[0] > 0.0);
        let boosted = BoostedModel::fit(&rows, &churned, 1).expect("fits");
        let again = BoostedModel::from_json(&boosted.to_json().expect("json")).expect("loads");
        assert_eq!(boosted.predict(&rows), again.predict(&rows));
        assert!(roc_auc(&boosted.predict(&rows), &churned).expect("both") > 0.99);
    }
}
