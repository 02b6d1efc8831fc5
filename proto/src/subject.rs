//! Subject validation, tokenising and wildcard matching, without allocating.
//!
//! A subject is `.`-separated tokens. In a subscription `*` (a whole token) matches one token
//! and `>` (the whole last token) matches one or more; `foo*` or `f>o` are plain tokens.
//! The rules mirror nats-server 2.9's `IsValidSubject` and `IsValidLiteralSubject`.

/// The token separator.
pub const SEPARATOR: u8 = b'.';
/// The single-token wildcard.
pub const PARTIAL_WILDCARD: &[u8] = b"*";
/// The tail wildcard.
pub const FULL_WILDCARD: &[u8] = b">";

/// Iterates the tokens of a subject (borrowing, no allocation).
#[inline]
pub fn tokens(subject: &[u8]) -> impl Iterator<Item = &[u8]> {
    subject.split(|b| *b == SEPARATOR)
}

/// Whether `subject` may be subscribed to: non-empty tokens, no whitespace, `>` only last.
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut after_full_wildcard = false;
    for token in tokens(subject) {
        if token.is_empty() || after_full_wildcard {
            return false;
        }
        if token
            .iter()
            .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c))
        {
            return false;
        }
        if token == FULL_WILDCARD {
            after_full_wildcard = true;
        }
    }
    true
}

/// Whether `subject` is a valid subject without wildcard tokens (pedantic publish check).
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    tokens(subject).all(|t| !t.is_empty() && t != PARTIAL_WILDCARD && t != FULL_WILDCARD)
}

/// Whether `subject` contains a `*` or `>` token.
pub fn has_wildcard(subject: &[u8]) -> bool {
    tokens(subject).any(|t| t == PARTIAL_WILDCARD || t == FULL_WILDCARD)
}

/// Whether the (possibly wildcard) `filter` matches the literal `subject`.
pub fn matches(filter: &[u8], subject: &[u8]) -> bool {
    let mut subject_tokens = tokens(subject);
    for f in tokens(filter) {
        if f == FULL_WILDCARD {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            Some(s) if f == PARTIAL_WILDCARD || f == s => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_follows_nats_server() {
        for ok in ["foo", ">", "*.*", "foo*.bar", "foo.>", "a.*.c", "f>o.bar"] {
            assert!(is_valid_subject(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "foo..bar",
            ".foo",
            "foo.",
            "foo.>.bar",
            "foo bar",
            "a\tb",
            ">.a",
        ] {
            assert!(!is_valid_subject(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn literal_subjects_have_no_wildcard_tokens() {
        assert!(is_valid_literal_subject(b"foo.bar"));
        assert!(is_valid_literal_subject(b"foo*.b>r"));
        assert!(!is_valid_literal_subject(b"foo.*"));
        assert!(!is_valid_literal_subject(b"foo.>"));
        assert!(!is_valid_literal_subject(b"foo..bar"));
        assert!(has_wildcard(b"a.*.c"));
        assert!(!has_wildcard(b"a.b*.c"));
    }

    #[test]
    fn wildcard_matching() {
        assert!(matches(b"foo.>", b"foo.bar"));
        assert!(matches(b"foo.>", b"foo.bar.baz"));
        assert!(!matches(b"foo.>", b"foo"));
        assert!(matches(b">", b"foo"));
        assert!(matches(b"*.bar", b"foo.bar"));
        assert!(!matches(b"*.bar", b"foo.bar.baz"));
        assert!(matches(b"foo.*.baz", b"foo.x.baz"));
        assert!(!matches(b"foo.bar", b"foo.baz"));
        assert!(!matches(b"foo", b"foo.bar"));
    }
}
