#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! Patrol's server: use cases (`app`), HTTP adapters (`http`), configuration,
//! and the one way to start the application, used by `main` and tests alike.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use patrol_auth::dev_issuer::{self, DevIssuer};
use patrol_auth::verifier::{IssuerConfig, OidcVerifier};
use patrol_core::clock::{Clock, SystemClock};
use patrol_core::hashing::TokenHasher;

pub mod app;
pub mod config;
pub mod dev;
pub mod http;
pub mod notify;
pub mod replicas;
pub mod serve;
pub mod storage;
pub mod telemetry;

use app::verify::{self as verify, ResourceServers, UsageFlusher, VerifyState};
use app::{App, AppParts, AuthLimits};
use config::{Settings, WebClient};

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
    web_enabled: bool,
    limits: serve::ConnectionLimits,
    /// The job runner (notifications, retention); tests tick it by hand.
    pub jobs: Arc<notify::Jobs>,
    jobs_every: Duration,
    /// Where emails are sent, when an SMTP server is configured.
    pub smtp_url: Option<String>,
    /// True once the store is set up; the job runner and the session purge
    /// wait for it.
    set_up: tokio::sync::watch::Receiver<bool>,
    /// Setting the store up in the background (the database did not answer
    /// at start-up).
    set_up_task: Option<tokio::task::JoinHandle<()>>,
    /// The other replicas over the same PostgreSQL database.
    replicas: Option<replicas::Replicas>,
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

/// How an [`Application`] is put together: its settings, the clock every
/// rule reads (the wall clock unless a test passes its own), and `patrol dev`.
pub struct ApplicationBuilder {
    settings: Settings,
    clock: Arc<dyn Clock>,
    dev: Option<DevMode>,
}

impl ApplicationBuilder {
    /// The clock the use cases read (tests pass a `ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Run as `patrol dev`: the built-in issuer, its users and organizations.
    pub fn dev(mut self, dev: DevMode) -> Self {
        self.dev = Some(dev);
        self
    }

    /// Bind, open the store, load keys, seed organizations, build the router.
    pub async fn build(self) -> anyhow::Result<Application> {
        let Self {
            settings,
            clock,
            dev,
        } = self;
        let Settings {
            server,
            database,
            migrate_on_start,
            server_keys,
            organizations,
            policy,
            auth,
            verify: verify_settings,
            usage: usage_settings,
            resource_servers,
            web: web_settings,
            mut roles,
            cli: cli_login,
            leaks,
            scim_tokens,
            notify: notify_settings,
        } = settings;
        let mut policy = policy;
        let listener = TcpListener::bind(server.listen)
            .await
            .with_context(|| format!("binding {}", server.listen))?;
        let addr = listener.local_addr()?;

        let mut issuers: Vec<IssuerConfig> = auth.issuers;
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

        let (replicas, peers) = replicas::Replicas::for_database(&database)?.unzip();
        let mut org_names = organizations;
        if dev.is_some() {
            for n in dev::DEV_ORGS {
                if !org_names.iter().any(|o| o.eq_ignore_ascii_case(n)) {
                    org_names.push((*n).to_owned());
                }
            }
            for u in dev_issuer::dev_users().iter().filter(|u| u.tenant_admin) {
                roles
                    .tenant_admins
                    .insert(patrol_core::roles::user_key(dev::USER_ISSUER, u.oid));
            }
        }
        let opened = storage::Opened::open(&database).await?;
        let (set_up, set_up_task) = storage::set_up(
            &opened,
            &database,
            storage::SetUp {
                migrate_on_start,
                organizations: org_names,
                auto_join: policy.auto_join,
                dev_users: dev_state.is_some(),
                clock: clock.clone(),
            },
        )
        .await?;
        let store = opened.store();

        let resource_servers = ResourceServers::new(resource_servers);
        let (usage_sender, usage) = verify::spawn_usage_writer(
            store.clone(),
            usage_settings.flush_interval,
            usage_settings.batch_size,
        );
        let failures = auth.failures;
        let auth_clock = clock.clone();
        // Emails: SMTP when configured; `patrol dev` otherwise writes them to
        // its outbox folder; `patrol serve` without SMTP sends none.
        let folder = notify_settings
            .outbox_dir
            .clone()
            .or_else(|| dev.as_ref().map(|d| d.data_dir.join("outbox")));
        let mailer = match (&notify_settings.smtp, folder) {
            (Some(s), _) => Some(notify::Mailer::smtp(s)?),
            (None, Some(dir)) => Some(notify::Mailer::Folder(dir)),
            (None, None) => {
                tracing::info!("no SMTP server configured (smtp.url): no emails are sent");
                None
            }
        };
        policy.notify.email = mailer.is_some();
        let app = App::new(AppParts {
            store,
            hasher: Arc::new(TokenHasher::new(server_keys)?),
            clock,
            policy,
            verify: VerifyState::new(verify_settings, resource_servers, usage_sender)
                .with_peers(peers.unwrap_or_else(|| Arc::new(verify::NoPeers))),
            auth_limits: AuthLimits {
                max_failures_per_ip: failures.max,
                window: failures.window,
                capacity: failures.capacity,
            },
            issuer_aliases: dev_issuer_url
                .iter()
                .map(|u| (u.clone(), dev::USER_ISSUER.to_owned()))
                .collect(),
            roles,
            scim_tokens,
        })
        .with_set_up(set_up.clone());
        // Never follows redirects: a token request must not be re-sent elsewhere.
        let http_client = patrol_auth::http_client(std::time::Duration::from_secs(5))
            .context("building the HTTP client")?;
        // Webhooks: never follow a redirect elsewhere, answer within 10 s.
        let http_client_jobs = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .context("building the webhook HTTP client")?;
        let verifier = OidcVerifier::new(issuers, http_client.clone(), auth_clock.clone());
        // `patrol dev` signs in with its built-in issuer; `patrol serve` with the `[web]` client.
        let web_client = match &dev_issuer_url {
            Some(url) => Some(dev::web_client(
                url,
                server
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{addr}")),
                &web_settings.scopes,
            )),
            None => web_settings.client,
        };
        let web = web_client
            .map(|c| web_state(c, &app, &verifier, http_client, auth_clock))
            .transpose()?;
        let web_enabled = web.is_some();
        let link = format!(
            "{}/tokens",
            server
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}"))
                .trim_end_matches('/')
        );
        let couriers =
            notify::Couriers::new(mailer, &notify_settings.from, link, http_client_jobs)?;
        let jobs = Arc::new(notify::Jobs::new(app.clone(), Arc::new(couriers)));
        let state = http::AppState {
            app,
            verifier,
            metrics: prometheus()?,
            trusted_proxies: Arc::new(server.trusted_proxies),
            public_url: server.public_url,
            // `patrol dev`: the command line signs in with the built-in issuer.
            cli: match &dev_issuer_url {
                Some(url) => Some(dev::cli_login(url)),
                None => cli_login,
            }
            .map(Arc::new),
            leaks: Arc::new(leaks),
        };
        let router = http::router(
            state.clone(),
            server.max_body_bytes,
            Duration::from_secs(server.request_timeout_secs),
            web,
            extra,
        )
        .layer(axum::middleware::from_fn_with_state(
            set_up.clone(),
            http::ops::until_set_up,
        ));
        let limits = serve::ConnectionLimits {
            header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
            max_connections: server.max_connections,
            shutdown_grace: Duration::from_secs(server.shutdown_grace_secs),
        };
        Ok(Application {
            listener,
            router,
            addr,
            state,
            dev_issuer: dev_issuer_url,
            usage,
            web_enabled,
            limits,
            jobs,
            jobs_every: notify_settings.tick,
            smtp_url: notify_settings.smtp.map(|s| s.url),
            set_up,
            set_up_task,
            replicas,
        })
    }
}

