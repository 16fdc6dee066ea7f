//! The client's retry mechanics on the host, with a paused clock that only
//! sleeping moves and scripted answers: what it sends, how long it waits,
//! when it stops.

use super::*;
use crate::bigquery::test_keys::{random_bytes, service_account_json};
use crate::engine::source_query::{wrap, ReadOrder};
use crate::runtime::scripted::ScriptedRuntime;

const S: Micros = MICROS_PER_SECOND;
const PAGE: &str = r#"{"jobReference":{"projectId":"demo","jobId":"j1","location":"US"},"jobComplete":true,
    "schema":{"fields":[{"name":"key","type":"STRING"},{"name":"updated_at","type":"TIMESTAMP"}]},
    "rows":[{"f":[{"v":"a"},{"v":"1"}]}],"totalRows":"1"}"#;

fn config() -> BigQueryConfig {
    BigQueryConfig {
        api_base: "http://bq.test".into(),
        ..BigQueryConfig::default()
    }
}

fn auth(token: Option<&str>) -> ServiceAccountAuth {
    let key = service_account_json(
        &random_bytes(32),
        "sync@demo.iam.gserviceaccount.com",
        "http://token.test/token",
    );
    ServiceAccountAuth {
        key: ServiceAccountKey::parse(&key).unwrap(),
        token: token.map(|t| AccessToken {
            token: t.into(),
            expires_at: 3_600 * S,
        }),
    }
}

fn query() -> SourceQuery {
    wrap("SELECT 1", 0, ReadOrder::ByUpdate(None), 100)
}

#[test]
fn a_transient_error_is_retried_after_a_jittered_wait() {
    let runtime = ScriptedRuntime::default();
    runtime.answer(
        503,
        r#"{"error":{"message":"Backend error","errors":[{"reason":"backendError"}]}}"#,
    );
    runtime.answer(200, PAGE);
    let mut client = BigQueryClient::new(&runtime, &config(), "demo", None, 60 * S);
    let page = futures::executor::block_on(client.start_query(&query())).unwrap();
    assert_eq!(page.rows.len(), 1);
    assert_eq!(
        *runtime.slept.borrow(),
        vec![S],
        "1 s at the middle of its jitter"
    );
    let sent = runtime.sent.borrow();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].at, S, "the second call waited");
    assert_eq!(
        sent[0].url,
        "http://bq.test/bigquery/v2/projects/demo/queries"
    );
    assert!(
        sent[0].headers.iter().all(|(n, _)| n != "Authorization"),
        "no credentials: no header"
    );
    assert_eq!(runtime.logs.borrow()[0]["event"], "bigquery_retry");
}

#[test]
fn waits_stop_at_the_deadline_and_the_last_error_is_returned() {
    let runtime = ScriptedRuntime::default();
    for _ in 0..10 {
        runtime.drop_connection();
    }
    let mut client = BigQueryClient::new(&runtime, &config(), "demo", None, 10 * S);
    let e = futures::executor::block_on(client.start_query(&query())).unwrap_err();
    assert!(matches!(e, WarehouseError::Unreachable(_)), "{e:?}");
    assert_eq!(
        *runtime.slept.borrow(),
        vec![S, 2 * S, 4 * S],
        "8 s more would pass the deadline"
    );
    assert_eq!(runtime.sent.borrow().len(), 4);
}

