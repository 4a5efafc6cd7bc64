//! The Lua scripts that make each multi-key step atomic in Redis.
//!
//! They are called by hash (`EVALSHA`) and loaded at each (re)connection;
//! Redis may forget them meanwhile (`SCRIPT FLUSH`, a restart that keeps
//! the data, a failover), so a call refused with `NOSCRIPT` is a reason to
//! [`load`] them again and retry that call once, never to drop the link.
//!
//! Scripts read and write keys they are not passed in `KEYS` (the server
//! list, the liveness keys, the set of stored rooms, and the counter and
//! stream of a room dropped from it): fine on one Redis, which is the
//! design; a Redis Cluster would need the keys of one room in one hash slot
//! and the lists split.
//!
//! One concept, some 740 lines: every Lua script the servers run, each
//! beside the Rust that calls it, so that a key's name and an argument's
//! place are written once.

use std::sync::LazyLock;

use redis::aio::MultiplexedConnection;
use redis::{Cmd, ErrorKind, RedisError, Script, ServerErrorKind};

use super::keys;
use crate::protocol::{DEFAULT_ROOM, PRESENCE_NAMES};

/// The scripts loaded into Redis at each (re)connection, with their names
/// for the log.
const ALL: [(&str, &LazyLock<Script>); 21] = [
    ("SAY", &SAY),
    ("RAISE_COUNTER", &RAISE_COUNTER),
    ("TOUCH", &TOUCH),
    ("CLAIM", &CLAIM),
    ("RELEASE", &RELEASE),
    ("PLACE", &PLACE),
    ("UNPLACE", &UNPLACE),
    ("CLEAR", &CLEAR),
    ("REAP", &REAP),
    ("WHO", &WHO),
    ("ROOMS", &ROOMS),
    ("PRESENCE", &PRESENCE),
    ("SUMMARISE", &SUMMARISE),
    ("LOCATE", &LOCATE),
    ("TOPIC", &TOPIC),
    ("BAN", &BAN),
    ("AMEND_BAN", &AMEND_BAN),
    ("UNBAN", &UNBAN),
    ("REGISTER", &REGISTER),
    ("UNREGISTER", &UNREGISTER),
    ("TAKE", &TAKE),
];

/// People taken off the lists per `clear` step of a server: about a
/// millisecond of Redis's time, so that mending what a crashed server of
/// 100,000 people held never holds Redis for long at once.
pub(super) const STEP: usize = 1000;

/// Loads every script into Redis (again).
pub(super) async fn load(connection: &mut MultiplexedConnection) -> redis::RedisResult<()> {
    for (_, script) in ALL {
        script.load_async(connection).await?;
    }
    Ok(())
}

/// What `cmd` is, for the log: its name, and a script's name for a call.
pub(super) fn describe(cmd: &Cmd) -> String {
    let mut args = cmd.args_iter().map(|arg| match arg {
        redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    });
    let name = args.next().unwrap_or_default();
    let hash = args.next().unwrap_or_default();
    match ALL.iter().find(|(_, script)| script.get_hash() == hash) {
        Some((script, _)) if name.eq_ignore_ascii_case("EVALSHA") => format!("{name} {script}"),
        _ => name,
    }
}

/// Whether `err` is Redis saying it does not have the script called: it
/// forgot the scripts, and [`load`] will put them back.
pub(super) fn is_missing(err: &RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

/// A call of a loaded script; the caller adds its keys and arguments.
pub(super) fn call(script: &Script) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash());
    cmd
}

/// [`call`], with room for `args` arguments in all and `bytes` of them.
pub(super) fn call_sized(script: &Script, args: usize, bytes: usize) -> Cmd {
    let mut cmd = Cmd::with_capacity(args, bytes);
    cmd.arg("EVALSHA").arg(script.get_hash());
    cmd
}

/// Claims `name` for one of `id`'s people, or refreshes its claim (see
/// [`CLAIM`]).
pub(super) fn claim(id: &keys::ServerId, name: &str) -> Cmd {
    let mut cmd = call(&CLAIM);
    cmd.arg(1)
        .arg(keys::name(name))
        .arg(id.claim_value(name))
        .arg(keys::CLAIM_TTL.as_secs())
        .arg(id.as_str());
    cmd
}

