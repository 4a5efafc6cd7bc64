//! What a connection asks for in its URL:
//! `/ROOM?name=&format=&since=&history=&wait=&token=`.
//!
//! Every part is optional, and a bad part never refuses the connection (only a
//! wrong token does, before the upgrade): it falls back to the default and is
//! reported as an `error` event right after the welcome, so that a person
//! using a generic tool sees what went wrong.

use super::command::{CommandError, invalid_name, invalid_room};
use super::event::ErrorCode;
use super::{DEFAULT_ROOM, Format, is_valid_name, is_valid_room};

/// A parsed connection URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub room: String,
    /// The name asked for; validated, but not yet checked for uniqueness.
    pub name: Option<String>,
    pub format: Format,
    /// Resume after this message id.
    pub since: Option<u64>,
    /// Whether to replay the room's history on entering (`history=0`: no,
    /// for a script or a bot that wants only what is said from now on).
    pub history: bool,
    /// `wait=1`: a name that is taken is held, as a registered one is,
    /// and the hold says why at once, before the welcome (for the page,
    /// which asks its person before it joins; see `connection::hold`).
    pub wait: bool,
    pub token: Option<String>,
    /// What was wrong with the URL, to report after the welcome.
    pub problems: Vec<CommandError>,
}

impl JoinRequest {
    /// Parses the path and query of a request URI.
    pub fn parse(path: &str, query: Option<&str>) -> Self {
        let mut request = JoinRequest {
            room: DEFAULT_ROOM.to_owned(),
            name: None,
            format: Format::Text,
            since: None,
            history: true,
            wait: false,
            token: None,
            problems: Vec::new(),
        };
        let room = path.trim_matches('/');
        if is_valid_room(room) {
            request.room = room.to_owned();
        } else if !room.is_empty() {
            request.problems.push(invalid_room(room));
        }
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*key {
                "name" if is_valid_name(&value) => request.name = Some(value.into_owned()),
                "name" => request.problems.push(invalid_name(&value)),
                "format" => match &*value {
                    "text" => request.format = Format::Text,
                    "json" => request.format = Format::Json,
                    _ => request
                        .problems
                        .push(invalid_query("format must be 'text' or 'json'; using text")),
                },
                "since" => match value.parse() {
                    Ok(id) => request.since = Some(id),
                    Err(_) => request.problems.push(invalid_query(
                        "since must be a message id (a whole number); ignoring it",
                    )),
                },
                "history" => match &*value {
                    "0" => request.history = false,
                    "1" => request.history = true,
                    _ => request.problems.push(invalid_query(
                        "history must be 0 (no replay) or 1; replaying it",
                    )),
                },
                "wait" => match &*value {
                    "0" => request.wait = false,
                    "1" => request.wait = true,
                    _ => request.problems.push(invalid_query(
                        "wait must be 1 (hold a taken name until another is chosen) or 0; not waiting",
                    )),
                },
                "token" => request.token = Some(value.into_owned()),
                _ => {}
            }
        }
        request
    }
}

fn invalid_query(message: &str) -> CommandError {
    CommandError {
        code: ErrorCode::InvalidQuery,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_url_means_lobby_in_text() {
        let request = JoinRequest::parse("/", None);
        assert_eq!(request.room, "lobby");
        assert_eq!(request.name, None);
        assert_eq!(request.format, Format::Text);
        assert_eq!(request.since, None);
        assert!(!request.wait);
        assert!(request.problems.is_empty());
    }

    #[test]
    fn every_part_is_read() {
        let request = JoinRequest::parse(
            "/rust",
            Some("name=ana&format=json&since=42&wait=1&token=a%20b+c"),
        );
        assert_eq!(request.room, "rust");
        assert_eq!(request.name.as_deref(), Some("ana"));
        assert_eq!(request.format, Format::Json);
        assert_eq!(request.since, Some(42));
        assert!(request.wait);
        assert_eq!(request.token.as_deref(), Some("a b c"));
        assert!(request.problems.is_empty());
    }

    #[test]
    fn bad_parts_fall_back_and_are_reported() {
        let request = JoinRequest::parse("/no/such", Some("name=a!&format=xml&since=-1"));
        assert_eq!(request.room, "lobby");
        assert_eq!(request.name, None);
        assert_eq!(request.format, Format::Text);
        assert_eq!(request.since, None);
        let codes: Vec<_> = request.problems.iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            [
                ErrorCode::InvalidRoom,
                ErrorCode::InvalidName,
                ErrorCode::InvalidQuery,
                ErrorCode::InvalidQuery
            ]
        );
    }

    proptest! {
        #[test]
        fn no_url_panics(path in ".{0,64}", query in ".{0,128}") {
            let _ = JoinRequest::parse(&path, Some(&query));
        }
    }
}
