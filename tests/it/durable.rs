//! Durable history (`--data-dir`): what survives a clean restart, a `kill -9`
//! and a room eviction, and how the server refuses a data directory it cannot
//! use: one line on stderr and exit 1.

use std::time::Duration;

use chat::protocol::Event;

use crate::support::events::{message, untimed};
use crate::support::{
    SERVER, TempDir, TestServer, WsClient, assert_run, run_command, run_server, with_private_mount,
    with_query, within,
};

/// Starts a server keeping its history in `dir`, with extra `args`.
async fn start_in(dir: &str, args: &[&str]) -> TestServer {
    let mut all = vec!["--data-dir", dir];
    all.extend_from_slice(args);
    TestServer::start(&all).await
}

/// Stops `server` as an operator would (SIGTERM) and checks it exits 0.
async fn stop(mut server: TestServer) {
    server.signal("TERM");
    let status = server.wait().await;
    assert_eq!(status.code(), Some(0), "the server's exit after SIGTERM");
}

/// Connects a JSON client to `path_and_query` and returns it with the events
/// of its greeting after the welcome, up to and including its own join.
async fn connect(server: &TestServer, name: &str, path_and_query: &str) -> (WsClient, Vec<Event>) {
    let (mut client, _welcome) = server
        .connect_json(&with_query(path_and_query, &format!("name={name}")))
        .await;
    let mut greeting = Vec::new();
    loop {
        let event = client.next_event().await;
        let own_join = matches!(&event, Event::Join { name: n, .. } if n == name);
        if own_join {
            return (client, greeting);
        }
        greeting.push(event);
    }
}

