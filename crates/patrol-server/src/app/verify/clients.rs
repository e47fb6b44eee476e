//! Registered resource servers: the services allowed to introspect PATs.
//! Their secrets are kept only as HMACs under a per-process random key and
//! compared in constant time, whatever their length.

use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub struct ResourceServers {
    key: [u8; 32],
    clients: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for ResourceServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.clients.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("ResourceServers")
            .field("client_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl ResourceServers {
    pub fn new(clients: Vec<(String, SecretString)>) -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let mut rs = Self {
            key,
            clients: Vec::new(),
        };
        rs.clients = clients
            .into_iter()
            .map(|(id, s)| (id, rs.mac(s.expose_secret())))
            .collect();
        rs
    }

    fn mac(&self, secret: &str) -> [u8; 32] {
        let Ok(mut m) = HmacSha256::new_from_slice(&self.key) else {
            return [0; 32];
        };
        m.update(secret.as_bytes());
        m.finalize().into_bytes().into()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The registered client id when `client_id` and `secret` match one.
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Option<&str> {
        let presented = self.mac(secret);
        let mut found = None;
        for (id, mac) in &self.clients {
            // Every entry is compared, so timing says nothing about which id matched.
            let same: bool = presented.ct_eq(mac).into();
            if same && id == client_id {
                found = Some(id.as_str());
            }
        }
        found
    }

    /// The id of the client `secret` belongs to, whichever it is (bearer
    /// secrets with no client id: SCIM). Every entry is compared.
    pub fn identify(&self, secret: &str) -> Option<&str> {
        let presented = self.mac(secret);
        let mut found = None;
        for (id, mac) in &self.clients {
            let same: bool = presented.ct_eq(mac).into();
            if same {
                found = Some(id.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticates_only_exact_pairs() {
        let rs = ResourceServers::new(vec![
            ("gw".into(), SecretString::from("gateway-secret-0123456789")),
            ("ci".into(), SecretString::from("ci-secret-0123456789")),
        ]);
        assert_eq!(
            rs.authenticate("gw", "gateway-secret-0123456789"),
            Some("gw")
        );
        assert_eq!(rs.authenticate("ci", "ci-secret-0123456789"), Some("ci"));
        assert_eq!(rs.authenticate("gw", "ci-secret-0123456789"), None);
        assert_eq!(rs.authenticate("gw", "gateway-secret-012345678"), None);
        assert_eq!(rs.authenticate("nobody", "gateway-secret-0123456789"), None);
        assert_eq!(rs.authenticate("gw", ""), None);
        assert!(!format!("{rs:?}").contains("secret-0123"));
        assert!(ResourceServers::new(vec![]).is_empty());
    }
}
