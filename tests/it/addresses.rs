//! Whose connection it is: `--max-connects-per-second` per address, and
//! `--trusted-proxy`, from whose peers alone `X-Forwarded-For` is believed
//! (issue 16, item 12).

use std::time::Duration;

use chat::config::Limits;

use crate::http::{Answer, SWITCHING, exchange, status_of};
use crate::support::TestServer;
use crate::support::inprocess::InProcess;
use crate::support::raw_ws::upgrade_request_with;

const TOO_MANY: &str = "HTTP/1.1 429 Too Many Requests";
/// The body of the 429 answer with a limit of 5.
const TOO_MANY_BODY: &str =
    "too many connections from your address: at most 5 a second; slow down and connect again\n";

/// An upgrade request that says it was forwarded for `forwarded_for`, if given.
fn upgrade(addr: &str, forwarded_for: Option<&str>) -> Vec<u8> {
    let request = upgrade_request_with(addr, "/lobby?format=json", "13");
    match forwarded_for {
        Some(xff) => request.replacen(
            "\r\n\r\n",
            &format!("\r\nX-Forwarded-For: {xff}\r\n\r\n"),
            1,
        ),
        None => request,
    }
    .into_bytes()
}

/// With a limit of 5 a second, the sixth upgrade within the second gets 429
/// saying to slow down (counted as a cause), and a second later the address
/// may connect again.
#[tokio::test(start_paused = true)]
async fn issue_16_the_sixth_connection_within_a_second_gets_429() {
    let server = InProcess::start(Limits {
        max_connects_per_second: 5,
        ..Limits::default()
    })
    .await;
    let addr = server.addr();
    for attempt in 1..=5 {
        assert_eq!(
            status_of(&addr, &upgrade(&addr, None)).await,
            SWITCHING,
            "attempt {attempt}"
        );
    }
    let answer = Answer::parse(&exchange(&addr, &upgrade(&addr, None)).await);
    assert_eq!(answer.status_line, TOO_MANY);
    assert_eq!(answer.body, TOO_MANY_BODY);
    let metrics = exchange(&addr, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
    assert!(
        String::from_utf8_lossy(&metrics)
            .contains("chat_closed_for_cause_total{cause=\"connect_rate\"} 1\n"),
        "the refusal is counted"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(status_of(&addr, &upgrade(&addr, None)).await, SWITCHING);
}

/// Without `--trusted-proxy`, `X-Forwarded-For` is ignored: six upgrades
/// each claiming another address still come from one, and the sixth gets 429.
#[tokio::test(start_paused = true)]
async fn issue_16_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = InProcess::start(Limits {
        max_connects_per_second: 5,
        ..Limits::default()
    })
    .await;
    let addr = server.addr();
    for n in 1..=5 {
        let claimed = format!("203.0.113.{n}");
        assert_eq!(
            status_of(&addr, &upgrade(&addr, Some(&claimed))).await,
            SWITCHING,
            "{claimed}"
        );
    }
    assert_eq!(
        status_of(&addr, &upgrade(&addr, Some("203.0.113.6"))).await,
        TOO_MANY
    );
}

/// Behind a trusted proxy, each forwarded address gets its own 5 a second:
/// two clients' first five upgrades all succeed, and each then gets a 429.
#[tokio::test]
async fn issue_16_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit() {
    let server = TestServer::start(&[
        "--max-connects-per-second",
        "5",
        "--trusted-proxy",
        "127.0.0.1/32",
    ])
    .await;
    let addr = server.addr();
    for client in ["203.0.113.7", "198.51.100.1, 203.0.113.8"] {
        let mut statuses = Vec::new();
        // On the wall clock: within a second for sure the first five, and
        // the others in a quick loop, at least one of them within it.
        for _ in 0..20 {
            statuses.push(status_of(&addr, &upgrade(&addr, Some(client))).await);
        }
        assert!(
            statuses[..5].iter().all(|s| s == SWITCHING),
            "{client}: {statuses:?}"
        );
        assert!(
            statuses.iter().any(|s| s == TOO_MANY),
            "{client}: {statuses:?}"
        );
    }
}

/// A malformed `--trusted-proxy` stops the server at once with a line that
/// shows the form to use.
#[tokio::test]
async fn issue_16_a_malformed_trusted_proxy_is_refused_with_an_example() {
    let run = crate::support::run_server(&["--trusted-proxy", "10.0.0.0/33"], &[]).await;
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "'10.0.0.0/33' is not an address block: write ADDRESS/PREFIX, e.g. 127.0.0.1/32"
        ),
        "{}",
        run.stderr
    );
}
