//! Hostile and broken input (issue 6): every bad file becomes exactly one error row with a clear kind and
//! message, the good files of the same scan are still reported, nothing hangs, nothing is expanded or
//! fetched, and no message carries file content. Every scan here checks files seen = domains + errors.
//!
//! Crashes found by fuzzing (rust/virtaudit-core/fuzz) are kept as regression tests at the end.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use arrow_array::{Array, RecordBatch, StringViewArray};
use virtaudit_core::{
    Batch, ErrorKind, InputError, Limits, ScanOptions, Scanner, parse_document,
    parse_document_checked, scan, scan_buffers,
};

// ------------------------------------------------------------------------------------------------
// helpers

const GOOD_STATUS: &str = r#"<domstatus state='running' reason='booted' pid='4242'>
  <qemuCaps><flag name='kvm'/><flag name='device'/></qemuCaps>
  <devices><device alias='virtio-disk0'/><device alias='net0'/></devices>
  <domain type='kvm' id='7'>
    <name>good-guest</name>
    <uuid>5a1b3c0e-4f6d-4c8b-9a2e-0d1c2b3a4f5e</uuid>
    <os><type arch='x86_64' machine='pc-q35-8.2'>hvm</type></os>
    <devices>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <disk type='file' device='disk'>
        <source file='/var/lib/libvirt/images/good.qcow2'/>
        <alias name='virtio-disk0'/>
        <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
      </disk>
      <controller type='pci' index='0' model='pcie-root'><alias name='pcie.0'/></controller>
      <interface type='network'><model type='virtio'/><alias name='net0'/></interface>
    </devices>
  </domain>
</domstatus>
"#;

/// A status file that holds secrets of every kind the issue lists (values are unique markers).
const SECRET_STATUS: &str = r#"<domstatus state='running' reason='booted' pid='1'>
  <domain type='kvm' id='1'>
    <name>secret-guest</name>
    <uuid>11111111-2222-3333-4444-555555555555</uuid>
    <metadata><app:note xmlns:app='http://example.org/app'>MetaSecretText-q9v1</app:note></metadata>
    <devices>
      <disk type='network' device='disk'>
        <source protocol='iscsi' name='iqn.2013-07.com.example:iscsi-pool/1'>
          <host name='example.com' port='3260'/>
          <auth username='IscsiUser-z8x7'><secret type='iscsi' usage='IscsiUsage-w6v5'/></auth>
        </source>
        <alias name='virtio-disk1'/>
      </disk>
      <disk type='network' device='disk'>
        <source protocol='rbd' name='pool/image' tls='yes'>
          <auth username='RbdUser-u4t3'><secret type='ceph' uuid='0c2f5e1a-7b9d-4e3c-8a6f-1d2e3f4a5b6c'/></auth>
        </source>
      </disk>
      <graphics type='vnc' port='5900' passwd='VncPasswd-s2r1' passwdValidTo='2030-01-01T00:00:00'/>
      <graphics type='spice' passwd='SpicePasswd-p0o9'/>
    </devices>
  </domain>
</domstatus>
"#;

const SECRETS: &[&str] = &[
    "MetaSecretText-q9v1",
    "IscsiUser-z8x7",
    "IscsiUsage-w6v5",
    "RbdUser-u4t3",
    "0c2f5e1a-7b9d-4e3c-8a6f-1d2e3f4a5b6c",
    "VncPasswd-s2r1",
    "SpicePasswd-p0o9",
];

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "virtaudit-hostile-{}-{tag}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, data).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Put write permission back where a test took it away, then remove everything.
        let _ = make_writable(&self.0);
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn make_writable(dir: &Path) -> std::io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// One error row.
#[derive(Debug, Clone)]
struct ErrorRow {
    kind: String,
    message: String,
}

/// The outcome of a scan, per path.
#[derive(Debug, Default)]
struct Outcome {
    domains: Vec<String>,
    errors: BTreeMap<String, ErrorRow>,
    error_rows: usize,
    /// Every string cell of every table (for the secrets check).
    all_text: String,
}

impl Outcome {
    fn kind(&self, path: &Path) -> &str {
        let key = path.to_string_lossy();
        match self.errors.get(key.as_ref()) {
            Some(e) => &e.kind,
            None if self.domains.iter().any(|d| *d == key) => "parsed",
            None => panic!("{key} is in neither table: {self:#?}"),
        }
    }

    fn error(&self, path: &Path) -> &ErrorRow {
        self.errors
            .get(path.to_string_lossy().as_ref())
            .unwrap_or_else(|| panic!("no error row for {}", path.display()))
    }

    fn parsed(&self, path: &Path) -> bool {
        self.domains.iter().any(|d| *d == path.to_string_lossy())
    }
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<String> {
    let col = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    let col = col
        .as_any()
        .downcast_ref::<StringViewArray>()
        .expect("Utf8View column");
    (0..col.len())
        .map(|i| {
            if col.is_null(i) {
                String::new()
            } else {
                col.value(i).to_string()
            }
        })
        .collect()
}

fn collect(batches: &[Batch]) -> Outcome {
    let mut out = Outcome::default();
    for batch in batches {
        for table in virtaudit_core::TABLE_NAMES {
            let Some(rb) = batch.table(table) else {
                continue;
            };
            for (field, column) in rb.schema().fields().iter().zip(rb.columns()) {
                if let Some(col) = column.as_any().downcast_ref::<StringViewArray>() {
                    for i in 0..col.len() {
                        if !col.is_null(i) {
                            out.all_text.push_str(field.name());
                            out.all_text.push('=');
                            out.all_text.push_str(col.value(i));
                            out.all_text.push('\n');
                        }
                    }
                }
            }
        }
        if let Some(domains) = batch.table("domains") {
            out.domains.extend(strings(domains, "path"));
        }
        if let Some(errors) = batch.table("errors") {
            let paths = strings(errors, "path");
            let kinds = strings(errors, "kind");
            let messages = strings(errors, "message");
            out.error_rows += paths.len();
            for ((path, kind), message) in paths.into_iter().zip(kinds).zip(messages) {
                out.errors.insert(path, ErrorRow { kind, message });
            }
        }
    }
    out
}

/// Runs `f` on another thread and fails the test if it takes longer than `secs` (a hang).
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {secs}s (hang)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

fn options(limits: Limits) -> ScanOptions {
    ScanOptions {
        jobs: Some(2),
        limits,
        ..ScanOptions::default()
    }
}

/// Scans `args` under a timeout; checks files seen = domains + errors (`expected_files` inputs).
fn scan_checked(args: Vec<PathBuf>, limits: Limits, expected_files: usize) -> Outcome {
    let batches = within(120, "scan", move || {
        scan(&args, &options(limits)).expect("scan runs")
    });
    let out = collect(&batches);
    assert_eq!(
        out.domains.len() + out.error_rows,
        expected_files,
        "files seen != domains + errors: domains {:?}, errors {:#?}",
        out.domains,
        out.errors
    );
    for d in &out.domains {
        assert!(
            !out.errors.contains_key(d),
            "{d} is in both domains and errors"
        );
    }
    assert_eq!(
        out.errors.len(),
        out.error_rows,
        "two error rows for one path: {:#?}",
        out.errors
    );
    out
}

fn parse_err(data: &[u8]) -> InputError {
    parse_err_with(data, &Limits::default())
}

fn parse_err_with(data: &[u8], limits: &Limits) -> InputError {
    match parse_document(data, limits) {
        Ok(doc) => panic!(
            "expected an error, got a document with {} devices",
            doc.devices.len()
        ),
        Err(e) => e,
    }
}

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    for base in ["tests/fixtures", "examples/fleet"] {
        walk_xml(&root.join(base), &mut out);
    }
    out.sort();
    out
}

