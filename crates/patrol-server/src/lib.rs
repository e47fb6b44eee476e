#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! Patrol's server: use cases (`app`), HTTP adapters (`http`), configuration,
//! and the one way to start the application, used by `main` and tests alike.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use chrono::Duration;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use patrol_auth::dev_issuer::{self, DevIssuer};
use patrol_auth::verifier::{IssuerConfig, OidcVerifier};
use patrol_core::clock::{Clock, SystemClock};
use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::pat::LifetimePolicy;
use patrol_core::token::{MintOptions, ProviderSignature};
use patrol_core::user::UserClaims;
use patrol_store::{SqliteStore, Store};

pub mod app;
pub mod config;
pub mod dev;
pub mod http;
pub mod telemetry;

use app::verify::{self as verify, ResourceServers, UsageFlusher, VerifySettings, VerifyState};
use app::{App, Policy};
use config::Config;

/// `patrol dev`: the built-in issuer lives in this data directory.
#[derive(Debug, Clone)]
pub struct DevMode {
    pub data_dir: PathBuf,
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    pub state: http::AppState,
    pub dev_issuer: Option<String>,
    usage: UsageFlusher,
}

fn prometheus() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    // Serialises first use: applications built concurrently (tests) must not
    // both try to install the process-wide recorder.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ])
        .context("metrics buckets")?
        .set_buckets_for_metric(
            Matcher::Full("patrol_verify_duration_seconds".into()),
            &[
                0.000_005, 0.00001, 0.000_025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                0.01, 0.1,
            ],
        )
        .context("verify metrics buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

impl Application {
    /// Bind, open the store, load keys, seed organizations, build the router.
    pub async fn build(
        config: Config,
        keys: Vec<ServerKey>,
        dev: Option<DevMode>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);

        let mut issuers: Vec<IssuerConfig> = config.auth.issuers.clone();
        let mut extra = None;
        let mut dev_issuer_url = None;
        let mut dev_state = None;
        if let Some(d) = &dev {
            let issuer =
                DevIssuer::load_or_create(&d.data_dir).context("loading the development issuer")?;
            let url = DevIssuer::issuer_url(&format!("http://{addr}"));
            issuers.push(DevIssuer::verifier_config(&url));
            extra = Some(axum::Router::new().nest("/oidc", issuer.router(url.clone())));
            dev_issuer_url = Some(url);
            dev_state = Some(issuer);
        }

        let store = SqliteStore::open(&config.database.sqlite_path)
            .await
            .with_context(|| format!("opening {}", config.database.sqlite_path.display()))?;
        let store: Arc<dyn Store> = Arc::new(store);
        let now = clock.now();
        let mut org_names = config.organizations.names.clone();
        if dev.is_some() {
            for n in dev::DEV_ORGS {
                if !org_names.iter().any(|o| o.eq_ignore_ascii_case(n)) {
                    org_names.push((*n).to_owned());
                }
            }
        }
        for name in &org_names {
            store
                .ensure_org(name, now)
                .await
                .with_context(|| format!("creating organization {name}"))?;
        }
        if dev_state.is_some() {
            let orgs = store.list_orgs().await?;
            for u in dev_issuer::dev_users() {
                let claims = UserClaims {
                    issuer: dev::USER_ISSUER.to_owned(),
                    subject: u.oid.to_owned(),
                    display_name: u.name.to_owned(),
                    email: Some(u.email.to_owned()),
                };
                let user = store.upsert_user(&claims, now).await?;
                for o in &orgs {
                    store.add_member(user.id, o.id).await?;
                }
            }
        }

        let signature = ProviderSignature::parse(&config.tokens.signature)
            .map_err(|e| anyhow::anyhow!("tokens.signature: {e}"))?;
        let policy = Policy {
            mint: MintOptions::with_signature(signature),
            lifetime: LifetimePolicy {
                default_lifetime: Duration::days(config.tokens.default_lifetime_days),
                max_lifetime: Duration::days(config.tokens.max_lifetime_days),
            },
            inactive_after: (config.tokens.inactive_after_days > 0)
                .then(|| Duration::days(config.tokens.inactive_after_days)),
            auto_join: config.organizations.auto_join,
            max_active_per_user: config.tokens.max_active_per_user,
        };
        let vcfg = &config.verify;
        let settings = VerifySettings {
            cache_capacity: vcfg.cache_capacity,
            cache_ttl: Duration::seconds(i64::try_from(vcfg.cache_ttl_secs).unwrap_or(0)),
            max_failures_per_ip: vcfg.max_failures_per_ip,
            max_failures_per_token: vcfg.max_failures_per_token,
            failure_window: Duration::seconds(
                i64::try_from(vcfg.failure_window_secs).unwrap_or(60),
            ),
            limiter_capacity: vcfg.limiter_capacity,
        };
        let resource_servers = ResourceServers::new(vcfg.resource_server_secrets()?);
        let (usage_sender, usage) = verify::spawn_usage_writer(
            store.clone(),
            std::time::Duration::from_millis(vcfg.usage_flush_interval_ms),
            vcfg.usage_batch_size,
        );
        let app = App {
            store,
            hasher: Arc::new(TokenHasher::new(keys)?),
            clock,
            policy: Arc::new(policy),
            verify: Arc::new(VerifyState::new(settings, resource_servers, usage_sender)),
        };
        let http_client = patrol_auth::http_client(std::time::Duration::from_secs(5))
            .context("building the HTTP client")?;
        let verifier = OidcVerifier::new(issuers, http_client.clone(), app.clock.clone());
        let web = web_state(
            &config,
            dev_issuer_url.as_deref(),
            addr,
            &app.hasher,
            http_client,
            app.clock.clone(),
        )?;
        let state = http::AppState {
            app,
            verifier,
            metrics: prometheus()?,
            accept_user_impersonation: config.auth.accept_user_impersonation,
            trusted_proxies: Arc::new(config.server.trusted_proxies.clone()),
            public_url: config.server.public_url.clone(),
            auth_failures: Arc::new(app::verify::FailureLimiter::new(
                config.auth.max_failures_per_ip,
                Duration::seconds(60),
                100_000,
            )),
            web,
            issuer_aliases: Arc::new(
                dev_issuer_url
                    .iter()
                    .map(|u| (u.clone(), dev::USER_ISSUER.to_owned()))
                    .collect(),
            ),
        };
        let router = http::router(state.clone(), config.server.max_body_bytes, extra);
        Ok(Self {
            listener,
            router,
            addr,
            state,
            dev_issuer: dev_issuer_url,
            usage,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `shutdown` completes, then drain in-flight requests and
    /// write the last queued last-use records.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        use axum::ServiceExt;
        use tower::Layer;
        // Ended web sessions are deleted every ten minutes.
        let purge = self.state.web.as_ref().map(|web| {
            let app = self.state.app.clone();
            let idle = web.session_idle;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
                loop {
                    tick.tick().await;
                    match app.purge_sessions(idle).await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(sessions = n, "purged ended web sessions"),
                        Err(e) => tracing::warn!(error = %e, "could not purge web sessions"),
                    }
                }
            })
        });
        let service =
            tower::util::MapRequestLayer::new(http::rewrite_request_uri).layer(self.router);
        let served = axum::serve(
            self.listener,
            ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(
                service,
            ),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
        if let Some(p) = purge {
            p.abort();
        }
        self.usage.stop().await;
        served
    }
}