/// Puts `name`, one of `id`'s people, in `room` (see [`PLACE`]).
pub(super) fn place(id: &keys::ServerId, name: &str, room: &str) -> Cmd {
    let mut cmd = call(&PLACE);
    cmd.arg(0).arg(id.as_str()).arg(name).arg(room);
    cmd
}

/// Raises `room`'s counter to at least `last_id` (see [`RAISE_COUNTER`]).
pub(super) fn raise_counter(room: &str, last_id: u64, max_stored_rooms: usize) -> Cmd {
    let mut cmd = call(&RAISE_COUNTER);
    cmd.arg(1)
        .arg(keys::counter(room))
        .arg(last_id)
        .arg(room)
        .arg(max_stored_rooms);
    cmd
}

/// Marks `rooms` as written now if Redis still keeps them (see [`TOUCH`]).
pub(super) fn touch<'a>(rooms: impl IntoIterator<Item = &'a str>) -> Cmd {
    let mut cmd = call(&TOUCH);
    cmd.arg(0);
    for room in rooms {
        cmd.arg(room);
    }
    cmd
}

/// A script whose `$SERVERS`, `$ALIVE`, `$PEOPLE`, `$STORED_ROOMS`,
/// `$COUNTER`, `$HISTORY` (and the other `$` names below) are the key
/// names of [`keys`], `$LOBBY` the lobby's name and `$PRESENCE_NAMES` the
/// names a summary gives, so that they are written in one place.
fn script(code: &str) -> Script {
    Script::new(
        &code
            .replace("$SERVERS", keys::SERVERS)
            .replace("$MEMBERS", keys::MEMBERS_PREFIX)
            .replace("$HEADS", keys::HEAD_COUNTS)
            .replace("$SUMMARISED", keys::SUMMARISED)
            .replace("$PRESENCE_DUE", keys::PRESENCE_DUE)
            .replace("$PRESENCE_NAMES", &PRESENCE_NAMES.to_string())
            .replace("$PRESENCE", keys::PRESENCE_PREFIX)
            .replace("$ROOM_CHANNEL", keys::ROOM_CHANNEL_PREFIX)
            .replace("$SERVER_CHANNEL", keys::SERVER_CHANNEL_PREFIX)
            .replace("$ALIVE", keys::ALIVE_PREFIX)
            .replace("$PEOPLE", keys::PEOPLE_PREFIX)
            .replace("$STORED_ROOMS", keys::STORED_ROOMS)
            .replace("$COUNTER", keys::COUNTER_PREFIX)
            .replace("$HISTORY", keys::HISTORY_PREFIX)
            .replace("$TOPIC", keys::TOPIC_PREFIX)
            .replace("$REGISTERED", keys::REGISTERED)
            .replace("$OPS", keys::OPS)
            .replace("$BAN_ENDS", keys::BAN_ENDS)
            .replace("$BANS", keys::BANS)
            .replace("$MODERATION", keys::MODERATION_CHANNEL)
            .replace("$LOBBY", DEFAULT_ROOM),
    )
}

/// A script that starts with [`KEEP`], for those that write a room's keys.
fn keeping(code: &str) -> Script {
    script(&format!("{KEEP}{code}"))
}

/// The Lua function `keep(room, bound)`: marks `room` as written now in the
/// set of stored rooms, then drops the least recently written rooms, their
/// counters and their streams, while more than `bound` rooms are kept (at
/// least 1). The lobby is never in the set and never dropped, but counts
/// once it has a counter, as it does on disk. So however many rooms people
/// make, Redis keeps `--max-stored-rooms` of them; a dropped room used again
/// starts from id 1 (see [`Registry::arrived`](super::Registry::arrived)
/// for the servers that still hold it).
const KEEP: &str = r"
local function keep(room, bound)
  if room == '$LOBBY' then return end
  local now = redis.call('TIME')
  redis.call('ZADD', '$STORED_ROOMS', now[1] * 1000000 + now[2], room)
  bound = math.max(tonumber(bound), 1) - redis.call('EXISTS', '$COUNTER$LOBBY')
  while redis.call('ZCARD', '$STORED_ROOMS') > bound do
    local oldest = redis.call('ZPOPMIN', '$STORED_ROOMS')[1]
    redis.call('DEL', '$COUNTER' .. oldest, '$HISTORY' .. oldest, '$TOPIC' .. oldest)
  end
