//! The blob store: files under the data dir by default, an S3-compatible bucket when scaled out.
//! Both behind `object_store`, chosen by URL.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

/// A configured blob store and the prefix all of Proem's objects live under.
#[derive(Clone)]
pub struct Blobs {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blobs({}, prefix {})", self.store, self.prefix)
    }
}

impl Blobs {
    /// Opens `file:///abs/dir` (created if missing) or `s3://bucket/prefix`; S3 credentials,
    /// region and endpoint come from the usual `AWS_*` environment variables.
    pub fn open(url: &str) -> Result<Self, String> {
        if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create blob dir {dir}: {e}"))?;
            let store = LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| format!("blob dir {dir}: {e}"))?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::default(),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("blob url {url}: no bucket"));
            }
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_allow_http(true)
                .build()
                .map_err(|e| format!("blob url {url}: {e}"))?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::from(prefix),
            });
        }
        Err(format!(
            "blob url `{url}` is neither file:///path nor s3://bucket/prefix"
        ))
    }
}