/// The web page's state: `patrol dev` signs in with the built-in issuer as
/// its public client; `patrol serve` with the `[web]` client.
fn web_state(
    config: &Config,
    dev_issuer_url: Option<&str>,
    addr: SocketAddr,
    hasher: &TokenHasher,
    http: patrol_auth::HttpClient,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Option<Arc<http::web::WebState>>> {
    use config::WebClientAuth;
    use patrol_auth::rp::{ClientAuth, ClientKey, RelyingParty, RpConfig};
    let w = &config.web;
    let (rp_cfg, public_url) = if let Some(dev_url) = dev_issuer_url {
        let public = config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let cfg = RpConfig {
            issuer: dev_url.to_owned(),
            discovery_url: None,
            client_id: patrol_auth::DEV_PUBLIC_CLIENT_ID.to_owned(),
            client_auth: ClientAuth::None,
            redirect_uri: format!("{}/signin/callback", public.trim_end_matches('/')),
            scopes: w.scopes.clone(),
            resource: None,
            extra_authorize_params: Vec::new(),
        };
        (cfg, public)
    } else if w.enabled {
        let public = config
            .server
            .public_url
            .clone()
            .context("web.enabled needs server.public_url")?;
        let client_auth = match w.client_auth {
            WebClientAuth::None => ClientAuth::None,
            WebClientAuth::ClientSecretBasic => {
                ClientAuth::SecretBasic(w.client_secret()?.context("web: no client secret")?)
            }
            WebClientAuth::ClientSecretPost => {
                ClientAuth::SecretPost(w.client_secret()?.context("web: no client secret")?)
            }
            WebClientAuth::PrivateKeyJwt => {
                let path = w
                    .private_key_file
                    .as_ref()
                    .context("web.private_key_file is required for private_key_jwt")?;
                let pem = std::fs::read(path)
                    .with_context(|| format!("web: reading {}", path.display()))?;
                let mut key = ClientKey::from_pem(&pem, w.private_key_id.clone())
                    .map_err(|e| anyhow::anyhow!("web.private_key_file: {e}"))?;
                if let Some(cert) = &w.private_key_certificate_file {
                    let pem = std::fs::read(cert)
                        .with_context(|| format!("web: reading {}", cert.display()))?;
                    key = key
                        .with_certificate(&pem)
                        .map_err(|e| anyhow::anyhow!("web.private_key_certificate_file: {e}"))?;
                }
                ClientAuth::PrivateKeyJwt(key)
            }
        };
        let cfg = RpConfig {
            issuer: w.issuer.clone().context("web.issuer is required")?,
            discovery_url: w.discovery_url.clone(),
            client_id: w.client_id.clone().context("web.client_id is required")?,
            client_auth,
            redirect_uri: format!("{}/signin/callback", public.trim_end_matches('/')),
            scopes: w.scopes.clone(),
            resource: w.resource.clone(),
            extra_authorize_params: Vec::new(),
        };
        (cfg, public)
    } else {
        return Ok(None);
    };
    let hours = i64::try_from(w.session_max_hours).unwrap_or(12);
    let idle = i64::try_from(w.session_idle_minutes).unwrap_or(60);
    let rp = RelyingParty::new(rp_cfg, http, clock);
    rp.check_config()
        .map_err(|e| anyhow::anyhow!("[web] sign-in client: {e}"))?;
    let state = http::web::WebState::new(
        rp,
        &public_url,
        Duration::hours(hours),
        Duration::minutes(idle),
        hasher,
    )?;
    Ok(Some(Arc::new(state)))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
