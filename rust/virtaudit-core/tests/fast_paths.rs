//! The fast paths (plain attributes, device content, flag lists, skipped subtrees) against the same
//! parser with all of them turned off, where every element goes through quick-xml's events and
//! checked attribute reader. On every real document, and on variants made to hit each fallback, both
//! must give the same rows, or fail with the same kind of error.

use std::path::{Path, PathBuf};

use virtaudit_core::{Limits, parse_document, parse_document_checked};

fn project(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
}

/// Both parses of `data` agree; returns whether the document parsed.
fn agree(label: &str, data: &[u8]) -> bool {
    let limits = Limits::default();
    let fast = parse_document(data, &limits);
    let checked = parse_document_checked(data, &limits);
    match (&fast, &checked) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "{label}: rows differ between fast and checked parse");
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                a.kind, b.kind,
                "{label}: error kinds differ: {a:?} vs {b:?}"
            );
            false
        }
        _ => panic!(
            "{label}: fast parse {} but checked parse {}",
            if fast.is_ok() { "succeeds" } else { "fails" },
            if checked.is_ok() { "succeeds" } else { "fails" },
        ),
    }
}

fn project_documents() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "tests/fixtures",
        "examples/fleet",
        "rust/virtaudit-core/benches/data",
    ] {
        xml_files(&project(dir), &mut files);
    }
    files.sort();
    assert!(files.len() > 50, "project documents not found");
    files
}

#[test]
fn fast_and_checked_parses_agree_on_project_documents() {
    for path in project_documents() {
        let data = std::fs::read(&path).expect("read");
        agree(&path.display().to_string(), &data);
    }
}

#[test]
fn fast_and_checked_parses_agree_on_the_libvirt_corpus() {
    let corpus = project("../shared/corpus/libvirt-7.10");
    if !corpus.is_dir() {
        eprintln!(
            "SKIPPED: libvirt corpus not found at {} (it lives outside the project)",
            corpus.display()
        );
        return;
    }
    let mut files = Vec::new();
    xml_files(&corpus, &mut files);
    let parsed = files
        .iter()
        .filter(|path| {
            agree(
                &path.display().to_string(),
                &std::fs::read(path).expect("read"),
            )
        })
        .count();
    assert!(parsed > 500, "only {parsed} corpus documents parsed");
}

