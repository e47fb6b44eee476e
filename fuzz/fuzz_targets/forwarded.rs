//! The `X-Forwarded-For` readers of `patrol_core::forwarded`: `parse_hop` and
//! `client_address`.
//!
//! Input: a first line of addresses, the TCP peer then the trusted proxies
//! (invalid words are skipped; without any, the peer is 127.0.0.1 and trusted;
//! with only a peer, it is trusted), then one `X-Forwarded-For` value per line
//! (any bytes).
//!
//! Beyond "no panic": a hop that parses is canonical, at most 64 characters
//! once trimmed, and reparses from its own text (also with a port); the client
//! address is canonical, is the peer when the peer is not trusted, and is
//! otherwise the peer or an address written in the chain; garbage to the left
//! of the chain never changes it, neither does one more trusted hop on the
//! right, and nothing beyond `MAX_HOPS` hops from the right is read.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use patrol_core::forwarded::{client_address, parse_hop, MAX_HOPS};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let addresses: Vec<IpAddr> = lines
        .next()
        .map(String::from_utf8_lossy)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (peer, trusted) = match addresses.split_first() {
        None => (localhost, vec![localhost]),
        Some((&peer, [])) => (peer, vec![peer]),
        Some((&peer, rest)) => (peer, rest.to_vec()),
    };
    let chain: Vec<&[u8]> = lines.collect();
    check(peer, &chain, &trusted, data.len().is_multiple_of(2));
});

/// The hops of a chain as `client_address` sees them (left to right): a value
/// that is not UTF-8 is one unreadable hop.
fn hops<'a>(chain: &[&'a [u8]]) -> Vec<Option<&'a str>> {
    chain
        .iter()
        .flat_map(|v| match std::str::from_utf8(v) {
            Ok(t) => t.split(',').map(Some).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect()
}

fn check(peer: IpAddr, chain: &[&[u8]], trusted: &[IpAddr], with_port: bool) {
    let all_hops = hops(chain);
    for hop in all_hops.iter().flatten() {
        check_hop(hop);
    }

    let client = client_address(peer, chain, trusted);
    assert_eq!(client.to_canonical(), client, "not canonical: {client}");
    let peer_c = peer.to_canonical();
    let is_trusted = |ip: IpAddr| {
        trusted
            .iter()
            .any(|t| t.to_canonical() == ip.to_canonical())
    };
    if !is_trusted(peer) {
        assert_eq!(client, peer_c, "an untrusted peer's chain was read");
    } else if client != peer_c {
        assert!(
            all_hops
                .iter()
                .flatten()
                .any(|h| parse_hop(h) == Some(client)),
            "{client} is neither the peer nor in the chain"
        );
    }

    // Client-written garbage on the left changes nothing.
    for junk in [&b"junk"[..], b"\xff\xfe", b"", b"unknown, 1.2.3.4:x"] {
        let mut longer = vec![junk];
        longer.extend_from_slice(chain);
        assert_eq!(client_address(peer, &longer, trusted), client);
    }

    // Beyond MAX_HOPS from the right nothing is read, not even a real address.
    if all_hops.len() >= MAX_HOPS {
        let mut longer: Vec<&[u8]> = vec![b"198.51.100.77"];
        longer.extend_from_slice(chain);
        assert_eq!(client_address(peer, &longer, trusted), client);
    } else if is_trusted(peer) {
        // One more trusted proxy on the right is skipped (when the longer
        // chain still fits in MAX_HOPS).
        let me = if with_port {
            match peer {
                IpAddr::V4(v4) => format!("{v4}:8443"),
                IpAddr::V6(v6) => format!("[{v6}]:8443"),
            }
        } else {
            peer.to_string()
        };
        let mut longer = chain.to_vec();
        longer.push(me.as_bytes());
        assert_eq!(client_address(peer, &longer, trusted), client);
    }
}

fn check_hop(hop: &str) {
    let Some(ip) = parse_hop(hop) else { return };
    assert_eq!(ip.to_canonical(), ip);
    let trimmed = hop.trim().trim_matches('"').trim();
    assert!(trimmed.len() <= 64, "accepted a {}-byte hop", trimmed.len());
    assert_eq!(parse_hop(&ip.to_string()), Some(ip));
    let with_port = match ip {
        IpAddr::V4(v4) => format!("{v4}:65535"),
        IpAddr::V6(v6) => format!("[{v6}]:1"),
    };
    assert_eq!(parse_hop(&with_port), Some(ip));
    assert_eq!(parse_hop(&format!(" \"{ip}\" ")), Some(ip));
}
