//! A write transaction that carries work to start once it commits (e.g. a describer job that
//! must see the committed version). Services return one; the caller adds its own writes (the
//! idempotency record) and commits.

use std::ops::{Deref, DerefMut};

use sqlx::AnyConnection;

use crate::store::{StoreResult, Tx};

type AfterCommit = Box<dyn FnOnce() + Send>;

pub struct Txn {
    tx: Tx,
    after: Vec<AfterCommit>,
}

impl Txn {
    pub fn new(tx: Tx) -> Self {
        Self {
            tx,
            after: Vec::new(),
        }
    }

    /// Runs `f` after a successful commit; dropped if the transaction rolls back.
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.after.push(Box::new(f));
    }

    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        for f in self.after {
            f();
        }
        Ok(())
    }
}

impl Deref for Txn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for Txn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}