fn walk_xml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk_xml(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
}

/// The good files of every hostile scan: the built-in status plus the real fixtures (as they exist now).
fn good_inputs(dir: &TempDir) -> Vec<PathBuf> {
    let mut good = vec![dir.write("good/guest.xml", GOOD_STATUS)];
    for (i, f) in fixtures().iter().take(8).enumerate() {
        let data = fs::read(f).unwrap();
        if parse_document(&data, &Limits::default()).is_ok() {
            good.push(dir.write(&format!("good/fixture-{i}.xml"), data));
        }
    }
    good
}

fn assert_good_parsed(out: &Outcome, good: &[PathBuf]) {
    for g in good {
        assert!(
            out.parsed(g),
            "good file {} not reported as parsed: {:?}",
            g.display(),
            out.errors.get(&*g.to_string_lossy())
        );
    }
}

/// Small deterministic generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ------------------------------------------------------------------------------------------------
// parse_document: one bad document, one clear error

#[test]
fn good_status_parses() {
    let doc = parse_document(GOOD_STATUS.as_bytes(), &Limits::default()).expect("parses");
    assert_eq!(doc.devices.len(), 3);
    assert_eq!(doc.caps.len(), 2);
    assert_eq!(doc.live_aliases.len(), 2);
}

#[test]
fn empty_and_whitespace_only() {
    for data in [&b""[..], b"   \n\t\r\n"] {
        let e = parse_err(data);
        assert_eq!(e.kind, ErrorKind::Empty, "{e}");
        assert!(e.message.contains("empty"), "{e}");
    }
}

/// Cut at every byte offset (the built-in status and a small fixture) or at 1,500 offsets spread over
/// each of a few larger fixtures, a real file never parses: a truncated status file must not pass for a
/// guest with fewer devices.
#[test]
fn truncated_at_many_offsets() {
    let mut files: Vec<(String, Vec<u8>)> =
        vec![("built-in".into(), GOOD_STATUS.as_bytes().to_vec())];
    files.extend(
        fixtures()
            .into_iter()
            .take(6)
            .map(|p| (p.display().to_string(), fs::read(&p).unwrap())),
    );
    for (name, data) in files {
        if parse_document(&data, &Limits::default()).is_err() {
            continue; // a fixture that is broken on purpose
        }
        // Where the document ends (trailing whitespace after the root's end tag may be cut freely).
        let end = data
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let step = end.div_ceil(1500).max(1);
        // Odd steps and a phase, so that the cuts fall on every kind of position.
        let step = if step > 1 && step % 2 == 0 {
            step + 1
        } else {
            step
        };
        for cut in (0..end).step_by(step).chain(end.saturating_sub(40)..end) {
            let e = match parse_document(&data[..cut], &Limits::default()) {
                Ok(_) => panic!("{name} cut at {cut} of {end} bytes parsed as a document"),
                Err(e) => e,
            };
            let prefix_blank = data[..cut].iter().all(u8::is_ascii_whitespace);
            let expected: &[ErrorKind] = if prefix_blank {
                &[ErrorKind::Empty]
            } else {
                // A cut inside a multi-byte character is invalid UTF-8.
                &[ErrorKind::MalformedXml, ErrorKind::NotUtf8]
            };
            assert!(expected.contains(&e.kind), "{name} cut at {cut}: {e}");
            if e.kind == ErrorKind::MalformedXml {
                assert!(
                    e.position.is_some(),
                    "{name} cut at {cut}: malformed without a position: {e}"
                );
            }
            assert!(
                e.message.len() < 512,
                "{name} cut at {cut}: message of {} bytes",
                e.message.len()
            );
        }
    }
}

#[test]
fn truncated_message_says_where() {
    let cut = &GOOD_STATUS.as_bytes()[..GOOD_STATUS.find("<alias name='virtio-disk0'/>").unwrap()];
    let e = parse_err(cut);
    assert_eq!(e.kind, ErrorKind::MalformedXml);
    assert!(
        e.message.contains("truncated") || e.message.contains("end of file"),
        "{e}"
    );
    assert!(e.message.contains("line"), "{e}");
}

#[test]
fn invalid_utf8() {
    let mut data = GOOD_STATUS.as_bytes().to_vec();
    let at = GOOD_STATUS.find("good-guest").unwrap();
    data[at] = 0xFF;
    let e = parse_err(&data);
    assert_eq!(e.kind, ErrorKind::NotUtf8, "{e}");
    let line = GOOD_STATUS[..at].matches('\n').count() as u32 + 1;
    assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
    // Overlong encodings, lone continuation bytes, surrogates in UTF-8 form, truncated sequences.
    for bad in [
        &b"\xC0\xAF"[..],
        b"\x80",
        b"\xED\xA0\x80",
        b"\xE2\x82",
        b"\xF8\x88\x80\x80\x80",
    ] {
        let mut data = b"<domain><name>".to_vec();
        data.extend_from_slice(bad);
        data.extend_from_slice(b"</name></domain>");
        assert_eq!(parse_err(&data).kind, ErrorKind::NotUtf8);
    }
}

