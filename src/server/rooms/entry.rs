//! How a person enters a room: on connect and on `/join`. A room that is
//! absent may have to be loaded from the backend first, outside the lock;
//! the tail read is installed only if the room is still absent and was not
//! evicted meanwhile (see `evictions`).

use super::*;

/// A room's tail read from the backend while the room was absent, after
/// `evictions` evictions: valid only while that room has not been evicted
/// since, as an evicted incarnation's last messages may have been queued
/// after the read. (Evictions of other rooms do not matter: with them
/// counted, rooms churning at the limit could starve a join for ever.)
struct Loaded {
    room: String,
    evictions: u64,
    tail: RoomTail,
    /// False if the tail is not the cluster's (Redis could not be read).
    synced: bool,
}

/// Whether a room is there to enter, or must be loaded first.
enum RoomEntry {
    Ready,
    MustLoad { evictions: u64 },
}

impl Rooms {
    /// Registers a new connection from `client` under `wanted` (or a
    /// `guest-N` name if that is missing or taken, or registered and not
    /// `proved` by `/identify`) and puts it in `room` (or the lobby if that
    /// cannot be created), announcing the arrival.
    pub(crate) async fn connect(
        &self,
        wanted: Option<&str>,
        proved: bool,
        room: &str,
        since: Option<u64>,
        control: Arc<Control>,
        client: std::net::IpAddr,
    ) -> Registration {
        let address = self.bannable(client);
        let (mut claimed, mut refused) = (None, None);
        if let Some(cluster) = self.backend.relay() {
            (claimed, refused) = match wanted {
                // Its owner's, from whoever holds it on any server.
                Some(wanted) if proved => match cluster.take(wanted).await {
                    Ok(()) => (Some(wanted.to_owned()), None),
                    Err(_) => (None, None),
                },
                _ => self.claim_for(cluster, wanted).await,
            };
        }
        let asked = claimed.as_deref().or(wanted);
        let mut loaded = None;
        loop {
            match self.try_connect(
                asked,
                proved,
                refused.as_deref(),
                room,
                since,
                (&control, address),
                &mut loaded,
            ) {
                Ok(mut registration) => {
                    if let Some(cluster) = self.backend.relay() {
                        if let Some(claimed) = &claimed
                            && *claimed != registration.name
                        {
                            // Someone here took it meanwhile: a rare race.
                            cluster.release(claimed);
                            let _ = cluster.claim(&registration.name).await;
                        }
                        registration.membership.people = cluster
                            .head_count(&registration.membership.room, &registration.name)
                            .await
                            .ok();
                    }
                    return registration;
                }
                Err(evictions) => loaded = Some(self.load(room, evictions).await),
            }
        }
    }

    /// [`Rooms::connect`], or `Err` with the eviction count if `room` must be
    /// loaded first.
    #[expect(clippy::too_many_arguments, reason = "one private step of connect")]
    fn try_connect(
        &self,
        wanted: Option<&str>,
        proved: bool,
        refused: Option<&str>,
        room: &str,
        since: Option<u64>,
        (control, address): (&Arc<Control>, Option<std::net::IpAddr>),
        loaded: &mut Option<Loaded>,
    ) -> Result<Registration, u64> {
        let mut problems = Vec::new();
        let mut state = self.state();
        let (room, room_problem) = match self.room_entry(&mut state, room, loaded) {
            Ok(RoomEntry::Ready) => (room, None),
            Ok(RoomEntry::MustLoad { evictions }) => return Err(evictions),
            Err(err) => (DEFAULT_ROOM, Some(err)),
        };
        let registered = wanted.filter(|w| !proved && state.is_registered(w));
        let (name, taken_here) = match wanted {
            Some(wanted)
                if registered.is_none() && !state.people.contains_key(&wanted.to_lowercase()) =>
            {
                (wanted.to_owned(), None)
            }
            _ if registered.is_some() => (state.guest_name(), None),
            _ => (state.guest_name(), wanted),
        };
        if let Some(registered) = registered {
            problems.push(name_registered(
                registered,
                &format!(
                    "you are {name} (/identify {registered} PASSWORD if it is yours, or /nick NAME to pick another)"
                ),
            ));
        }
        for taken in taken_here.into_iter().chain(refused) {
            problems.push(name_taken(
                taken,
                &format!("you are {name} (/nick NAME to pick another)"),
            ));
        }
        problems.extend(room_problem);
        if let Some(closing) = &state.closing {
            control.close(closing.clone());
        }
        state.people.insert(
            name.to_lowercase(),
            Person {
                name: name.clone(),
                control: Arc::clone(control),
                address,
            },
        );
        let membership = self.enter(&mut state, &name, room, since);
        Ok(Registration {
            name,
            membership,
            problems,
        })
    }

