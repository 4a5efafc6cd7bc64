//! A WebSocket client written by hand, [`RawWs`], for what no well-behaved
//! library will send: a hand-written handshake over a `TcpStream`,
//! hand-built frames (masked or not, any opcode, RSV and FIN bits, any
//! announced length), and a frame reader that reports the close code and
//! checks that the server never masks a frame nor sets an RSV bit.

use std::io::ErrorKind;

use chat::protocol::Event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::events::{join, parse_event, untimed};
use super::{Endpoint, within};

/// RFC 6455's example key, and the accept value it must produce.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The `Sec-WebSocket-Accept` the server must answer [`KEY`] with.
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The mask of every masked frame sent with [`masked`].
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

// The first byte of a frame: FIN, the three RSV bits, and the opcode.
pub const FIN: u8 = 0x80;
pub const RSV1: u8 = 0x40;
pub const RSV2: u8 = 0x20;
pub const RSV3: u8 = 0x10;
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

// ---------------------------------------------------------------------------
// Frames

/// A frame as the server sent it.
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = String::from_utf8_lossy(&self.payload);
        let shown: String = text.chars().take(120).collect();
        write!(
            f,
            "Frame {{ fin: {}, opcode: {:#x}, {} bytes: {shown:?} }}",
            self.fin,
            self.opcode,
            self.payload.len()
        )
    }
}

/// One frame on the wire: `first` is the FIN, RSV and opcode byte; `mask`
/// masks the payload (as a client must) when given.
pub fn frame(first: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len <= 125 {
        out.push(mask_bit | u8::try_from(len).expect("at most 125"));
    } else if let Ok(len) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(mask) => {
            out.extend_from_slice(&mask);
            out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame, as a client must send it.
pub fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    frame(first, Some(MASK), payload)
}

/// A close frame's payload: the code, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Takes one complete frame off the front of `buf`, if there is one.
pub fn parse_frame(buf: &mut Vec<u8>) -> Option<Frame> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    assert_eq!(b1 & 0x80, 0, "the server masked a frame");
    assert_eq!(b0 & 0x70, 0, "the server set RSV bits");
    let (len, offset) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().expect("eight bytes");
            let len = usize::try_from(u64::from_be_bytes(bytes)).expect("a sane length");
            (len, 10)
        }
        len => (usize::from(len), 2),
    };
    let payload = buf.get(offset..offset + len)?.to_vec();
    buf.drain(..offset + len);
    Some(Frame {
        fin: b0 & FIN != 0,
        opcode: b0 & 0x0f,
        payload,
    })
}

// ---------------------------------------------------------------------------
// The raw client

/// A WebSocket client written by hand, so that it can break every rule.
pub struct RawWs {
    pub stream: TcpStream,
    /// Bytes read but not yet taken as frames.
    pub buf: Vec<u8>,
    /// Pings answered by [`RawWs::next_event_answering_pings`].
    pub pings_answered: usize,
}

/// A valid upgrade request for `path_and_query` on `server`.
pub fn upgrade_request(server: &Endpoint, path_and_query: &str) -> String {
    upgrade_request_with(&server.addr(), path_and_query, "13")
}

/// An upgrade request for `path_and_query`, naming `host`, that asks for
/// WebSocket version `version` (valid with "13").
pub fn upgrade_request_with(host: &str, path_and_query: &str, version: &str) -> String {
    format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
}

impl RawWs {
    /// Connects and completes the handshake for `path_and_query`.
    pub async fn connect(server: &Endpoint, path_and_query: &str) -> Self {
        let stream = within("a TCP connection", TcpStream::connect(server.addr()))
            .await
            .expect("connecting to the server");
        Self::handshake(stream, server, path_and_query).await
    }

