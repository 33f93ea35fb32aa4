use crate::footfall;

#[test]
fn demo_prints_its_url_and_counts_live_simulated_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = footfall()
        .args(["demo", "--duration", "4", "--rate", "200", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .expect("run demo");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert!(stdout.contains("footfall demo running at http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("write key:"), "{stdout}");
    // The last count line: events arrived through the real collector, none refused.
    let last = stdout.lines().rfind(|l| l.starts_with("events:")).expect("a count line");
    let total: u64 = last
        .trim_start_matches("events: ")
        .split(" | ")
        .next()
        .expect("counts")
        .split(" · ")
        .filter_map(|part| part.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(total > 100, "about 200 events/s for 4 s should arrive: {last}");
    assert!(last.ends_with("rejected 0"), "{last}");
    // What was counted is in the log, durable.
    let stored = crate::dump(dir.path(), false);
    assert!(stored.len() as u64 >= total, "{} stored, {} counted", stored.len(), total);
}
