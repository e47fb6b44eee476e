//! The web page over real HTTP: sign-in through the development issuer's
//! page, the token pages, CSRF refusals, security headers, session refresh
//! and sign-out. (The browser-driven suite is in tests/e2e/test_web_ui.py.)

use std::collections::HashMap;

use chrono::Duration;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use uuid::Uuid;

use patrol_core::session::SessionKey;
use patrol_core::user::AuditAction;
use patrol_store::AuditQuery;

use crate::support::{manual_clock, TestApp};

/// A minimal browser: a cookie jar, redirects followed by hand, `Origin`
/// and `Sec-Fetch-Site` sent on posts the way Chromium sends them.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    jar: HashMap<String, String>,
    /// Every `Set-Cookie` seen, raw, for attribute checks.
    pub(crate) set_cookies: Vec<String>,
}

pub(crate) struct Page {
    status: StatusCode,
    url: String,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn field(&self, re: &str) -> Option<String> {
        let start = self.body.find(re)? + re.len();
        let rest = &self.body[start..];
        let end = rest.find('"')?;
        Some(html_unescape(&rest[..end]))
    }

    pub(crate) fn csrf(&self) -> String {
        self.field("name=\"csrf\" value=\"")
            .expect("page has a csrf field")
    }

    pub(crate) fn token_ids(&self) -> Vec<Uuid> {
        self.body
            .split("data-token-id=\"")
            .skip(1)
            .map(|s| s[..36].parse().unwrap())
            .collect()
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
            set_cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(
        &mut self,
        method: Method,
        url: &str,
        form: Option<String>,
        site: &str,
    ) -> reqwest::Response {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.app.base)
        };
        let mut req = self.client.request(method.clone(), &url);
        if !self.jar.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        if let Some(body) = form {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .header("sec-fetch-site", site)
                .body(body);
            if site == "same-origin" {
                req = req.header("origin", &self.app.base);
            }
        }
        let resp = req.send().await.unwrap();
        for v in resp.headers().get_all(SET_COOKIE) {
            let raw = v.to_str().unwrap().to_owned();
            let pair = raw.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() || raw.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), val.to_owned());
            }
            self.set_cookies.push(raw);
        }
        resp
    }

    /// Request, then follow redirects (GET) to the final page.
    async fn go(&mut self, method: Method, url: &str, form: Option<String>) -> Page {
        self.go_from(method, url, form, "same-origin").await
    }

    async fn go_from(
        &mut self,
        method: Method,
        url: &str,
        form: Option<String>,
        site: &str,
    ) -> Page {
        let mut resp = self.send(method, url, form, site).await;
        let mut url = resp.url().to_string();
        for _ in 0..10 {
            if !resp.status().is_redirection() {
                break;
            }
            let loc = resp.headers()[LOCATION].to_str().unwrap().to_owned();
            url = if loc.starts_with("http") {
                loc
            } else {
                format!("{}{loc}", self.app.base)
            };
            resp = self.send(Method::GET, &url, None, "none").await;
        }
        Page {
            status: resp.status(),
            url,
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> Page {
        self.go(Method::GET, url, None).await
    }

    pub(crate) async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.go(Method::POST, url, Some(body)).await
    }

    /// Open /tokens, land on the dev issuer's page, pick `user`.
    pub(crate) async fn sign_in(&mut self, user: &str) -> Page {
        let page = self.get("/tokens").await;
        assert!(page.url.contains("/oidc/authorize"), "{}", page.url);
        let mut fields: Vec<(String, String)> = page
            .body
            .split("<input type=\"hidden\" name=\"")
            .skip(1)
            .map(|s| {
                let (name, rest) = s.split_once('"').unwrap();
                let value = rest
                    .split("value=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                (name.to_owned(), html_unescape(value))
            })
            .collect();
        fields.push(("username".into(), user.into()));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let page = self.go(Method::POST, "/oidc/authorize", Some(body)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.url.ends_with("/tokens"), "{}", page.url);
        page
    }

    pub(crate) fn session_cookie(&self) -> String {
        self.jar["patrol_session"].clone()
    }
}

pub(crate) async fn create(
    b: &mut Browser<'_>,
    csrf: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> Page {
    let mut fields = vec![
        ("csrf", csrf),
        ("name", name),
        ("org", "fabrikam"),
        ("expiry", "30"),
    ];
    // Extra fields replace the defaults of the same name (but `scope` repeats).
    fields.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    fields.extend_from_slice(extra);
    b.post("/tokens/new", &fields).await
}

pub(crate) fn token_of(page: &Page) -> String {
    page.field("id=\"new-token-value\" type=\"text\" readonly value=\"")
        .unwrap_or_else(|| panic!("no token on the page: {}", page.body))
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let mut v: Vec<String> = app
        .store
        .list_audit(&AuditQuery {
            limit: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action.as_str().to_owned())
        .collect();
    v.reverse();
    v
}

#[tokio::test]
async fn sign_in_create_use_and_revoke_with_a_confirmation() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let list = b.sign_in("alice").await;
    assert!(list.body.contains("id=\"user-name\">Alice Example<"));
    assert!(list.body.contains("id=\"no-tokens\""));

    // The session cookie: opaque, HttpOnly, SameSite=Lax, Path=/; not Secure on plain HTTP.
    let session = b
        .set_cookies
        .iter()
        .find(|c| c.starts_with("patrol_session="))
        .unwrap()
        .clone();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains("Secure"), "{session}");
    assert!(
        !b.jar.contains_key("patrol_login"),
        "the sign-in cookie is cleared"
    );

    // Azure DevOps' address of this page leads here too.
    for path in [
        "/",
        "/fabrikam/_usersSettings/tokens",
        "/_usersSettings/tokens",
    ] {
        let page = b.get(path).await;
        assert!(page.url.ends_with("/tokens"), "{path} → {}", page.url);
    }

    // Security headers on every page.
    let h = &list.headers;
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h.contains_key("strict-transport-security"));
    assert_eq!(h["cache-control"], "no-store");

    let csrf = list.csrf();
    let created = create(
        &mut b,
        &csrf,
        "ci build",
        &[
            ("scope_mode", "custom"),
            ("scope", "vso.code"),
            ("scope", "vso.build"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.headers["cache-control"], "no-store");
    assert!(created.body.contains("id=\"shown-once\""));
    assert!(!created.body.contains("name-warning"), "a plain name");
    let token = token_of(&created);
    assert_eq!(token.len(), 84);
    assert_eq!(app.verify_status(&token, "?scope=vso.code").await, 200);
    assert_eq!(
        app.verify_status(&token, "?scope=vso.packaging").await,
        403,
        "valid token, scope not granted"
    );

    let list = b.get("/tokens").await;
    let ids = list.token_ids();
    assert_eq!(ids.len(), 1);
    let id = ids[0];
    assert!(list.body.contains("data-token-name=\"ci build\""));
    assert!(list.body.contains("Code (read)"), "scope summary shown");
    assert!(!list.body.contains("expires-soon"), "30 days away");
    // Showing the list again never shows the secret.
    assert!(!list.body.contains(&token));

    // GET only asks; nothing changes.
    let confirm = b.get(&format!("/tokens/{id}/revoke")).await;
    assert!(confirm.body.contains("id=\"confirm-revoke\""));
    assert_eq!(app.verify_status(&token, "").await, 200);

    let done = b
        .post(&format!("/tokens/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.url.contains("/tokens?notice=revoked"), "{}", done.url);
    assert!(
        done.body.contains("“ci build” was revoked."),
        "{}",
        done.body
    );
    assert_eq!(app.verify_status(&token, "").await, 401);
    // A week or less to live: marked.
    create(
        &mut b,
        &csrf,
        "short",
        &[("expiry", "7"), ("scope_mode", "full")],
    )
    .await;
    let list = b.get("/tokens").await;
    assert_eq!(
        list.body.matches("class=\"expires-soon").count(),
        1,
        "{}",
        list.body
    );
    let revoked = b.get("/tokens?status=revoked").await;
    assert_eq!(revoked.token_ids(), vec![id]);
    assert!(
        !revoked.body.contains("class=\"revoke"),
        "no actions on a revoked token"
    );

    let actions = audit_actions(&app).await;
    let web: Vec<&str> = actions
        .iter()
        .map(String::as_str)
        .filter(|a| {
            a.starts_with("web.") || a.starts_with("pat.create") || a.starts_with("pat.revoke")
        })
        .collect();
    assert_eq!(
        web,
        ["web.signin", "pat.create", "pat.revoke", "pat.create"],
        "one audit record per change"
    );
    let events = app
        .store
        .list_audit(&AuditQuery {
            action: Some(AuditAction::PatCreate),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    let signin = app
        .store
        .list_audit(&AuditQuery {
            action: Some(AuditAction::WebSignIn),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(signin.len(), 1);
    assert_eq!(signin[0].source_ip.as_deref(), Some("127.0.0.1"));
    assert!(signin[0].request_id.is_some());
    assert!(
        signin[0]
            .actor
            .ends_with("|a11ce000-0000-4000-8000-000000000001"),
        "{}",
        signin[0].actor
    );
    assert!(events
        .iter()
        .all(|e| e.client_id.as_deref() == Some("patrol-dev-cli")));
    assert!(events.iter().any(|e| e.target_pat == Some(id)));
}

#[tokio::test]
async fn edit_and_regenerate_replace_what_works() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let csrf = b.sign_in("alice").await.csrf();
    let token = token_of(
        &create(
            &mut b,
            &csrf,
            "deploy",
            &[("scope_mode", "custom"), ("scope", "vso.code")],
        )
        .await,
    );
    let id = b.get("/tokens").await.token_ids()[0];

    let form = b.get(&format!("/tokens/{id}/edit")).await;
    assert!(form.body.contains("value=\"deploy\""));
    assert!(form.body.contains("value=\"keep\" selected"));
    let saved = b
        .post(
            &format!("/tokens/{id}/edit"),
            &[
                ("csrf", &csrf),
                ("name", "deploy (packaging)"),
                ("org", "fabrikam"),
                ("expiry", "keep"),
                ("scope_mode", "custom"),
                ("scope", "vso.packaging"),
            ],
        )
        .await;
    assert!(saved.body.contains("“deploy (packaging)” was updated."));
    assert!(
        saved.url.contains("notice=updated"),
        "{}: {}",
        saved.url,
        saved.body
    );
    let pat = app.store.get_pat(id).await.unwrap().unwrap();
    assert_eq!(pat.display_name, "deploy (packaging)");
    assert_eq!(pat.scopes.as_string(), "vso.packaging");
    assert_eq!(app.verify_status(&token, "?scope=vso.packaging").await, 200);
    assert_eq!(app.verify_status(&token, "?scope=vso.code").await, 403);

    // An org-scoped token cannot move to another organization from the page.
    let moved = b
        .post(
            &format!("/tokens/{id}/edit"),
            &[
                ("csrf", &csrf),
                ("name", "x"),
                ("org", "contoso"),
                ("expiry", "keep"),
                ("scope_mode", "full"),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST);
    assert!(moved.body.contains("id=\"error\""));

    let confirm = b.get(&format!("/tokens/{id}/regenerate")).await;
    assert!(confirm.body.contains("id=\"confirm-regenerate\""));
    assert_eq!(
        app.verify_status(&token, "").await,
        200,
        "GET changes nothing"
    );
    let regenerated = b
        .post(&format!("/tokens/{id}/regenerate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(regenerated.headers["cache-control"], "no-store");
    let fresh = token_of(&regenerated);
    assert_ne!(fresh, token);
    assert_eq!(app.verify_status(&token, "").await, 401);
    assert_eq!(app.verify_status(&fresh, "").await, 200);
    assert_eq!(
        b.get("/tokens").await.token_ids(),
        vec![id],
        "same token, new secret"
    );
}

#[tokio::test]
async fn forged_and_cross_site_posts_change_nothing() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let csrf = b.sign_in("alice").await.csrf();
    let token = token_of(&create(&mut b, &csrf, "keep me", &[("scope_mode", "full")]).await);
    let id = b.get("/tokens").await.token_ids()[0];
    let revoke = format!("/tokens/{id}/revoke");

    let none = b.post(&revoke, &[]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    let wrong = b.post(&revoke, &[("csrf", "AAAA")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Even with the right token, a browser-declared cross-site post is refused…
    let body = format!(
        "csrf={}",
        url::form_urlencoded::byte_serialize(csrf.as_bytes()).collect::<String>()
    );
    let cross = b
        .go_from(Method::POST, &revoke, Some(body.clone()), "cross-site")
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // …and so is one from a foreign Origin.
    let foreign = b
        .client
        .post(format!("{}{revoke}", app.base))
        .header("cookie", b.cookie_header())
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    // A blanked origin counts only when the browser vouches for same-origin.
    let null_origin = |site: Option<&'static str>| {
        let mut req = b
            .client
            .post(format!("{}/tokens/{id}/edit", app.base))
            .header("cookie", b.cookie_header())
            .header("origin", "null")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "{body}&name=renamed&org=fabrikam&expiry=keep&scope_mode=full"
            ));
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    assert_eq!(
        null_origin(None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        null_origin(Some("same-origin")).await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    // Another session's anti-CSRF token does not fit this one.
    let mut other = Browser::new(&app);
    let other_csrf = other.sign_in("alice").await.csrf();
    assert_ne!(other_csrf, csrf);
    let mixed = b.post(&revoke, &[("csrf", &other_csrf)]).await;
    assert_eq!(mixed.status, StatusCode::FORBIDDEN);
    // Creating without the token makes nothing.
    let made = b
        .post(
            "/tokens/new",
            &[
                ("name", "sneaky"),
                ("org", "fabrikam"),
                ("expiry", "7"),
                ("scope_mode", "full"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::FORBIDDEN);
    // Without a session at all: refused, not redirected.
    let mut stranger = Browser::new(&app);
    let anon = stranger.post(&revoke, &[("csrf", &csrf)]).await;
    assert_eq!(anon.status, StatusCode::FORBIDDEN);

    assert_eq!(app.verify_status(&token, "").await, 200);
    let all = b.get("/tokens?status=all").await;
    assert_eq!(all.token_ids(), vec![id]);
    assert!(!audit_actions(&app).await.iter().any(|a| a == "pat.revoke"));
    assert_eq!(
        app.store.get_pat(id).await.unwrap().unwrap().display_name,
        "renamed",
        "only the vouched-for post changed anything"
    );
}

#[tokio::test]
async fn policy_errors_are_named_in_plain_words() {
    let app = TestApp::spawn_with(|c| {
        c.tokens.max_lifetime_days = 30;
        c.tokens.max_active_per_user = 1;
    })
    .await;
    let mut b = Browser::new(&app);
    let csrf = b.sign_in("bob").await.csrf();
    let form = b.get("/tokens/new").await;
    assert!(
        form.body.contains("value=\"60\" disabled") || form.body.contains("value=\"60\"  disabled"),
        "presets past the cap are disabled"
    );
    assert!(form.body.contains("at most 30 days"));
    let too_long = create(&mut b, &csrf, "long", &[("scope_mode", "full")]).await;
    assert_eq!(too_long.status, StatusCode::OK, "30 days is allowed");
    let page = b
        .post(
            "/tokens/new",
            &[
                ("csrf", &csrf),
                ("name", "long"),
                ("org", "fabrikam"),
                ("expiry", "60"),
                ("scope_mode", "full"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("maximum token lifetime"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("value=\"long\""),
        "the form keeps what was typed"
    );
    let page = create(&mut b, &csrf, "second", &[("scope_mode", "full")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("maximum active tokens per user"),
        "{}",
        page.body
    );
    let page = create(&mut b, &csrf, "none", &[("scope_mode", "custom")]).await;
    assert!(page.body.contains("at least one scope"));
    let page = b.get("/tokens/not-a-uuid/edit").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = b.get(&format!("/tokens/{}/edit", Uuid::new_v4())).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn personal_data_in_names_is_warned_about_not_refused() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let csrf = b.sign_in("bob").await.csrf();
    let plain = create(&mut b, &csrf, "deploy", &[("scope_mode", "full")]).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    assert!(!plain.body.contains("name-warning"));
    let warned = create(
        &mut b,
        &csrf,
        "deploy for bob@example.com",
        &[("scope_mode", "full")],
    )
    .await;
    assert_eq!(warned.status, StatusCode::OK, "{}", warned.body);
    assert!(
        warned.body.contains("name-warning") && warned.body.contains("email address"),
        "{}",
        warned.body
    );
    assert_eq!(token_of(&warned).len(), 84, "created all the same");
}

#[tokio::test]
async fn another_users_tokens_are_invisible_and_untouchable() {
    let app = TestApp::spawn().await;
    let mut alice = Browser::new(&app);
    let a_csrf = alice.sign_in("alice").await.csrf();
    let token = token_of(&create(&mut alice, &a_csrf, "alice's", &[("scope_mode", "full")]).await);
    let id = alice.get("/tokens").await.token_ids()[0];
    let mut bob = Browser::new(&app);
    let b_csrf = bob.sign_in("bob").await.csrf();
    assert!(bob.get("/tokens?status=all").await.token_ids().is_empty());
    assert_eq!(
        bob.get(&format!("/tokens/{id}/edit")).await.status,
        StatusCode::NOT_FOUND
    );
    // A notice names only the reader's own tokens.
    let page = bob.get(&format!("/tokens?notice=revoked&id={id}")).await;
    assert!(page.body.contains("The token was revoked."));
    assert!(!page.body.contains("alice&#x27;s") && !page.body.contains("alice's"));
    let r = bob
        .post(&format!("/tokens/{id}/revoke"), &[("csrf", &b_csrf)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.verify_status(&token, "").await, 200);
}

#[tokio::test]
async fn sessions_refresh_silently_and_end_for_good() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |_| {}).await;
    let mut b = Browser::new(&app);
    let csrf = b.sign_in("alice").await.csrf();
    let key = SessionKey::of(&b.session_cookie());
    let store = &app.store;
    let before = store.get_session(&key).await.unwrap().unwrap();
    assert!(before.sealed_refresh_token.is_some());

    // The access token has run out: the next page refreshes it behind the
    // scenes. (Its expiry is the identity provider's, on the wall clock, so
    // it is the stored expiry that is moved here, not the application's clock.)
    let mut s = before.clone();
    s.access_expires_at = chrono::Utc::now() - Duration::minutes(1);
    store.update_session(&s).await.unwrap();
    let page = b.get("/tokens").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.url.ends_with("/tokens"));
    let after = store.get_session(&key).await.unwrap().unwrap();
    assert!(after.access_expires_at > chrono::Utc::now() + Duration::minutes(30));
    assert_ne!(
        after.sealed_refresh_token, before.sealed_refresh_token,
        "rotated"
    );

    // The identity provider refuses the refresh (here: a replayed, rotated-out
    // refresh token): the session ends and the browser signs in again.
    let mut s = after.clone();
    s.access_expires_at = chrono::Utc::now() - Duration::minutes(1);
    s.sealed_refresh_token = before.sealed_refresh_token.clone();
    store.update_session(&s).await.unwrap();
    let resp = b.send(Method::GET, "/tokens", None, "none").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(resp.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/signin"));
    assert!(store.get_session(&key).await.unwrap().is_none());
    assert!(audit_actions(&app)
        .await
        .iter()
        .any(|a| a == "web.session_end"));

    // Sign-out ends the server session: the old cookie is worthless afterwards.
    let csrf2 = b.sign_in("alice").await.csrf();
    assert_ne!(csrf2, csrf);
    let cookie = b.session_cookie();
    let out = b.post("/signout", &[("csrf", &csrf2)]).await;
    assert!(out.url.ends_with("/signed-out"));
    assert!(
        !out.body.contains("provider-signout"),
        "the dev issuer offers no RP-initiated logout, so no link"
    );
    assert!(!b.jar.contains_key("patrol_session"));
    assert!(store
        .get_session(&SessionKey::of(&cookie))
        .await
        .unwrap()
        .is_none());
    b.jar.insert("patrol_session".into(), cookie);
    let resp = b.send(Method::GET, "/tokens", None, "none").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(audit_actions(&app).await.iter().any(|a| a == "web.signout"));

    // Idle too long (default 60 minutes): the session ends.
    b.sign_in("alice").await;
    let idle_key = SessionKey::of(&b.session_cookie());
    assert!(store.get_session(&idle_key).await.unwrap().is_some());
    clock.advance(Duration::minutes(61));
    let resp = b.send(Method::GET, "/tokens", None, "none").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(store.get_session(&idle_key).await.unwrap().is_none());
    let ended = store
        .list_audit(&AuditQuery {
            action: Some(AuditAction::WebSessionEnd),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(ended.iter().any(|e| e.detail.as_deref() == Some("expired")));
}

#[tokio::test]
async fn https_public_url_gets_host_prefixed_secure_cookies() {
    let app =
        TestApp::spawn_with(|c| c.server.public_url = Some("https://patrol.test".into())).await;
    let resp = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/signin", app.base))
        .header("host", "patrol.test")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("__Host-patrol_login="), "{cookie}");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let loc = resp.headers()[LOCATION].to_str().unwrap();
    assert!(
        loc.contains("redirect_uri=https%3A%2F%2Fpatrol.test%2Fsignin%2Fcallback"),
        "{loc}"
    );
    for p in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "code_challenge=",
    ] {
        assert!(loc.contains(p), "{loc}");
    }
    // From another host name, sign-in first moves to the public origin.
    let resp = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/signin?return_to=/tokens", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()[LOCATION].to_str().unwrap(),
        "https://patrol.test/signin?return_to=%2Ftokens"
    );
}

#[tokio::test]
async fn callback_refuses_a_forged_or_stale_response() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    // No sign-in started in this browser.
    let p = b.get("/signin/callback?code=abc&state=xyz").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    // Started, but the state does not match.
    let start = b.send(Method::GET, "/signin", None, "none").await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let p = b.get("/signin/callback?code=abc&state=not-the-state").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("does not match"));
    // The provider said no.
    let start = b.send(Method::GET, "/signin", None, "none").await;
    let loc = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let state = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let p = b
        .get(&format!(
            "/signin/callback?error=access_denied&state={state}"
        ))
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("access_denied"));
    // A made-up code for the right state: the issuer refuses it.
    let start = b.send(Method::GET, "/signin", None, "none").await;
    let loc = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let state = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let p = b
        .get(&format!("/signin/callback?code=made-up&state={state}"))
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(!b.jar.contains_key("patrol_session"));
}

/// Each callback can cost a signed request to the provider's token
/// endpoint: failed ones count against the address (and are audited), and
/// past the limit the callback answers 429 before any such request.
#[tokio::test]
async fn failed_sign_in_callbacks_are_limited_and_audited() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callback = |from: &'static str| {
        client
            .get(format!(
                "{}/signin/callback?code=made-up&state=forged",
                app.base
            ))
            .header("x-forwarded-for", from)
            .send()
    };
    for i in 0..30 {
        let r = callback("203.0.113.50").await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "failure {}", i + 1);
    }
    let r = callback("203.0.113.50").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // Another address can still sign in.
    let mut b = Browser::new(&app);
    b.sign_in("alice").await;
    let rows: Vec<String> = app
        .store
        .list_audit(&AuditQuery {
            action: Some(AuditAction::AuthReject),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.source_ip.as_deref() == Some("203.0.113.50"))
        .filter_map(|e| e.detail)
        .collect();
    assert_eq!(
        rows.len(),
        2,
        "first failure and the one at the limit: {rows:?}"
    );
    assert!(rows.iter().all(|d| d.contains("web sign-in")), "{rows:?}");
}

#[tokio::test]
async fn concurrent_requests_refresh_a_session_once() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_in("alice").await;
    let key = SessionKey::of(&b.session_cookie());
    let store = &app.store;
    let mut s = store.get_session(&key).await.unwrap().unwrap();
    s.access_expires_at = chrono::Utc::now() - Duration::minutes(1);
    store.update_session(&s).await.unwrap();
    // The dev issuer rotates refresh tokens and ends the grant when an old one
    // comes back: without one refresh per session, most of these would fail.
    let cookie = b.cookie_header();
    let url = format!("{}/tokens", app.base);
    let requests = (0..8).map(|_| b.client.get(&url).header("cookie", cookie.clone()).send());
    let statuses: Vec<StatusCode> = futures_join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let after = store.get_session(&key).await.unwrap().unwrap();
    assert!(after.access_expires_at > chrono::Utc::now() + Duration::minutes(30));
    assert!(!audit_actions(&app)
        .await
        .iter()
        .any(|a| a == "web.session_end"));
}

async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<StatusCode>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap().status());
    }
    out
}