impl Application {
    /// Start from resolved settings (`Config::resolve`); the wall clock and
    /// `patrol serve` unless the builder is told otherwise.
    pub fn builder(settings: Settings) -> ApplicationBuilder {
        ApplicationBuilder {
            settings,
            clock: Arc::new(SystemClock),
            dev: None,
        }
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
        use tower::Layer;
        // Ended web sessions are deleted every ten minutes, once the store is set up.
        let purge = self.web_enabled.then(|| {
            let app = self.state.app.clone();
            let mut set_up = self.set_up.clone();
            tokio::spawn(async move {
                if set_up.wait_for(|done| *done).await.is_err() {
                    return;
                }
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
                loop {
                    tick.tick().await;
                    match app.purge_sessions().await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(sessions = n, "purged ended web sessions"),
                        Err(e) => tracing::warn!(error = %e, "could not purge web sessions"),
                    }
                }
            })
        });
        // The job runner starts once the store is set up.
        let runner = {
            let (jobs, every, mut set_up) =
                (self.jobs.clone(), self.jobs_every, self.set_up.clone());
            tokio::spawn(async move {
                set_up.wait_for(|done| *done).await.ok()?;
                Some(notify::Runner::spawn(jobs, every))
            })
        };
        let hearing = self
            .replicas
            .as_ref()
            .map(|r| r.listen(self.state.app.clone()));
        let service =
            tower::util::MapRequestLayer::new(http::rewrite_request_uri).layer(self.router);
        let served = serve::serve(self.listener, service, self.limits, shutdown)
            .await
            .context("serving HTTP");
        if let Some(p) = purge {
            p.abort();
        }
        if let Some(t) = &self.set_up_task {
            t.abort();
        }
        if runner.is_finished() {
            if let Ok(Some(r)) = runner.await {
                r.stop().await;
            }
        } else {
            runner.abort();
        }
        if let Some(h) = hearing {
            h.abort();
        }
        self.usage.stop().await;
        served
    }
}

/// The web page's state for a sign-in client.
fn web_state(
    client: WebClient,
    app: &App,
    verifier: &OidcVerifier,
    http: patrol_auth::HttpClient,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<http::web::WebState>> {
    let rp = patrol_auth::rp::RelyingParty::new(client.rp, http, clock);
    rp.check_config()
        .map_err(|e| anyhow::anyhow!("[web] sign-in client: {e}"))?;
    let state = http::web::WebState::new(rp, verifier.clone(), &client.public_url, app)?;
    Ok(Arc::new(state))
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
