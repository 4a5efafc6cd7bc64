//! Whose connection this is: the client's address, as per-address limits and
//! bans see it.
//!
//! The TCP peer is the client, unless the peer is one of the reverse proxies
//! named with `--trusted-proxy`: then the client is the right-most address
//! of `X-Forwarded-For` that is not itself a trusted proxy (each proxy
//! appends the address it saw, so everything to the left of the last
//! untrusted hop is whatever that hop chose to send). `X-Forwarded-For` from
//! any other peer is ignored: anyone can write one. Pure: no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// A block of addresses, `ADDRESS/PREFIX` (`10.0.0.0/8`, `fd00::/8`), or one
/// address alone (a /32 or a /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The block's first address (the bits past the prefix are cleared).
    network: IpAddr,
    prefix: u8,
}

/// Why a `--trusted-proxy` value is not a CIDR block.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "'{0}' is not an address block: write ADDRESS/PREFIX, e.g. 127.0.0.1/32, 10.0.0.0/8 or fd00::/8"
)]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let refuse = || CidrError(text.to_owned());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| refuse())?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            // Digits only: `u8::from_str` takes a leading `+`.
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| refuse())?
            }
            Some(_) => return Err(refuse()),
            None => bits,
        };
        if prefix > bits {
            return Err(refuse());
        }
        Ok(Self {
            network: masked(address, prefix),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// Whether `address` is in the block. An IPv4 address written as IPv6
    /// (`::ffff:10.0.0.1`, as a dual-stack socket reports it) counts as IPv4.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        address.is_ipv4() == self.network.is_ipv4() && masked(address, self.prefix) == self.network
    }
}

/// `address` with every bit past the first `prefix` cleared.
fn masked(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`).
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub(crate) fn new(blocks: &[Cidr]) -> Self {
        Self(blocks.to_vec())
    }

    pub(crate) fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(address))
    }

    /// The client's address, for a connection from `peer` whose request
    /// carried the `X-Forwarded-For` lines `forwarded_for` (in order).
    ///
    /// From an untrusted peer, the peer. From a trusted one, the right-most
    /// forwarded address that is not a trusted proxy; if every one is, the
    /// left-most (the farthest hop known); with none, or an entry that is not
    /// an address where the answer should be (a proxy that did not append
    /// what it saw), the peer.
    pub(crate) fn client_address(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut farthest = peer;
        for entry in forwarded_for.iter().rev().flat_map(|line| line.rsplit(',')) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let Some(address) = parse_forwarded(entry) else {
                return peer;
            };
            if !self.trusts(address) {
                return address;
            }
            farthest = address;
        }
        farthest
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`203.0.113.7:51000`, `[2001:db8::1]:51000`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

/// The key per-address limits count under: an IPv4 address itself, an IPv6
/// address its /64 (one subscriber usually holds a whole /64, and can pick
/// a new address in it for every connection).
pub(crate) fn key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(blocks: &[&str]) -> TrustedProxies {
        let blocks: Vec<Cidr> = blocks.iter().map(|b| b.parse().unwrap()).collect();
        TrustedProxies::new(&blocks)
    }

    /// Blocks parse as ADDRESS/PREFIX or one address, and hold exactly their addresses (IPv4-mapped IPv6 as IPv4).
    #[test]
    fn cidrs_parse_and_contain() {
        let loopback: Cidr = "127.0.0.1/32".parse().unwrap();
        assert!(loopback.contains(ip("127.0.0.1")));
        assert!(loopback.contains(ip("::ffff:127.0.0.1")));
        assert!(!loopback.contains(ip("127.0.0.2")));
        let ten: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(ten.to_string(), "10.0.0.0/8");
        assert!(ten.contains(ip("10.255.0.1")));
        assert!(!ten.contains(ip("11.0.0.1")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fdab::1")));
        assert!(!v6.contains(ip("fe80::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.7")));
        assert!(!all.contains(ip("2001:db8::1")));
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
    }

    /// Anything but ADDRESS/PREFIX with a prefix in range is refused, with the form to use.
    #[test]
    fn malformed_cidrs_are_refused_with_an_example() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "host/8",
            "10.0.0/8",
        ] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(err.to_string().contains("127.0.0.1/32"), "{bad}: {err}");
        }
    }

    /// A peer that is not a trusted proxy is the client, whatever its `X-Forwarded-For` says.
    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["127.0.0.1/32"]);
        assert_eq!(
            trusted.client_address(ip("198.51.100.1"), &["203.0.113.7"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            proxies(&[]).client_address(ip("127.0.0.1"), &["203.0.113.7"]),
            ip("127.0.0.1")
        );
    }

    /// From a trusted proxy, the right-most forwarded address that is not a proxy is the client.
    #[test]
    fn from_a_trusted_peer_the_right_most_untrusted_address_is_the_client() {
        let trusted = proxies(&["127.0.0.1/32", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        assert_eq!(
            trusted.client_address(peer, &["203.0.113.7"]),
            ip("203.0.113.7")
        );
        // The client's own claim (1.2.3.4) is to the left of what our proxies saw.
        assert_eq!(
            trusted.client_address(peer, &["1.2.3.4, 203.0.113.7, 10.0.0.5"]),
            ip("203.0.113.7")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            trusted.client_address(peer, &["1.2.3.4", "203.0.113.7:5100", "10.0.0.5"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            trusted.client_address(peer, &["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        // Only proxies: the farthest one; nothing forwarded: the peer.
        assert_eq!(
            trusted.client_address(peer, &["10.0.0.9, 10.0.0.5"]),
            ip("10.0.0.9")
        );
        assert_eq!(trusted.client_address(peer, &[]), peer);
        // Garbage where our proxy should have written an address: the peer.
        assert_eq!(
            trusted.client_address(peer, &["203.0.113.7, unknown"]),
            peer
        );
    }

    /// Limits count an IPv6 address per /64 and an IPv4 address alone.
    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        assert_eq!(key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(key(ip("2001:db8:1:2:ffff::9")), key(ip("2001:db8:1:2::1")));
        assert_ne!(key(ip("2001:db8:1:3::1")), key(ip("2001:db8:1:2::1")));
        assert_eq!(key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }
}
