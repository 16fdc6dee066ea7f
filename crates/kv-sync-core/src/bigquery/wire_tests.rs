use super::*;
use crate::engine::source_query::{wrap, ReadOrder};

#[test]
fn the_request_uses_named_parameters_standard_sql_and_int64_timestamps() {
    let body = query_request(&wrap("SELECT 1", 0, ReadOrder::ByUpdate(None), 500), "EU");
    assert_eq!(body["useLegacySql"], false);
    assert_eq!(body["parameterMode"], "NAMED");
    assert_eq!(body["location"], "EU");
    assert_eq!(body["maxResults"], 500);
    assert_eq!(body["formatOptions"]["useInt64Timestamp"], true);
    assert_eq!(body["queryParameters"][0]["name"], "since");
    assert_eq!(
        body["queryParameters"][0]["parameterType"]["type"],
        "TIMESTAMP"
    );
    assert!(body.get("requestId").is_none());
    let mut retried = wrap("SELECT 1", 0, ReadOrder::ByUpdate(None), 500);
    retried.request_id = Some("kv-sync-0123456789abcdef".into());
    assert_eq!(
        query_request(&retried, "EU")["requestId"],
        "kv-sync-0123456789abcdef"
    );
}

#[test]
fn a_page_is_parsed_with_its_token_and_total() {
    let body = r#"{"jobReference":{"projectId":"p","jobId":"j","location":"US"},"jobComplete":true,
        "schema":{"fields":[{"name":"key","type":"STRING"}]},"rows":[{"f":[{"v":"a"}]}],
        "totalRows":"3","pageToken":"tok"}"#;
    let page = parse_response(Call::Query, 200, body).unwrap();
    assert!(page.complete);
    assert_eq!(page.total_rows, Some(3));
    assert_eq!(page.next_page_token.as_deref(), Some("tok"));
    assert_eq!(page.job.job_id, "j");
    let q = results_query_string(&page.job, Some("a b/c"), 10);
    assert!(
        q.contains("pageToken=a%20b%2Fc") && q.contains("location=US"),
        "{q}"
    );
}

#[test]
fn short_query_mode_is_asked_for_and_a_jobless_answer_is_a_whole_result() {
    let asked = query_request(&wrap("SELECT 1", 0, ReadOrder::ByUpdate(None), 500), "US");
    assert_eq!(asked["jobCreationMode"], "JOB_CREATION_OPTIONAL");
    assert_eq!(asked.get("useQueryCache"), None, "the cache stays on");
    let jobless = r#"{"queryId":"q1","jobComplete":true,"totalRows":"1",
        "schema":{"fields":[{"name":"key","type":"STRING"}]},"rows":[{"f":[{"v":"a"}]}]}"#;
    let page = parse_response(Call::Query, 200, jobless).unwrap();
    assert!(page.complete && page.next_page_token.is_none());
    assert_eq!(page.job.job_id, "query:q1");
    assert_eq!(
        page.cost,
        JobCost::default(),
        "the emulator reports no cost"
    );
    let billed = r#"{"jobReference":{"projectId":"p","jobId":"j"},"jobComplete":true,
        "totalBytesBilled":"10485760","totalBytesProcessed":"1234","cacheHit":false}"#;
    let cost = parse_response(Call::Query, 200, billed).unwrap().cost;
    assert_eq!(
        cost,
        JobCost {
            bytes_billed: Some(10_485_760),
            bytes_processed: Some(1_234),
            cache_hit: Some(false)
        }
    );
    assert_eq!(page.rows.len(), 1);
    // Without a job there is nothing to page or wait on: that is malformed.
    let unfinished = r#"{"queryId":"q1","jobComplete":false}"#;
    assert!(matches!(
        parse_response(Call::Query, 200, unfinished),
        Err(WarehouseError::Malformed(_))
    ));
}

#[test]
fn an_unfinished_job_is_not_an_empty_result() {
    let page = parse_response(
        Call::Query,
        200,
        r#"{"jobReference":{"projectId":"p","jobId":"j"},"jobComplete":false}"#,
    )
    .unwrap();
    assert!(!page.complete);
}

