//! The embedded schema migrations of each backend, as an operator sees
//! them: which are pending in a database, which a run applied (`patrol
//! migrate`, and `patrol serve` refusing to start while some are pending
//! when `[database] migrate_on_start = false`).

use std::collections::HashSet;

use sqlx::migrate::Migrator;

/// One migration of the embedded schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub description: String,
}

impl std::fmt::Display for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04} {}", self.version, self.description)
    }
}

/// The migrations of `migrator` not among `applied`, oldest first.
pub(crate) fn pending(migrator: &Migrator, applied: &HashSet<i64>) -> Vec<Migration> {
    let mut out: Vec<Migration> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| Migration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect();
    out.sort_by_key(|m| m.version);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

    #[test]
    fn pending_is_what_was_not_applied_in_order() {
        let all = pending(&SQLITE, &HashSet::new());
        assert!(all.len() >= 9);
        assert_eq!(all[0].version, 1);
        assert_eq!(all[0].to_string(), "0001 init");
        assert!(all.windows(2).all(|w| w[0].version < w[1].version));
        let applied: HashSet<i64> = all.iter().take(all.len() - 1).map(|m| m.version).collect();
        let left = pending(&SQLITE, &applied);
        assert_eq!(left, vec![all[all.len() - 1].clone()]);
    }
}