/// Sends each of `lines` and returns the copies, exactly as received.
async fn say_all(client: &mut WsClient, lines: &[String]) -> Vec<Event> {
    let mut copies = Vec::new();
    for line in lines {
        client.send(line).await;
        copies.push(client.next_event().await);
    }
    copies
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

fn id_of(event: &Event) -> u64 {
    match event {
        Event::Message { id, .. } | Event::Action { id, .. } => *id,
        other => panic!("not a message: {other:?}"),
    }
}

/// Messages, actions and their ids survive a clean restart, in the lobby (read
/// at start) and in another room (read on its first join); new ids go on from
/// the last, and `since` from before the restart resumes exactly.
#[tokio::test]
async fn history_ids_and_since_survive_a_clean_restart() {
    let dir = TempDir::new();
    let server = start_in(dir.root(), &[]).await;
    let (mut ana, _) = connect(&server, "ana", "/rust").await;
    let mut said = say_all(&mut ana, &numbered("before ", 4)).await;
    said.extend(say_all(&mut ana, &["/me waves".to_owned()]).await);
    let (mut bo, _) = connect(&server, "bo", "/").await;
    let lobby_said = say_all(&mut bo, &["in the lobby".to_owned()]).await;
    drop((ana, bo));
    stop(server).await;

    let server = start_in(dir.root(), &[]).await;
    let (_, lobby_replay) = connect(&server, "cy", "/").await;
    assert_eq!(lobby_replay, lobby_said, "the lobby's history, ts and all");
    let (mut ana, replay) = connect(&server, "ana", "/rust").await;
    assert_eq!(replay, said, "the room's history, ts and all");
    let after = say_all(&mut ana, &["after".to_owned()]).await;
    assert_eq!(
        untimed(after[0].clone()),
        message(6, "rust", "ana", "after")
    );

    // A client that saw id 2 before the restart resumes with 3 on.
    let (_, resumed) = connect(&server, "dee", "/rust?since=2").await;
    let mut expected = said[2..].to_vec();
    expected.extend(after);
    assert_eq!(resumed, expected);
    stop(server).await;
}

/// `kill -9` right after a burst loses at most what was said since the last
/// commit: what survives is a prefix of what was said, with nothing missing
/// in between, and what is missing was said within moments of the kill.
#[tokio::test]
async fn a_kill_9_loses_at_most_the_last_commit_window() {
    const BURST: usize = 200;
    let dir = TempDir::new();
    let args = ["--messages-per-second", "0", "--history", "1000"];
    let mut server = start_in(dir.root(), &args).await;
    let (mut ana, _) = connect(&server, "ana", "/rust").await;

    // First: what was said is committed while the server runs, not only when
    // it stops (read from the database itself, as another process).
    let first = say_all(&mut ana, &numbered("early ", 20)).await;
    let db = dir.path("chat.db");
    within("the first messages to be committed", async {
        while saved_messages(&db, "rust") < first.len() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // Then a burst, sent all at once, and the kill as soon as its last copy is back.
    for line in numbered("burst ", BURST) {
        ana.send(&line).await;
    }
    let mut burst = Vec::new();
    for _ in 0..BURST {
        burst.push(ana.next_event().await);
    }
    server.signal("KILL");
    server.wait().await;

    let server = start_in(dir.root(), &args).await;
    let (_, replay) = connect(&server, "bo", "/rust").await;
    let said: Vec<Event> = first.into_iter().chain(burst).collect();
    assert!(
        replay.len() >= 20,
        "the committed messages survived: {}",
        replay.len()
    );
    assert_eq!(
        replay[..],
        said[..replay.len()],
        "what survives is a prefix of what was said"
    );
    let missing = &said[replay.len()..];
    eprintln!(
        "kill -9 right after a burst of {BURST}: {} of {} messages missing after the restart",
        missing.len(),
        said.len()
    );
    let ts = |event: &Event| match event {
        Event::Message { ts, .. } => *ts,
        other => panic!("not a message: {other:?}"),
    };
    let last_ts = ts(said.last().unwrap());
    // One commit interval (50 ms) plus the commit itself; generous, because
    // this machine is small and shared.
    for lost in missing {
        assert!(
            last_ts - ts(lost) <= 1_000,
            "message {} was said {} ms before the last and is lost",
            id_of(lost),
            last_ts - ts(lost)
        );
    }
    stop(server).await;
}

/// Messages in the database at `path` for `room`, read as another process would.
fn saved_messages(path: &str, room: &str) -> usize {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row(
        "SELECT count(*) FROM messages WHERE room = ?1",
        [room],
        |row| row.get(0),
    )
    .unwrap_or(0)
}

/// A room evicted at the room limit keeps its history and its ids: they come
/// back from the database when it is used again.
#[tokio::test]
async fn an_evicted_room_comes_back_with_its_history_and_ids() {
    let dir = TempDir::new();
    // Only the lobby and one more room fit.
    let server = start_in(dir.root(), &["--max-rooms", "2"]).await;
    let (mut ana, _) = connect(&server, "ana", "/first").await;
    let said = say_all(&mut ana, &numbered("line ", 3)).await;
    let back_in_lobby = join_and_collect(&mut ana, "ana", "lobby").await;
    assert!(!back_in_lobby.iter().any(is_error), "{back_in_lobby:?}");
    // `second` evicts the empty `first`, then is left empty in turn.
    let (mut bo, greeting) = connect(&server, "bo", "/second").await;
    assert!(
        !greeting.iter().any(is_error),
        "bo got into second: {greeting:?}"
    );
    join_and_collect(&mut bo, "bo", "lobby").await;

    let replay: Vec<Event> = join_and_collect(&mut ana, "ana", "first")
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::Message { room, .. } if room == "first"))
        .collect();
    assert_eq!(replay, said, "first's history, back from the database");
    let again = say_all(&mut ana, &["again".to_owned()]).await;
    assert_eq!(
        untimed(again[0].clone()),
        message(4, "first", "ana", "again")
    );
    stop(server).await;
}

fn is_error(event: &Event) -> bool {
    matches!(event, Event::Error { .. })
}

/// Sends `/join room` from `client` (called `name`) and returns what came
/// before its own join notice there.
async fn join_and_collect(client: &mut WsClient, name: &str, room: &str) -> Vec<Event> {
    client.send(&format!("/join {room}")).await;
    within(&format!("{name}'s join of {room}"), async {
        let mut before = Vec::new();
        loop {
            let event = client.next_event().await;
            if matches!(&event, Event::Join { room: r, name: n, .. } if r == room && n == name) {
                return before;
            }
            assert!(!is_error(&event), "/join {room}: {event:?}");
            before.push(event);
        }
    })
    .await
}

/// A second server on the same data directory is refused in one line, and
/// the first goes on serving.
#[tokio::test]
async fn a_second_server_on_the_same_directory_is_refused() {
    let dir = TempDir::new();
    let first = start_in(dir.root(), &[]).await;
    let path = dir.root();
    let run = run_server(&["--data-dir", path], &[]).await;
    assert_run(
        &run,
        1,
        "",
        &format!(
            "error: another server is using the data directory {path} (stop it, or choose another --data-dir)"
        ),
    );
    first.assert_still_serves().await;
    stop(first).await;
}

/// A read-only data directory with history in it is refused in one line.
///
/// The tests may run as root, for whom `chmod 0555` stops nothing; so the
/// directory is made read-only for real, by a read-only bind mount of it in a
/// mount namespace of the server's own (`unshare -rm`; the test's view of the
/// directory stays writable).
#[tokio::test]
async fn a_read_only_directory_is_refused() {
    let dir = TempDir::new();
    stop(start_in(dir.root(), &[]).await).await;
    let path = dir.root();
    let mut command = with_private_mount(r#"mount --bind -o ro "$0" "$0""#, path, SERVER);
    command.args(["--port", "0", "--data-dir", path]);
    let run = run_command(command, "").await;
    assert_eq!(
        run.stderr,
        format!(
            "error: the data directory {path} is not writable: Read-only file system (os error 30) (choose a writable --data-dir, or fix its permissions)\n"
        ),
        "needs `unshare -rm` (util-linux, and user namespaces or root)"
    );
    assert_eq!(run.status.code(), Some(1));
}

/// A database written by a newer release is refused, and left as it was.
#[tokio::test]
async fn a_database_from_a_newer_release_is_refused_untouched() {
    let dir = TempDir::new();
    let db = dir.path("chat.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let path = dir.root();
    let run = run_server(&["--data-dir", path], &[]).await;
    assert_run(
        &run,
        1,
        "",
        &format!(
            "error: {path}/chat.db cannot be used: it was written by a newer release (schema version 99; this server knows up to 4); upgrade the server"
        ),
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

/// A database file full of garbage is refused in one line, and left as it was.
#[tokio::test]
async fn a_corrupt_database_is_refused_untouched() {
    let dir = TempDir::new();
    let db = dir.path("chat.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    let path = dir.root();
    let run = run_server(&["--data-dir", path], &[]).await;
    assert_run(
        &run,
        1,
        "",
        &format!(
            "error: {path}/chat.db is not a chat database or is corrupt: file is not a database (move it away to start with an empty history)"
        ),
    );
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

/// Issue 16, item 11: a symbolic link where the lock file, the write probe,
/// the database or one of SQLite's files beside it goes is refused in one
/// line naming it, before anything is written through it: a file it points
/// to keeps its contents, and a missing one is not created.
///
/// Refused rather than removed or stepped around: a link there means someone
/// else can write in the data directory, which the operator should hear of.
#[tokio::test]
async fn issue_16_a_symlink_in_the_data_directory_is_refused_and_never_followed() {
    let outside = TempDir::new();
    let precious = outside.write("precious", "not the server's\n");
    let missing = outside.path("missing");
    for name in [
        ".write-test",
        "lock",
        "chat.db",
        "chat.db-wal",
        "chat.db-shm",
        "chat.db-journal",
    ] {
        for target in [&precious, &missing] {
            let dir = TempDir::new();
            let link = dir.path(name);
            std::os::unix::fs::symlink(target, &link).unwrap();
            let run = run_server(&["--data-dir", dir.root()], &[]).await;
            assert_run(
                &run,
                1,
                "",
                &format!(
                    "error: {link} is a symbolic link, and the server follows none in its data directory (remove it, or choose another --data-dir)"
                ),
            );
            assert_eq!(
                std::fs::read_to_string(&precious).unwrap(),
                "not the server's\n"
            );
            assert!(
                !std::path::Path::new(&missing).exists(),
                "{name} → {target}"
            );
        }
    }
}

/// Issue 16, item 11: history is private. A data directory the server creates
/// is 0700; the database, its WAL files and the lock file are 0600.
#[tokio::test]
async fn issue_16_history_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &str| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;

    let parent = TempDir::new();
    let dir = parent.path("history");
    let server = start_in(&dir, &[]).await;
    let (mut ana, _) = connect(&server, "ana", "/").await;
    say_all(&mut ana, &["kept".to_owned()]).await;
    assert_eq!(mode(&dir), 0o700, "{dir}");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["chat.db", "chat.db-shm", "chat.db-wal", "lock"]);
    for file in files {
        let path = format!("{dir}/{file}");
        assert_eq!(mode(&path), 0o600, "{path}");
    }
    stop(server).await;
}

/// A disk that fills up while the server runs does not stop the chat: every
/// message still reaches everyone, the log says history is not being saved,
/// which ids were not saved is reported (once writes work again, or at
/// shutdown at the latest), and the server still exits 0.
///
/// The data directory is a 256 KiB tmpfs mounted in a mount namespace of the
/// server's own (`unshare -rm`), filled by messages of 60,000 bytes.
#[tokio::test]
async fn a_full_disk_is_logged_and_survived() {
    let dir = TempDir::new();
    let path = dir.root();
    let tmpfs = with_private_mount(r#"mount -t tmpfs -o size=256k tmpfs "$0""#, path, SERVER);
    let mut server = TestServer::start_through(tmpfs, &["--data-dir", path]).await;

    let mut ana = WsClient::connect(&server.url_for("/?name=ana&format=json")).await;
    // Registered once it sees its own arrival: only then can it see bo's.
    ana.event_matching(
        "ana's join",
        |e| matches!(e, Event::Join { name, .. } if name == "ana"),
    )
    .await;
    let mut bo = WsClient::connect(&server.url_for("/?name=bo&format=json")).await;
    for client in [&mut ana, &mut bo] {
        client
            .event_matching(
                "bo's join",
                |e| matches!(e, Event::Join { name, .. } if name == "bo"),
            )
            .await;
    }
    let big: Vec<String> = (1..=24)
        .map(|i| format!("{i:02}{}", "x".repeat(59_998)))
        .collect();
    let copies = say_all(&mut ana, &big).await;
    let mut seen = Vec::new();
    for _ in &big {
        seen.push(untimed(bo.next_event().await));
    }
    let expected: Vec<Event> = (1..)
        .zip(&big)
        .map(|(id, text)| message(id, "lobby", "ana", text))
        .collect();
    assert_eq!(
        copies.into_iter().map(untimed).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(seen, expected, "every message reached bo, in order");

    server.signal("TERM");
    let status = server.wait().await;
    let log = server.log().await;
    assert_eq!(status.code(), Some(0), "{log}");
    let database = format!("{path}/chat.db");
    assert!(
        log.contains(&format!(
            "history is not being saved to {database} (writing failed: database or disk is full)"
        )),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|line| line.contains("reached everyone but were not saved")
                && line.contains(&database)
                && line.contains(": lobby ids ")),
        "{log}"
    );
}

/// Issue 16, item 3: while others keep the room limit full of empty rooms to
/// evict (each `/join NEWROOM` creates one and empties another), a person's
/// own `/join` still goes through: a load of its room is thrown away only if
/// that very room was evicted meanwhile, not whenever any room was.
#[tokio::test]
async fn issue_16_room_eviction_churn_does_not_starve_a_join() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio_util::sync::CancellationToken;

    /// Clients churning, and how often each joins a new room (under the
    /// default rate limit of 20 a second).
    const CHURNERS: usize = 30;
    const JOIN_EVERY: Duration = Duration::from_millis(66);

    let dir = TempDir::new();
    let server = start_in(dir.root(), &["--max-rooms", "35"]).await;
    let mut victim = WsClient::connect(&server.url_for("/v0?name=victim&format=json")).await;
    victim
        .event_matching(
            "the victim's arrival",
            |e| matches!(e, Event::Join { name, .. } if name == "victim"),
        )
        .await;

    let stop = CancellationToken::new();
    let joined = Arc::new(AtomicUsize::new(0));
    let mut churners = Vec::new();
    for n in 0..CHURNERS {
        let mut client =
            WsClient::connect(&server.url_for(&format!("/c{n}x0?name=c{n}&format=json"))).await;
        let (stop, joined) = (stop.clone(), Arc::clone(&joined));
        churners.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(JOIN_EVERY);
            let mut k = 0;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {
                        k += 1;
                        let join = tokio_websockets::Message::text(format!("/join c{n}x{k}"));
                        if client.ws.send(join).await.is_err() {
                            return;
                        }
                    }
                    frame = client.ws.next() => match frame {
                        Some(Ok(frame)) if frame.as_text().is_some_and(|t| t.contains("\"type\":\"join\"")) => {
                            joined.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                }
            }
        }));
    }
    // The churn is under way: every churner has moved a few times.
    within("the churn to get going", async {
        while joined.load(Ordering::Relaxed) < CHURNERS * 5 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    victim.send("/join v1").await;
    victim
        .event_matching(
            "the victim's join of v1 while rooms churn",
            |e| matches!(e, Event::Join { room, name, .. } if room == "v1" && name == "victim"),
        )
        .await;
    stop.cancel();
    for churner in churners {
        churner.await.expect("a churner ends cleanly");
    }
}

/// Issue 16, item 4: the data directory keeps the history of
/// `--max-stored-rooms` rooms at most, whatever rooms people make: after 50
/// rooms with `--max-rooms 5 --max-stored-rooms 10`, `chat.db` holds the ten
/// written last; a dropped room used again starts from id 1.
#[tokio::test]
async fn issue_16_the_rooms_kept_on_disk_are_bounded() {
    let dir = TempDir::new();
    let args = [
        "--max-rooms",
        "5",
        "--max-stored-rooms",
        "10",
        "--messages-per-second",
        "0",
    ];
    let server = start_in(dir.root(), &args).await;
    let (mut ana, _) = connect(&server, "ana", "/r0?format=json").await;
    for n in 0..50 {
        if n > 0 {
            ana.send(&format!("/join r{n}")).await;
            ana.event_matching("ana's arrival", |e| {
                matches!(e, Event::Join { room, name, .. } if *room == format!("r{n}") && name == "ana")
            })
            .await;
        }
        crate::support::events::say(&mut ana, 1, &format!("r{n}"), "ana", "hi").await;
    }
    stop(server).await;

    let db =
        rusqlite::Connection::open(format!("{}/chat.db", dir.root())).expect("opening chat.db");
    let mut rooms: Vec<String> = db
        .prepare("SELECT name FROM rooms ORDER BY name")
        .and_then(|mut rooms| rooms.query_map([], |row| row.get(0))?.collect())
        .expect("reading the rooms");
    rooms.sort_by_key(|name: &String| name[1..].parse::<u32>().unwrap_or(0));
    let expected: Vec<String> = (40..50).map(|n| format!("r{n}")).collect();
    assert_eq!(rooms, expected);
    let rows: u64 = db
        .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
        .expect("counting messages");
    assert_eq!(
        rows, 10,
        "one message in each room kept, none of the others"
    );
    drop(db);

    let server = start_in(dir.root(), &args).await;
    let (mut bo, _) = connect(&server, "bo", "/r0?format=json").await;
    crate::support::events::say(&mut bo, 1, "r0", "bo", "again").await;
    let (mut cy, _) = connect(&server, "cy", "/r49?format=json").await;
    crate::support::events::say(&mut cy, 2, "r49", "cy", "still here").await;
    stop(server).await;
}
