//! Analyses end to end: `footfall funnel` and `POST /api/v1/funnel` on a simulated shop.

use crate::lake::sql;
use crate::{client, footfall, Server, KEY};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funnel_and_retention_cli_and_api_agree_and_step_one_counts_every_stitched_viewer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &[]);
    let status = footfall()
        .args(["simulate", "--seed", "5", "--users", "300", "--days", "3", "--end", "2026-11-20T00:00:00Z"])
        .args(["--to", &server.url, "--write-key", KEY])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("simulate");
    assert!(status.success());
    assert_eq!(server.stop().code(), Some(0));
    let mut server = Server::start(dir.path(), &[]);

    let steps = ["Product Viewed", "Product Added", "Order Completed"];
    let (from, to) = ("2026-11-17T00:00:00Z", "2026-11-20T00:00:00Z");
    let output = footfall()
        .args(["funnel", "--steps", &steps.join(","), "--window", "1h", "--from", from, "--to", to, "--json", "--data"])
        .arg(dir.path())
        .output()
        .expect("funnel");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let api: Value = client()
        .post(format!("{}/api/v1/funnel", server.url))
        .json(&json!({"steps": steps, "window": "1h", "from": from, "to": to}))
        .send()
        .await
        .expect("funnel API")
        .json()
        .await
        .expect("JSON");
    assert_eq!(cli, api);
    let rows = api.as_array().expect("steps");
    assert_eq!(rows.len(), 3);
    let persons: Vec<u64> = rows.iter().map(|r| r["persons"].as_u64().expect("persons")).collect();
    assert!(persons[0] > 100 && persons[0] >= persons[1] && persons[1] >= persons[2] && persons[2] > 0, "{persons:?}");
    // Step 1 is everyone who viewed a product in the range (persons stitched through
    // identities), counted independently in SQL.
    let viewers = sql(
        dir.path(),
        &format!(
            "SELECT count(DISTINCT COALESCE(i.person_id, e.person_id)) AS n FROM events e \
             LEFT JOIN identities i ON i.id = e.person_id WHERE e.event = 'Product Viewed' AND NOT e.is_bot \
             AND e.event_time >= TIMESTAMP '{from}' AND e.event_time < TIMESTAMP '{to}'"
        ),
    );
    assert_eq!(viewers[0]["n"].as_u64(), Some(persons[0]));
    assert_eq!(rows[1]["dropoff"].as_u64(), Some(persons[0] - persons[1]));
    // Adding to the cart made optional: at least as many reach the order; a 1-second gap
    // before the order leaves fewer.
    let optional: Value = client()
        .post(format!("{}/api/v1/funnel", server.url))
        .json(&json!({"steps": ["Product Viewed", "?Product Added", "Order Completed"], "window": "1h", "from": from, "to": to}))
        .send()
        .await
        .expect("funnel API")
        .json()
        .await
        .expect("JSON");
    assert_eq!(optional[1]["optional"], json!(true));
    assert!(optional[2]["persons"].as_u64() >= Some(persons[2]), "{optional}");
    let gapped: Value = client()
        .post(format!("{}/api/v1/funnel", server.url))
        .json(
            &json!({"steps": steps, "window": "1h", "from": from, "to": to, "max_gaps": [{"step": 3, "within": "1s"}]}),
        )
        .send()
        .await
        .expect("funnel API")
        .json()
        .await
        .expect("JSON");
    assert!(gapped[2]["persons"].as_u64() < Some(persons[2]), "{gapped}");
    // The SQL aggregate `window_funnel` over stitched persons gives the same step counts.
    let levels = sql(
        dir.path(),
        "SELECT level, count(*) AS n FROM (SELECT COALESCE(i.person_id, e.person_id) AS p, \
         window_funnel(3600, e.event_time, e.event = 'Product Viewed', e.event = 'Product Added', \
         e.event = 'Order Completed') AS level FROM events e LEFT JOIN identities i ON i.id = e.person_id \
         WHERE NOT e.is_bot GROUP BY 1) GROUP BY level",
    );
    for (k, expected) in persons.iter().enumerate() {
        let reached: u64 = levels
            .iter()
            .filter(|r| r["level"].as_u64().expect("level") > k as u64)
            .map(|r| r["n"].as_u64().expect("n"))
            .sum();
        assert_eq!(reached, *expected, "step {}: {levels:?}", k + 1);
    }

    for (body, message) in [
        (json!({"steps": ["Product Viewed"]}), "2 to 32 steps"),
        (json!({"steps": ["A", "B"], "mode": "sideways"}), "mode must be"),
        (json!({"steps": ["A", "B"], "window": "soon"}), "window"),
        (json!({"steps": ["A", "B"], "breakdown": "shoe size"}), "breakdown must be"),
        (json!({"steps": ["A", "B"], "colour": "red"}), "unknown field"),
        (json!({"steps": ["A", "B"], "max_gaps": [{"step": 1, "within": "1h"}]}), "max gap"),
        (json!({"steps": ["A", "?B"], "mode": "any"}), "ordered or strict"),
    ] {
        let answer = client().post(format!("{}/api/v1/funnel", server.url)).json(&body).send().await.expect("send");
        assert_eq!(answer.status(), 400, "{body}");
        let text = answer.text().await.expect("body");
        assert!(text.contains(message), "{body}: {text}");
    }

    // Retention: the CLI and the API agree; period 0 is the whole cohort; bad input is a 400.
    let output = footfall()
        .args(["retention", "--start", "Product Viewed", "--return", "Order Completed", "--periods", "3"])
        .args(["--from", "2026-11-17T00:00:00Z", "--to", to, "--json", "--data"])
        .arg(dir.path())
        .output()
        .expect("retention");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let body = json!({"start": "Product Viewed", "return": "Order Completed", "periods": 3,
                      "from": "2026-11-17T00:00:00Z", "to": to});
    let api: Value = client()
        .post(format!("{}/api/v1/retention", server.url))
        .json(&body)
        .send()
        .await
        .expect("retention API")
        .json()
        .await
        .expect("JSON");
    assert_eq!(cli, api);
    let cells = api.as_array().expect("cells");
    assert_eq!(cells.len(), 3 * 4, "three daily cohorts × periods 0..=3");
    for cell in cells.iter().filter(|c| c["period"] == 0) {
        assert_eq!(cell["persons"], cell["cohort_size"]);
    }
    // By device: each cohort splits, the parts add up to the whole in every period.
    let mut by_device = body.clone();
    by_device["breakdown"] = json!("device");
    let split: Value = client()
        .post(format!("{}/api/v1/retention", server.url))
        .json(&by_device)
        .send()
        .await
        .expect("retention API")
        .json()
        .await
        .expect("JSON");
    let split = split.as_array().expect("cells");
    assert!(split.iter().all(|c| c["breakdown"].is_string()), "{split:?}");
    for cell in cells {
        let parts: u64 = split
            .iter()
            .filter(|c| c["cohort"] == cell["cohort"] && c["period"] == cell["period"])
            .map(|c| c["persons"].as_u64().expect("persons"))
            .sum();
        assert_eq!(Some(parts), cell["persons"].as_u64(), "{cell}");
    }
    for (body, message) in [
        (json!({"start": "A", "return": "B", "period": "fortnight"}), "period must be"),
        (json!({"start": "A", "return": "B", "periods": 0}), "periods must be"),
        (json!({"start": "A"}), "missing field"),
    ] {
        let answer = client().post(format!("{}/api/v1/retention", server.url)).json(&body).send().await.expect("send");
        assert_eq!(answer.status(), 400, "{body}");
        let text = answer.text().await.expect("body");
        assert!(text.contains(message), "{body}: {text}");
    }

    // Paths: the CLI and the API agree; step 1 starts at the anchor and counts each person at
    // most once.
    let output = footfall()
        .args(["paths", "--event", "Product Added", "--depth", "3", "--top", "0"])
        .args(["--from", from, "--to", to, "--json", "--data"])
        .arg(dir.path())
        .output()
        .expect("paths");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let api: Value = client()
        .post(format!("{}/api/v1/paths", server.url))
        .json(&json!({"event": "Product Added", "depth": 3, "top": 0, "from": from, "to": to}))
        .send()
        .await
        .expect("paths API")
        .json()
        .await
        .expect("JSON");
    assert_eq!(cli, api);
    let links = api.as_array().expect("links");
    let first: Vec<&Value> = links.iter().filter(|l| l["step"] == 1).collect();
    assert!(!first.is_empty() && first.iter().all(|l| l["source"] == "Product Added"));
    let starters = first.iter().map(|l| l["persons"].as_u64().expect("persons")).sum::<u64>();
    let adders = sql(
        dir.path(),
        &format!(
            "SELECT count(DISTINCT COALESCE(i.person_id, e.person_id)) AS n FROM events e \
             LEFT JOIN identities i ON i.id = e.person_id WHERE e.event = 'Product Added' AND NOT e.is_bot \
             AND e.event_time >= TIMESTAMP '{from}' AND e.event_time < TIMESTAMP '{to}'"
        ),
    )[0]["n"]
        .as_u64()
        .expect("count");
    // Everyone who added to cart did something after it, except those for whom it was last.
    assert!(starters <= adders && starters * 10 >= adders * 9, "{starters} of {adders}");
    assert!(links.iter().any(|l| l["step"] == 3));
    // Trends: daily revenue of orders (a property summed) equals SQL's; CLI == API; the
    // lifecycle's active persons of a day equal SQL's distinct persons that day.
    let trend = |body: Value| {
        let url = format!("{}/api/v1/trends", server.url);
        async move { client().post(url).json(&body).send().await.expect("trends").json::<Value>().await.expect("JSON") }
    };
    let revenue = trend(json!({"show": "sum:revenue", "event": "Order Completed", "from": from, "to": to})).await;
    let by_day = sql(
        dir.path(),
        &format!(
            "SELECT CAST(date_trunc('day', event_time) AS DATE) AS day, sum(json_get_float(properties, 'revenue')) AS total \
             FROM events WHERE event = 'Order Completed' AND NOT is_bot \
             AND event_time >= TIMESTAMP '{from}' AND event_time < TIMESTAMP '{to}' GROUP BY 1 ORDER BY 1"
        ),
    );
    let points = revenue.as_array().expect("points");
    assert_eq!(points.len(), 3, "{revenue}");
    for (point, row) in points.iter().zip(&by_day) {
        assert_eq!(point["time"], row["day"]);
        let (ours, theirs) = (point["value"].as_f64().expect("value"), row["total"].as_f64().expect("total"));
        assert!((ours - theirs).abs() < 1e-6 * theirs.max(1.0), "{ours} vs {theirs}");
    }
    let output = footfall()
        .args(["trends", "--show", "lifecycle", "--from", from, "--to", to, "--data"])
        .arg(dir.path())
        .output()
        .expect("trends");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let lifecycle = trend(json!({"show": "lifecycle", "from": from, "to": to})).await;
    assert_eq!(cli, lifecycle);
    let active = sql(
        dir.path(),
        &format!(
            "SELECT CAST(date_trunc('day', e.event_time) AS DATE) AS day, count(DISTINCT COALESCE(i.person_id, e.person_id)) AS n \
             FROM events e LEFT JOIN identities i ON i.id = e.person_id WHERE NOT e.is_bot \
             AND e.event_time >= TIMESTAMP '{from}' AND e.event_time < TIMESTAMP '{to}' GROUP BY 1 ORDER BY 1"
        ),
    );
    for (point, row) in lifecycle.as_array().expect("points").iter().zip(&active) {
        let sum = ["new", "returning", "resurrecting"].iter().map(|k| point[*k].as_u64().expect("count")).sum::<u64>();
        assert_eq!(Some(sum), row["n"].as_u64(), "{point}");
    }
    // Segments: every buyer in exactly one RFM segment; the CLI and the API agree.
    let as_of = "2026-11-20T00:00:00Z";
    let output =
        footfall().args(["segments", "--as-of", as_of, "--json", "--write", "--data"]).arg(dir.path()).output();
    let output = output.expect("segments");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let api: Value = client()
        .post(format!("{}/api/v1/segments", server.url))
        .json(&json!({"as_of": as_of, "persons": true}))
        .send()
        .await
        .expect("segments API")
        .json()
        .await
        .expect("JSON");
    assert_eq!(cli, api);
    let buyers = sql(
        dir.path(),
        "SELECT count(DISTINCT COALESCE(i.person_id, e.person_id)) AS n FROM events e \
         LEFT JOIN identities i ON i.id = e.person_id WHERE e.event = 'Order Completed' AND NOT e.is_bot",
    )[0]["n"]
        .as_u64()
        .expect("count");
    assert_eq!(api["buyers"].as_u64(), Some(buyers));
    let in_segments =
        api["segments"].as_array().expect("segments").iter().map(|s| s["persons"].as_u64().expect("n")).sum::<u64>();
    assert_eq!(in_segments, buyers);
    assert_eq!(api["persons"].as_array().map(Vec::len), Some(buyers as usize));
    // --write replaced the gold table: the same sizes read back with SQL.
    let stored =
        sql(dir.path(), "SELECT segment, count(*) AS n FROM segments WHERE segment IS NOT NULL GROUP BY segment");
    for profile in api["segments"].as_array().expect("segments").iter().filter(|s| s["persons"] != 0) {
        let row = stored.iter().find(|r| r["segment"] == profile["segment"]).expect("segment stored");
        assert_eq!(row["n"], profile["persons"]);
    }
    // Behavioural clusters: every person active in the 30 days before as_of in one cluster,
    // k from the silhouettes tried, the stored clusters of the same sizes.
    let clusters = &api["clusters"];
    let k = clusters["k"].as_u64().expect("k");
    assert!((2..=8).contains(&k), "{clusters}");
    let best = clusters["silhouettes"]
        .as_array()
        .expect("tried")
        .iter()
        .max_by(|a, b| a["silhouette"].as_f64().expect("s").total_cmp(&b["silhouette"].as_f64().expect("s")));
    assert_eq!(best.map(|b| b["k"].as_u64()), Some(Some(k)));
    let active = sql(
        dir.path(),
        "SELECT count(DISTINCT COALESCE(i.person_id, e.person_id)) AS n FROM events e \
         LEFT JOIN identities i ON i.id = e.person_id WHERE NOT e.is_bot \
         AND e.event_time >= TIMESTAMP '2026-10-21T00:00:00Z' AND e.event_time <= TIMESTAMP '2026-11-20T00:00:00Z'",
    )[0]["n"]
        .as_u64()
        .expect("count");
    assert_eq!(clusters["persons"].as_u64(), Some(active));
    let profiles = clusters["profiles"].as_array().expect("profiles");
    assert_eq!(profiles.len() as u64, k);
    assert_eq!(profiles.iter().map(|p| p["persons"].as_u64().expect("n")).sum::<u64>(), active);
    let stored =
        sql(dir.path(), "SELECT cluster, count(*) AS n FROM segments WHERE cluster IS NOT NULL GROUP BY cluster");
    for profile in profiles {
        let row = stored.iter().find(|r| r["cluster"] == profile["cluster"]).expect("cluster stored");
        assert_eq!(row["n"], profile["persons"]);
    }

    let bad = trend(json!({"show": "sum:revenue"})).await;
    assert!(bad["error"].as_str().is_some_and(|e| e.contains("needs an event")), "{bad}");

    let answer = client()
        .post(format!("{}/api/v1/paths", server.url))
        .json(&json!({"event": "Product Added", "direction": "sideways"}))
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), 400);
    assert_eq!(server.stop().code(), Some(0));
}

