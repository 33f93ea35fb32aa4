//! Country and city of an IP address, from a MaxMind database (`.mmdb`: GeoLite2-City,
//! GeoIP2-City, or any database of that shape) the user provides. Looked up before the IP is
//! truncated or dropped, so privacy settings do not cost the location.

use crate::error::ProcessError;
use maxminddb::geoip2;
use std::net::IpAddr;
use std::path::Path;

/// Where an address is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2 country code (`DE`, `US`, …).
    pub country: Option<String>,
    /// City name in English.
    pub city: Option<String>,
}

/// An opened MaxMind database.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("type", &self.reader.metadata().database_type).finish()
    }
}

impl GeoDb {
    /// Reads the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ProcessError> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| ProcessError::Geo { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(Self { reader })
    }

    /// Where `ip` (text) is; an empty place for unknown or unparsable addresses.
    pub fn locate(&self, ip: &str) -> Place {
        let Ok(address) = ip.trim().parse::<IpAddr>() else {
            return Place::default();
        };
        let city = self.reader.lookup(address).ok().and_then(|found| found.decode::<geoip2::City>().ok().flatten());
        let Some(city) = city else {
            return Place::default();
        };
        Place { country: city.country.iso_code.map(str::to_owned), city: city.city.names.english.map(str::to_owned) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_db() -> GeoDb {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/geo/test-city.mmdb");
        GeoDb::open(&path).expect("test database (tests/fixtures/geo/make_test_mmdb.py)")
    }

    #[test]
    fn addresses_are_placed_by_the_database() {
        let db = test_db();
        let place = |country: &str, city: &str| Place { country: Some(country.into()), city: Some(city.into()) };
        assert_eq!(db.locate("203.0.113.7"), place("DE", "Berlin"));
        assert_eq!(db.locate("203.0.113.200"), place("US", "New York"));
        assert_eq!(db.locate("2001:db8::1"), place("FR", "Paris"));
        assert_eq!(db.locate("198.51.100.1"), Place::default());
        assert_eq!(db.locate("not an address"), Place::default());
    }

    #[test]
    fn a_missing_database_is_a_clear_error() {
        let err = GeoDb::open(Path::new("/nonexistent/GeoLite2-City.mmdb")).expect_err("no file");
        assert!(err.to_string().contains("/nonexistent/GeoLite2-City.mmdb"), "{err}");
    }
}