end
";

/// Says something in a room: takes the room's next id, appends the event to
/// the room's history stream (the id is the stream entry's id, `0-ID`, so
/// "everything after id N" is one `XRANGE`), trims it to the history length,
/// and publishes `ID JSON` on the room's channel, all in one step, so every
/// server sees the same order and history never disagrees with delivery.
///
/// Except if the stream refuses the entry (a higher id already in it, or a
/// key of another type: nothing a server of ours writes): the message is
/// delivered all the same, and the script's error reply says it was not
/// kept (`NOTKEPT`). Otherwise one such entry would silence the room for
/// good.
///
/// Then the room is marked as written now, and the least recently written
/// rooms past `--max-stored-rooms` are dropped ([`KEEP`]); their keys are
/// not in KEYS.
///
/// KEYS: counter, stream. ARGV: channel, history length, event JSON (id 0),
/// room, `--max-stored-rooms`.
pub(super) static SAY: LazyLock<Script> = LazyLock::new(|| {
    keeping(
        r"
local id = redis.call('INCR', KEYS[1])
local kept = true
if tonumber(ARGV[2]) > 0 then
  kept = redis.pcall('XADD', KEYS[2], 'MAXLEN', ARGV[2], '0-' .. id, 'e', ARGV[3])
end
redis.call('PUBLISH', ARGV[1], id .. ' ' .. ARGV[3])
keep(ARGV[4], ARGV[5])
if type(kept) == 'table' and kept.err then
  return redis.error_reply('NOTKEPT message ' .. id .. ' delivered but not kept in history: ' .. kept.err)
end
return id
",
    )
});

/// Sets a room's topic (an empty one clears it) and publishes its `topic`
/// notice (`0 JSON`) on the room's channel, in one step, so that a server
/// loading the room meanwhile has the topic either from the key or from
/// the notice. A topic set is a room written: kept within the bound, and
/// dropped with the room's other keys ([`KEEP`]).
///
/// KEYS: the topic. ARGV: channel, topic, event JSON, room,
/// `--max-stored-rooms`.
pub(super) static TOPIC: LazyLock<Script> = LazyLock::new(|| {
    keeping(
        r"
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('PUBLISH', ARGV[1], '0 ' .. ARGV[3])
keep(ARGV[4], ARGV[5])
return 0
",
    )
});

/// Keeps a ban and tells every server: drops the bans that have ended
/// (by Redis's clock), so that the hash holds the bans in force and those
/// ended since the last ban at most; then `HSET`s this one, notes when it
/// ends, and publishes it on the moderation channel (`ban JSON`).
///
/// ARGV: lowercase name, the ban's JSON, when it ends (Unix ms; empty:
/// never).
pub(super) static BAN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
for _, ended in ipairs(redis.call('ZRANGEBYSCORE', '$BAN_ENDS', '-inf', ms)) do
  redis.call('HDEL', '$BANS', ended)
end
redis.call('ZREMRANGEBYSCORE', '$BAN_ENDS', '-inf', ms)
redis.call('HSET', '$BANS', ARGV[1], ARGV[2])
if ARGV[3] == '' then
  redis.call('ZREM', '$BAN_ENDS', ARGV[1])
else
  redis.call('ZADD', '$BAN_ENDS', ARGV[3], ARGV[1])
end
redis.call('PUBLISH', '$MODERATION', 'ban ' .. ARGV[2])
return 0
",
    )
});

/// Adds the address to a ban given on another server, if the ban is still
/// in force (not lifted meanwhile), and tells every server.
///
/// ARGV: lowercase name, the ban's JSON.
pub(super) static AMEND_BAN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HEXISTS', '$BANS', ARGV[1]) == 1 then
  redis.call('HSET', '$BANS', ARGV[1], ARGV[2])
  redis.call('PUBLISH', '$MODERATION', 'ban ' .. ARGV[2])
