//! The fakes as the coordinator's `Connect` port: each invocation reads the
//! fake warehouse and writes the fake KV, within limits the test narrows
//! (tiny pages and batches, a lease that lapses within a tick).

use std::cell::{RefCell, RefMut};
use std::rc::Rc;

use kv_sync_core::coordinator::ports::{Connect, Context};
use kv_sync_core::engine::error::{RunError, SinkError, WarehouseError};
use kv_sync_core::engine::kv_path::KvPath;
use kv_sync_core::engine::limits::RunLimits;
use kv_sync_core::engine::ports::{JobRef, KvOp, KvSink, ResultPage, Warehouse};
use kv_sync_core::engine::record::ContentHash;
use kv_sync_core::engine::source_query::SourceQuery;
use kv_sync_core::engine::time::Micros;

use super::kv::FakeKv;
use super::warehouse::FakeWarehouse;

/// Clones share the fakes.
#[derive(Clone)]
pub struct Fakes {
    pub warehouse: Rc<RefCell<FakeWarehouse>>,
    pub kv: Rc<RefCell<FakeKv>>,
    pub limits: Rc<RefCell<RunLimits>>,
}

impl Fakes {
    pub fn new(limits: RunLimits) -> Self {
        Fakes {
            warehouse: Rc::default(),
            kv: Rc::default(),
            limits: Rc::new(RefCell::new(limits)),
        }
    }
}

/// A fake borrowed for one invocation.
pub struct Borrowed<'a, T>(RefMut<'a, T>);

impl Warehouse for Borrowed<'_, FakeWarehouse> {
    async fn start_query(&mut self, query: &SourceQuery) -> Result<ResultPage, WarehouseError> {
        self.0.start_query(query).await
    }

    async fn read_page(
        &mut self,
        job: &JobRef,
        page_token: Option<&str>,
        max_rows: u32,
    ) -> Result<ResultPage, WarehouseError> {
        self.0.read_page(job, page_token, max_rows).await
    }

    async fn cancel(&mut self, job: &JobRef) -> Result<(), WarehouseError> {
        self.0.cancel(job).await
    }

    fn result_schema(&self) -> Option<(ContentHash, String)> {
        self.0.result_schema()
    }
}

impl KvSink for Borrowed<'_, FakeKv> {
    fn ops_per_request(&self) -> usize {
        self.0.ops_per_request()
    }

    fn offers_bulk(&self) -> bool {
        self.0.offers_bulk()
    }

    fn use_path(&mut self, path: KvPath) {
        self.0.use_path(path);
    }

    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        self.0.apply(ops).await
    }
}

impl<S, R, E> Connect<S, R, E> for Fakes {
    type Warehouse<'a>
        = Borrowed<'a, FakeWarehouse>
    where
        S: 'a,
        R: 'a,
        E: 'a;
    type Sink<'a>
        = Borrowed<'a, FakeKv>
    where
        S: 'a,
        R: 'a,
        E: 'a;

    fn open<'a>(
        &'a self,
        _cx: Context<'a, S, R, E>,
        _deadline: Micros,
    ) -> Result<(Self::Warehouse<'a>, Self::Sink<'a>), RunError> {
        Ok((
            Borrowed(self.warehouse.borrow_mut()),
            Borrowed(self.kv.borrow_mut()),
        ))
    }

    fn open_sink<'a>(
        &'a self,
        _cx: Context<'a, S, R, E>,
        _deadline: Micros,
    ) -> Result<Self::Sink<'a>, RunError> {
        Ok(Borrowed(self.kv.borrow_mut()))
    }

    fn close<'a>(&'a self, _cx: Context<'a, S, R, E>, _warehouse: &Self::Warehouse<'a>) {}

    fn limits(&self, _configured: RunLimits) -> RunLimits {
        self.limits.borrow().clone()
    }
}
