//! The chat page in a real headless Chromium, driven over WebDriver
//! (chromedriver, through fantoccini): two pages and the real `client`
//! binary in one room, hostile markup, a server restart, a resume past what
//! history holds (through the TCP proxy of `support::proxy`), the token;
//! and what daily use asks of it (issue 19): readable colours in both
//! schemes, links, mentions and the hidden tab's title, the keys of the
//! box, the operator commands, the phone layout and `/join`.
//!
//! Without chromedriver (Debian: `chromium chromium-driver`) the test says it
//! is skipped and returns, unless `CHAT_REQUIRE_BROWSER=1` (set by `.ci/run`),
//! which turns a missing browser into a failure.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use chat::protocol::Event;
use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::client::RunningClient;
use crate::support::events::{enter, expect, join, own_join, register_and_quit, say};
use crate::support::proxy::Proxy;
use crate::support::{PASSWORD, TempDir, TestServer, within};

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

    /// Types `text` into the ask form's field `field_css` (`#ask-name`,
    /// `#ask-token`, `#ask-password`), emptied first, and submits the form.
    async fn fill_ask_form(&self, page: &Page, field_css: &str, text: &str) {
        self.focus(page).await;
        let field = self
            .client
            .find(Locator::Css(field_css))
            .await
            .unwrap_or_else(|err| panic!("the field {field_css}: {err}"));
        field
            .clear()
            .await
            .unwrap_or_else(|err| panic!("clearing {field_css}: {err}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("typing into {field_css}: {err}"));
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

    /// Types `keys` (WebDriver key codes included: [`ENTER`], [`SHIFT`],
    /// [`UP`], …) into the message box, without sending.
    async fn keys(&self, page: &Page, keys: &str) {
        self.focus(page).await;
        self.client
            .find(Locator::Css("#text"))
            .await
            .expect("the message box")
            .send_keys(keys)
            .await
            .expect("typing into the message box");
    }

    /// What the message box holds.
    async fn box_text(&self, page: &Page) -> String {
        let value = self
            .run(page, "return document.getElementById('text').value;")
            .await;
        value.as_str().expect("text").to_owned()
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
            l.kind.starts_with("message")
                || l.kind.starts_with("action")
                || l.kind.starts_with("private")
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
    browser.fill_ask_form(&ana, "#ask-name", "ana").await;
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
    browser.fill_ask_form(&bo, "#ask-name", MARKUP_NAME).await;
    assert_eq!(browser.asked_for_name(&bo).await, refusal);
    // A name someone has: the server says so, and the page asks again.
    browser.fill_ask_form(&bo, "#ask-name", "ana").await;
    browser
        .wait_until(
            &bo,
            "the name form to say ana is taken",
            "return document.getElementById('ask-error').textContent.startsWith(\"the name 'ana' is taken\")",
        )
        .await;
    browser.fill_ask_form(&bo, "#ask-name", "bo").await;
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
    // Issue 19: the form's title says it; the error line stays empty
    // rather than say it again.
    assert_eq!(browser.asked_for(&tia, "token").await, "");
    assert_eq!(
        browser
            .run(
                &tia,
                "return document.getElementById('ask-title').textContent;"
            )
            .await,
        "This chat needs a token"
    );
    browser.fill_ask_form(&tia, "#ask-token", "wrong").await;
    browser
        .wait_until(
            &tia,
            "the token form to say the token was refused",
            "const ask = document.getElementById('ask'); \
             return !ask.hidden && document.getElementById('ask-error').textContent === 'that token was refused';",
        )
        .await;
    browser.fill_ask_form(&tia, "#ask-token", "s3cret").await;
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
            "GET /gaps?format=json&name=eve&wait=1 HTTP/1.1"
        ],
        "the page and its WebSocket"
    );

    // The page's connection is cut; its next attempts are held at the proxy.
    proxy.hold_new();
    proxy.cut();
    browser.wait_for_state(&eve, "reconnecting").await;
    assert_eq!(
        proxy.next_connection().await,
        "GET /gaps?format=json&name=eve&wait=1&since=1 HTTP/1.1"
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
            "GET /stall?format=json&name=eve&wait=1 HTTP/1.1"
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
        "GET /stall?format=json&name=eve&wait=1&since=1 HTTP/1.1",
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

/// WebDriver's key codes, for [`Browser::keys`].
const ENTER: &str = "\u{E007}";
const SHIFT: &str = "\u{E008}";
/// Releases the modifier keys pressed so far (Shift).
const RELEASE: &str = "\u{E000}";
const UP: &str = "\u{E013}";
const DOWN: &str = "\u{E015}";

/// Names whose colours are each of the page's 12 name hues, in hue order
/// (the page's `hue` function: `ana` is the sixth).
const TWELVE_HUES: [&str; 12] = [
    "ed", "ivy", "bo", "ben", "hugo", "ana", "lu", "cy", "rose", "hal", "di", "oli",
];

/// The WCAG contrast ratio of each readable thing on the page (names in the
/// log and in the list, links, the send button, times, notices) against
/// the background it is drawn on, as the browser computed both.
const CONTRASTS: &str = "
const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const ratio = (a, b) => {
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};
const background = (node) => {
  for (let n = node; n; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c;
  }
  return [255, 255, 255];
};
const selectors = ['#log .from', '#names li', '#log a', '#say button', '#log time', '#log .notice'];
return selectors.flatMap((sel) => Array.from(document.querySelectorAll(sel)).map((node) => {
  const fg = getComputedStyle(node).color;
  return { what: `${sel} ${node.textContent.slice(0, 30)}`, fg, ratio: ratio(rgb(fg), background(node)) };
}));";

/// One thing's contrast, as [`CONTRASTS`] measures it.
#[derive(Debug, Deserialize)]
struct Contrast {
    what: String,
    /// Its computed colour, `rgb(…)`.
    fg: String,
    ratio: f64,
}

/// Asserts that everything readable on `page` has at least 4.5:1 (WCAG AA),
/// and that the names in the list show 12 different colours.
async fn assert_readable(browser: &Browser, page: &Page, scheme: &str) {
    let measured: Vec<Contrast> =
        serde_json::from_value(browser.run(page, CONTRASTS).await).expect("the contrasts");
    for selector in ["#log .from", "#names li", "#log a", "#say button"] {
        assert!(
            measured.iter().any(|c| c.what.starts_with(selector)),
            "nothing measured for {selector} in the {scheme} scheme: {measured:#?}"
        );
    }
    let poor: Vec<&Contrast> = measured.iter().filter(|c| c.ratio < 4.5).collect();
    assert!(
        poor.is_empty(),
        "below 4.5:1 in the {scheme} scheme: {poor:#?}"
    );
    let mut hues: Vec<&str> = measured
        .iter()
        .filter(|c| c.what.starts_with("#names li"))
        .map(|c| c.fg.as_str())
        .collect();
    hues.sort_unstable();
    hues.dedup();
    assert_eq!(
        hues.len(),
        12,
        "the name colours in the {scheme} scheme: {hues:?}"
    );
}

/// Issue 19: every name colour (12 hues), the links, the send button and
/// the dim text keep 4.5:1 against their background, in the light scheme
/// and in the dark one, on plain, own and mentioning lines alike.
#[tokio::test]
async fn issue_19_names_links_and_the_button_keep_contrast_in_both_schemes() {
    let server = TestServer::start(&[]).await;
    let mut others = Vec::new();
    for name in TWELVE_HUES.iter().filter(|n| **n != "ana") {
        others.push(server.join(name, "hues").await.0);
    }
    for (me, scheme, flags) in [
        ("ana", "light", &[][..]),
        ("zoe", "dark", &["--force-dark-mode"][..]),
    ] {
        let Some(browser) = Browser::start_with(flags).await else {
            return;
        };
        let url = format!("http://127.0.0.1:{}/hues?name={me}", server.port);
        let page = browser.first_page(&url).await;
        browser
            .wait_for_line(&page, &format!("→ {me} joined hues"))
            .await;
        let dark = "return matchMedia('(prefers-color-scheme: dark)').matches;";
        assert_eq!(browser.run(&page, dark).await, scheme == "dark");
        browser.say(&page, "hello").await;
        browser.wait_for_line(&page, &format!("{me}: hello")).await;
        // ed mentions us, with a link: a highlighted line.
        others[0]
            .send(&format!("{me}: see https://example.com/x"))
            .await;
        let mention = format!("ed: {me}: see https://example.com/x");
        browser.wait_for_line(&page, &mention).await;
        browser
            .wait_until(
                &page,
                "every name in the list",
                "return document.querySelectorAll('#names li').length === 12;",
            )
            .await;
        assert_readable(&browser, &page, scheme).await;
        browser.end().await;
    }
}

/// Issue 19: `/help` is a table of usage and effect; addresses are links
/// (http and https only, opening apart from the page), the rest text; a
/// mention is highlighted; while the tab is hidden its title counts what
/// arrived and the mentions, a mention is notified when that is allowed,
/// and the title is plain again once the tab is back.
#[tokio::test]
async fn issue_19_help_links_mentions_and_the_hidden_tab() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "tabs").await;
    let ana = browser
        .first_page(&format!("http://127.0.0.1:{}/tabs?name=ana", server.port))
        .await;
    browser.wait_for_line(&ana, "→ ana joined tabs").await;
    assert_eq!(
        browser.client.title().await.expect("the title"),
        "tabs — chat"
    );

    // A test stands in for the desktop's notifications: the person has not
    // been asked yet, and allows them when asked.
    browser
        .run(
            &ana,
            "window.asked = 0;
             window.shown = [];
             window.Notification = class {
               static permission = 'default';
               static requestPermission() {
                 window.asked += 1;
                 Notification.permission = 'granted';
                 return Promise.resolve('granted');
               }
               constructor(title, options) { window.shown.push([title, options.body]); }
             };",
        )
        .await;
    browser.say(&ana, "/help").await;
    browser
        .wait_until(
            &ana,
            "the help table",
            "return document.querySelectorAll('#log li.help tr').length > 0;",
        )
        .await;
    let rows = browser
        .run(
            &ana,
            "return Array.from(document.querySelectorAll('#log li.help tr'))
                .map((tr) => Array.from(tr.cells).map((td) => td.textContent));",
        )
        .await;
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).expect("the rows");
    assert_eq!(
        browser.run(&ana, "return window.asked;").await,
        1,
        "asked when the person first sent something"
    );
    assert_eq!(rows[0], ["/nick NAME", "change your name"]);
    assert_eq!(
        rows[rows.len() - 1],
        ["//TEXT", "send TEXT with a leading slash"]
    );
    assert!(rows.iter().any(|r| r[0] == "/kick NAME [WHY]"), "{rows:?}");
    assert!(rows.iter().all(|r| r.len() == 2), "{rows:?}");

    let text = "docs: https://example.com/a?b=1&c=2, (http://example.org/x). \
                not these: javascript:alert(1) ftp://example.com/ <a href=\"https://evil.example\">x</a>";
    bo.send(text).await;
    browser.wait_for_line(&ana, &format!("bo: {text}")).await;
    let links = browser
        .run(
            &ana,
            "return Array.from(document.querySelectorAll('#log a'))
                .map((a) => [a.textContent, a.href, a.rel, a.target]);",
        )
        .await;
    let links: Vec<Vec<String>> = serde_json::from_value(links).expect("the links");
    let link = |text: &str, href: &str| {
        [text, href, "noopener noreferrer", "_blank"]
            .map(str::to_owned)
            .to_vec()
    };
    assert_eq!(
        links,
        [
            link(
                "https://example.com/a?b=1&c=2",
                "https://example.com/a?b=1&c=2"
            ),
            link("http://example.org/x", "http://example.org/x"),
            link("https://evil.example", "https://evil.example/"),
        ],
        "only http and https addresses are links, each the address as written"
    );

    // The tab goes to the background: the title counts what arrives there.
    browser.focus(&ana).await;
    browser.client.minimize_window().await.expect("minimizing");
    browser
        .wait_until(&ana, "the tab to be hidden", "return document.hidden;")
        .await;
    bo.send("anyone there?").await;
    browser.wait_for_line(&ana, "bo: anyone there?").await;
    assert_eq!(
        browser.client.title().await.expect("the title"),
        "(1) tabs — chat"
    );
    bo.send("@Ana, look").await;
    bo.send("/msg ana psst").await;
    bo.send("banana is not a mention").await;
    browser
        .wait_for_line(&ana, "bo: banana is not a mention")
        .await;
    assert_eq!(
        browser.client.title().await.expect("the title"),
        "(@2) (4) tabs — chat"
    );
    assert_eq!(
        browser.run(&ana, "return window.shown;").await,
        json!([["bo in tabs", "@Ana, look"], ["bo (private)", "psst"]])
    );
    let mentions = browser
        .run(
            &ana,
            "return Array.from(document.querySelectorAll('#log li.mention'))
                .map((li) => li.querySelector('.text').textContent);",
        )
        .await;
    assert_eq!(mentions, json!(["@Ana, look", "psst"]));

    // Back in front: the title is plain again.
    browser
        .client
        .set_window_size(1000, 700)
        .await
        .expect("restoring the window");
    browser
        .wait_until(&ana, "the tab to be visible", "return !document.hidden;")
        .await;
    browser
        .wait_until(
            &ana,
            "the plain title",
            "return document.title === 'tabs — chat';",
        )
        .await;
    browser.end().await;
}

