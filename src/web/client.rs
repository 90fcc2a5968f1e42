//! Which address a request comes from, for the login limits.
//!
//! The connection's peer, unless that peer is one of `web.trusted_proxies`
//! (a load balancer in front of Scoot): then the `X-Forwarded-For` chain
//! is read from the right, skipping the trusted proxies, and the first
//! address that is not one of them is the client. Addresses further left
//! were written by the client itself and are never believed.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use warp::{Filter, Rejection};

use super::server::Peer;
use super::state::AppState;

/// The client's address (`0.0.0.0` where the connection's is unknown, as
/// in warp's own test requests).
pub fn client(s: &AppState) -> impl Filter<Extract = (IpAddr,), Error = Rejection> + Clone + use<> {
    let s = s.clone();
    warp::ext::optional::<Peer>()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .map(move |peer: Option<Peer>, forwarded: Option<String>| {
            let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
            client_of(peer, forwarded.as_deref(), &s.trusted_proxies)
        })
}

/// The client behind `peer`, given what `X-Forwarded-For` says.
fn client_of(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let trusts = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !trusts(&peer) {
        return peer;
    }
    let Some(chain) = forwarded else {
        return peer;
    };
    let mut nearest = peer;
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusts(&ip) => nearest = ip,
            Ok(ip) => return ip,
            // A hop we cannot read: the last trusted proxy is all we know.
            Err(_) => return nearest,
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ];
        let chain = Some("203.0.113.9, 198.51.100.4, 10.1.2.3");
        // From the balancer: the nearest untrusted hop, not the leftmost
        // (which the client could have written).
        assert_eq!(
            client_of(ip("127.0.0.1"), chain, &trusted),
            ip("198.51.100.4")
        );
        // From anyone else: the peer, whatever the header says.
        assert_eq!(client_of(ip("192.0.2.5"), chain, &trusted), ip("192.0.2.5"));
        assert_eq!(client_of(ip("127.0.0.1"), None, &trusted), ip("127.0.0.1"));
        assert_eq!(
            client_of(ip("127.0.0.1"), Some("10.0.0.1, 10.0.0.2"), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_of(ip("127.0.0.1"), Some("junk, 10.0.0.2"), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(client_of(ip("127.0.0.1"), chain, &[]), ip("127.0.0.1"));
    }
}
