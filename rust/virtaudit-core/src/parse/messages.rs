//! Wording of parse errors: element names shortened, the input never quoted.

/// Element names in messages are cut short: a hostile file must not put megabytes into a message.
pub(super) fn truncate_name(name: &str) -> String {
    const MAX: usize = 64;
    if name.len() <= MAX {
        return name.to_string();
    }
    let mut end = MAX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
}

/// A description of a quick-xml error that never quotes the input: an attribute value or an entity
/// name may hold a secret (a graphics password cut in half, say), so only the category and, for tag
/// mismatches, the (shortened) element names are kept.
pub(super) fn describe_xml_error(err: &quick_xml::Error) -> String {
    use quick_xml::errors::IllFormedError;
    match err {
        quick_xml::Error::Syntax(e) => format!("syntax error: {e}"),
        quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!(
                "end tag </{}> does not match <{}>",
                truncate_name(found),
                truncate_name(expected)
            )
        }
        quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("end tag </{}> without a start tag", truncate_name(name))
        }
        quick_xml::Error::IllFormed(IllFormedError::DoubleHyphenInComment) => {
            "'--' inside a comment".to_string()
        }
        quick_xml::Error::IllFormed(_) => "ill-formed document".to_string(),
        quick_xml::Error::InvalidAttr(_) => "malformed attribute".to_string(),
        quick_xml::Error::Escape(_) => "invalid character or entity reference".to_string(),
        quick_xml::Error::Encoding(_) => "invalid encoding".to_string(),
        quick_xml::Error::Namespace(_) => "invalid namespace".to_string(),
        quick_xml::Error::Io(_) => "read error".to_string(),
    }
}