/// Issue 19: Enter sends, Shift-Enter makes a message of several lines,
/// and Up and Down walk what was sent, like a shell.
#[tokio::test]
async fn issue_19_shift_enter_makes_lines_and_up_recalls_what_was_sent() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "keys").await;
    let ana = browser
        .first_page(&format!("http://127.0.0.1:{}/keys?name=ana", server.port))
        .await;
    browser.wait_for_line(&ana, "→ ana joined keys").await;

    browser.keys(&ana, &format!("first{ENTER}")).await;
    browser.wait_for_line(&ana, "ana: first").await;
    browser
        .keys(
            &ana,
            &format!("line one{SHIFT}{ENTER}{RELEASE}line two{ENTER}"),
        )
        .await;
    let said = bo
        .event_matching("ana's second message", |e| {
            matches!(e, chat::protocol::Event::Message { from, text, .. }
                if from == "ana" && text != "first")
        })
        .await;
    assert!(
        matches!(&said, chat::protocol::Event::Message { text, .. } if text == "line one\nline two"),
        "{said:?}"
    );
    browser.wait_for_line(&ana, "ana: line one\nline two").await;
    assert_eq!(browser.box_text(&ana).await, "");

    browser.keys(&ana, "a draft").await;
    browser.keys(&ana, UP).await;
    assert_eq!(browser.box_text(&ana).await, "line one\nline two");
    // The caret is on the last line: Up first moves it to the first.
    browser.keys(&ana, UP).await;
    assert_eq!(browser.box_text(&ana).await, "line one\nline two");
    browser.keys(&ana, UP).await;
    assert_eq!(browser.box_text(&ana).await, "first");
    browser.keys(&ana, UP).await;
    assert_eq!(browser.box_text(&ana).await, "first", "nothing older");
    browser.keys(&ana, DOWN).await;
    assert_eq!(browser.box_text(&ana).await, "line one\nline two");
    browser.keys(&ana, DOWN).await;
    assert_eq!(browser.box_text(&ana).await, "a draft");

    // A recalled message is sent again with Enter.
    browser.keys(&ana, &format!("{UP}{UP}{UP}{ENTER}")).await;
    browser
        .wait_until(
            &ana,
            "first, said twice",
            &format!(
                "{READ_LOG_FN} return lines().filter((l) => l.text === 'ana: first').length === 2;"
            ),
        )
        .await;
    browser.end().await;
}

