//! The store and its cache against a fake object store (in memory, which can be taken down or
//! made to truncate downloads). The integration tests use a real S3 server instead.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::{
    GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};

use super::*;

/// An in-memory store that can be "down" (every call fails as a network error would) and
/// can truncate the next downloads.
#[derive(Debug, Default)]
struct Fake {
    objects: InMemory,
    down: AtomicBool,
    truncate: AtomicUsize,
    gets: AtomicUsize,
}

impl std::fmt::Display for Fake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fake")
    }
}

impl Fake {
    fn check(&self) -> object_store::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(object_store::Error::Generic { store: "Fake", source: "connection refused".into() });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for Fake {
    async fn put_opts(&self, location: &Key, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        self.check()?;
        self.objects.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Key,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check()?;
        self.objects.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Key, options: GetOptions) -> object_store::Result<GetResult> {
        self.check()?;
        if options.head {
            return self.objects.get_opts(location, options).await;
        }
        self.gets.fetch_add(1, Ordering::SeqCst);
        let got = self.objects.get_opts(location, options).await?;
        let truncate = self.truncate.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if !truncate {
            return Ok(got);
        }
        let (meta, attributes) = (got.meta.clone(), got.attributes.clone());
        let bytes = got.bytes().await?;
        let half = bytes.slice(..bytes.len() / 2);
        let range = 0..half.len() as u64;
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures_util::stream::once(async move { Ok(half) }).boxed()),
            meta,
            range,
            attributes,
        })
    }

    async fn delete(&self, location: &Key) -> object_store::Result<()> {
        self.check()?;
        self.objects.delete(location).await
    }

    fn list(&self, prefix: Option<&Key>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if let Err(e) = self.check() {
            return futures_util::stream::once(async move { Err(e) }).boxed();
        }
        self.objects.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Key>) -> object_store::Result<ListResult> {
        self.check()?;
        self.objects.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &Key, to: &Key) -> object_store::Result<()> {
        self.check()?;
        self.objects.copy(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &Key, to: &Key) -> object_store::Result<()> {
        self.check()?;
        self.objects.copy_if_not_exists(from, to).await
    }
}

fn fake_store(cache_dir: Option<&std::path::Path>) -> (ArtifactStore, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let location = Location {
        kind: StoreKind::S3,
        shown: "s3://models/prod".into(),
        store: Arc::clone(&fake) as Arc<dyn ObjectStore>,
        prefix: Key::from("prod"),
        local_root: None,
    };
    let cache = cache_dir.map(|d| Cache::open(d).expect("cache"));
    (ArtifactStore::at(location, cache), fake)
}

const MODEL: &[u8] = b"an onnx model, or so we pretend";

#[tokio::test]
async fn a_cached_artifact_is_served_while_the_store_is_down_and_an_uncached_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, fake) = fake_store(Some(dir.path()));
    let sha = store.put(Bytes::from_static(MODEL)).await.expect("put");
    assert_eq!(sha, sha256_hex(MODEL));
    let key = Key::from(format!("prod/sha256/{}/{sha}", &sha[..2]));
    assert_eq!(fake.objects.head(&key).await.expect("the object is in the store").size, MODEL.len() as u64);
    assert!(store.is_cached(&sha).await, "the uploading node caches what it uploaded");

    fake.down.store(true, Ordering::SeqCst);
    assert_eq!(store.fetch(&sha).await.expect("from the cache"), MODEL);
    assert_eq!(fake.gets.load(Ordering::SeqCst), 0, "a cache hit does not contact the store");

    let other = sha256_hex(b"never cached");
    let e = store.fetch(&other).await.expect_err("down");
    assert_eq!(
        e.problem,
        ArtifactProblem::Unreachable { reason: "cannot be reached or answered with an error".into() }
    );
    let e = Error::from(e.about("version v3 of 'iris'"));
    assert_eq!(e.code(), crate::error::ErrorCode::ArtifactStoreUnavailable);
    let text = e.public_message();
    assert!(text.contains("s3://models/prod") && text.contains("version v3 of 'iris'"), "{text}");
    assert!(!text.contains("connection refused"), "the store's own error is logged, not shown: {text}");

    // An upload while the store is down stores nothing and says so.
    let e = store.put(Bytes::from_static(b"new model")).await.expect_err("down");
    assert!(e.to_string().contains("could not be stored"), "{e}");
}

