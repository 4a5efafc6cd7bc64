//! Several servers as one chat, through Redis (`--redis-url`).
//!
//! Redis is the only coordinator: no server talks to another directly.
//! - A room's messages take their ids from one counter in Redis, and a Lua
//!   script ([`scripts::SAY`]) numbers, keeps and publishes each message in
//!   one step, so every server sees one order. A server delivers to its own
//!   people only what comes back from Redis (the sender's copy too), encoded
//!   once per event on arrival: each message crosses Redis once, not once
//!   per recipient.
//! - Names are claims with an expiry each server refreshes for its own
//!   people; who is where is one hash per server, read for `/who` and
//!   `/rooms` together with each server's liveness key, so a crashed
//!   server's people disappear ([`keys`] names them all).
//! - History is a capped stream per room whose entry ids are the message
//!   ids ([`stream`]). Redis keeps `--max-stored-rooms` rooms' streams and
//!   counters, dropping the least recently written; a dropped room used
//!   again starts from id 1, which the servers still holding it accept
//!   (see [`Registry::arrived`]).
//! - Nothing read from Redis is trusted: every event, published or kept, is
//!   checked like client input ([`inbound`]) before anyone sees it.
//!
//! [`Cluster::connect`] gives two halves. [`Cluster`] is the handle the
//! registry calls: commands that need no answer are queued, questions are
//! asked on the link's connection. [`Bridge`] is the one task that owns the
//! link: it sends what was queued (in order, in pipelines), delivers what
//! Redis publishes, and reconnects and resynchronises when Redis is lost.
//! It reaches the registry only through the [`Registry`] trait declared
//! here, so this module knows nothing of rooms.
//!
//! One concept, some 590 lines and its tests: the handle's commands for
//! rooms, names and presence, each a few lines of Redis arguments, beside
//! the errors they share; what operators and registered names ask of Redis
//! is [`moderation`]'s.

mod bridge;
mod inbound;
mod inbox;
mod keys;
mod moderation;
mod outbox;
mod registry;
mod scripts;
mod stream;

use std::fmt;
use std::time::Duration;

use redis::Cmd;
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;

use super::history::RoomTail;
use super::metrics::LinkMetrics;
use crate::protocol::{Event, RoomInfo, WHO_PAGE};
pub(crate) use bridge::Bridge;
use inbound::Inbound;
pub(crate) use inbound::Moderation;
use keys::ServerId;
use outbox::Outbox;
pub(crate) use registry::{Arrival, Registry, Snapshot};

/// How long Redis may take to answer one command or pipeline, on every
/// connection of ours: past it, a person's question gets a `cluster` error,
/// and the bridge counts the link as lost. (The redis crate's own default
/// is 500 ms, too short for a pipeline of a thousand commands on a busy
/// machine.)
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the start-up check may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server cannot start with `--redis-url`. The URL in each message
/// is redacted: no password shows, whatever form it was given in.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse as one of the Redis schemes.
    #[error(
        "--redis-url is not a Redis URL: {url} (expected redis://HOST:PORT or redis+unix:///PATH)"
    )]
    NotAUrl { url: String },
    /// A Redis URL the redis crate cannot use (a bad database number, say).
    #[error(
        "--redis-url cannot be used: {url}: {reason} (expected redis://HOST:PORT or redis+unix:///PATH)"
    )]
    Unusable { url: String, reason: String },
    /// A valid URL, but nothing there answered a `PING`.
    #[error("cannot reach Redis at {url}: {reason} (is redis-server running?)")]
    Unreachable { url: String, reason: String },
}

/// Why a question to the other servers has no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error("the link to Redis is down")]
    Down,
    #[error("Redis did not answer within {RESPONSE_TIMEOUT:?}")]
    Timeout,
    #[error("Redis answered with an error: {0}")]
    Redis(redis::RedisError),
}

impl From<redis::RedisError> for ClusterError {
    fn from(err: redis::RedisError) -> Self {
        if err.is_timeout() {
            ClusterError::Timeout
        } else {
            ClusterError::Redis(err)
        }
    }
}

/// Whether `err` says the link failed (I/O: a timeout, a connection closed
/// or broken) rather than that one command did (Redis refused it, with
/// `NOSCRIPT`, `WRONGTYPE` or `ERR …`, or its answer was not what we read
/// there): only the first ends a session with Redis.
fn is_link_failure(err: &redis::RedisError) -> bool {
    err.is_io_error()
}

