//! Names that belong to someone: `/register`, `/identify`, `/unregister`.
//!
//! A registered name is taken only with its password: by `/identify`, or
//! by a connection that asks for it in its URL and sends `/identify` as its
//! first frame (the hold, in `connection`). So whoever holds a registered
//! name has proven it, and `/register` of one's current name needs no
//! password but the new one.
//!
//! The registrations live with the registry, under its lock, so that guest
//! numbering and `/nick` see them in the same state as the names in use.
//! Hashes are made and checked outside the lock, one at a time
//! (`passwords`); with `--data-dir` every change is saved too, and the
//! names are read back at start. With `--redis-url` they are kept in Redis
//! and every server holds them all (loaded at each resynchronisation, and
//! told of each change on the moderation channel), so that the checks stay
//! in memory; `/identify` takes the name from whoever holds it on any
//! server in one script (`cluster::Cluster::take`), which also tells the
//! room they left and has their server close them (4004).
//!
//! Guessing is bounded: [`MAX_FAILURES`] wrong passwords per name and per
//! address in a minute, then `rate_limited`; registrations are bounded per
//! address ([`MAX_PER_ADDRESS`]) and in all ([`MAX_REGISTERED`]), since they
//! outlive connections. Passwords are never logged.
//!
//! One concept, some 500 lines and its tests: the registrations and the
//! failures counted against guessing live under the one lock and are
//! checked together by every command here; the hashing itself is
//! `server::passwords`, the hold `connection::hold`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_websockets::CloseCode;

use super::moderation::{has_room, not_operator};
use super::{Closing, Control, Rooms, State};
use crate::protocol::command::CommandError;
use crate::protocol::{CLOSE_SIGNED_IN_ELSEWHERE, ErrorCode, Event};
use crate::server::address;
use crate::server::owner::Owner;

/// Wrong passwords tolerated per name, and per address, in [`FAILURE_WINDOW`].
pub(crate) const MAX_FAILURES: u32 = 5;
/// The window [`MAX_FAILURES`] counts in.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Names and addresses whose failures are counted at once: past it, the
/// expired are forgotten, and if none has expired everyone waits.
const MAX_FAILURE_KEYS: usize = 4096;
/// Names registered from one address (an IPv6 /64 counts as one): a person
/// needs one or two, and each outlives its connection.
pub const MAX_PER_ADDRESS: usize = 3;
/// Names registered on the server at most.
pub const MAX_REGISTERED: usize = 10_000;
/// What one registration holds: the names, the PHC string, the map's slot.
const REGISTRATION_BYTES: usize = 512;
/// What one counted failure holds: its key and the map's slot.
const FAILURE_BYTES: usize = 128;
/// The most the registrations and the failures hold.
pub(crate) const REGISTERED_NAMES_BYTES: usize =
    MAX_REGISTERED * REGISTRATION_BYTES + MAX_FAILURE_KEYS * FAILURE_BYTES;

/// The registrations, and the failures counted against guessing.
#[derive(Debug, Default)]
pub(super) struct Registered {
    /// By lowercase name.
    owners: HashMap<String, Owner>,
    /// Wrong passwords by name or address: when the window began, how many.
    failures: HashMap<FailureKey, (Instant, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailureKey {
    Name(String),
    Address(IpAddr),
}

/// As the key of a count across servers, after
/// `cluster::keys::FAILURES_PREFIX`.
impl std::fmt::Display for FailureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(name) => write!(f, "name:{name}"),
            Self::Address(address) => write!(f, "address:{address}"),
        }
    }
}

impl Registered {
    pub(super) fn new(owners: Vec<Owner>) -> Self {
        Self {
            owners: owners
                .into_iter()
                .map(|owner| (owner.name.to_lowercase(), owner))
                .collect(),
            failures: HashMap::new(),
        }
    }

    /// Whether `name` (in any letter case) is registered.
    pub(super) fn contains(&self, name: &str) -> bool {
        self.owners.contains_key(&name.to_lowercase())
    }

    fn keys(name: &str, address: IpAddr) -> [FailureKey; 2] {
        [
            FailureKey::Name(name.to_lowercase()),
            FailureKey::Address(address::key(address)),
        ]
    }

    /// The keys of `name`'s and `address`'s counts across servers
    /// (`cluster::keys::FAILURES_PREFIX`).
    fn shared_keys(name: &str, address: IpAddr) -> [String; 2] {
        Self::keys(name, address).map(|key| key.to_string())
    }

