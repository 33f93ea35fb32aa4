//! The lake's secret: made once, at random, when the lake is first written, and stored beside
//! its tables (`_footfall/secret`, never registered as a table). It keys the person hashes in
//! stored sketches and the subject hashes of the erasure log, so neither can be tested against
//! a known id without it. Every process writing the lake reads the same secret, so their
//! sketches merge.

use crate::error::LakeError;
use crate::location::Lake;
use deltalake::logstore::object_store::{
    self, path::Path as StorePath, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use deltalake::DeltaTableBuilder;
use footfall_processor::SketchKey;
use std::hash::Hasher;

/// The folder of the lake's own files (not a table).
pub const FOOTFALL_DIR: &str = "_footfall";

/// The file of the secret in it.
const SECRET_FILE: &str = "secret";

/// The lake's secret: 128 bits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LakeSecret([u64; 2]);

impl std::fmt::Debug for LakeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LakeSecret(…)")
    }
}

impl LakeSecret {
    /// The key of the person hashes in stored sketches.
    pub fn sketch_key(&self) -> SketchKey {
        SketchKey(self.0)
    }

    /// The keyed hash (SipHash-1-3, 128 bits, hex) that names an erased user in
    /// `forget_requests`: whoever holds the lake can show that an id was erased, nobody can
    /// read the id from the log.
    pub fn subject_hash(&self, id: &str) -> String {
        let mut hasher = siphasher::sip128::SipHasher13::new_with_keys(self.0[1], self.0[0]);
        hasher.write(b"forget\0");
        hasher.write(id.as_bytes());
        format!("{:032x}", siphasher::sip128::Hasher128::finish128(&hasher).as_u128())
    }

    /// A secret from its text form (32 hex digits).
    pub fn from_hex(text: &str) -> Result<Self, LakeError> {
        Self::parse(text).ok_or_else(|| LakeError::Secret("a lake secret is 32 hex digits".into()))
    }

    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (high, low) = text.split_at(16);
        Some(Self([u64::from_str_radix(high, 16).ok()?, u64::from_str_radix(low, 16).ok()?]))
    }

    fn text(&self) -> String {
        format!("{:016x}{:016x}", self.0[0], self.0[1])
    }
}

/// The secret of `lake`: the configured one ([`Lake::with_secret`]), else the lake's own, made
/// (once, whichever process comes first: a conditional create) if it has none.
pub async fn lake_secret(lake: &Lake) -> Result<LakeSecret, LakeError> {
    if let Some(secret) = lake.configured_secret() {
        return Ok(secret);
    }
    let store = DeltaTableBuilder::from_url(lake.table_url(FOOTFALL_DIR)?)?.build_storage()?.object_store(None);
    let path = StorePath::from(SECRET_FILE);
    let bad = |e: object_store::Error| LakeError::Secret(format!("{}{FOOTFALL_DIR}/{SECRET_FILE}: {e}", lake.root()));
    for _ in 0..2 {
        match store.get(&path).await {
            Ok(found) => {
                let bytes = found.bytes().await.map_err(bad)?;
                let text = std::str::from_utf8(&bytes).unwrap_or_default();
                return LakeSecret::parse(text).ok_or_else(|| {
                    LakeError::Secret(format!("{}{FOOTFALL_DIR}/{SECRET_FILE} is not 32 hex digits", lake.root()))
                });
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(bad(e)),
        }
        let random = uuid::Uuid::new_v4().as_u128() ^ (uuid::Uuid::new_v4().as_u128() << 6);
        let made = LakeSecret([(random >> 64) as u64, random as u64]);
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match store.put_opts(&path, PutPayload::from(made.text().into_bytes()), options).await {
            Ok(_) => return Ok(made),
            // Another process made it first: read theirs.
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(bad(e)),
        }
    }
    Err(LakeError::Secret(format!("{}{FOOTFALL_DIR}/{SECRET_FILE} could not be made or read", lake.root())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lake_keeps_one_secret_and_hashes_name_no_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::local(dir.path()).expect("lake");
        let first = lake_secret(&lake).await.expect("made");
        assert_eq!(lake_secret(&lake).await.expect("read back"), first);
        let other = lake_secret(&Lake::local(&dir.path().join("other")).expect("lake")).await.expect("made");
        assert_ne!(first, other, "each lake its own");
        assert_eq!(first.subject_hash("victim"), first.subject_hash("victim"));
        assert_ne!(first.subject_hash("victim"), other.subject_hash("victim"));
        assert_ne!(first.sketch_key().hash("victim"), other.sketch_key().hash("victim"));
        assert!(!first.subject_hash("victim").contains("victim"));
        let configured = LakeSecret::from_hex("000102030405060708090a0b0c0d0e0f").expect("hex");
        assert_eq!(lake_secret(&lake.clone().with_secret(configured)).await.expect("configured"), configured);
        assert!(LakeSecret::from_hex("not hex at all, though 32 chars.").is_err());
        std::fs::write(dir.path().join(FOOTFALL_DIR).join(SECRET_FILE), "bad").expect("write");
        assert!(matches!(lake_secret(&lake).await, Err(LakeError::Secret(_))));
    }
}
