//! Which address a request came from when it passed through proxies: the
//! `X-Forwarded-For` chain, read from the right (the end the trusted proxies
//! wrote), skipping trusted hops, up to the first hop no trusted proxy is.
//!
//! Everything left of that hop was written by the client itself and cannot
//! be believed; a client writing garbage there changes nothing. Hops may
//! carry ports (`203.0.113.9:5555`, `[2001:db8::1]:443`, as some gateways
//! append them), and IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a
//! `[::]` listener reports for IPv4 peers) count as the IPv4 address.

use std::net::{IpAddr, SocketAddr};

/// Longest chain considered; longer ones are read from the right up to here.
pub const MAX_HOPS: usize = 64;

/// One hop as a proxy writes it: an address, optionally with a port, IPv6
/// optionally bracketed; surrounding spaces and quotes are ignored.
pub fn parse_hop(hop: &str) -> Option<IpAddr> {
    let h = hop.trim().trim_matches('"').trim();
    if h.is_empty() || h.len() > 64 {
        return None;
    }
    let ip = if let Ok(ip) = h.parse::<IpAddr>() {
        ip
    } else if let Ok(sa) = h.parse::<SocketAddr>() {
        sa.ip()
    } else if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)?
    } else {
        return None;
    };
    Some(ip.to_canonical())
}

/// The client's address. `peer` is the TCP peer; `chain` the values of
/// every `X-Forwarded-For` header in order (as bytes: a value that is not
/// text is a garbled hop). Only when `peer` is trusted is the chain read.
pub fn client_address(peer: IpAddr, chain: &[&[u8]], trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.to_canonical() == ip);
    if !is_trusted(peer) {
        return peer;
    }
    let mut last_trusted = peer;
    let hops = chain
        .iter()
        .rev()
        .flat_map(|value| match std::str::from_utf8(value) {
            Ok(text) => text.rsplit(',').map(Some).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .take(MAX_HOPS);
    for hop in hops {
        match hop.and_then(parse_hop) {
            Some(ip) if is_trusted(ip) => last_trusted = ip,
            Some(ip) => return ip,
            // A trusted proxy wrote something unreadable: believe nothing
            // further left, and count the request as that proxy's.
            None => return last_trusted,
        }
    }
    last_trusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn from(peer: &str, xff: &[&str], trusted: &[&str]) -> IpAddr {
        let chain: Vec<&[u8]> = xff.iter().map(|s| s.as_bytes()).collect();
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| ip(t)).collect();
        client_address(ip(peer), &chain, &trusted)
    }

    #[test]
    fn hops_with_ports_brackets_and_quotes() {
        assert_eq!(parse_hop(" 203.0.113.9 "), Some(ip("203.0.113.9")));
        assert_eq!(parse_hop("203.0.113.9:5555"), Some(ip("203.0.113.9")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("\"203.0.113.9\""), Some(ip("203.0.113.9")));
        assert_eq!(parse_hop("::ffff:192.0.2.1"), Some(ip("192.0.2.1")));
        for bad in [
            "",
            "junk",
            "unknown",
            "1.2.3",
            "1.2.3.4:x",
            "[::1",
            "300.1.1.1",
        ] {
            assert_eq!(parse_hop(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_trusted_peers_are_believed() {
        let t = ["127.0.0.1"];
        assert_eq!(from("10.0.0.5", &["1.2.3.4"], &t), ip("10.0.0.5"));
        assert_eq!(from("127.0.0.1", &["1.2.3.4"], &t), ip("1.2.3.4"));
        assert_eq!(from("127.0.0.1", &[], &t), ip("127.0.0.1"));
        assert_eq!(
            from("127.0.0.1", &["6.6.6.6, 1.2.3.4, 127.0.0.1"], &t),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn client_written_garbage_left_of_the_real_hop_changes_nothing() {
        let t = ["127.0.0.1"];
        // An appending proxy: the client's own header, then its real address.
        assert_eq!(
            from("127.0.0.1", &["junk, 203.0.113.9"], &t),
            ip("203.0.113.9")
        );
        assert_eq!(
            from("127.0.0.1", &["junk", "203.0.113.9"], &t),
            ip("203.0.113.9")
        );
        assert_eq!(
            from("127.0.0.1", &["203.0.113.9:5555"], &t),
            ip("203.0.113.9")
        );
        // Garbage the trusted side wrote: the request is the proxy's.
        assert_eq!(from("127.0.0.1", &["1.2.3.4, junk"], &t), ip("127.0.0.1"));
        assert_eq!(
            from(
                "127.0.0.1",
                &["1.2.3.4, junk, 10.0.0.2"],
                &["127.0.0.1", "10.0.0.2"]
            ),
            ip("10.0.0.2")
        );
        let not_text: &[&[u8]] = &[b"1.2.3.4", b"\xff\xfe"];
        assert_eq!(
            client_address(ip("127.0.0.1"), not_text, &[ip("127.0.0.1")]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn mapped_peers_match_a_v4_trusted_list() {
        assert_eq!(
            from("::ffff:127.0.0.1", &["198.51.100.7"], &["127.0.0.1"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            from("127.0.0.1", &["198.51.100.7"], &["::ffff:127.0.0.1"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            from("::ffff:10.0.0.5", &["1.2.3.4"], &["127.0.0.1"]),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn long_chains_are_bounded() {
        let long = vec!["127.0.0.1"; 10_000].join(",");
        assert_eq!(from("127.0.0.1", &[&long], &["127.0.0.1"]), ip("127.0.0.1"));
    }
}
