//! RFC 6962 Merkle tree hashing (§2.1), kept as a compact range so that the tree over millions
//! of events costs O(log n) memory and one hash per appended leaf.
//!
//! Why a tree beside CloudTrail's digest chain: a digest chain proves that the files it names
//! are intact, but deleting the newest log files together with the newest digests leaves a
//! shorter, still valid chain. A signed checkpoint (tree size and root) that anyone kept
//! elsewhere exposes that: the remaining leaves no longer rebuild a tree of that size and root.
//!
//! Hashes follow RFC 6962 exactly (leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ l ‖ r),
//! the empty tree hashes to SHA-256("")), so any RFC 6962 verifier can check our roots.

use aws_lc_rs::digest::{Context, SHA256, digest};
use serde::{Deserialize, Serialize};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

fn finish(ctx: Context) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The hash of one leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0]);
    ctx.update(data);
    finish(ctx)
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[1]);
    ctx.update(left);
    ctx.update(right);
    finish(ctx)
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, b"").as_ref());
    out
}

/// The perfect subtrees covering leaves `0..size`, largest first: enough to append a leaf and
/// to compute the root without the leaves themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactRange {
    size: u64,
    /// Subtree roots, hex-encoded, for the set bits of `size` from the highest down.
    peaks: Vec<String>,
}

impl CompactRange {
    /// The number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn peak_hashes(&self) -> Vec<Hash> {
        self.peaks
            .iter()
            .map(|h| {
                let mut out = [0u8; 32];
                if let Ok(bytes) = hex::decode(h)
                    && bytes.len() == 32
                {
                    out.copy_from_slice(&bytes);
                }
                out
            })
            .collect()
    }

    /// Appends a leaf given its data.
    pub fn push(&mut self, data: &[u8]) {
        self.push_hash(leaf_hash(data));
    }

    /// Appends a leaf given its hash.
    pub fn push_hash(&mut self, leaf: Hash) {
        let mut peaks = self.peak_hashes();
        let mut carry = leaf;
        // Each trailing one bit of the old size is a subtree of the same height as the carry:
        // merge them, exactly as binary addition carries.
        let mut size = self.size;
        while size & 1 == 1 {
            let Some(left) = peaks.pop() else { break };
            carry = node_hash(&left, &carry);
            size >>= 1;
        }
        peaks.push(carry);
        self.size += 1;
        self.peaks = peaks.iter().map(hex::encode).collect();
    }

    /// The tree head of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let peaks = self.peak_hashes();
        let mut iter = peaks.iter().rev();
        let Some(first) = iter.next() else {
            return empty_root();
        };
        // RFC 6962 splits at the largest power of two below n, so the smaller right-hand
        // subtrees fold first.
        iter.fold(*first, |acc, left| node_hash(left, &acc))
    }
}

/// The RFC 6962 root of a list of leaves, computed directly from the definition. Used to check
/// [`CompactRange`] in tests.
pub fn root_of(leaves: &[&[u8]]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves.first().map_or_else(empty_root, |l| leaf_hash(l)),
        n => {
            let mut k = 1usize;
            while k * 2 < n {
                k *= 2;
            }
            let (left, right) = leaves.split_at(k);
            node_hash(&root_of(left), &root_of(right))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_range_matches_the_rfc_definition_for_every_size() {
        let data: Vec<Vec<u8>> = (0..70u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut range = CompactRange::default();
        assert_eq!(range.root(), root_of(&[]));
        for n in 1..=data.len() {
            range.push(&data[n - 1]);
            let leaves: Vec<&[u8]> = data[..n].iter().map(Vec::as_slice).collect();
            assert_eq!(range.root(), root_of(&leaves), "size {n}");
            assert_eq!(range.size(), n as u64);
        }
    }

    #[test]
    fn rfc6962_test_vector_for_the_empty_tree() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_serialised_range_keeps_growing_the_same_tree() {
        let mut a = CompactRange::default();
        for i in 0..5u8 {
            a.push(&[i]);
        }
        let mut b: CompactRange =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        a.push(&[9]);
        b.push(&[9]);
        assert_eq!(a.root(), b.root());
    }
}
