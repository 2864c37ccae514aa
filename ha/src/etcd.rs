//! The etcd client: blocking calls over `etcd-client`'s async API, each
//! with a deadline, retried across the cluster's members until it passes.
//! Reads are linearizable (etcd's default) and sent only to a member that
//! has a leader, so a member cut off from its quorum never answers with a
//! stale view.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use rtt_apply::log::wal::Record;
use rtt_apply::replica::Memory;
use rtt_canonical::Sha256;
use rtt_trust::state::AppliedState;

use crate::keys::Keys;

/// How long one call may take, retries included.
const CALL_DEADLINE: Duration = Duration::from_secs(3);
/// etcd refuses transactions of more operations than this by default (128).
const TXN_OPS: usize = 100;

/// etcd failed us.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum EtcdError {
    /// No member answered in time.
    #[error("failed to reach etcd at {endpoints} ({what}): {reason}")]
    #[diagnostic(
        code(rtt::ha::etcd_unreachable),
        help("check that a quorum of the members listed in --etcd is up and reachable from this machine")
    )]
    Unreachable {
        /// The endpoints tried.
        endpoints: String,
        /// The call.
        what: String,
        /// The last error.
        reason: String,
    },
    /// etcd holds something rtt did not write.
    #[error("failed to read {key} from etcd: {reason}")]
    #[diagnostic(code(rtt::ha::etcd_corrupt), help("the key was edited by hand or by another tool"))]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// A connection to one cluster's keys.
#[derive(Clone)]
pub struct Etcd {
    runtime: Arc<tokio::runtime::Runtime>,
    client: Client,
    keys: Keys,
    endpoints: String,
}

/// The leader key as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderKey {
    /// The leader's id.
    pub id: String,
    /// The revision it was created at (its leadership).
    pub revision: i64,
    /// Its lease.
    pub lease: i64,
}

