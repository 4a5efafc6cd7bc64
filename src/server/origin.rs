//! Which web pages may open a WebSocket here.
//!
//! A browser names the page that opens a WebSocket in the `Origin` header,
//! and any page may try: without a check, a site a person visits could read
//! a chat on their machine and post as them. An upgrade whose `Origin` is
//! present must therefore name the same authority (host, and port unless it
//! is the scheme's default) as the request's `Host`, or one the operator
//! allowed with `--allow-origin`. The scheme is not compared: behind a
//! TLS-terminating proxy the browser says `https://` to a plain server.
//! Clients that send no `Origin` (terminal tools, bots) are not concerned.
//!
//! DNS rebinding makes `Origin` and `Host` agree on an attacker's name that
//! resolves to 127.0.0.1; so a server on a loopback address without a token
//! also requires the page's host to be a loopback name.

use std::fmt;

/// The check, as the flags and the listening address make it.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy {
    /// Authorities allowed besides the request's own (`--allow-origin`).
    allowed: Vec<String>,
    /// `--allow-origin *`: any page.
    any: bool,
    /// Pages must be on localhost, 127.0.0.1 or [::1] (a loopback server
    /// without a token).
    loopback_pages_only: bool,
}

/// Why an upgrade was refused; the body of the 403, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The page is on another site than the one the request went to.
    OtherSite { origin: String },
    /// The page is not on a loopback name, and the server is on loopback.
    NotLoopback { origin: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::OtherSite { origin } => write!(
                f,
                "this chat server does not accept connections from pages of {origin}: \
                 open the chat's own page, or ask its operator to allow that site \
                 (--allow-origin {origin})"
            ),
            Refusal::NotLoopback { origin } => write!(
                f,
                "this chat server listens on this machine only and accepts pages from \
                 localhost, 127.0.0.1 or [::1], not {origin}: open it at one of those, \
                 or ask its operator to allow that site (--allow-origin {origin})"
            ),
        }
    }
}

impl OriginPolicy {
    /// The policy for `allowed` origins (`*` for any; an origin such as
    /// `https://chat.example` or an authority such as `chat.example:8443`),
    /// with pages held to loopback names if `loopback_pages_only`.
    pub(crate) fn new(allowed: &[String], loopback_pages_only: bool) -> Self {
        let any = allowed.iter().any(|entry| entry.trim() == "*");
        let allowed = allowed
            .iter()
            .filter_map(|entry| {
                let entry = entry.trim();
                match entry.split_once("://") {
                    Some(_) => Origin::parse(entry).map(|o| o.authority()),
                    None if !entry.is_empty() => Some(entry.to_ascii_lowercase()),
                    None => None,
                }
            })
            .collect();
        Self {
            allowed,
            any,
            loopback_pages_only,
        }
    }

    /// Whether a request with these `Origin` and `Host` headers may upgrade.
    ///
    /// # Errors
    ///
    /// The [`Refusal`], which says why and what to do.
    pub(crate) fn check(&self, origin: Option<&str>, host: Option<&str>) -> Result<(), Refusal> {
        let Some(raw) = origin else {
            return Ok(());
        };
        if self.any {
            return Ok(());
        }
        let shown = raw.chars().filter(|c| !c.is_control()).take(200).collect();
        // `null` (a sandboxed page, a file) and anything unreadable never match.
        let Some(origin) = Origin::parse(raw) else {
            return Err(Refusal::OtherSite { origin: shown });
        };
        let authority = origin.authority();
        if self.allowed.contains(&authority) {
            return Ok(());
        }
        if host.map(|host| origin.normalise_host(host)) != Some(authority) {
            return Err(Refusal::OtherSite { origin: shown });
        }
        if self.loopback_pages_only && !is_loopback_name(&origin.host) {
            return Err(Refusal::NotLoopback { origin: shown });
        }
        Ok(())
    }
}

/// An `Origin` header's value: `scheme://host[:port]`, lowercased.
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn parse(raw: &str) -> Option<Self> {
        let (scheme, rest) = raw.trim().split_once("://")?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return None;
        }
        let (host, port) = split_port(rest)?;
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn default_port(&self) -> Option<u16> {
        match self.scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        }
    }

    /// `host[:port]`, the port left out when it is the scheme's default.
    fn authority(&self) -> String {
        match self.port {
            Some(port) if Some(port) != self.default_port() => format!("{}:{port}", self.host),
            _ => self.host.clone(),
        }
    }

    /// A `Host` header as this origin's authority would read: lowercased,
    /// without a port that is this origin's scheme's default.
    fn normalise_host(&self, host: &str) -> String {
        match split_port(host.trim()) {
            Some((name, Some(port))) if Some(port) != self.default_port() => {
                format!("{}:{port}", name.to_ascii_lowercase())
            }
            Some((name, _)) => name.to_ascii_lowercase(),
            None => String::new(),
        }
    }
}

