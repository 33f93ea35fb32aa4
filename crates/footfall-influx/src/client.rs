//! Posting line protocol to InfluxDB: v1 `/write?db=&precision=ns`, v2
//! `/api/v2/write?org=&bucket=&precision=ns` with a token, v3 `/api/v3/write_lp?db=&precision=
//! nanosecond`; bodies gzip-compressed.

use crate::error::InfluxError;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::time::Duration;

/// Which write API the server speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InfluxApi {
    /// InfluxDB 1.x (and 2.x/3.x's v1 compatibility endpoint).
    #[default]
    V1,
    /// InfluxDB 2.x: org, bucket and token.
    V2,
    /// InfluxDB 3: database, optional token.
    V3,
}

/// Where to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfluxTarget {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// Write API.
    pub api: InfluxApi,
    /// Database (v1, v3).
    pub database: String,
    /// Organization (v2).
    pub org: String,
    /// Bucket (v2).
    pub bucket: String,
    /// Token (v2, v3; v1 with authentication sends it as `Token`).
    pub token: Option<String>,
}

/// An HTTP client for one InfluxDB.
#[derive(Debug, Clone)]
pub struct InfluxClient {
    http: reqwest::Client,
    target: InfluxTarget,
    write_url: reqwest::Url,
    gzip: bool,
}

impl InfluxClient {
    /// A client for `target`; checks that the API's required settings are there.
    pub fn new(target: InfluxTarget) -> Result<Self, InfluxError> {
        let base =
            reqwest::Url::parse(&target.url).map_err(|e| InfluxError::Config(format!("url {:?}: {e}", target.url)))?;
        let need = |value: &str, what: &str| {
            if value.is_empty() {
                Err(InfluxError::Config(format!("api {:?} needs {what}", target.api)))
            } else {
                Ok(())
            }
        };
        let (path, query): (&str, Vec<(&str, &str)>) = match target.api {
            InfluxApi::V1 => {
                need(&target.database, "database")?;
                ("write", vec![("db", &target.database), ("precision", "ns")])
            }
            InfluxApi::V2 => {
                need(&target.org, "org")?;
                need(&target.bucket, "bucket")?;
                ("api/v2/write", vec![("org", &target.org), ("bucket", &target.bucket), ("precision", "ns")])
            }
            InfluxApi::V3 => {
                need(&target.database, "database")?;
                ("api/v3/write_lp", vec![("db", &target.database), ("precision", "nanosecond")])
            }
        };
        let mut write_url = base.join(path).map_err(|e| InfluxError::Config(format!("url: {e}")))?;
        write_url.query_pairs_mut().extend_pairs(query);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { http, target, write_url, gzip: true })
    }

    /// Whether bodies are gzip-compressed (on by default: line protocol shrinks about tenfold;
    /// off saves CPU when InfluxDB runs on the same machine).
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// The write endpoint, with its query string.
    pub fn write_url(&self) -> &reqwest::Url {
        &self.write_url
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.target.token, self.target.api) {
            (Some(token), InfluxApi::V2) => request.header("Authorization", format!("Token {token}")),
            (Some(token), _) => request.header("Authorization", format!("Bearer {token}")),
            (None, _) => request,
        }
    }

    /// Creates the database if the API has databases to create (v1; idempotent).
    pub async fn ensure_database(&self) -> Result<(), InfluxError> {
        if self.target.api != InfluxApi::V1 {
            return Ok(());
        }
        let mut url = self.write_url.join("query").map_err(|e| InfluxError::Config(format!("url: {e}")))?;
        url.set_query(None);
        let name = self.target.database.replace('\\', "\\\\").replace('"', "\\\"");
        let statement = format!("CREATE DATABASE \"{name}\"");
        let response = self.authorized(self.http.post(url)).form(&[("q", statement)]).send().await?;
        check(response).await
    }

    /// Posts `lines` (line protocol, newline-terminated), gzip-compressed unless turned off.
    pub async fn write(&self, lines: &str) -> Result<(), InfluxError> {
        let request = self.http.post(self.write_url.clone()).header("Content-Type", "text/plain; charset=utf-8");
        let request = if self.gzip {
            let mut gzip = GzEncoder::new(Vec::with_capacity(lines.len() / 4), flate2::Compression::fast());
            gzip.write_all(lines.as_bytes()).map_err(|e| InfluxError::Config(format!("gzip: {e}")))?;
            let body = gzip.finish().map_err(|e| InfluxError::Config(format!("gzip: {e}")))?;
            request.header("Content-Encoding", "gzip").body(body)
        } else {
            request.body(lines.to_owned())
        };
        let response = self.authorized(request).send().await?;
        check(response).await
    }
}

async fn check(response: reqwest::Response) -> Result<(), InfluxError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(InfluxError::Status { status: status.as_u16(), body: body.chars().take(500).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(api: InfluxApi) -> InfluxTarget {
        InfluxTarget {
            url: "http://127.0.0.1:8086".into(),
            api,
            database: "footfall".into(),
            org: "acme".into(),
            bucket: "web events".into(),
            token: Some("t0k".into()),
        }
    }

    #[test]
    fn each_api_has_its_write_endpoint() {
        let url = |api| InfluxClient::new(target(api)).expect("client").write_url().to_string();
        assert_eq!(url(InfluxApi::V1), "http://127.0.0.1:8086/write?db=footfall&precision=ns");
        assert_eq!(url(InfluxApi::V2), "http://127.0.0.1:8086/api/v2/write?org=acme&bucket=web+events&precision=ns");
        assert_eq!(url(InfluxApi::V3), "http://127.0.0.1:8086/api/v3/write_lp?db=footfall&precision=nanosecond");
        let no_bucket = InfluxTarget { bucket: String::new(), ..target(InfluxApi::V2) };
        let err = InfluxClient::new(no_bucket).expect_err("v2 needs a bucket");
        assert!(err.to_string().contains("bucket"), "{err}");
        assert!(InfluxClient::new(InfluxTarget { url: "not a url".into(), ..target(InfluxApi::V1) }).is_err());
    }
}
