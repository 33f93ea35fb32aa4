use crate::{client, dump, Server, KEY};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Sends batches with unique ids from several clients until the server goes away; returns the
/// ids of every batch the server acknowledged and of every batch sent at all.
async fn send_until_down(url: String, round: usize, acked: Arc<Mutex<Vec<String>>>, sent: Arc<Mutex<Vec<String>>>) {
    let mut tasks = Vec::new();
    for client_no in 0..4 {
        let (url, acked, sent) = (url.clone(), Arc::clone(&acked), Arc::clone(&sent));
        tasks.push(tokio::spawn(async move {
            let http = client();
            for i in 0.. {
                let ids: Vec<String> = (0..25).map(|j| format!("r{round}-c{client_no}-b{i}-m{j}")).collect();
                let batch: Vec<Value> = ids.iter().map(|id| json!({"type":"track","event":"Product Viewed","userId":format!("u{client_no}"),"messageId":id,"properties":{"i":i}})).collect();
                sent.lock().expect("lock").extend(ids.iter().cloned());
                match http.post(format!("{url}/v1/batch")).basic_auth(KEY, Some("")).json(&json!({"batch": batch})).send().await {
                    Ok(r) if r.status().is_success() => acked.lock().expect("lock").extend(ids),
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => return, // the server was killed
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_clients_send_loses_no_acknowledged_event_and_duplicates_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &[]);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(Vec::new()));
    for (round, kill_after_ms) in [350u64, 700, 150, 900].into_iter().enumerate() {
        let senders = tokio::spawn(send_until_down(server.url.clone(), round, Arc::clone(&acked), Arc::clone(&sent)));
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        server.kill_hard();
        tokio::time::timeout(Duration::from_secs(60), senders).await.expect("clients stop").expect("clients");
        server.restart();
    }
    let stored = dump(&server.data, false);
    let mut count: HashMap<String, usize> = HashMap::new();
    for event in &stored {
        *count.entry(event["messageId"].as_str().expect("id").to_owned()).or_default() += 1;
    }
    let acked = acked.lock().expect("lock").clone();
    let sent: std::collections::HashSet<String> = sent.lock().expect("lock").iter().cloned().collect();
    assert!(acked.len() > 1000, "the clients got real work done: {} acknowledged", acked.len());
    for id in &acked {
        assert_eq!(count.get(id), Some(&1), "acknowledged {id} must be stored exactly once");
    }
    for (id, n) in &count {
        assert_eq!(*n, 1, "{id} stored {n} times");
        assert!(sent.contains(id), "{id} stored but never sent");
    }
    // The restarted server works normally.
    let ok = client()
        .post(format!("{}/v1/track", server.url))
        .basic_auth(KEY, Some(""))
        .json(&json!({"userId":"after","event":"e"}))
        .send()
        .await
        .expect("send");
    assert!(ok.status().is_success());
    assert_eq!(server.stop().code(), Some(0), "SIGTERM drains and exits cleanly");
}