end
return 0
",
    )
});

/// Lifts a ban and tells every server (the `unban` event's JSON).
///
/// ARGV: lowercase name, the event's JSON.
pub(super) static UNBAN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
redis.call('HDEL', '$BANS', ARGV[1])
redis.call('ZREM', '$BAN_ENDS', ARGV[1])
redis.call('PUBLISH', '$MODERATION', ARGV[2])
return 0
",
    )
});

/// Keeps a registered name (or its new password) and tells every server
/// (`owner JSON` on the moderation channel).
///
/// ARGV: lowercase name, the registration's JSON.
pub(super) static REGISTER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
redis.call('HSET', '$REGISTERED', ARGV[1], ARGV[2])
redis.call('PUBLISH', '$MODERATION', 'owner ' .. ARGV[2])
return 0
",
    )
});

/// Frees a registered name and tells every server (the `unregistered`
/// event's JSON).
///
/// ARGV: lowercase name, the event's JSON.
pub(super) static UNREGISTER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
redis.call('HDEL', '$REGISTERED', ARGV[1])
redis.call('PUBLISH', '$MODERATION', ARGV[2])
return 0
",
    )
});

/// Takes a name for its proven owner (`/identify`), whoever holds it: the
/// older holder (from the claim, on any server, this one included) comes
/// off the lists, their room reads their `leave` (`signed in elsewhere`),
/// and `take HOLDER TAKER NAME` on the moderation channel has their server
/// (HOLDER) close them unless it is the taker's, which does it itself; then the claim is ours. All in one step, so the room reads the
/// leave before anything the new holder does.
///
/// KEYS: the claim. ARGV: our claim value, ttl in seconds, our server id.
pub(super) static TAKE: LazyLock<Script> = LazyLock::new(|| {
    placing(
        r#"
local held = redis.call('GET', KEYS[1])
if held then
  local owner, old = string.match(held, '^(%S+) (.+)$')
  if owner and redis.call('EXISTS', '$ALIVE' .. owner) == 1 then
    local room = redis.call('HGET', '$PEOPLE' .. owner, old)
    if room then
      quit(room, old)
      unop(owner, old)
      redis.call('HDEL', '$PEOPLE' .. owner, old)
      local now = redis.call('TIME')
      local ms = now[1] * 1000 + math.floor(now[2] / 1000)
      redis.call('PUBLISH', '$ROOM_CHANNEL' .. room, '0 {"type":"leave","room":' .. cjson.encode(room)
        .. ',"name":' .. cjson.encode(old) .. ',"reason":"signed in elsewhere","ts":'
        .. string.format('%d', ms) .. '}')
    end
    redis.call('PUBLISH', '$MODERATION', 'take ' .. owner .. ' ' .. ARGV[3] .. ' ' .. old)
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"#,
    )
});

/// Raises a room's counter to at least ARGV[1]: after Redis lost its data
/// (restarted without persistence), ids go on growing from the highest any
/// server has seen, so a client's `since` never points into the future. A
/// counter raised is a room written, kept within the bound like one
/// ([`KEEP`]).
///
/// KEYS: counter. ARGV: last id, room, `--max-stored-rooms`.
pub(super) static RAISE_COUNTER: LazyLock<Script> = LazyLock::new(|| {
    keeping(
        r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  keep(ARGV[2], ARGV[3])
end
return 0
",
    )
});

/// Marks the rooms in ARGV as written now, those the set of stored rooms
/// still has (`XX`), never back in time (`GT`): a server does it for the
/// rooms it holds, every 10 s, so that a room held anywhere is not the
/// least recently written. It adds none, so the bound holds.
pub(super) static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local now = redis.call('TIME')
local score = now[1] * 1000000 + now[2]
for _, room in ipairs(ARGV) do
  redis.call('ZADD', '$STORED_ROOMS', 'XX', 'GT', score, room)
end
return 0
",
    )
});

