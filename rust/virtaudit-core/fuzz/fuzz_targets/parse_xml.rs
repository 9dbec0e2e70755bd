//! Structure-aware fuzzing: real libvirt status/domain XML (the project's fixtures as seeds), mutated
//! the way broken or hostile files differ from good ones. The custom mutator works on the XML's tags
//! and elements (drop, duplicate, move, nest deeply, rename, truncate, change attribute values, insert
//! DOCTYPEs, entities, CDATA, NULs, bad UTF-8, device snippets) and hands every other round to
//! libFuzzer's byte mutations, so coverage still guides the search. Inputs stay readable XML: a crash
//! artifact is a file to put straight into a regression test.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::check(data);
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut rng = Rng::new(seed);
    // One round in four is a plain byte mutation.
    if rng.below(4) == 0 {
        return fuzzer_mutate(data, size, max_size);
    }
    let input = data[..size].to_vec();
    let rounds = 1 + rng.below(3);
    let mut out = input;
    for _ in 0..rounds {
        out = mutate(&out, &mut rng);
    }
    if out.is_empty() || out.len() > max_size {
        return fuzzer_mutate(data, size, max_size);
    }
    data[..out.len()].copy_from_slice(&out);
    out.len()
});

struct Rng(u64);

impl Rng {
    fn new(seed: u32) -> Self {
        Rng(u64::from(seed) ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A tag `<...>` found by a plain scan (good enough for mutation; the parser decides what is valid).
#[derive(Clone, Copy)]
struct Tag {
    start: usize,
    end: usize, // one past '>'
    kind: TagKind,
    name: (usize, usize),
}

#[derive(Clone, Copy, PartialEq)]
enum TagKind {
    Open,
    Close,
    Empty,
    Other, // <? ?>, <! >
}

fn tags(data: &[u8]) -> Vec<Tag> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(lt) = data[i..].iter().position(|&b| b == b'<').map(|p| p + i) {
        let Some(gt) = data[lt..].iter().position(|&b| b == b'>').map(|p| p + lt) else {
            break;
        };
        let body = &data[lt + 1..gt];
        let kind = match body.first() {
            Some(b'/') => TagKind::Close,
            Some(b'?' | b'!') => TagKind::Other,
            _ if body.last() == Some(&b'/') => TagKind::Empty,
            _ => TagKind::Open,
        };
        let name_start = if kind == TagKind::Close {
            lt + 2
        } else {
            lt + 1
        };
        let name_end = data[name_start..gt]
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'/')
            .map_or(gt, |p| p + name_start);
        out.push(Tag {
            start: lt,
            end: gt + 1,
            kind,
            name: (name_start, name_end),
        });
        i = gt + 1;
    }
    out
}

/// Element spans `[start, end)` from matching open/close tags (and empty tags).
fn elements(data: &[u8], tags: &[Tag]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut stack: Vec<&Tag> = Vec::new();
    for tag in tags {
        match tag.kind {
            TagKind::Open => stack.push(tag),
            TagKind::Empty => out.push((tag.start, tag.end)),
            TagKind::Close => {
                let name = &data[tag.name.0..tag.name.1];
                if let Some(pos) = stack
                    .iter()
                    .rposition(|t| &data[t.name.0..t.name.1] == name)
                {
                    out.push((stack[pos].start, tag.end));
                    stack.truncate(pos);
                }
            }
            TagKind::Other => {}
        }
    }
    out
}

const NAMES: &[&str] = &[
    "domstatus",
    "domain",
    "devices",
    "device",
    "qemuCaps",
    "flag",
    "blockjobs",
    "name",
    "uuid",
    "os",
    "type",
    "emulator",
    "disk",
    "controller",
    "interface",
    "hostdev",
    "video",
    "memory",
    "graphics",
    "alias",
    "address",
    "model",
    "target",
    "source",
    "auth",
    "secret",
    "encryption",
    "privateData",
    "objects",
    "origstates",
    "actual",
    "metadata",
    "x:devices",
    "a",
    "",
];

const VALUES: &[&str] = &[
    "",
    "0",
    "0x0",
    "0x1f",
    "0X10",
    "010",
    "09",
    "-1",
    "+1",
    " 1",
    "4294967295",
    "4294967296",
    "0x100000000",
    "99999999999999999999",
    "pci",
    "dimm",
    "drive",
    "on",
    "off",
    "yes",
    "ua-x",
    "&amp;",
    "&lt;&gt;",
    "&#0;",
    "&#x10FFFF;",
    "&#xD800;",
    "&undefined;",
    "&",
    "<",
    "\u{e9}\u{1F600}",
    "a\tb\nc",
    "pcie-root-port",
    "spapr-pci-host-bridge",
    "virtio",
    "qemu",
    "kvm",
    "running",
    "paused",
    "S3CR3T-PASSWORD",
    "/>",
    ">",
    "a/>b",
];

const ATTRS: &[&str] = &[
    "type",
    "model",
    "index",
    "managed",
    "name",
    "domain",
    "bus",
    "slot",
    "function",
    "multifunction",
    "chassis",
    "port",
    "hotplug",
    "device",
    "tls",
    "alias",
    "state",
    "reason",
    "pid",
    "id",
    "arch",
    "machine",
    "active",
    "passwd",
    "xmlns:x",
];

const SNIPPETS: &[&str] = &[
    "<address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x7' multifunction='on'/>",
    "<address type='dimm' slot='3'/>",
    "<alias name='ua-hostile'/>",
    "<model name='pcie-root-port'/>",
    "<target index='1' chassis='2' port='0x10' hotplug='off'/>",
    "<privateData><objects><secret type='auth' alias='x'/></objects></privateData>",
    "<source tls='yes'/>",
    "<auth username='S3CR3T-USER'><secret type='iscsi' usage='S3CR3T-USAGE'/></auth>",
    "<encryption format='luks'><secret type='passphrase' uuid='0000'/></encryption>",
    "<origstates><d3cold/></origstates>",
    "<actual type='direct'/>",
    "<controller type='pci' index='1' model='pcie-root-port'><model name='pcie-root-port'/></controller>",
    "<graphics type='vnc' passwd='S3CR3T-PASSWORD'/>",
    "<qemuCaps><flag name='x'/></qemuCaps>",
    "<devices><device alias='net0'/></devices>",
    "<blockjobs active='yes'/>",
    "<domain type='kvm'><name>n</name></domain>",
    "<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]>",
    "<!DOCTYPE d SYSTEM 'file:///etc/shadow'>",
    "<!ENTITY x SYSTEM 'http://localhost/'>",
    "&b;",
    "&#60;",
    "<![CDATA[ <not> & a tag ]]>",
    "<!-- comment -- with double hyphen -->",
    "<?pi target?>",
    "<?xml version='1.0' encoding='UTF-16'?>",
    "\u{0}",
    "\u{feff}",
    "</domain>",
    "</devices>",
    "<",
    ">",
    "]]>",
];

const BAD_BYTES: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xfe\xff",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
];

