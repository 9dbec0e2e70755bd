//! Oracles shared by the fuzz targets: beyond "no panic, no hang, bounded memory" (libFuzzer's own
//! checks), every input must give a deterministic outcome, bounded error messages with positions
//! inside the file, tables that account for it exactly once, and limits that only ever cut work short.

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use virtaudit_core::{
    Document, ErrorKind, InputError, Limits, TableBuilder, parse_document, parse_document_checked,
};

/// Error messages name elements (cut to 64 bytes) and limits; they never carry file content.
const MAX_MESSAGE: usize = 512;

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

/// `VIRTAUDIT_FUZZ_LAX_MESSAGES=1` turns off the message-length oracle (to keep a campaign going while a
/// known over-long message is being fixed; see docs/fuzzing.md).
fn lax_messages() -> bool {
    static LAX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LAX.get_or_init(|| env_flag("VIRTAUDIT_FUZZ_LAX_MESSAGES"))
}

/// `VIRTAUDIT_FUZZ_DIFF=1` turns on the differential well-formedness oracle (off by default: the second
/// opinion is quick-xml plus hand-written checks, which may still miss a rule the core enforces).
fn diff_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| env_flag("VIRTAUDIT_FUZZ_DIFF"))
}

/// `VIRTAUDIT_FUZZ_LAX_WELLFORMED=1` turns off the "accepted a document that is not well-formed" half of
/// the differential oracle below (the other half, "refused a well-formed document", stays on).
fn lax_wellformed() -> bool {
    static LAX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LAX.get_or_init(|| env_flag("VIRTAUDIT_FUZZ_LAX_WELLFORMED"))
}