/// Claims a name (or refreshes our claim) for ARGV[2] seconds. The value is
/// `SERVER NAME`; a claim held by this server (ARGV[3]) under any spelling is
/// ours to overwrite, one held by another server is refused: returns 1 if
/// the name is ours now, 0 if it is taken.
///
/// KEYS: the claim. ARGV: value, ttl in seconds, our server id.
pub(super) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local held = redis.call('GET', KEYS[1])
if held then
  local owner = string.match(held, '^(%S+)')
  if owner ~= ARGV[3] and redis.call('EXISTS', '$ALIVE' .. owner) == 1 then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
",
    )
});

/// Frees a name if the claim is still ours (compare and delete).
///
/// KEYS: the claim. ARGV: our value.
pub(super) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// The Lua functions that keep the rooms' member sets and head counts in
/// step with the servers' people hashes, beside them:
/// - `enter(room, name)` and `quit(room, name)` put a name in or out of a
///   room's member set ([`keys::who_member`]) and its head count; the count
///   moves only when the set does, so it is the set's size.
/// - `clear(server, step)` takes about `step` of `server`'s people out of
///   its hash and their rooms (one `HSCAN` step: a small hash whole), and
///   says how many it still has.
/// - `reap(step)` does one `clear` step for each server whose liveness key
///   is gone (it crashed, or left), and takes a server with nobody left
///   out of the set: what a crashed server held goes in bounded steps, at
///   the cost of a look at each server's liveness key.
const PLACES: &str = r"
local function member(name) return string.lower(name) .. ' ' .. name end
local function unop(server, name)
  local key = string.lower(name)
  if redis.call('HGET', '$OPS', key) == server then redis.call('HDEL', '$OPS', key) end
end
local function enter(room, name)
  if redis.call('ZADD', '$MEMBERS' .. room, 0, member(name)) == 1 then
    redis.call('HINCRBY', '$HEADS', room, 1)
  end
end
local function quit(room, name)
  if redis.call('ZREM', '$MEMBERS' .. room, member(name)) == 1 then
    if redis.call('HINCRBY', '$HEADS', room, -1) <= 0 then redis.call('HDEL', '$HEADS', room) end
  end
end
local function clear(server, step)
  local key = '$PEOPLE' .. server
  local found = redis.call('HSCAN', key, 0, 'COUNT', step)[2]
  for i = 1, #found, 2 do
    quit(found[i + 1], found[i])
    unop(server, found[i])
    redis.call('HDEL', key, found[i])
  end
  return redis.call('HLEN', key)
end
local function reap(step)
  for _, server in ipairs(redis.call('SMEMBERS', '$SERVERS')) do
    if redis.call('EXISTS', '$ALIVE' .. server) == 0 and clear(server, step) == 0 then
      redis.call('SREM', '$SERVERS', server)
    end
  end
end
";

/// A script that starts with [`PLACES`].
fn placing(code: &str) -> Script {
    script(&format!("{PLACES}{code}"))
}

/// Puts one of a server's people in a room, out of the room they were in.
///
/// ARGV: server id, name, room.
pub(super) static PLACE: LazyLock<Script> = LazyLock::new(|| {
    placing(
        r"
local key = '$PEOPLE' .. ARGV[1]
local old = redis.call('HGET', key, ARGV[2])
if old == ARGV[3] then return 0 end
if old then quit(old, ARGV[2]) end
redis.call('HSET', key, ARGV[2], ARGV[3])
enter(ARGV[3], ARGV[2])
return 1
",
    )
});

/// Takes one of a server's people off the lists.
///
/// ARGV: server id, name.
pub(super) static UNPLACE: LazyLock<Script> = LazyLock::new(|| {
    placing(
        r"
local key = '$PEOPLE' .. ARGV[1]
local old = redis.call('HGET', key, ARGV[2])
if old then
  quit(old, ARGV[2])
  redis.call('HDEL', key, ARGV[2])
end
unop(ARGV[1], ARGV[2])
return 0
",
    )
});

/// One `clear` step of a server's own people (at a resynchronisation,
/// before it lists them again): how many are left.
///
/// ARGV: server id, step.
pub(super) static CLEAR: LazyLock<Script> =
    LazyLock::new(|| placing("return clear(ARGV[1], tonumber(ARGV[2]))"));

