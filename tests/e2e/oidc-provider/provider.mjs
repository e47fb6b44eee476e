#!/usr/bin/env node
// Reference OpenID provider for Patrol's end-to-end tests.
//
// A real, certified OpenID provider (npm `oidc-provider` 9.x) configured to look like
// Microsoft Entra ID from the point of view of a resource server (Patrol):
//   * access tokens are RS256 JWTs (`typ: at+jwt`, RFC 9068) for the resource AUDIENCE,
//   * Entra-shaped claims: oid, tid, scp, idtyp, name, preferred_username, email, roles,
//   * authorization code + PKCE (S256) with refresh-token rotation for the public client
//     `patrol-e2e`, and client credentials for the confidential client `ci-robot`,
//   * key rotation by restarting with KEYS_FILE = [new, old]: the first key signs, all are
//     published in the JWKS.
//
// Configuration: CLI flags win over environment variables.
//   --port / PORT              listen port (0 = any free port; default 0)
//   --host / HOST              listen address (default 127.0.0.1)
//   --issuer / ISSUER          issuer URL (default http://127.0.0.1:<port>)
//   --audience / AUDIENCE      resource indicator = `aud` of access tokens (default api://patrol)
//   --keys-file / KEYS_FILE    JSON: [jwk, ...] or {"keys": [...]} of private RSA JWKs; the
//                              first key signs. Default: one ephemeral key generated at start.
//   --tenant-id / TENANT_ID    `tid` claim (default 72f988bf-86f1-41af-91ab-2d7cd011db47)
//   --access-token-ttl / ACCESS_TOKEN_TTL   seconds (default 3600)
//   --refresh-token-ttl / REFRESH_TOKEN_TTL seconds (default 86400)
//   --accounts-file / ACCOUNTS_FILE  JSON object {login: {oid, name, email, preferred_username?,
//                              token_claims?}} merged over the built-in accounts
//   --clients-file / CLIENTS_FILE    JSON array of extra client metadata objects; an entry may
//                              carry `token_claims` (merged into its access tokens; null deletes)
//
// Entra-like quirk: a GET /auth asking for offline_access without any `prompt` parameter is
// treated as prompt=consent, so a refresh token is issued (plain oidc-provider drops it).
//
// On listening it prints exactly one line `READY <issuer>` on stdout. Everything else
// (warnings, request log) goes to stderr. SIGTERM/SIGINT close the server and exit 0.
//
// Test-only endpoints (not part of OIDC):
//   GET  /__e2e/stats                 -> {"requests": {"<METHOD> <path>": n, ...}, "jwks": n, "discovery": n,
//                                         "grants": {"<client_id> <grant_type>": n, ...}}  (successful token requests)
//   POST /__e2e/jwks?status=503       -> the JWKS endpoint answers with that status from now on
//   POST /__e2e/jwks?status=200       -> back to normal
//   POST /__e2e/reset-stats           -> zero the counters

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const { values: argv } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
    'keys-file': { type: 'string' },
    'tenant-id': { type: 'string' },
    'access-token-ttl': { type: 'string' },
    'refresh-token-ttl': { type: 'string' },
    'accounts-file': { type: 'string' },
    'clients-file': { type: 'string' },
  },
  strict: true,
});

const opt = (flag, env, dflt) => argv[flag] ?? process.env[env] ?? dflt;

const PORT = Number.parseInt(opt('port', 'PORT', '0'), 10);
const HOST = opt('host', 'HOST', '127.0.0.1');
const AUDIENCE = opt('audience', 'AUDIENCE', 'api://patrol');
const KEYS_FILE = opt('keys-file', 'KEYS_FILE', '');
const TENANT_ID = opt('tenant-id', 'TENANT_ID', '72f988bf-86f1-41af-91ab-2d7cd011db47');
const ACCESS_TOKEN_TTL = Number.parseInt(opt('access-token-ttl', 'ACCESS_TOKEN_TTL', '3600'), 10);
const REFRESH_TOKEN_TTL = Number.parseInt(opt('refresh-token-ttl', 'REFRESH_TOKEN_TTL', '86400'), 10);
const ACCOUNTS_FILE = opt('accounts-file', 'ACCOUNTS_FILE', '');
const CLIENTS_FILE = opt('clients-file', 'CLIENTS_FILE', '');

const log = (...args) => console.error('[oidc-provider]', ...args);

