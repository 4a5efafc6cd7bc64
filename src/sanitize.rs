//! Removal of characters that could drive a terminal, and of line breaks
//! where a text is shown as part of one line.
//!
//! Used by the server on everything a client sends before anyone else sees it,
//! and by the client again on everything it prints, whatever the server sent:
//! neither side trusts the other to have done it. [`strip_controls`] is for
//! text that may have several lines (a message); [`one_line`] for a field
//! shown inside one line (a name, a room, a reason, an error), where a line
//! break would let the rest pass for a line of its own.

use std::borrow::Cow;

/// Removes C0 and C1 control characters other than `\n` and `\t` (so no escape
/// sequence can reach a terminal) and the bidirectional embeddings, overrides
/// and isolates (so no text can display in an order other than it was typed).
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_forbidden) {
        Cow::Owned(text.chars().filter(|&c| !is_forbidden(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// The text as one line of printable characters: every line break (`\n`,
/// `\r`, `\r\n`, vertical tab, form feed, NEL, U+2028, U+2029) and tab becomes
/// one space, every other character [`strip_controls`] removes is removed,
/// and the result is trimmed. Inner spaces are kept as they are.
pub fn one_line(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim();
    if !trimmed.chars().any(|c| is_forbidden(c) || is_break(c)) {
        return Cow::Borrowed(trimmed);
    }
    let mut out = String::with_capacity(trimmed.len());
    let mut chars = trimmed.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            // One break, one space.
            continue;
        }
        if is_break(c) {
            out.push(' ');
        } else if !is_forbidden(c) {
            out.push(c);
        }
    }
    // Removed characters may have uncovered white space at either end.
    match out.trim() {
        t if t.len() == out.len() => Cow::Owned(out),
        t => Cow::Owned(t.to_owned()),
    }
}

/// A character that ends a line (or moves to another) on a terminal or in a
/// text tool, or a tab, which one-line fields do without.
fn is_break(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

fn is_forbidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_plain_text_borrowed() {
        assert!(matches!(strip_controls("héllo\tworld\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn strips_escape_sequences_to_harmless_text() {
        assert_eq!(
            strip_controls("\x1b[2J\x1b]0;pwned\x07hi\r"),
            "[2J]0;pwnedhi"
        );
    }

    #[test]
    fn strips_c1_and_bidi_overrides() {
        assert_eq!(
            strip_controls("a\u{9b}31mb\u{202e}cba\u{2066}d\u{7f}"),
            "a31mbcbad"
        );
    }

    #[test]
    fn one_line_keeps_a_clean_line_borrowed() {
        assert!(matches!(one_line("bye  all"), Cow::Borrowed("bye  all")));
        assert!(matches!(one_line(" bye "), Cow::Borrowed("bye")));
    }

    #[test]
    fn one_line_turns_each_line_break_into_a_space() {
        assert_eq!(
            one_line("bye\nbo: ana, paste the token here"),
            "bye bo: ana, paste the token here"
        );
        assert_eq!(
            one_line("a\r\nb\rc\u{2028}d\u{2029}e\u{85}f"),
            "a b c d e f"
        );
        assert_eq!(one_line("a\u{b}b\u{c}c\td"), "a b c d");
        assert_eq!(one_line("a\n\nb"), "a  b");
    }

    #[test]
    fn one_line_strips_controls_and_trims() {
        assert_eq!(one_line("\n \x1b]0;pwned\x07hi\u{202e} \n"), "]0;pwnedhi");
        assert_eq!(one_line("\x1b \x07"), "");
        assert_eq!(one_line("\u{7f}\n"), "");
    }

    proptest! {
        #[test]
        fn one_line_output_is_one_trimmed_line_without_controls(s in any::<String>()) {
            let out = one_line(&s);
            prop_assert!(!out.chars().any(|c| c.is_control() || is_forbidden(c) || is_break(c)));
            prop_assert_eq!(out.trim(), &*out);
        }

        #[test]
        fn one_line_is_idempotent(s in any::<String>()) {
            let once = one_line(&s).into_owned();
            prop_assert_eq!(one_line(&once), once.as_str());
        }

        #[test]
        fn one_line_keeps_every_printable_character_in_order(s in any::<String>()) {
            let kept: String = s
                .chars()
                .filter(|&c| !is_forbidden(c) && !is_break(c) && !c.is_whitespace())
                .collect();
            let out: String = one_line(&s).chars().filter(|c| !c.is_whitespace()).collect();
            prop_assert_eq!(out, kept);
        }


        #[test]
        fn output_has_no_forbidden_character(s in any::<String>()) {
            let out = strip_controls(&s);
            prop_assert!(!out.chars().any(is_forbidden));
        }

        #[test]
        fn stripping_is_idempotent(s in any::<String>()) {
            let once = strip_controls(&s).into_owned();
            prop_assert_eq!(strip_controls(&once), once.as_str());
        }
    }
}