/// One `reap` step, and how many dead servers still have people listed.
///
/// ARGV: step.
pub(super) static REAP: LazyLock<Script> = LazyLock::new(|| {
    placing(
        r"
reap(tonumber(ARGV[1]))
local dead = 0
for _, server in ipairs(redis.call('SMEMBERS', '$SERVERS')) do
  if redis.call('EXISTS', '$ALIVE' .. server) == 0 then dead = dead + 1 end
end
return dead
",
    )
});

/// One page of `/who`: after a `reap` step, the room's head count, at most
/// ARGV[4] members between two lexical bounds, and the names among them
/// that are operators on a live server. Its cost is the page (two reads
/// per name for the operators) and a look at each server, whatever the
/// number of people.
///
/// ARGV: room, from, to (`ZRANGEBYLEX` bounds), count, step.
pub(super) static WHO: LazyLock<Script> = LazyLock::new(|| {
    placing(
        r"
reap(tonumber(ARGV[5]))
local key = '$MEMBERS' .. ARGV[1]
local page = redis.call('ZRANGEBYLEX', key, ARGV[2], ARGV[3], 'LIMIT', 0, ARGV[4])
local ops = {}
for _, found in ipairs(page) do
  local lower, name = string.match(found, '^(%S+) (.+)$')
  local server = lower and redis.call('HGET', '$OPS', lower)
  if server and redis.call('EXISTS', '$ALIVE' .. server) == 1 then
    table.insert(ops, name)
  end
end
return {redis.call('ZCARD', key), page, ops}
",
    )
});

/// Where a person is, for an operator's order: the name as its holder
/// spells it and its room, from the claim (`SERVER NAME`) and that
/// server's people hash; nothing if nobody holds the name, its server is
/// dead, or it is between rooms.
///
/// KEYS: the claim.
pub(super) static LOCATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local held = redis.call('GET', KEYS[1])
if not held then return false end
local server, name = string.match(held, '^(%S+) (.+)$')
if not server or redis.call('EXISTS', '$ALIVE' .. server) == 0 then return false end
local room = redis.call('HGET', '$PEOPLE' .. server, name)
if not room then return false end
return {name, room}
",
    )
});

/// `/rooms`: after a `reap` step, the head counts, a flat list
/// `ROOM COUNT ...` of the rooms with people in them.
///
/// ARGV: step.
pub(super) static ROOMS: LazyLock<Script> = LazyLock::new(|| {
    placing(
        r"
reap(tonumber(ARGV[1]))
return redis.call('HGETALL', '$HEADS')
",
    )
});

/// A join, leave or nick in a room, as the room's size across servers
/// wants it: published to the room at or under the presence limit (as the
/// server decided alone before), counted for the room's next summary above
/// it or while the room is summarised. A counted join or nick goes to its
/// own server's channel too, so that its subject hears their own; the
/// others hear of it in the summary ([`SUMMARISE`]).
///
/// The room's size is its head count, after the `PLACE` or `UNPLACE` the
/// server queued before this; a leave whose person is still listed there
/// (a `/join` to another room, placed after) counts as gone already.
///
/// Returns 0 if published, 1 if counted.
///
/// ARGV: server id, room, `join`/`leave`/`nick`, the name it is about
/// (the new one for a nick), event JSON, `--presence-limit`.
pub(super) static PRESENCE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local server, room, kind, name = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local people = tonumber(redis.call('HGET', '$HEADS', room) or '0')
if kind == 'leave' and redis.call('HGET', '$PEOPLE' .. server, name) == room then
  people = people - 1
end
if redis.call('SISMEMBER', '$SUMMARISED', room) == 0 and people <= tonumber(ARGV[6]) then
  redis.call('PUBLISH', '$ROOM_CHANNEL' .. room, '0 ' .. ARGV[5])
  return 0
end
redis.call('SADD', '$SUMMARISED', room)
redis.call('SADD', '$PRESENCE_DUE', room)
local counts = '$PRESENCE' .. room
if kind == 'nick' then
  redis.call('HINCRBY', counts, 'renamed', 1)