    /// Whether `name` or `address` has used up its wrong passwords.
    fn limited(&self, name: &str, address: IpAddr, now: Instant) -> bool {
        Self::keys(name, address).iter().any(|key| {
            self.failures.get(key).is_some_and(|&(since, count)| {
                count >= MAX_FAILURES && now.duration_since(since) < FAILURE_WINDOW
            })
        })
    }

    /// Counts a wrong password against `name` and `address`.
    fn failed(&mut self, name: &str, address: IpAddr, now: Instant) {
        if self.failures.len() + 2 > MAX_FAILURE_KEYS {
            self.failures
                .retain(|_, (since, _)| now.duration_since(*since) < FAILURE_WINDOW);
        }
        for key in Self::keys(name, address) {
            if self.failures.len() >= MAX_FAILURE_KEYS && !self.failures.contains_key(&key) {
                // Full of recent failures: an attack on many names at once.
                // Not counting this one would let it through unlimited, so
                // the oldest goes to make room.
                if let Some(oldest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, (since, _))| *since)
                    .map(|(key, _)| key.clone())
                {
                    self.failures.remove(&oldest);
                }
            }
            let entry = self.failures.entry(key).or_insert((now, 0));
            if now.duration_since(entry.0) >= FAILURE_WINDOW {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    /// Why `address` may not register one more name, if it may not.
    fn refusal(&self, address: IpAddr) -> Option<CommandError> {
        let key = address::key(address);
        let mine = self
            .owners
            .values()
            .filter(|owner| address::key(owner.address) == key)
            .count();
        let message = if mine >= MAX_PER_ADDRESS {
            format!(
                "at most {MAX_PER_ADDRESS} names may be registered from one address; /unregister one of yours first"
            )
        } else if self.owners.len() >= MAX_REGISTERED {
            format!("this server has {MAX_REGISTERED} registered names already; ask its operator")
        } else {
            return None;
        };
        Some(CommandError {
            code: ErrorCode::TooManyRegistrations,
            message,
        })
    }
}

impl State {
    /// Whether `name` is registered to someone.
    pub(super) fn is_registered(&self, name: &str) -> bool {
        self.registered.contains(name)
    }
}

/// Whether `name` has the shape of the names the server gives guests:
/// those cannot be registered, or every newcomer could be made to wait.
fn is_guest_name(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("guest-"))
        && name.len() > 6
        && name[6..].bytes().all(|b| b.is_ascii_digit())
}

/// The refusal of a registered name to someone who has not proven it.
pub(crate) fn name_registered(name: &str, what_next: &str) -> CommandError {
    CommandError {
        code: ErrorCode::NameRegistered,
        message: format!("the name '{name}' is registered; {what_next}"),
    }
}

impl Rooms {
    /// Whether `name` is registered (a connection asking for it is held
    /// until it identifies).
    pub(crate) fn is_registered(&self, name: &str) -> bool {
        self.state().is_registered(name)
    }