/// Issue 19: the operator commands work from the page. `/op SECRET` leaves
/// no trace of the secret (not in the box, the log, the recalled list or
/// any URL); the list marks operators; the topic shows in the header; mute,
/// unmute and kick are shown, a kicked page says why and stays away; after
/// a dropped connection the page offers once to become operator again,
/// then does it by itself.
#[tokio::test]
async fn issue_19_operators_work_from_the_page_and_after_a_reconnection() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&["--op-token", "s3cret"]).await;
    let mut proxy = Proxy::start(server.port).await;
    let (mut bo, _) = server.join("bo", "mods").await;
    let ana = browser
        .first_page(&format!("http://127.0.0.1:{}/mods?name=ana", proxy.port))
        .await;
    browser.wait_for_line(&ana, "→ ana joined mods").await;
    let cy = browser
        .new_page(&format!("http://127.0.0.1:{}/mods?name=cy", server.port))
        .await;
    browser.wait_for_line(&cy, "→ cy joined mods").await;

    browser.say(&ana, "hello").await;
    browser.say(&ana, "/op s3cret").await;
    browser.wait_for_line(&ana, "you are now an operator").await;
    assert_eq!(browser.box_text(&ana).await, "");
    browser.keys(&ana, UP).await;
    assert_eq!(
        browser.box_text(&ana).await,
        "hello",
        "the secret is never recalled"
    );
    browser.keys(&ana, DOWN).await;
    assert_eq!(browser.people(&ana).await, ["@ana", "bo", "cy"]);
    // Others see the operator from their next `who`.
    browser.say(&cy, "/who").await;
    browser.wait_for_line(&cy, "in mods: @ana, bo, cy").await;
    assert_eq!(browser.people(&cy).await, ["@ana", "bo", "cy"]);

    browser.say(&ana, "/topic Rust, mostly").await;
    for page in [&ana, &cy] {
        browser
            .wait_for_line(page, "ana set the topic: Rust, mostly")
            .await;
        assert_eq!(
            browser
                .run(page, "return document.getElementById('topic').textContent;")
                .await,
            "Rust, mostly"
        );
    }
    browser.say(&ana, "/mute bo 10m").await;
    // Every page here shares 127.0.0.1: the mute takes the name only, and
    // the operator's copy says why.
    browser
        .wait_for_line(
            &ana,
            "ana muted bo for 600 s; 2 other people connected now share their address: only the name is affected",
        )
        .await;
    browser.say(&ana, "/unmute bo").await;
    browser.wait_for_line(&ana, "ana unmuted bo").await;
    browser.say(&ana, "/kick bo spamming").await;
    browser
        .wait_for_line(&ana, "bo was kicked by ana (spamming)")
        .await;
    assert_eq!(
        bo.expect_close().await,
        (4001, "kicked by ana: spamming".to_owned())
    );
    browser.say(&ana, "/kick cy").await;
    browser.wait_for_line(&cy, "you were kicked by ana").await;
    browser
        .wait_for_line(&cy, "the server closed the connection: kicked by ana")
        .await;
    browser.wait_for_state(&cy, "left").await;
    // The kick is told once: the leave that follows it (what takes cy off
    // the list) is not shown again.
    browser
        .wait_until(
            &ana,
            "cy off the list",
            "return !Array.from(document.querySelectorAll('#names li')).some((li) => li.textContent.includes('cy'));",
        )
        .await;
    let told: Vec<String> = browser
        .log(&ana)
        .await
        .into_iter()
        .map(|l| l.text)
        .filter(|t| t.contains("cy"))
        .collect();
    assert_eq!(
        told,
        ["→ cy joined mods", "cy was kicked by ana"],
        "what ana read of cy"
    );
    for page in [&ana, &cy] {
        let log = browser.log(page).await;
        assert!(
            !log.iter().any(|l| l.text.contains("s3cret")),
            "the secret is in the log: {log:#?}"
        );
    }

    // The connection drops: back, the page offers to become operator again.
    proxy.cut();
    browser.wait_for_line(&ana, "reconnected").await;
    browser
        .wait_until(
            &ana,
            "the offer",
            "const offer = document.querySelector('#log li.offer');
             return offer !== null
               && offer.querySelector('.text').textContent === 'you were an operator in this tab before'
               && Array.from(offer.querySelectorAll('button')).map((b) => b.textContent).join()
                  === 'become operator again,no';",
        )
        .await;
    browser
        .wait_until(
            &ana,
            "the list without bo and cy",
            "return document.getElementById('names').textContent === 'ana';",
        )
        .await;
    browser.click(&ana, "#log .offer button").await;
    browser
        .wait_until(
            &ana,
            "operator again",
            &format!(
                "{READ_LOG_FN} return lines().filter((l) => l.text === 'you are now an operator').length === 2;"
            ),
        )
        .await;
    browser
        .wait_until(
            &ana,
            "the list to mark ana",
            "return document.querySelector('#names li').textContent === '@ana';",
        )
        .await;
    // Asked once: the next time, the page does it by itself.
    proxy.cut();
    browser
        .wait_until(
            &ana,
            "operator a third time",
            &format!(
                "{READ_LOG_FN} return lines().filter((l) => l.text === 'you are now an operator').length === 3;"
            ),
        )
        .await;
    let log = browser.log(&ana).await;
    assert_eq!(
        log.iter().filter(|l| l.kind == "notice offer").count(),
        0,
        "the offer was answered and is gone: {log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.text.contains("s3cret")),
        "the secret is in the log: {log:#?}"
    );
    let urls = proxy.accepted_since();
    assert!(
        urls.len() >= 3 && !urls.iter().any(|u| u.contains("s3cret")),
        "the requests: {urls:?}"
    );
    browser.end().await;
}

