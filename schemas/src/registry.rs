//! Every embedded schema, by family and version, and lookup by single-object fingerprint.

use std::collections::HashMap;
use std::sync::LazyLock;

use apache_avro::rabin::Rabin;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;

use crate::direct::Tree;
/// The allocation bound of both decoders (the direct one, and apache-avro's: set when the registry
/// loads).
pub use crate::direct::MAX_DECODE_ALLOCATION;

/// One schema version of one family (e.g. `event` v1).
pub struct SchemaVersion {
    pub family: &'static str,
    pub version: u32,
    pub schema: Schema,
    /// CRC-64-AVRO (Rabin) fingerprint of the canonical form, as used by single-object encoding.
    pub fingerprint: [u8; 8],
    /// A reader with the schema's names resolved once, instead of on every message.
    pub reader: apache_avro::GenericSingleObjectReader,
    /// The schema compiled for decoding straight into Rust types (`None`: it uses a type the direct
    /// decoder does not handle, and messages go through `reader`).
    pub(crate) direct: Option<Tree>,
}

impl SchemaVersion {
    /// Whether messages of this version are decoded straight into Rust types, without a `Value`.
    pub fn decodes_directly(&self) -> bool {
        self.direct.is_some()
    }
}

impl std::fmt::Debug for SchemaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaVersion")
            .field("family", &self.family)
            .field("version", &self.version)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The sources, oldest first within a family. Adding a version: add the file here; the tests check it
/// against the previous one.
const SOURCES: &[(&str, u32, &str)] = &[
    ("event", 1, include_str!("../avro/event.v1.avsc")),
    ("apikey", 1, include_str!("../avro/apikey.v1.avsc")),
    ("apikey", 2, include_str!("../avro/apikey.v2.avsc")),
    ("sessionized", 1, include_str!("../avro/sessionized.v1.avsc")),
    ("sessionized", 2, include_str!("../avro/sessionized.v2.avsc")),
    ("session", 1, include_str!("../avro/session.v1.avsc")),
    ("signal", 1, include_str!("../avro/signal.v1.avsc")),
    ("signal", 2, include_str!("../avro/signal.v2.avsc")),
    ("signal", 3, include_str!("../avro/signal.v3.avsc")),
    ("incident", 1, include_str!("../avro/incident.v1.avsc")),
];

pub struct Registry {
    versions: Vec<SchemaVersion>,
    by_fingerprint: HashMap<[u8; 8], usize>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION);
    let mut versions = Vec::with_capacity(SOURCES.len());
    for (family, version, source) in SOURCES {
        // The sources are compiled in and covered by tests; a parse failure is a build defect.
        let schema = Schema::parse_str(source)
            .unwrap_or_else(|e| panic!("embedded schema {family} v{version} does not parse: {e}"));
        let fingerprint = fingerprint_of(&schema);
        let reader = apache_avro::GenericSingleObjectReader::new(schema.clone())
            .unwrap_or_else(|e| panic!("embedded schema {family} v{version} cannot be resolved: {e}"));
        let direct = Tree::compile(&schema).ok();
        versions.push(SchemaVersion { family, version: *version, schema, fingerprint, reader, direct });
    }
    let by_fingerprint = versions.iter().enumerate().map(|(i, v)| (v.fingerprint, i)).collect();
    Registry { versions, by_fingerprint }
});

/// The fingerprint bytes single-object encoding puts after `C3 01`: Rabin, little-endian.
pub fn fingerprint_of(schema: &Schema) -> [u8; 8] {
    let fp = schema.fingerprint::<Rabin>();
    let mut out = [0u8; 8];
    let n = fp.bytes.len().min(8);
    out[..n].copy_from_slice(&fp.bytes[..n]);
    out
}

impl Registry {
    pub fn get() -> &'static Registry {
        &REGISTRY
    }

    /// The newest version of a family: what writers use.
    pub fn latest(&self, family: &str) -> Option<&SchemaVersion> {
        self.versions.iter().filter(|v| v.family == family).max_by_key(|v| v.version)
    }

    pub fn by_fingerprint(&self, fingerprint: &[u8; 8]) -> Option<&SchemaVersion> {
        self.by_fingerprint.get(fingerprint).map(|&i| &self.versions[i])
    }

    /// All versions of a family, oldest first.
    pub fn family(&self, family: &str) -> Vec<&SchemaVersion> {
        let mut v: Vec<_> = self.versions.iter().filter(|v| v.family == family).collect();
        v.sort_by_key(|v| v.version);
        v
    }

    pub fn families(&self) -> Vec<&'static str> {
        let mut f: Vec<_> = self.versions.iter().map(|v| v.family).collect();
        f.sort_unstable();
        f.dedup();
        f
    }
}

/// Whether `newer` can be deployed after `older`: readers on `newer` read data written with `older`
/// (backward) and readers still on `older` read data written with `newer` (forward). Returns what
/// is incompatible, in words.
pub fn check_compatibility(older: &Schema, newer: &Schema) -> Result<(), String> {
    SchemaCompatibility::can_read(older, newer).map_err(|e| format!("new readers cannot read old data: {e}"))?;
    SchemaCompatibility::can_read(newer, older).map_err(|e| format!("old readers cannot read new data: {e}"))?;
    Ok(())
}
