//! Behavioural clustering: k-means (smartcore) over every active person's numeric features
//! (see [`crate::features`]), log-scaled and standardized, with k chosen by the mean
//! silhouette on a sample unless given. Each cluster is profiled by its raw feature means and
//! labelled by the features that set it apart most.

use crate::error::AnalyticsError;
use crate::features::{log_scaled, PersonFeatures, Standardizer, NUMERIC};
use serde::Serialize;
use smartcore::cluster::kmeans::{KMeans, KMeansParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

/// k tried when it is not given.
pub const K_RANGE: std::ops::RangeInclusive<usize> = 2..=8;
/// At most this many persons enter a silhouette (it costs the square of their number).
const SILHOUETTE_SAMPLE: usize = 2_000;

/// The numeric features of a person, log-scaled (clusters form on orders of magnitude).
fn numeric(p: &PersonFeatures) -> Vec<f64> {
    log_scaled(&p.vector()[..NUMERIC.len()])
}

/// A clustering and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clustering {
    /// Clusters.
    pub k: usize,
    /// Mean silhouette of each k tried (`(k, silhouette)`).
    pub silhouettes: Vec<(usize, f64)>,
    /// Each person's cluster (0-based), in the input's order.
    pub assignments: Vec<usize>,
    /// Each cluster's profile.
    pub profiles: Vec<ClusterProfile>,
}

/// What a cluster's members are like.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterProfile {
    /// Cluster number (0-based).
    pub cluster: usize,
    /// Members.
    pub persons: u64,
    /// The features that set it apart most (by standardized mean), e.g. `orders ↑`.
    pub label: String,
    /// Mean of each numeric feature (raw units), as `(name, mean)`.
    pub means: Vec<(String, f64)>,
}

/// Mean silhouette of `labels` over the points `rows` (Euclidean): per point,
/// (b − a) / max(a, b) with a the mean distance to its own cluster and b to the nearest other
/// one; points alone in their cluster count 0.
pub fn silhouette(rows: &[Vec<f64>], labels: &[usize]) -> f64 {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    if rows.len() < 2 || k < 2 {
        return 0.0;
    }
    let distance = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let mut total = 0.0;
    for (i, row) in rows.iter().enumerate() {
        let mut sums = vec![0.0; k];
        let mut counts = vec![0usize; k];
        for (j, other) in rows.iter().enumerate() {
            if i != j {
                sums[labels[j]] += distance(row, other);
                counts[labels[j]] += 1;
            }
        }
        let own = labels[i];
        if counts[own] == 0 {
            continue;
        }
        let a = sums[own] / counts[own] as f64;
        let b =
            (0..k).filter(|&c| c != own && counts[c] > 0).map(|c| sums[c] / counts[c] as f64).fold(f64::MAX, f64::min);
        if b == f64::MAX {
            continue;
        }
        let denominator = a.max(b);
        if denominator > 0.0 {
            total += (b - a) / denominator;
        }
    }
    total / rows.len() as f64
}

/// k-means of standardized `rows` with `k` clusters (seeded).
fn kmeans(z: &[Vec<f64>], k: usize, seed: u64) -> Result<Vec<usize>, AnalyticsError> {
    let x = DenseMatrix::from_2d_vec(&z.to_vec()).map_err(|e| AnalyticsError::Model(format!("k-means: {e}")))?;
    let parameters = KMeansParameters { seed: Some(seed), ..KMeansParameters::default().with_k(k).with_max_iter(100) };
    let model: KMeans<f64, usize, DenseMatrix<f64>, Vec<usize>> =
        KMeans::fit(&x, parameters).map_err(|e| AnalyticsError::Model(format!("k-means: {e}")))?;
    model.predict(&x).map_err(|e| AnalyticsError::Model(format!("k-means: {e}")))
}

/// k, the `(k, silhouette)` of each k tried, and each row's cluster.
pub type Chosen = (usize, Vec<(usize, f64)>, Vec<usize>);

/// Clusters `rows` (standardized here): with `k` clusters if given, else the k in
/// [`K_RANGE`] with the highest silhouette on an evenly spaced sample.
pub fn cluster_rows(rows: &[Vec<f64>], k: Option<usize>, seed: u64) -> Result<Chosen, AnalyticsError> {
    if let Some(k) = k {
        if k < 2 {
            return Err(AnalyticsError::BadRequest(format!("k must be at least 2, not {k}")));
        }
    }
    let smallest = k.unwrap_or(*K_RANGE.start());
    if rows.len() < smallest.max(2) + 1 {
        return Err(AnalyticsError::BadRequest(format!(
            "clustering needs more than {} persons: {} are active",
            smallest.max(2),
            rows.len()
        )));
    }
    let standardizer = Standardizer::fit(rows);
    let z: Vec<Vec<f64>> = rows.iter().map(|r| standardizer.apply(r)).collect();
    let step = z.len().div_ceil(SILHOUETTE_SAMPLE).max(1);
    let sample: Vec<usize> = (0..z.len()).step_by(step).collect();
    let sample_rows: Vec<Vec<f64>> = sample.iter().map(|&i| z[i].clone()).collect();
    let score = |labels: &[usize]| silhouette(&sample_rows, &sample.iter().map(|&i| labels[i]).collect::<Vec<_>>());
    match k {
        Some(k) => {
            let labels = kmeans(&z, k, seed)?;
            let s = score(&labels);
            Ok((k, vec![(k, s)], labels))
        }
        None => {
            let mut best: Option<(usize, f64, Vec<usize>)> = None;
            let mut tried = Vec::new();
            for k in K_RANGE.filter(|&k| k < z.len()) {
                let labels = kmeans(&z, k, seed)?;
                let s = score(&labels);
                tried.push((k, s));
                if best.as_ref().is_none_or(|b| s > b.1) {
                    best = Some((k, s, labels));
                }
            }
            let (k, _, labels) = best.ok_or_else(|| AnalyticsError::BadRequest("too few persons to cluster".into()))?;
            Ok((k, tried, labels))
        }
    }
}