/// Edits that push markup off the fast paths (or into their error handling) without changing, or
/// while deliberately breaking, the document.
fn variants(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = end_tag_white_space(text);
    let edits: Vec<(&str, String)> = vec![
        (
            "comment in each device",
            text.replace("<alias ", "<!-- c --><alias "),
        ),
        (
            "comment in qemuCaps",
            text.replace("<flag ", "<!-- c --><flag "),
        ),
        // Found by the fuzzer: `--` inside a comment in a skipped subtree was accepted.
        (
            "'--' in a comment in a skipped subtree",
            text.replacen(
                "<memory unit='KiB'>",
                "<memory unit='KiB'><!-- a -- b -->",
                1,
            ),
        ),
        (
            "'--' in a comment in qemuCaps",
            text.replacen("<flag ", "<!-- a -- b --><flag ", 1),
        ),
        (
            "comment ending in '--->'",
            text.replacen("<flag ", "<!-- a ---><flag ", 1),
        ),
        (
            "comments starting with '-' and '>'",
            text.replacen("<vcpus>", "<vcpus><!---x--><!-->-->", 1)
                .replacen("<flag ", "<!--->x--><flag ", 1),
        ),
        (
            "comment in a skipped subtree",
            text.replacen("<memory unit='KiB'>", "<memory unit='KiB'><!-- c -->", 1),
        ),
        // Found by the fuzzer: a bad reference before a nesting too deep, both in a skipped subtree.
        (
            "bad reference, then too deep, in a skipped subtree",
            text.replacen(
                "<memory unit='KiB'>",
                &format!(
                    "<memory unit='KiB'>&b;{}{}",
                    "<d>".repeat(300),
                    "</d>".repeat(300)
                ),
                1,
            ),
        ),
        (
            "good reference, then too deep, in a skipped subtree",
            text.replacen(
                "<memory unit='KiB'>",
                &format!(
                    "<memory unit='KiB'>&amp;{}{}",
                    "<d>".repeat(300),
                    "</d>".repeat(300)
                ),
                1,
            ),
        ),
        (
            "reference in alias",
            text.replace("alias name='", "alias name='&#97;"),
        ),
        (
            "entity in address",
            text.replace("type='pci'", "type='p&#99;i'"),
        ),
        ("double quotes", text.replace('\'', "\"")),
        (
            "newline in value",
            text.replace("alias name='", "alias name='\n"),
        ),
        (
            "tab before attribute",
            text.replace("<address ", "<address\t"),
        ),
        ("spaces around =", text.replace("bus='", "bus = '")),
        // Each spelling that leaves the canonical ` name='` of the attribute reader at another point.
        ("space before =", text.replace("slot='", "slot ='")),
        ("space after =", text.replace("slot='", "slot= '")),
        (
            "line end after =",
            text.replace("function='", "function=\n'"),
        ),
        (
            "two spaces before a name",
            text.replace(" bus='", "  bus='"),
        ),
        (
            "line end before a name",
            text.replace(" slot='", "\nslot='"),
        ),
        (
            "name starting with a digit",
            text.replace(" bus='", " 1bus='"),
        ),
        ("name starting with ':'", text.replace(" bus='", " :bus='")),
        ("'=' without a value", text.replace("slot='", "slot=>'")),
        ("text in device", text.replace("<alias ", "text<alias ")),
        // Text before a child leaves quick-xml in the middle of its markup state (a fuzzer find).
        (
            "text before each device",
            text.replace("\n    <controller ", "\n\u{feff}    <controller "),
        ),
        (
            "text before a domain child",
            text.replace("\n  <os>", "\nx<os>"),
        ),
        (
            "text before a status child",
            text.replace("\n  <qemuCaps>", "\nx <qemuCaps>"),
        ),
        ("reference in text", text.replace("<alias ", "&amp;<alias ")),
        (
            "CDATA in device",
            text.replace("<alias ", "<![CDATA[x]]><alias "),
        ),
        ("PI in device", text.replace("<alias ", "<?pi x?><alias ")),
        // Found by the fuzzer: a declaration in a subtree that is skipped.
        (
            "declaration in a skipped subtree",
            text.replacen(
                "<memory unit='KiB'>",
                "<memory unit='KiB'><?xml version='1.0'?>",
                1,
            ),
        ),
        (
            "declaration in a skipped status subtree",
            text.replacen("<vcpus>", "<vcpus><?xml version='1.0'?>", 1),
        ),
        (
            "many attributes",
            text.replace(
                "<alias ",
                "<alias a1='1' a2='2' a3='3' a4='4' a5='5' a6='6' a7='7' a8='8' ",
            ),
        ),
        (
            "duplicate attribute",
            text.replace("<alias ", "<alias name='x' "),
        ),
        // Found by the fuzzer in a list item spelled other than libvirt writes it.
        (
            "duplicate attribute in a list item",
            text.replace("<flag name=", "<flag a='1' a='1' name="),
        ),
        (
            "extra attribute in a list item",
            text.replace("<flag name=", "<flag a='1' name="),
        ),
        ("unquoted attribute", text.replace("<alias ", "<alias x=1 ")),
        (
            "attributes not separated",
            text.replace("bus='", "x='1'bus='"),
        ),
        (
            "'<' in a value",
            text.replace("alias name='", "alias name='<"),
        ),
        (
            "mismatched end tag",
            text.replacen("</source>", "</sourc>", 1),
        ),
        // Found by the fuzzer: a nameless device closed by an end tag holding only white space.
        (
            "nameless device",
            text.replacen("<devices>", "<devices><></\r>", 1),
        ),
        (
            "nameless element in a skipped subtree",
            text.replacen("<os>", "<os><></ >", 1),
        ),
        (
            "nameless empty element",
            text.replacen("<os>", "<os>< />", 1),
        ),
        ("bad element name", text.replacen("<alias ", "<1alias ", 1)),
        (
            "element in a namespace",
            text.replace("<alias ", "<x:y xmlns:x='u'/><alias "),
        ),
        (
            "second alias",
            text.replace("<alias ", "<alias name='ua-first'/><alias "),
        ),
        (
            "truncated in a device",
            text[..text.find("<alias ").map_or(text.len(), |i| i + 9)].to_string(),
        ),
        (
            "control character",
            text.replacen("<alias ", "<alias \u{1} ", 1),
        ),
        (
            "non-ASCII value",
            text.replace("alias name='", "alias name='é"),
        ),
        (
            "deep nesting in a device",
            text.replacen(
                "<alias ",
                &format!("{}{}<alias ", "<d>".repeat(300), "</d>".repeat(300)),
                1,
            ),
        ),
    ];
    out.extend(
        edits
            .into_iter()
            .map(|(what, variant)| (what.to_string(), variant)),
    );
    out
}