#[test]
fn a_rejected_token_is_replaced_once_then_the_error_stands() {
    let runtime = ScriptedRuntime::default();
    let denied = r#"{"error":{"message":"Request had invalid authentication credentials","errors":[{"reason":"authError"}]}}"#;
    runtime.answer(401, denied);
    runtime.answer(200, r#"{"access_token":"ya29.fresh","expires_in":3599}"#);
    runtime.answer(200, PAGE);
    let mut client = BigQueryClient::new(
        &runtime,
        &config(),
        "demo",
        Some(auth(Some("ya29.stale"))),
        60 * S,
    );
    futures::executor::block_on(client.start_query(&query())).unwrap();
    {
        let sent = runtime.sent.borrow();
        let bearer = |i: usize| {
            sent[i]
                .headers
                .iter()
                .find(|(n, _)| n == "Authorization")
                .map(|(_, v)| v.clone())
        };
        assert_eq!(bearer(0).as_deref(), Some("Bearer ya29.stale"));
        assert_eq!(sent[1].url, "http://token.test/token");
        assert_eq!(bearer(2).as_deref(), Some("Bearer ya29.fresh"));
    }
    assert_eq!(
        client.token().map(|(_, t)| t.token.as_str()),
        Some("ya29.fresh")
    );
    runtime.answer(401, denied);
    runtime.answer(200, r#"{"access_token":"ya29.again","expires_in":3599}"#);
    runtime.answer(401, denied);
    let e = futures::executor::block_on(client.start_query(&query())).unwrap_err();
    assert!(matches!(e, WarehouseError::Auth(_)), "{e:?}");
    assert!(
        runtime.slept.borrow().is_empty(),
        "auth errors are never waited out"
    );
}

#[test]
fn retry_after_is_waited_when_bigquery_sends_it() {
    let runtime = ScriptedRuntime::default();
    runtime.answer_with(
        429,
        Some("7"),
        r#"{"error":{"message":"Too many","errors":[{"reason":"rateLimitExceeded"}]}}"#,
    );
    runtime.answer(200, PAGE);
    let mut client = BigQueryClient::new(&runtime, &config(), "demo", None, 60 * S);
    futures::executor::block_on(client.start_query(&query())).unwrap();
    assert_eq!(*runtime.slept.borrow(), vec![7 * S]);
}

#[test]
fn a_stuck_job_is_cancelled_where_it_runs() {
    let runtime = ScriptedRuntime::default();
    runtime.answer(200, r#"{"kind":"bigquery#jobCancelResponse"}"#);
    runtime.answer(404, r#"{"error":{"code":404,"message":"Not found: job"}}"#);
    let mut client = BigQueryClient::new(&runtime, &config(), "demo", None, 60 * S);
    let job = JobRef {
        project_id: "demo".into(),
        job_id: "j 1".into(),
        location: Some("EU".into()),
    };
    assert_eq!(futures::executor::block_on(client.cancel(&job)), Ok(()));
    let sent = runtime.sent.borrow();
    assert_eq!(sent[0].method, Method::Post);
    assert_eq!(
        sent[0].url,
        "http://bq.test/bigquery/v2/projects/demo/jobs/j%201/cancel?location=EU"
    );
    drop(sent);
    assert!(futures::executor::block_on(client.cancel(&job)).is_err());
}

#[test]
fn a_job_that_finished_late_has_its_bill_from_jobs_get() {
    // getQueryResults reports bytes processed, never bytes billed.
    let late = PAGE.replace(r#""totalRows":"1""#, r#""totalRows":"1","totalBytesProcessed":"99""#);
    let runtime = ScriptedRuntime::default();
    runtime.answer(200, &late);
    runtime.answer(
        200,
        r#"{"statistics":{"query":{"totalBytesBilled":"10485760","totalBytesProcessed":"99","cacheHit":false}}}"#,
    );
    runtime.answer(200, &late);
    runtime.answer(404, r#"{"error":{"code":404,"message":"Not found: job"}}"#);
    let mut client = BigQueryClient::new(&runtime, &config(), "demo", None, 60 * S);
    let job = JobRef {
        project_id: "demo".into(),
        job_id: "j1".into(),
        location: Some("US".into()),
    };
    let page = futures::executor::block_on(client.read_page(&job, None, 100)).unwrap();
    assert_eq!(
        page.cost,
        JobCost {
            bytes_billed: Some(10_485_760),
            bytes_processed: Some(99),
            cache_hit: Some(false),
        }
    );
    assert_eq!(
        runtime.sent.borrow()[1].url,
        "http://bq.test/bigquery/v2/projects/demo/jobs/j1?location=US"
    );
    // A jobs.get that fails leaves the bill unknown, never the page unread.
    let page = futures::executor::block_on(client.read_page(&job, None, 100)).unwrap();
    assert_eq!(page.cost.bytes_billed, None);
    assert_eq!(page.rows.len(), 1);
    assert_eq!(
        runtime.logs.borrow().last().unwrap()["event"],
        "bigquery_job_cost_unknown"
    );
    // Later pages repeat the job's figures: no jobs.get for them.
    runtime.answer(200, &late);
    futures::executor::block_on(client.read_page(&job, Some("p2"), 100)).unwrap();
    assert_eq!(runtime.sent.borrow().len(), 5);
}
