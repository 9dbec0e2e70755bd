//! Exact membership tests on short strings (capability flags, aliases), for the per-row loops of the
//! table builder. `std`'s `HashSet<String>` hashes each key with SipHash and confirms a hit with a call
//! to `memcmp`: on the audit path (a couple of hundred flags per file looked up in a set of hundreds)
//! that was about 7% of the scan. Here a key is hashed a word at a time (most are under 17 bytes: two
//! words), the full 64-bit hash is kept in the table so that a probe rejects a stranger without looking
//! at its bytes, and a hit is confirmed with two word compares where the key is that short.
//!
//! The hash is not keyed, so input could be made to collide on purpose. Probing is therefore bounded:
//! past [`MAX_PROBES`] slots an insert or a lookup gives up (`Err(Crowded)`), and the caller falls back
//! to its slower structure (a `HashSet`, a sorted list) for that input. The answer never depends on
//! which path gave it.

/// Most slots a lookup or an insert visits before giving up. At most half the slots are used, and the
/// keys libvirt writes spread well: a real probe visits one or two.
const MAX_PROBES: usize = 32;

/// The table was too crowded around a key (see the module's notes): use the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crowded;

const K: u64 = 0x9E37_79B9_7F4A_7C15;

fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn half(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(
        bytes[at..at + 4].try_into().expect("4 bytes"),
    ))
}

/// A key shorter than 8 bytes as one word (with its length, exact): two overlapping halves, or its
/// first, middle and last bytes. No copy into a padded buffer (that was a call to `memcpy`).
fn short(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    match n {
        4..=7 => half(bytes, 0) | half(bytes, n - 4) << 32,
        1..=3 => u64::from(bytes[0]) | u64::from(bytes[n / 2]) << 8 | u64::from(bytes[n - 1]) << 16,
        _ => 0,
    }
}

fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

/// A 64-bit hash of `bytes`, a word at a time (the last word overlapping the one before); its high
/// bits pick the slot.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let mut h = (n as u64).wrapping_mul(K);
    if n < 8 {
        h = mix(h, short(bytes));
    } else {
        let mut i = 0;
        while i + 8 < n {
            h = mix(h, word(bytes, i));
            i += 8;
        }
        h = mix(h, word(bytes, n - 8));
    }
    // (a multiply last: its high bits depend on every bit of the key)
    (h ^ h >> 32).wrapping_mul(K)
}

/// `a == b`, a word at a time, without a call to `memcmp` for the short keys this module is for.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return short(a) == short(b);
    }
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// An open-addressing table of indices into the caller's list of keys, with each key's full hash.
/// The caller keeps the keys; `eq(i)` tells whether its key `i` is the one looked for.
#[derive(Default)]
pub(crate) struct HashIndex {
    /// `(hash, index + 1)`; index 0 marks an empty slot.
    slots: Vec<(u64, u32)>,
    shift: u32,
}

impl HashIndex {
    /// Empties the table and sizes it for `n` keys (at most half its slots used). The slots are kept
    /// from one use to the next.
    pub(crate) fn reset(&mut self, n: usize) {
        let size = (2 * n).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(size, (0, 0));
        self.shift = 64 - size.trailing_zeros();
    }

    fn start(&self, hash: u64) -> usize {
        // (`reset` sized the table: `shift` < 64; the slots are a power of two)
        (hash >> self.shift) as usize
    }

    /// The index stored for the key hashing to `hash` for which `eq` holds.
    pub(crate) fn find(&self, hash: u64, eq: impl Fn(u32) -> bool) -> Result<Option<u32>, Crowded> {
        let mask = self.slots.len().wrapping_sub(1);
        for at in (self.start(hash)..).take(MAX_PROBES.min(self.slots.len())) {
            let (h, index) = self.slots[at & mask];
            if index == 0 {
                return Ok(None);
            }
            if h == hash && eq(index - 1) {
                return Ok(Some(index - 1));
            }
        }
        Err(Crowded)
    }

    /// Stores `index` for a key hashing to `hash`, unless a key for which `eq` holds is there already:
    /// then returns that one's index.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        index: u32,
        eq: impl Fn(u32) -> bool,
    ) -> Result<Option<u32>, Crowded> {
        let mask = self.slots.len().wrapping_sub(1);
        for at in (self.start(hash)..).take(MAX_PROBES.min(self.slots.len())) {
            let slot = &mut self.slots[at & mask];
            if slot.1 == 0 {
                *slot = (hash, index + 1);
                return Ok(None);
            }
            if slot.0 == hash && eq(slot.1 - 1) {
                return Ok(Some(slot.1 - 1));
            }
        }
        Err(Crowded)
    }
}

/// A fixed set of strings (the caps flags an audit drops), built once per batch.
pub(crate) struct StrSet {
    keys: Vec<Box<str>>,
    index: HashIndex,
}

impl StrSet {
    /// The set of `keys`, or `Err` if they crowd the table (then the caller keeps its `HashSet`).
    pub(crate) fn new<'k>(keys: impl ExactSizeIterator<Item = &'k str>) -> Result<Self, Crowded> {
        let mut set = StrSet {
            keys: Vec::with_capacity(keys.len()),
            index: HashIndex::default(),
        };
        set.index.reset(keys.len());
        for key in keys {
            let i = u32::try_from(set.keys.len()).map_err(|_| Crowded)?;
            let stored = &set.keys;
            let found = set.index.insert(hash(key.as_bytes()), i, |j| {
                same(stored[j as usize].as_bytes(), key.as_bytes())
            })?;
            if found.is_none() {
                set.keys.push(key.into());
            }
        }
        Ok(set)
    }

    pub(crate) fn contains(&self, key: &str) -> Result<bool, Crowded> {
        let found = self.index.find(hash(key.as_bytes()), |j| {
            same(self.keys[j as usize].as_bytes(), key.as_bytes())
        })?;
        Ok(found.is_some())
    }
}