    /// Completes the handshake on an already connected `stream`, asserting the
    /// `101` and its accept key.
    pub async fn handshake(stream: TcpStream, server: &Endpoint, path_and_query: &str) -> Self {
        let mut raw = Self {
            stream,
            buf: Vec::new(),
            pings_answered: 0,
        };
        raw.write(upgrade_request(server, path_and_query).as_bytes())
            .await;
        let head = raw.read_head().await;
        assert!(
            head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{head}"
        );
        let accept = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-accept")
                .then(|| value.trim().to_owned())
        });
        assert_eq!(accept.as_deref(), Some(ACCEPT), "{head}");
        raw
    }

    /// Connects with a 4 KiB receive buffer, so that its window closes after
    /// a few KiB, and completes the handshake for `path_and_query`: a
    /// reader that is meant never to read.
    pub async fn connect_reading_little(server: &Endpoint, path_and_query: &str) -> Self {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = within(
            "a TCP connection",
            socket.connect(server.addr().parse().expect("an address")),
        )
        .await
        .expect("connecting to the server");
        Self::handshake(stream, server, path_and_query).await
    }

    /// Connects as `name` to `room` in JSON, and reads the welcome and its
    /// own join.
    pub async fn join(server: &Endpoint, name: &str, room: &str) -> Self {
        let mut raw = Self::connect(server, &format!("/{room}?name={name}&format=json")).await;
        let welcome = raw.next_event().await;
        assert!(
            matches!(&welcome, Event::Welcome { name: n, room: r, .. } if n == name && r == room),
            "{welcome:?}"
        );
        assert_eq!(untimed(raw.next_event().await), join(room, name));
        raw
    }

    /// Writes `bytes`, failing the test if the server does not take them.
    pub async fn write(&mut self, bytes: &[u8]) {
        within("a write to the server", self.stream.write_all(bytes))
            .await
            .expect("writing to the server");
    }

    /// Writes an attack that the server may cut off halfway: a write error is
    /// the server closing the connection, which the caller then checks.
    pub async fn attack(&mut self, bytes: &[u8]) {
        if let Err(err) = within("a write to the server", self.stream.write_all(bytes)).await {
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                ),
                "writing the attack: {err}"
            );
        }
    }

    /// Sends one masked frame.
    pub async fn send(&mut self, first: u8, payload: &[u8]) {
        self.write(&masked(first, payload)).await;
    }

    /// Sends one text message.
    pub async fn send_text(&mut self, text: &str) {
        self.send(FIN | TEXT, text.as_bytes()).await;
    }

    /// Reads more bytes into the buffer; `false` once the server has closed
    /// the connection (a reset counts as a close).
    pub async fn fill(&mut self) -> bool {
        let mut chunk = vec![0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(err) if err.kind() == ErrorKind::ConnectionReset => false,
            Err(err) => panic!("reading from the server: {err}"),
        }
    }

    /// The HTTP answer's head, up to its blank line.
    pub async fn read_head(&mut self) -> String {
        within("the HTTP answer", async {
            loop {
                if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                    return String::from_utf8(head).expect("an ASCII head");
                }
                assert!(
                    self.fill().await,
                    "the server closed the connection instead of answering: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        })
        .await
    }

    /// The next frame, or `None` if the server closed the connection first.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = parse_frame(&mut self.buf) {
                return Some(frame);
            }
            if !self.fill().await {
                assert!(
                    self.buf.is_empty(),
                    "the connection closed in the middle of a frame: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return None;
            }
        }
    }

    /// The next frame, whatever it is.
    pub async fn next_frame(&mut self) -> Frame {
        within("the next frame", self.read_frame())
            .await
            .expect("the server closed the connection")
    }

    /// The next frame, which must be a complete text frame holding an event.
    pub async fn next_event(&mut self) -> Event {
        let frame = self.next_frame().await;
        assert!(frame.fin && frame.opcode == TEXT, "{frame:?}");
        parse_event(&String::from_utf8(frame.payload).expect("UTF-8 text"))
    }

    /// The next event, answering every ping before it with its pong.
    pub async fn next_event_answering_pings(&mut self) -> Event {
        loop {
            let frame = self.next_frame().await;
            match frame.opcode {
                PING => {
                    assert!(frame.payload.is_empty(), "{frame:?}");
                    self.send(FIN | PONG, &frame.payload).await;
                    self.pings_answered += 1;
                }
                TEXT => {
                    return parse_event(&String::from_utf8(frame.payload).expect("UTF-8 text"));
                }
                _ => panic!("expected an event or a ping, got {frame:?}"),
            }
        }
    }

    /// Reads until `n` pings in all have been answered with their pongs; no
    /// event may come meanwhile.
    pub async fn answer_pings(&mut self, n: usize) {
        while self.pings_answered < n {
            let frame = self.next_frame().await;
            assert!(
                frame.fin && frame.opcode == PING,
                "expected a ping, got {frame:?}"
            );
            assert!(frame.payload.is_empty(), "{frame:?}");
            self.send(FIN | PONG, &frame.payload).await;
            self.pings_answered += 1;
        }
    }

    /// The next frame, which must be a close frame; its code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        let frame = self.next_frame().await;
        assert_eq!(frame.opcode, CLOSE, "expected a close frame, got {frame:?}");
        let code = frame
            .payload
            .get(..2)
            .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
        let reason = frame.payload.get(2..).unwrap_or_default();
        (
            code,
            String::from_utf8(reason.to_vec()).expect("a UTF-8 reason"),
        )
    }

    /// Waits for the server to close the TCP connection, with nothing more
    /// sent before.
    pub async fn expect_eof(&mut self) {
        within("the server to close the connection", async {
            if let Some(frame) = self.read_frame().await {
                panic!("a frame after the close frame: {frame:?}");
            }
        })
        .await;
    }

    /// The close frame the server sends next, after which it must also close
    /// the TCP connection.
    pub async fn expect_closed(&mut self) -> (u16, String) {
        let close = self.expect_close().await;
        self.expect_eof().await;
        close
    }

    /// Leaves with `/quit` (skipping the events still unread), completes the
    /// closing handshake, and waits for the server to close the socket.
    pub async fn quit(mut self) {
        self.send_text("/quit").await;
        let close = within("the close after /quit", async {
            loop {
                let frame = self.read_frame().await.expect("a close frame");
                if frame.opcode != TEXT {
                    return frame;
                }
            }
        })
        .await;
        assert_eq!(close.opcode, CLOSE, "{close:?}");
        assert_eq!(close.payload, close_payload(1000, "bye"));
        self.send(FIN | CLOSE, &close_payload(1000, "")).await;
        self.expect_eof().await;
    }
}
