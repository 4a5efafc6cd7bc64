//! The chat page in a real headless Chromium, driven over WebDriver
//! (chromedriver, through fantoccini): two pages and the real `client`
//! binary in one room, hostile markup, a server restart, a resume past what
//! history holds (through the TCP proxy of `support::proxy`), the token.
//!
//! Without chromedriver (Debian: `chromium chromium-driver`) the test says it
//! is skipped and returns, unless `CHAT_REQUIRE_BROWSER=1` (set by `.ci/run`),
//! which turns a missing browser into a failure.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::client::RunningClient;
use crate::support::proxy::Proxy;
use crate::support::{TempDir, TestServer, within};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest a page may take to show something. Longer than the other
/// tests' bound: a reconnecting page waits out its backoff (seconds) first.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a condition on the page is looked at again while waited for.
const POLL: Duration = Duration::from_millis(50);
/// A name that is markup: it must show as these characters, never as an image.
const MARKUP_NAME: &str = "<img src=x onerror=alert(1)>";

/// A line of a page's log, as a person reads it (its time left out).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Line {
    /// The line's classes: `message mine`, `notice join`, `gap`, `error`, ….
    kind: String,
    text: String,
}

/// The script that reads a page's log.
const READ_LOG: &str = "return Array.from(document.querySelectorAll('#log li')).map((li) => ({
    kind: li.className,
    text: li.textContent.slice(li.querySelector('time').textContent.length + 1),
}));";

/// chromedriver and one Chromium session, ended when dropped.
struct Browser {
    driver: Child,
    client: Client,
    /// Removed after the processes are ended (fields drop after `drop`).
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session,
    /// or returns `None` (having said why) when chromedriver is not installed
    /// and a browser is not required.
    async fn start() -> Option<Self> {
        Self::start_with(&[]).await
    }