/// A second opinion on well-formedness: quick-xml's event reader with every check it has, plus the rules
/// libxml2 adds (no DOCTYPE here: the core refuses them; predefined entities and valid character
/// references only; no `<` in attribute values; one root element). `None` where the bytes are not
/// UTF-8 text without NULs (the core's own checks decide those).
fn reference_well_formed(data: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)).ok()?;
    if text.contains('\0') || text.trim().is_empty() || data.starts_with(&[0xFE, 0xFF]) {
        return None;
    }
    if !text.chars().all(is_xml_char) {
        return Some(false); // control characters are not XML (libxml2 refuses them)
    }
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_comments = true;
    reader.config_mut().check_end_names = true;
    let (mut depth, mut roots) = (0usize, 0usize);
    loop {
        let event_start = reader.buffer_position();
        let Ok(event) = reader.read_event() else {
            return Some(false);
        };
        match &event {
            Event::Start(tag) | Event::Empty(tag) => {
                if depth == 0 {
                    roots += 1;
                }
                if !is_xml_name(tag.name().as_ref()) || !attributes_spaced(tag) {
                    return Some(false);
                }
                for attr in tag.attributes().with_checks(true) {
                    let Ok(attr) = attr else { return Some(false) };
                    if !is_xml_name(attr.key.as_ref())
                        || attr.value.contains('<')
                        // (quick-xml resolves references to non-characters such as `&#6;` too)
                        || !attr
                            .normalized_value(XmlVersion::Implicit1_0)
                            .is_ok_and(|v| v.chars().all(is_xml_char))
                    {
                        return Some(false);
                    }
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(tag) => {
                if !is_xml_name(tag.name().as_ref()) {
                    return Some(false);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) if depth == 0 && !t.bytes().all(|b| b.is_ascii_whitespace()) => {
                return Some(false);
            }
            Event::Text(t) if t.contains("]]>") => return Some(false),
            Event::CData(_) if depth == 0 => return Some(false),
            Event::GeneralRef(r) => {
                if depth == 0 {
                    return Some(false);
                }
                let ok = if r.is_char_ref() {
                    matches!(r.resolve_char_ref(), Ok(Some(c)) if is_xml_char(c))
                } else {
                    resolve_predefined_entity(r).is_some()
                };
                if !ok {
                    return Some(false);
                }
            }
            Event::DocType(_) => return Some(false),
            // The XML declaration only at the very start, and a PI target other than `xml` elsewhere.
            Event::Decl(_) if event_start != 0 => return Some(false),
            Event::PI(pi) if pi.target().eq_ignore_ascii_case("xml") => return Some(false),
            Event::Eof => break,
            _ => {}
        }
    }
    Some(roots == 1 && depth == 0)
}

/// White space after each quoted attribute value, before the next attribute.
fn attributes_spaced(tag: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut just_closed = false;
    for c in tag.chars() {
        if just_closed && !(c.is_ascii_whitespace() || c == '/') {
            return false;
        }
        just_closed = false;
        match quote {
            Some(q) if c == q => {
                quote = None;
                just_closed = true;
            }
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => {}
        }
    }
    true
}

/// An XML 1.0 (fifth edition) Name, as libxml2 reads names: written here from the specification's
/// tables, apart from the core's own check.
fn is_xml_name(name: &str) -> bool {
    const START: &[(u32, u32)] = &[
        (0x3A, 0x3A),
        (0x41, 0x5A),
        (0x5F, 0x5F),
        (0x61, 0x7A),
        (0xC0, 0xD6),
        (0xD8, 0xF6),
        (0xF8, 0x2FF),
        (0x370, 0x37D),
        (0x37F, 0x1FFF),
        (0x200C, 0x200D),
        (0x2070, 0x218F),
        (0x2C00, 0x2FEF),
        (0x3001, 0xD7FF),
        (0xF900, 0xFDCF),
        (0xFDF0, 0xFFFD),
        (0x10000, 0xEFFFF),
    ];
    const MORE: &[(u32, u32)] = &[
        (0x2D, 0x2E),
        (0x30, 0x39),
        (0xB7, 0xB7),
        (0x300, 0x36F),
        (0x203F, 0x2040),
    ];
    let within = |table: &[(u32, u32)], c: char| {
        table
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&u32::from(c)))
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| within(START, c))
        && chars.all(|c| within(START, c) || within(MORE, c))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether the first element of the document is `<domain` or `<domstatus`.
fn libvirt_root(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let Some(start) = text
        .match_indices('<')
        .map(|(i, _)| i)
        .find(|&i| !text[i + 1..].starts_with(['?', '!']))
    else {
        return false;
    };
    let name: String = text[start + 1..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    name == "domain" || name == "domstatus"
}

fn check_error(data: &[u8], error: &InputError) {
    assert!(
        lax_messages() || error.message.len() <= MAX_MESSAGE,
        "error message of {} bytes: {:.200}",
        error.message.len(),
        error.message
    );
    if let Some((line, column)) = error.position {
        let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        assert!(
            line >= 1 && u64::from(line) <= lines,
            "line {line} outside a file of {lines} lines"
        );
        assert!(
            column >= 1 && u64::from(column) <= data.len() as u64 + 1,
            "column {column} outside the file"
        );
    }
}

/// A cheap fingerprint of an outcome, to compare two parses of the same bytes.
fn summary(outcome: &Result<Document<'_>, InputError>) -> String {
    match outcome {
        Ok(doc) => format!(
            "ok {:?} {:?} {:?} {} {} {}",
            doc.domain.kind,
            doc.domain.name,
            doc.devices
                .last()
                .map(|d| (&d.element, &d.alias, d.pci_slot)),
            doc.devices.len(),
            doc.caps.len(),
            doc.live_aliases.len()
        ),
        Err(e) => format!("err {} {}", e.kind, e.message),
    }
}

pub fn check(data: &[u8]) {
    let limits = Limits::default();
    let outcome = parse_document(data, &limits);
    if let Err(error) = &outcome {
        check_error(data, error);
    }

    // The tables take every outcome: exactly one row in domains or errors.
    let mut builder = TableBuilder::new();
    match &outcome {
        Ok(doc) => builder.push_document("f.xml", "h", data.len() as u64, doc),
        Err(error) => builder.push_error("f.xml", "h", error),
    }
    let batch = builder.finish().expect("tables build");
    let rows = |t: &str| batch.table(t).map_or(0, |b| b.num_rows());
    assert_eq!(rows("domains") + rows("errors"), 1, "one input, one row");
    if let Ok(doc) = &outcome {
        assert_eq!(rows("devices"), doc.devices.len());
        assert_eq!(rows("caps"), doc.caps.len());
        assert_eq!(rows("live_aliases"), doc.live_aliases.len());
    }

    // The fast paths change nothing: with all of them off (every element through quick-xml's events and
    // checked attribute reader) the rows are the same, or the error is of the same kind.
    let checked = parse_document_checked(data, &limits);
    match (&outcome, &checked) {
        (Ok(fast), Ok(slow)) => assert_eq!(fast, slow, "fast and checked parses differ"),
        (Err(fast), Err(slow)) => assert_eq!(
            fast.kind, slow.kind,
            "fast and checked parses fail differently: {fast} / {slow}"
        ),
        _ => panic!(
            "fast parse {} but checked parse {}",
            summary(&outcome),
            summary(&checked)
        ),
    }

    // Tight limits only cut the same walk short: either the same outcome, or a limit error.
    let tight = Limits {
        max_file_size: u64::MAX,
        max_depth: 6,
        max_elements: 40,
    };
    let cut = parse_document(data, &tight);
    match &cut {
        Err(e) if matches!(e.kind, ErrorKind::TooDeep | ErrorKind::TooManyElements) => {
            check_error(data, e)
        }
        _ => assert_eq!(
            summary(&cut),
            summary(&outcome),
            "tight limits changed a result they did not cut"
        ),
    }

    // Differential (VIRTAUDIT_FUZZ_DIFF=1): the core's idea of well-formed agrees with a second parser's
    // (libvirt roots only: the core may refuse other roots before it reads their content).
    if diff_enabled() && libvirt_root(data) {
        match (&outcome, reference_well_formed(data)) {
            (Err(e), Some(true)) if e.kind == ErrorKind::MalformedXml => {
                panic!("refused a well-formed document: {e}")
            }
            (Ok(_), Some(false)) if !lax_wellformed() => {
                panic!("accepted a document that is not well-formed")
            }
            _ => {}
        }
    }

    // Deterministic (checked on small inputs only, to keep executions fast).
    if data.len() <= 4096 {
        assert_eq!(summary(&parse_document(data, &limits)), summary(&outcome));
    }
}