#[test]
fn utf16_and_utf32_with_bom() {
    let utf16le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(GOOD_STATUS.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let utf16be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(GOOD_STATUS.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let utf32le: Vec<u8> = [0xFF, 0xFE, 0, 0]
        .into_iter()
        .chain(GOOD_STATUS.chars().flat_map(|c| (c as u32).to_le_bytes()))
        .collect();
    for (name, data) in [
        ("UTF-16", utf16le),
        ("UTF-16", utf16be),
        ("UTF-32", utf32le),
    ] {
        let e = parse_err(&data);
        assert_eq!(e.kind, ErrorKind::NotUtf8, "{e}");
        assert!(e.message.contains(name), "{e}");
    }
    // UTF-16 without a byte-order mark: not UTF-8 either (NULs every other byte), never parsed.
    let bare: Vec<u8> = GOOD_STATUS
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(matches!(
        parse_err(&bare).kind,
        ErrorKind::NotUtf8 | ErrorKind::MalformedXml
    ));
    // A UTF-8 byte-order mark is fine.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(GOOD_STATUS.as_bytes());
    assert!(parse_document(&bom, &Limits::default()).is_ok());
}

#[test]
fn nul_bytes() {
    for at in [
        0,
        1,
        GOOD_STATUS.find("good-guest").unwrap(),
        GOOD_STATUS.find("passwd").unwrap_or(40),
        GOOD_STATUS.len() - 2,
    ] {
        let mut data = GOOD_STATUS.as_bytes().to_vec();
        data.insert(at, 0);
        let e = parse_err(&data);
        assert_eq!(e.kind, ErrorKind::MalformedXml, "NUL at {at}: {e}");
        assert!(e.message.contains("NUL"), "{e}");
    }
}

fn nested(depth: usize, inside: &str) -> String {
    let mut s = String::with_capacity(depth * 7 + inside.len());
    s.push_str("<domstatus state='running'><domain type='kvm'><name>deep</name><devices>");
    for _ in 0..depth {
        s.push_str("<a>");
    }
    s.push_str(inside);
    for _ in 0..depth {
        s.push_str("</a>");
    }
    s.push_str("</devices></domain></domstatus>");
    s
}

/// 100,000 levels of nesting in each place the parser treats differently: no stack overflow, a
/// `too_deep` error naming the limit.
#[test]
fn hundred_thousand_levels_of_nesting() {
    let depth = 100_000;
    let open = "<x>".repeat(depth);
    let close = "</x>".repeat(depth);
    let docs = [
        format!("{open}{close}"),
        format!("<domain>{open}{close}</domain>"),
        format!("<domstatus>{open}{close}<domain/></domstatus>"),
        format!("<domstatus><domain><metadata>{open}{close}</metadata></domain></domstatus>"),
        format!("<domain><name>{open}{close}</name></domain>"),
        format!("<domain><os>{open}{close}</os></domain>"),
        format!("<domstatus><qemuCaps>{open}{close}</qemuCaps><domain/></domstatus>"),
        format!(
            "<domstatus><devices><device alias='a'>{open}{close}</device></devices><domain/></domstatus>"
        ),
        format!("<domain><devices><disk>{open}{close}</disk></devices></domain>"),
        format!("<domain><devices><emulator>{open}{close}</emulator></devices></domain>"),
        nested(depth, ""),
        // Unclosed: 100,000 start tags and EOF.
        format!("<domain><devices><disk>{open}"),
    ];
    let mut failures = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let result = within(30, "deep parse", {
            let doc = doc.clone();
            move || parse_document(doc.as_bytes(), &Limits::default()).err()
        });
        let start: String = doc.chars().take(40).collect();
        match result {
            None => failures.push(format!("document {i} ({start}…) parsed")),
            Some(e) if i == 0 => {
                // The root is not libvirt's: refused before its content is read, or too deep.
                if !matches!(e.kind, ErrorKind::NotLibvirt | ErrorKind::TooDeep) {
                    failures.push(format!("document {i} ({start}…): {e}"));
                }
            }
            Some(e) if e.kind != ErrorKind::TooDeep || !e.message.contains("256") => {
                failures.push(format!("document {i} ({start}…): {e}"))
            }
            Some(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The parser may walk over what the tables do not need (metadata, CPU, job state) quickly, but a file
/// libvirt itself would refuse to load must not be reported as a good guest: libvirtd would drop that
/// guest on restart, which is exactly what virtaudit is meant to warn about. libxml2 refuses each of these.
#[test]
fn skipped_content_is_still_checked() {
    let cases = [
        (
            "mismatched end tag",
            "<metadata><a></b></metadata>",
            ErrorKind::MalformedXml,
        ),
        (
            "unclosed element",
            "<metadata><a></metadata>",
            ErrorKind::MalformedXml,
        ),
        ("stray end tag", "<cpu></a></cpu>", ErrorKind::MalformedXml),
        (
            "undeclared entity",
            "<metadata>&undefined;</metadata>",
            ErrorKind::MalformedXml,
        ),
        (
            "entity in a skipped attribute",
            "<cpu mode='&undefined;'/><metadata><a b='&x;'/></metadata>",
            ErrorKind::MalformedXml,
        ),
        (
            "DOCTYPE inside",
            "<metadata><!DOCTYPE x [<!ENTITY a 'b'>]></metadata>",
            ErrorKind::MalformedXml,
        ),
        (
            "'<' in an attribute value",
            "<metadata><a b='<'/></metadata>",
            ErrorKind::MalformedXml,
        ),
        (
            "duplicate attribute in a skipped element",
            "<metadata><a b='1' b='2'/></metadata>",
            ErrorKind::MalformedXml,
        ),
        (
            "unterminated comment",
            "<metadata><!-- x </metadata>",
            ErrorKind::MalformedXml,
        ),
        (
            "bad character reference",
            "<metadata>&#0;</metadata>",
            ErrorKind::MalformedXml,
        ),
        (
            "too deep",
            &format!(
                "<metadata>{}{}</metadata>",
                "<a>".repeat(1000),
                "</a>".repeat(1000)
            ),
            ErrorKind::TooDeep,
        ),
    ];
    let mut failures = Vec::new();
    for (what, inside, kind) in cases {
        for wrap in ["domain", "domstatus"] {
            let doc = if wrap == "domain" {
                format!("<domain type='kvm'><name>x</name>{inside}<devices/></domain>")
            } else {
                format!(
                    "<domstatus state='running'><job>{inside}</job><domain type='kvm'><name>x</name></domain></domstatus>"
                )
            };
            match parse_document(doc.as_bytes(), &Limits::default()) {
                Ok(_) => failures.push(format!("{what} in <{wrap}>: parsed as a good document")),
                Err(e) if e.kind != kind => {
                    failures.push(format!("{what} in <{wrap}>: {e} (expected {kind})"))
                }
                Err(_) => {}
            }
        }
    }
    // Inside a device, in elements the tables do not read (<auth> of a disk).
    let doc = "<domain><devices><disk type='network'><auth username='a' username='b'/></disk></devices></domain>";
    if parse_document(doc.as_bytes(), &Limits::default()).is_ok() {
        failures.push("duplicate attribute on a disk's <auth>: parsed as a good document".into());
    }
    // Elements inside skipped content count towards the element budget too.
    let doc = format!(
        "<domain><metadata>{}</metadata></domain>",
        "<a/>".repeat(2000)
    );
    match parse_document(
        doc.as_bytes(),
        &Limits {
            max_elements: 1000,
            ..Limits::default()
        },
    ) {
        Err(e) if e.kind == ErrorKind::TooManyElements => {}
        other => failures.push(format!(
            "2,000 elements in <metadata> with max_elements 1,000: {:?}",
            other.map(|d| d.devices.len())
        )),
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A status file with a place for an attribute (`{A}`) on every kind of tag the parser meets, and a
/// place for an element (`{E}`) in every kind of content: read for a table, skipped, text, lists.
const EVERY_PLACE: &str = "<domstatus state='running'{A}>
  <qemuCaps{A}>{E}<flag name='kvm'{A}/></qemuCaps>
  <devices{A}>{E}<device alias='net0'{A}/></devices>
  <job{A}>{E}<x{A}/></job>
  <domain type='kvm'{A}>
    <name{A}>x{E}</name>
    <uuid{A}>u</uuid>
    <os{A}>{E}<type arch='x86_64'{A}>hvm</type><type{A}>hvm</type><boot dev='hd'{A}/></os>
    <devices{A}>{E}
      <emulator{A}>/usr/bin/qemu-kvm</emulator>
      <controller type='pci' index='0' model='pci-root'{A}>{E}<alias name='pci.0'{A}/></controller>
      <interface type='network'{A}><mac address='52:54:00:00:00:01'{A}/>{E}<address type='pci' bus='0x00'{A}/></interface>
      <disk type='network'{A}><source protocol='rbd'{A}><auth username='u'{A}/>{E}<privateData{A}><objects{A}/></privateData></source><encryption format='luks'{A}/><target dev='vda'{A}/></disk>
      <hostdev mode='subsystem' type='pci'{A}><origstates{A}/><actual type='x'{A}/></hostdev>
      <x:y xmlns:x='urn:x'{A}/>
    </devices>
    <metadata{A}>{E}<m{A}/></metadata>
  </domain>
</domstatus>";

/// `EVERY_PLACE` with `bad` at the `n`-th `marker` and every other place empty.
fn at_place(marker: &str, n: usize, bad: &str) -> String {
    let mut out = String::new();
    for (i, piece) in EVERY_PLACE.split(marker).enumerate() {
        if i > 0 {
            out.push_str(if i - 1 == n { bad } else { "" });
        }
        out.push_str(piece);
    }
    out.replace("{A}", "").replace("{E}", "")
}

/// What libxml2 refuses in a name or an attribute, it refuses wherever it stands, and libvirt with it:
/// on a tag whose attributes no table reads (`<os>`, `<name>`, `<qemuCaps>`), on a skipped element, in
/// text. Both the fast and the checked parse must refuse it.
#[test]
fn names_and_attributes_are_checked_on_every_tag() {
    let clean = at_place("{A}", usize::MAX, "");
    let fast = parse_document(clean.as_bytes(), &Limits::default()).expect("the template parses");
    let checked = parse_document_checked(clean.as_bytes(), &Limits::default()).expect("and so");
    assert_eq!(fast.devices.len(), 4, "{:?}", fast.devices);
    let disk = &fast.devices[2];
    assert!(
        disk.has_auth && disk.has_encryption && disk.has_private_objects,
        "{disk:?}"
    );
    assert_eq!(fast, checked);
    let places = |marker: &str| EVERY_PLACE.matches(marker).count();
    let mut failures = Vec::new();
    let mut tried = 0;
    for (marker, bad) in [
        ("{A}", " 1x='1'"),
        ("{A}", " -x='1'"),
        ("{A}", " x@y='1'"),
        ("{A}", " x=1"),
        ("{A}", " x"),
        ("{A}", " x='&#6;'"),
        ("{A}", " x='a&#xFFFE;'"),
        ("{E}", "<a@b/>"),
        ("{E}", "<a@b></a@b>"),
        ("{E}", "<a 1x='1'/>"),
        ("{E}", "<a><b x=1/></a>"),
        ("{E}", "<.a/>"),
        ("{E}", "x]]>y"),
        ("{E}", "<a>]]></a>"),
        ("{E}", "&#6;"),
        ("{E}", "<a>&#x1F;</a>"),
        ("{E}", "\u{FFFF}"),
    ] {
        for n in 0..places(marker) {
            let doc = at_place(marker, n, bad);
            for (label, result) in [
                ("fast", parse_document(doc.as_bytes(), &Limits::default())),
                (
                    "checked",
                    parse_document_checked(doc.as_bytes(), &Limits::default()),
                ),
            ] {
                tried += 1;
                match result {
                    Err(e) if e.kind == ErrorKind::MalformedXml => {}
                    Err(e) => failures.push(format!("{bad:?} at {marker} #{n} ({label}): {e}")),
                    Ok(_) => failures.push(format!(
                        "{bad:?} at {marker} #{n} ({label}): parsed as a good document"
                    )),
                }
            }
        }
    }
    assert!(tried > 300, "{tried}");
    // What libxml2 accepts there, both parses accept, with the same rows.
    for good in [
        "<a b=']]>'/>",
        "<![CDATA[<x>]]>",
        "<a>]]&gt;</a>",
        "<!-- ]]> -->",
    ] {
        for n in 0..places("{E}") {
            let doc = at_place("{E}", n, good);
            let fast = parse_document(doc.as_bytes(), &Limits::default());
            let checked = parse_document_checked(doc.as_bytes(), &Limits::default());
            match (fast, checked) {
                (Ok(a), Ok(b)) if a == b => {}
                (a, b) => failures.push(format!(
                    "{good:?} at {{E}} #{n}: fast {:?}, checked {:?}",
                    a.map(|d| d.devices.len()),
                    b.map(|d| d.devices.len())
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn depth_limit_is_configurable_and_exact() {
    let limits = Limits {
        max_depth: 10,
        ..Limits::default()
    };
    // domstatus(1) domain(2) devices(3) + a's: the element at depth 10 is fine, 11 is not.
    assert!(parse_document(nested(7, "").as_bytes(), &limits).is_ok());
    let e = parse_err_with(nested(8, "").as_bytes(), &limits);
    assert_eq!(e.kind, ErrorKind::TooDeep, "{e}");
    // The default is far above real status XML.
    assert!(parse_document(nested(200, "").as_bytes(), &Limits::default()).is_ok());
}

#[test]
fn element_limit_is_configurable() {
    let mut doc = String::from("<domain><devices>");
    for i in 0..1000 {
        doc.push_str(&format!("<disk type='file'><alias name='d{i}'/></disk>"));
    }
    doc.push_str("</devices></domain>");
    assert_eq!(
        parse_document(doc.as_bytes(), &Limits::default())
            .unwrap()
            .devices
            .len(),
        1000
    );
    let e = parse_err_with(
        doc.as_bytes(),
        &Limits {
            max_elements: 500,
            ..Limits::default()
        },
    );
    assert_eq!(e.kind, ErrorKind::TooManyElements, "{e}");
    assert!(e.message.contains("500"), "{e}");
}

#[test]
fn billion_laughs_is_refused_not_expanded() {
    let mut dtd = String::from("<!DOCTYPE domain [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push_str("]>\n");
    for body in [
        "<domain><name>&lol9;</name></domain>",
        "<domain type='&lol9;'/>",
        "<domain/>",
    ] {
        let doc = format!("<?xml version='1.0'?>\n{dtd}{body}");
        let e = within(10, "billion laughs", move || {
            parse_document(doc.as_bytes(), &Limits::default()).err()
        })
        .expect("refused");
        assert_eq!(e.kind, ErrorKind::MalformedXml, "{e}");
        assert!(e.message.contains("DOCTYPE"), "{e}");
        assert!(e.message.len() < 300, "{e}");
    }
    // The same references without a DOCTYPE are undeclared entities, not expanded either.
    let e = parse_err(b"<domain><name>&lol9;</name></domain>");
    assert_eq!(e.kind, ErrorKind::MalformedXml, "{e}");
    let e = parse_err(b"<domain type='&lol9;'><name>x</name></domain>");
    assert_eq!(e.kind, ErrorKind::MalformedXml, "{e}");
}

#[test]
fn external_entities_are_refused_not_fetched() {
    // A FIFO as the entity's target: if the parser ever opened it, the test would hang (and fail).
    let dir = TempDir::new("xxe");
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let docs = [
        format!("<!DOCTYPE domain [<!ENTITY xxe SYSTEM \"file://{}\">]><domain><name>&xxe;</name></domain>", fifo.display()),
        format!("<!DOCTYPE domain SYSTEM \"file://{}\"><domain><name>x</name></domain>", fifo.display()),
        format!("<!DOCTYPE domain [<!ENTITY % p SYSTEM \"file://{}\"> %p;]><domain/>", fifo.display()),
        "<!DOCTYPE domain [<!ENTITY xxe SYSTEM \"http://127.0.0.1:9/x\">]><domain><name>&xxe;</name></domain>".to_string(),
        format!("<domain><name>x</name></domain><!DOCTYPE domain SYSTEM \"file://{}\">", fifo.display()),
    ];
    for doc in docs {
        let e = within(10, "external entity", move || {
            parse_document(doc.as_bytes(), &Limits::default()).err()
        })
        .expect("refused");
        assert_eq!(e.kind, ErrorKind::MalformedXml, "{e}");
    }
}

/// The other way round: well-formed content that the parser walks over must not make a good file an
/// error (libxml2, and so libvirt, accepts each of these). `>` and `/>` are allowed raw in attribute
/// values, and markup-like text is fine inside comments, CDATA and processing instructions.
/// (Found by tests/test_properties.py and again by the fuzzer's differential oracle: parse_xml
/// crash-ccd943f4, `<a model='a/>b'>…</a>` inside `<domain>`.)
#[test]
fn well_formed_skipped_content_is_accepted() {
    let cases = [
        (
            "'/>' in an attribute value",
            "<metadata><a b='/>'></a></metadata>",
        ),
        (
            "'>' in an attribute value",
            "<metadata><a b='x>y'><c/></a></metadata>",
        ),
        (
            "'/>' in a double-quoted value",
            "<cpu><feature name=\"/>\"></feature></cpu>",
        ),
        (
            "end tag text in a comment",
            "<metadata><!-- </metadata> --></metadata>",
        ),
        (
            "end tag text in CDATA",
            "<metadata><![CDATA[</metadata>]]></metadata>",
        ),
        (
            "a processing instruction",
            "<metadata><?pi </metadata> ?></metadata>",
        ),
        (
            "references",
            "<metadata>&amp;&lt;&gt;&quot;&apos;&#65;&#x263A;<a b='&amp;&#60;'/></metadata>",
        ),
        (
            "a namespaced element",
            "<metadata><x:devices xmlns:x='urn:x'><x:a/></x:devices></metadata>",
        ),
    ];
    let mut failures = Vec::new();
    for (what, inside) in cases {
        let doc = format!(
            "<domain type='kvm'><name>x</name>{inside}<devices><disk type='file'>{inside}</disk></devices></domain>"
        );
        match parse_document(doc.as_bytes(), &Limits::default()) {
            Ok(d) if d.devices.len() == 1 && d.domain.name.as_deref() == Some("x") => {}
            Ok(d) => failures.push(format!("{what}: parsed wrongly: {d:?}")),
            Err(e) => failures.push(format!("{what}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A million attributes on one element: one error row, in bounded time and memory. libvirt's parser
/// refuses the duplicate form; no libvirt element has more than a few dozen attributes, so the distinct
/// form is refused too (by an attribute budget: `too_many_elements`, or as malformed).
#[test]
fn a_million_attributes_on_one_element() {
    let n = 1_000_000;
    let mut distinct = String::from("<domain><devices><disk type='file'");
    let mut duplicate = distinct.clone();
    for i in 0..n {
        distinct.push_str(&format!(" a{i}='{i}'"));
        duplicate.push_str(" a='1'");
    }
    distinct.push_str("/></devices></domain>");
    duplicate.push_str("/></devices></domain>");
    let mut failures = Vec::new();
    for (name, doc) in [("duplicate", duplicate), ("distinct", distinct)] {
        match within(60, "a million attributes", move || {
            parse_document(doc.as_bytes(), &Limits::default()).err()
        }) {
            None => failures.push(format!(
                "{name}: a million attributes on one element parsed as a document"
            )),
            Some(e) if !matches!(e.kind, ErrorKind::MalformedXml | ErrorKind::TooManyElements) => {
                failures.push(format!("{name}: {e}"))
            }
            Some(e) if e.message.len() >= 512 => {
                failures.push(format!("{name}: message of {} bytes", e.message.len()))
            }
            Some(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Duplicate attributes are not well-formed XML (libvirt's parser refuses the file); a scanner that took
/// the first or the last would report values libvirt never saw.
#[test]
fn duplicate_attribute_is_malformed() {
    for doc in [
        "<domain><devices><disk type='file' type='block'/></devices></domain>",
        "<domain><devices><disk><address type='pci' bus='0x01' bus='0x02'/></disk></devices></domain>",
        "<domstatus state='running' state='paused'><domain/></domstatus>",
    ] {
        let e = parse_err(doc.as_bytes());
        assert_eq!(e.kind, ErrorKind::MalformedXml, "{doc}: {e}");
    }
}

#[test]
fn binary_garbage_never_parses() {
    let mut rng = Rng(6);
    for i in 0..2000 {
        let len = 1 + (rng.next() % 4096) as usize;
        let data = rng.bytes(len);
        if let Ok(doc) = parse_document(&data, &Limits::default()) {
            panic!("garbage {i} parsed: {doc:?}");
        }
    }
    // Garbage after a valid prefix.
    for i in 0..500 {
        let cut = (rng.next() as usize) % GOOD_STATUS.len();
        let mut data = GOOD_STATUS.as_bytes()[..cut].to_vec();
        data.extend(rng.bytes(64));
        let e = parse_err(&data);
        assert!(
            matches!(
                e.kind,
                ErrorKind::MalformedXml | ErrorKind::NotUtf8 | ErrorKind::NotLibvirt
            ),
            "garbage tail {i}: {e}"
        );
    }
}

#[test]
fn not_libvirt_roots() {
    for doc in [
        "<html><body/></html>",
        "<domstatus state='running'/>",
        "<networks><name>x</name></networks>",
        "<x:domain xmlns:x='u'/>",
        "<x:network xmlns:x='u'/>",
    ] {
        assert_eq!(
            parse_err(doc.as_bytes()).kind,
            ErrorKind::NotLibvirt,
            "{doc}"
        );
    }
}

/// libvirt's other objects are `not_domain` only when well-formed: a damaged one stays an error of its
/// own kind.
#[test]
fn libvirt_objects_that_are_not_guests() {
    for doc in [
        "<network><name>default</name><forward mode='nat'/></network>",
        "<filter name='clean-traffic' chain='root'><filterref filter='no-mac-spoofing'/></filter>",
        "<pool type='dir'><name>default</name><target><path>/var/lib/libvirt/images</path></target></pool>",
        "<secret ephemeral='no'/>",
        "<?xml version='1.0'?>\n<!-- edited -->\n<network/>\n",
    ] {
        let err = parse_err(doc.as_bytes());
        assert_eq!(err.kind, ErrorKind::NotDomain, "{doc}");
    }
    for (doc, kind) in [
        ("<network><name>x</name>", ErrorKind::MalformedXml),
        ("<network><name>x</nam></network>", ErrorKind::MalformedXml),
        ("<network/><domain/>", ErrorKind::MalformedXml),
        ("<network/>trailing", ErrorKind::MalformedXml),
        ("<network a='1' a='2'/>", ErrorKind::MalformedXml),
    ] {
        assert_eq!(parse_err(doc.as_bytes()).kind, kind, "{doc}");
    }
}

/// Messages name elements, cut short: a hostile element name must not put megabytes into a row.
#[test]
fn error_messages_stay_short_with_huge_names() {
    let long = "n".repeat(100_000);
    let docs = [
        format!("<{long}/>"),
        format!("<domain/><{long}/>"),
        format!("<domain><{long}>"),
        format!("<domain><devices><{long} a='1' a='2'/></devices></domain>"),
        format!("<domain><devices><{long} a=1/></devices></domain>"),
        format!("<domain><devices><{long} a='1'b='2'/></devices></domain>"),
        format!("<domstatus><qemuCaps><{long} a='1'b='2'/></qemuCaps><domain/></domstatus>"),
        format!("<domain><devices><{long} a='&bad;'/></devices></domain>"),
        format!("<domain></{long}>"),
        format!("<domain><devices><disk></{long}></disk></devices></domain>"),
    ];
    for (i, doc) in docs.iter().enumerate() {
        let e = parse_err(doc.as_bytes());
        assert!(
            e.message.len() < 512,
            "document {i} ({}): message of {} bytes: {:.120}",
            e.kind,
            e.message.len(),
            e.message
        );
    }
}

// ------------------------------------------------------------------------------------------------
// secrets never reach a message or a table

#[test]
fn secrets_never_in_tables() {
    let dir = TempDir::new("secrets");
    let file = dir.write("h/secret.xml", SECRET_STATUS);
    let out = scan_checked(vec![file.clone()], Limits::default(), 1);
    assert!(out.parsed(&file), "{:?}", out.errors);
    for secret in SECRETS {
        assert!(
            !out.all_text.contains(secret),
            "{secret} in the tables:\n{}",
            out.all_text
        );
    }
}

/// Cut anywhere (inside a `passwd` value, inside `<auth>`, inside `<metadata>`), the error message
/// never quotes a secret, and neither does any other table.
#[test]
fn secrets_never_in_error_messages_of_truncated_files() {
    let data = SECRET_STATUS.as_bytes();
    for cut in 0..data.len() {
        if let Err(e) = parse_document(&data[..cut], &Limits::default()) {
            for secret in SECRETS {
                // A cut that leaves only a prefix of the secret still must not show that prefix.
                let shown = &secret[..secret.len().min(6)];
                assert!(
                    !e.message.contains(shown),
                    "cut at {cut}: message quotes {shown:?}: {e}"
                );
            }
        }
    }
    // Damaged rather than cut: bad entity, bad quote, stray markup inside the secret.
    for (from, to) in [
        ("VncPasswd-s2r1", "VncPasswd-s2r1&VncPasswd-s2r1;"),
        ("VncPasswd-s2r1'", "VncPasswd-s2r1"),
        ("VncPasswd-s2r1", "VncPasswd-s2r1<"),
        ("MetaSecretText-q9v1", "&MetaSecretText-q9v1;"),
        ("IscsiUser-z8x7", "IscsiUser-z8x7&#xZZ;"),
        ("<metadata>", "<metadata><!DOCTYPE MetaSecretText-q9v1>"),
    ] {
        let damaged = SECRET_STATUS.replacen(from, to, 1);
        let e = parse_err(damaged.as_bytes());
        for secret in SECRETS {
            assert!(
                !e.message.contains(&secret[..6]),
                "{from:?} -> {to:?}: message quotes a secret: {e}"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// files and the walk

#[test]
fn every_bad_file_is_one_row_and_good_files_still_reported() {
    let dir = TempDir::new("mixed");
    let good = good_inputs(&dir);
    let mut bad: Vec<(PathBuf, &str)> = vec![
        (dir.write("bad/empty.xml", ""), "empty"),
        (dir.write("bad/blank.xml", "\n\n  \n"), "empty"),
        (
            dir.write("bad/truncated.xml", &GOOD_STATUS[..GOOD_STATUS.len() / 2]),
            "malformed_xml",
        ),
        (
            dir.write("bad/latin1.xml", b"<domain><name>caf\xe9</name></domain>"),
            "not_utf8",
        ),
        (
            dir.write(
                "bad/utf16.xml",
                [0xFF, 0xFE]
                    .into_iter()
                    .chain(GOOD_STATUS.encode_utf16().flat_map(u16::to_le_bytes))
                    .collect::<Vec<u8>>(),
            ),
            "not_utf8",
        ),
        (
            dir.write("bad/nul.xml", b"<domain><name>a\0b</name></domain>"),
            "malformed_xml",
        ),
        (dir.write("bad/deep.xml", nested(100_000, "")), "too_deep"),
        (
            dir.write(
                "bad/doctype.xml",
                "<!DOCTYPE d [<!ENTITY a 'b'>]><domain>&a;</domain>",
            ),
            "malformed_xml",
        ),
        (dir.write("bad/garbage.xml", Rng(1).bytes(10_000)), "*"),
        (dir.write("bad/html.xml", "<html/>"), "not_libvirt"),
    ];
    // Missing on purpose, named explicitly.
    bad.push((dir.path().join("bad/missing.xml"), "not_found"));
    let mut args: Vec<PathBuf> = vec![dir.path().join("good")];
    args.extend(bad.iter().map(|(p, _)| p.clone()));
    let out = scan_checked(args, Limits::default(), good.len() + bad.len());
    assert_good_parsed(&out, &good);
    for (path, kind) in &bad {
        let e = out.error(path);
        if *kind != "*" {
            assert_eq!(e.kind, *kind, "{}: {}", path.display(), e.message);
        }
        assert!(!e.message.is_empty());
    }
}

#[test]
fn huge_sparse_file_is_never_read() {
    let dir = TempDir::new("sparse");
    let good = good_inputs(&dir);
    let huge = dir.path().join("bad/huge.xml");
    fs::create_dir_all(huge.parent().unwrap()).unwrap();
    // 1 TiB of holes: reading it would take hours, so a pass means it was not read.
    fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
    let out = scan_checked(
        vec![dir.path().to_path_buf()],
        Limits::default(),
        good.len() + 1,
    );
    assert_good_parsed(&out, &good);
    let e = out.error(&huge);
    assert_eq!(e.kind, "too_large", "{}", e.message);
    assert!(
        e.message.contains(&(1u64 << 40).to_string()),
        "{}",
        e.message
    );
}

#[test]
fn file_size_limit_is_configurable() {
    let dir = TempDir::new("size");
    let small = dir.write("h/small.xml", GOOD_STATUS);
    let mut big = GOOD_STATUS.to_string();
    big.push_str(&" ".repeat(5000));
    let big = dir.write("h/big.xml", big);
    let limits = Limits {
        max_file_size: (GOOD_STATUS.len() + 100) as u64,
        ..Limits::default()
    };
    let out = scan_checked(vec![dir.path().to_path_buf()], limits, 2);
    assert!(out.parsed(&small));
    assert_eq!(out.error(&big).kind, "too_large");
    // The same cap applies to in-memory members (archives).
    let items = vec![
        (
            "a!big.xml".to_string(),
            "h".to_string(),
            fs::read(&big).unwrap(),
        ),
        (
            "a!small.xml".to_string(),
            "h".to_string(),
            fs::read(&small).unwrap(),
        ),
    ];
    let out = collect(&[scan_buffers(&items, &options(limits)).unwrap()]);
    assert_eq!(out.errors["a!big.xml"].kind, "too_large");
    assert!(out.domains.contains(&"a!small.xml".to_string()));
}

#[test]
fn fifo_socket_and_devices_are_never_opened() {
    let dir = TempDir::new("special");
    let good = good_inputs(&dir);
    let fifo = dir.path().join("bad/fifo.xml");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let socket_path = dir.path().join("bad/socket.xml");
    let _listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let mut special = vec![fifo.clone(), socket_path.clone()];
    for (name, dev) in [
        ("null.xml", "/dev/null"),
        ("zero.xml", "/dev/zero"),
        ("tty.xml", "/dev/tty"),
        ("random.xml", "/dev/urandom"),
    ] {
        if Path::new(dev).exists() {
            let link = dir.path().join("bad").join(name);
            std::os::unix::fs::symlink(dev, &link).unwrap();
            special.push(link);
        }
    }
    // Found by the walk (named *.xml) ...
    let out = scan_checked(
        vec![dir.path().to_path_buf()],
        Limits::default(),
        good.len() + special.len(),
    );
    assert_good_parsed(&out, &good);
    for path in &special {
        let e = out.error(path);
        assert_eq!(e.kind, "not_regular", "{}: {}", path.display(), e.message);
    }
    // ... and named explicitly, including the devices themselves.
    let mut args = special.clone();
    args.extend(["/dev/zero", "/dev/null"].map(PathBuf::from));
    let n = args.len();
    let out = scan_checked(args, Limits::default(), n);
    for path in ["/dev/zero", "/dev/null"] {
        assert_eq!(out.error(Path::new(path)).kind, "not_regular");
    }
}

#[test]
fn directory_symlink_loop() {
    let dir = TempDir::new("loop");
    let good = good_inputs(&dir);
    fs::create_dir_all(dir.path().join("good/sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("good/sub/up")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("good"), dir.path().join("good/sub/abs")).unwrap();
    // A file symlink loop named like an input.
    std::os::unix::fs::symlink("self.xml", dir.path().join("good/self.xml")).unwrap();
    let out = within(60, "loop scan", {
        let args = vec![dir.path().join("good")];
        move || collect(&scan(&args, &options(Limits::default())).unwrap())
    });
    assert_good_parsed(&out, &good);
    assert!(
        out.errors.values().any(|e| e.kind == "symlink_loop"),
        "{:#?}",
        out.errors
    );
    assert_eq!(
        out.error(&dir.path().join("good/self.xml")).kind,
        "symlink_loop"
    );
    // Each loop is one row; files seen = domains + errors.
    assert_eq!(
        out.domains.len(),
        good.len(),
        "a file was read twice through a loop: {:?}",
        out.domains
    );
    assert_eq!(
        out.domains.len() + out.error_rows,
        good.len() + out.errors.len()
    );
}

#[test]
fn non_utf8_file_and_directory_names() {
    use std::ffi::OsStr;
    let dir = TempDir::new("names");
    let host = dir.path().join(OsStr::from_bytes(b"host-\xff\xfe"));
    fs::create_dir_all(&host).unwrap();
    let file = host.join(OsStr::from_bytes(b"guest-\xe9.xml"));
    fs::write(&file, GOOD_STATUS).unwrap();
    let bad = host.join(OsStr::from_bytes(b"bad-\x80.xml"));
    fs::write(&bad, "<domain>").unwrap();
    for args in [
        vec![dir.path().to_path_buf()],
        vec![file.clone(), bad.clone()],
    ] {
        let batches = within(60, "scan", move || {
            scan(&args, &options(Limits::default())).unwrap()
        });
        let out = collect(&batches);
        assert_eq!(out.domains.len(), 1, "{out:#?}");
        assert_eq!(out.error_rows, 1, "{out:#?}");
        assert!(
            out.domains[0].contains("guest-\u{FFFD}.xml"),
            "{:?}",
            out.domains
        );
        assert_eq!(out.errors.values().next().unwrap().kind, "malformed_xml");
    }
}

#[test]
fn file_deleted_between_walk_and_read() {
    let dir = TempDir::new("vanish");
    let good = good_inputs(&dir);
    let doomed = dir.write("good/doomed.xml", GOOD_STATUS);
    let dangling = dir.path().join("good/dangling.xml");
    std::os::unix::fs::symlink(dir.path().join("nowhere.xml"), &dangling).unwrap();
    let mut scanner = Scanner::new(&[dir.path().join("good")], options(Limits::default())).unwrap();
    assert_eq!(scanner.input_count(), good.len() + 2);
    fs::remove_file(&doomed).unwrap();
    let batches = within(60, "scan after delete", move || {
        let mut batches = Vec::new();
        while let Some(b) = scanner.next_batch(3).unwrap() {
            batches.extend(b);
        }
        batches
    });
    let out = collect(&batches);
    assert_eq!(out.domains.len() + out.error_rows, good.len() + 2);
    assert_good_parsed(&out, &good);
    for path in [&doomed, &dangling] {
        let e = out.error(path);
        assert_eq!(e.kind, "not_found", "{}: {}", path.display(), e.message);
    }
}

#[test]
fn file_replaced_by_a_fifo_between_walk_and_read() {
    let dir = TempDir::new("swap");
    let victim = dir.write("h/victim.xml", GOOD_STATUS);
    let mut scanner =
        Scanner::new(&[dir.path().to_path_buf()], options(Limits::default())).unwrap();
    fs::remove_file(&victim).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&victim)
            .status()
            .unwrap()
            .success()
    );
    // If the FIFO were opened for a blocking read, this would hang: a watchdog fails the test instead.
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        let victim = victim.clone();
        thread::spawn(move || {
            for _ in 0..300 {
                if done.load(Ordering::SeqCst) {
                    return true;
                }
                thread::sleep(Duration::from_millis(100));
            }
            // Unblock the reader so the test can report the hang instead of waiting forever.
            let _ = fs::OpenOptions::new()
                .write(true)
                .open(&victim)
                .map(|mut f| f.write_all(b"<x/>"));
            false
        })
    };
    let batches = scanner.next_batch(10).unwrap().unwrap();
    done.store(true, Ordering::SeqCst);
    assert!(watchdog.join().unwrap(), "the scan blocked on a FIFO");
    let out = collect(&batches);
    assert_eq!(out.error(&victim).kind, "not_regular");
}

/// A writer thread rewrites a file in place (truncate, then write a different document) while scans
/// read it: each scan reports the file once, parsed or as an error, and never crashes.
#[test]
fn file_rewritten_while_read() {
    let dir = TempDir::new("rewrite");
    let good = good_inputs(&dir);
    let hot = dir.write("good/hot.xml", GOOD_STATUS);
    let mut versions: Vec<Vec<u8>> = vec![
        GOOD_STATUS.as_bytes().to_vec(),
        SECRET_STATUS.as_bytes().to_vec(),
    ];
    // A much bigger version, so reads see the file grow and shrink.
    versions.push(nested(200, &"<disk type='file'/>".repeat(2000)).into_bytes());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let hot = hot.clone();
        thread::spawn(move || {
            let mut i = 0usize;
            let mut rewrites = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&hot)
                    .unwrap();
                let data = &versions[i % versions.len()];
                // Written in pieces, so a reader can see any prefix.
                for piece in data.chunks(4096) {
                    f.write_all(piece).unwrap();
                }
                i += 1;
                rewrites += 1;
            }
            rewrites
        })
    };
    let mut kinds = BTreeMap::new();
    for _ in 0..60 {
        let out = scan_checked(
            vec![dir.path().join("good")],
            Limits::default(),
            good.len() + 1,
        );
        assert_good_parsed(&out, &good[..1]);
        *kinds.entry(out.kind(&hot).to_string()).or_insert(0) += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let rewrites = writer.join().unwrap();
    assert!(rewrites > 0);
    for kind in kinds.keys() {
        assert!(
            ["parsed", "malformed_xml", "empty", "too_deep", "not_found"].contains(&kind.as_str()),
            "{kinds:?}"
        );
    }
}

#[test]
fn corrupt_members_in_memory() {
    let mut rng = Rng(9);
    let items = vec![
        (
            "a.tar!good.xml".to_string(),
            "h".to_string(),
            GOOD_STATUS.as_bytes().to_vec(),
        ),
        (
            "a.tar!cut.xml".to_string(),
            "h".to_string(),
            GOOD_STATUS.as_bytes()[..300].to_vec(),
        ),
        (
            "a.tar!garbage.xml".to_string(),
            "h".to_string(),
            rng.bytes(3000),
        ),
        ("a.tar!empty.xml".to_string(), "h".to_string(), Vec::new()),
    ];
    let out = collect(&[scan_buffers(&items, &options(Limits::default())).unwrap()]);
    assert_eq!(out.domains, vec!["a.tar!good.xml".to_string()]);
    assert_eq!(out.error_rows, 3);
    assert_eq!(out.errors["a.tar!cut.xml"].kind, "malformed_xml");
    assert_eq!(out.errors["a.tar!empty.xml"].kind, "empty");
}

#[test]
fn read_only_inputs_are_not_changed() {
    let dir = TempDir::new("ro");
    let good = good_inputs(&dir);
    dir.write("good/bad.xml", "<domain>");
    let files: Vec<PathBuf> = fs::read_dir(dir.path().join("good"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let before: Vec<(Vec<u8>, std::time::SystemTime)> = files
        .iter()
        .map(|f| {
            (
                fs::read(f).unwrap(),
                fs::metadata(f).unwrap().modified().unwrap(),
            )
        })
        .collect();
    for f in &files {
        fs::set_permissions(f, fs::Permissions::from_mode(0o444)).unwrap();
    }
    fs::set_permissions(dir.path().join("good"), fs::Permissions::from_mode(0o555)).unwrap();
    let out = scan_checked(
        vec![dir.path().join("good")],
        Limits::default(),
        files.len(),
    );
    assert_good_parsed(&out, &good);
    for (f, (data, mtime)) in files.iter().zip(before) {
        assert_eq!(fs::read(f).unwrap(), data, "{} changed", f.display());
        assert_eq!(
            fs::metadata(f).unwrap().modified().unwrap(),
            mtime,
            "{} mtime changed",
            f.display()
        );
    }
}

// ------------------------------------------------------------------------------------------------
// regressions from fuzzing (rust/virtaudit-core/fuzz): each artifact, minimised, as a test

/// parse_xml crash-3e504f5e: `<domain .../><targetnnnn…>` (a 20 kB element name after the root) gave a
/// "second root element" message of 20,051 bytes (the fuzz oracle bounds messages to 512 bytes).
#[test]
fn fuzz_second_root_with_huge_name() {
    let doc = format!(
        "<domain type='qemu'><name>x</name></domain><target{}/>",
        "n".repeat(20_000)
    );
    let e = parse_err(doc.as_bytes());
    assert_eq!(e.kind, ErrorKind::MalformedXml);
    assert!(
        e.message.len() < 512,
        "message of {} bytes",
        e.message.len()
    );
}
