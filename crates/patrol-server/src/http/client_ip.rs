//! The caller's address: the TCP peer, or — only when that peer is a
//! configured trusted proxy — the right-most untrusted `X-Forwarded-For` hop.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

pub fn client_ip(parts: &Parts, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for v in parts.headers.get_all("x-forwarded-for") {
        let Ok(s) = v.to_str() else { continue };
        for h in s.split(',') {
            match h.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                // A garbled chain cannot be trusted past this point.
                Err(_) => return Some(peer),
            }
        }
    }
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
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
    }
}
