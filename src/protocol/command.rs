//! What a client's text frame means: a message to the room, or a command.
//!
//! A frame that starts with `/` is a command; `//` escapes a literal leading
//! slash. Parsing checks everything that needs no server state (argument
//! counts, name and room syntax, empty text); the server checks the rest.
//! One file for every command, with `/help`'s table beside the parser, so
//! that a command cannot be parsed without being listed, or listed without
//! being parsed: one concept, some 450 lines and half as many of tests.

use super::event::{ErrorCode, Event, HelpEntry};
use super::{MAX_NAME_LEN, MAX_ROOM_LEN, is_valid_name, is_valid_room};
use crate::sanitize::strip_controls;

/// A parsed text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// Plain text for the room.
    Say(&'a str),
    Command(Command<'a>),
}

/// A slash command, as in the design's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    Nick(&'a str),
    Join(&'a str),
    /// A page of the names here: those starting with `prefix` (any letter
    /// case; `None` for all), after the name `after` (the cursor: the last
    /// name of the previous page).
    Who {
        prefix: Option<&'a str>,
        after: Option<&'a str>,
    },
    Rooms,
    Me(&'a str),
    Msg {
        to: &'a str,
        text: &'a str,
    },
    Help,
    Quit(Option<&'a str>),
    /// Become an operator with the server's `--op-token`.
    Op(&'a str),
    /// Read the room's topic (`None`), or set it; `Some("-")` clears it.
    Topic(Option<&'a str>),
    /// Refuse what NAME says, for a while (`None`: until unmuted).
    Mute {
        name: &'a str,
        duration: Option<std::time::Duration>,
    },
    Unmute(&'a str),
    /// Close someone's connection (operators only); the reason may be empty.
    Kick {
        name: &'a str,
        reason: &'a str,
    },
    /// Kick NAME and refuse that name and address for a while (`None`:
    /// until unbanned); the reason may be empty.
    Ban {
        name: &'a str,
        duration: Option<std::time::Duration>,
        reason: &'a str,
    },
    Unban(&'a str),
    /// List the bans (operators only).
    Bans,
    /// Stop receiving NAME's messages, actions and private messages, for
    /// as long as this connection lasts.
    Ignore(&'a str),
    Unignore(&'a str),
    /// Reserve the current name with a password (again: change it).
    Register(&'a str),
    /// Become `name` (`None`: the name the URL asked for, or the current
    /// one) with its password.
    Identify {
        name: Option<&'a str>,
        password: &'a str,
    },
    /// Free a registered name: one's own (`None`), or, for an operator,
    /// anyone's.
    Unregister(Option<&'a str>),
}

/// Shortest password `/register` takes, in bytes: guessing is slowed by
/// the failure limit, not stopped, so not a trivial one.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Longest password, in bytes: hashing is cheap whatever its length, but
/// a bound keeps the frame that carries it small.
pub const MAX_PASSWORD_BYTES: usize = 128;

/// Why a frame was refused before it reached the server's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl CommandError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn usage(usage: &str) -> Self {
        Self::new(ErrorCode::BadArguments, format!("usage: {usage}"))
    }
}

impl From<CommandError> for Event {
    fn from(err: CommandError) -> Self {
        Event::Error {
            code: err.code,
            message: err.message,
        }
    }
}

/// A frame's text without one trailing line ending (`\n` or `\r\n`): line
/// tools such as websocat send each line with its `\n`, which is not part
/// of what was said (every reader would see an empty line after it). Only
/// one: `hi\n\n` keeps the empty line its sender typed.
pub fn strip_line_ending(frame: &str) -> &str {
    frame
        .strip_suffix("\r\n")
        .or_else(|| frame.strip_suffix('\n'))
        .unwrap_or(frame)
}

/// Each command's usage and effect, in the order `/help` lists them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/nick NAME", "change your name"),
    ("/join ROOM", "leave this room and enter ROOM"),
    (
        "/who [PREFIX]",
        "names here; /who PREFIX AFTER: more (* for all)",
    ),
    ("/rooms", "rooms with their number of people"),
    ("/me TEXT", "an action line: * you TEXT"),
    ("/msg NAME TEXT", "a private message to one person"),
    ("/op SECRET", "become an operator (the server's --op-token)"),
    (
        "/topic [TEXT]",
        "the room's topic; with TEXT set it (- clears)",
    ),
    ("/kick NAME [WHY]", "operators: close NAME's connection"),
    (
        "/mute NAME [DUR]",
        "operators: NAME may only read (DUR: 30s, 10m, 2h, 1d)",
    ),
    ("/unmute NAME", "operators: NAME may speak again"),
    (
        "/ban NAME [DUR]",
        "operators: kick NAME, refuse the name and address (WHY may follow)",
    ),
    ("/unban NAME", "operators: lift NAME's ban"),
    ("/bans", "operators: the bans in force"),
    ("/ignore NAME", "hide NAME's messages from you"),
    ("/unignore NAME", "see NAME's messages again"),
    (
        "/register PASSWORD",
        "reserve your name (again: change its password)",
    ),
    (
        "/identify [NAME] PASSWORD",
        "become NAME, registered to you",
    ),
    ("/unregister [NAME]", "free your name (operators: anyone's)"),
    ("/help", "this list"),
    ("/quit [TEXT]", "leave, with an optional goodbye"),
    ("//TEXT", "send TEXT with a leading slash"),
];

/// The `/help` answer.
pub fn help_event() -> Event {
    Event::Help {
        commands: COMMANDS
            .iter()
            .map(|(usage, effect)| HelpEntry {
                usage: (*usage).to_owned(),
                effect: (*effect).to_owned(),
            })
            .collect(),
    }
}

/// Parses one text frame (already stripped of control characters).
///
/// # Errors
///
/// An unknown command, wrong arguments, an invalid name or room, or text that
/// is empty once trimmed; the error becomes an `error` event for the sender.
pub fn parse_input(frame: &str) -> Result<Input<'_>, CommandError> {
    let Some(rest) = frame.strip_prefix('/') else {
        return say(frame);
    };
    if rest.starts_with('/') {
        return say(rest);
    }
    let (word, args) = match rest.split_once(char::is_whitespace) {
        Some((word, args)) => (word, args.trim()),
        None => (rest, ""),
    };
    let command = match word.to_ascii_lowercase().as_str() {
        "nick" => Command::Nick(one_word(args, "/nick NAME")?),
        "join" => Command::Join(one_word(args, "/join ROOM")?),
        "who" => who(args)?,
        "rooms" => no_args(args, "/rooms", Command::Rooms)?,
        "help" => no_args(args, "/help", Command::Help)?,
        "me" if args.is_empty() => return Err(CommandError::usage("/me TEXT")),
        "me" => Command::Me(args),
        "msg" => {
            let (to, text) = args
                .split_once(char::is_whitespace)
                .map(|(to, text)| (to, text.trim()))
                .filter(|(_, text)| !text.is_empty())
                .ok_or_else(|| CommandError::usage("/msg NAME TEXT"))?;
            Command::Msg { to, text }
        }
        "op" => Command::Op(one_word(args, "/op SECRET")?),
        "topic" => Command::Topic(Some(args).filter(|a| !a.is_empty())),
        "kick" if args.is_empty() => return Err(CommandError::usage("/kick NAME [WHY]")),
        "kick" => {
            let (name, reason) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            Command::Kick {
                name,
                reason: reason.trim(),
            }
        }
        "mute" => mute(args)?,
        "ban" => ban(args)?,
        "unban" => Command::Unban(one_word(args, "/unban NAME")?),
        "bans" => no_args(args, "/bans", Command::Bans)?,
        "ignore" => Command::Ignore(one_word(args, "/ignore NAME")?),
        "unignore" => Command::Unignore(one_word(args, "/unignore NAME")?),
        "unmute" => Command::Unmute(one_word(args, "/unmute NAME")?),
        "register" => register(args)?,
        "identify" => identify(args)?,
        "unregister" if args.is_empty() => Command::Unregister(None),
        "unregister" => Command::Unregister(Some(one_word(args, "/unregister [NAME]")?)),
        "quit" => Command::Quit(Some(args).filter(|a| !a.is_empty())),
        _ => {
            return Err(CommandError::new(
                ErrorCode::UnknownCommand,
                format!("unknown command '/{}'; type /help for the list", clip(word)),
            ));
        }
    };
    validate(&command)?;
    Ok(Input::Command(command))
}

fn say(text: &str) -> Result<Input<'_>, CommandError> {
    if text.trim().is_empty() {
        Err(CommandError::new(
            ErrorCode::EmptyMessage,
            "empty message: type some text",
        ))
    } else {
        Ok(Input::Say(text))
    }
}

/// What follows `/who`: nothing, a prefix, or a prefix and a cursor; `*`
/// as the prefix means everyone, so that the whole room can be paged.
fn who(args: &str) -> Result<Command<'_>, CommandError> {
    const USAGE: &str = "/who [PREFIX [AFTER]] (PREFIX * for everyone)";
    let mut words = args.split_whitespace();
    let (prefix, after) = (words.next(), words.next());
    if words.next().is_some() {
        return Err(CommandError::usage(USAGE));
    }
    let prefix = match prefix {
        Some("*") | None => None,
        Some(prefix) if is_valid_name(prefix) => Some(prefix),
        Some(_) => return Err(CommandError::usage(USAGE)),
    };
    if let Some(after) = after
        && !is_valid_name(after)
    {
        return Err(invalid_name(after));
    }
    Ok(Command::Who { prefix, after })
}

/// What follows `/mute`: a name, and maybe a duration such as `30s`,
/// `10m`, `2h` or `1d` (at most a year).
fn mute(args: &str) -> Result<Command<'_>, CommandError> {
    const USAGE: &str = "/mute NAME [DUR] (DUR like 30s, 10m, 2h or 1d)";
    let mut words = args.split_whitespace();
    let (Some(name), time, None) = (words.next(), words.next(), words.next()) else {
        return Err(CommandError::usage(USAGE));
    };
    let duration = match time {
        None => None,
        Some(time) => Some(parse_duration(time).ok_or_else(|| CommandError::usage(USAGE))?),
    };
    Ok(Command::Mute { name, duration })
}

/// What follows `/ban`: a name, maybe a duration (as for `/mute`), and
/// maybe a reason. A second word that reads as a duration is one: a reason
/// that starts like one needs a duration before it.
fn ban(args: &str) -> Result<Command<'_>, CommandError> {
    const USAGE: &str = "/ban NAME [DUR] [WHY] (DUR like 30s, 10m, 2h or 1d)";
    let (name, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    if name.is_empty() {
        return Err(CommandError::usage(USAGE));
    }
    let rest = rest.trim();
    let (first, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (duration, reason) = match parse_duration(first) {
        Some(duration) => (Some(duration), after.trim()),
        None => (None, rest),
    };
    Ok(Command::Ban {
        name,
        duration,
        reason,
    })
}

/// What follows `/register`: one word, the password, of
/// [`MIN_PASSWORD_BYTES`] to [`MAX_PASSWORD_BYTES`].
fn register(args: &str) -> Result<Command<'_>, CommandError> {
    let password = one_word(args, "/register PASSWORD (one word)")?;
    if password.len() < MIN_PASSWORD_BYTES || password.len() > MAX_PASSWORD_BYTES {
        return Err(CommandError::new(
            ErrorCode::BadArguments,
            format!(
                "a password is {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes without spaces; choose another"
            ),
        ));
    }
    Ok(Command::Register(password))
}

/// What follows `/identify`: `[NAME] PASSWORD`.
fn identify(args: &str) -> Result<Command<'_>, CommandError> {
    const USAGE: &str = "/identify [NAME] PASSWORD";
    let mut words = args.split_whitespace();
    let (name, password) = match (words.next(), words.next(), words.next()) {
        (Some(password), None, None) => (None, password),
        (Some(name), Some(password), None) => (Some(name), password),
        _ => return Err(CommandError::usage(USAGE)),
    };
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CommandError::usage(USAGE));
    }
    Ok(Command::Identify { name, password })
}

/// `30s`, `10m`, `2h`, `1d`: a positive whole number and its unit, at most
/// a year (so that adding it to a clock never overflows).
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    const YEAR: u64 = 365 * 86_400;
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    let count: u64 = text[..text.len() - 1].parse().ok()?;
    let seconds = count.checked_mul(unit)?;
    (1..=YEAR)
        .contains(&seconds)
        .then(|| std::time::Duration::from_secs(seconds))
}