    /// [`Browser::start`], with `extra` Chromium flags.
    async fn start_with(extra: &[&str]) -> Option<Self> {
        if !Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var("CHAT_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "CHAT_REQUIRE_BROWSER=1 but {CHROMEDRIVER} is missing \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "SKIPPED: the browser test needs {CHROMEDRIVER} \
                 (apt-get install chromium chromium-driver); CHAT_REQUIRE_BROWSER=1 makes this a failure"
            );
            return None;
        }
        // chromedriver has no port 0: take a free port and hand it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // A process group of its own, which Chromium joins: a failed test
        // ends them all (see the Drop), not only chromedriver.
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut lines = BufReader::new(driver.stdout.take().expect("stdout is piped")).lines();
        within("chromedriver to start", async {
            while let Some(line) = lines.next_line().await.expect("reading chromedriver") {
                if line.contains("started successfully") {
                    return;
                }
            }
            panic!("chromedriver exited before it started");
        })
        .await;
        // Keep reading, so that chromedriver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        // A profile of its own per session: Chromium hands a second start on
        // the same profile over to the first.
        let profile = TempDir::new();
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-breakpad",
            "--disable-crash-reporter",
            // Both windows stay live: no timer throttling for the one behind.
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--window-size=1000,700",
        ]
        .iter()
        .chain(extra)
        .map(|flag| flag.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.root()));
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = within(
            "a Chromium session",
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("a Chromium session through chromedriver");
        Some(Self {
            driver,
            client,
            _profile: profile,
        })
    }

    /// The window open at the start, showing `url`.
    async fn first_page(&self, url: &str) -> Page {
        let window = self.client.window().await.expect("the first window");
        let page = Page { window };
        self.goto(&page, url).await;
        page
    }

    /// A new window showing `url`.
    async fn new_page(&self, url: &str) -> Page {
        let created = self.client.new_window(false).await.expect("a new window");
        let page = Page {
            window: created.handle,
        };
        self.goto(&page, url).await;
        page
    }

    async fn goto(&self, page: &Page, url: &str) {
        self.focus(page).await;
        within(&format!("loading {url}"), self.client.goto(url))
            .await
            .expect("loading the page");
    }

    async fn focus(&self, page: &Page) {
        self.client
            .switch_to_window(page.window.clone())
            .await
            .expect("switching windows");
    }

    /// Runs `script` in `page` and returns what it returns.
    async fn run(&self, page: &Page, script: &str) -> Value {
        self.focus(page).await;
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("running {script:?}: {err}"))
    }

    /// The page's log, line by line.
    async fn log(&self, page: &Page) -> Vec<Line> {
        serde_json::from_value(self.run(page, READ_LOG).await).expect("the log's lines")
    }

    /// Polls `page` until `script` returns true.
    async fn wait_until(&self, page: &Page, what: &str, script: &str) {
        let ready = async {
            while self.run(page, script).await != Value::Bool(true) {
                tokio::time::sleep(POLL).await;
            }
        };
        if tokio::time::timeout(PAGE_TIMEOUT, ready).await.is_err() {
            let log = self.log(page).await;
            panic!("timed out after {PAGE_TIMEOUT:?} waiting for {what}; the page's log: {log:#?}");
        }
    }

    /// Waits until the page's log has a line reading `text`.
    async fn wait_for_line(&self, page: &Page, text: &str) {
        let script = format!(
            "{READ_LOG_FN} return lines().some((l) => l.text === {});",
            json!(text)
        );
        self.wait_until(page, &format!("the line {text:?}"), &script)
            .await;
    }

    /// Waits until the status line is in `state` (`connected`, `reconnecting`).
    async fn wait_for_state(&self, page: &Page, state: &str) {
        let script = format!(
            "return document.getElementById('status').dataset.state === {};",
            json!(state)
        );
        self.wait_until(page, &format!("the state {state:?}"), &script)
            .await;
    }

    /// Text and `data-state` of the status line.
    async fn status(&self, page: &Page) -> (String, String) {
        let value = self
            .run(
                page,
                "const s = document.getElementById('status'); return [s.textContent, s.dataset.state];",
            )
            .await;
        serde_json::from_value(value).expect("the status")
    }

    /// Waits for the name form, and returns the error it shows.
    async fn asked_for_name(&self, page: &Page) -> String {
        self.asked_for(page, "name").await
    }

    /// Waits for the form to ask for `what` (`name` or `token`), and returns
    /// the error it shows.
    async fn asked_for(&self, page: &Page, what: &str) -> String {
        let script = format!(
            "const ask = document.getElementById('ask'); \
             return !ask.hidden && ask.dataset.what === {};",
            json!(what)
        );
        self.wait_until(page, &format!("the form asking for a {what}"), &script)
            .await;
        let error = self
            .run(
                page,
                "return document.getElementById('ask-error').textContent;",
            )
            .await;
        error.as_str().expect("text").to_owned()
    }

    /// Types `name` into the name form and submits it.
    async fn give_name(&self, page: &Page, name: &str) {
        self.focus(page).await;
        let field = self
            .client
            .find(Locator::Css("#ask-name"))
            .await
            .expect("the name field");
        field.clear().await.expect("clearing the name field");
        field.send_keys(name).await.expect("typing a name");
        self.click(page, "#ask-form button").await;
    }

    /// Types `token` into the token form and submits it.
    async fn give_token(&self, page: &Page, token: &str) {
        self.focus(page).await;
        let field = self
            .client
            .find(Locator::Css("#ask-token"))
            .await
            .expect("the token field");
        field.send_keys(token).await.expect("typing a token");
        self.click(page, "#ask-form button").await;
    }

    /// Types `text` into the message box and sends it.
    async fn say(&self, page: &Page, text: &str) {
        self.focus(page).await;
        let field = self
            .client
            .find(Locator::Css("#text"))
            .await
            .expect("the message box");
        field.send_keys(text).await.expect("typing a message");
        self.click(page, "#say button").await;
    }

    async fn click(&self, page: &Page, selector: &str) {
        self.focus(page).await;
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|err| panic!("finding {selector}: {err}"))
            .click()
            .await
            .unwrap_or_else(|err| panic!("clicking {selector}: {err}"));
    }

    /// How many `img` elements the page has (it has none of its own).
    async fn images(&self, page: &Page) -> u64 {
        self.run(page, "return document.querySelectorAll('img').length;")
            .await
            .as_u64()
            .expect("a count")
    }

    async fn people(&self, page: &Page) -> Vec<String> {
        let value = self
            .run(
                page,
                "return Array.from(document.querySelectorAll('#names li')).map((li) => li.textContent);",
            )
            .await;
        serde_json::from_value(value).expect("the names")
    }

    async fn end(mut self) {
        let _ = within("the browser session to end", self.client.clone().close()).await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a failure the session was never closed: end chromedriver's
        // process group, Chromium with it.
        if let Some(group) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
        }
    }
}

/// The same log reader, as a function for scripts that filter it.
const READ_LOG_FN: &str =
    "const lines = () => Array.from(document.querySelectorAll('#log li')).map((li) => ({
    kind: li.className,
    text: li.textContent.slice(li.querySelector('time').textContent.length + 1),
}));";

