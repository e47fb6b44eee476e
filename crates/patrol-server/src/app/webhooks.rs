//! Webhook subscriptions and their events: CloudEvents 1.0 (JSON) for
//! each token event, one outbox row per matching subscription. A user
//! subscribes to their own tokens' events; a tenant administrator to
//! everyone's (tenant-wide). Each subscription has its own signing secret,
//! generated here, shown once, and stored sealed with the server key.

use base64::Engine;
use rand::RngCore;
use serde_json::json;
use uuid::Uuid;

use patrol_core::user::User;
use patrol_store::{NewOutboxItem, Webhook};

use super::notify::{EventKind, NoticeDetail, TokenFacts, CHANNEL_WEBHOOK};
use super::{App, AppError, Caller};

const SEAL_WEBHOOK: &str = "webhook secret";
/// CloudEvents `type` prefix.
pub const EVENT_TYPE_PREFIX: &str = "dev.patrol.pat.";

/// A subscription as the API shows it (never its secret).
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: Uuid,
    pub tenant_wide: bool,
    pub url: String,
    pub events: Vec<EventKind>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A new subscription, with the secret its deliveries are signed with.
#[derive(Debug, Clone)]
pub struct CreatedSubscription {
    pub subscription: Subscription,
    pub secret: String,
}

fn shown(h: Webhook) -> Subscription {
    Subscription {
        id: h.id,
        tenant_wide: h.owner.is_none(),
        url: h.url,
        events: h
            .events
            .iter()
            .filter_map(|e| EventKind::parse(e))
            .collect(),
        created_at: h.created_at,
    }
}

/// `http(s)://host…` without credentials in it.
fn check_url(url: &str) -> Result<(), AppError> {
    let bad = |m: &str| AppError::InvalidNotification(format!("webhook url: {m}"));
    let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("must be http or https"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(())
}

impl App {
    pub(crate) fn webhook_secret(&self, h: &Webhook) -> Option<Vec<u8>> {
        self.webhook_seal.open_text(SEAL_WEBHOOK, &h.secret_sealed)
    }

    /// Subscribe `url` to `events` (empty: all): the caller's own tokens'
    /// events, or — `tenant_wide`, tenant administrators only — everyone's.
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        url: &str,
        events: &[EventKind],
        tenant_wide: bool,
    ) -> Result<CreatedSubscription, AppError> {
        if tenant_wide && !caller.is_tenant_admin() {
            return Err(self
                .refuse_admin(caller, AppError::not_tenant_admin())
                .await);
        }
        check_url(url)?;
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        let mut kinds: Vec<String> = events.iter().map(|k| k.as_str().to_owned()).collect();
        kinds.sort();
        kinds.dedup();
        let hook = Webhook {
            id: Uuid::new_v4(),
            owner: (!tenant_wide).then_some(caller.user.id),
            url: url.to_owned(),
            secret_sealed: self.webhook_seal.seal_text(SEAL_WEBHOOK, secret.as_bytes()),
            events: kinds,
            created_at: self.now(),
        };
        self.store.create_webhook(&hook).await?;
        self.forget_settings();
        Ok(CreatedSubscription {
            subscription: shown(hook),
            secret,
        })
    }

    /// The caller's subscriptions, and for a tenant administrator the
    /// tenant-wide ones too.
    pub async fn list_webhooks(&self, caller: &Caller) -> Result<Vec<Subscription>, AppError> {
        let mut all = self.store.list_webhooks(Some(caller.user.id)).await?;
        if caller.is_tenant_admin() {
            all.extend(self.store.list_webhooks(None).await?);
        }
        Ok(all.into_iter().map(shown).collect())
    }

    /// Delete one of the caller's subscriptions (a tenant-wide one: tenant
    /// administrators). Anything else is "not found".
    pub async fn delete_webhook(&self, caller: &Caller, id: Uuid) -> Result<(), AppError> {
        let hook = self.store.get_webhook(id).await?;
        let mine = match &hook {
            Some(h) => match h.owner {
                Some(o) => o == caller.user.id,
                None => caller.is_tenant_admin(),
            },
            None => false,
        };
        if !mine {
            return Err(AppError::InvalidNotification(
                "no such webhook subscription".to_owned(),
            ));
        }
        self.store.delete_webhook(id).await?;
        self.forget_settings();
        Ok(())
    }

    /// One delivery per subscription that wants `kind` about `owner`'s
    /// token, added to `items`.
    pub(crate) async fn webhook_items(
        &self,
        kind: EventKind,
        owner: &User,
        facts: &TokenFacts,
        detail: &NoticeDetail,
        key: &str,
        items: &mut Vec<NewOutboxItem>,
    ) -> Result<(), AppError> {
        let hooks = self.webhooks_for(owner.id).await?;
        let now = self.now();
        for hook in hooks {
            if !hook.events.is_empty() && !hook.events.iter().any(|e| e == kind.as_str()) {
                continue;
            }
            let id = Uuid::new_v4();
            let event = json!({
                "specversion": "1.0",
                "id": id.to_string(),
                "source": "/patrol",
                "type": format!("{EVENT_TYPE_PREFIX}{}", kind.as_str()),
                "subject": facts.id.to_string(),
                "time": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "datacontenttype": "application/json",
                "data": {
                    "authorizationId": facts.id,
                    "displayName": facts.name,
                    "scope": facts.scopes,
                    "organizations": facts.orgs,
                    "allOrgs": facts.orgs.is_empty(),
                    "validTo": facts.valid_to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "owner": { "id": owner.id, "displayName": owner.display_name },
                    "clientId": detail.client_id,
                    "reason": detail.reason,
                    "daysLeft": detail.days_left,
                },
            });
            items.push(NewOutboxItem {
                id,
                dedupe_key: format!("webhook:{}:{key}", hook.id),
                channel: CHANNEL_WEBHOOK.to_owned(),
                kind: kind.as_str().to_owned(),
                user: Some(owner.id),
                pat: Some(facts.id),
                subscription: Some(hook.id),
                payload: event.to_string(),
                created_at: now,
                due_at: now,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_http_without_credentials() {
        assert!(check_url("https://hooks.example.com/patrol").is_ok());
        assert!(check_url("http://127.0.0.1:9000/x").is_ok());
        for bad in [
            "ftp://x/",
            "not a url",
            "https://u:p@x/",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
