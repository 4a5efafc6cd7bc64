//! What each command from the peer does: the registry asked, the answer
//! written. Part of [`Connection`], apart because the loop in `mod.rs`
//! needs only to know that a frame was a command.

use super::*;

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(super) async fn on_command(&mut self, command: Command<'_>) -> Result<(), Ending> {
        let rooms = &self.context.rooms;
        // A muted person may still read, move and ask, but not speak.
        let speaks = matches!(
            command,
            Command::Me(_)
                | Command::Msg { .. }
                | Command::Nick(_)
                | Command::Topic(Some(_))
                | Command::Identify { .. }
        );
        if speaks && let Err(muted) = rooms.check_muted(&self.name, self.address) {
            return self.reply(muted.into()).await;
        }
        let answer = match command {
            Command::Me(text) => {
                self.say(text, Said::Action);
                return self.write_after_room(None).await;
            }
            Command::Nick(new) => match rooms.rename(&self.name, &self.room, new).await {
                Ok(unheard) => {
                    new.clone_into(&mut self.name);
                    // The room only counted it: clients learn their new
                    // name from their own `nick`.
                    return match unheard {
                        Some(nick) => self.reply(nick).await,
                        None => Ok(()),
                    };
                }
                Err(err) => err.into(),
            },
            Command::Join(room) => match rooms.switch(&self.name, &self.room, room).await {
                Ok(membership) => {
                    // What the old room said before we left is still ours to show.
                    let format = self.format;
                    let metrics = &self.context.metrics;
                    let ignores = &self.ignores;
                    let left: Vec<Message> =
                        queued(&mut self.events_rx, 0, format, metrics, ignores).collect();
                    self.room.clone_from(&membership.room);
                    self.events_rx = membership.events_rx;
                    let replay = replayed(&membership.replay, &membership.room, format, ignores);
                    let own_join = membership.own_join.as_ref().map(|e| e.message(format));
                    // Shown on entering, as the welcome shows it.
                    let topic = membership.topic.map(|topic| {
                        let event = Event::Topic {
                            room: membership.room.clone(),
                            topic,
                            by: None,
                        };
                        encode(format, &event)
                    });
                    // After the own `join` (which the room may have queued
                    // already), so that it reads as part of entering.
                    let live: Vec<Message> = if topic.is_some() {
                        queued(&mut self.events_rx, 0, format, metrics, ignores).collect()
                    } else {
                        Vec::new()
                    };
                    let batch = left.into_iter().chain(replay).chain(own_join);
                    let batch = batch.chain(live).chain(topic);
                    let result = write_frames(&mut self.ws, batch, &self.context).await;
                    return self.written(result);
                }
                Err(err) => err.into(),
            },
            Command::Who { prefix, after } => rooms
                .who(&self.room, prefix, after)
                .await
                .unwrap_or_else(Event::from),
            Command::Rooms => rooms.list().await.unwrap_or_else(Event::from),
            Command::Help => help_event(),
            Command::Op(secret) => rooms
                .make_operator(&self.name, secret)
                .await
                .unwrap_or_else(Event::from),
            Command::Topic(text) => match rooms.topic(&self.name, &self.room, text) {
                Ok(Some(answer)) => answer,
                // The room's `topic` notice is the setter's confirmation.
                Ok(None) => return self.write_after_room(None).await,
                Err(err) => err.into(),
            },
            Command::Mute { name, duration } => rooms
                .mute(&self.name, name, duration)
                .await
                .unwrap_or_else(Event::from),
            Command::Unmute(name) => rooms.unmute(&self.name, name).unwrap_or_else(Event::from),
            Command::Ban {
                name,
                duration,
                reason,
            } => match rooms
                .ban(&self.name, &self.room, name, duration, reason)
                .await
            {
                // The room's `ban` notice is the operator's confirmation.
                Ok(None) => return self.write_after_room(None).await,
                Ok(Some(answer)) => answer,
                Err(err) => err.into(),
            },
            Command::Unban(name) => rooms.unban(&self.name, name).unwrap_or_else(Event::from),
            Command::Bans => rooms.bans(&self.name).await.unwrap_or_else(Event::from),
            Command::Ignore(name) => self
                .ignores
                .add(&self.name, name)
                .unwrap_or_else(Event::from),
            Command::Unignore(name) => self.ignores.remove(name).unwrap_or_else(Event::from),
            Command::Register(password) => {
                self.warn_if_insecure().await?;
                let rooms = &self.context.rooms;
                rooms
                    .register(&self.name, password, self.address)
                    .await
                    .unwrap_or_else(Event::from)
            }
            Command::Identify { name, password } => {
                self.warn_if_insecure().await?;
                let name = name.unwrap_or(&self.name).to_owned();
                let rooms = &self.context.rooms;
                let identified = rooms
                    .identify(
                        (&self.name, &self.control),
                        &self.room,
                        &name,
                        password,
                        self.address,
                    )
                    .await;
                match identified {
                    Ok(unheard) => {
                        name.clone_into(&mut self.name);
                        let own = Event::Identified { name };
                        // The room's `nick` (or our own, when the room only
                        // counted it) comes first: it is the rename.
                        return match unheard {
                            Some(nick) => {
                                let nick = encode(self.format, &nick);
                                let own = encode(self.format, &own);
                                self.write_after_room([nick, own]).await
                            }
                            None => self.reply(own).await,
                        };
                    }
                    Err(err) => err.into(),
                }
            }
            Command::Unregister(name) => rooms
                .unregister(&self.name, name)
                .await
                .unwrap_or_else(Event::from),
            Command::Kick { name, reason } => {
                match rooms.kick(&self.name, &self.room, name, reason).await {
                    // The room's `kick` notice is the operator's confirmation.
                    Ok(None) => return self.write_after_room(None).await,
                    Ok(Some(elsewhere)) => elsewhere,
                    Err(err) => err.into(),
                }
            }
            Command::Msg { to, text } => match rooms.private(&self.name, to, text).await {
                Ok(copy) => {
                    let message = match self.format {
                        Format::Text => Message::text(copy.render_text_for_sender()),
                        Format::Json => Message::text(copy.to_json()),
                    };
                    return self.write_after_room(Some(message)).await;
                }
                Err(err) => err.into(),
            },
            Command::Quit(text) => return Err(Ending::quit(text.unwrap_or_default())),
        };
        self.reply(answer).await
    }

    /// Warns that a password is crossing the network readable, when it is.
    async fn warn_if_insecure(&mut self) -> Result<(), Ending> {
        if is_secure(&self.context, self.address) {
            return Ok(());
        }
        self.reply(insecure()).await
    }

    /// Says `text` in our room, and starts holding our peer back if that
    /// left the room behind.
    pub(super) fn say(&mut self, text: &str, kind: Said) {
        let backlog = self.context.rooms.say(&self.name, &self.room, text, kind);
        self.context.metrics.messages_received.inc();
        let capacity = self.context.limits.room_queue_len;
        self.held_back = Backpressure::after_send(backlog, capacity, Instant::now()).map(Box::new);
    }
}