/// Issue 19: on a phone-sized screen (390x844) the box, the send button and
/// the messages are on the screen and work, the people list opens behind
/// its button; and `/join` from the page moves it to the other room.
#[tokio::test]
async fn issue_19_the_phone_layout_works_and_join_moves_the_page() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "phone").await;
    let ana = browser
        .first_page(&format!("http://127.0.0.1:{}/phone?name=ana", server.port))
        .await;
    browser.wait_for_line(&ana, "→ ana joined phone").await;
    // A window's frame takes some of its height: the viewport is what is
    // sized, as a phone's screen.
    browser.focus(&ana).await;
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resizing");
    let frame = 844
        - browser
            .run(&ana, "return innerHeight;")
            .await
            .as_u64()
            .expect("a height");
    browser
        .client
        .set_window_size(390, 844 + u32::try_from(frame).expect("a small frame"))
        .await
        .expect("resizing");
    assert_eq!(
        browser.run(&ana, "return [innerWidth, innerHeight];").await,
        json!([390, 844])
    );

    browser.say(&ana, "from my phone").await;
    browser.wait_for_line(&ana, "ana: from my phone").await;
    assert_eq!(
        browser.run(&ana, "return document.activeElement.id;").await,
        "text",
        "after a tap on send, the box keeps the keyboard"
    );
    bo.send("a long line from bo that has to wrap on a narrow screen, twice or more")
        .await;
    browser
        .wait_for_line(
            &ana,
            "bo: a long line from bo that has to wrap on a narrow screen, twice or more",
        )
        .await;
    // Each is wholly on the screen, none over another, nothing scrolls sideways.
    let layout = browser
        .run(
            &ana,
            "const on = (sel) => {
               const r = document.querySelector(sel).getBoundingClientRect();
               return r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
                 && r.right <= innerWidth && r.bottom <= innerHeight;
             };
             const last = '#log li:last-child';
             const a = document.querySelector(last).getBoundingClientRect();
             const b = document.querySelector('#say').getBoundingClientRect();
             return { box: on('#text'), send: on('#say button'), message: on(last),
                      apart: a.bottom <= b.top, people: on('#people'), toggle: on('#people-toggle'),
                      sideways: document.documentElement.scrollWidth > innerWidth };",
        )
        .await;
    assert_eq!(
        layout,
        json!({"box": true, "send": true, "message": true, "apart": true,
               "people": false, "toggle": true, "sideways": false})
    );
    browser.click(&ana, "#people-toggle").await;
    assert_eq!(
        browser
            .run(
                &ana,
                "const r = document.getElementById('people').getBoundingClientRect();
                 return r.width > 0 && r.right <= innerWidth;"
            )
            .await,
        true
    );
    assert_eq!(browser.people(&ana).await, ["ana", "bo"]);
    browser.click(&ana, "#people-toggle").await;

    // `/join`: the page goes with it, address, title and list included.
    let (mut di, _) = server.join("di", "other").await;
    browser.say(&ana, "/join other").await;
    browser.wait_for_line(&ana, "→ ana joined other").await;
    di.event_matching(
        "ana's join",
        |e| matches!(e, chat::protocol::Event::Join { name, .. } if name == "ana"),
    )
    .await;
    bo.event_matching("ana's leave", |e| {
        matches!(e, chat::protocol::Event::Leave { name, reason, .. }
            if name == "ana" && reason == "joined other")
    })
    .await;
    browser
        .wait_until(
            &ana,
            "the list of the other room",
            "return Array.from(document.querySelectorAll('#names li'))
               .map((li) => li.textContent).join() === 'ana,di';",
        )
        .await;
    assert_eq!(
        browser
            .run(
                &ana,
                "return [document.getElementById('room').textContent, location.pathname,
                         document.title, document.getElementById('status').textContent];"
            )
            .await,
        json!(["other", "/other", "other — chat", "ana in other"])
    );
    browser.say(&ana, "arrived").await;
    di.event_matching("ana's message", |e| {
        matches!(e, chat::protocol::Event::Message { from, text, .. }
            if from == "ana" && text == "arrived")
    })
    .await;
    browser.end().await;
}

