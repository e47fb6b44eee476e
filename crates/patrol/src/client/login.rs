//! `patrol login` and `patrol logout`.
//!
//! Login is an OpenID Connect authorization-code flow with PKCE for a native
//! app (RFC 8252): the server names the issuer, public client and scopes
//! (`GET /patrol/v1/cli-config`); the browser signs in there and is sent back
//! to `http://127.0.0.1:<ephemeral port>/callback`, where this process listens
//! for exactly one answer carrying its `state`. The code is redeemed with the
//! relying party of `patrol-auth` (the web page's), the ID token is checked
//! (signature, issuer, audience, nonce), and the tokens are stored (0600).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use patrol_auth::rp::{random_value, Pkce};
use patrol_auth::verifier::{IssuerConfig, OidcVerifier};
use patrol_core::clock::Clock;
use patrol_server::config::CliLogin;
use reqwest::Method;
use secrecy::ExposeSecret as _;
use tokio::sync::{mpsc, oneshot};

use super::args::{LoginArgs, LogoutArgs};
use super::conn::{self, idp_failure, Server};
use super::creds::{Login, Store};
use super::failure::{self, Failure};
use super::pats::Pats;
use super::session;

/// Where the browser comes back to, on the loopback interface.
const CALLBACK_PATH: &str = "/callback";
/// Longest the callback listener waits for the browser's request after the
/// answer, so the page is delivered before the process exits.
const CALLBACK_DRAIN: Duration = Duration::from_secs(2);
/// Every signature algorithm the ID-token check may meet (all asymmetric).
const ID_TOKEN_ALGS: [&str; 5] = ["RS256", "RS384", "RS512", "PS256", "ES256"];

/// `patrol login`.
pub async fn login(args: LoginArgs, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    let store = Store::open()?;
    let server = match args.server.as_deref() {
        Some(s) => Server::parse(s)?,
        None => match store.load()?.default_server {
            Some(s) => Server::parse(&s)?,
            None => {
                return Err(Failure::local(
                    "name the server: patrol login --server URL (or set PATROL_SERVER)",
                ))
            }
        },
    };
    let org = match args.org.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        Some(o) => Some(session::require_org(Some(o.to_owned()))?),
        None => None,
    };
    let cli = cli_config(&server).await?;
    let mut login = Login {
        issuer: cli.issuer,
        discovery_url: cli.discovery_url,
        client_id: cli.client_id,
        scopes: cli.scopes,
        resource: cli.resource,
        organization: org.clone(),
        user: None,
        access_token: String::new(),
        expires_at: None,
        refresh_token: None,
    };

    // RFC 8252 §7.3: the loopback IP literal, a port the OS picks.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Failure::local(format!("cannot listen on 127.0.0.1 for the sign-in: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::local(format!("cannot listen on 127.0.0.1: {e}")))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
    let rp = conn::relying_party(&login, &redirect_uri, clock.clone())?;
    let state = random_value();
    let nonce = random_value();
    let pkce = Pkce::generate();
    let url = rp
        .authorization_url(&state, &nonce, &pkce.challenge)
        .await
        .map_err(|e| idp_failure("to start the sign-in", &login.issuer, &e))?;

    let (answers, mut answered) = mpsc::channel(1);
    let (stop, stopped) = oneshot::channel::<()>();
    let callback = Callback {
        state: Arc::from(state.as_str()),
        issuer: Arc::from(login.issuer.as_str()),
        answers,
    };
    let app = Router::new()
        .route(CALLBACK_PATH, get(on_callback))
        .with_state(callback);
    let listening = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });

    let opened = !args.no_browser && open_browser(url.as_str()).await;
    if opened {
        eprintln!("Opening your browser to sign in at {}.", login.issuer);
        eprintln!("If it does not open, visit this address on this computer:\n\n  {url}\n");
    } else {
        eprintln!(
            "To sign in at {}, open this address in a browser on this computer:\n\n  {url}\n",
            login.issuer
        );
    }
    eprintln!("Waiting for the sign-in to finish (Ctrl-C to cancel)…");
    let answer = tokio::time::timeout(Duration::from_secs(args.timeout), answered.recv()).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(CALLBACK_DRAIN, listening).await;
    let code = match answer {
        Err(_) => {
            return Err(Failure::local(format!(
                "no sign-in within {} seconds; run `patrol login` again",
                args.timeout
            )))
        }
        Ok(None) => return Err(Failure::local("the sign-in listener stopped")),
        Ok(Some(result)) => result?,
    };

    let tokens = rp
        .exchange_code(&code, &pkce.verifier)
        .await
        .map_err(|e| idp_failure("to finish the sign-in", &login.issuer, &e))?;
    let id_token = tokens.id_token.as_ref().ok_or_else(|| {
        Failure::refused(format!(
            "the identity provider {} sent no ID token (is `openid` among the server's [cli] scopes?)",
            login.issuer
        ))
    })?;
    login.user =
        Some(check_id_token(&login, id_token.expose_secret(), &nonce, clock.clone()).await?);
    login.access_token = tokens.access_token.expose_secret().to_owned();
    login.expires_at = conn::expires_at(
        tokens.expires_in,
        &login.access_token,
        clock.now().timestamp(),
    );
    login.refresh_token = tokens.refresh_token.map(|t| t.expose_secret().to_owned());

    // With an organization, check at once that the server takes the token there.
    if let Some(org) = &org {
        let mut client = conn::Client::new(
            server.clone(),
            conn::Auth::Fresh(login.access_token.clone()),
            clock.clone(),
        )?;
        if let Err(refused) = Pats::new(&mut client, org.clone()).probe().await {
            // Not kept, so not left valid at the issuer either (best effort).
            if let Some(refresh) = &login.refresh_token {
                let _ = rp.revoke_refresh_token(refresh).await;
            }
            return Err(refused);
        }
    }

    let _lock = store.lock()?;
    let mut creds = store.load()?;
    let user = login.user.clone().unwrap_or_default();
    let refreshable = login.refresh_token.is_some();
    creds.default_server = Some(server.as_str().to_owned());
    creds.logins.insert(server.as_str().to_owned(), login);
    store.save(&creds)?;
    println!("Signed in to {server} as {user}.");
    match &org {
        Some(o) => println!("Default organization: {o}."),
        None => println!(
            "No default organization: pass --org to each command, or log in again with --org."
        ),
    }
    if !refreshable {
        eprintln!("note: the identity provider gave no refresh token; sign in again when the access token expires.");
    }
    Ok(())
}