/// White space before the `>` of an end tag (allowed: the document stays the same), at each place that
/// reads end tags its own way: a device's child, a device, a list of flags, a skipped subtree.
fn end_tag_white_space(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (place, tag) in [
        ("device child", "source"),
        ("device", "interface"),
        ("list", "qemuCaps"),
        ("skipped", "os"),
    ] {
        for (name, space) in [
            ("space", " "),
            ("CR", "\r"),
            ("tab", "\t"),
            ("CR LF", "\r\n"),
        ] {
            let end = format!("</{tag}>");
            out.push((
                format!("{place} end tag with {name}"),
                text.replace(&end, &format!("</{tag}{space}>")),
            ));
        }
    }
    out
}

#[test]
fn fast_and_checked_parses_agree_on_variants_that_leave_the_fast_paths() {
    let mut parsed_variants = 0;
    let mut failed_variants = 0;
    for path in project_documents() {
        let text = std::fs::read_to_string(&path).expect("UTF-8");
        for (what, variant) in variants(&text) {
            if variant == text {
                continue;
            }
            if agree(&format!("{} ({what})", path.display()), variant.as_bytes()) {
                parsed_variants += 1;
            } else {
                failed_variants += 1;
            }
        }
    }
    // Both outcomes must have been exercised many times over.
    assert!(parsed_variants > 500, "{parsed_variants} variants parsed");
    assert!(failed_variants > 500, "{failed_variants} variants failed");
}

/// The parser, not quick-xml, matches end tags to start tags (the fast paths read start tags that
/// quick-xml never sees), so every place that reads an end tag is checked here, in both parses.
#[test]
fn every_end_tag_must_match_its_start_tag() {
    let path = project("tests/fixtures/devices/q35-status.xml");
    let text = std::fs::read_to_string(&path).expect("fixture");
    assert!(agree("fixture", text.as_bytes()), "fixture parses");
    let mut checked = 0;
    for end in [
        "</domstatus>",
        "</domain>",
        "</qemuCaps>",
        "</devices>",
        "</vcpus>",
        "</name>",
        "</uuid>",
        "</os>",
        "</type>",
        "</cpu>",
        "</controller>",
        "</disk>",
        "</source>",
        "</privateData>",
        "</objects>",
        "</origstates>",
        "</hostdev>",
        "</auth>",
        "</model>",
        "</target>",
        "</numa>",
        "</seclabel>",
    ] {
        for at in text
            .match_indices(end)
            .map(|(at, _)| at)
            .collect::<Vec<_>>()
        {
            let name = &end[2..end.len() - 1];
            for wrong in [format!("</{name}x>"), format!("</{name} x>")] {
                let variant = format!("{}{}{}", &text[..at], wrong, &text[at + end.len()..]);
                let label = format!("{end} at {at} replaced by {wrong}");
                assert!(!agree(&label, variant.as_bytes()), "{label}: accepted");
                let error =
                    parse_document(variant.as_bytes(), &Limits::default()).expect_err("fails");
                assert!(
                    error.message.contains("does not match"),
                    "{label}: {}",
                    error.message
                );
                checked += 1;
            }
            // White space before the `>` of an end tag is allowed.
            let spaced = format!("{}</{name} >{}", &text[..at], &text[at + end.len()..]);
            assert!(agree(&format!("{end} at {at} spaced"), spaced.as_bytes()));
        }
    }
    assert!(checked > 40, "{checked} end tags checked");
}
