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

use std::sync::LazyLock;

use redis::aio::MultiplexedConnection;
use redis::{Cmd, ErrorKind, RedisError, Script, ServerErrorKind};

use super::keys;
use crate::protocol::DEFAULT_ROOM;

/// The scripts loaded into Redis at each (re)connection, with their names
/// for the log.
const ALL: [(&str, &LazyLock<Script>); 6] = [
    ("SAY", &SAY),
    ("RAISE_COUNTER", &RAISE_COUNTER),
    ("TOUCH", &TOUCH),
    ("CLAIM", &CLAIM),
    ("RELEASE", &RELEASE),
    ("PEOPLE", &PEOPLE),
];

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
/// `$COUNTER`, `$HISTORY` are the key names of [`keys`] and `$LOBBY` the
/// lobby's name, so that they are written in one place.
fn script(code: &str) -> Script {
    Script::new(
        &code
            .replace("$SERVERS", keys::SERVERS)
            .replace("$ALIVE", keys::ALIVE_PREFIX)
            .replace("$PEOPLE", keys::PEOPLE_PREFIX)
            .replace("$STORED_ROOMS", keys::STORED_ROOMS)
            .replace("$COUNTER", keys::COUNTER_PREFIX)
            .replace("$HISTORY", keys::HISTORY_PREFIX)
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
    redis.call('DEL', '$COUNTER' .. oldest, '$HISTORY' .. oldest)
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

/// Everyone connected to a live server: with ARGV[1] = 'who' and ARGV[2] a
/// room, the names in that room; with 'rooms', a flat list `ROOM COUNT ...`.
/// A server whose liveness key has expired (it crashed) is forgotten on the
/// way, with its people.
pub(super) static PEOPLE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local names, counts, order = {}, {}, {}
for _, server in ipairs(redis.call('SMEMBERS', '$SERVERS')) do
  if redis.call('EXISTS', '$ALIVE' .. server) == 1 then
    local people = redis.call('HGETALL', '$PEOPLE' .. server)
    for i = 1, #people, 2 do
      local room = people[i + 1]
      if ARGV[1] == 'who' then
        if room == ARGV[2] then table.insert(names, people[i]) end
      else
        if counts[room] == nil then counts[room] = 0; table.insert(order, room) end
        counts[room] = counts[room] + 1
      end
    end
  else
    redis.call('SREM', '$SERVERS', server)
    redis.call('DEL', '$PEOPLE' .. server)
  end
end
if ARGV[1] == 'who' then return names end
local flat = {}
for _, room in ipairs(order) do
  table.insert(flat, room)
  table.insert(flat, counts[room])
end
return flat
",
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
