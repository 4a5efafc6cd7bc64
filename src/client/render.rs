//! How events look in the client: the server's plain text lines for scripts,
//! or, on a terminal, lines with a short timestamp and colours that tell
//! one's own messages, others', private messages and notices apart.
//!
//! It renders events already made safe by [`Event::sanitized`], which the
//! session applies to every frame as it arrives: no control character in
//! any field, no line break in a field shown inside one line. The colours
//! added here are the only escape codes printed.

use anstyle::{AnsiColor, Effects, Style};

use crate::protocol::Event;

/// The look of printed events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Exactly the server's text format: no timestamps, no colour.
    Plain,
    /// For a person at a terminal: timestamps, and colour unless turned off.
    Terminal { color: bool },
}

/// Turns events into lines, remembering who "we" are.
#[derive(Debug)]
pub struct Renderer {
    look: Look,
    /// Our current name, to mark our own messages and private copies.
    me: String,
    /// The local day of the last timed line shown: timestamps are `HH:MM`
    /// only, so a line of another day is preceded by its date.
    day: Option<chrono::NaiveDate>,
}

/// Colours a name can get; each name always gets the same one.
const NAME_COLORS: [AnsiColor; 6] = [
    AnsiColor::BrightRed,
    AnsiColor::BrightGreen,
    AnsiColor::BrightYellow,
    AnsiColor::BrightBlue,
    AnsiColor::BrightMagenta,
    AnsiColor::BrightCyan,
];
const NOTICE: Style = Style::new().effects(Effects::DIMMED);
const ERROR: Style = AnsiColor::BrightRed.on_default().effects(Effects::BOLD);
const PRIVATE: Style = AnsiColor::Magenta.on_default();
const GAP: Style = AnsiColor::Yellow.on_default();
const INFO: Style = AnsiColor::Cyan.on_default();
const MENTION: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Black)))
    .bg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));

impl Renderer {
    pub fn new(look: Look) -> Self {
        Self {
            look,
            me: String::new(),
            day: Some(chrono::Local::now().date_naive()),
        }
    }

    /// Our name, as the server last told us.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Follows the events that change who we are.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::Welcome { name, .. } => name.clone_into(&mut self.me),
            Event::Nick { old, new, .. } if *old == self.me => new.clone_into(&mut self.me),
            _ => {}
        }
    }

    /// The lines to print before `event` on a terminal: a date line when its
    /// day is not the day of the line before it (yesterday's history, or
    /// midnight passing). Nothing for scripts, whose lines carry no time.
    pub fn date_line(&mut self, event: &Event) -> Option<String> {
        if self.look == Look::Plain {
            return None;
        }
        let day = local_time(event)?.date_naive();
        if self.day == Some(day) {
            return None;
        }
        self.day = Some(day);
        Some(self.notice(&day.format("%A %-d %B %Y").to_string()))
    }

    /// The line (or lines) to print for `event`, which must have been
    /// [`Event::sanitized`].
    pub fn render(&self, event: &Event) -> String {
        let plain = match event {
            Event::Private { from, to, .. } if *from == self.me && *to != self.me => {
                event.render_text_for_sender()
            }
            _ => event.render_text(),
        };
        let Look::Terminal { color } = self.look else {
            return plain;
        };
        let line = match event {
            _ if color && self.mentioned(event) => {
                // The whole line stands out, whatever the sender's colour.
                let style = MENTION.effects(Effects::BOLD);
                format!("{style}{plain}{style:#}")
            }
            _ if color => self.colored(event),
            _ if self.mentioned(event) => format!("{plain} [mention]"),
            // Without colour our own lines need another mark than reverse video.
            Event::Message { from, text, .. } if *from == self.me => {
                format!("{from} (you): {}", text.replace('\n', "\n  "))
            }
            _ => plain,
        };
        match timestamp(event) {
            Some(ts) if color => format!("{NOTICE}{ts}{NOTICE:#} {line}"),
            Some(ts) => format!("{ts} {line}"),
            None => line,
        }
    }

    /// Whether `event` is someone else's message or action that names us.
    pub fn mentioned(&self, event: &Event) -> bool {
        match event {
            Event::Message { from, text, .. } | Event::Action { from, text, .. } => {
                *from != self.me && mentions(text, &self.me)
            }
            _ => false,
        }
    }

    /// A line of the client's own (connection lost, reconnecting…).
    pub fn notice(&self, text: &str) -> String {
        match self.look {
            Look::Terminal { color: true } => format!("{GAP}-- {text}{GAP:#}"),
            _ => format!("-- {text}"),
        }
    }

    fn colored(&self, event: &Event) -> String {
        let body = |s: &str| s.replace('\n', "\n  ");
        match event {
            Event::Message { from, text, .. } if *from == self.me => {
                // Our own lines: the name in reverse video, unmistakable.
                let own = name_style(from).effects(Effects::BOLD | Effects::INVERT);
                format!("{own}{from}{own:#}: {}", body(text))
            }
            Event::Message { from, text, .. } => {
                let style = name_style(from).effects(Effects::BOLD);
                format!("{style}{from}{style:#}: {}", body(text))
            }
            Event::Action { from, text, .. } => {
                let style = name_style(from).effects(Effects::BOLD | Effects::ITALIC);
                format!("{style}* {from}{style:#} {}", body(text))
            }
            Event::Private { from, to, text, .. } => {
                let tag = if *from == self.me && *to != self.me {
                    format!("[private to {to}]")
                } else {
                    "[private]".to_owned()
                };
                let bold = PRIVATE.effects(Effects::BOLD);
                format!(
                    "{bold}{tag} {from}:{bold:#}{PRIVATE} {}{PRIVATE:#}",
                    body(text)
                )
            }
            Event::Join { .. }
            | Event::Leave { .. }
            | Event::Nick { .. }
            | Event::Presence { .. }
            | Event::Op { .. }
            | Event::Kick { .. }
            | Event::Topic { .. }
            | Event::Mute { .. }
            | Event::Unmute { .. }
            | Event::Ban { .. }
            | Event::Unban { .. }
            | Event::Ignore { .. }
            | Event::Unignore { .. }
            | Event::Registered { .. }
            | Event::Identified { .. }
            | Event::Unregistered { .. } => {
                format!("{NOTICE}{}{NOTICE:#}", event.render_text())
            }
            Event::Error { .. } => format!("{ERROR}{}{ERROR:#}", event.render_text()),
            Event::Gap { .. } => format!("{GAP}{}{GAP:#}", event.render_text()),
            Event::Welcome { .. }
            | Event::Who { .. }
            | Event::Rooms { .. }
            | Event::Help { .. }
            | Event::Bans { .. } => {
                format!("{INFO}{}{INFO:#}", event.render_text())
            }
        }
    }
}

