//! `[smtp]` and `[notifications]`: where emails go, when expiry warnings
//! go out, how deliveries are retried. Token retention is `[tokens]`'.

use chrono::Duration;
use secrecy::SecretString;
use serde::Deserialize;

use super::secrets::SecretSource;
use super::{ConfigError, Env};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSection {
    /// `smtp://host:port` (STARTTLS when offered… required with
    /// `?tls=required`), `smtps://host:port` (TLS from the first byte);
    /// unset: no email (except `patrol dev`'s outbox folder).
    pub url: Option<String>,
    /// The sender, e.g. `Patrol <patrol@example.com>`.
    pub from: String,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    /// Without `url`: write each email to this folder as an `.eml` file
    /// instead of sending it (`patrol dev`: `<data dir>/outbox`).
    pub outbox_dir: Option<std::path::PathBuf>,
}

impl Default for SmtpSection {
    fn default() -> Self {
        Self {
            url: None,
            outbox_dir: None,
            from: "Patrol <patrol@localhost>".to_owned(),
            username: None,
            password: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsSection {
    /// Days before expiry to warn the owner (each once).
    pub expiry_warning_days: Vec<u32>,
    /// How often the job runner wakes up.
    pub tick_secs: u64,
    /// Attempts per email or webhook delivery before giving up.
    pub max_attempts: u32,
    /// The first retry waits this long, each next one twice as long (up to 6 hours).
    pub retry_base_secs: u64,
    /// How long the job lease lasts unless its holder renews it: how long
    /// the other replicas wait before one takes over from a holder that died
    /// (at least four ticks).
    pub lease_secs: u64,
}

impl Default for NotificationsSection {
    fn default() -> Self {
        Self {
            expiry_warning_days: vec![7, 3],
            tick_secs: 30,
            max_attempts: 8,
            retry_base_secs: 60,
            lease_secs: 120,
        }
    }
}

/// Where emails go.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub url: String,
    pub from: String,
    pub credentials: Option<(String, SecretString)>,
}

/// The job runner's settings outside the use cases' `NotifyPolicy`.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub smtp: Option<SmtpSettings>,
    /// Emails written to this folder instead (no `smtp.url`).
    pub outbox_dir: Option<std::path::PathBuf>,
    pub from: String,
    pub tick: std::time::Duration,
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl SmtpSection {
    pub(super) fn resolve(&self, env: &Env) -> Result<Option<SmtpSettings>, ConfigError> {
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid("smtp.from", "is not an email address"));
        }
        let Some(url) = self.url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid("smtp.url", e.to_string()))?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
            return Err(invalid(
                "smtp.url",
                "must be smtp://host[:port] or smtps://host[:port]",
            ));
        }
        if parsed.password().is_some() {
            return Err(invalid(
                "smtp.url",
                "must not hold a password: set smtp.password = { env = \"…\" } or { file = \"…\" }",
            ));
        }
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.read(env, "smtp.password")?)),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "smtp.username",
                    "smtp.username and smtp.password go together",
                ))
            }
        };
        Ok(Some(SmtpSettings {
            url: url.to_owned(),
            from: self.from.clone(),
            credentials,
        }))
    }
}

impl NotificationsSection {
    /// Warning days (largest first), tick, attempts, retry base.
    pub(super) fn resolve(
        &self,
    ) -> Result<(Vec<u32>, std::time::Duration, u32, Duration), ConfigError> {
        let mut days = self.expiry_warning_days.clone();
        if days.iter().any(|d| *d == 0 || *d > 365) {
            return Err(invalid(
                "notifications.expiry_warning_days",
                "each must be 1 to 365",
            ));
        }
        days.sort_unstable_by(|a, b| b.cmp(a));
        days.dedup();
        if !(1..=3600).contains(&self.tick_secs) {
            return Err(invalid("notifications.tick_secs", "must be 1 to 3600"));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(invalid("notifications.max_attempts", "must be 1 to 100"));
        }
        if !(1..=86_400).contains(&self.retry_base_secs) {
            return Err(invalid(
                "notifications.retry_base_secs",
                "must be 1 to 86400",
            ));
        }
        if !(5..=3600).contains(&self.lease_secs) {
            return Err(invalid("notifications.lease_secs", "must be 5 to 3600"));
        }
        Ok((
            days,
            std::time::Duration::from_secs(self.tick_secs),
            self.max_attempts,
            Duration::seconds(i64::try_from(self.retry_base_secs).unwrap_or(60)),
        ))
    }

    /// The job lease: `lease_secs`, held across at least four ticks.
    pub(super) fn lease(&self) -> Duration {
        let ticks = 4 * i64::try_from(self.tick_secs).unwrap_or(3600);
        Duration::seconds(i64::try_from(self.lease_secs).unwrap_or(120).max(ticks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_lasts_lease_secs_and_at_least_four_ticks() {
        let n = NotificationsSection::default();
        assert_eq!(n.lease(), Duration::minutes(2));
        let short = NotificationsSection {
            tick_secs: 1,
            lease_secs: 5,
            ..n.clone()
        };
        assert!(short.resolve().is_ok());
        assert_eq!(short.lease(), Duration::seconds(5));
        let slow_ticks = NotificationsSection {
            tick_secs: 60,
            lease_secs: 5,
            ..n.clone()
        };
        assert_eq!(slow_ticks.lease(), Duration::minutes(4));
        for bad in [4, 3601] {
            let e = NotificationsSection {
                lease_secs: bad,
                ..n.clone()
            }
            .resolve()
            .unwrap_err();
            assert!(e.to_string().contains("notifications.lease_secs"), "{e}");
        }
    }
}
