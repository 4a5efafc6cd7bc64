//! The line being typed (the draft) and the lines typed before it (the
//! history): what the editing keys do to them, with no terminal involved, so
//! that each key is unit-tested.
//!
//! The cursor moves by grapheme cluster, not by `char`: an accented letter
//! typed as a letter and a combining mark, or a flag, is one step and is
//! deleted whole, as the person sees it.

use std::collections::VecDeque;

use unicode_segmentation::UnicodeSegmentation as _;

/// The text being typed and where the cursor is in it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Draft {
    text: String,
    /// A byte offset into `text`, always on a `char` boundary.
    cursor: usize,
}

impl Draft {
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The cursor as a byte offset into [`Draft::text`].
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Replaces the text, with the cursor at its end (a recalled line).
    pub(crate) fn set(&mut self, text: &str) {
        text.clone_into(&mut self.text);
        self.cursor = self.text.len();
    }

    /// Empties the draft, returning what it held.
    pub(crate) fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    pub(crate) fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    /// Deletes the grapheme before the cursor (Backspace).
    pub(crate) fn delete_back(&mut self) {
        if let Some(start) = self.previous_grapheme() {
            self.text.drain(start..self.cursor);
            self.cursor = start;
        }
    }

    /// Deletes the grapheme under the cursor (Delete, Ctrl-D).
    pub(crate) fn delete_forward(&mut self) {
        if let Some(end) = self.next_grapheme() {
            self.text.drain(self.cursor..end);
        }
    }

    pub(crate) fn left(&mut self) {
        if let Some(start) = self.previous_grapheme() {
            self.cursor = start;
        }
    }

    pub(crate) fn right(&mut self) {
        if let Some(end) = self.next_grapheme() {
            self.cursor = end;
        }
    }

    pub(crate) fn home(&mut self) {
        self.cursor = 0;
    }

    pub(crate) fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// To the start of this word or the one before (Alt-B).
    pub(crate) fn word_left(&mut self) {
        self.cursor = self.word_start();
    }

    /// To the end of this word or the one after (Alt-F).
    pub(crate) fn word_right(&mut self) {
        let rest = &self.text[self.cursor..];
        let word = rest.len() - rest.trim_start().len();
        let after = &rest[word..];
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        self.cursor += word + end;
    }

    /// Deletes back to the start of the word (Ctrl-W): words are separated
    /// by white space, as in a shell, so `/msg bo` loses `bo` and then `/msg `.
    pub(crate) fn delete_word_back(&mut self) {
        let start = self.word_start();
        self.text.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Deletes from the start of the line to the cursor (Ctrl-U).
    pub(crate) fn delete_to_start(&mut self) {
        self.text.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Deletes from the cursor to the end of the line (Ctrl-K).
    pub(crate) fn delete_to_end(&mut self) {
        self.text.truncate(self.cursor);
    }

    /// Tab: completes the word before the cursor, a command after a `/` at
    /// the start of the line, otherwise a name among `names` (in any letter
    /// case). One candidate is completed whole, followed by `: ` for a name
    /// at the start of the line (the IRC way of addressing someone) or a
    /// space; several are completed as far as they agree.
    pub(crate) fn complete(&mut self, names: &[String], commands: &[&str]) {
        let start = self.word_start();
        let word = &self.text[start..self.cursor];
        if word.is_empty() {
            return;
        }
        let (candidates, suffix): (Vec<&str>, &str) = if start == 0 && word.starts_with('/') {
            let found = commands
                .iter()
                .copied()
                .filter(|c| c.starts_with(&word.to_lowercase()))
                .collect();
            (found, " ")
        } else {
            let lower = word.to_lowercase();
            let found = names
                .iter()
                .map(String::as_str)
                .filter(|n| n.to_lowercase().starts_with(&lower))
                .collect();
            (found, if start == 0 { ": " } else { " " })
        };
        let replacement = match candidates.as_slice() {
            [] => return,
            [one] => format!("{one}{suffix}"),
            [first, rest @ ..] => rest.iter().fold((*first).to_owned(), |common, c| {
                common
                    .chars()
                    .zip(c.chars())
                    .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                    .map(|(a, _)| a)
                    .collect()
            }),
        };
        if replacement.len() < word.len() {
            return;
        }
        self.text.replace_range(start..self.cursor, &replacement);
        self.cursor = start + replacement.len();
    }

    /// Inserts pasted text whole: its line endings become `\n` (one
    /// message of several lines) and its tabs spaces, which the server
    /// would otherwise keep as tabs that every terminal shows differently.
    pub(crate) fn paste(&mut self, text: &str) {
        let text = text
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\t', "    ");
        self.text.insert_str(self.cursor, &text);
        self.cursor += text.len();
    }

    /// The word before the cursor when Tab would complete it as a name
    /// (any word but a command at the start of the line).
    pub(crate) fn name_prefix(&self) -> Option<&str> {
        let start = self.word_start();
        let word = &self.text[start..self.cursor];
        let command = start == 0 && word.starts_with('/');
        (!word.is_empty() && !command).then_some(word)
    }

    fn word_start(&self) -> usize {
        let before = self.text[..self.cursor].trim_end();
        before.rfind(char::is_whitespace).map_or(0, |at| {
            at + before[at..].chars().next().map_or(1, char::len_utf8)
        })
    }

    fn previous_grapheme(&self) -> Option<usize> {
        self.text[..self.cursor]
            .grapheme_indices(true)
            .next_back()
            .map(|(at, _)| at)
    }

    fn next_grapheme(&self) -> Option<usize> {
        self.text[self.cursor..]
            .graphemes(true)
            .next()
            .map(|g| self.cursor + g.len())
    }
}

/// The commands whose arguments are secrets (a password, an operator's
/// token): masked as typed, and never kept in the history.
const SECRET_COMMANDS: [&str; 3] = ["/op", "/register", "/identify"];

/// Where the secret part of `line` starts (its arguments), if it is a
/// command that takes a secret.
pub(crate) fn secret_from(line: &str) -> Option<usize> {
    let end = line.find(char::is_whitespace)?;
    SECRET_COMMANDS
        .iter()
        .any(|command| line[..end].eq_ignore_ascii_case(command))
        .then_some(end + 1)
}

/// The lines sent before, for Up and Down, newest last.
#[derive(Debug)]
pub(crate) struct History {
    lines: VecDeque<String>,
    limit: usize,
    /// The line Up and Down have reached; `None` while on the draft itself.
    at: Option<usize>,
    /// The draft as it was when Up was first pressed, for Down to come back to.
    stash: String,
}

impl History {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            limit,
            at: None,
            stash: String::new(),
        }
    }

