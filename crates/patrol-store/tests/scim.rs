#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The store contract for provisioning: SCIM records, joining them to
//! users, and turning a user's access off (PATs revoked, sessions ended,
//! audit records) and on, in one transaction each.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::pat::Pat;
use patrol_core::scim::{ScimUser, UserData};
use patrol_core::session::{SessionKey, WebSession};
use patrol_core::token::{mint, MintOptions};
use patrol_core::user::{AuditAction, AuditEvent, Outcome, UserClaims};
use patrol_store::{AccessChange, AuditQuery, ScimLookup, Store, StoreError};

mod common;
use common::on_both_stores;
use std::sync::Arc;

on_both_stores! {
    #[tokio::test]
    records_round_trip_and_user_names_are_unique_without_case,
    records_and_users_find_each_other,
    disabling_revokes_every_pat_and_ends_every_session_in_one_step;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn ev(action: AuditAction) -> AuditEvent {
    AuditEvent::new(action, t0(), "scim|token-1", Outcome::Success)
}

fn record(user_name: &str, external_id: Option<&str>, active: Option<bool>) -> ScimUser {
    ScimUser {
        id: Uuid::new_v4(),
        data: UserData {
            user_name: user_name.into(),
            external_id: external_id.map(Into::into),
            active,
            attributes: json!({"displayName": "D", "emails": [{"value": user_name}]})
                .as_object()
                .unwrap()
                .clone(),
        },
        user_id: None,
        created_at: t0(),
        updated_at: t0(),
        version: 1,
    }
}

async fn records_round_trip_and_user_names_are_unique_without_case(s: Arc<dyn Store>) {
    let a = record("Ann@Example.test", Some("oid-a"), None);
    s.create_scim_user(&a, &ev(AuditAction::ScimUserCreate))
        .await
        .unwrap();
    assert_eq!(s.get_scim_user(a.id).await.unwrap().unwrap(), a);
    let dup = record("ann@example.TEST", None, Some(true));
    let e = s
        .create_scim_user(&dup, &ev(AuditAction::ScimUserCreate))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let by_name = s
        .list_scim_users(&ScimLookup::UserName("ANN@example.test".into()))
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);
    let by_ext = s
        .list_scim_users(&ScimLookup::ExternalId("oid-a".into()))
        .await
        .unwrap();
    assert_eq!(by_ext.len(), 1);
    assert!(s
        .list_scim_users(&ScimLookup::ExternalId("OID-A".into()))
        .await
        .unwrap()
        .is_empty());
    let mut changed = a.clone();
    changed.data.active = Some(false);
    changed.version = 2;
    s.update_scim_user(&changed, &ev(AuditAction::ScimUserUpdate))
        .await
        .unwrap();
    assert_eq!(s.get_scim_user(a.id).await.unwrap().unwrap(), changed);
    assert!(s
        .delete_scim_user(a.id, &ev(AuditAction::ScimUserDelete))
        .await
        .unwrap());
    assert!(!s
        .delete_scim_user(a.id, &ev(AuditAction::ScimUserDelete))
        .await
        .unwrap());
    let gone = record("x@example.test", None, None);
    let e = s
        .update_scim_user(&gone, &ev(AuditAction::ScimUserUpdate))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound));
    let actions: Vec<AuditAction> = s
        .list_audit(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    // Refused writes leave no record.
    assert_eq!(actions.len(), 3, "{actions:?}");
}

async fn records_and_users_find_each_other(s: Arc<dyn Store>) {
    let claims = |sub: &str, email: &str, verified: bool| UserClaims {
        issuer: "https://idp".into(),
        subject: sub.into(),
        display_name: sub.into(),
        email: Some(email.into()),
        email_verified: verified,
    };
    let ann = s
        .upsert_user(&claims("oid-ann", "ann@example.test", false), t0())
        .await
        .unwrap();
    let bo = s
        .upsert_user(&claims("oid-bo", "Bo@example.test", true), t0())
        .await
        .unwrap();
    // By subject; by a vouched-for email; never by an unverified one.
    let found = s
        .user_for_scim_record(Some("oid-ann"), "whatever")
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(ann.id));
    let found = s
        .user_for_scim_record(None, "bo@EXAMPLE.test")
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(bo.id));
    assert!(s
        .user_for_scim_record(None, "ann@example.test")
        .await
        .unwrap()
        .is_none());
    // At sign-in: by externalId first, then by name; joined once only.
    let by_name = record("carol@example.test", None, Some(false));
    let by_ext = record("other-name", Some("oid-carol"), Some(true));
    for r in [&by_name, &by_ext] {
        s.create_scim_user(r, &ev(AuditAction::ScimUserCreate))
            .await
            .unwrap();
    }
    let names = vec!["CAROL@example.test".to_owned()];
    let r = s
        .scim_record_for_user("oid-carol", &names)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.id, by_ext.id);
    let r = s
        .scim_record_for_user("oid-x", &names)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.id, by_name.id);
    assert!(s.join_scim_user(by_name.id, ann.id).await.unwrap());
    assert!(!s.join_scim_user(by_name.id, bo.id).await.unwrap());
    assert!(s
        .scim_record_for_user("oid-x", &names)
        .await
        .unwrap()
        .is_none());
    let joined = s
        .list_scim_users(&ScimLookup::JoinedTo(ann.id))
        .await
        .unwrap();
    assert_eq!(joined[0].id, by_name.id);
    // A joined user is no candidate for another record.
    assert!(s
        .user_for_scim_record(Some("oid-ann"), "x")
        .await
        .unwrap()
        .is_none());
}