/// The settings of every connection to Redis.
fn connection_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new().set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// The most the link to Redis holds for texts of `max_message_bytes`: what
/// waits to go out and what has arrived (see `outbox` and `inbox`).
pub(crate) fn link_bytes(max_message_bytes: usize) -> usize {
    outbox::worst_case_bytes(max_message_bytes, bridge::MAX_PIPELINE_BYTES)
        + inbox::worst_case_bytes(max_message_bytes)
}

/// The registry's handle on the other servers.
pub(crate) struct Cluster {
    id: ServerId,
    /// Commands that need no answer, in the order they were made; bounded
    /// in bytes, and full means the link is being reset ([`outbox`]).
    outgoing: Outbox,
    /// The link's connection while it is up; the bridge alone writes it.
    link: watch::Receiver<Option<MultiplexedConnection>>,
    history_len: usize,
    /// `--max-stored-rooms`: the rooms Redis keeps, past which the least
    /// recently written is dropped.
    max_stored_rooms: usize,
    /// The checks on what is read back from Redis (a room's tail).
    inbound: Inbound,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to Redis at `url` and checks that it answers, so that a wrong
    /// URL or a Redis that is not running fails before the server listens;
    /// the link comes up once the bridge runs. Redis keeps `history_len`
    /// messages of `max_stored_rooms` rooms; no text longer than
    /// `max_message_bytes` is taken from it.
    ///
    /// # Errors
    ///
    /// An invalid URL, or a Redis that cannot be reached or does not answer.
    pub(crate) async fn connect(
        url: &str,
        history_len: usize,
        max_stored_rooms: usize,
        max_message_bytes: usize,
        metrics: LinkMetrics,
    ) -> Result<(Cluster, Bridge), ConnectError> {
        let shown = redact(url);
        if redis::parse_redis_url(url).is_none() {
            return Err(ConnectError::NotAUrl { url: shown });
        }
        let client = redis::Client::open(url).map_err(|err| ConnectError::Unusable {
            url: shown.clone(),
            reason: err.to_string(),
        })?;
        let fail = |reason: String| ConnectError::Unreachable {
            url: shown.clone(),
            reason,
        };
        let check = async {
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&connection_config())
                .await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>(())
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, check).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(fail(err.to_string())),
            Err(_) => return Err(fail(format!("no answer within {CONNECT_TIMEOUT:?}"))),
        }
        let id = ServerId::random();
        let inbound = Inbound { max_message_bytes };
        let (outgoing, outgoing_rx) = outbox::outbox(&metrics);
        // The subscriptions speak RESP3, so that published messages come to
        // a push sender of ours, which bounds them ([`inbox`]); the other
        // connections keep RESP2, whose answers the code reads.
        let info = client.get_connection_info().clone();
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let subscriber = redis::Client::open(info.set_redis_settings(resp3)).map_err(|err| {
            ConnectError::Unusable {
                url: shown.clone(),
                reason: err.to_string(),
            }
        })?;
        let (link_tx, link) = watch::channel(None);
        let cluster = Cluster {
            id: id.clone(),
            outgoing,
            link,
            history_len,
            max_stored_rooms,
            inbound,
        };
        let bridge = Bridge {
            client,
            subscriber,
            id,
            url: shown,
            outgoing: outgoing_rx,
            link: link_tx,
            metrics,
            history_len,
            max_stored_rooms,
            inbound,
        };
        Ok((cluster, bridge))
    }

    /// The link's connection, if the link is up.
    fn connection(&self) -> Option<MultiplexedConnection> {
        self.link.borrow().clone()
    }

    /// Whether the link to the other servers is up: while it is down, this
    /// server works alone. A full queue for Redis counts as down from the
    /// moment it fills, before the bridge has reset the link.
    pub(crate) fn is_up(&self) -> bool {
        self.link.borrow().is_some() && !self.outgoing.is_full()
    }

    /// Commands queued for Redis and not yet sent.
    pub(crate) fn pending(&self) -> usize {
        self.outgoing.pending()
    }

    /// Queues `cmd`; `false` if the queue is full (see [`outbox`]).
    fn queue(&self, cmd: Cmd) -> bool {
        self.outgoing.push(cmd)
    }

    /// Says `event` (a message or action, id 0) in `room`: numbered, kept
    /// and published by Redis, and delivered here when it comes back.
    /// `false`: the queue for Redis is full, the link is being reset, and
    /// the caller delivers the message as while the link is down.
    #[must_use = "a message Redis did not take is delivered here"]
    pub(crate) fn say(&self, room: &str, event: &Event) -> bool {
        let json = event.to_json();
        let keys = [
            keys::counter(room),
            keys::history(room),
            keys::room_channel(room),
        ];
        // Built to size: a buffer that grew by doubling to take the text
        // and then one more argument would hold the text twice, and the
        // queue counts it once.
        let size = json.len() + room.len() + keys.iter().map(String::len).sum::<usize>() + 128;
        let mut cmd = scripts::call_sized(&scripts::SAY, 10, size);
        let [counter, history, channel] = keys;
        cmd.arg(2)
            .arg(counter)
            .arg(history)
            .arg(channel)
            .arg(self.history_len)
            .arg(json)
            .arg(room)
            .arg(self.max_stored_rooms);
        self.queue(cmd)
    }

    /// Publishes a join, leave or nick notice in `room`; notices have no id
    /// and are not kept. `false` as for [`Cluster::say`].
    #[must_use = "a notice Redis did not take is delivered here"]
    pub(crate) fn notice(&self, room: &str, event: &Event) -> bool {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(keys::room_channel(room))
            .arg(format!("0 {}", event.to_json()));
        self.queue(cmd)
    }

    /// Sets `room`'s topic (empty: none) and tells the room with `event`,
    /// its `topic` notice ([`scripts::TOPIC`]). `false` as for
    /// [`Cluster::say`].
    #[must_use = "a topic Redis did not take is set here"]
    pub(crate) fn topic(&self, room: &str, topic: &str, event: &Event) -> bool {
        let mut cmd = scripts::call(&scripts::TOPIC);
        cmd.arg(1)
            .arg(keys::topic(room))
            .arg(keys::room_channel(room))
            .arg(topic)
            .arg(event.to_json())
            .arg(room)
            .arg(self.max_stored_rooms);
        self.queue(cmd)
    }

    /// Records that `name` is in `room` on this server, for `/who` and
    /// `/rooms` (out of the room they were in).
    ///
    /// This and the two below are dropped while the queue is full: the
    /// resynchronisation after the reset rewrites the lists and the
    /// claims, and a claim not released expires ([`keys::CLAIM_TTL`]).
    pub(crate) fn place(&self, name: &str, room: &str) {
        self.queue(scripts::place(&self.id, name, room));
    }

    /// Forgets `name`: out of the lists, and the name free for anyone.
    pub(crate) fn forget(&self, name: &str) {
        let mut cmd = scripts::call(&scripts::UNPLACE);
        cmd.arg(0).arg(self.id.as_str()).arg(name);
        self.queue(cmd);
        self.release(name);
    }

    /// Frees the claim on `name` if it is still ours.
    pub(crate) fn release(&self, name: &str) {
        let mut cmd = scripts::call(&scripts::RELEASE);
        cmd.arg(1)
            .arg(keys::name(name))
            .arg(self.id.claim_value(name));
        self.queue(cmd);
    }

    /// Claims `name` for one of our people: `false` if another server's
    /// person has it.
    pub(crate) async fn claim(&self, name: &str) -> Result<bool, ClusterError> {
        let claimed: i64 = self.query(&mut scripts::claim(&self.id, name)).await?;
        Ok(claimed == 1)
    }

    /// Announces a join, leave or nick in `room` as its size across
    /// servers wants it: published to the room up to `presence_limit`
    /// people, counted for the room's next summary above it, when the
    /// person it is about hears it alone ([`scripts::PRESENCE`]). `false`
    /// as for [`Cluster::say`].
    #[must_use = "a notice Redis did not take is delivered here"]
    pub(crate) fn presence(&self, room: &str, event: &Event, presence_limit: usize) -> bool {
        let (kind, name) = match event {
            Event::Join { name, .. } => ("join", name),
            Event::Leave { name, .. } => ("leave", name),
            Event::Nick { new, .. } => ("nick", new),
            _ => return self.notice(room, event),
        };
        let mut cmd = scripts::call(&scripts::PRESENCE);
        cmd.arg(0)
            .arg(self.id.as_str())
            .arg(room)
            .arg(kind)
            .arg(name)
            .arg(event.to_json())
            .arg(presence_limit);
        self.queue(cmd)
    }

    /// Has Redis publish the presence summaries that are due, in rooms
    /// above `presence_limit` across servers; every server asks once per
    /// `interval`, and each room gets one summary per interval whoever
    /// asks ([`scripts::SUMMARISE`]).
    pub(crate) fn summarise(&self, presence_limit: usize, interval: Duration) {
        let mut cmd = scripts::call(&scripts::SUMMARISE);
        cmd.arg(0)
            .arg(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX))
            .arg(presence_limit)
            .arg(WHO_PAGE);
        self.queue(cmd);
    }

    /// One page of the names in `room` on every live server: those
    /// starting with `prefix`, after `after` (any letter case), at most
    /// `len`; with the room's head count, and whether more match. Redis
    /// reads the page and no more ([`scripts::WHO`]).
    pub(crate) async fn who(
        &self,
        room: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        len: usize,
    ) -> Result<WhoPage, ClusterError> {
        let (from, to) = who_bounds(prefix, after);
        let mut cmd = scripts::call(&scripts::WHO);
        cmd.arg(0)
            .arg(room)
            .arg(from)
            .arg(to)
            .arg(len + 1)
            .arg(scripts::STEP);
        let (count, members, ops): (usize, Vec<String>, Vec<String>) = self.query(&mut cmd).await?;
        let more = members.len() > len;
        let spelled: Vec<String> = members
            .into_iter()
            .take(len)
            .filter_map(|member| member.split_once(' ').map(|(_, name)| name.to_owned()))
            .collect();
        // Those of the page only (it was read one name longer).
        let ops = ops.into_iter().filter(|op| spelled.contains(op)).collect();
        Ok(WhoPage {
            count,
            names: inbound::names(spelled),
            more,
            ops: inbound::names(ops),
        })
    }

    /// How many are in `room` on every server, `name` (one of ours, just
    /// placed) included: the welcome's count. Our write of `name` is
    /// queued and this is a question on another connection, so the
    /// newcomer is counted unless listed. Two reads and no script, since
    /// it runs at every arrival: the head count may still hold a crashed
    /// server's people until the next reap (`/who` reaps first).
    pub(crate) async fn head_count(&self, room: &str, name: &str) -> Result<usize, ClusterError> {
        let mut connection = self.connection().ok_or(ClusterError::Down)?;
        let (members, member) = keys::members(room, name);
        let (count, listed): (Option<usize>, Option<f64>) = redis::pipe()
            .cmd("HGET")
            .arg(keys::HEAD_COUNTS)
            .arg(room)
            .cmd("ZSCORE")
            .arg(members)
            .arg(member)
            .query_async(&mut connection)
            .await?;
        Ok(count.unwrap_or(0) + usize::from(listed.is_none()))
    }

    /// The rooms with people in them on any live server; Redis reads only
    /// their head counts ([`scripts::ROOMS`]).
    pub(crate) async fn rooms(&self) -> Result<Vec<RoomInfo>, ClusterError> {
        let mut cmd = scripts::call(&scripts::ROOMS);
        cmd.arg(0).arg(scripts::STEP);
        let counts: Vec<(String, i64)> = self.query(&mut cmd).await?;
        Ok(inbound::rooms(
            counts
                .into_iter()
                .filter_map(|(room, people)| Some((room, usize::try_from(people).ok()?)))
                .collect(),
        ))
    }

    /// Sends a private message to `to` if another server has that person:
    /// the sender's copy, with the name as its owner spells it, or `None` if
    /// nobody has it.
    pub(crate) async fn private(
        &self,
        from: &str,
        to: &str,
        text: &str,
        ts: u64,
    ) -> Result<Option<Event>, ClusterError> {
        let mut get = redis::cmd("GET");
        get.arg(keys::name(to));
        let held: Option<String> = self.query(&mut get).await?;
        let Some((server, name)) = held.as_deref().and_then(inbound::claim_holder) else {
            return Ok(None);
        };
        let event = Event::Private {
            from: from.to_owned(),
            to: name.to_owned(),
            text: text.to_owned(),
            ts,
        };
        let mut publish = redis::cmd("PUBLISH");
        publish
            .arg(ServerId::channel_of(server))
            .arg(event.to_json());
        let receivers: i64 = self.query(&mut publish).await?;
        Ok((receivers > 0).then_some(event))
    }

    /// A room's last messages and last id, as Redis keeps them.
    pub(crate) async fn load(&self, room: &str) -> Result<RoomTail, ClusterError> {
        let mut connection = self.connection().ok_or(ClusterError::Down)?;
        stream::tail(&mut connection, &self.inbound, room, self.history_len).await
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &mut Cmd) -> Result<T, ClusterError> {
        let mut connection = self.connection().ok_or(ClusterError::Down)?;
        let mut answer = cmd.query_async(&mut connection).await;
        if let Err(err) = &answer
            && scripts::is_missing(err)
        {
            tracing::info!("Redis no longer had our scripts; loading them again");
            answer = match scripts::load(&mut connection).await {
                Ok(()) => cmd.query_async(&mut connection).await,
                Err(err) => Err(err),
            };
        }
        let answer = answer.map_err(ClusterError::from);
        if let Err(err) = &answer {
            tracing::warn!("a question to Redis failed: {err}");
        }
        answer
    }
}