/// `GET /patrol/v1/cli-config`.
async fn cli_config(server: &Server) -> Result<CliLogin, Failure> {
    let http = conn::http_client()?;
    let url = server.url(&["patrol", "v1", "cli-config"]);
    let resp = http
        .request(Method::GET, url)
        .send()
        .await
        .map_err(|e| failure::unreachable("the Patrol server", server.as_str(), &e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = conn::read_bounded(server, resp).await?;
    if status == 404 {
        return Err(Failure::refused(format!(
            "{server} offers no command-line sign-in (its [cli] section is off, or it is not a Patrol server); \
             use PATROL_ACCESS_TOKEN instead"
        )));
    }
    if status != 200 {
        return Err(failure::from_answer(
            status,
            &headers,
            &body,
            &failure::AuthHint {
                source: "the request",
                remedy: "check the server URL",
            },
        ));
    }
    serde_json::from_slice(&body).map_err(|_| {
        Failure::refused(format!(
            "{server}/patrol/v1/cli-config is not a Patrol sign-in document"
        ))
    })
}

/// The ID token's signature, issuer, audience, expiry and nonce; the user's name.
async fn check_id_token(
    login: &Login,
    id_token: &str,
    nonce: &str,
    clock: Arc<dyn Clock>,
) -> Result<String, Failure> {
    let issuer = IssuerConfig {
        issuer: login.issuer.clone(),
        discovery_url: login.discovery_url.clone(),
        audiences: vec![login.client_id.clone()],
        algorithms: ID_TOKEN_ALGS.iter().map(|a| (*a).to_owned()).collect(),
        leeway_secs: 60,
        required_typ: None,
        tenant_id: None,
        service_account_username_prefix: None,
        subject_claim: None,
        emails_verified: None,
        allowed_client_ids: None,
    };
    let http = patrol_auth::http_client(Duration::from_secs(30))
        .map_err(|e| Failure::local(format!("starting the HTTP client: {e}")))?;
    let verifier = OidcVerifier::new(vec![issuer], http, clock);
    match verifier
        .verify_id_token(id_token, &login.client_id, nonce)
        .await
    {
        Ok(v) => {
            let name = v.claims.display_name().unwrap_or(&v.subject);
            Ok(match v.claims.email() {
                Some(email) if email != name => {
                    format!("{} ({})", failure::sanitize(name), failure::sanitize(email))
                }
                _ => failure::sanitize(name),
            })
        }
        Err(patrol_auth::AuthError::Unavailable) => Err(Failure::Unreachable(format!(
            "cannot fetch the signing keys of {} to check the sign-in",
            login.issuer
        ))),
        Err(e) => Err(Failure::refused(format!(
            "the ID token from {} does not check out ({e}); sign-in refused",
            login.issuer
        ))),
    }
}

/// The callback listener's state.
#[derive(Clone)]
struct Callback {
    state: Arc<str>,
    issuer: Arc<str>,
    answers: mpsc::Sender<Result<String, Failure>>,
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{title}</title>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
         <h1>{title}</h1><p>{text}</p></body>"
    );
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(html),
    )
        .into_response()
}

