//! The caller's address: the TCP peer, or — only when that peer is a
//! configured trusted proxy — the hop its `X-Forwarded-For` chain names
//! (the rule is `patrol_core::forwarded`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

use patrol_core::forwarded::client_address;

pub fn client_ip(parts: &Parts, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    let chain: Vec<&[u8]> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    Some(client_address(peer, &chain, trusted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, xff: Option<&str>) -> Parts {
        let mut b = Request::builder().uri("/");
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        let (mut p, _) = b.body(()).unwrap().into_parts();
        p.extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        p
    }

    #[test]
    fn forwarded_only_from_trusted_peers() {
        let trusted: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
        assert_eq!(
            client_ip(&parts("10.0.0.5:1", Some("1.2.3.4")), &trusted),
            "10.0.0.5".parse().ok()
        );
        assert_eq!(
            client_ip(&parts("127.0.0.1:1", Some("1.2.3.4")), &trusted),
            "1.2.3.4".parse().ok()
        );
        assert_eq!(
            client_ip(
                &parts("127.0.0.1:1", Some("6.6.6.6, 1.2.3.4, 127.0.0.1")),
                &trusted
            ),
            "1.2.3.4".parse().ok()
        );
        assert_eq!(
            client_ip(&parts("127.0.0.1:1", None), &trusted),
            "127.0.0.1".parse().ok()
        );
        assert_eq!(
            client_ip(&parts("127.0.0.1:1", Some("junk")), &trusted),
            "127.0.0.1".parse().ok()
        );
        assert_eq!(
            client_ip(
                &parts("127.0.0.1:1", Some("junk, 203.0.113.9:80")),
                &trusted
            ),
            "203.0.113.9".parse().ok()
        );
    }
}
