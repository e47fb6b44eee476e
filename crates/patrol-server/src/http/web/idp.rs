//! The identity provider behind web sessions, as `App`'s session use cases
//! see it ([`IdentityProvider`]): the relying party redeems and revokes
//! refresh tokens, and a refreshed access token is verified exactly as the
//! management API verifies one.

use secrecy::{ExposeSecret, SecretString};

use patrol_auth::rp::{RelyingParty, RpError};
use patrol_auth::verifier::OidcVerifier;
use patrol_auth::AuthError;

use crate::app::{IdentityProvider, IdpError, Refreshed};

pub struct WebIdp {
    rp: RelyingParty,
    verifier: OidcVerifier,
}

impl WebIdp {
    pub fn new(rp: RelyingParty, verifier: OidcVerifier) -> Self {
        Self { rp, verifier }
    }
}

#[async_trait::async_trait]
impl IdentityProvider for WebIdp {
    fn client_id(&self) -> &str {
        self.rp.client_id()
    }

    async fn refresh(&self, refresh_token: &SecretString) -> Result<Refreshed, IdpError> {
        let tokens = match self.rp.refresh(refresh_token.expose_secret()).await {
            Ok(t) => t,
            Err(RpError::Unavailable(_)) => return Err(IdpError::Unavailable),
            Err(_) => {
                return Err(IdpError::Refused(
                    "refresh refused by the identity provider",
                ))
            }
        };
        let access = match self
            .verifier
            .verify(tokens.access_token.expose_secret())
            .await
        {
            Ok(v) => v,
            Err(AuthError::Unavailable) => return Err(IdpError::Unavailable),
            Err(AuthError::Invalid(_)) => {
                return Err(IdpError::Refused("refreshed access token not acceptable"))
            }
        };
        Ok(Refreshed {
            access,
            expires_in: tokens.expires_in,
            refresh_token: tokens.refresh_token,
        })
    }

    async fn revoke(&self, refresh_token: &SecretString) {
        if let Err(e) = self
            .rp
            .revoke_refresh_token(refresh_token.expose_secret())
            .await
        {
            tracing::info!(error = %e, "could not revoke the refresh token at sign-out");
        }
    }
}
