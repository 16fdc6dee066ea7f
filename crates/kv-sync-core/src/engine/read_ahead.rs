//! A result page read before it was needed, while KV was busy.
//!
//! An import spends its invocations waiting on KV writes; waiting on
//! BigQuery for the next page after that is pure delay. So while the last
//! batch of a page is written, the engine reads the page after it in the
//! same breath. If the invocation goes on, the page is used at once; if its
//! write budget is spent, the page is handed to the next invocation (the
//! coordinator keeps it in memory). A page is immutable for a given job and
//! page token, so a page kept this way is never stale; one that does not
//! match where the run stands is simply dropped and read again.

use super::ports::{JobRef, ResultPage};
use super::progress::JobProgress;

#[derive(Clone, Debug, PartialEq)]
pub struct ReadAhead {
    job_id: String,
    page_token: String,
    page: ResultPage,
}

/// What to read ahead: the page after the current one, and how many rows.
#[derive(Clone, Debug, PartialEq)]
pub struct NextPage {
    pub job: JobRef,
    pub page_token: String,
    pub max_rows: u32,
}

impl ReadAhead {
    pub fn new(next: NextPage, page: ResultPage) -> Self {
        ReadAhead {
            job_id: next.job.job_id,
            page_token: next.page_token,
            page,
        }
    }

    /// Empties `slot`, and returns its page if it is the one `job` reads
    /// next.
    pub fn take_if_next(slot: &mut Option<ReadAhead>, job: &JobProgress) -> Option<ResultPage> {
        let ahead = slot.take()?;
        let matches = ahead.job_id == job.job.job_id
            && job.page_token.as_deref() == Some(ahead.page_token.as_str());
        matches.then_some(ahead.page)
    }
}