/// Persons (stitched) with an event in `[from, to)`.
fn active_between(data: &std::path::Path, from: &str, to: &str) -> std::collections::BTreeSet<String> {
    sql(
        data,
        &format!(
            "SELECT DISTINCT COALESCE(i.person_id, e.person_id) AS p FROM events e \
             LEFT JOIN identities i ON i.id = e.person_id WHERE NOT e.is_bot \
             AND e.event_time >= TIMESTAMP '{from}' AND e.event_time < TIMESTAMP '{to}'"
        ),
    )
    .iter()
    .map(|r| r["p"].as_str().expect("person").to_owned())
    .collect()
}

fn churn(data: &std::path::Path, args: &[&str]) -> Value {
    let output = footfall().arg("churn").args(args).args(["--json", "--data"]).arg(data).output().expect("churn");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_models_find_the_simulators_churners_reproducibly_and_score_every_active_person() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &[]);
    // 100 days; the simulator's churners stop at random times through all of them.
    let status = footfall()
        .args(["simulate", "--seed", "11", "--users", "500", "--days", "100", "--churn-within-days", "100"])
        .args(["--end", "2026-11-20T00:00:00Z", "--to", &server.url, "--write-key", KEY])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("simulate");
    assert!(status.success());
    assert_eq!(server.stop().code(), Some(0));
    let mut server = Server::start(dir.path(), &[]);

    let report = churn(dir.path(), &["train", "--seed", "7"]);
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    for model in report["models"].as_array().expect("models") {
        let auc = model["auc"].as_f64().expect("auc");
        assert!(auc >= 0.75, "{} AUC {auc}", model["model"]);
        let bins = model["calibration"].as_array().expect("bins");
        assert_eq!(
            bins.iter().map(|b| b["persons"].as_u64().expect("n")).sum::<u64>(),
            report["test_persons"].as_u64().expect("n")
        );
    }
    // The test set and its labels, recounted in SQL: persons active in the 30 days before the
    // test cutoff, churned if they made no event in the 30 days after it.
    let day = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros).expect("time").format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    };
    let cutoff = report["test_cutoff"].as_i64().expect("cutoff");
    let month = 30 * 86_400_000_000i64;
    let before = active_between(dir.path(), &day(cutoff - month), &day(cutoff));
    let after = active_between(dir.path(), &day(cutoff), &day(cutoff + month));
    assert_eq!(report["test_persons"].as_u64(), Some(before.len() as u64));
    assert_eq!(report["test_churners"].as_u64(), Some(before.difference(&after).count() as u64));
    assert!(report["test_churners"].as_u64().expect("n") > 10, "{report}");

    // Reproducible: the same data and seed give the same report; `report` shows the latest.
    assert_eq!(churn(dir.path(), &["train", "--seed", "7"]), report);
    assert_eq!(churn(dir.path(), &["report"]), report);

    // Scores: every person active in the last 30 days of data, ranked, stored.
    let scoring = churn(dir.path(), &["score"]);
    let scores = scoring["scores"].as_array().expect("scores");
    let end = scoring["cutoff"].as_i64().expect("cutoff");
    let active = active_between(dir.path(), &day(end - month), &day(end));
    assert_eq!(scores.len(), active.len());
    assert!(scores.windows(2).all(|w| w[0]["probability"].as_f64() >= w[1]["probability"].as_f64()));
    let stored = sql(dir.path(), "SELECT risk, count(*) AS n FROM churn_scores GROUP BY risk ORDER BY risk");
    assert_eq!(stored.iter().map(|r| r["n"].as_u64().expect("n")).sum::<u64>(), active.len() as u64);
    let api: Value = client()
        .post(format!("{}/api/v1/churn", server.url))
        .json(&json!({"top": 5}))
        .send()
        .await
        .expect("churn API")
        .json()
        .await
        .expect("JSON");
    assert_eq!(api["report"], report);
    assert_eq!(api["scored"]["persons"].as_u64(), Some(active.len() as u64));
    assert_eq!(api["scored"]["top"][0]["person_id"], scores[0]["person_id"]);
    assert_eq!(api["scored"]["top"].as_array().map(Vec::len), Some(5));
    let bad =
        client().post(format!("{}/api/v1/churn", server.url)).json(&json!({"top": 5000})).send().await.expect("send");
    assert_eq!(bad.status(), 400);
    assert_eq!(server.stop().code(), Some(0));
}