/// Clusters `persons` by behaviour and profiles the clusters.
pub fn cluster(persons: &[PersonFeatures], k: Option<usize>, seed: u64) -> Result<Clustering, AnalyticsError> {
    let rows: Vec<Vec<f64>> = persons.iter().map(numeric).collect();
    let (k, silhouettes, assignments) = cluster_rows(&rows, k, seed)?;
    let raw: Vec<Vec<f64>> = persons.iter().map(|p| p.vector()[..NUMERIC.len()].to_vec()).collect();
    let overall = Standardizer::fit(&rows);
    let profiles = (0..k)
        .map(|c| {
            let members: Vec<usize> = (0..persons.len()).filter(|&i| assignments[i] == c).collect();
            let n = members.len().max(1) as f64;
            let mean_of = |table: &[Vec<f64>], j: usize| members.iter().map(|&i| table[i][j]).sum::<f64>() / n;
            let means = NUMERIC.iter().enumerate().map(|(j, name)| ((*name).to_owned(), mean_of(&raw, j))).collect();
            // Label: the two features whose standardized means stand out most.
            let mut standing: Vec<(usize, f64)> =
                (0..NUMERIC.len()).map(|j| (j, (mean_of(&rows, j) - overall.means[j]) / overall.stds[j])).collect();
            standing.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            let label = standing
                .iter()
                .take(2)
                .map(|&(j, z)| format!("{} {}", NUMERIC[j], if z >= 0.0 { "↑" } else { "↓" }))
                .collect::<Vec<_>>()
                .join(", ");
            ClusterProfile { cluster: c, persons: members.len() as u64, label, means }
        })
        .collect();
    Ok(Clustering { k, silhouettes, assignments, profiles })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points around `centres`, `per` each, with a small deterministic jitter.
    fn blobs(centres: &[(f64, f64)], per: usize) -> (Vec<Vec<f64>>, Vec<usize>) {
        let mut rows = Vec::new();
        let mut truth = Vec::new();
        for (c, (x, y)) in centres.iter().enumerate() {
            for i in 0..per {
                let jitter = |s: usize| ((s * 7919 + c * 104_729) % 1000) as f64 / 1000.0 - 0.5;
                rows.push(vec![x + jitter(i), y + jitter(i + 500)]);
                truth.push(c);
            }
        }
        (rows, truth)
    }

    #[test]
    fn silhouette_of_a_hand_computed_example() {
        // Two clusters on a line: {0, 1} and {5}. Point 0: a = 1, b = 5 → 0.8; point 1:
        // a = 1, b = 4 → 0.75; point 5 is alone → 0.
        let rows = vec![vec![0.0], vec![1.0], vec![5.0]];
        let s = silhouette(&rows, &[0, 0, 1]);
        assert!((s - (0.8 + 0.75) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn silhouette_picks_the_number_of_separated_blobs_and_recovers_them() {
        for centres in [
            &[(0.0, 0.0), (20.0, 0.0), (0.0, 20.0)][..],
            &[(0.0, 0.0), (20.0, 0.0), (0.0, 20.0), (20.0, 20.0), (10.0, 40.0)],
        ] {
            let (rows, truth) = blobs(centres, 40);
            let (k, tried, labels) = cluster_rows(&rows, None, 3).expect("clusters");
            assert_eq!(k, centres.len(), "silhouettes {tried:?}");
            // Same partition as the truth (cluster numbers may differ).
            for i in 0..rows.len() {
                for j in 0..rows.len() {
                    assert_eq!(truth[i] == truth[j], labels[i] == labels[j]);
                }
            }
        }
    }

    #[test]
    fn a_given_k_is_used_and_bad_ones_are_refused() {
        let (rows, _) = blobs(&[(0.0, 0.0), (20.0, 0.0), (0.0, 20.0)], 10);
        assert_eq!(cluster_rows(&rows, Some(4), 1).expect("clusters").0, 4);
        assert!(matches!(cluster_rows(&rows, Some(1), 1), Err(AnalyticsError::BadRequest(_))));
        assert!(matches!(cluster_rows(&rows[..2], None, 1), Err(AnalyticsError::BadRequest(_))));
    }
}
