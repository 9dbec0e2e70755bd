//! Start tags: names checked as XML names, attributes read (fast or checked) and checked.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::events::attributes::Attributes;

use super::fast::{FAST_ATTRIBUTES, Pairs, plain_pairs};
use super::messages::{describe_xml_error, truncate_name};
use super::names::{is_xml_char, is_xml_name};
use super::{MAX_ATTRIBUTES, Parser, Tag};
use crate::error::{ErrorKind, InputError};

impl<'a> Parser<'a> {
    /// [`Parser::check_tag`], after a cheap look that clears the usual plain tag.
    pub(super) fn check_plain_tag(&self, tag: &Tag<'a>) -> Result<(), InputError> {
        if is_xml_name(tag.name)
            && plain_pairs(tag.attrs, &mut [("", ""); FAST_ATTRIBUTES]).is_some()
        {
            Ok(())
        } else {
            self.check_tag(tag)
        }
    }

    /// Checks what the tables do not read of a tag: a valid name and well-formed attributes.
    pub(super) fn check_tag(&self, tag: &Tag<'a>) -> Result<(), InputError> {
        self.check_name(tag)?;
        self.attributes(tag, |_, _| {})
    }

    /// The element's name is an XML name (see [`is_xml_name`]).
    pub(super) fn check_name(&self, tag: &Tag<'a>) -> Result<(), InputError> {
        if is_xml_name(tag.name) {
            Ok(())
        } else {
            Err(self.malformed(
                format!("invalid element name <{}>", truncate_name(tag.name)),
                self.position(),
            ))
        }
    }

    /// Calls `f` with each attribute name and (unescaped) value of a tag.
    pub(super) fn attributes(
        &self,
        tag: &Tag<'a>,
        mut f: impl FnMut(&[u8], Cow<'a, str>),
    ) -> Result<(), InputError> {
        let mut pairs: Pairs<'a> = [("", ""); FAST_ATTRIBUTES];
        if self.fast
            && let Some(count) = plain_pairs(tag.attrs, &mut pairs)
        {
            for (key, value) in &pairs[..count] {
                f(key.as_bytes(), Cow::Borrowed(value));
            }
            return Ok(());
        }
        if !attributes_separated(tag.attrs) {
            return Err(self.malformed(
                format!(
                    "attributes without white space between them in <{}>",
                    tag.name
                ),
                self.position(),
            ));
        }
        // With checks: duplicate attributes and missing quotes are errors, as for libxml2.
        let mut attrs = Attributes::new(tag.attrs, 0);
        attrs.with_checks(true);
        for (n, attr) in attrs.enumerate() {
            if n >= MAX_ATTRIBUTES {
                return Err(InputError::at(
                    ErrorKind::TooManyElements,
                    format!(
                        "more than {MAX_ATTRIBUTES} attributes on <{}>",
                        truncate_name(tag.name)
                    ),
                    self.data,
                    self.offset_in_data(self.position()),
                ));
            }
            let attr = attr.map_err(|_| {
                self.malformed(
                    format!("malformed attribute in <{}>", truncate_name(tag.name)),
                    self.position(),
                )
            })?;
            // quick-xml takes any run of bytes up to `=` for a name; libxml2 refuses the file (and
            // libvirt with it) unless it is an XML name. (The fast paths read plain names only.)
            if !is_xml_name(attr.key.as_ref()) {
                return Err(self.malformed(
                    format!("invalid attribute name in <{}>", truncate_name(tag.name)),
                    self.position(),
                ));
            }
            // Values without references or whitespace to normalise are borrowed as they are.
            if memchr::memchr(b'<', attr.value.as_bytes()).is_some() {
                return Err(self.malformed(
                    format!("'<' in an attribute value of <{}>", tag.name),
                    self.position(),
                ));
            }
            if let Cow::Borrowed(raw) = attr.value
                && memchr::memchr3(b'&', b'\n', b'\t', raw.as_bytes()).is_none()
                && memchr::memchr(b'\r', raw.as_bytes()).is_none()
            {
                f(attr.key.as_ref().as_bytes(), Cow::Borrowed(raw));
                continue;
            }
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| {
                    self.malformed(
                        format!(
                            "bad attribute value in <{}>: {}",
                            truncate_name(tag.name),
                            describe_xml_error(&e)
                        ),
                        self.position(),
                    )
                })?;
            // quick-xml resolves `&#6;` or `&#xFFFE;` like any other reference; XML allows references
            // to its Chars only. (A literal non-Char was refused with the whole text, so any one here
            // came from a reference.)
            if !value.chars().all(is_xml_char) {
                return Err(self.malformed(
                    format!(
                        "bad attribute value in <{}>: invalid character reference",
                        truncate_name(tag.name)
                    ),
                    self.position(),
                ));
            }
            f(attr.key.as_ref().as_bytes(), value);
        }
        Ok(())
    }
}

/// After each quoted value in a tag, XML requires white space, `/` or the end before anything else.
pub(super) fn attributes_separated(attrs: &str) -> bool {
    let bytes = attrs.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => {
                quote = None;
                if bytes
                    .get(i + 1)
                    .is_some_and(|&n| !n.is_ascii_whitespace() && n != b'/')
                {
                    return false;
                }
            }
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None => {}
        }
    }
    true
}