/// The page's probe of its own responsiveness, started once it has joined:
/// how late each 50 ms timer fires (the main thread busy in between) and the
/// long tasks (over 50 ms) the browser reports.
const RESPONSIVENESS_PROBE: &str = "
window.probe = { lags: [], longTasks: [] };
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  window.probe.lags.push(now - last - 50);
  last = now;
}, 50);
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.probe.longTasks.push(entry.duration);
}).observe({ type: 'longtask', buffered: true });
return true;";

/// Sends `arguments[0]` from the box and calls back with the milliseconds
/// until the server's copy of it is in the log: what a person waits for.
const TIMED_SAY: &str = "
const [text, done] = [arguments[0], arguments[arguments.length - 1]];
const log = document.getElementById('log');
const start = performance.now();
const seen = () => Array.from(log.querySelectorAll('li')).some((li) => li.textContent.endsWith(text));
const watch = new MutationObserver(() => {
  if (seen()) { watch.disconnect(); done(performance.now() - start); }
});
watch.observe(log, { childList: true, subtree: true });
document.getElementById('text').value = text;
document.querySelector('#say button').click();";

/// Issue 17: the page in a room of 19,000 (19,000 listeners and one talker
/// saying two lines a second, from the release load generator) shows the
/// head count and at most the 100 names a `who` carries, renders the
/// `presence` summaries, and stays responsive. A measurement, not part of
/// the suite (it needs 19,000 connections and the release load generator):
///
/// ```sh
/// cargo build --release --example loadgen
/// cargo test --release --test it -- --ignored --nocapture issue_17_the_page_in_a_room_of_19000
/// ```
///
/// It asserts what a person sees; the timings it prints go to BENCHMARKS.md.
#[tokio::test]
#[ignore = "a measurement with 19,000 connections: see its comment"]
async fn issue_17_the_page_in_a_room_of_19000_stays_responsive() {
    const LISTENERS: usize = 19_000;
    let loadgen = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/examples/loadgen");
    assert!(
        loadgen.exists(),
        "{} is missing: run `cargo build --release --example loadgen` first",
        loadgen.display()
    );
    // 19,000 sockets in the server and as many in the load generator.
    require_open_files_limit(LISTENERS + 1_000);
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&["--max-connections", "19500"]).await;

    let mut load = Command::new(&loadgen)
        .args(["--port", &server.port.to_string()])
        .args(["--subscribers", &LISTENERS.to_string(), "--senders", "1"])
        .args(["--messages", "400", "--rate", "2", "--concurrency", "100"])
        .args(["--settle", "0", "--timeout", "300"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the load generator starts");
    let mut progress = BufReader::new(load.stderr.take().expect("stderr is piped")).lines();
    let room = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(line) = progress
            .next_line()
            .await
            .expect("reading the load generator")
        {
            eprintln!("loadgen: {line}");
            if let Some(rest) =
                line.strip_prefix(&format!("all {} connected to room ", LISTENERS + 1))
            {
                return rest.split(' ').next().expect("a room").to_owned();
            }
        }
        panic!("the load generator ended before everyone was connected");
    })
    .await
    .expect("19,001 connected within 300 s");
    tokio::spawn(async move { while let Ok(Some(_)) = progress.next_line().await {} });

    let opened = std::time::Instant::now();
    let page = browser
        .first_page(&format!(
            "http://127.0.0.1:{}/{room}?name=watcher",
            server.port
        ))
        .await;
    browser
        .wait_for_line(&page, &format!("→ watcher joined {room}"))
        .await;
    browser
        .wait_until(
            &page,
            "the head count",
            "return document.getElementById('count').textContent === '(19,002)';",
        )
        .await;
    let joined_ms = opened.elapsed().as_millis();
    let listed = browser.people(&page).await.len();
    assert!(
        (1..=100).contains(&listed),
        "the list shows the names fetched, at most 100: {listed}"
    );
    // The talker's lines are arriving.
    browser
        .wait_until(
            &page,
            "a line from the talker",
            &format!("{READ_LOG_FN} return lines().some((l) => l.kind.startsWith('message') && !l.text.includes('watcher'));"),
        )
        .await;

    assert_eq!(
        browser.run(&page, RESPONSIVENESS_PROBE).await,
        Value::Bool(true)
    );
    let mut echoes = Vec::new();
    for n in 0..20 {
        let text = format!("probe line {n}");
        browser.focus(&page).await;
        let ms = within(
            "the page's own line back",
            browser.client.execute_async(TIMED_SAY, vec![json!(text)]),
        )
        .await
        .expect("the timed line");
        echoes.push(ms.as_f64().expect("milliseconds"));
    }
    // A summary of arrivals, as the room above the limit tells them.
    let (_late, _) = server.join("latecomer", &room).await;
    browser
        .wait_until(
            &page,
            "the summary of the latecomer",
            &format!("{READ_LOG_FN} return lines().some((l) => l.text.startsWith('1 joined (latecomer)'));"),
        )
        .await;
    let probe: Value = browser.run(&page, "return window.probe;").await;
    let stat = |values: &Value| -> (usize, f64) {
        let values: Vec<f64> = serde_json::from_value(values.clone()).expect("numbers");
        (values.len(), values.iter().copied().fold(0.0, f64::max))
    };
    let (ticks, worst_lag) = stat(&probe["lags"]);
    let (long_tasks, longest) = stat(&probe["longTasks"]);
    println!("own lines back, in order (ms): {echoes:.0?}");
    echoes.sort_by(f64::total_cmp);
    println!(
        "PAGE IN A ROOM OF 19,002: joined and counted in {joined_ms} ms; {listed} names listed; \
         own line back p50 {:.0} ms, max {:.0} ms (20 lines); 50 ms timer: {ticks} ticks, worst {worst_lag:.0} ms late; \
         long tasks: {long_tasks}, longest {longest:.0} ms",
        echoes[echoes.len() / 2],
        echoes[echoes.len() - 1],
    );
    browser.end().await;
}

