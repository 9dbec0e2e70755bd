//! What a document's aliases say about each other, per device and per id of QEMU's device list: the
//! rules read these columns instead of joining or grouping every alias of a batch. All exact string
//! matches.
//!
//! Each alias is hashed once into two small tables ([`HashIndex`], reused from one document to the
//! next). Sorting the two lists and binary searching them, as before, compared strings with `memcmp`
//! some twenty times per alias: about 5% of the scan. [`sorted`] is kept, as the fallback for a
//! document whose aliases crowd the tables (see `strhash`) and as the reference the tests compare with.

use crate::rows::Document;
use crate::strhash::{Crowded, HashIndex, hash, same};

#[derive(Debug, Default, PartialEq)]
pub(crate) struct CrossListed {
    /// Per device: QEMU's device list (`<domstatus><devices>`, the ids QEMU had at the last save) names
    /// its alias; null when the device has no alias or the file has no list.
    pub(crate) in_live_list: Vec<Option<bool>>,
    /// Per device: another device of the definition carries the same alias; null without an alias.
    pub(crate) alias_repeated: Vec<Option<bool>>,
    /// Per id of QEMU's device list: a device of the definition carries it as its alias.
    pub(crate) in_definition: Vec<bool>,
}

/// The tables and lists [`cross_listed`] reuses from one document to the next.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The devices' aliases, by device index.
    defined: HashIndex,
    /// QEMU's device list, by position.
    listed: HashIndex,
    /// Per device: the hash of its alias.
    hashes: Vec<u64>,
    /// Per device: the index of the first device with the same alias (itself if none before it).
    first: Vec<u32>,
    /// Per device: a later device has the same alias (meaningful for the first of each alias).
    repeated: Vec<bool>,
    out: CrossListed,
}

/// The columns for `doc`, in `scratch`'s output (valid until the next call).
pub(crate) fn cross_listed<'s>(doc: &Document<'_>, scratch: &'s mut Scratch) -> &'s CrossListed {
    if hashed(doc, scratch).is_err() {
        scratch.out = sorted(doc);
    }
    &scratch.out
}

fn alias<'d>(doc: &'d Document<'_>, device: u32) -> &'d [u8] {
    doc.devices[device as usize]
        .alias
        .as_deref()
        .unwrap_or_default()
        .as_bytes()
}

fn hashed(doc: &Document<'_>, s: &mut Scratch) -> Result<(), Crowded> {
    let devices = doc.devices.len();
    let devices_u32 = u32::try_from(devices).map_err(|_| Crowded)?;
    s.defined.reset(devices);
    s.hashes.clear();
    s.first.clear();
    s.repeated.clear();
    s.repeated.resize(devices, false);
    for (i, device) in (0..devices_u32).zip(&doc.devices) {
        let Some(name) = device.alias.as_deref() else {
            s.hashes.push(0);
            s.first.push(i);
            continue;
        };
        let h = hash(name.as_bytes());
        s.hashes.push(h);
        let earlier = s
            .defined
            .insert(h, i, |j| same(alias(doc, j), name.as_bytes()))?;
        if let Some(j) = earlier {
            s.repeated[j as usize] = true;
        }
        s.first.push(earlier.unwrap_or(i));
    }
    let listed = &doc.live_aliases;
    s.listed.reset(listed.len());
    for (i, id) in (0..).zip(listed) {
        s.listed.insert(hash(id.as_bytes()), i, |j| {
            same(listed[j as usize].as_bytes(), id.as_bytes())
        })?;
    }
    let has_list = doc.domain.has_live_devices;
    let out = &mut s.out;
    out.in_live_list.clear();
    out.alias_repeated.clear();
    for (i, device) in doc.devices.iter().enumerate() {
        let Some(name) = device.alias.as_deref() else {
            out.in_live_list.push(None);
            out.alias_repeated.push(None);
            continue;
        };
        out.alias_repeated
            .push(Some(s.repeated[s.first[i] as usize]));
        out.in_live_list.push(if has_list {
            let found = s.listed.find(s.hashes[i], |j| {
                same(listed[j as usize].as_bytes(), name.as_bytes())
            })?;
            Some(found.is_some())
        } else {
            None
        });
    }
    out.in_definition.clear();
    for id in listed {
        let found = s
            .defined
            .find(hash(id.as_bytes()), |j| same(alias(doc, j), id.as_bytes()))?;
        out.in_definition.push(found.is_some());
    }
    Ok(())
}