/// Which strings of a list pass a test, remembered for the next list when that is the same list: the
/// `<qemuCaps>` flags of consecutive status files usually are (see `parse::listcache`), and checking
/// that a list is the same, a word at a time, costs less than looking each flag up again.
#[derive(Default)]
pub(crate) struct ListMemo {
    /// The last list's strings, end to end.
    bytes: Vec<u8>,
    lens: Vec<u32>,
    /// Positions in the last list of the strings that passed.
    kept: Vec<u32>,
}

impl ListMemo {
    fn holds<S: AsRef<str>>(&self, list: &[S]) -> bool {
        if list.len() != self.lens.len() {
            return false;
        }
        let mut at = 0;
        for (value, &len) in list.iter().zip(&self.lens) {
            let (value, len) = (value.as_ref().as_bytes(), len as usize);
            if value.len() != len || !same(value, &self.bytes[at..at + len]) {
                return false;
            }
            at += len;
        }
        true
    }

    /// The positions in `list` of the strings for which `keep` holds.
    pub(crate) fn kept<S: AsRef<str>>(
        &mut self,
        list: &[S],
        keep: impl Fn(&str) -> bool,
    ) -> &[u32] {
        if !self.holds(list) {
            self.bytes.clear();
            self.lens.clear();
            self.kept.clear();
            for (i, value) in (0u32..).zip(list) {
                let value = value.as_ref();
                self.bytes.extend_from_slice(value.as_bytes());
                // (a list longer than 4 GiB could not be held: it would only be compared again)
                self.lens
                    .push(u32::try_from(value.len()).unwrap_or(u32::MAX));
                if keep(value) {
                    self.kept.push(i);
                }
            }
        }
        &self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_length_are_told_apart() {
        let mut keys: Vec<String> = Vec::new();
        for n in 0..40 {
            keys.push("a".repeat(n));
            keys.push(format!("{}b", "a".repeat(n)));
            keys.push(format!("b{}", "a".repeat(n)));
            keys.push(format!("{}\0", "a".repeat(n)));
        }
        let set = StrSet::new(keys.iter().map(String::as_str)).expect("not crowded");
        for key in &keys {
            assert_eq!(set.contains(key), Ok(true), "{key:?}");
        }
        for n in 0..40 {
            let absent = format!("{}c", "a".repeat(n));
            assert_eq!(set.contains(&absent), Ok(false), "{absent:?}");
        }
        for (a, b) in [
            ("abcdefgh", "abcdefgh"),
            ("abcdefghij", "abcdefghiX"),
            ("", ""),
        ] {
            assert_eq!(same(a.as_bytes(), b.as_bytes()), a == b);
        }
    }

    #[test]
    fn a_difference_anywhere_is_seen() {
        for n in 0..40usize {
            let key: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same(&key, &key.clone()));
            for at in 0..n {
                let mut other = key.clone();
                other[at] = b'-';
                assert!(!same(&key, &other), "{n} {at}");
                // (not a requirement, but a hash that missed a byte would crowd the table)
                assert_ne!(hash(&key), hash(&other), "{n} {at}");
            }
            let longer = [&key[..], b"a"].concat();
            assert!(!same(&key, &longer));
            assert_ne!(hash(&key), hash(&longer));
        }
    }

    #[test]
    fn a_remembered_list_is_recognised_only_when_the_same() {
        let mut memo = ListMemo::default();
        let calls = std::cell::Cell::new(0);
        let keep = |s: &str| {
            calls.set(calls.get() + 1);
            s.len() > 3
        };
        assert_eq!(
            memo.kept(&["kvm", "blockdev", "vnc", "virtio-net"], keep),
            [1, 3]
        );
        assert_eq!(calls.get(), 4);
        assert_eq!(
            memo.kept(&["kvm", "blockdev", "vnc", "virtio-net"], keep),
            [1, 3]
        );
        assert_eq!(calls.get(), 4, "the same list: not tested again");
        // Same bytes end to end, other boundaries; one more; one fewer; one changed.
        assert_eq!(
            memo.kept(&["kvmb", "lockdev", "vnc", "virtio-net"], keep),
            [0, 1, 3]
        );
        assert_eq!(
            memo.kept(&["kvmb", "lockdev", "vnc", "virtio-net", "x"], keep),
            [0, 1, 3]
        );
        assert_eq!(memo.kept(&["kvmb", "lockdev", "vnc"], keep), [0, 1]);
        assert_eq!(memo.kept(&["kvmb", "lockdev", "vnc0"], keep), [0, 1, 2]);
        assert_eq!(memo.kept::<&str>(&[], keep), [] as [u32; 0]);
    }

    #[test]
    fn a_crowded_table_gives_up_instead_of_probing_on() {
        let mut index = HashIndex::default();
        index.reset(100);
        // Every key with the same hash (as a hostile input might arrange) and all of them distinct.
        let mut gave_up = false;
        for i in 0..100 {
            match index.insert(7, i, |_| false) {
                Ok(None) => {}
                Ok(Some(_)) => panic!("distinct keys"),
                Err(Crowded) => {
                    gave_up = true;
                    break;
                }
            }
        }
        assert!(gave_up);
        assert_eq!(index.find(7, |_| false), Err(Crowded));
    }
}