/// One browser window with the page.
struct Page {
    window: WindowHandle,
}

/// The lines people said (messages, actions, private messages), in order.
fn said(log: &[Line]) -> Vec<String> {
    log.iter()
        .filter(|l| {
            l.kind.starts_with("message") || l.kind.starts_with("action") || l.kind == "private"
        })
        .map(|l| l.text.clone())
        .collect()
}

/// Two pages and a terminal client in one room: each one's messages reach
/// the other two in order, markup from a URL and from others stays text, and
/// after a server restart the pages reconnect and show what is said.
#[tokio::test]
async fn two_pages_and_a_terminal_client_chat_and_survive_a_restart() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let port = server.port;
    let room_url = format!("http://127.0.0.1:{port}/testroom");

    // ana's first visit: the page asks for a name.
    let ana = browser.first_page(&room_url).await;
    assert_eq!(browser.asked_for_name(&ana).await, "");
    browser.give_name(&ana, "ana").await;
    browser
        .wait_for_line(&ana, "you are ana in testroom; type /help for commands")
        .await;
    browser.wait_for_state(&ana, "connected").await;
    assert_eq!(
        browser.status(&ana).await,
        ("ana in testroom".to_owned(), "connected".to_owned())
    );

    // A link that names someone with markup: the server refuses the name and
    // echoes it, and the page shows it as the characters it is.
    let link = format!("{room_url}?name=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E");
    let bo = browser.new_page(&link).await;
    let refusal = format!("invalid name '{MARKUP_NAME}': use 1 to 24 letters, digits, '_' or '-'");
    assert_eq!(browser.asked_for_name(&bo).await, refusal);
    browser.wait_for_line(&bo, &format!("! {refusal}")).await;
    // Typed into the form, the page itself refuses it, again as text.
    browser.give_name(&bo, MARKUP_NAME).await;
    assert_eq!(browser.asked_for_name(&bo).await, refusal);
    // A name someone has: the server says so, and the page asks again.
    browser.give_name(&bo, "ana").await;
    browser
        .wait_until(
            &bo,
            "the name form to say ana is taken",
            "return document.getElementById('ask-error').textContent.startsWith(\"the name 'ana' is taken\")",
        )
        .await;
    browser.give_name(&bo, "bo").await;
    browser.wait_for_state(&bo, "connected").await;
    browser
        .wait_until(
            &bo,
            "bo's name in the status",
            "return document.getElementById('status').textContent === 'bo in testroom';",
        )
        .await;
    assert_eq!(browser.images(&bo).await, 0, "markup became an element");

    // cy, in a terminal.
    let mut cy = RunningClient::start(&[
        "--port",
        &port.to_string(),
        "--name",
        "cy",
        "--room",
        "testroom",
    ]);
    cy.wait_for_line("-> cy joined testroom").await;
    browser.wait_for_line(&ana, "→ cy joined testroom").await;
    browser.wait_for_line(&bo, "→ cy joined testroom").await;
    assert_eq!(browser.people(&ana).await, ["ana", "bo", "cy"]);

    // Each one's message reaches the other two.
    browser.say(&ana, "hello from ana").await;
    cy.wait_for_line("ana: hello from ana").await;
    browser.wait_for_line(&bo, "ana: hello from ana").await;
    browser.say(&bo, "hello from bo").await;
    cy.wait_for_line("bo: hello from bo").await;
    browser.wait_for_line(&ana, "bo: hello from bo").await;
    let markup = "<b>bold?</b> <img src=x onerror=alert(2)>";
    for line in ["hello from cy", "/me waves", markup, "/msg ana psst"] {
        cy.type_line(line).await;
    }
    cy.wait_for_line("[private to ana] cy: psst").await;
    browser.wait_for_line(&ana, "[private] cy: psst").await;
    browser.wait_for_line(&bo, &format!("cy: {markup}")).await;

    let before = [
        "ana: hello from ana",
        "bo: hello from bo",
        "cy: hello from cy",
        "* cy waves",
        &format!("cy: {markup}"),
    ];
    let ana_log = browser.log(&ana).await;
    let mut ana_expected: Vec<String> = before.iter().map(|s| (*s).to_owned()).collect();
    ana_expected.push("[private] cy: psst".to_owned());
    assert_eq!(said(&ana_log), ana_expected);
    assert!(
        ana_log
            .iter()
            .any(|l| l.kind == "message mine" && l.text == "ana: hello from ana"),
        "ana's own message is not marked as hers: {ana_log:#?}"
    );
    assert_eq!(said(&browser.log(&bo).await), before);
    assert_eq!(browser.images(&ana).await, 0, "markup became an element");
    assert_eq!(browser.images(&bo).await, 0, "markup became an element");

    // The server restarts on the same port, with an empty history.
    drop(server);
    for page in [&ana, &bo] {
        browser.wait_for_state(page, "reconnecting").await;
        assert_eq!(
            browser.status(page).await,
            ("reconnecting…".to_owned(), "reconnecting".to_owned())
        );
    }
    let _server = TestServer::start_on("127.0.0.1", port, &[]).await;
    // cy comes back by itself and speaks on the new server, whether or not
    // the pages are back yet: a page resuming with `since` above every id
    // of the new server gets the new history whole, and no gap.
    cy.type_line("back after the restart").await;
    cy.wait_for_line("cy: back after the restart").await;
    for page in [&ana, &bo] {
        browser
            .wait_for_line(page, "cy: back after the restart")
            .await;
        browser.wait_for_state(page, "connected").await;
        browser.wait_for_line(page, "reconnected").await;
    }
    browser.say(&bo, "bo is back too").await;
    cy.wait_for_line("bo: bo is back too").await;
    browser.wait_for_line(&ana, "bo: bo is back too").await;

    for page in [&ana, &bo] {
        let log = browser.log(page).await;
        let restarted = log
            .iter()
            .position(|l| l.text == "reconnected")
            .expect("a reconnected line");
        assert_eq!(
            said(&log[restarted..]),
            ["cy: back after the restart", "bo: bo is back too"],
            "after the restart: {log:#?}; cy printed {:#?}, stderr {:#?}",
            cy.printed,
            cy.statuses
        );
        assert!(
            !log.iter().any(|l| l.kind == "gap"),
            "a gap after the restart: {log:#?}"
        );
    }
    assert_eq!(
        browser.status(&bo).await,
        ("bo in testroom".to_owned(), "connected".to_owned())
    );

    assert!(cy.finish().await.status.success());
    browser.end().await;
}