    /// Keeps a line just sent (not a blank one, nor the same line twice in a
    /// row), and goes back to the draft.
    pub(crate) fn push(&mut self, line: &str) {
        self.at = None;
        if line.trim().is_empty()
            || self.lines.back().is_some_and(|last| last == line)
            || secret_from(line).is_some()
        {
            return;
        }
        if self.lines.len() == self.limit {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_owned());
    }

    /// The line before the one shown (Up), or `None` at the oldest.
    pub(crate) fn up(&mut self, draft: &str) -> Option<&str> {
        let at = match self.at {
            None if self.lines.is_empty() => return None,
            None => {
                draft.clone_into(&mut self.stash);
                self.lines.len() - 1
            }
            Some(0) => return None,
            Some(at) => at - 1,
        };
        self.at = Some(at);
        Some(&self.lines[at])
    }

    /// Ctrl-R: the newest line older than the one at `before` (all of them
    /// with `None`) that contains `query`, with its place.
    pub(crate) fn search(&self, query: &str, before: Option<usize>) -> Option<(usize, &str)> {
        let end = before.unwrap_or(self.lines.len());
        (0..end)
            .rev()
            .find(|&i| self.lines[i].contains(query))
            .map(|i| (i, self.lines[i].as_str()))
    }

    /// The line after the one shown (Down), and at the newest the draft as
    /// it was before Up; `None` when already on the draft.
    pub(crate) fn down(&mut self) -> Option<&str> {
        let at = self.at?;
        if at + 1 < self.lines.len() {
            self.at = Some(at + 1);
            Some(&self.lines[at + 1])
        } else {
            self.at = None;
            Some(&self.stash)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Draft {
        let mut draft = Draft::default();
        text.chars().for_each(|c| draft.insert(c));
        draft
    }

    #[test]
    fn typing_inserts_at_the_cursor() {
        let mut draft = typed("helo");
        draft.left();
        draft.insert('l');
        assert_eq!((draft.text(), draft.cursor()), ("hello", 4));
    }

    #[test]
    fn a_grapheme_is_one_step_and_is_deleted_whole() {
        // e + combining acute, a flag (two regional indicators), a CJK character.
        let mut draft = typed("ae\u{301}\u{1f1eb}\u{1f1f7}\u{4e2d}");
        draft.left();
        draft.left();
        assert_eq!(
            &draft.text()[draft.cursor()..],
            "\u{1f1eb}\u{1f1f7}\u{4e2d}"
        );
        draft.delete_back();
        assert_eq!(draft.text(), "a\u{1f1eb}\u{1f1f7}\u{4e2d}");
        draft.delete_forward();
        assert_eq!(draft.text(), "a\u{4e2d}");
        draft.right();
        draft.right();
        assert_eq!(draft.cursor(), draft.text().len());
    }

    #[test]
    fn deleting_forward_at_the_end_changes_nothing() {
        let mut draft = typed("abc");
        draft.delete_forward();
        assert_eq!((draft.text(), draft.cursor()), ("abc", 3));
        draft.home();
        draft.delete_forward();
        assert_eq!((draft.text(), draft.cursor()), ("bc", 0));
        draft.delete_back();
        assert_eq!(draft.text(), "bc");
    }

    #[test]
    fn words_are_separated_by_white_space() {
        let mut draft = typed("/msg bo  hi there");
        draft.delete_word_back();
        assert_eq!(draft.text(), "/msg bo  hi ");
        draft.delete_word_back();
        assert_eq!(draft.text(), "/msg bo  ");
        draft.word_left();
        assert_eq!(draft.cursor(), 5);
        draft.word_left();
        draft.word_left();
        assert_eq!(draft.cursor(), 0);
        draft.word_right();
        assert_eq!(draft.cursor(), 4);
        draft.word_right();
        assert_eq!(draft.cursor(), 7);
        draft.word_right();
        assert_eq!(draft.cursor(), draft.text().len());
    }

    #[test]
    fn killing_to_either_end_of_the_line() {
        let mut draft = typed("one two three");
        draft.word_left();
        draft.delete_to_end();
        assert_eq!((draft.text(), draft.cursor()), ("one two ", 8));
        draft.left();
        draft.delete_to_start();
        assert_eq!((draft.text(), draft.cursor()), (" ", 0));
        assert_eq!(draft.take(), " ");
        assert!(draft.is_empty());
    }

    #[test]
    fn tab_completes_names_and_commands() {
        let names = ["bob".to_owned(), "Bea".to_owned(), "cy".to_owned()];
        let commands = ["/join", "/who", "/whois"];
        let mut draft = typed("bo");
        draft.complete(&names, &commands);
        assert_eq!(draft.text(), "bob: ", "at the start of the line");
        let mut draft = typed("hi c");
        draft.complete(&names, &commands);
        assert_eq!(draft.text(), "hi cy ", "elsewhere");
        let mut draft = typed("b");
        draft.complete(&names, &commands);
        assert_eq!(draft.text(), "b", "bob and Bea agree on no more");
        let mut draft = typed("/jo");
        draft.complete(&names, &commands);
        assert_eq!(draft.text(), "/join ");
        let mut draft = typed("/wh");
        draft.complete(&names, &commands);
        assert_eq!(draft.text(), "/who");
        let mut draft = typed("x /jo");
        draft.complete(&names, &commands);
        assert_eq!(draft.text(), "x /jo", "a command only at the start");
    }

    #[test]
    fn a_paste_keeps_its_lines_and_loses_its_tabs() {
        let mut draft = typed("ab");
        draft.left();
        draft.paste("1\t2\r\n3");
        assert_eq!(draft.text(), "a1    2\n3b");
        assert_eq!(draft.cursor(), "a1    2\n3".len());
    }

    #[test]
    fn secrets_are_masked_from_their_arguments_and_never_kept() {
        assert_eq!(secret_from("/identify hunter2"), Some(10));
        assert_eq!(secret_from("/OP tok"), Some(4));
        assert_eq!(secret_from("/opx tok"), None);
        assert_eq!(secret_from("/register"), None, "nothing typed yet");
        let mut history = History::new(10);
        history.push("/register hunter2");
        history.push("/Identify hunter2");
        assert_eq!(history.up(""), None);
    }

    #[test]
    fn ctrl_r_finds_older_and_older_lines() {
        let mut history = History::new(10);
        for line in ["deploy one", "lunch", "deploy two"] {
            history.push(line);
        }
        assert_eq!(history.search("dep", None), Some((2, "deploy two")));
        assert_eq!(history.search("dep", Some(2)), Some((0, "deploy one")));
        assert_eq!(history.search("dep", Some(0)), None);
        assert_eq!(history.search("zzz", None), None);
    }

    #[test]
    fn history_goes_up_and_back_down_to_the_draft() {
        let mut history = History::new(2);
        assert_eq!(history.up("draft"), None);
        for line in ["zero", "one", " ", "two", "two"] {
            history.push(line);
        }
        assert_eq!(history.up("draft"), Some("two"));
        assert_eq!(history.up("ignored"), Some("one"));
        assert_eq!(history.up("ignored"), None, "zero fell off the end");
        assert_eq!(history.down(), Some("two"));
        assert_eq!(history.down(), Some("draft"));
        assert_eq!(history.down(), None);
        history.push("three");
        assert_eq!(history.up(""), Some("three"));
    }
}
