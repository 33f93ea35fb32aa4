//! Erasure through the API while `serve` runs under load: the user's rows leave every table,
//! their state leaves the processor, nobody else's rows go, and after vacuum no file of the
//! lake or the checkpoints holds their ids.

use crate::{client, footfall, Server, KEY};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn count(data: &Path, query: &str) -> u64 {
    crate::lake::sql(data, query).first().and_then(|row| row["n"].as_u64()).unwrap_or(0)
}

/// Every file under `dir`, but not under `except`.
fn files(dir: &Path, except: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.starts_with(except) {
            continue;
        }
        if path.is_dir() {
            out.extend(files(&path, except));
        } else {
            out.push(path);
        }
    }
    out
}

/// Files under the data directory (not the event log, which keeps records for its retention)
/// whose bytes contain `needle`.
pub(crate) fn files_naming(data: &Path, needle: &str) -> Vec<PathBuf> {
    files(data, &data.join("log"))
        .into_iter()
        .filter(|f| std::fs::read(f).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes())))
        .collect()
}

/// Sends, to the collector at `url`, two users' events: `keeper` on `keeper_device` (2 events),
/// then `victim`, who browsed anonymously on `device`, logged in and bought, and asked to be
/// aliased to `keeper` (4 events, the last a refused merge, dead-lettered with both ids).
pub(crate) async fn send_two_users(url: &str, victim: &str, device: &str, keeper: &str, keeper_device: &str) {
    let at = |second: u32| format!("2026-11-19T12:00:{second:02}.000Z");
    let batch = json!({"batch": [
        {"type": "identify", "userId": keeper, "anonymousId": keeper_device, "timestamp": at(0)},
        {"type": "track", "event": "Signed Up", "userId": keeper, "anonymousId": keeper_device, "timestamp": at(1)},
        {"type": "page", "name": "Home", "anonymousId": device, "timestamp": at(2)},
        {"type": "identify", "userId": victim, "anonymousId": device, "timestamp": at(3)},
        {"type": "track", "event": "Order Completed", "userId": victim, "anonymousId": device,
         "properties": {"revenue": 12.5}, "timestamp": at(4)},
        // Two identified users: refused, and dead-lettered with both ids in it.
        {"type": "alias", "userId": victim, "previousId": keeper, "timestamp": at(5)},
    ]});
    let sent =
        client().post(format!("{url}/v1/batch")).basic_auth(KEY, Some("")).json(&batch).send().await.expect("send");
    assert_eq!(sent.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_while_serve_runs_under_load_leaves_no_trace_of_the_user_but_keeps_everyone_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let mut server = Server::start(&data, &[]);
    let (victim, device, keeper, keeper_device) = ("victim-7f3a9c", "device-41d2e8", "keeper-5e1d07", "device-9c0b3a");
    send_two_users(&server.url, victim, device, keeper, keeper_device).await;
    // Load beside the erasure: a simulated shop sending all along.
    let url = server.url.clone();
    let load = std::thread::spawn(move || {
        footfall()
            .args(["simulate", "--seed", "4", "--users", "80", "--days", "2", "--end", "2026-11-20T00:00:00Z"])
            .args(["--to", &url, "--write-key", KEY])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("simulate")
    });
    let mine = format!("SELECT count(*) AS n FROM events WHERE user_id = '{victim}' OR anonymous_id = '{device}'");
    let letters = format!("SELECT count(*) AS n FROM dead_letters WHERE strpos(payload, '{victim}') > 0");
    for _ in 0..150 {
        if count(&data, &mine) == 4 && count(&data, &letters) == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(count(&data, &mine), 4, "the victim's events are processed");
    assert_eq!(count(&data, &letters), 1, "the refused alias is a dead letter");
    assert!(!files_naming(&data, victim).is_empty(), "the lake's files show the id (the search can find it)");

    let forget = |user: &'static str| {
        client().post(format!("{}/api/v1/forget", server.url)).json(&json!({"user_id": user})).send()
    };
    let answer = forget(victim).await.expect("forget");
    assert_eq!(answer.status(), 200);
    let report: Value = answer.json().await.expect("report");
    assert_eq!(report["ids"], json!([victim, device]), "{report}");
    assert_eq!(report["deleted"]["raw_events"], 4, "{report}");
    assert_eq!(report["deleted"]["events"], 4, "{report}");
    assert_eq!(report["deleted"]["dead_letters"], 1, "{report}");
    assert!(report["processor_entries"].as_u64().is_some_and(|n| n >= 2), "{report}");
    assert!(load.join().expect("load").success());

    // A second run finds nothing left; bad requests are refused.
    let again: Value = forget(victim).await.expect("forget").json().await.expect("report");
    assert!(again["deleted"].as_object().expect("deleted").values().all(|n| n == 0), "{again}");
    let empty = forget("").await.expect("forget");
    assert_eq!(empty.status(), 400);
    // Everyone else's rows stay.
    assert_eq!(count(&data, &format!("SELECT count(*) AS n FROM raw_events WHERE user_id = '{keeper}'")), 2);
    assert!(count(&data, "SELECT count(*) AS n FROM raw_events") > 1000);
    assert_eq!(count(&data, "SELECT count(DISTINCT request_id) AS n FROM forget_requests"), 2);
    assert_eq!(server.stop().code(), Some(0));

    let vacuum = footfall().args(["lake", "vacuum", "--retain-hours", "0", "--data"]).arg(&data).output().expect("run");
    assert!(vacuum.status.success(), "{}", String::from_utf8_lossy(&vacuum.stderr));
    assert_eq!(files_naming(&data, victim), Vec::<PathBuf>::new());
    assert_eq!(files_naming(&data, device), Vec::<PathBuf>::new());
    assert!(!files_naming(&data, keeper).is_empty(), "another user's rows are still found");
    assert!(
        files_naming(&data, keeper).iter().any(|f| f.starts_with(data.join("processor"))),
        "the checkpoints were searched: they name the other user"
    );
}