    /// Registers `name`, which the caller holds, with `password` (a new
    /// password if it is registered already), for a person at `address`.
    ///
    /// # Errors
    ///
    /// `bad_arguments` for a guest name;
    /// `too_many_registrations`; `bad_arguments` if hashing failed.
    pub(crate) async fn register(
        &self,
        name: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<Event, CommandError> {
        if is_guest_name(name) {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: "guest names cannot be registered; /nick NAME to choose your own first"
                    .to_owned(),
            });
        }
        let key = name.to_lowercase();
        let check = |state: &State| -> Result<bool, CommandError> {
            let changed = state.registered.owners.contains_key(&key);
            match state.registered.refusal(address) {
                Some(refusal) if !changed => Err(refusal),
                _ => Ok(changed),
            }
        };
        check(&self.state())?;
        let Some(hash) = self.passwords.hash(password).await else {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: "the server could not keep your password; try again later".to_owned(),
            });
        };
        let owner = Owner {
            name: name.to_owned(),
            hash: hash.into(),
            address,
        };
        let changed = {
            let mut state = self.state();
            // Again: another connection from the address may have
            // registered while this one hashed.
            let changed = check(&state)?;
            state.registered.owners.insert(key, owner.clone());
            changed
        };
        // Held here already; with Redis, every server holds it.
        let _ = self.backend.save_name(owner).await;
        tracing::info!(who = %name, action = "register", changed, "registered a name");
        Ok(Event::Registered {
            name: name.to_owned(),
            durable: self.backend.keeps_names(),
            changed,
        })
    }

    /// Checks `password` for the registered `name`, on behalf of a person
    /// at `address`.
    ///
    /// # Errors
    ///
    /// `rate_limited` after [`MAX_FAILURES`]
    /// wrong passwords for the name or from the address in a minute;
    /// `not_registered`; `wrong_password`.
    pub(crate) async fn check_password(
        &self,
        name: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<(), CommandError> {
        let limited = || CommandError {
            code: ErrorCode::RateLimited,
            message: format!(
                "too many wrong passwords for '{name}' or from your address; wait a minute"
            ),
        };
        // With Redis the counts are every server's, or a guesser would get
        // five tries a minute from each (while the link is down, ours alone).
        let shared_keys = Registered::shared_keys(name, address);
        if let Some(cluster) = self.backend.relay()
            && let Ok(counts) = cluster.failures(&shared_keys).await
            && counts.iter().any(|&count| count >= MAX_FAILURES)
        {
            return Err(limited());
        }
        let hash = {
            let state = self.state();
            if state.registered.limited(name, address, Instant::now()) {
                return Err(limited());
            }
            match state.registered.owners.get(&name.to_lowercase()) {
                Some(owner) => Arc::clone(&owner.hash),
                None => {
                    return Err(CommandError {
                        code: ErrorCode::NotRegistered,
                        message: format!(
                            "the name '{name}' is not registered (/register PASSWORD reserves the name you have)"
                        ),
                    });
                }
            }
        };
        if self.passwords.verify(password, &hash).await {
            return Ok(());
        }
        self.state()
            .registered
            .failed(name, address, Instant::now());
        if let Some(cluster) = self.backend.relay()
            && let Err(err) = cluster.failed(&shared_keys, FAILURE_WINDOW).await
        {
            tracing::debug!("a wrong password is counted here alone: {err}");
        }
        tracing::info!(whom = %name, %address, action = "identify", "refused: wrong password");
        Err(CommandError {
            code: ErrorCode::WrongPassword,
            message: format!("wrong password for '{name}'"),
        })
    }

    /// Takes `name` from the connection that holds it, unless that is
    /// `keeper` (the one taking it, by its current name): that connection
    /// leaves its room at once (`signed in elsewhere`) and is told to close
    /// with [`CLOSE_SIGNED_IN_ELSEWHERE`]. Its own departure later finds
    /// the name no longer its own, and changes nothing.
    pub(crate) fn take_over(&self, name: &str, keeper: Option<&str>) {
        self.take_over_locked(&mut self.state(), name, keeper);
    }

    /// [`Rooms::take_over`] under the lock already held.
    fn take_over_locked(&self, state: &mut State, name: &str, keeper: Option<&str>) {
        let key = name.to_lowercase();
        if keeper.is_some_and(|k| k.to_lowercase() == key) {
            return;
        }
        let Some(person) = state.people.remove(&key) else {
            return;
        };
        state.ops.remove(&key);
        const REASON: &str = "signed in elsewhere";
        // With Redis, `Cluster::take` tells the room, on every server.
        let announce = self.backend.relay().is_none();
        person.control.close(Closing {
            code: CloseCode::try_from(CLOSE_SIGNED_IN_ELSEWHERE)
                .expect("4004 is in the range for applications"),
            reason: REASON.to_owned(),
        });
        let room = state.room_of(&key).map(|(room, _)| room.clone());
        if let Some(room) = room {
            self.leave(state, &person.name, &room, REASON, announce);
        }
        tracing::info!(whom = %person.name, "signed in elsewhere: the older connection is closed");
    }

    /// Makes the connection `control`, called `current`, in `room`, the
    /// registered `name`, with its `password`: the older holder of `name`
    /// is closed ([`Rooms::take_over`]), and the room reads the rename.
    ///
    /// # Errors
    ///
    /// Those of [`Rooms::check_password`]; `name_taken` if `current` is no
    /// longer this connection's (someone identified as it while the
    /// password was checked).
    pub(crate) async fn identify(
        &self,
        (current, control): (&str, &Arc<Control>),
        room: &str,
        name: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<Option<Event>, CommandError> {
        self.check_password(name, password, address).await?;
        let cluster = self.backend.relay();
        if let Some(cluster) = cluster {
            cluster
                .take(name)
                .await
                .map_err(super::directory::unanswered)?;
        }
        let mut guard = self.state();
        let state = &mut *guard;
        // The check took a while: this connection may have lost its own
        // name meanwhile, and must not rename whoever has it now.
        match state.people.get(&current.to_lowercase()) {
            Some(person) if Arc::ptr_eq(&person.control, control) => {}
            _ => return Err(super::name_taken(current, "you were signed in elsewhere")),
        }
        self.take_over_locked(state, name, Some(current));
        if current == name {
            return Ok(None);
        }
        let renamed = self.rename_locked(state, current, room, name);
        if let Some(cluster) = cluster
            && renamed.is_ok()
        {
            // As `/nick` does, with the new name's claim ours already.
            let is_op = state.ops.contains(&name.to_lowercase());
            super::names::renamed_in_cluster(cluster, current, name, room, is_op);
        }
        renamed
    }

    /// Holds a name registered on any server (from Redis).
    pub(super) fn hold_name(&self, owner: Owner) {
        let mut state = self.state();
        let key = owner.name.to_lowercase();
        if !has_room(&mut state.registered.owners, &key, MAX_REGISTERED, |_| {
            false
        }) {
            tracing::warn!(name = %owner.name, "a registration from another server dropped: {MAX_REGISTERED} are held already");
            return;
        }
        state.registered.owners.insert(key, owner);
    }

    /// Holds `names` (all Redis keeps) instead of those held here.
    pub(super) fn names_loaded(&self, names: Vec<Owner>) {
        let owners = names.into_iter().take(MAX_REGISTERED).collect();
        let mut state = self.state();
        state.registered.owners = Registered::new(owners).owners;
    }

    /// Frees a name unregistered on any server (from Redis), and tells
    /// its holder here, unless they freed it themselves.
    pub(super) fn unregistered_here(&self, state: &mut State, event: &Event) {
        let Event::Unregistered { name, by } = event else {
            return;
        };
        state.registered.owners.remove(&name.to_lowercase());
        self.tell_unregistered(state, name, by, event);
    }

    /// Tells whoever holds `name` now that `by` unregistered it, by
    /// `event`, unless they did it themselves.
    fn tell_unregistered(&self, state: &State, name: &str, by: &str, event: &Event) {
        let key = name.to_lowercase();
        if key != by.to_lowercase()
            && let Some(person) = state.people.get(&key)
        {
            let _ = person.control.deliver(event.clone(), &self.mailboxes);
        }
    }

    /// Frees `name` (`None`: `by`'s own), on behalf of `by`.
    ///
    /// # Errors
    ///
    /// `not_operator` for someone else's name
    /// from someone who is not one; `not_registered`.
    pub(crate) async fn unregister(
        &self,
        by: &str,
        name: Option<&str>,
    ) -> Result<Event, CommandError> {
        let name = name.unwrap_or(by);
        let key = name.to_lowercase();
        let event = {
            let mut state = self.state();
            if key != by.to_lowercase() && !state.ops.contains(&by.to_lowercase()) {
                return Err(not_operator(
                    self.op_token.is_some(),
                    "unregister someone else's name",
                ));
            }
            let Some(owner) = state.registered.owners.remove(&key) else {
                return Err(CommandError {
                    code: ErrorCode::NotRegistered,
                    message: format!("the name '{name}' is not registered"),
                });
            };
            tracing::info!(who = %by, action = "unregister", whom = %owner.name, "unregistered a name");
            Event::Unregistered {
                name: owner.name,
                by: by.to_owned(),
            }
        };
        // With Redis every server (this one too) tells the holder. Freed
        // here already: a registration of the name since is not undone.
        if !self.backend.forget_name(&key, &event).await {
            self.tell_unregistered(&self.state(), name, by, &event);
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_names_are_recognised_in_any_case() {
        assert!(is_guest_name("guest-1"));
        assert!(is_guest_name("Guest-42"));
        assert!(!is_guest_name("guest-"));
        assert!(!is_guest_name("guest-a"));
        assert!(!is_guest_name("guest"));
        assert!(!is_guest_name("guests-1"));
    }

    #[test]
    fn five_failures_a_minute_limit_the_name_and_the_address() {
        let mut registered = Registered::default();
        let (home, away) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(!registered.limited("ana", home, now));
            registered.failed("ana", home, now);
        }
        assert!(registered.limited("ana", home, now));
        assert!(
            registered.limited("Ana", away, now),
            "the name, from anywhere"
        );
        assert!(
            registered.limited("bo", home, now),
            "the address, for any name"
        );
        assert!(!registered.limited("bo", away, now));
        let later = now + FAILURE_WINDOW;
        assert!(!registered.limited("ana", home, later));
    }

    #[test]
    fn failures_are_bounded() {
        let mut registered = Registered::default();
        let now = Instant::now();
        for n in 0..(MAX_FAILURE_KEYS as u32 * 2) {
            registered.failed(&format!("n{n}"), IpAddr::from(n.to_be_bytes()), now);
        }
        assert!(registered.failures.len() <= MAX_FAILURE_KEYS);
    }
}
