//! XML's character and name classes (XML 1.0, fifth edition, as libxml2 reads them).

use crate::byteclass::name_len;

/// Whether `name` is an XML name (XML 1.0, fifth edition, as libxml2 reads names): a NameStartChar,
/// then NameChars. What libxml2 refuses as a name (`1bus`, `-x`, `a@b`, `×`) makes libvirt refuse the
/// whole file.
pub(super) fn is_xml_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    // The usual name is ASCII, checked a block at a time; any other takes the character loop.
    if bytes
        .first()
        .is_some_and(|&b| is_name_start(b) || b == b':')
        && name_len(bytes) == bytes.len()
    {
        return true;
    }
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start_char) && chars.all(is_name_char)
}

/// XML 1.0's Char: what a document may hold, and what a character reference may stand for.
pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML 1.0 (fifth edition) NameStartChar.
pub(super) fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (fifth edition) NameChar.
pub(super) fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A byte that may start a name on the fast paths (a letter or `_`; anything else takes the long way).
pub(super) const fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// [`is_name_start`] of every byte value: one load where a name starts on the fast paths, instead of
/// two range tests and a compare.
pub(super) static NAME_START: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_name_start(b as u8);
        b += 1;
    }
    table
};