/// Whether `text` names `name`: as a whole word, in any letter case, where
/// `-` and `_` are part of words as they are of names (so `ana` is not
/// named by `ana_b` or `banana`), `@ana` included.
pub(crate) fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    let text = text.to_lowercase();
    let name = name.to_lowercase();
    text.match_indices(&name).any(|(at, found)| {
        let before = text[..at].chars().next_back();
        let after = text[at + found.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// A stable colour per name, so a person is recognisable across lines.
fn name_style(name: &str) -> Style {
    // FNV-1a: tiny, and stable across runs and platforms.
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    NAME_COLORS[hash as usize % NAME_COLORS.len()].on_default()
}

/// `HH:MM` in local time, for events that carry a time.
fn timestamp(event: &Event) -> Option<String> {
    Some(local_time(event)?.format("%H:%M").to_string())
}

/// When `event` happened, in local time, for events that carry a time.
fn local_time(event: &Event) -> Option<chrono::DateTime<chrono::Local>> {
    let ts = match event {
        Event::Message { ts, .. }
        | Event::Action { ts, .. }
        | Event::Join { ts, .. }
        | Event::Leave { ts, .. }
        | Event::Nick { ts, .. }
        | Event::Presence { ts, .. }
        | Event::Private { ts, .. } => *ts,
        _ => return None,
    };
    let utc = chrono::DateTime::from_timestamp_millis(i64::try_from(ts).ok()?)?;
    Some(utc.with_timezone(&chrono::Local))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str, text: &str) -> Event {
        Event::Message {
            id: 1,
            room: "lobby".into(),
            from: from.into(),
            text: text.into(),
            ts: 0,
        }
    }

    #[test]
    fn a_line_of_another_day_comes_after_its_date() {
        let mut r = renderer(Look::Terminal { color: false }, "ana");
        let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
        let at = |ts| Event::Message {
            id: 1,
            room: "lobby".into(),
            from: "bo".into(),
            text: "hi".into(),
            ts,
        };
        assert_eq!(r.date_line(&at(now)), None, "today needs no date");
        let two_days_ago = now - 2 * 86_400_000;
        let date = r.date_line(&at(two_days_ago)).expect("a date line");
        assert!(date.starts_with("-- ") && date.contains(" 20"), "{date:?}");
        assert_eq!(r.date_line(&at(two_days_ago)), None, "once per day");
        assert!(r.date_line(&at(now)).is_some(), "back to today");
        assert_eq!(renderer(Look::Plain, "ana").date_line(&at(0)), None);
    }

    fn renderer(look: Look, me: &str) -> Renderer {
        let mut r = Renderer::new(look);
        r.me = me.to_owned();
        r
    }

    #[test]
    fn plain_is_the_servers_text_format() {
        let r = renderer(Look::Plain, "ana");
        assert_eq!(r.render(&message("bo", "hi")), "bo: hi");
        let private = Event::Private {
            from: "ana".into(),
            to: "bo".into(),
            text: "psst".into(),
            ts: 0,
        };
        assert_eq!(r.render(&private), "[private to bo] ana: psst");
    }

    #[test]
    fn terminal_without_colour_has_a_timestamp_and_no_escape() {
        let line = renderer(Look::Terminal { color: false }, "ana").render(&message("bo", "hi"));
        assert!(line.ends_with(" bo: hi"), "{line:?}");
        assert_eq!(line.len(), "HH:MM bo: hi".len(), "{line:?}");
        assert!(!line.contains('\x1b'));
    }

    #[test]
    fn colour_tells_own_messages_from_others() {
        let r = renderer(Look::Terminal { color: true }, "ana");
        let own = r.render(&message("ana", "hi"));
        let other = r.render(&message("bo", "hi"));
        assert!(own.contains("\x1b[7m") || own.contains(";7m"), "{own:?}");
        assert!(
            !other.contains(";7m") && !other.contains("\x1b[7m"),
            "{other:?}"
        );
    }

    #[test]
    fn without_colour_own_lines_are_marked_in_words() {
        let r = renderer(Look::Terminal { color: false }, "ana");
        let own = r.render(&message("ana", "hi\nthere"));
        assert!(own.ends_with(" ana (you): hi\n  there"), "{own:?}");
        let other = r.render(&message("bo", "hi"));
        assert!(other.ends_with(" bo: hi"), "{other:?}");
        let plain = renderer(Look::Plain, "ana").render(&message("ana", "hi"));
        assert_eq!(plain, "ana: hi", "scripts get the server's text");
    }

    #[test]
    fn a_mention_is_the_name_as_a_whole_word() {
        for text in ["ana", "hi ana!", "@ana: look", "ANA, there?", "(ana)"] {
            assert!(mentions(text, "ana"), "{text:?}");
        }
        for text in ["banana", "ana_b is here", "ana-b", "x_ana", "an a"] {
            assert!(!mentions(text, "ana"), "{text:?}");
        }
        assert!(mentions("ping bo-2 now", "bo-2"));
        assert!(!mentions("ping bo-22", "bo-2"));
        let r = renderer(Look::Terminal { color: false }, "ana");
        assert!(r.render(&message("bo", "hi @ana")).ends_with(" [mention]"));
        assert!(!r.mentioned(&message("ana", "I am ana")), "not by oneself");
        let coloured = renderer(Look::Terminal { color: true }, "ana");
        let line = coloured.render(&message("bo", "ana\nlook"));
        assert!(line.contains("bo: ana\n  look"), "indented once: {line:?}");
    }

    #[test]
    fn a_name_always_gets_the_same_colour() {
        assert_eq!(name_style("ana"), name_style("ana"));
        let colours: std::collections::HashSet<_> = ["ana", "bo", "cy", "dee", "eve", "fay", "gus"]
            .iter()
            .map(|n| name_style(n))
            .collect();
        assert!(colours.len() > 1);
    }

    #[test]
    fn hostile_text_loses_its_control_characters_in_every_look() {
        let event = message("e\x1b[31mve\nbo: x", "\x1b]0;pwned\x07hi\u{202e}").sanitized();
        for look in [
            Look::Plain,
            Look::Terminal { color: false },
            Look::Terminal { color: true },
        ] {
            let line = renderer(look, "ana").render(&event);
            // The hostile escapes survive only as harmless text.
            assert!(line.contains("e[31mve bo: x"), "{look:?}: {line:?}");
            assert!(!line.contains('\n'), "{look:?}: {line:?}");
            assert!(line.contains("]0;pwnedhi"), "{look:?}: {line:?}");
            assert!(
                !line.contains('\x07') && !line.contains('\u{202e}'),
                "{look:?}: {line:?}"
            );
        }
    }
}
