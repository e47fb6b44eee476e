"""Helpers for Patrol's end-to-end tests (stdlib + requests only).

oidc_provider  start/stop/restart the reference OpenID provider (npm oidc-provider)
oidc_flow      real tokens over HTTP: authorization code + PKCE, refresh, client credentials
jwt_tools      decode / verify / forge JWTs (negative matrix)
patrol         run a Patrol server binary until /healthz answers
"""
