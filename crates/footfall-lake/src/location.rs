//! Where the lake lives: a local directory or any object-store URL Delta Lake supports, with
//! one folder per table under it. Tables are found by name.

use crate::error::LakeError;
use deltalake::{DeltaTable, DeltaTableBuilder};
use std::path::{Path, PathBuf};
use url::Url;

/// The root of a lake: `file:///…/lake/`, `s3://bucket/prefix/`, `gs://…`, `az://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lake {
    root: Url,
    /// The secret set by configuration, instead of the lake's own.
    secret: Option<crate::secret::LakeSecret>,
}

impl Lake {
    /// A lake in a local directory (created if missing).
    pub fn local(dir: &Path) -> Result<Self, LakeError> {
        std::fs::create_dir_all(dir).map_err(|e| LakeError::Io { path: dir.to_path_buf(), source: e })?;
        let absolute = dir.canonicalize().map_err(|e| LakeError::Io { path: dir.to_path_buf(), source: e })?;
        let root =
            Url::from_directory_path(&absolute).map_err(|_| LakeError::BadLocation(absolute.display().to_string()))?;
        Ok(Self { root, secret: None })
    }

    /// A lake at `location`: a URL with a scheme (`file://`, `s3://`, `gs://`, `az://`,
    /// `abfss://`, …) or a plain directory path. Object stores other than local files need the
    /// build feature of their cloud (`s3`, `gcs`, `azure`) and take their credentials from the
    /// usual environment variables (`AWS_ACCESS_KEY_ID`, …).
    pub fn at(location: &str) -> Result<Self, LakeError> {
        if !location.contains("://") {
            return Self::local(Path::new(location));
        }
        let mut root = Url::parse(location).map_err(|e| LakeError::BadLocation(format!("{location}: {e}")))?;
        if root.scheme() == "file" {
            let dir = root.to_file_path().map_err(|_| LakeError::BadLocation(location.to_owned()))?;
            return Self::local(&dir);
        }
        if root.host_str().is_none_or(str::is_empty) {
            return Err(LakeError::BadLocation(format!("{location}: no bucket or container")));
        }
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        Ok(Self { root, secret: None })
    }

    /// The same lake with `secret` instead of its own (see [`crate::secret`]).
    pub fn with_secret(self, secret: crate::secret::LakeSecret) -> Self {
        Self { secret: Some(secret), ..self }
    }

    /// The secret set with [`Self::with_secret`], if any.
    pub fn configured_secret(&self) -> Option<crate::secret::LakeSecret> {
        self.secret
    }

    /// The lake's root URL, ending in `/`.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The local directory of the lake, when it is one.
    pub fn local_dir(&self) -> Option<PathBuf> {
        (self.root.scheme() == "file").then(|| self.root.to_file_path().ok()).flatten()
    }

    /// The URL of table `name` (its folder; created first when the lake is local).
    pub fn table_url(&self, name: &str) -> Result<Url, LakeError> {
        let url = self.root.join(&format!("{name}/")).map_err(|e| LakeError::BadLocation(format!("{name}: {e}")))?;
        if let Some(dir) = (url.scheme() == "file").then(|| url.to_file_path().ok()).flatten() {
            std::fs::create_dir_all(&dir).map_err(|e| LakeError::Io { path: dir, source: e })?;
        }
        Ok(url)
    }

    /// Opens table `name` at its latest version, or `None` if the lake has no such table yet.
    pub async fn open_table(&self, name: &str) -> Result<Option<DeltaTable>, LakeError> {
        let mut table = DeltaTableBuilder::from_url(self.table_url(name)?)?.build()?;
        if !table.verify_deltatable_existence().await? {
            return Ok(None);
        }
        table.load().await?;
        Ok(Some(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_name_the_same_local_lake() {
        let dir = tempfile::tempdir().expect("tempdir");
        let by_path = Lake::at(dir.path().join("lake").to_str().expect("utf-8")).expect("path");
        let url = format!("file://{}", dir.path().join("lake").display());
        assert_eq!(Lake::at(&url).expect("file url"), by_path);
        assert!(by_path.root().as_str().ends_with("/lake/"));
        assert_eq!(by_path.local_dir(), Some(dir.path().canonicalize().expect("canonical").join("lake")));
        let table = by_path.table_url("raw_events").expect("table url");
        assert!(table.as_str().ends_with("/lake/raw_events/"), "{table}");
    }

    #[test]
    fn object_store_urls_keep_their_scheme_and_get_a_trailing_slash() {
        let lake = Lake::at("s3://bucket/analytics/footfall").expect("s3 url");
        assert_eq!(lake.root().as_str(), "s3://bucket/analytics/footfall/");
        assert_eq!(lake.table_url("raw_events").expect("url").as_str(), "s3://bucket/analytics/footfall/raw_events/");
        assert_eq!(lake.local_dir(), None);
        assert!(matches!(Lake::at("s3://"), Err(LakeError::BadLocation(_))), "no bucket");
    }
}
