use footfall_lake::{sql, Lake, LakeError, Loader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_queries_run_and_bad_sql_gets_the_engines_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::local(dir.path()).expect("lake");
    Loader::open(&lake).await.expect("create the tables");
    for refused in [
        "DROP TABLE raw_events",
        "INSERT INTO raw_events (message_id) VALUES ('x')",
        "COPY raw_events TO '/tmp/out.parquet'",
        "CREATE TABLE t AS SELECT 1",
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        match sql::query(&lake, refused).await {
            Err(LakeError::Query(e)) => {
                let message = e.to_string();
                assert!(message.contains("not supported") || message.contains("Only"), "{refused}: {message}");
            }
            other => panic!("{refused} should be refused, got {other:?}"),
        }
    }
    match sql::query(&lake, "SELECT nope FROM raw_events").await {
        Err(LakeError::Query(e)) => assert!(e.to_string().contains("nope"), "{e}"),
        other => panic!("expected a query error, got {other:?}"),
    }
    let empty = sql::query(&lake, "SELECT count(*) FROM raw_events").await.expect("empty table counts");
    assert_eq!(empty[0].num_rows(), 1);
}
