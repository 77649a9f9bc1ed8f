//! A write transaction that carries work to start once it commits (e.g. a describer job that
//! must see the committed version). Services return one; the caller adds its own writes (the
//! idempotency record) and commits.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};

use crate::store::{StoreResult, Tx};

type AfterCommit = Box<dyn FnOnce() + Send>;

enum Conn {
    Tx(Tx),
    /// Each statement commits on its own.
    Auto(PoolConnection<Any>),
}

pub struct Txn {
    conn: Conn,
    after: Vec<AfterCommit>,
}

impl Txn {
    pub fn new(tx: Tx) -> Self {
        Self {
            conn: Conn::Tx(tx),
            after: Vec::new(),
        }
    }

    /// Statements that commit one by one, for a service whose one write needs no transaction
    /// and whose caller adds none (no idempotency record): it saves the BEGIN and COMMIT round
    /// trips on a latency-critical path.
    pub fn autocommit(conn: PoolConnection<Any>) -> Self {
        Self {
            conn: Conn::Auto(conn),
            after: Vec::new(),
        }
    }

    /// The connection of an autocommit `Txn`, held until it is dropped or committed.
    pub(crate) fn autocommit_connection(&self) -> Option<&PoolConnection<Any>> {
        match &self.conn {
            Conn::Auto(conn) => Some(conn),
            Conn::Tx(_) => None,
        }
    }

    /// Whether later writes commit or roll back together with the earlier ones.
    pub fn is_atomic(&self) -> bool {
        matches!(self.conn, Conn::Tx(_))
    }

    /// Runs `f` after a successful commit; dropped if the transaction rolls back.
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.after.push(Box::new(f));
    }

    pub async fn commit(self) -> StoreResult<()> {
        if let Conn::Tx(tx) = self.conn {
            tx.commit().await?;
        }
        for f in self.after {
            f();
        }
        Ok(())
    }
}

impl Deref for Txn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.conn {
            Conn::Tx(tx) => tx,
            Conn::Auto(conn) => conn,
        }
    }
}

impl DerefMut for Txn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.conn {
            Conn::Tx(tx) => tx,
            Conn::Auto(conn) => conn,
        }
    }
}
