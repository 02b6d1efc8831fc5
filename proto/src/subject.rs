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

/// Whether some literal subject matches both filters `a` and `b` (nats-server's
/// `SubjectsCollide`): used to follow requests through chains of service imports.
pub fn collide(a: &[u8], b: &[u8]) -> bool {
    let (mut a, mut b) = (tokens(a), tokens(b));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(FULL_WILDCARD), Some(_)) | (Some(_), Some(FULL_WILDCARD)) => return true,
            (Some(x), Some(y)) if x == PARTIAL_WILDCARD || y == PARTIAL_WILDCARD || x == y => {}
            _ => return false,
        }
    }
}

/// Whether every subject `inner` matches is also matched by `outer` (token by token: `*`
/// in `outer` takes any one token, `>` the rest; `inner`'s wildcards need the same or wider).
pub fn is_subset(inner: &[u8], outer: &[u8]) -> bool {
    let mut inner = tokens(inner);
    let mut outer = tokens(outer);
    loop {
        match (inner.next(), outer.next()) {
            (None, None) => return true,
            (Some(_), Some(b">")) => return true,
            (Some(b">"), _) => return false,
            (Some(_), Some(b"*")) => {}
            (Some(b"*"), Some(_)) => return false,
            (Some(i), Some(o)) if i == o => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_must_lie_within_the_export() {
        assert!(is_subset(b"a.b", b"a.b"));
        assert!(is_subset(b"a.b", b"a.*"));
        assert!(is_subset(b"a.*", b"a.*"));
        assert!(is_subset(b"a.b.c", b"a.>"));
        assert!(is_subset(b"a.>", b"a.>"));
        assert!(!is_subset(b"a.>", b"a.*"));
        assert!(!is_subset(b"a.*", b"a.b"));
        assert!(!is_subset(b"a", b"a.>"));
        assert!(!is_subset(b"b.c", b"a.>"));
        assert!(!is_subset(b"a.b.c", b"a.*"));
    }

    #[test]
    fn filters_collide_when_one_subject_matches_both() {
        for (a, b) in [
            ("a.b", "a.b"),
            ("a.*", "a.b"),
            ("a.>", "a.b.c"),
            ("*.b", "a.*"),
            (">", "x"),
        ] {
            assert!(collide(a.as_bytes(), b.as_bytes()), "{a} {b}");
            assert!(collide(b.as_bytes(), a.as_bytes()), "{b} {a}");
        }
        for (a, b) in [
            ("a.b", "a.c"),
            ("a.>", "a"),
            ("a.*", "a.b.c"),
            ("a.*.c", "a.b.d"),
        ] {
            assert!(!collide(a.as_bytes(), b.as_bytes()), "{a} {b}");
            assert!(!collide(b.as_bytes(), a.as_bytes()), "{b} {a}");
        }
    }

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
