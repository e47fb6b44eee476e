//! Each store test is written once, as an `async fn(Arc<dyn Store>)`, and
//! [`on_both_stores!`] runs it twice: on a fresh SQLite file (`sqlite::…`)
//! and on a fresh PostgreSQL database (`postgres::…`; see
//! `patrol_store::test_support` for where PostgreSQL comes from). Without
//! PostgreSQL the `postgres::` tests fail, they never skip.
#![allow(dead_code, clippy::expect_used)]

use std::sync::Arc;

use patrol_store::{SqliteStore, Store};

/// A store for one test, and what must outlive it.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(&dir.path().join("p.db"))
            .await
            .expect("open SQLite");
        Self {
            store: Arc::new(store),
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let (store, _url) = patrol_store::test_support::fresh_store()
            .await
            .expect("a fresh PostgreSQL database for the store tests");
        Self {
            store: Arc::new(store),
            _dir: None,
        }
    }
}

/// `on_both_stores! { #[tokio::test] a, b; #[tokio::test(flavor = …)] c; }`
/// makes `sqlite::a`, `postgres::a`, … calling `a(store)` of the test file.
macro_rules! on_both_stores {
    ($( #[$attr:meta] $($name:ident),+ $(,)? ;)+) => {
        mod sqlite {
            $($(
                #[$attr]
                async fn $name() {
                    let fixture = crate::common::Fixture::sqlite().await;
                    super::$name(fixture.store.clone()).await;
                }
            )+)+
        }
        mod postgres {
            $($(
                #[$attr]
                async fn $name() {
                    let fixture = crate::common::Fixture::postgres().await;
                    super::$name(fixture.store.clone()).await;
                }
            )+)+
        }
    };
}
pub(crate) use on_both_stores;