/// Checks that this process may open `wanted` files: the server and the
/// load generator inherit its limit.
fn require_open_files_limit(wanted: usize) {
    let output = std::process::Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .expect("sh runs");
    let limit = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        limit == "unlimited" || limit.parse::<usize>().is_ok_and(|n| n >= wanted),
        "open files are limited to {limit}, under {wanted}: run `ulimit -n $(ulimit -Hn)` first"
    );
}

/// The join and rename notices of a log: what its room read of arrivals.
fn arrivals(log: &[Line]) -> Vec<String> {
    log.iter()
        .filter(|l| l.kind == "notice join" || l.kind == "notice nick")
        .map(|l| l.text.clone())
        .collect()
}

/// A page asking for a name someone has is held out of the room and asks
/// for another before it joins: the other page reads one arrival, never
/// `guest-N joined` and then `guest-N is now known as`.
#[tokio::test]
async fn issue_19_a_taken_name_asks_before_joining_so_the_room_sees_one_arrival() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let url = format!("http://127.0.0.1:{}/once", server.port);
    let ana = browser.first_page(&format!("{url}?name=ana")).await;
    browser.wait_for_line(&ana, "→ ana joined once").await;

    let second = browser.new_page(&format!("{url}?name=ana")).await;
    assert_eq!(
        browser.asked_for_name(&second).await,
        "the name 'ana' is taken; pick another"
    );
    // Taken again in another letter case: asked again, still not joined.
    browser.fill_ask_form(&second, "#ask-name", "ANA").await;
    browser
        .wait_until(
            &second,
            "the form to say ANA is taken",
            "const ask = document.getElementById('ask'); \
             return !ask.hidden && document.getElementById('ask-error').textContent \
               === \"the name 'ANA' is taken; pick another\";",
        )
        .await;
    browser.fill_ask_form(&second, "#ask-name", "bo").await;
    browser.wait_for_line(&second, "→ bo joined once").await;
    browser.wait_for_state(&second, "connected").await;
    assert_eq!(browser.status(&second).await.0, "bo in once");
    browser.wait_for_line(&ana, "→ bo joined once").await;
    browser.say(&second, "hello").await;
    browser.wait_for_line(&ana, "bo: hello").await;

    let log = browser.log(&ana).await;
    assert_eq!(
        arrivals(&log),
        ["→ ana joined once", "→ bo joined once"],
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.text.contains("guest")),
        "a guest showed: {log:#?}"
    );
    let log = browser.log(&second).await;
    assert_eq!(arrivals(&log), ["→ bo joined once"], "{log:#?}");
    assert!(
        !log.iter().any(|l| l.kind == "error"),
        "the hold's refusals are the form's, not the log's: {log:#?}"
    );
    assert_eq!(browser.people(&ana).await, ["ana", "bo"]);
    browser.end().await;
}