/// One page of `/who` across servers.
#[derive(Debug)]
pub(crate) struct WhoPage {
    /// Everyone in the room, whatever the prefix.
    pub count: usize,
    pub names: Vec<String>,
    pub more: bool,
    /// Those of `names` that are operators, on any live server.
    pub ops: Vec<String>,
}

/// The `ZRANGEBYLEX` bounds of a page of names starting with `prefix`
/// (lowercase in the member sets) after the name `after`: from whichever
/// is further, the prefix or just past every spelling of the cursor (a
/// member is `KEY NAME`, and `!` sorts after the space and before every
/// character of a name), to the last key that starts with the prefix.
fn who_bounds(prefix: Option<&str>, after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let prefix = prefix.unwrap_or_default().to_lowercase();
    let from = match after.map(str::to_lowercase) {
        Some(after) if after >= prefix => format!("[{after}!").into_bytes(),
        _ if prefix.is_empty() => b"-".to_vec(),
        _ => format!("[{prefix}").into_bytes(),
    };
    let to = if prefix.is_empty() {
        b"+".to_vec()
    } else {
        let mut to = format!("[{prefix}").into_bytes();
        to.push(0xff);
        to
    };
    (from, to)
}

/// `url` with every secret in it replaced by `***`, for messages and logs;
/// it takes any string, since an unparseable `--redis-url` is shown too.
///
/// Hidden: the values of the `pass` and `password` query parameters (the
/// redis crate reads `pass` in a `redis+unix://` URL), and the userinfo of
/// the authority but for the user name before its `:`. The userinfo runs to
/// the last `@` in the string, not to the first `/` as a URL parser would
/// have it, so that a password with an unescaped `/`, `?`, `#` or `@` in it
/// (which makes the URL unparseable) is hidden whole. Both are marked on
/// the string as given and every marked run becomes one `***`, so that one
/// rule cannot undo the other (a query password holding an `@`).
fn redact(url: &str) -> String {
    let mut secret = vec![false; url.len()];
    let authority = url.find("://").map_or(0, |scheme_end| scheme_end + 3);
    if let Some(at) = url.rfind('@').filter(|&at| at >= authority) {
        let userinfo = &url[authority..at];
        // Without a `:`, a lone name might be the password itself.
        let hidden_from = userinfo
            .find(':')
            .map_or(authority, |colon| authority + colon + 1);
        secret[hidden_from..at].fill(true);
    }
    for (separator, _) in url.match_indices(['?', '&']) {
        let parameter = &url[separator + 1..];
        let Some((key, value)) = parameter.split_once('=') else {
            continue;
        };
        if key.eq_ignore_ascii_case("pass") || key.eq_ignore_ascii_case("password") {
            let value_start = separator + 1 + key.len() + 1;
            let value_len = value.find(['&', '#']).unwrap_or(value.len());
            secret[value_start..value_start + value_len].fill(true);
        }
    }
    let mut shown = String::with_capacity(url.len());
    for (at, c) in url.char_indices() {
        if !secret[at] {
            shown.push(c);
        } else if at == 0 || !secret[at - 1] {
            shown.push_str("***");
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page's bounds start at the prefix or just past the cursor,
    /// whichever is further, and end after the last name with the prefix.
    #[test]
    fn who_pages_are_ranges_of_the_member_sets() {
        let bounds = |prefix, after| {
            let (from, to) = who_bounds(prefix, after);
            (String::from_utf8_lossy(&from).into_owned(), to)
        };
        assert_eq!(bounds(None, None), ("-".into(), b"+".to_vec()));
        assert_eq!(
            bounds(Some("AN"), None),
            ("[an".into(), b"[an\xff".to_vec())
        );
        assert_eq!(
            bounds(Some("an"), Some("Anabel")),
            ("[anabel!".into(), b"[an\xff".to_vec())
        );
        assert_eq!(
            bounds(Some("an"), Some("al")),
            ("[an".into(), b"[an\xff".to_vec())
        );
        assert_eq!(bounds(None, Some("bo")), ("[bo!".into(), b"+".to_vec()));
        // Every spelling of the cursor sorts before its bound, every longer
        // name after it.
        assert!("ana Ana" < "ana!" && "ana!" < "ana-x ana-x" && "ana!" < "ana0 ana0");
    }

    /// The password in the authority is hidden, the rest of the URL shown.
    #[test]
    fn a_password_never_shows() {
        assert_eq!(
            redact("redis://:s3cret@db:6379/0"),
            "redis://:***@db:6379/0"
        );
        assert_eq!(redact("redis://ana:s3cret@db"), "redis://ana:***@db");
        assert_eq!(redact("redis://db:6379"), "redis://db:6379");
        assert_eq!(
            redact("redis+unix:///tmp/r.sock"),
            "redis+unix:///tmp/r.sock"
        );
    }

    /// A password in the query (`pass`, which the redis crate reads for a
    /// socket, or `password`) is hidden, the other parameters shown.
    #[test]
    fn a_password_in_the_query_never_shows() {
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?pass=s3cret"),
            "redis+unix:///tmp/r.sock?pass=***"
        );
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?db=1&password=s3cret&user=ana"),
            "redis+unix:///tmp/r.sock?db=1&password=***&user=ana"
        );
        assert_eq!(
            redact("redis://db/?PASS=s3cret#insecure"),
            "redis://db/?PASS=***#insecure"
        );
        assert_eq!(redact("redis://db/?passport=1"), "redis://db/?passport=1");
    }

    /// A password that makes the URL unparseable (an unescaped `/`, `?`,
    /// `#` or `@` in it), or a string with no scheme at all, is hidden too.
    #[test]
    fn a_password_in_an_unparseable_url_never_shows() {
        assert_eq!(redact("redis://:pa/ss@db"), "redis://:***@db");
        assert_eq!(redact("redis://ana:pa?ss@db:1"), "redis://ana:***@db:1");
        assert_eq!(redact("redis://:pa#ss@db"), "redis://:***@db");
        assert_eq!(redact("redis://:s3@cret@db"), "redis://:***@db");
        assert_eq!(redact("redis://s3cret@db"), "redis://***@db");
        assert_eq!(redact(":s3cret@db"), ":***@db");
        assert_eq!(redact("db:6379"), "db:6379");
    }

    /// Every form above, checked for the secret itself rather than a shape.
    #[test]
    fn no_form_shows_the_secret() {
        for url in [
            "redis://:SECRET@db",
            "redis://ana:SECRET@db/0?password=SECRET",
            "redis+unix:///r.sock?pass=SECRET",
            "redis+unix:///r.sock?db=0&pass=SECRET&user=ana",
            "unix:///r.sock?pass=SECRET",
            "redis://:SE/CRET@db",
            "redis://:SE?CRET@db",
            "redis://:SE#CRET@db",
            "redis://:x&pass=SE@CRET@db",
            "redis+unix:///r.sock?pass=SE@CRET",
            "redis://SECRET@db",
            "SECRET@db",
        ] {
            let shown = redact(url);
            assert!(!shown.contains("CRET"), "{url} shows as {shown}");
        }
    }
}
