//! `GET /healthz` and `GET /metrics`: scraped as Prometheus would, with the
//! counts checked as messages flow.

use std::collections::HashMap;

use chat::protocol::{ErrorCode, Event};

use crate::http::{Answer, exchange};
use crate::support::events::{enter, expect, join, message, next_untimed, say};
use crate::support::{TestServer, WsClient, within};

/// One scrape: each sample line's name (with its labels) and value.
pub(crate) struct Scrape(HashMap<String, f64>);

impl Scrape {
    pub(crate) async fn of(server: &TestServer) -> Self {
        let raw = exchange(
            &server.addr(),
            b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        )
        .await;
        let answer = Answer::parse(&raw);
        assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
        assert_eq!(
            answer.header("content-type"),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert_eq!(answer.body.lines().last(), Some("# EOF"), "{}", answer.body);
        let samples = answer
            .body
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                let (name, value) = line
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("bad sample line {line:?}"));
                let value = value
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}"));
                (name.to_owned(), value)
            })
            .collect();
        Self(samples)
    }

    pub(crate) fn get(&self, name: &str) -> f64 {
        match self.0.get(name) {
            Some(value) => *value,
            None => panic!("no sample {name} in {:?}", self.0.keys()),
        }
    }

    /// Scrapes until `ready` holds for the scrape: a counter is bumped just
    /// after its frames are written, so a client may see them first.
    pub(crate) async fn until(
        server: &TestServer,
        what: &str,
        ready: impl Fn(&Scrape) -> bool,
    ) -> Self {
        within(what, async {
            loop {
                let scrape = Scrape::of(server).await;
                if ready(&scrape) {
                    return scrape;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start(&[]).await;
    let raw = exchange(
        &server.addr(),
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
    assert_eq!(answer.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(answer.body, "ok\n");
}

/// Every metric docs/operating.md lists for every server is there, with its `# HELP` and `# TYPE`.
#[tokio::test]
async fn metrics_names_every_figure_with_help_and_type() {
    let server = TestServer::start(&[]).await;
    let raw = exchange(
        &server.addr(),
        b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    let body = Answer::parse(&raw).body;
    for (name, kind) in [
        ("chat_connections", "gauge"),
        ("chat_rooms", "gauge"),
        ("chat_connections_accepted", "counter"),
        ("chat_messages_received", "counter"),
        ("chat_received_bytes", "counter"),
        ("chat_events_delivered", "counter"),
        ("chat_delivered_bytes", "counter"),
        ("chat_gaps", "counter"),
        ("chat_missed_events", "counter"),
        ("chat_rate_limited", "counter"),
        ("chat_closed_for_cause", "counter"),
        ("chat_handshake_seconds", "histogram"),
        ("chat_fanout_seconds", "histogram"),
    ] {
        let type_line = format!("# TYPE {name} {kind}");
        assert!(
            body.lines().any(|l| l == type_line),
            "no {type_line:?} in\n{body}"
        );
        let help = format!("# HELP {name} ");
        assert!(
            body.lines().any(|l| l.starts_with(&help)),
            "no help for {name} in\n{body}"
        );
    }
}

/// Two people, three messages: the counters move by exactly what flowed.
#[tokio::test]
async fn counts_move_as_messages_flow() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "metrics").await;
    let mut bo = enter(&server, "bo", "metrics").await;
    expect(&mut ana, join("metrics", "bo")).await;
    // A frame is counted just after it is written, so the client may read it
    // first: wait for all five (ana's welcome and both joins, bo's welcome
    // and join), or the deliveries below would count the late ones too.
    let before = Scrape::until(&server, "the joins to be counted", |s| {
        s.get("chat_connections") == 2.0 && s.get("chat_events_delivered_total") == 5.0
    })
    .await;
    assert_eq!(before.get("chat_rooms"), 2.0, "the lobby and metrics");
    assert_eq!(before.get("chat_connections_accepted_total"), 2.0);
    assert_eq!(before.get("chat_handshake_seconds_count"), 2.0);
    assert_eq!(before.get("chat_messages_received_total"), 0.0);

    let texts = ["one", "two", "three"];
    for (id, text) in (1..).zip(texts) {
        say(&mut ana, id, "metrics", "ana", text).await;
        expect(&mut bo, message(id, "metrics", "ana", text)).await;
    }
    let delivered = before.get("chat_events_delivered_total") + 6.0;
    let after = Scrape::until(&server, "the deliveries to be counted", |s| {
        s.get("chat_events_delivered_total") >= delivered
    })
    .await;
    assert_eq!(after.get("chat_events_delivered_total"), delivered);
    assert_eq!(after.get("chat_messages_received_total"), 3.0);
    let sent_bytes: usize = texts.iter().map(|t| t.len()).sum();
    assert_eq!(
        after.get("chat_received_bytes_total") - before.get("chat_received_bytes_total"),
        sent_bytes as f64
    );
    assert!(after.get("chat_delivered_bytes_total") > before.get("chat_delivered_bytes_total"));
    assert!(
        after.get("chat_fanout_seconds_count") >= before.get("chat_fanout_seconds_count") + 3.0
    );
    assert_eq!(after.get("chat_gaps_total"), 0.0);

    drop(bo);
    expect(
        &mut ana,
        crate::support::events::leave("metrics", "bo", "disconnected"),
    )
    .await;
    Scrape::until(&server, "bo's connection to be closed", |s| {
        s.get("chat_connections") == 1.0
    })
    .await;
}

/// A dropped message is counted once per `rate_limited` error its sender got.
#[tokio::test]
async fn rate_limited_messages_are_counted() {
    let server = TestServer::start(&["--messages-per-second", "1", "--message-burst", "1"]).await;
    let (mut ana, _) = server.join("ana", "limits").await;
    expect(&mut ana, join("limits", "ana")).await;
    for i in 0..3 {
        ana.send(&format!("quick {i}")).await;
    }
    let mut limited = 0.0;
    within("the three answers", async {
        for _ in 0..3 {
            match next_untimed(&mut ana).await {
                Event::Message { .. } => {}
                Event::Error {
                    code: ErrorCode::RateLimited,
                    ..
                } => limited += 1.0,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert!(limited >= 1.0, "a burst of 1 lets 3 quick messages through");
    let scrape = Scrape::of(&server).await;
    assert_eq!(scrape.get("chat_rate_limited_total"), limited);
}

/// A connection refused because the server is full counts as `overloaded`.
#[tokio::test]
async fn refusals_are_counted_by_cause() {
    let server = TestServer::start(&["--max-connections", "1"]).await;
    let (_ana, _) = server.join("ana", "lobby").await;
    let mut refused = WsClient::connect(&server.url_for("/?name=bo&format=json")).await;
    assert_eq!(
        refused.expect_close().await,
        (1013, "server full, try again later".to_owned())
    );
    let scrape = Scrape::until(&server, "the refusal to be counted", |s| {
        s.get("chat_closed_for_cause_total{cause=\"overloaded\"}") == 1.0
    })
    .await;
    assert_eq!(scrape.get("chat_connections_accepted_total"), 1.0);
    assert_eq!(
        scrape.get("chat_closed_for_cause_total{cause=\"flooding\"}"),
        0.0
    );
}

/// With `--data-dir` the history writer reports its queue: what was said
/// waits there for the next commit, and leaves it once committed.
#[tokio::test]
async fn durable_history_reports_its_queue_and_failed_commits() {
    let dir = crate::support::TempDir::new();
    // One commit a minute: after the first, what is said stays queued.
    let args = ["--data-dir", dir.root(), "--commit-interval", "60000"];
    let server = TestServer::start(&args).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    say(&mut ana, 1, "lobby", "ana", "one").await;
    // Queued before it was broadcast, so counted before ana saw it: 0 now
    // means the writer has taken it for the first commit.
    let committed = Scrape::until(&server, "the first message to be committed", |s| {
        s.get("chat_history_queue_depth") == 0.0
    })
    .await;
    assert_eq!(committed.get("chat_history_failed_commits_total"), 0.0);
    say(&mut ana, 2, "lobby", "ana", "two").await;
    say(&mut ana, 3, "lobby", "ana", "three").await;
    let waiting = Scrape::until(&server, "two messages to wait for the next commit", |s| {
        s.get("chat_history_queue_depth") == 2.0
    })
    .await;
    assert_eq!(waiting.get("chat_history_failed_commits_total"), 0.0);
    assert!(
        !waiting.0.keys().any(|name| name.starts_with("chat_redis")),
        "no Redis, no Redis series: {:?}",
        waiting.0.keys()
    );
}
