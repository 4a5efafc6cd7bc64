//! What the session learns from each event before showing it: who and
//! where we are, the id to resume after, the names in the room (for Tab and
//! the join list), the names we ignore, and what is not to be shown. Part
//! of the session loop's [`Chat`], apart because it changes state and
//! prints nothing.

use super::terminal::Input;
use super::{Chat, ErrorCode, Event, LimitsInfo};
use crate::protocol::leave_told_by_notice;

impl Chat {
    /// Updates who and where we are from `event`; returns the limits of a welcome.
    pub(super) fn follow(&mut self, event: &Event, input: &mut Input) -> Option<LimitsInfo> {
        self.renderer.observe(event);
        let me = self.renderer.me().to_owned();
        let mut limits_now = None;
        match event {
            Event::Welcome {
                name, room, limits, ..
            } => {
                self.session.name = Some(name.clone());
                if self.session.room.as_deref() != Some(room) {
                    self.session.room = Some(room.clone());
                    self.session.since = None;
                }
                self.replaying = true;
                self.divided = false;
                limits_now = Some(limits.clone());
            }
            Event::Nick { new, .. } if *new == me => {
                self.session.name = Some(me.clone());
            }
            Event::Leave { name, reason, .. } if *name == me && reason.starts_with("joined ") => {
                self.replaying = true;
                self.divided = false;
            }
            Event::Join { room, name, .. } if *name == me => {
                self.replaying = false;
                if std::mem::take(&mut self.resuming) {
                    // Not in the replay: the server never took them.
                    while let Some(line) = self.unconfirmed.pop_back() {
                        self.pending.push_front(line);
                    }
                }
                if self.session.room.as_deref() != Some(room) {
                    self.session.room = Some(room.clone());
                    self.session.since = None;
                }
            }
            Event::Message { id, from, text, .. } => {
                self.session.since = Some(*id);
                if *from == me
                    && let Some(at) = self.unconfirmed.iter().position(|line| line == text)
                {
                    // Ours come back in order: those before it were refused.
                    self.unconfirmed.drain(..=at);
                }
            }
            Event::Action { id, .. } => self.session.since = Some(*id),
            Event::Error {
                code: ErrorCode::TooLong | ErrorCode::RateLimited,
                ..
            } => {
                self.unconfirmed.pop_front();
            }
            _ => {}
        }
        if let Event::Welcome { limits, .. } = event {
            input.set_max_message_bytes(limits.max_message_bytes);
        }
        if self.track_names(event) {
            input.set_names(&self.names, self.names_partial);
        }
        if matches!(
            event,
            Event::Welcome { .. } | Event::Nick { .. } | Event::Join { .. }
        ) {
            let room = self.session.room.as_deref().unwrap_or("lobby");
            input.set_prompt(&format!("{me}@{room}> "));
        }
        limits_now
    }

    /// Keeps the list of names we ignore, and says whether `event` is not
    /// to be shown: the confirmation of a name sent again after a
    /// reconnection, what an ignored name said before the server had the
    /// list again (the replay of what we missed), or the `leave` of someone
    /// whose kick or ban was just told.
    pub(super) fn screened(&mut self, event: &Event) -> bool {
        match event {
            Event::Ignore { name } => {
                if let Some(at) = self
                    .restoring
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(name))
                {
                    self.restoring.swap_remove(at);
                    return true;
                }
                if !self.ignored.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    self.ignored.push(name.clone());
                }
                false
            }
            Event::Unignore { name } => {
                self.ignored.retain(|n| !n.eq_ignore_ascii_case(name));
                false
            }
            // The room was told of this departure by the `kick` or `ban`
            // notice just before it (always, per the protocol): the leave is
            // there for member lists, and is not shown again.
            Event::Leave { reason, .. } if !self.json => leave_told_by_notice(reason),
            Event::Message { from, .. }
            | Event::Action { from, .. }
            | Event::Private { from, .. } => {
                self.ignored.iter().any(|n| n.eq_ignore_ascii_case(from))
                    && from != self.renderer.me()
            }
            _ => false,
        }
    }

    /// Sends the names we ignore again, on a new connection: first among
    /// the lines waiting, paced like them.
    pub(super) fn restore_ignores(&mut self) {
        self.restoring.clear();
        for name in self.ignored.iter().rev() {
            self.pending.push_front(format!("/ignore {name}"));
            self.restoring.push(name.clone());
        }
    }

    /// Follows who is in our room; `true` when that changed.
    fn track_names(&mut self, event: &Event) -> bool {
        let here = |room: &str| self.session.room.as_deref() == Some(room);
        match event {
            Event::Who {
                room, names, more, ..
            } if here(room) => {
                names.clone_into(&mut self.names);
                self.names_partial = *more;
            }
            Event::Presence { room, .. } if here(room) => self.names_partial = true,
            Event::Join { room, name, .. } if here(room) => {
                if name == self.renderer.me() {
                    // A room entered anew: its who answer follows.
                    self.names.clear();
                    self.names_partial = false;
                }
                if !self.names.contains(name) {
                    self.names.push(name.clone());
                }
            }
            Event::Leave { room, name, .. } if here(room) => self.names.retain(|n| n != name),
            Event::Nick { old, new, .. } => {
                for name in &mut self.names {
                    if name == old {
                        new.clone_into(name);
                    }
                }
            }
            _ => return false,
        }
        true
    }
}