/// The same columns from sorted copies of both lists, binary searched.
pub(crate) fn sorted(doc: &Document<'_>) -> CrossListed {
    let mut listed: Vec<&str> = doc.live_aliases.iter().map(|a| a.as_ref()).collect();
    listed.sort_unstable();
    let mut defined: Vec<&str> = doc
        .devices
        .iter()
        .filter_map(|d| d.alias.as_deref())
        .collect();
    defined.sort_unstable();
    let has_list = doc.domain.has_live_devices;
    let aliases = doc.devices.iter().map(|d| d.alias.as_deref());
    CrossListed {
        in_live_list: aliases
            .clone()
            .map(|alias| Some(listed.binary_search(&alias.filter(|_| has_list)?).is_ok()))
            .collect(),
        alias_repeated: aliases
            .map(|alias| {
                let alias = alias?;
                let first = defined.partition_point(|d| *d < alias);
                Some(defined.get(first + 1) == Some(&alias))
            })
            .collect(),
        in_definition: doc
            .live_aliases
            .iter()
            .map(|a| defined.binary_search(&a.as_ref()).is_ok())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::rows::{DeviceRow, DocKind, DomainRow};

    fn document<'a>(aliases: &[Option<&'a str>], listed: Option<&[&'a str]>) -> Document<'a> {
        let mut domain = DomainRow::new(DocKind::Status);
        domain.has_live_devices = listed.is_some();
        Document {
            domain,
            devices: aliases
                .iter()
                .map(|a| DeviceRow {
                    alias: a.map(Cow::Borrowed),
                    ..DeviceRow::default()
                })
                .collect(),
            caps: Vec::new(),
            live_aliases: listed
                .unwrap_or_default()
                .iter()
                .map(|&a| Cow::Borrowed(a))
                .collect(),
        }
    }

    #[test]
    fn hashed_tables_agree_with_sorted_lists() {
        // A small pseudo-random generator: aliases drawn from a few names of every length, repeated,
        // missing, listed or not.
        let names = [
            "",
            "a",
            "net0",
            "net1",
            "virtio-disk0",
            "virtio-disk10",
            "ua-0123456789abcdef",
            "rng0",
            "virtio-serial0",
            "pci.1",
            "pci.10",
            "ua-x",
            "sata0-0-0",
            "hostdev0",
            "channel0",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut scratch = Scratch::default();
        for _ in 0..2000 {
            let aliases: Vec<Option<&str>> = (0..next(24))
                .map(|_| Some(names[next(names.len())]).filter(|_| next(6) != 0))
                .collect();
            let listed: Vec<&str> = (0..next(24)).map(|_| names[next(names.len())]).collect();
            let has_list = next(4) != 0;
            let doc = document(&aliases, has_list.then_some(&listed[..]));
            assert_eq!(
                cross_listed(&doc, &mut scratch),
                &sorted(&doc),
                "{aliases:?} {listed:?}"
            );
        }
    }

    #[test]
    fn hundreds_of_aliases_agree_with_sorted_lists() {
        // Hundreds of distinct aliases (oVirt's `ua-` ids) give the same answers either way.
        let owned: Vec<String> = (0..600).map(|i| format!("ua-{i:x}")).collect();
        let aliases: Vec<Option<&str>> = owned.iter().map(|a| Some(a.as_str())).collect();
        let listed: Vec<&str> = owned.iter().step_by(3).map(String::as_str).collect();
        let doc = document(&aliases, Some(&listed));
        let mut scratch = Scratch::default();
        assert_eq!(cross_listed(&doc, &mut scratch), &sorted(&doc));
    }
}