/// With `--token`, a page opened without it asks for it (and again after a
/// wrong one), and a `?token=` in the page's URL is passed on.
#[tokio::test]
async fn with_a_token_the_page_asks_for_it_or_takes_it_from_its_url() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let base = format!("http://127.0.0.1:{}/vault", server.port);

    let tia = browser.first_page(&format!("{base}?name=tia")).await;
    assert_eq!(
        browser.asked_for(&tia, "token").await,
        "this chat needs a token"
    );
    browser.give_token(&tia, "wrong").await;
    browser
        .wait_until(
            &tia,
            "the token form to say the token was refused",
            "const ask = document.getElementById('ask'); \
             return !ask.hidden && document.getElementById('ask-error').textContent === 'that token was refused';",
        )
        .await;
    browser.give_token(&tia, "s3cret").await;
    browser
        .wait_for_line(&tia, "you are tia in vault; type /help for commands")
        .await;
    browser.wait_for_state(&tia, "connected").await;

    let uma = browser
        .new_page(&format!("{base}?name=uma&token=s3cret"))
        .await;
    browser
        .wait_for_line(&uma, "you are uma in vault; type /help for commands")
        .await;
    browser.wait_for_line(&tia, "→ uma joined vault").await;
    browser.say(&uma, "the token came with the link").await;
    browser
        .wait_for_line(&tia, "uma: the token came with the link")
        .await;
    browser.end().await;
}