#[tokio::test]
async fn a_truncated_download_is_fetched_again_and_a_corrupt_object_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (uploader, fake) = fake_store(None);
    let sha = uploader.put(Bytes::from_static(MODEL)).await.expect("put");
    // A node with an empty cache over the same store.
    let node = ArtifactStore::at(
        Location {
            kind: StoreKind::S3,
            shown: "s3://models/prod".into(),
            store: Arc::clone(&fake) as Arc<dyn ObjectStore>,
            prefix: Key::from("prod"),
            local_root: None,
        },
        Some(Cache::open(dir.path()).expect("cache")),
    );
    fake.truncate.store(1, Ordering::SeqCst);
    assert_eq!(node.fetch(&sha).await.expect("second try is whole"), MODEL);
    assert_eq!(fake.gets.load(Ordering::SeqCst), 2);
    assert!(node.is_cached(&sha).await);

    // Truncated every time: refused, never cached.
    let (_, sha2) = (uploader.put(Bytes::from_static(b"another model")).await, sha256_hex(b"another model"));
    fake.truncate.store(usize::MAX, Ordering::SeqCst);
    let e = node.fetch(&sha2).await.expect_err("corrupt");
    assert!(matches!(e.problem, ArtifactProblem::Corrupt { .. }), "{e:?}");
    assert!(!node.is_cached(&sha2).await);
    fake.truncate.store(0, Ordering::SeqCst);

    // Other bytes under the key: a hash mismatch, named; the cached copy still serves.
    let key = Key::from(format!("prod/sha256/{}/{sha}", &sha[..2]));
    fake.objects.put(&key, PutPayload::from_static(b"other bytes")).await.expect("overwrite");
    assert_eq!(node.fetch(&sha).await.expect("cache"), MODEL);
    let fresh_dir = tempfile::tempdir().expect("tempdir");
    let (fresh, _) = (
        ArtifactStore::at(
            Location {
                kind: StoreKind::S3,
                shown: "s3://models/prod".into(),
                store: Arc::clone(&fake) as Arc<dyn ObjectStore>,
                prefix: Key::from("prod"),
                local_root: None,
            },
            Some(Cache::open(fresh_dir.path()).expect("cache")),
        ),
        (),
    );
    let e = fresh.fetch(&sha).await.expect_err("mismatch");
    assert_eq!(e.problem, ArtifactProblem::Corrupt { actual: sha256_hex(b"other bytes") });
    let e = Error::from(e.about("version v2 of 'iris'"));
    assert_eq!(e.code(), crate::error::ErrorCode::ArtifactCorrupt);
    assert!(e.to_string().starts_with("hash mismatch"), "{e}");
    assert!(!fresh.is_cached(&sha).await, "a corrupt download is never cached");

    // A re-upload of the same bytes repairs the object.
    uploader.put(Bytes::from_static(MODEL)).await.expect("repair");
    assert_eq!(fresh.fetch(&sha).await.expect("repaired"), MODEL);

    // A damaged cache copy is replaced from the store.
    std::fs::write(dir.path().join(&sha), b"rot").expect("damage the cache");
    assert_eq!(node.fetch(&sha).await.expect("fetched again"), MODEL);
    assert_eq!(std::fs::read(dir.path().join(&sha)).expect("cached"), MODEL);
}

#[tokio::test]
async fn a_missing_object_is_named_as_missing() {
    let (store, _) = fake_store(None);
    let e = store.fetch(&sha256_hex(b"gone")).await.expect_err("missing");
    assert_eq!(e.problem, ArtifactProblem::Missing);
    assert_eq!(Error::from(e).code(), crate::error::ErrorCode::ArtifactMissing);
}