#[test]
fn every_error_class_is_recognised() {
    let http = |status: u16, reason: &str| {
        let body = format!(
            r#"{{"error":{{"code":{status},"message":"msg","errors":[{{"reason":"{reason}","message":"msg"}}]}}}}"#
        );
        parse_response(Call::Query, status, &body).unwrap_err()
    };
    assert_eq!(
        http(400, "invalidQuery"),
        WarehouseError::InvalidQuery("msg".into())
    );
    assert_eq!(http(401, "authError"), WarehouseError::Auth("msg".into()));
    assert_eq!(
        http(403, "accessDenied"),
        WarehouseError::Auth("msg".into())
    );
    assert_eq!(
        http(403, "rateLimitExceeded"),
        WarehouseError::RateLimited("msg".into())
    );
    assert_eq!(http(429, ""), WarehouseError::RateLimited("msg".into()));
    assert_eq!(
        http(500, "backendError"),
        WarehouseError::Backend("msg".into())
    );
    assert_eq!(http(503, ""), WarehouseError::Backend("msg".into()));
    assert_eq!(
        http(404, "notFound"),
        WarehouseError::InvalidQuery("msg".into())
    );
    // A valid query BigQuery could not afford to run is not an invalid one.
    assert!(matches!(
        http(400, "resourcesExceeded"),
        WarehouseError::ResourcesExceeded(m) if m.starts_with("msg") && m.contains("key range")
    ));
    assert!(matches!(
        parse_response(Call::Results, 404, "{}"),
        Err(WarehouseError::ResultsExpired(_))
    ));
    assert!(matches!(
        parse_response(Call::Query, 502, "<html>bad gateway</html>"),
        Err(WarehouseError::Backend(_))
    ));
    assert!(matches!(
        parse_response(Call::Query, 200, "not json"),
        Err(WarehouseError::Malformed(_))
    ));
    // The emulator's way: HTTP 200 with an errors array.
    let emulated = r#"{"jobReference":{"projectId":"p","jobId":"j"},"jobComplete":true,
        "errors":[{"reason":"invalidQuery","message":"Syntax error at [1:1]"}]}"#;
    assert_eq!(
        parse_response(Call::Query, 200, emulated),
        Err(WarehouseError::InvalidQuery("Syntax error at [1:1]".into()))
    );
}

#[test]
fn rows_before_the_schema_are_decoded_once_the_schema_is_known() {
    let body = r#"{"rows":[{"f":[{"v":"a"},{"v":"1"}]}],"jobComplete":true,
        "schema":{"fields":[{"name":"key","type":"STRING"},{"name":"updated_at","type":"TIMESTAMP"}]},
        "jobReference":{"projectId":"p","jobId":"j"}}"#;
    let page = parse_response(Call::Results, 200, body).unwrap();
    let record = page.rows[0].as_ref().unwrap();
    assert_eq!(
        (record.key.as_deref(), record.updated_at),
        (Some("a"), Some(1))
    );
    let no_schema = r#"{"rows":[{"f":[{"v":"a"}]}],"jobComplete":true,"jobReference":{"projectId":"p","jobId":"j"}}"#;
    let e = parse_response(Call::Results, 200, no_schema).unwrap_err();
    assert!(
        matches!(&e, WarehouseError::Malformed(m) if m.contains("no schema")),
        "{e:?}"
    );
}

#[test]
fn a_deleted_column_that_is_not_bool_fails_the_read_naming_its_type() {
    let page = |deleted: &str| {
        let body = format!(
            r#"{{"jobReference":{{"projectId":"p","jobId":"j"}},"jobComplete":true,
            "schema":{{"fields":[{{"name":"key","type":"STRING"}},{deleted}]}},"rows":[]}}"#
        );
        parse_response(Call::Query, 200, &body)
    };
    let Err(WarehouseError::InvalidQuery(message)) = page(r#"{"name":"deleted","type":"STRING"}"#)
    else {
        panic!("a STRING `deleted` is an invalid query");
    };
    assert!(
        message.contains("`deleted` must be BOOL") && message.contains("gives it STRING"),
        "{message}"
    );
    assert!(page(r#"{"name":"deleted","type":"INTEGER","mode":"REPEATED"}"#).is_err());
    assert!(page(r#"{"name":"deleted","type":"BOOLEAN"}"#).is_ok());
    assert!(page(r#"{"name":"deleted","type":"BOOL"}"#).is_ok());
}