/// A page cut off while more is said than the server keeps resumes with
/// `since=` its last message, and shows what is left of what it missed,
/// then how much is gone, as a gap.
#[tokio::test]
async fn a_page_away_too_long_resumes_and_shows_the_gap() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&["--history", "2"]).await;
    let mut proxy = Proxy::start(server.port).await;
    let (mut obs, _) = server.join("obs", "gaps").await;
    let eve = browser
        .first_page(&format!("http://127.0.0.1:{}/gaps?name=eve", proxy.port))
        .await;
    browser.wait_for_line(&eve, "→ eve joined gaps").await;
    obs.send("m1").await;
    browser.wait_for_line(&eve, "obs: m1").await;

    assert_eq!(
        proxy.accepted_since(),
        [
            "GET /gaps?name=eve HTTP/1.1",
            "GET /gaps?format=json&name=eve HTTP/1.1"
        ],
        "the page and its WebSocket"
    );

    // The page's connection is cut; its next attempts are held at the proxy.
    proxy.hold_new();
    proxy.cut();
    browser.wait_for_state(&eve, "reconnecting").await;
    assert_eq!(
        proxy.next_connection().await,
        "GET /gaps?format=json&name=eve&since=1 HTTP/1.1"
    );
    for text in ["m2", "m3", "m4", "m5"] {
        obs.send(text).await;
    }
    obs.event_matching(
        "obs's m5",
        |e| matches!(e, chat::protocol::Event::Message { text, .. } if text == "m5"),
    )
    .await;
    proxy.forward_new();
    browser.wait_for_state(&eve, "connected").await;
    browser.wait_for_line(&eve, "obs: m5").await;

    let log = browser.log(&eve).await;
    let back = log
        .iter()
        .position(|l| l.text == "reconnected")
        .expect("a reconnected line");
    let after: Vec<(&str, &str)> = log[back + 1..]
        .iter()
        .filter(|l| !l.kind.starts_with("notice"))
        .map(|l| (l.kind.as_str(), l.text.as_str()))
        .collect();
    assert_eq!(
        after,
        [
            ("message", "obs: m4"),
            ("message", "obs: m5"),
            ("gap", "… 2 messages missed"),
        ],
        "{log:#?}"
    );
    assert_eq!(said(&log[..back]), ["obs: m1"]);
    browser.end().await;
}

/// A page whose pongs stop (a stalled network) gets 4000 `unresponsive`, reconnects, resumes showing nothing twice, and chats.
#[tokio::test]
async fn issue_18_a_page_closed_as_unresponsive_reconnects_and_resumes() {
    // Issue 18 ("The terminal client in daily use"), bug 3: the page said
    // "reload the page" after the 1008 it got then.
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&["--ping-interval", "1"]).await;
    let mut proxy = Proxy::start(server.port).await;
    let eve = browser
        .first_page(&format!("http://127.0.0.1:{}/stall?name=eve", proxy.port))
        .await;
    browser.wait_for_line(&eve, "→ eve joined stall").await;
    browser.say(&eve, "before").await;
    browser.wait_for_line(&eve, "eve: before").await;
    assert_eq!(
        proxy.accepted_since(),
        [
            "GET /stall?name=eve HTTP/1.1",
            "GET /stall?format=json&name=eve HTTP/1.1"
        ],
        "the page and its WebSocket"
    );

    // What the browser sends (its pongs) is held back; what the server
    // sends still arrives, its close frame included.
    proxy.mute();
    browser.wait_for_state(&eve, "reconnecting").await;
    proxy.unmute();
    browser.wait_for_state(&eve, "connected").await;
    browser.wait_for_line(&eve, "reconnected").await;
    assert_eq!(
        proxy.next_connection().await,
        "GET /stall?format=json&name=eve&since=1 HTTP/1.1",
        "the page resumes after the last message it showed"
    );
    browser.say(&eve, "after").await;
    browser.wait_for_line(&eve, "eve: after").await;

    let log = browser.log(&eve).await;
    assert!(
        log.contains(&Line {
            kind: "error".to_owned(),
            text: "the server closed the connection: unresponsive".to_owned(),
        }),
        "{log:#?}"
    );
    assert_eq!(said(&log), ["eve: before", "eve: after"], "{log:#?}");
    browser.end().await;
}

/// A page whose connection dropped while the server still holds its name
/// (the server has not noticed the old connection is gone) does not come
/// back as a guest: it says it is waiting for its name, retries, and is
/// itself again once the server lets the old connection go.
#[tokio::test]
async fn a_page_comes_back_under_its_own_name_once_the_server_lets_it_go() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let proxy = Proxy::start(server.port).await;
    let (_obs, _) = server.join("obs", "held").await;
    let eve = browser
        .first_page(&format!("http://127.0.0.1:{}/held?name=eve", proxy.port))
        .await;
    browser.wait_for_line(&eve, "→ eve joined held").await;

    // The page loses its connection; the server keeps its side open.
    proxy.cut_client_side();
    let waiting = "return document.getElementById('status').textContent \
                   === 'reconnecting… (the server still holds the name eve)';";
    browser
        .wait_until(&eve, "the page to wait for its name", waiting)
        .await;

    // The old connection's leave is held (issue 16, item 12): the page,
    // back within the hold, makes none; so what is awaited is the page.
    proxy.release_server_sides();
    browser.wait_for_line(&eve, "reconnected").await;
    browser.wait_for_state(&eve, "connected").await;
    assert_eq!(browser.status(&eve).await.0, "eve in held");
    let log = browser.log(&eve).await;
    assert!(
        !log.iter().any(|l| l.text.contains("guest")),
        "the page never took a guest name: {log:#?}"
    );
    assert_eq!(browser.people(&eve).await, ["eve", "obs"]);
    browser.end().await;
}

