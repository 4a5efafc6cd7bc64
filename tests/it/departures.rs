//! Held departures (issue 16, item 12): a connection that drops or times out
//! is gone at once (its name free, `/who` without it), but its room reads the
//! `leave` only after `DEPARTURE_HOLD`, and reads neither it nor the new
//! `join` if the same name is back in the room by then. On the in-process
//! server with tokio's paused clock, so the hold costs no wall-clock time.

use chat::config::{DEPARTURE_HOLD, Limits};
use chat::protocol::Event;
use tokio::time::Instant;

use crate::support::events::{enter, expect, join, leave, message, next_untimed, say};
use crate::support::inprocess::InProcess;
use crate::support::{WsClient, within};

/// Asks `/who` at `observer` until `name` is no longer in `room`.
async fn until_gone(observer: &mut WsClient, room: &str, name: &str) {
    within("the name to leave /who", async {
        loop {
            observer.send("/who").await;
            match next_untimed(observer).await {
                Event::Who { room: r, names, .. } if r == room => {
                    if !names.iter().any(|n| n == name) {
                        return;
                    }
                }
                other => panic!("unexpected event at the observer: {other:?}"),
            }
        }
    })
    .await;
}

/// `obs`, then `ana`, in the lobby, once `obs` has seen `ana` arrive.
async fn obs_then_ana(server: &InProcess) -> (WsClient, WsClient) {
    let mut obs = enter(server, "obs", "lobby").await;
    let ana = enter(server, "ana", "lobby").await;
    expect(&mut obs, join("lobby", "ana")).await;
    (obs, ana)
}

/// A client that drops its socket (no close frame) and comes back within the
/// hold makes no `leave`/`join` pair at an observer; the returner still gets
/// its own `join`, and chats on.
#[tokio::test(start_paused = true)]
async fn issue_16_a_dropped_connection_back_within_the_hold_makes_no_leave_or_join() {
    let server = InProcess::start(Limits::default()).await;
    let (mut obs, ana) = obs_then_ana(&server).await;

    let dropped = Instant::now();
    drop(ana);
    until_gone(&mut obs, "lobby", "ana").await;
    // `enter` reads the welcome under the name asked for, then ana's own join.
    let mut ana = enter(&server, "ana", "lobby").await;
    assert!(dropped.elapsed() < DEPARTURE_HOLD, "back within the hold");

    tokio::time::sleep(DEPARTURE_HOLD * 2).await;
    say(&mut ana, 1, "lobby", "ana", "back").await;
    // The observer's next event is ana's message: no leave, no join.
    expect(&mut obs, message(1, "lobby", "ana", "back")).await;
}

/// A client that drops its socket and stays away is out of `/who` at once,
/// and its room reads `leave … disconnected` when the hold ends, not before.
#[tokio::test(start_paused = true)]
async fn issue_16_a_dropped_connection_that_stays_away_leaves_after_the_hold() {
    let server = InProcess::start(Limits::default()).await;
    let (mut obs, ana) = obs_then_ana(&server).await;

    let dropped = Instant::now();
    drop(ana);
    until_gone(&mut obs, "lobby", "ana").await;
    assert!(dropped.elapsed() < DEPARTURE_HOLD, "gone from /who at once");
    expect(&mut obs, leave("lobby", "ana", "disconnected")).await;
    let held = dropped.elapsed();
    assert!(
        held >= DEPARTURE_HOLD && held < DEPARTURE_HOLD * 2,
        "the leave came {held:?} after the drop"
    );
}

/// `/quit` is announced at once: a goodbye is not held.
#[tokio::test(start_paused = true)]
async fn issue_16_a_quit_is_announced_at_once() {
    let server = InProcess::start(Limits::default()).await;
    let (mut obs, mut ana) = obs_then_ana(&server).await;

    let quit = Instant::now();
    ana.send("/quit bye").await;
    expect(&mut obs, leave("lobby", "ana", "quit: bye")).await;
    assert!(
        quit.elapsed() < DEPARTURE_HOLD,
        "the leave came {:?} after /quit",
        quit.elapsed()
    );
}

/// Someone else taking a held name with `/nick` in that room makes the held
/// `leave` go out first, so the room does not read the newcomer as leaving.
#[tokio::test(start_paused = true)]
async fn issue_16_a_nick_to_a_held_name_announces_the_held_leave_first() {
    let server = InProcess::start(Limits::default()).await;
    let (mut obs, ana) = obs_then_ana(&server).await;

    drop(ana);
    until_gone(&mut obs, "lobby", "ana").await;
    obs.send("/nick ana").await;
    expect(&mut obs, leave("lobby", "ana", "disconnected")).await;
    expect(
        &mut obs,
        crate::support::events::nick("lobby", "obs", "ana"),
    )
    .await;
    tokio::time::sleep(DEPARTURE_HOLD * 2).await;
    say(&mut obs, 1, "lobby", "ana", "still here").await;
}

/// A client back within the hold that resumes with `since` gets the replay,
/// then the gap, then its own `join`, as if the join had been broadcast;
/// the observer still reads neither notice.
#[tokio::test(start_paused = true)]
async fn issue_16_a_returner_gets_its_replay_and_gap_before_its_own_join() {
    let server = InProcess::start(Limits {
        messages_per_second: 0,
        ..Limits::default()
    })
    .await;
    let (mut obs, ana) = obs_then_ana(&server).await;

    drop(ana);
    until_gone(&mut obs, "lobby", "ana").await;
    // Two more than history keeps (100 by default).
    for id in 1..=102 {
        say(&mut obs, id, "lobby", "obs", &format!("m{id}")).await;
    }
    let (mut ana, _) = server.connect_json("/lobby?name=ana&since=0").await;
    for id in 3..=102 {
        expect(&mut ana, message(id, "lobby", "obs", &format!("m{id}"))).await;
    }
    expect(&mut ana, Event::Gap { missed: 2 }).await;
    expect(&mut ana, join("lobby", "ana")).await;

    tokio::time::sleep(DEPARTURE_HOLD * 2).await;
    say(&mut ana, 103, "lobby", "ana", "back").await;
    expect(&mut obs, message(103, "lobby", "ana", "back")).await;
}
