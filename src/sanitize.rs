//! Removal of characters that could drive a terminal.
//!
//! Used by the server on everything a client sends before anyone else sees it,
//! and by the client again on everything it prints, whatever the server sent:
//! neither side trusts the other to have done it.

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

    proptest! {
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