// --- API scopes (resource-server scopes of AUDIENCE) and OIDC scopes -----------------------
const API_SCOPES = ['vso.pats', 'vso.pats_manage', 'vso.code', 'vso.tokenadministration', 'user_impersonation'];
const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

// --- accounts ------------------------------------------------------------------------------
// The dev login form accepts ANY password; the login name must be one of these accounts.
// `sub` is the login name; `oid` is the stable Entra-style object id.
const ACCOUNTS = {
  alice: {
    oid: '00000000-0000-4000-a000-00000000a11c',
    name: 'Alice Example',
    email: 'alice@example.test',
  },
  bob: {
    oid: '00000000-0000-4000-a000-000000000b0b',
    name: 'Bob Example',
    email: 'bob@example.test',
  },
  carol: {
    oid: '00000000-0000-4000-a000-0000000ca201',
    name: 'Carol Example',
    email: 'carol@example.test',
  },
};

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

if (ACCOUNTS_FILE) {
  for (const [login, acct] of Object.entries(readJson(ACCOUNTS_FILE))) {
    ACCOUNTS[login] = { ...(ACCOUNTS[login] || {}), ...acct };
  }
}
for (const [login, acct] of Object.entries(ACCOUNTS)) {
  acct.preferred_username ??= acct.email ?? login;
  if (!acct.oid) throw new Error(`account ${login} has no oid`);
}

// --- clients -------------------------------------------------------------------------------
const CLIENTS = [
  {
    client_id: 'patrol-e2e',
    client_name: 'Patrol e2e (public client)',
    token_endpoint_auth_method: 'none',
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  },
  {
    client_id: 'ci-robot',
    client_name: 'CI robot (confidential client)',
    client_secret: 'ci-robot-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
];
const CLIENT_TOKEN_CLAIMS = {
  'ci-robot': { roles: ['Patrol.Robot'] },
};
if (CLIENTS_FILE) {
  for (const entry of readJson(CLIENTS_FILE)) {
    const { token_claims: claims, ...metadata } = entry;
    const i = CLIENTS.findIndex((c) => c.client_id === metadata.client_id);
    if (i >= 0) CLIENTS.splice(i, 1);
    CLIENTS.push(metadata);
    if (claims) CLIENT_TOKEN_CLAIMS[metadata.client_id] = claims;
  }
}

// --- keys ----------------------------------------------------------------------------------
function thumbprint(jwk) {
  const json = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return crypto.createHash('sha256').update(json).digest('base64url');
}

function ephemeralKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: thumbprint(jwk), alg: 'RS256', use: 'sig' };
}