async fn disabling_revokes_every_pat_and_ends_every_session_in_one_step(s: Arc<dyn Store>) {
    let user = s
        .upsert_user(
            &UserClaims {
                issuer: "i".into(),
                subject: "s".into(),
                display_name: "U".into(),
                email: None,
                email_verified: false,
            },
            t0(),
        )
        .await
        .unwrap();
    let hasher = TokenHasher::new(vec![ServerKey::new("k", vec![7; 32]).unwrap()]).unwrap();
    let mut ids = Vec::new();
    for revoked in [false, false, true] {
        let mut p = Pat::fixture(user.id, t0());
        if revoked {
            p.revoked_at = Some(t0());
        }
        let secret = mint(t0(), &MintOptions::default(), &mut rand::rngs::OsRng).unwrap();
        s.create_pat(&p, &hasher.hash(&secret), &ev(AuditAction::PatCreate), None)
            .await
            .unwrap();
        ids.push((p.authorization_id, revoked));
    }
    for cookie in ["one", "two"] {
        let session = WebSession {
            key: SessionKey::of(cookie),
            user_id: user.id,
            created_at: t0(),
            expires_at: t0() + Duration::hours(8),
            last_seen: t0(),
            access_expires_at: t0() + Duration::hours(1),
            sealed_refresh_token: None,
        };
        s.create_session(&session, &ev(AuditAction::WebSignIn))
            .await
            .unwrap();
    }
    let at = t0() + Duration::hours(1);
    let audit = AuditEvent {
        detail: Some("deactivated".into()),
        ..ev(AuditAction::UserDisable)
    };
    let revoke_audit = ev(AuditAction::PatRevoke);
    let change = AccessChange {
        user: user.id,
        disabled: true,
        at,
        audit: &audit,
        revoke_audit: &revoke_audit,
    };
    let (revoked, sessions) = s.set_user_access(&change).await.unwrap();
    let mut want: Vec<Uuid> = ids.iter().filter(|(_, r)| !r).map(|(i, _)| *i).collect();
    let mut got = revoked.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "only the unrevoked ones");
    assert_eq!(sessions, 2);
    assert!(s.get_user(user.id).await.unwrap().unwrap().disabled);
    for id in &revoked {
        assert_eq!(s.get_pat(*id).await.unwrap().unwrap().revoked_at, Some(at));
    }
    assert!(s
        .get_session(&SessionKey::of("one"))
        .await
        .unwrap()
        .is_none());
    let records = s
        .list_audit(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let revokes: Vec<_> = records
        .iter()
        .filter(|e| e.action == AuditAction::PatRevoke)
        .collect();
    assert_eq!(revokes.len(), 2);
    assert!(revokes
        .iter()
        .all(|e| revoked.contains(&e.target_pat.unwrap())));
    assert_ne!(revokes[0].id, revokes[1].id);
    let disable = records
        .iter()
        .find(|e| e.action == AuditAction::UserDisable)
        .unwrap();
    assert_eq!(
        disable.detail.as_deref(),
        Some("deactivated; 2 PATs revoked, 2 web sessions ended")
    );
    // Enabling revives nothing.
    let enable = ev(AuditAction::UserEnable);
    let (revoked, sessions) = s
        .set_user_access(&AccessChange {
            disabled: false,
            audit: &enable,
            ..change
        })
        .await
        .unwrap();
    assert!(revoked.is_empty());
    assert_eq!(sessions, 0);
    assert!(!s.get_user(user.id).await.unwrap().unwrap().disabled);
    for (id, _) in ids {
        assert!(s.get_pat(id).await.unwrap().unwrap().revoked_at.is_some());
    }
    // The interactive sign-in is kept to the microsecond.
    s.record_interactive_sign_in(user.id, at).await.unwrap();
    let u = s.get_user(user.id).await.unwrap().unwrap();
    assert_eq!(u.last_interactive_sign_in, Some(at));
    // An unknown user cannot be disabled.
    let e = s
        .set_user_access(&AccessChange {
            user: Uuid::new_v4(),
            ..change
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound));
}