/// A page asking for a registered name asks for its password (a password
/// field; again after a wrong one), joins once as the name, and keeps the
/// password for the tab: after a server restart (`--data-dir` keeps the
/// registration) it identifies by itself and is the name again, never a
/// guest. A name registered from a page is kept the same way. The password
/// is never in the URL nor in the log. Signed in elsewhere (4004), it stops.
#[tokio::test]
async fn issue_19_a_registered_name_asks_for_its_password_once_and_keeps_it_for_the_tab() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = TempDir::new();
    let data = dir.path("data");
    let mut server = TestServer::start(&["--data-dir", &data]).await;
    let port = server.port;
    register_and_quit(&server, "ana", true).await;
    let mut obs = enter(&server, "obs", "lobby").await;

    let page = browser
        .first_page(&format!("http://127.0.0.1:{port}/lobby?name=ana"))
        .await;
    assert_eq!(browser.asked_for(&page, "password").await, "");
    assert_eq!(
        browser
            .run(
                &page,
                "return [document.getElementById('ask-title').textContent, \
                         document.getElementById('ask-password').type, \
                         document.getElementById('ask-name').value];"
            )
            .await,
        json!(["The name ana is registered", "password", "ana"])
    );
    browser
        .fill_ask_form(&page, "#ask-password", "not-the-password")
        .await;
    browser
        .wait_until(
            &page,
            "the form to say the password was wrong",
            "const ask = document.getElementById('ask'); \
             return !ask.hidden && ask.dataset.what === 'password' \
               && document.getElementById('ask-error').textContent === \"wrong password for 'ana'\";",
        )
        .await;
    browser
        .fill_ask_form(&page, "#ask-password", PASSWORD)
        .await;
    browser.wait_for_line(&page, "→ ana joined lobby").await;
    browser.wait_for_state(&page, "connected").await;
    assert_eq!(browser.status(&page).await.0, "ana in lobby");
    // The room read one arrival: ana's.
    expect(&mut obs, join("lobby", "ana")).await;
    say(&mut obs, 1, "lobby", "obs", "hi ana").await;
    browser.wait_for_line(&page, "obs: hi ana").await;

    // A name registered from a page is kept for its tab too, never for Up.
    let cy = browser
        .new_page(&format!("http://127.0.0.1:{port}/lobby?name=cy"))
        .await;
    browser.wait_for_line(&cy, "→ cy joined lobby").await;
    expect(&mut obs, join("lobby", "cy")).await;
    browser.say(&cy, "/register cy-secret-1").await;
    browser
        .wait_for_line(
            &cy,
            "cy is registered to you; this tab identifies by itself when it comes back",
        )
        .await;
    browser.keys(&cy, UP).await;
    assert_eq!(browser.box_text(&cy).await, "", "Up recalled a password");

    // The server restarts; the pages come back as ana and cy by themselves.
    server.signal("TERM");
    assert_eq!(server.wait().await.code(), Some(0));
    for page in [&page, &cy] {
        browser.wait_for_state(page, "reconnecting").await;
    }
    let server = TestServer::start_on("127.0.0.1", port, &["--data-dir", &data]).await;
    for page in [&page, &cy] {
        browser.wait_for_line(page, "reconnected").await;
        browser.wait_for_state(page, "connected").await;
    }
    assert_eq!(browser.status(&page).await.0, "ana in lobby");
    assert_eq!(browser.status(&cy).await.0, "cy in lobby");
    let (mut obs, _) = server.join("obs", "lobby").await;
    own_join(&mut obs, "lobby", "obs").await;
    obs.send("/who").await;
    let who = obs
        .event_matching("the who", |e| matches!(e, Event::Who { .. }))
        .await;
    let Event::Who { names, .. } = who else {
        unreachable!("matched a who")
    };
    assert_eq!(names, ["ana", "cy", "obs"]);
    for page in [&page, &cy] {
        assert_eq!(
            browser
                .run(page, "return document.getElementById('ask').hidden;")
                .await,
            true,
            "asked again after the restart"
        );
        let log = browser.log(page).await;
        assert!(
            !log.iter().any(|l| l.text.contains("guest")),
            "a guest showed: {log:#?}"
        );
        let seen = browser
            .run(
                page,
                "return location.href + document.body.innerText + document.title;",
            )
            .await;
        let seen = seen.as_str().expect("text");
        assert!(
            [PASSWORD, "not-the-password", "cy-secret-1"]
                .iter()
                .all(|secret| !seen.contains(secret)),
            "a password shows: {seen}"
        );
    }

    // The password given elsewhere takes the name: the page says so and
    // stays away, rather than take it back, and back again.
    let (mut elsewhere, _) = server.join("zz", "lobby").await;
    elsewhere.send(&format!("/identify ana {PASSWORD}")).await;
    browser
        .wait_for_line(
            &page,
            "the server closed the connection: signed in elsewhere",
        )
        .await;
    browser.wait_for_state(&page, "left").await;
    elsewhere
        .event_matching("identified", |e| matches!(e, Event::Identified { .. }))
        .await;
    browser.end().await;
}