fn one_word<'a>(args: &'a str, usage: &str) -> Result<&'a str, CommandError> {
    if args.is_empty() || args.contains(char::is_whitespace) {
        Err(CommandError::usage(usage))
    } else {
        Ok(args)
    }
}

fn no_args<'a>(args: &str, usage: &str, command: Command<'a>) -> Result<Command<'a>, CommandError> {
    if args.is_empty() {
        Ok(command)
    } else {
        Err(CommandError::usage(usage))
    }
}

fn validate(command: &Command<'_>) -> Result<(), CommandError> {
    match command {
        Command::Nick(name)
        | Command::Msg { to: name, .. }
        | Command::Kick { name, .. }
        | Command::Mute { name, .. }
        | Command::Unmute(name)
        | Command::Ban { name, .. }
        | Command::Unban(name)
        | Command::Ignore(name)
        | Command::Unignore(name)
        | Command::Identify {
            name: Some(name), ..
        }
        | Command::Unregister(Some(name))
            if !is_valid_name(name) =>
        {
            Err(invalid_name(name))
        }
        Command::Join(room) if !is_valid_room(room) => Err(invalid_room(room)),
        _ => Ok(()),
    }
}

/// The error for a name outside `[A-Za-z0-9_-]{1,24}`.
pub fn invalid_name(name: &str) -> CommandError {
    CommandError::new(
        ErrorCode::InvalidName,
        format!(
            "invalid name '{}': use 1 to {MAX_NAME_LEN} letters, digits, '_' or '-'",
            clip(name)
        ),
    )
}

