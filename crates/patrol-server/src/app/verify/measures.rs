//! The verify path's metrics, registered once (after the recorder is
//! installed, at the first verify) so the hot path only bumps handles.

use std::sync::OnceLock;

use metrics::{Counter, Histogram};

pub struct Measures {
    pub ok: Counter,
    pub invalid: Counter,
    pub forbidden: Counter,
    pub limited: Counter,
    pub error: Counter,
    /// `patrol_verify_duration_seconds`.
    pub duration: Histogram,
    /// Refused on format or checksum, before any store access.
    pub format_rejects: Counter,
    /// Cache misses that asked the store.
    pub store_lookups: Counter,
    pub client_failures: Counter,
}

impl Measures {
    fn register() -> Self {
        let total =
            |result: &'static str| metrics::counter!("patrol_verify_total", "result" => result);
        Self {
            ok: total("ok"),
            invalid: total("invalid"),
            forbidden: total("forbidden"),
            limited: total("limited"),
            error: total("error"),
            duration: metrics::histogram!("patrol_verify_duration_seconds"),
            format_rejects: metrics::counter!("patrol_verify_format_rejects_total"),
            store_lookups: metrics::counter!("patrol_verify_store_lookups_total"),
            client_failures: metrics::counter!("patrol_introspect_client_failures_total"),
        }
    }
}

#[derive(Default)]
pub struct LazyMeasures(OnceLock<Measures>);

impl LazyMeasures {
    pub fn get(&self) -> &Measures {
        self.0.get_or_init(Measures::register)
    }
}