    /// Reads `room`'s tail from the backend, outside the lock, as one of
    /// at most [`LOADS_AT_ONCE`].
    async fn load(&self, room: &str, evictions: u64) -> Loaded {
        // Never closed.
        let _turn = self.loads.acquire().await;
        let (tail, synced) = self.backend.load(room).await;
        Loaded {
            room: room.to_owned(),
            evictions,
            tail,
            synced,
        }
    }

    /// Makes sure `room` exists, creating it (and evicting the least recently
    /// active empty room if the limit is reached) from its `loaded` tail, or
    /// says that it must be loaded first.
    fn room_entry(
        &self,
        state: &mut State,
        room: &str,
        loaded: &mut Option<Loaded>,
    ) -> Result<RoomEntry, CommandError> {
        if state.rooms.contains_key(room) {
            return Ok(RoomEntry::Ready);
        }
        if state.rooms.len() >= self.max_rooms {
            let evictable = state
                .rooms
                .iter()
                .filter(|(name, r)| r.members.is_empty() && name.as_str() != DEFAULT_ROOM)
                .min_by_key(|(_, r)| r.last_active)
                .map(|(name, _)| name.clone());
            let Some(evicted) = evictable else {
                return Err(CommandError {
                    code: ErrorCode::TooManyRooms,
                    message: format!(
                        "cannot create room '{room}': the server's {} rooms are all in use",
                        self.max_rooms
                    ),
                });
            };
            state.rooms.remove(&evicted);
            state.departures.forget_room(&evicted);
            state.evictions.record(evicted.clone());
            tracing::debug!(room = %evicted, "evicted the least recently active empty room");
        }
        let (tail, synced) = match (self.backend.start(), loaded.take()) {
            (Start::Empty { synced }, _) => (RoomTail::default(), synced),
            (Start::Load, Some(l))
                if l.room == room && !state.evictions.of_since(room, l.evictions) =>
            {
                (l.tail, l.synced)
            }
            (Start::Load, _) => {
                return Ok(RoomEntry::MustLoad {
                    evictions: state.evictions.count(),
                });
            }
        };
        let mut entry = Room::new(tail, self.history, self.queue);
        entry.synced = synced;
        state.rooms.insert(room.to_owned(), entry);
        Ok(RoomEntry::Ready)
    }

    /// Adds `name` to an existing `room`, announces it, and returns what the
    /// newcomer needs to catch up.
    fn enter(&self, state: &mut State, name: &str, room: &str, since: Option<u64>) -> Membership {
        let entry = state
            .rooms
            .get_mut(room)
            .expect("room_entry created the room under the same lock");
        // Subscribing and copying history under one lock: nothing is in both,
        // and nothing falls between them.
        let events_rx = entry.events_tx.subscribe();
        let (replay, missed) = entry.replay(since);
        entry.members.insert(name);
        let people = (!self.backend.is_cluster()).then_some(entry.members.len());
        let topic = entry.topic.clone();
        if let Some(cluster) = self.backend.relay() {
            cluster.place(name, room);
        }
        let join = Event::Join {
            room: room.to_owned(),
            name: name.to_owned(),
            ts: now_ms(),
        };
        // Back within the hold: the room hears of neither the departure
        // nor the return.
        let heard = state.departures.take(room, name).is_none()
            && self.announce(state, room, &join) == Announced::Heard;
        Membership {
            room: room.to_owned(),
            events_rx,
            replay,
            missed,
            own_join: (!heard).then(|| EncodedEvent::new(&join)),
            people,
            topic,
        }
    }

    /// Moves `name` from room `from` to room `to` (created on first use).
    ///
    /// # Errors
    ///
    /// `bad_arguments` if already there; `too_many_rooms` if `to` cannot be
    /// created. In both cases the person stays where they were.
    pub(crate) async fn switch(
        &self,
        name: &str,
        from: &str,
        to: &str,
    ) -> Result<Membership, CommandError> {
        if from == to {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("you are already in {to}"),
            });
        }
        let mut loaded = None;
        loop {
            match self.try_switch(name, from, to, &mut loaded)? {
                Ok(membership) => return Ok(membership),
                Err(evictions) => loaded = Some(self.load(to, evictions).await),
            }
        }
    }

    /// [`Rooms::switch`], or `Ok(Err)` with the eviction count if `to` must
    /// be loaded first.
    fn try_switch(
        &self,
        name: &str,
        from: &str,
        to: &str,
        loaded: &mut Option<Loaded>,
    ) -> Result<Result<Membership, u64>, CommandError> {
        let mut state = self.state();
        if let RoomEntry::MustLoad { evictions } = self.room_entry(&mut state, to, loaded)? {
            return Ok(Err(evictions));
        }
        self.leave(&mut state, name, from, &format!("joined {to}"), true);
        Ok(Ok(self.enter(&mut state, name, to, None)))
    }
}