/// The error for a room outside `[A-Za-z0-9_-]{1,32}`.
pub fn invalid_room(room: &str) -> CommandError {
    CommandError::new(
        ErrorCode::InvalidRoom,
        format!(
            "invalid room '{}': use 1 to {MAX_ROOM_LEN} letters, digits, '_' or '-'",
            clip(room)
        ),
    )
}

/// Makes a piece of a client's input safe to echo in a one-line error:
/// without control characters, line breaks included (it may come straight
/// from a URL), and short, so an error event stays a few hundred bytes.
fn clip(s: &str) -> String {
    const MAX_ECHO_CHARS: usize = 40;
    strip_controls(s)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ECHO_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_trailing_line_ending_is_stripped() {
        assert_eq!(strip_line_ending("hi\n"), "hi");
        assert_eq!(strip_line_ending("hi\r\n"), "hi");
        assert_eq!(strip_line_ending("hi\n\n"), "hi\n");
        assert_eq!(strip_line_ending("a\nb"), "a\nb");
        assert_eq!(strip_line_ending("hi\r"), "hi\r");
        assert_eq!(strip_line_ending("\n"), "");
        assert_eq!(strip_line_ending("hi"), "hi");
    }

    fn code(frame: &str) -> ErrorCode {
        parse_input(frame).unwrap_err().code
    }

    #[test]
    fn plain_text_is_said() {
        assert_eq!(parse_input("hi there"), Ok(Input::Say("hi there")));
        assert_eq!(parse_input("//nick"), Ok(Input::Say("/nick")));
        assert_eq!(parse_input("//"), Ok(Input::Say("/")));
        assert_eq!(parse_input(" /who"), Ok(Input::Say(" /who")));
    }

    #[test]
    fn every_command_parses() {
        let cmd = |f| match parse_input(f) {
            Ok(Input::Command(c)) => c,
            other => panic!("{f:?} gave {other:?}"),
        };
        assert_eq!(cmd("/nick bo"), Command::Nick("bo"));
        assert_eq!(cmd("/NICK  bo "), Command::Nick("bo"));
        assert_eq!(cmd("/join rust"), Command::Join("rust"));
        let who = |prefix, after| Command::Who { prefix, after };
        assert_eq!(cmd("/who"), who(None, None));
        assert_eq!(cmd("/who an"), who(Some("an"), None));
        assert_eq!(cmd("/who an  anabel "), who(Some("an"), Some("anabel")));
        assert_eq!(cmd("/who * bo"), who(None, Some("bo")));
        assert_eq!(cmd("/rooms"), Command::Rooms);
        assert_eq!(cmd("/help"), Command::Help);
        assert_eq!(cmd("/me waves  hello"), Command::Me("waves  hello"));
        assert_eq!(
            cmd("/msg bo  psst, you"),
            Command::Msg {
                to: "bo",
                text: "psst, you"
            }
        );
        assert_eq!(cmd("/op s3cret"), Command::Op("s3cret"));
        assert_eq!(cmd("/register s3cret-pw"), Command::Register("s3cret-pw"));
        assert_eq!(
            cmd("/identify s3cret-pw"),
            Command::Identify {
                name: None,
                password: "s3cret-pw"
            }
        );
        assert_eq!(
            cmd("/IDENTIFY ana s3cret-pw"),
            Command::Identify {
                name: Some("ana"),
                password: "s3cret-pw"
            }
        );
        assert_eq!(cmd("/unregister"), Command::Unregister(None));
        assert_eq!(cmd("/unregister bo"), Command::Unregister(Some("bo")));
        for bad in [
            "/register",
            "/register short",
            "/register two words",
            "/identify",
            "/identify a b c",
        ] {
            assert_eq!(
                parse_input(bad).unwrap_err().code,
                ErrorCode::BadArguments,
                "{bad}"
            );
        }
        assert_eq!(
            parse_input("/identify a!b pw").unwrap_err().code,
            ErrorCode::InvalidName
        );
        assert_eq!(
            cmd("/kick bo  spamming  again "),
            Command::Kick {
                name: "bo",
                reason: "spamming  again"
            }
        );
        assert_eq!(
            cmd("/kick bo"),
            Command::Kick {
                name: "bo",
                reason: ""
            }
        );
        assert_eq!(cmd("/topic"), Command::Topic(None));
        assert_eq!(
            cmd("/topic  Rust, mostly "),
            Command::Topic(Some("Rust, mostly"))
        );
        assert_eq!(
            cmd("/mute bo 10m"),
            Command::Mute {
                name: "bo",
                duration: Some(std::time::Duration::from_secs(600))
            }
        );
        assert_eq!(
            cmd("/mute bo"),
            Command::Mute {
                name: "bo",
                duration: None
            }
        );
        assert_eq!(cmd("/unmute bo"), Command::Unmute("bo"));
        let ban = |name, duration: Option<u64>, reason| Command::Ban {
            name,
            duration: duration.map(std::time::Duration::from_secs),
            reason,
        };
        assert_eq!(cmd("/ban bo"), ban("bo", None, ""));
        assert_eq!(cmd("/ban bo 2h"), ban("bo", Some(7200), ""));
        assert_eq!(
            cmd("/ban bo 2h  spam, again "),
            ban("bo", Some(7200), "spam, again")
        );
        assert_eq!(cmd("/ban bo spam again"), ban("bo", None, "spam again"));
        assert_eq!(cmd("/unban bo"), Command::Unban("bo"));
        assert_eq!(cmd("/bans"), Command::Bans);
        assert_eq!(cmd("/ignore bo"), Command::Ignore("bo"));
        assert_eq!(cmd("/unignore bo"), Command::Unignore("bo"));
        assert_eq!(cmd("/quit"), Command::Quit(None));
        assert_eq!(cmd("/quit bye all"), Command::Quit(Some("bye all")));
    }

    #[test]
    fn bad_input_gets_the_right_error() {
        assert_eq!(code(""), ErrorCode::EmptyMessage);
        assert_eq!(code("  \t"), ErrorCode::EmptyMessage);
        assert_eq!(code("/"), ErrorCode::UnknownCommand);
        assert_eq!(code("/dance"), ErrorCode::UnknownCommand);
        assert_eq!(code("/nick"), ErrorCode::BadArguments);
        assert_eq!(code("/nick a b"), ErrorCode::BadArguments);
        assert_eq!(code("/nick a!"), ErrorCode::InvalidName);
        assert_eq!(
            code(&format!("/nick {}", "a".repeat(25))),
            ErrorCode::InvalidName
        );
        assert_eq!(code("/join"), ErrorCode::BadArguments);
        assert_eq!(code("/join a/b"), ErrorCode::InvalidRoom);
        assert_eq!(code("/who a b c"), ErrorCode::BadArguments);
        assert_eq!(code("/who a!"), ErrorCode::BadArguments);
        assert_eq!(code("/who * b!"), ErrorCode::InvalidName);
        assert_eq!(code("/rooms x"), ErrorCode::BadArguments);
        assert_eq!(code("/help me"), ErrorCode::BadArguments);
        assert_eq!(code("/me"), ErrorCode::BadArguments);
        assert_eq!(code("/me   "), ErrorCode::BadArguments);
        assert_eq!(code("/msg"), ErrorCode::BadArguments);
        assert_eq!(code("/msg bo"), ErrorCode::BadArguments);
        assert_eq!(code("/msg bo   "), ErrorCode::BadArguments);
        assert_eq!(code("/msg b@d hi"), ErrorCode::InvalidName);
        assert_eq!(code("/op"), ErrorCode::BadArguments);
        assert_eq!(code("/op a b"), ErrorCode::BadArguments);
        assert_eq!(code("/kick"), ErrorCode::BadArguments);
        assert_eq!(code("/mute"), ErrorCode::BadArguments);
        assert_eq!(code("/mute bo 10"), ErrorCode::BadArguments);
        assert_eq!(code("/mute bo 0s"), ErrorCode::BadArguments);
        assert_eq!(code("/mute bo 366d"), ErrorCode::BadArguments);
        assert_eq!(code("/mute bo -1m"), ErrorCode::BadArguments);
        assert_eq!(code("/mute bo 1m x"), ErrorCode::BadArguments);
        assert_eq!(code("/unmute"), ErrorCode::BadArguments);
        assert_eq!(code("/kick b@d why"), ErrorCode::InvalidName);
        assert_eq!(code("/ban"), ErrorCode::BadArguments);
        assert_eq!(code("/ban b@d 1h"), ErrorCode::InvalidName);
        assert_eq!(code("/unban"), ErrorCode::BadArguments);
        assert_eq!(code("/unban a b"), ErrorCode::BadArguments);
        assert_eq!(code("/bans x"), ErrorCode::BadArguments);
        assert_eq!(code("/ignore"), ErrorCode::BadArguments);
        assert_eq!(code("/ignore b@d"), ErrorCode::InvalidName);
        assert_eq!(code("/unignore"), ErrorCode::BadArguments);
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let err = parse_input("/dance").unwrap_err();
        assert_eq!(
            err.message,
            "unknown command '/dance'; type /help for the list"
        );
        let err = parse_input("/msg bo").unwrap_err();
        assert_eq!(err.message, "usage: /msg NAME TEXT");
    }

    #[test]
    fn echoed_input_loses_its_control_characters() {
        let err = invalid_name("\x1b]52;c;eA==\x07x");
        assert_eq!(
            err.message,
            "invalid name ']52;c;eA==x': use 1 to 24 letters, digits, '_' or '-'"
        );
    }

    #[test]
    fn echoed_input_is_clipped() {
        let err = parse_input(&format!("/{}", "x".repeat(10_000))).unwrap_err();
        assert!(err.message.len() < 200, "{}", err.message);
    }

    proptest! {
        #[test]
        fn no_input_panics(frame in any::<String>()) {
            let _ = parse_input(&frame);
        }

        #[test]
        fn no_command_like_input_panics(word in "/[a-zA-Z]{0,6}", args in ".{0,40}") {
            let _ = parse_input(&format!("{word} {args}"));
        }

        #[test]
        fn accepted_names_and_rooms_are_valid(frame in "/(nick|join|msg) .{0,30}") {
            match parse_input(&frame) {
                Ok(Input::Command(Command::Nick(n) | Command::Msg { to: n, .. })) => {
                    prop_assert!(is_valid_name(n));
                }
                Ok(Input::Command(Command::Join(r))) => prop_assert!(is_valid_room(r)),
                _ => {}
            }
        }
    }
}