/// `host` and its port, for `host`, `host:port`, `[v6]` and `[v6]:port`.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        (host, rest.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => Some(port.parse().ok()?),
        None => None,
    };
    Some((host, port))
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "localhost" | "[::1]")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> OriginPolicy {
        OriginPolicy::new(&[], false)
    }

    fn other(origin: &str) -> Result<(), Refusal> {
        Err(Refusal::OtherSite {
            origin: origin.to_owned(),
        })
    }

    #[test]
    fn no_origin_is_not_a_browser_and_passes() {
        assert_eq!(OriginPolicy::new(&[], true).check(None, None), Ok(()));
    }

    #[test]
    fn the_page_s_own_origin_passes_whatever_the_scheme_and_case() {
        let policy = open();
        for (origin, host) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("https://chat.example", "chat.example"),
            ("https://Chat.Example", "chat.example:443"),
            // A TLS-terminating proxy: the browser says https, the server is plain.
            ("https://chat.example", "CHAT.example"),
            ("http://[::1]:8080", "[::1]:8080"),
            ("http://localhost", "localhost:80"),
        ] {
            assert_eq!(
                policy.check(Some(origin), Some(host)),
                Ok(()),
                "{origin} {host}"
            );
        }
    }

    #[test]
    fn another_site_or_port_is_refused() {
        let policy = open();
        assert_eq!(
            policy.check(Some("https://evil.example"), Some("127.0.0.1:8080")),
            other("https://evil.example")
        );
        assert_eq!(
            policy.check(Some("http://127.0.0.1:9999"), Some("127.0.0.1:8080")),
            other("http://127.0.0.1:9999")
        );
        assert_eq!(
            policy.check(Some("https://chat.example:8443"), Some("chat.example")),
            other("https://chat.example:8443")
        );
        assert_eq!(
            policy.check(Some("null"), Some("127.0.0.1:8080")),
            other("null")
        );
        assert_eq!(
            policy.check(Some("http://127.0.0.1:8080"), None),
            other("http://127.0.0.1:8080")
        );
    }

    #[test]
    fn allow_origin_names_sites_by_origin_or_authority_or_all() {
        let policy = OriginPolicy::new(
            &[
                "https://app.example".to_owned(),
                "tool.example:8443".to_owned(),
            ],
            true,
        );
        let host = Some("127.0.0.1:8080");
        assert_eq!(policy.check(Some("https://app.example"), host), Ok(()));
        assert_eq!(
            policy.check(Some("http://APP.example:443"), host),
            other("http://APP.example:443")
        );
        assert_eq!(
            policy.check(Some("https://tool.example:8443"), host),
            Ok(())
        );
        assert_eq!(
            policy.check(Some("https://evil.example"), host),
            other("https://evil.example")
        );
        let any = OriginPolicy::new(&["*".to_owned()], true);
        assert_eq!(any.check(Some("https://evil.example"), host), Ok(()));
    }

    #[test]
    fn a_loopback_server_without_a_token_takes_loopback_pages_only() {
        let policy = OriginPolicy::new(&[], true);
        for (origin, host) in [
            ("http://localhost:8080", "localhost:8080"),
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://[::1]:8080", "[::1]:8080"),
        ] {
            assert_eq!(policy.check(Some(origin), Some(host)), Ok(()), "{origin}");
        }
        // DNS rebinding: the attacker's name resolves to 127.0.0.1, so
        // Origin and Host agree.
        assert_eq!(
            policy.check(
                Some("http://rebind.example:8080"),
                Some("rebind.example:8080")
            ),
            Err(Refusal::NotLoopback {
                origin: "http://rebind.example:8080".to_owned()
            })
        );
        let allowed = OriginPolicy::new(&["http://rebind.example:8080".to_owned()], true);
        assert_eq!(
            allowed.check(
                Some("http://rebind.example:8080"),
                Some("rebind.example:8080")
            ),
            Ok(())
        );
    }

    #[test]
    fn a_refusal_is_one_line_without_controls() {
        let refusal = open()
            .check(Some("https://e\u{1b}]0;x\u{7}vil.example\n"), Some("h"))
            .unwrap_err()
            .to_string();
        assert!(!refusal.chars().any(char::is_control), "{refusal:?}");
    }
}