fn splice(data: &[u8], start: usize, end: usize, with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() - (end - start) + with.len());
    out.extend_from_slice(&data[..start]);
    out.extend_from_slice(with);
    out.extend_from_slice(&data[end..]);
    out
}

/// Positions just after a tag (places where an element or a construct can be inserted).
fn boundary(rng: &mut Rng, tags: &[Tag], len: usize) -> usize {
    if tags.is_empty() {
        rng.below(len + 1)
    } else {
        rng.pick(tags).end
    }
}

fn mutate(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let tags = tags(data);
    let elements = elements(data, &tags);
    match rng.below(14) {
        // Drop an element.
        0 if !elements.is_empty() => {
            let (s, e) = *rng.pick(&elements);
            splice(data, s, e, b"")
        }
        // Duplicate an element in place (second <domain>, second <alias>, ...).
        1 if !elements.is_empty() => {
            let (s, e) = *rng.pick(&elements);
            splice(data, e, e, &data[s..e])
        }
        // Copy an element somewhere else.
        2 if !elements.is_empty() => {
            let (s, e) = *rng.pick(&elements);
            let at = boundary(rng, &tags, data.len());
            splice(data, at, at, &data[s..e])
        }
        // Nest an element very deep: around the default limit, or a little.
        3 if !elements.is_empty() => {
            let (s, e) = *rng.pick(&elements);
            let depth = *rng.pick(&[2usize, 5, 7, 250, 255, 256, 257, 300, 2000]);
            let name = rng
                .pick(&["a", "devices", "domain", "privateData", "objects"])
                .to_string();
            let mut with = Vec::new();
            for _ in 0..depth {
                with.extend_from_slice(format!("<{name}>").as_bytes());
            }
            with.extend_from_slice(&data[s..e]);
            for _ in 0..depth {
                with.extend_from_slice(format!("</{name}>").as_bytes());
            }
            splice(data, s, e, &with)
        }
        // Rename a tag (only one side of a pair: mismatches), or a whole element (both sides).
        4 if !tags.is_empty() => {
            let tag = *rng.pick(&tags);
            let name = rng.pick(NAMES).as_bytes();
            splice(data, tag.name.0, tag.name.1, name)
        }
        5 if !elements.is_empty() => {
            let (s, e) = *rng.pick(&elements);
            let inner = tags
                .iter()
                .filter(|t| t.start == s || t.end == e)
                .copied()
                .collect::<Vec<_>>();
            let name = rng.pick(NAMES).as_bytes();
            let mut out = data.to_vec();
            // Rename from the back so offsets stay valid.
            for t in inner.iter().rev() {
                out = splice(&out, t.name.0, t.name.1, name);
            }
            out
        }
        // Truncate.
        6 if !data.is_empty() => data[..rng.below(data.len())].to_vec(),
        // Change an attribute value.
        7 => {
            let quotes: Vec<usize> = data
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w[0] == b'=' && (w[1] == b'\'' || w[1] == b'"'))
                .map(|(i, _)| i + 1)
                .collect();
            if quotes.is_empty() {
                return data.to_vec();
            }
            let q = *rng.pick(&quotes);
            let quote = data[q];
            let Some(close) = data[q + 1..]
                .iter()
                .position(|&b| b == quote)
                .map(|p| p + q + 1)
            else {
                return data.to_vec();
            };
            let value = rng.pick(VALUES).replace(
                quote as char,
                if quote == b'\'' { "&apos;" } else { "&quot;" },
            );
            splice(data, q + 1, close, value.as_bytes())
        }
        // Add an attribute to a start tag.
        8 => {
            let open: Vec<&Tag> = tags
                .iter()
                .filter(|t| matches!(t.kind, TagKind::Open | TagKind::Empty))
                .collect();
            if open.is_empty() {
                return data.to_vec();
            }
            let tag = **rng.pick(&open);
            let attr = format!(
                " {}='{}'",
                rng.pick(ATTRS),
                rng.pick(VALUES).replace('\'', "&apos;")
            );
            splice(data, tag.name.1, tag.name.1, attr.as_bytes())
        }
        // Insert a snippet (device parts, DOCTYPEs, entities, CDATA, NUL, BOM, stray markup).
        9 | 10 => {
            let at = if rng.below(8) == 0 {
                0
            } else {
                boundary(rng, &tags, data.len())
            };
            splice(data, at, at, rng.pick(SNIPPETS).as_bytes())
        }
        // Insert bytes that are not UTF-8 (or a byte-order mark), in text or at the start.
        11 => {
            let at = if rng.below(4) == 0 {
                0
            } else {
                rng.below(data.len() + 1)
            };
            let bad: &[u8] = BAD_BYTES[rng.below(BAD_BYTES.len())];
            splice(data, at, at, bad)
        }
        // Many attributes, or a very long name or value.
        12 if !tags.is_empty() => {
            let tag = *rng.pick(&tags);
            let n = *rng.pick(&[2usize, 64, 1000, 5000]);
            let mut with = Vec::new();
            match rng.below(3) {
                0 => (0..n).for_each(|i| with.extend_from_slice(format!(" a{i}='{i}'").as_bytes())),
                1 => (0..n).for_each(|_| with.extend_from_slice(b" a='1'")),
                _ => with.extend(std::iter::repeat_n(b'n', n)),
            }
            splice(data, tag.name.1, tag.name.1, &with)
        }
        // Swap two elements.
        13 if elements.len() >= 2 => {
            let (a, b) = (*rng.pick(&elements), *rng.pick(&elements));
            let (first, second) = if a.0 <= b.0 { (a, b) } else { (b, a) };
            if first.1 > second.0 {
                return data.to_vec(); // overlapping (one inside the other)
            }
            let mut out = Vec::with_capacity(data.len());
            out.extend_from_slice(&data[..first.0]);
            out.extend_from_slice(&data[second.0..second.1]);
            out.extend_from_slice(&data[first.1..second.0]);
            out.extend_from_slice(&data[first.0..first.1]);
            out.extend_from_slice(&data[second.1..]);
            out
        }
        _ => data.to_vec(),
    }
}
