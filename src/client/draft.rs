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
        if line.trim().is_empty() || self.lines.back().is_some_and(|last| last == line) {
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
