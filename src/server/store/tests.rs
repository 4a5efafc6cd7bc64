//! The store on its own: what it saves, what it reads back, what it refuses.

use super::*;
use crate::server::history::Said;

const HISTORY: usize = 3;
const INTERVAL: Duration = Duration::from_millis(5);

fn open(dir: &Path, history_len: usize, interval: Duration) -> Result<Store, OpenError> {
    Store::open(dir, history_len, 1_000, interval, StoreMetrics::default())
}

fn open_keeping(dir: &Path, history_len: usize, max_rooms: usize) -> Result<Store, OpenError> {
    Store::open(
        dir,
        history_len,
        max_rooms,
        INTERVAL,
        StoreMetrics::default(),
    )
}

fn said(id: u64, text: &str) -> Event {
    Event::Message {
        id,
        room: "rust".to_owned(),
        from: "ana".to_owned(),
        text: text.to_owned(),
        ts: 1_764_100_000_000 + id,
    }
}

#[tokio::test]
async fn a_room_reads_back_what_was_said_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), HISTORY, INTERVAL).unwrap();
    assert_eq!(store.load("rust").await.unwrap().last_id, 0);
    for id in 1..=5 {
        store.append(said(id, &format!("line {id}")));
    }
    store.append(Event::Action {
        id: 6,
        room: "rust".to_owned(),
        from: "bo".to_owned(),
        text: "waves".to_owned(),
        ts: 7,
    });
    store.close().await;
    drop(store);

    let store = open(dir.path(), HISTORY, INTERVAL).unwrap();
    let tail = store.load("rust").await.unwrap();
    assert_eq!(tail.last_id, 6);
    // Retention kept the last three.
    let ids: Vec<u64> = tail.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [4, 5, 6]);
    assert_eq!(
        tail.messages[0].clone().into_event("rust".to_owned()),
        said(4, "line 4")
    );
    assert_eq!(tail.messages[2].kind, Said::Action);
    assert_eq!(tail.messages[2].from, "bo");
    store.close().await;
}

#[tokio::test]
async fn a_load_sees_every_append_queued_before_it() {
    let dir = tempfile::tempdir().unwrap();
    // A long interval: the appends are still uncommitted when the load comes.
    let store = open(dir.path(), HISTORY, Duration::from_secs(1)).unwrap();
    store.append(said(1, "first"));
    let _ = store.load("rust").await.unwrap();
    store.append(said(2, "second"));
    let tail = store.load("rust").await.unwrap();
    assert_eq!(tail.last_id, 2);
    store.close().await;
}

#[tokio::test]
async fn the_last_id_outlives_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0, INTERVAL).unwrap();
    store.append(said(1, "gone"));
    store.append(said(2, "gone too"));
    let tail = store.load("rust").await.unwrap();
    assert_eq!(tail.last_id, 2);
    assert!(tail.messages.is_empty());
    store.close().await;
}

#[tokio::test]
async fn the_lobby_is_read_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), HISTORY, INTERVAL).unwrap();
    store.append(Event::Message {
        id: 1,
        room: DEFAULT_ROOM.to_owned(),
        from: "ana".to_owned(),
        text: "hi".to_owned(),
        ts: 1,
    });
    store.close().await;
    drop(store);
    let mut store = open(dir.path(), HISTORY, INTERVAL).unwrap();
    let lobby = store.take_lobby().unwrap();
    assert_eq!(lobby.last_id, 1);
    assert_eq!(lobby.messages[0].text, "hi");
    store.close().await;
}

#[tokio::test]
async fn appends_after_the_writer_stopped_are_counted_as_lost_and_their_ids_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), HISTORY, INTERVAL).unwrap();
    store.close().await;
    store.append(said(1, "too late"));
    store.append(said(2, "too late"));
    assert_eq!(store.losses.pending(), 2);
    assert_eq!(store.losses.last_id("rust"), Some(2));
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path(), HISTORY, INTERVAL).unwrap();
    let err = open(dir.path(), HISTORY, INTERVAL).unwrap_err();
    assert!(matches!(err, OpenError::InUse { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "another server is using the data directory {} (stop it, or choose another --data-dir)",
            dir.path().display()
        )
    );
}

