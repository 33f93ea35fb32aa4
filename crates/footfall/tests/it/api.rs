//! The query API as a whole: every route of the OpenAPI document exists on a real server, every
//! query route refuses a missing or wrong token with 401 when a token is set, and bad
//! parameters with 400 and a message.

use crate::{client, Server};
use serde_json::{json, Value};

/// Each query route with a request that is wrong in its parameters: (method, path, body).
fn bad_requests() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("POST", "/api/v1/sql", Some(json!({"query": "DROP TABLE events"}))),
        ("GET", "/api/v1/metrics?step=fortnightly", None),
        ("POST", "/api/v1/funnel", Some(json!({"steps": ["only one"]}))),
        ("POST", "/api/v1/retention", Some(json!({"start": "A", "return": "B", "period": "decade"}))),
        ("POST", "/api/v1/paths", Some(json!({"event": "A", "direction": "sideways"}))),
        ("POST", "/api/v1/trends", Some(json!({"show": "sum:revenue"}))),
        ("POST", "/api/v1/segments", Some(json!({"k": 1}))),
        ("POST", "/api/v1/churn", Some(json!({"top": 5000}))),
        ("POST", "/api/v1/forget", Some(json!({"user_id": ""}))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_route_needs_the_token_and_refuses_bad_parameters_as_the_openapi_document_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("footfall.toml");
    std::fs::write(&config, "[api]\ntoken = \"s3cret\"\n").expect("config");
    let config_arg = format!("--config={}", config.display());
    let mut server = Server::start(&dir.path().join("data"), &[&config_arg]);
    let document = crate::get_json(&format!("{}/api/v1/openapi.json", server.url)).await;
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");

    // Every documented route exists (no 404/405) for its documented method.
    for (path, methods) in paths {
        for method in methods.as_object().expect("methods").keys() {
            if path == "/api/v1/live" {
                continue; // a stream: checked for 401 below
            }
            let url = format!("{}{path}", server.url);
            let request = match method.as_str() {
                "get" => client().get(&url),
                "post" => client().post(&url).json(&json!({})),
                other => panic!("{path}: unexpected method {other}"),
            };
            let status = request.bearer_auth("s3cret").send().await.expect("send").status();
            assert!(status != 404 && status != 405, "{method} {path}: {status}");
        }
    }
    // Every query route is documented, and refuses a missing or wrong token, then bad parameters.
    let mut routes = bad_requests();
    routes.push(("GET", "/api/v1/live", None));
    for (method, path, body) in routes {
        let documented = path.split('?').next().expect("path");
        assert!(paths.contains_key(documented), "{documented} is not in the OpenAPI document");
        let url = format!("{}{path}", server.url);
        let send = |token: Option<&'static str>| {
            let mut request = if method == "GET" { client().get(&url) } else { client().post(&url) };
            if let Some(body) = &body {
                request = request.json(body);
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        for token in [None, Some("wrong")] {
            let answer = send(token).await.expect("send");
            assert_eq!(answer.status(), 401, "{method} {path} with {token:?}");
            assert!(answer.headers().contains_key("www-authenticate"), "{method} {path}");
        }
        if path == "/api/v1/live" {
            continue;
        }
        let answer = send(Some("s3cret")).await.expect("send");
        assert_eq!(answer.status(), 400, "{method} {path}");
        let message: Value = answer.json().await.expect("JSON error");
        assert!(message["error"].as_str().is_some_and(|e| !e.is_empty()), "{method} {path}: {message}");
    }
    assert_eq!(server.stop().code(), Some(0));
}