/// The browser's return. Only an answer carrying this sign-in's `state`
/// counts; anything else is refused and waited past.
async fn on_callback(State(cb): State<Callback>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // Constant time (docs/security.md item 3): anything on this machine can probe the port.
    let state_ok = get("state").is_some_and(|s| {
        use subtle::ConstantTimeEq as _;
        bool::from(s.as_bytes().ct_eq(cb.state.as_bytes()))
    });
    if !state_ok {
        return page(
            StatusCode::BAD_REQUEST,
            "Not this sign-in",
            "This answer does not belong to the waiting <code>patrol login</code>.",
        );
    }
    let outcome = if let Some(error) = get("error") {
        let description = get("error_description")
            .map(|d| format!(": {}", failure::sanitize(d)))
            .unwrap_or_default();
        Err(Failure::refused(format!(
            "the identity provider refused the sign-in ({}{description})",
            failure::sanitize(error)
        )))
    } else if get("iss").is_some_and(|iss| iss != &*cb.issuer) {
        // RFC 9207: the answer names another issuer (a mix-up attack).
        Err(Failure::refused(
            "the sign-in answer came from another issuer; refused",
        ))
    } else if let Some(code) = get("code").filter(|c| !c.is_empty()) {
        Ok(code.to_owned())
    } else {
        Err(Failure::refused("the sign-in answer carries no code"))
    };
    let (status, title, text) = match &outcome {
        Ok(_) => (
            StatusCode::OK,
            "Signed in",
            "You can close this tab and return to the terminal.",
        ),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The terminal says why.",
        ),
    };
    let _ = cb.answers.try_send(outcome);
    page(status, title, text)
}

/// Opens the system browser, unless there is none to open (no display on a
/// Unix desktop, and no `$BROWSER`).
async fn open_browser(url: &str) -> bool {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") && !set("BROWSER") {
            return false;
        }
    }
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || webbrowser::open(&url).is_ok())
        .await
        .unwrap_or(false)
}

/// `patrol logout`: revoke the refresh token where the issuer allows it, then
/// forget the sign-in.
pub async fn logout(args: LogoutArgs, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    let store = Store::open()?;
    let _lock = store.lock()?;
    let mut creds = store.load()?;
    let server = match args
        .server
        .as_deref()
        .map(str::to_owned)
        .or(creds.default_server.clone())
    {
        Some(s) => Server::parse(&s)?,
        None => {
            println!("Not signed in.");
            return Ok(());
        }
    };
    let Some(login) = creds.logins.remove(server.as_str()) else {
        println!("Not signed in to {server}.");
        return Ok(());
    };
    if let Some(refresh) = &login.refresh_token {
        let revoked = match conn::relying_party(&login, conn::REFRESH_ONLY_REDIRECT, clock) {
            Ok(rp) => rp
                .revoke_refresh_token(refresh)
                .await
                .map_err(|e| failure::sanitize(&e.to_string())),
            Err(e) => Err(e.to_string()),
        };
        match revoked {
            Ok(true) => {}
            Ok(false) => eprintln!(
                "note: {} offers no token revocation; the refresh token stays valid there until it expires",
                login.issuer
            ),
            // The sign-in is forgotten here all the same.
            Err(e) => eprintln!(
                "warning: could not revoke the refresh token at {}: {e}",
                login.issuer
            ),
        }
    }
    if creds.default_server.as_deref() == Some(server.as_str()) {
        creds.default_server = creds.logins.keys().next().cloned();
    }
    store.save(&creds)?;
    println!("Signed out of {server}.");
    Ok(())
}
