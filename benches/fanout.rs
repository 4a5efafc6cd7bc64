//! Micro-benchmark of the fan-out hot path: one event encoded once and
//! shared by every recipient through a room's queue, against encoding it for
//! each recipient (what the original exercise's `String` clones amount to).
//!
//! `cargo bench --bench fanout`; a regression here shows without a full
//! load run (examples/loadgen.rs measures the whole server).

use chat::protocol::{Event, Format};
use chat::server::{EncodedEvent, QueuedEvent};
use tokio::sync::broadcast;
use tokio_websockets::Message;

fn main() {
    divan::main();
}

fn event() -> Event {
    Event::Message {
        id: 42,
        room: "lobby".to_owned(),
        from: "ana".to_owned(),
        text: "x".repeat(64),
        ts: 1_764_100_000_000,
    }
}

/// Encode once, queue once, and let each of `recipients` take its frame.
#[divan::bench(args = [10, 100, 1000])]
fn encode_once_and_share(bencher: divan::Bencher, recipients: usize) {
    let (events_tx, _) = broadcast::channel::<QueuedEvent>(1024);
    let mut receivers: Vec<_> = (0..recipients).map(|_| events_tx.subscribe()).collect();
    let event = event();
    bencher
        .counter(divan::counter::ItemsCount::new(recipients))
        .bench_local(|| {
            // The room holds the event; its queue carries a reference.
            let held = EncodedEvent::new(&event);
            events_tx.send(held.queued()).expect("receivers are alive");
            for events_rx in &mut receivers {
                let frame: Message = events_rx
                    .try_recv()
                    .expect("the event is queued")
                    .event()
                    .expect("the room holds it")
                    .message(Format::Json);
                divan::black_box(frame);
            }
        });
}

/// Encode the event again for each of `recipients`.
#[divan::bench(args = [10, 100, 1000])]
fn encode_per_recipient(bencher: divan::Bencher, recipients: usize) {
    let event = event();
    bencher
        .counter(divan::counter::ItemsCount::new(recipients))
        .bench_local(|| {
            for _ in 0..recipients {
                divan::black_box(Message::text(event.to_json()));
            }
        });
}
