use crate::{dump, footfall, Server, KEY};
use serde_json::Value;

fn simulate_to_file(dir: &std::path::Path, name: &str, seed: &str) -> Vec<u8> {
    let path = dir.join(name);
    let status = footfall()
        .args(["simulate", "--seed", seed, "--users", "60", "--days", "3", "--end", "2026-11-20T00:00:00Z", "--out"])
        .arg(&path)
        .status()
        .expect("run simulate");
    assert!(status.success());
    std::fs::read(path).expect("read output")
}

#[test]
fn simulate_is_deterministic_for_a_seed_and_writes_valid_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = simulate_to_file(dir.path(), "a.ndjson", "11");
    assert_eq!(a, simulate_to_file(dir.path(), "b.ndjson", "11"), "same seed, same bytes");
    assert_ne!(a, simulate_to_file(dir.path(), "c.ndjson", "12"));
    let text = String::from_utf8(a).expect("utf8");
    let mut types = std::collections::BTreeMap::new();
    for line in text.lines() {
        let message = footfall_event::Message::parse(line).expect("a JSON object");
        let valid = message.validate(None).expect("valid Segment");
        *types.entry(valid.kind.as_str()).or_insert(0) += 1;
        let value: Value = serde_json::from_str(line).expect("json");
        let t = value["timestamp"].as_str().expect("timestamp");
        assert!(
            ("2026-11-16".."2026-11-20T00:10").contains(&t),
            "timestamp {t} within the period (give or take clock skew)"
        );
    }
    assert!(types.len() >= 3 && types["track"] > types["page"] / 2, "{types:?}");
    assert!(text.contains("\"Order Completed\"") && text.contains("\"campaign\":{"), "orders and UTM campaigns appear");
}

#[test]
fn simulate_posts_to_a_collector_and_every_event_arrives_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = simulate_to_file(dir.path(), "expected.ndjson", "5");
    let server = Server::start(&dir.path().join("data"), &[]);
    let status = footfall()
        .args([
            "simulate",
            "--seed",
            "5",
            "--users",
            "60",
            "--days",
            "3",
            "--end",
            "2026-11-20T00:00:00Z",
            "--batch-size",
            "37",
        ])
        .args(["--to", &server.url, "--write-key", KEY])
        .status()
        .expect("run simulate");
    assert!(status.success());
    let mut want: Vec<String> = String::from_utf8(expected)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["messageId"].as_str().expect("id").to_owned())
        .collect();
    let mut got: Vec<String> =
        dump(&server.data, false).iter().map(|e| e["messageId"].as_str().expect("id").to_owned()).collect();
    want.sort();
    got.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    assert!(dump(&server.data, true).is_empty(), "no dead letters from the simulator");
}