#[tokio::test]
async fn gc_lists_only_unreferenced_objects_and_deletes_only_expired_ones() {
    let (store, fake) = fake_store(None);
    let kept = store.put(Bytes::from_static(b"kept")).await.expect("put");
    let orphan = store.put(Bytes::from_static(b"orphan")).await.expect("put");
    // Something under the prefix that is not an artifact is left alone.
    fake.objects.put(&Key::from("prod/sha256/notes.txt"), PutPayload::from_static(b"x")).await.expect("put");
    let referenced = || async { Ok([kept.clone()].into_iter().collect::<HashSet<_>>()) };
    // object_store's in-memory store stamps each object with the wall clock, so gc's idea of
    // now must be that clock here (the engine passes its own clock; the real stores stamp
    // objects with theirs).
    let now = Utc::now;

    let dry = gc::collect(&store, referenced, now, Duration::ZERO, true).await.expect("dry run");
    assert_eq!(dry.referenced, 1);
    assert_eq!(dry.unreferenced.iter().map(|u| u.sha256.as_str()).collect::<Vec<_>>(), [orphan.as_str()]);
    assert!(dry.unreferenced[0].expired && !dry.unreferenced[0].deleted);
    assert_eq!(store.list().await.expect("list").len(), 2, "a dry run deletes nothing");

    let young = gc::collect(&store, referenced, now, Duration::from_secs(3600), false).await.expect("gc");
    assert_eq!(young.deleted(), 0, "within the grace period");

    let run = gc::collect(&store, referenced, now, Duration::ZERO, false).await.expect("gc");
    assert_eq!(run.deleted(), 1);
    let left: Vec<String> = store.list().await.expect("list").into_iter().map(|a| a.sha256).collect();
    assert_eq!(left, std::slice::from_ref(&kept));
    assert!(fake.objects.head(&Key::from("prod/sha256/notes.txt")).await.is_ok());

    fake.down.store(true, Ordering::SeqCst);
    let e = gc::collect(&store, referenced, now, Duration::ZERO, false).await.expect_err("down");
    assert_eq!(e.code(), crate::error::ErrorCode::ArtifactStoreUnavailable);
    assert!(e.to_string().contains("garbage collection stopped"), "{e}");
}

#[tokio::test]
async fn migrate_copies_verifies_and_resumes() {
    let (from, _) = fake_store(None);
    let (to, target) = fake_store(None);
    let a = from.put(Bytes::from_static(b"model a")).await.expect("put");
    let b = from.put(Bytes::from_static(b"model b")).await.expect("put");
    let wanted = vec![
        migrate::Wanted { sha256: a.clone(), versions: vec!["iris v1".into()] },
        migrate::Wanted { sha256: b.clone(), versions: vec!["iris v2".into(), "wine v1".into()] },
    ];
    // The target already holds b, damaged.
    let key_b = Key::from(format!("prod/sha256/{}/{b}", &b[..2]));
    target.objects.put(&key_b, PutPayload::from_static(b"rot")).await.expect("put");
    let mut seen = Vec::new();
    let steps = migrate::migrate(&from, &to, &wanted, |s| seen.push((s.index, s.total))).await.expect("migrate");
    assert_eq!(seen, [(1, 2), (2, 2)]);
    let outcomes: Vec<migrate::Outcome> = steps.iter().map(|s| s.outcome).collect();
    assert_eq!(outcomes, [migrate::Outcome::Copied, migrate::Outcome::Repaired]);
    assert_eq!(to.download(&a).await.expect("a"), &b"model a"[..]);
    assert_eq!(to.download(&b).await.expect("b"), &b"model b"[..]);

    let again = migrate::migrate(&from, &to, &wanted, |_| {}).await.expect("again");
    assert!(again.iter().all(|s| s.outcome == migrate::Outcome::AlreadyThere));

    target.down.store(true, Ordering::SeqCst);
    let e = migrate::migrate(&from, &to, &wanted, |_| {}).await.expect_err("target down");
    assert!(e.to_string().contains("could not be copied") && e.to_string().contains("iris v1"), "{e}");
}

#[tokio::test]
async fn the_data_dir_store_keeps_today_s_layout_and_is_fsynced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ArtifactStore::open(None, dir.path()).expect("open");
    let sha = store.put(Bytes::from_static(b"hello")).await.expect("put");
    assert_eq!(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    let path = dir.path().join("artifacts/sha256/2c").join(&sha);
    assert_eq!(store.local_path(&sha).as_deref(), Some(path.as_path()));
    assert_eq!(std::fs::read(&path).expect("file"), b"hello");
    assert_eq!(store.fetch(&sha).await.expect("get"), &b"hello"[..]);
    assert!(!dir.path().join("cache").exists(), "the data dir store needs no cache");
    let info = store.info();
    assert_eq!(
        (info.kind, info.location.as_str(), info.shared, info.cache),
        (StoreKind::DataDir, "data dir", false, None)
    );

    std::fs::write(&path, b"hellO").expect("corrupt");
    let e = store.fetch(&sha).await.expect_err("corrupt");
    assert!(e.to_string().contains("hash mismatch") && e.to_string().contains("data dir"), "{e}");
    store.put(Bytes::from_static(b"hello")).await.expect("a second put repairs it");
    assert_eq!(store.fetch(&sha).await.expect("get"), &b"hello"[..]);
    // No temporary files are left beside it.
    let names: Vec<String> = std::fs::read_dir(path.parent().expect("dir"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, std::slice::from_ref(&sha));
    assert_eq!(store.list().await.expect("list").iter().map(|a| a.sha256.clone()).collect::<Vec<_>>(), [sha]);
}