/// The page works at each name of its server (Origin and Host agree):
/// 127.0.0.1, localhost, [::1], and over TLS; opened under a name that
/// merely points here (DNS rebinding), it says the server refuses pages of
/// that site, rather than asking for a token.
#[tokio::test]
async fn the_page_works_at_each_loopback_name_and_explains_an_origin_refusal() {
    let Some(browser) = Browser::start_with(&[
        "--host-resolver-rules=MAP rebind.test 127.0.0.1",
        "--ignore-certificate-errors",
    ])
    .await
    else {
        return;
    };
    let v4 = TestServer::start(&[]).await;
    let v6 = TestServer::start_on("::1", 0, &[]).await;
    let certs = TempDir::new();
    let (cert, key) = crate::support::certs::Authority::new()
        .issue(
            &["localhost", "127.0.0.1"],
            crate::support::certs::Validity::Current,
        )
        .write_to(&certs);
    let tls = TestServer::start(&["--tls-cert", &cert, "--tls-key", &key]).await;
    let pages = [
        ("ida", format!("http://127.0.0.1:{}", v4.port)),
        ("ivo", format!("http://localhost:{}", v4.port)),
        ("ines", format!("http://[::1]:{}", v6.port)),
        ("tess", format!("https://127.0.0.1:{}", tls.port)),
    ];
    let mut first = true;
    for (name, base) in &pages {
        let url = format!("{base}/loop?name={name}");
        let page = if std::mem::take(&mut first) {
            browser.first_page(&url).await
        } else {
            browser.new_page(&url).await
        };
        browser
            .wait_for_line(
                &page,
                &format!("you are {name} in loop; type /help for commands"),
            )
            .await;
        browser.wait_for_state(&page, "connected").await;
    }

    let origin = format!("http://rebind.test:{}", v4.port);
    let rebound = browser.new_page(&format!("{origin}/loop?name=ray")).await;
    browser
        .wait_for_line(
            &rebound,
            &format!(
                "this chat server listens on this machine only and accepts pages from \
                 localhost, 127.0.0.1 or [::1], not {origin}: open it at one of those, \
                 or ask its operator to allow that site (--allow-origin {origin})"
            ),
        )
        .await;
    browser.wait_for_state(&rebound, "left").await;
    browser.end().await;
}

/// Above the presence limit the page shows the `presence` summary as one
/// line and the room's head count beside the names it has fetched; back
/// under the limit the fresh `who` puts every name back in the list
/// (issue 17).
#[tokio::test]
async fn issue_17_the_page_shows_presence_summaries_and_the_head_count() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&["--presence-limit", "2", "--presence-interval", "2000"]).await;
    let (_obs, _) = server.join("obs", "big").await;
    let ana = browser
        .first_page(&format!("http://127.0.0.1:{}/big?name=ana", server.port))
        .await;
    browser.wait_for_line(&ana, "→ ana joined big").await;
    let count = "return document.getElementById('count').textContent;";
    assert_eq!(browser.run(&ana, count).await, "(2)");

    let mut crowd = vec![server.join("bo", "big").await.0];
    browser.wait_for_line(&ana, "1 joined (bo); 3 here").await;
    // Just after a summary: both fall in the next interval.
    for name in ["cy", "di"] {
        crowd.push(server.join(name, "big").await.0);
    }
    browser
        .wait_for_line(&ana, "2 joined (cy, di); 5 here")
        .await;
    assert_eq!(browser.run(&ana, count).await, "(5)");

    for client in &mut crowd {
        client.send("/quit").await;
        client.expect_close().await;
    }
    browser
        .wait_for_line(&ana, "3 left (bo, cy, di); 2 here")
        .await;
    browser
        .wait_until(
            &ana,
            "the fresh who",
            "return document.getElementById('count').textContent === '(2)' \
             && document.querySelectorAll('#names li').length === 2;",
        )
        .await;
    assert_eq!(browser.people(&ana).await, ["ana", "obs"]);
    browser.end().await;
}
