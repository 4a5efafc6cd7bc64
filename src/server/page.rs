//! The chat page for browsers: one HTML file, its script and style inline,
//! embedded in the binary and served at `/` and `/ROOM` on the chat's port.
//!
//! The page speaks the JSON format over a WebSocket to the same host. Its
//! Content-Security-Policy allows exactly its own inline script and style (by
//! their SHA-256 hashes, not `'unsafe-inline'`) and connections back to this
//! host: should some text ever reach the page as markup, nothing in it runs
//! and nothing is fetched.

use std::sync::LazyLock;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::protocol::is_valid_room;

/// The page itself.
const PAGE: &str = include_str!("page.html");

/// Whether `path` is where the page is served: `/`, or `/ROOM` for a valid room name.
pub(super) fn is_page_path(path: &str) -> bool {
    path == "/" || path.strip_prefix('/').is_some_and(is_valid_room)
}

/// Whether a request's `Accept` header asks for HTML, as a browser's
/// navigation does (curl and WebSocket tools ask for `*/*` or nothing).
pub(super) fn accepts_html(accept: Option<&HeaderValue>) -> bool {
    accept.and_then(|v| v.to_str().ok()).is_some_and(|accept| {
        accept.split(',').any(|range| {
            let media = range.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("text/html")
                || media.eq_ignore_ascii_case("application/xhtml+xml")
        })
    })
}

/// The page, for a request that named `host` (an authority already checked
/// to be well-formed, if any).
pub(super) fn response(host: Option<&str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&content_security_policy(host))
            .expect("the policy is built from hashes and a checked authority"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The policy: nothing but the page's own script and style, and connections
/// to this host (the WebSocket, and the page's reachability probe).
fn content_security_policy(host: Option<&str>) -> String {
    static INLINE: LazyLock<(String, String)> = LazyLock::new(|| {
        (
            sha256_source(inline_block(PAGE, "script")),
            sha256_source(inline_block(PAGE, "style")),
        )
    });
    let (script, style) = &*INLINE;
    // CSP level 3 lets 'self' cover ws: and wss: to the same host; naming
    // the host as well serves browsers that predate that.
    let connect = host.map_or_else(String::new, |h| format!(" ws://{h} wss://{h}"));
    format!(
        "default-src 'none'; script-src {script}; style-src {style}; \
         connect-src 'self'{connect}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// The text between `<TAG>` and `</TAG>` in `page`: what a browser hashes.
fn inline_block<'a>(page: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = page.find(&open).expect("the page has its inline block") + open.len();
    let len = page[start..]
        .find(&close)
        .expect("the inline block is closed");
    &page[start..start + len]
}

/// A CSP hash source, `'sha256-BASE64'`, for `text`.
fn sha256_source(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!("'sha256-{encoded}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_served_at_the_root_and_at_room_names_only() {
        for path in ["/", "/lobby", "/rust", "/a-b_C9"] {
            assert!(is_page_path(path), "{path}");
        }
        for path in [
            "",
            "/lobby/",
            "//",
            "/a/b",
            "/no such",
            "/%3Cb%3E",
            "/favicon.ico",
        ] {
            assert!(!is_page_path(path), "{path}");
        }
    }

    #[test]
    fn html_is_asked_for_by_browsers_not_by_curl() {
        let browser = HeaderValue::from_static(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        );
        assert!(accepts_html(Some(&browser)));
        assert!(accepts_html(Some(&HeaderValue::from_static("TEXT/HTML"))));
        assert!(!accepts_html(Some(&HeaderValue::from_static("*/*"))));
        assert!(!accepts_html(None));
    }

    #[test]
    fn each_inline_block_is_found_and_hashed() {
        let page = "<style>a{}</style><script>x</script>";
        assert_eq!(inline_block(page, "style"), "a{}");
        assert_eq!(inline_block(page, "script"), "x");
        // `printf x | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            sha256_source("x"),
            "'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"
        );
    }

    #[test]
    fn the_page_has_one_script_and_one_style_and_no_html_insertion() {
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
        for risky in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!PAGE.contains(risky), "the page uses {risky}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        // Its links are made from what people write, at run time; the page
        // itself names no resource to fetch (and its policy would refuse one).
        for fetch in [
            "<link",
            "<img",
            "<iframe",
            " src=",
            "@import",
            "url(",
            "fetch('http",
        ] {
            assert!(!PAGE.contains(fetch), "the page has {fetch}");
        }
    }
}