#[test]
fn garbage_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let garbage = b"this is not a database, it is a shopping list ".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let err = open(dir.path(), HISTORY, INTERVAL).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("is not a chat database or is corrupt: file is not a database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn a_file_from_a_newer_release_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", schema::VERSION + 1)
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = open(dir.path(), HISTORY, INTERVAL).unwrap_err();
    assert!(matches!(err, OpenError::Schema { .. }), "{err}");
    assert!(err.to_string().contains("upgrade the server"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// The file keeps the history of `max_rooms` rooms at most, dropping the
/// least recently written (never the lobby); a dropped room starts again
/// from id 1.
#[tokio::test]
async fn the_least_recently_written_rooms_go_past_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_keeping(dir.path(), HISTORY, 3).unwrap();
    let said_in = |room: &str, id| Event::Message {
        id,
        room: room.to_owned(),
        from: "ana".to_owned(),
        text: "hi".to_owned(),
        ts: id,
    };
    store.append(said_in(DEFAULT_ROOM, 1));
    for n in 0..6 {
        store.append(said_in(&format!("r{n}"), 7));
        // A load answers after the appends before it are committed.
        store.load(DEFAULT_ROOM).await.unwrap();
    }
    let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let mut rooms: Vec<String> = conn
        .prepare("SELECT name FROM rooms")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rooms.sort();
    assert_eq!(rooms, ["lobby", "r4", "r5"]);
    let rows: u64 = conn
        .query_row(
            "SELECT count(*) FROM messages WHERE room NOT IN ('lobby', 'r4', 'r5')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0, "a dropped room's messages go with it");
    assert_eq!(store.load("r0").await.unwrap().last_id, 0);
    assert_eq!(store.load("r5").await.unwrap().last_id, 7);
}

#[tokio::test]
async fn bans_and_topics_are_read_back_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), HISTORY, INTERVAL).unwrap();
    assert!(store.take_bans().is_empty());
    let ban = |name: &str, address: Option<&str>, until: Option<u64>| Ban {
        name: name.to_owned(),
        address: address.map(|a| a.parse().unwrap()),
        until,
        by: "ana".to_owned(),
        reason: "spam".to_owned(),
    };
    let far = u64::MAX / 2;
    store.moderate(Change::KeepBan(ban(
        "Bo",
        Some("2001:db8:1:2::"),
        Some(far),
    )));
    store.moderate(Change::KeepBan(ban("cy", None, None)));
    store.moderate(Change::KeepBan(ban("dee", Some("192.0.2.1"), Some(1))));
    store.moderate(Change::KeepBan(ban("eve", None, None)));
    store.moderate(Change::ForgetBan("EVE".to_owned()));
    store.moderate(Change::Topic {
        room: "rust".to_owned(),
        topic: Some("Rust, mostly".to_owned()),
    });
    store.moderate(Change::Topic {
        room: "go".to_owned(),
        topic: Some("soon gone".to_owned()),
    });
    store.moderate(Change::Topic {
        room: "go".to_owned(),
        topic: None,
    });
    // A topic set after a room's messages keeps them, and the other way round.
    store.append(said(1, "line 1"));
    assert_eq!(
        store.load("rust").await.unwrap().topic.as_deref(),
        Some("Rust, mostly")
    );
    store.close().await;
    drop(store);

    let mut store = open(dir.path(), HISTORY, INTERVAL).unwrap();
    let mut bans = store.take_bans();
    bans.sort_by(|a, b| a.name.cmp(&b.name));
    // dee's ended long ago, eve's was lifted.
    assert_eq!(
        bans,
        [
            ban("Bo", Some("2001:db8:1:2::"), Some(far)),
            ban("cy", None, None)
        ]
    );
    let rust = store.load("rust").await.unwrap();
    assert_eq!(rust.topic.as_deref(), Some("Rust, mostly"));
    assert_eq!(rust.last_id, 1);
    assert_eq!(store.load("go").await.unwrap().topic, None);
    store.close().await;
}