else
  local field = kind == 'join' and 'joined' or 'left'
  redis.call('HINCRBY', counts, field, 1)
  if redis.call('LLEN', counts .. ':' .. field) < $PRESENCE_NAMES then
    redis.call('RPUSH', counts .. ':' .. field, name)
  end
end
if kind ~= 'leave' then
  redis.call('PUBLISH', '$SERVER_CHANNEL' .. server, ARGV[5])
end
return 1
",
    )
});

/// Publishes each due room's summary: what was counted since its last,
/// with the head count across servers, at most one per room per
/// `--presence-interval` whichever server runs it (each does, once per
/// interval; Redis's clock decides). A room back at or under the limit
/// then leaves summary mode, and its members get one fresh first page of
/// `/who`. The names are encoded by `cjson`, the rest are numbers: the JSON
/// is built as text because `cjson` writes an empty list as `{}`.
///
/// ARGV: `--presence-interval` in ms, `--presence-limit`, the page's size.
pub(super) static SUMMARISE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local function list(names)
  local out = {}
  for i, name in ipairs(names) do out[i] = cjson.encode(name) end
  return '[' .. table.concat(out, ',') .. ']'
end
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local sent = 0
for _, room in ipairs(redis.call('SMEMBERS', '$PRESENCE_DUE')) do
  local counts = '$PRESENCE' .. room
  local c = redis.call('HMGET', counts, 'joined', 'left', 'renamed', 'last')
  if ms - tonumber(c[4] or '0') >= interval then
    local people = tonumber(redis.call('HGET', '$HEADS', room) or '0')
    local channel = '$ROOM_CHANNEL' .. room
    redis.call('PUBLISH', channel, '0 {"type":"presence","room":' .. cjson.encode(room)
      .. ',"joined":' .. tonumber(c[1] or '0')
      .. ',"joined_names":' .. list(redis.call('LRANGE', counts .. ':joined', 0, -1))
      .. ',"left":' .. tonumber(c[2] or '0')
      .. ',"left_names":' .. list(redis.call('LRANGE', counts .. ':left', 0, -1))
      .. ',"renamed":' .. tonumber(c[3] or '0')
      .. ',"people":' .. people .. ',"ts":' .. ms .. '}')
    redis.call('DEL', counts, counts .. ':joined', counts .. ':left')
    redis.call('HSET', counts, 'last', ms)
    redis.call('PEXPIRE', counts, 2 * interval)
    redis.call('SREM', '$PRESENCE_DUE', room)
    sent = sent + 1
    if people <= limit then
      redis.call('SREM', '$SUMMARISED', room)
      local key = '$MEMBERS' .. room
      local page = redis.call('ZRANGEBYLEX', key, '-', '+', 'LIMIT', 0, tonumber(ARGV[3]) + 1)
      local more = #page > tonumber(ARGV[3])
      if more then table.remove(page) end
      for i, member in ipairs(page) do page[i] = string.match(member, ' (.*)$') or member end
      redis.call('PUBLISH', channel, '0 {"type":"who","room":' .. cjson.encode(room)
        .. ',"count":' .. redis.call('ZCARD', key) .. ',"names":' .. list(page)
        .. ',"more":' .. tostring(more) .. '}')
    end
  end
end
return sent
"#,
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_call_is_named_in_the_log() {
        let mut say = call(&SAY);
        say.arg(2).arg("chat:id:lobby");
        assert_eq!(describe(&say), "EVALSHA SAY");
        assert_eq!(describe(redis::cmd("HSET").arg("chat:people:x")), "HSET");
    }

    #[test]
    fn key_names_are_put_in_from_keys() {
        let people = script("redis.call('SMEMBERS', '$SERVERS') '$ALIVE' '$PEOPLE'");
        assert_eq!(
            people.get_hash(),
            Script::new("redis.call('SMEMBERS', 'chat:servers') 'chat:alive:' 'chat:people:'")
                .get_hash()
        );
        let rooms = script("'$STORED_ROOMS' '$COUNTER$LOBBY' '$HISTORY'");
        assert_eq!(
            rooms.get_hash(),
            Script::new("'chat:rooms' 'chat:id:lobby' 'chat:history:'").get_hash()
        );
    }
}