impl Etcd {
    /// Connects to `endpoints` (`host:port` or `http://host:port`) for
    /// cluster `cluster`.
    pub fn connect(endpoints: &[String], cluster: &str) -> Result<Etcd, EtcdError> {
        let shown = endpoints.join(",");
        let unreachable =
            |reason: String| EtcdError::Unreachable { endpoints: shown.clone(), what: "connect".into(), reason };
        if endpoints.is_empty() {
            return Err(unreachable("no endpoint was given".into()));
        }
        let keys = Keys::new(cluster).map_err(|reason| EtcdError::Corrupt { key: cluster.to_owned(), reason })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rtt-etcd")
            .enable_all()
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_millis(1500))
            .with_require_leader(true);
        let client =
            runtime.block_on(Client::connect(endpoints, Some(options))).map_err(|e| unreachable(e.to_string()))?;
        Ok(Etcd { runtime: Arc::new(runtime), client, keys, endpoints: shown })
    }

    /// The cluster's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Runs `call` until it succeeds or the deadline passes (members may be
    /// down or electing).
    fn call<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, EtcdError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = Instant::now() + CALL_DEADLINE;
        loop {
            let attempt = call(self.client.clone());
            let attempt = async { tokio::time::timeout(Duration::from_millis(1500), attempt).await };
            let error = match self.runtime.block_on(attempt) {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".to_owned(),
            };
            if Instant::now() >= deadline {
                return Err(EtcdError::Unreachable {
                    endpoints: self.endpoints.clone(),
                    what: what.to_owned(),
                    reason: error,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Tries once to become leader with a lease of `ttl`: `Some` with the
    /// leadership's revision and lease when it won.
    pub fn campaign(&self, id: &str, ttl: Duration) -> Result<Option<LeaderKey>, EtcdError> {
        let seconds = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let lease = self.call("grant a lease", |mut c| async move { c.lease_grant(seconds, None).await })?.id();
        let key = self.keys.leader();
        let txn = Txn::new()
            .when(vec![Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then(vec![TxnOp::put(key.clone(), id, Some(PutOptions::new().with_lease(lease)))]);
        let response = self.call("campaign", |mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        if response.succeeded() {
            let revision = response.header().map_or(0, |h| h.revision());
            return Ok(Some(LeaderKey { id: id.to_owned(), revision, lease }));
        }
        let _ = self.call("revoke a lease", |mut c| async move { c.lease_revoke(lease).await });
        Ok(None)
    }

    /// The leader key, if someone leads.
    pub fn leader(&self) -> Result<Option<LeaderKey>, EtcdError> {
        let key = self.keys.leader();
        let response = self.call("read the leader", |mut c| {
            let key = key.clone();
            async move { c.get(key, None).await }
        })?;
        Ok(response.kvs().first().map(|kv| LeaderKey {
            id: String::from_utf8_lossy(kv.value()).into_owned(),
            revision: kv.create_revision(),
            lease: kv.lease(),
        }))
    }

    /// Refreshes `lease`: the seconds it has left (0 or less: it is gone).
    pub fn keep_alive(&self, lease: i64) -> Result<i64, EtcdError> {
        self.call("keep the lease alive", |mut c| async move {
            let (mut keeper, mut stream) = c.lease_keep_alive(lease).await?;
            keeper.keep_alive().await?;
            Ok(stream.message().await?.map_or(0, |m| m.ttl()))
        })
    }

    /// Gives the leadership up (its key goes with its lease).
    pub fn resign(&self, lease: i64) -> Result<(), EtcdError> {
        self.call("revoke the lease", |mut c| async move { c.lease_revoke(lease).await }).map(|_| ())
    }

    /// Puts `ops` if the leader key is still the one created at
    /// `revision` and `compares` hold: false when they did not.
    pub fn guarded(&self, revision: i64, compares: Vec<Compare>, ops: Vec<TxnOp>) -> Result<bool, EtcdError> {
        let mut when = vec![Compare::create_revision(self.keys.leader(), CompareOp::Equal, revision)];
        when.extend(compares);
        let txn = Txn::new().when(when).and_then(ops);
        let response = self.call("write under leadership", |mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        Ok(response.succeeded())
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EtcdError> {
        let key = key.to_owned();
        let response = self.call("read", |mut c| {
            let key = key.clone();
            async move { c.get(key, None).await }
        })?;
        Ok(response.kvs().first().map(|kv| kv.value().to_vec()))
    }

    /// The whole shared memory, read at one revision.
    pub fn memory(&self) -> Result<Memory, EtcdError> {
        let keys = &self.keys;
        let prefix = || Some(GetOptions::new().with_prefix());
        let txn = Txn::new().and_then(vec![
            TxnOp::get(keys.wal_prefix(), prefix()),
            TxnOp::get(keys.applied(), None),
            TxnOp::get(keys.plans_prefix(), prefix()),
            TxnOp::get(keys.breakers(), None),
        ]);
        let response = self.call("read the shared memory", |mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        let mut gets = response.op_responses().into_iter().map(|op| match op {
            TxnOpResponse::Get(get) => get.kvs().iter().map(|kv| (kv.key().to_vec(), kv.value().to_vec())).collect(),
            _ => Vec::new(),
        });
        let mut next = || gets.next().unwrap_or_default();
        let (wal, applied, plans, breakers): (Vec<_>, Vec<_>, Vec<_>, Vec<_>) = (next(), next(), next(), next());
        let corrupt =
            |key: &[u8], reason: String| EtcdError::Corrupt { key: String::from_utf8_lossy(key).into(), reason };
        let mut memory = Memory::default();
        // Keys are zero-padded, and etcd returns a range in key order.
        for (key, value) in &wal {
            memory.wal.push(serde_json::from_slice::<Record>(value).map_err(|e| corrupt(key, e.to_string()))?);
        }
        if let Some((key, value)) = applied.first() {
            memory.applied = Some(AppliedState::parse(value).map_err(|e| corrupt(key, e))?);
        }
        for (key, value) in &plans {
            let parsed = rtt_trust::parse_plan(value).map_err(|e| corrupt(key, e.to_string()))?;
            memory.plans.push((parsed.hash, value.clone()));
        }
        if let Some((key, value)) = breakers.first() {
            memory.breakers = Some(serde_json::from_slice(value).map_err(|e| corrupt(key, e.to_string()))?);
        }
        Ok(memory)
    }

    /// Writes `memory` into an empty cluster under the leadership at
    /// `revision` (the first leader brings its single-machine history).
    /// False when the leadership was lost or the cluster is not empty.
    pub fn seed(&self, revision: i64, memory: &Memory) -> Result<bool, EtcdError> {
        let keys = &self.keys;
        let encode = |e: serde_json::Error| EtcdError::Corrupt { key: keys.prefix().into(), reason: e.to_string() };
        let mut ops = Vec::new();
        for (hash, bytes) in &memory.plans {
            ops.push(TxnOp::put(keys.plan(hash), bytes.clone(), None));
        }
        for record in &memory.wal {
            ops.push(TxnOp::put(keys.wal(record.seq), serde_json::to_vec(record).map_err(encode)?, None));
        }
        if let Some(breakers) = &memory.breakers {
            ops.push(TxnOp::put(keys.breakers(), serde_json::to_vec(breakers).map_err(encode)?, None));
        }
        // The pointer last: a cluster with a pointer is not empty.
        if let Some(applied) = &memory.applied {
            let bytes =
                applied.to_bytes().map_err(|e| EtcdError::Corrupt { key: keys.applied(), reason: e.to_string() })?;
            ops.push(TxnOp::put(keys.applied(), bytes, None));
        }
        // The first chunk finds the cluster empty; the last writes the
        // pointer, so it finds none (a cluster with a pointer is seeded).
        let chunks: Vec<&[TxnOp]> = ops.chunks(TXN_OPS).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut compares = Vec::new();
            if i == 0 {
                compares.push(Compare::create_revision(keys.wal(1), CompareOp::Equal, 0));
            }
            if i == 0 || i + 1 == chunks.len() {
                compares.push(Compare::create_revision(keys.applied(), CompareOp::Equal, 0));
            }
            if !self.guarded(revision, compares, chunk.to_vec())? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A plan kept under leadership.
    pub fn put_plan(&self, revision: i64, hash: &Sha256, bytes: &[u8]) -> Result<bool, EtcdError> {
        self.guarded(revision, Vec::new(), vec![TxnOp::put(self.keys.plan(hash), bytes.to_vec(), None)])
    }
}