let keys;
if (KEYS_FILE) {
  const parsed = readJson(KEYS_FILE);
  keys = Array.isArray(parsed) ? parsed : parsed.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${KEYS_FILE}: no keys`);
  keys = keys.map((k) => ({ alg: 'RS256', use: 'sig', ...k, kid: k.kid ?? thumbprint(k) }));
} else {
  log('no KEYS_FILE given; using one ephemeral RS256 key');
  keys = [ephemeralKey()];
}

// --- helpers -------------------------------------------------------------------------------
function mergeClaims(target, extra) {
  for (const [k, v] of Object.entries(extra || {})) {
    if (v === null) delete target[k];
    else target[k] = v;
  }
  return target;
}

function apiScopes(scope) {
  return (scope || '').split(' ').filter((s) => s && !OIDC_SCOPES.includes(s));
}

// --- configuration -------------------------------------------------------------------------
const configuration = {
  clients: CLIENTS,
  jwks: { keys },
  cookies: { keys: ['patrol-e2e-cookie-key-not-secret'] },
  scopes: OIDC_SCOPES,
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'oid', 'tid'],
    email: ['email', 'email_verified'],
  },
  responseTypes: ['code'],
  pkce: {
    required: (ctx, client) => client.clientAuthMethod === 'none' || client.clientId === 'patrol-e2e',
  },
  async findAccount(ctx, id) {
    const acct = ACCOUNTS[id];
    if (!acct) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          oid: acct.oid,
          tid: TENANT_ID,
          name: acct.name,
          preferred_username: acct.preferred_username,
          email: acct.email,
          email_verified: true,
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter => the token is for AUDIENCE.
      defaultResource: (ctx, client, oneOf) => oneOf ?? AUDIENCE,
      // Token endpoint without `resource` => use the resource granted at /auth.
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator !== AUDIENCE) throw new errors.InvalidTarget();
        return {
          scope: API_SCOPES.join(' '),
          audience: AUDIENCE,
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  async extraTokenClaims(ctx, token) {
    const claims = { tid: TENANT_ID };
    if (token.kind === 'ClientCredentials') {
      claims.idtyp = 'app';
      claims.azp = token.clientId;
      mergeClaims(claims, CLIENT_TOKEN_CLAIMS[token.clientId]);
      return claims;
    }
    const acct = ACCOUNTS[token.accountId];
    claims.idtyp = 'user';
    claims.azp = token.clientId;
    if (acct) {
      claims.oid = acct.oid;
      claims.name = acct.name;
      claims.preferred_username = acct.preferred_username;
      claims.email = acct.email;
    }
    const scp = apiScopes(token.scope);
    if (scp.length) claims.scp = scp.join(' ');
    mergeClaims(claims, CLIENT_TOKEN_CLAIMS[token.clientId]);
    if (acct) mergeClaims(claims, acct.token_claims);
    return claims;
  },
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || ACCESS_TOKEN_TTL,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: REFRESH_TOKEN_TTL,
    RefreshToken: REFRESH_TOKEN_TTL,
  },
  renderError(ctx, out, error) {
    ctx.type = 'json';
    ctx.body = out;
    log('error', ctx.method, ctx.path, out.error, out.error_description, error?.message);
  },
};

// --- server --------------------------------------------------------------------------------
const server = http.createServer();

server.on('error', (err) => {
  log('server error', err.message);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = opt('issuer', 'ISSUER', '') || `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration);

  const stats = { requests: {}, jwks: 0, discovery: 0, grants: {} };
  provider.on('grant.success', (ctx) => {
    const key = `${ctx.oidc.client?.clientId ?? '-'} ${ctx.oidc.params?.grant_type ?? '-'}`;
    stats.grants[key] = (stats.grants[key] || 0) + 1;
  });
  // Why a client's token request or an authorization request failed (client auth method,
  // assertion audience, PKCE, redirect_uri...): the JSON error alone rarely says.
  for (const event of ['grant.error', 'authorization.error', 'server_error']) {
    provider.on(event, (ctx, err) => {
      log(event, `client=${ctx?.oidc?.client?.clientId ?? '-'}`, err?.error ?? '', err?.error_description ?? '', err?.error_detail ?? err?.message ?? '');
    });
  }
  let jwksStatus = 200;
  provider.use(async (ctx, next) => {
    const start = Date.now();
    const key = `${ctx.method} ${ctx.path}`;
    if (ctx.path.startsWith('/__e2e/')) {
      ctx.type = 'json';
      if (ctx.method === 'GET' && ctx.path === '/__e2e/stats') {
        ctx.body = stats;
      } else if (ctx.method === 'POST' && ctx.path === '/__e2e/jwks') {
        jwksStatus = Number.parseInt(ctx.query.status ?? '200', 10);
        ctx.body = { jwks_status: jwksStatus };
      } else if (ctx.method === 'POST' && ctx.path === '/__e2e/reset-stats') {
        stats.requests = {};
        stats.jwks = 0;
        stats.discovery = 0;
        stats.grants = {};
        ctx.body = stats;
      } else {
        ctx.status = 404;
        ctx.body = { error: 'not_found' };
      }
      return;
    }
    stats.requests[key] = (stats.requests[key] || 0) + 1;
    if (ctx.path === '/jwks') {
      stats.jwks += 1;
      if (jwksStatus !== 200) {
        ctx.status = jwksStatus;
        ctx.type = 'json';
        ctx.body = { error: 'jwks_unavailable' };
        log(ctx.method, ctx.path, ctx.status, '(fault injected)');
        return;
      }
    }
    if (ctx.path === '/.well-known/openid-configuration') stats.discovery += 1;
    if (ctx.path === '/auth' && ctx.method === 'GET') {
      // Entra-like: `offline_access` yields a refresh token without `prompt=consent`.
      // (oidc-provider follows OIDC Core 11 and drops offline_access unless prompt
      // contains consent; we add it when the client sent no prompt at all.)
      const q = new URLSearchParams(ctx.querystring);
      if (!q.has('prompt') && (q.get('scope') || '').split(' ').includes('offline_access')) {
        q.set('prompt', 'consent');
        ctx.querystring = q.toString();
      }
    }
    await next();
    log(ctx.method, ctx.path, ctx.status, `${Date.now() - start}ms`);
  });

  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
});

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal} received, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
