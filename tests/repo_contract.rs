//! The repository contract: what any `Repo` implementation must do, checked
//! the same way on every engine.
//!
//! Each check is an `async fn(Arc<dyn Repo>)` run on a fresh database of
//! every engine: SQLite always (a temp file), and the engine named by
//! `SCOOT_TEST_DATABASE_URL` when it is set. A named engine that cannot be
//! opened fails the test; it is never skipped.

use std::sync::Arc;

use scoot::db::{DbError, Notice, Release, Released, Repo, Reserve};
use scoot::domain::{
    AlbumId, ContentHash, ImageFormat, Millis, PhotoId, PhotoStatus, ShotFacts, Visibility,
};
use scoot::model::{
    AlbumEdit, Cursor, Inserted, NewAlbum, NewPhoto, Photo, TokenKind, User, Variant,
};
use scoot::timeline::PhotoOrder;

#[path = "contract/people.rs"]
mod people;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "contract/trash.rs"]
mod trash;

use people::people_keep_an_admin_and_come_back_whole;
use trash::the_trash_hides_lists_restores_and_comes_due;

/// A database of one engine, and what must outlive it.
struct Engine {
    name: String,
    repo: Arc<dyn Repo>,
    _dir: Option<tempfile::TempDir>,
    /// A database made for this check: the server's URL and its name.
    made: Option<(String, String)>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.made {
            postgres::drop_database(server, name);
        }
    }
}

/// A fresh database of every engine: SQLite in a temp dir, and a new
/// database on the server `SCOOT_TEST_DATABASE_URL` names, if it does.
async fn engines() -> Vec<Engine> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("contract.db").display());
    let mut engines = vec![Engine {
        name: "sqlite".into(),
        repo: scoot::db::open(&url).await.expect("SQLite opens"),
        _dir: Some(dir),
        made: None,
    }];
    if let Ok(server) = std::env::var("SCOOT_TEST_DATABASE_URL") {
        let name = format!("scoot_c_{}", scoot::domain::random_hex(8));
        let url = postgres::fresh_database(&server, &name);
        let repo = scoot::db::open(&url)
            .await
            .unwrap_or_else(|e| panic!("SCOOT_TEST_DATABASE_URL={server} is named but: {e}"));
        engines.push(Engine {
            name: url,
            repo,
            _dir: None,
            made: Some((server, name)),
        });
    }
    engines
}

/// One `#[tokio::test]` per check, running it on every engine.
macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod on_every_engine {
            $(
                #[tokio::test]
                async fn $check() {
                    for engine in super::engines().await {
                        eprintln!("{}: {}", stringify!($check), engine.name);
                        super::$check(engine.repo.clone()).await;
                    }
                }
            )*
        }
    };
}

contract!(
    users_and_tokens,
    keyset_pagination_is_newest_first_and_complete,
    visibility_filters_lists_and_neighbours,
    uploads_are_unique_per_owner,
    failed_duplicates_are_queued_again,
    edits_and_share_links,
    jobs_claim_lease_retry_and_requeue,
    leases_are_renewed_by_their_holder,
    concurrent_claims_never_share_a_job,
    the_data_version_moves_on_and_is_announced,
    completing_a_job_makes_the_photo_ready,
    a_render_finishing_while_its_photo_is_deleted,
    albums_keep_order_and_covers,
    deleting_cascades,
    blobs_are_released_by_their_last_user,
    storage_counts_shared_blobs_once,
    check_reads_shards_and_mends_the_queue,
    the_trash_hides_lists_restores_and_comes_due,
    people_keep_an_admin_and_come_back_whole,
);

const T0: Millis = 1_800_000_000_000;
/// The node that claims jobs, where a check has only one.
const NODE: &str = "node-a";

async fn user(repo: &dyn Repo, name: &str) -> User {
    repo.create_user(name, Some("not-a-real-hash"), false, false)
        .await
        .unwrap()
        .unwrap()
}

fn new_photo(owner: &User, seed: &str, visibility: Visibility) -> NewPhoto {
    NewPhoto {
        id: PhotoId::generate(),
        owner: owner.id.clone(),
        hash: ContentHash::of(seed.as_bytes()),
        format: ImageFormat::Jpeg,
        byte_size: 1000,
        width: 40,
        height: 30,
        title: format!("photo {seed}"),
        caption: String::new(),
        filename: format!("{seed}.jpg"),
        visibility,
        shot: ShotFacts::default(),
    }
}

/// Records `photo` the way an upload does: reserve, then insert, at `at`.
async fn insert(repo: &dyn Repo, photo: NewPhoto, at: Millis) -> Inserted {
    let Reserve::Reserved(r) = repo
        .reserve_blob(&photo.hash, photo.format, at)
        .await
        .unwrap()
    else {
        panic!("nothing is deleting these bytes");
    };
    repo.insert_photo(photo, &r.id, at)
        .await
        .unwrap()
        .expect("the reservation holds")
}

async fn add(
    repo: &dyn Repo,
    owner: &User,
    seed: &str,
    visibility: Visibility,
    at: Millis,
) -> Photo {
    match insert(repo, new_photo(owner, seed, visibility), at).await {
        Inserted::New(p) => p,
        Inserted::Duplicate(_) => panic!("{seed} is new"),
    }
}

fn ids(photos: &[Photo]) -> Vec<PhotoId> {
    photos.iter().map(|p| p.id.clone()).collect()
}

async fn users_and_tokens(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    assert_eq!(repo.user_count().await.unwrap(), 0);
    // Setup links: any node's is known until they are cleared.
    repo.add_setup_token("link-a", T0).await.unwrap();
    repo.add_setup_token("link-b", T0 + 1).await.unwrap();
    assert!(repo.setup_token_known("link-a").await.unwrap());
    assert!(repo.setup_token_known("link-b").await.unwrap());
    assert!(!repo.setup_token_known("link-c").await.unwrap());
    repo.clear_setup_tokens().await.unwrap();
    assert!(!repo.setup_token_known("link-a").await.unwrap());

    let first = repo
        .create_user("ann", Some("h1"), true, true)
        .await
        .unwrap();
    assert!(first.is_some(), "the first user may be created as first");
    assert!(
        repo.create_user("bo", Some("h2"), true, true)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        repo.create_user("ann", Some("h3"), false, false).await,
        Err(DbError::Conflict(_))
    ));
    let bo = user(repo, "bo").await;
    assert_eq!(repo.user_count().await.unwrap(), 2);
    let (found, hash) = repo.user_by_name("ann").await.unwrap().unwrap();
    assert_eq!(
        (found.name.as_str(), found.is_admin, hash.as_str()),
        ("ann", true, "h1")
    );
    assert!(repo.user_by_name("nobody").await.unwrap().is_none());
    assert_eq!(repo.first_admin().await.unwrap().unwrap().name, "ann");

    repo.insert_token("s1", &bo.id, TokenKind::Session, "browser", Some(T0 + 10))
        .await
        .unwrap();
    repo.insert_token("a1", &bo.id, TokenKind::Api, "cli", None)
        .await
        .unwrap();
    let session = |t, now| repo.user_by_token(t, TokenKind::Session, now);
    let holder = session("s1", T0).await.unwrap().unwrap();
    assert_eq!((holder.user.id, holder.last_used_at), (bo.id.clone(), None));
    repo.mark_token_used("s1", T0 + 5).await.unwrap();
    assert_eq!(
        session("s1", T0).await.unwrap().unwrap().last_used_at,
        Some(T0 + 5)
    );
    assert!(session("s1", T0 + 10).await.unwrap().is_none(), "expired");
    assert!(
        session("a1", T0).await.unwrap().is_none(),
        "an API token is no session"
    );
    assert!(
        repo.user_by_token("a1", TokenKind::Api, i64::MAX)
            .await
            .unwrap()
            .is_some()
    );
    repo.delete_token("a1").await.unwrap();
    assert!(
        repo.user_by_token("a1", TokenKind::Api, T0)
            .await
            .unwrap()
            .is_none()
    );

    // Listing and revoking API tokens, by the first digits of their hash.
    let ann = repo.user_by_name("ann").await.unwrap().unwrap().0;
    for (hash, owner, expires) in [
        ("abcdef000001aaaa", &ann.id, None),
        ("abcdef000002bbbb", &bo.id, Some(T0 + 20)),
        ("abcdef000002cccc", &bo.id, None),
    ] {
        repo.insert_token(hash, owner, TokenKind::Api, "label", expires)
            .await
            .unwrap();
    }
    let listed = repo.api_tokens(Some(&bo.id)).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        ["abcdef000002", "abcdef000002"],
        "bo's only, no sessions"
    );
    assert!(listed.iter().all(|t| t.owner == "bo" && t.label == "label"));
    assert_eq!(repo.api_tokens(None).await.unwrap().len(), 3);
    assert_eq!(
        repo.revoke_api_token("abcdef000002", None).await.unwrap(),
        0,
        "an id that names two tokens revokes neither"
    );
    assert_eq!(
        repo.revoke_api_token("abcdef000001", Some(&bo.id))
            .await
            .unwrap(),
        0,
        "not bo's"
    );
    assert_eq!(
        repo.revoke_api_token("abcdef000001", Some(&ann.id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        repo.revoke_api_token("abcdef000002c", None).await.unwrap(),
        1
    );
    assert!(
        repo.user_by_token("abcdef000001aaaa", TokenKind::Api, T0)
            .await
            .unwrap()
            .is_none()
    );

    // Expired sessions and tokens are purged; live ones stay.
    assert_eq!(repo.purge_expired_tokens(T0 + 20).await.unwrap(), 2);
    assert!(session("s1", T0).await.unwrap().is_none());
    assert_eq!(repo.api_tokens(None).await.unwrap().len(), 0);
    assert_eq!(repo.purge_expired_tokens(T0 + 20).await.unwrap(), 0);
}

async fn keyset_pagination_is_newest_first_and_complete(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let ann = user(repo, "ann").await;
    let mut photos = Vec::new();
    for n in 0..23 {
        // Every third shares its timestamp with the one before: ids break ties.
        let at = T0 + (n - n % 3 / 2) as Millis * 1000;
        let mut new = new_photo(&ann, &format!("p{n}"), Visibility::Public);
        // Some were taken long before they were uploaded, out of order, and
        // one before 1970 (a negative date); the rest are dated by upload.
        if n % 4 == 1 {
            let year = 1960 + (n * 7) % 40;
            new.shot.taken_at = Some(format!("{year}-0{}-1{} 08:30:00", 1 + n % 9, n % 10));
        }
        match insert(repo, new, at).await {
            Inserted::New(p) => photos.push(p),
            Inserted::Duplicate(_) => panic!("p{n} is new"),
        }
    }

    for order in [PhotoOrder::Uploaded, PhotoOrder::Newest, PhotoOrder::Oldest] {
        let mut expected = photos.clone();
        expected.sort_by_key(|p| (Cursor::after(p, order).at, p.id.clone()));
        if !order.ascending() {
            expected.reverse();
        }
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = repo
                .list_photos(5, cursor.as_ref(), None, order)
                .await
                .unwrap();
            assert!(page.len() <= 5);
            seen.extend(page.iter().cloned());
            match page.last() {
                Some(last) if page.len() == 5 => cursor = Some(Cursor::after(last, order)),
                _ => break,
            }
        }
        assert_eq!(ids(&seen), ids(&expected), "every photo once, {order:?}");
        let decoded = Cursor::decode(&Cursor::after(&expected[4], order).encode()).unwrap();
        let after = repo
            .list_photos(3, Some(&decoded), None, order)
            .await
            .unwrap();
        assert_eq!(ids(&after), ids(&expected[5..8]), "{order:?}");
    }

    // The photo page steps through the gallery's default order.
    let mut by_date = photos.clone();
    by_date.sort_by_key(|p| std::cmp::Reverse((p.dated_at(), p.id.clone())));
    let (newer, older) = repo.neighbours(&by_date[7].id, None).await.unwrap();
    assert_eq!(
        (newer, older),
        (Some(by_date[6].id.clone()), Some(by_date[8].id.clone()))
    );
}

async fn visibility_filters_lists_and_neighbours(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let (ann, bo) = (user(repo, "ann").await, user(repo, "bo").await);
    let public = add(repo, &ann, "pub", Visibility::Public, T0).await;
    let unlisted = add(repo, &ann, "unl", Visibility::Unlisted, T0 + 1).await;
    let private = add(repo, &ann, "pri", Visibility::Private, T0 + 2).await;
    let bos = add(repo, &bo, "bo", Visibility::Private, T0 + 3).await;
    assert!(unlisted.share_token.is_some(), "unlisted photos get a link");
    assert!(public.share_token.is_none() && private.share_token.is_none());

    let everyone = repo
        .list_photos(10, None, None, PhotoOrder::Newest)
        .await
        .unwrap();
    assert_eq!(ids(&everyone), std::slice::from_ref(&public.id));
    let anns = repo
        .list_photos(10, None, Some(&ann.id), PhotoOrder::Newest)
        .await
        .unwrap();
    assert_eq!(
        ids(&anns),
        [private.id.clone(), unlisted.id.clone(), public.id.clone()]
    );
    let bos_view = repo
        .list_photos(10, None, Some(&bo.id), PhotoOrder::Newest)
        .await
        .unwrap();
    assert_eq!(ids(&bos_view), [bos.id.clone(), public.id.clone()]);

    let (newer, older) = repo.neighbours(&unlisted.id, Some(&ann.id)).await.unwrap();
    assert_eq!(
        (newer, older),
        (Some(private.id.clone()), Some(public.id.clone()))
    );
    let (newer, older) = repo.neighbours(&public.id, None).await.unwrap();
    assert_eq!((newer, older), (None, None), "hidden photos are skipped");
    let (newer, _) = repo.neighbours(&public.id, Some(&bo.id)).await.unwrap();
    assert_eq!(newer, Some(bos.id.clone()));

    let token = unlisted.share_token.clone().unwrap();
    assert_eq!(
        repo.photo_by_share_token(&token).await.unwrap().unwrap().id,
        unlisted.id
    );
    assert!(repo.photo_by_share_token("nope").await.unwrap().is_none());
}

async fn uploads_are_unique_per_owner(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let (ann, bo) = (user(repo, "ann").await, user(repo, "bo").await);
    let first = add(repo, &ann, "same", Visibility::Public, T0).await;
    match insert(repo, new_photo(&ann, "same", Visibility::Public), T0 + 1).await {
        Inserted::Duplicate(p) => assert_eq!(p.id, first.id),
        Inserted::New(_) => panic!("the same owner's same bytes are one photo"),
    }
    let bos = add(repo, &bo, "same", Visibility::Public, T0 + 2).await;
    assert_ne!(
        bos.id, first.id,
        "another owner's copy is a photo of its own"
    );
    let found = repo
        .photo_by_hash(&ann.id, &first.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert_eq!(
        found.filename, "same.jpg",
        "the uploaded file's name is kept"
    );
    assert_eq!(repo.queue_depth().await.unwrap(), 2, "one job per photo");
}

async fn failed_duplicates_are_queued_again(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let ann = user(repo, "ann").await;
    let photo = add(repo, &ann, "f", Visibility::Public, T0).await;
    let job = repo
        .claim_jobs(10, T0, 60_000, NODE)
        .await
        .unwrap()
        .remove(0);
    repo.fail_job(&job.id, &photo.id, "broken", T0 + 1)
        .await
        .unwrap();
    let failed = repo.photo(&photo.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.error.as_deref()),
        (PhotoStatus::Failed, Some("broken"))
    );
    assert_eq!(repo.queue_depth().await.unwrap(), 0);
    assert_eq!(
        ids(&repo.recent_failures(5).await.unwrap()),
        std::slice::from_ref(&photo.id)
    );

    match insert(repo, new_photo(&ann, "f", Visibility::Public), T0 + 2).await {
        Inserted::Duplicate(p) => {
            assert_eq!(
                (p.id, p.status, p.error),
                (photo.id.clone(), PhotoStatus::Pending, None)
            );
        }
        Inserted::New(_) => panic!("a failed photo is retried, not copied"),
    }
    assert_eq!(repo.queue_depth().await.unwrap(), 1);
}

async fn edits_and_share_links(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let ann = user(repo, "ann").await;
    let photo = add(repo, &ann, "e", Visibility::Public, T0).await;
    let edit = |visibility, new_link| scoot::model::PhotoEdit {
        title: Some("Harbour".into()),
        caption: None,
        visibility,
        new_link,
    };
    let unlisted = repo
        .edit_photo(&photo.id, edit(Some(Visibility::Unlisted), false), T0 + 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (unlisted.title.as_str(), unlisted.updated_at),
        ("Harbour", T0 + 5)
    );
    assert_eq!(unlisted.caption, photo.caption, "None keeps the caption");
    let first_link = unlisted.share_token.clone().expect("unlisted has a link");
    let renewed = repo
        .edit_photo(&photo.id, edit(None, true), T0 + 6)
        .await
        .unwrap()
        .unwrap();
    let second_link = renewed.share_token.clone().unwrap();
    assert_ne!(first_link, second_link);
    assert!(
        repo.photo_by_share_token(&first_link)
            .await
            .unwrap()
            .is_none(),
        "revoked"
    );
    let private = repo
        .edit_photo(&photo.id, edit(Some(Visibility::Private), false), T0 + 7)
        .await
        .unwrap()
        .unwrap();
    assert!(private.share_token.is_none(), "private photos have no link");
    assert!(
        repo.edit_photo(&PhotoId::generate(), edit(None, false), T0)
            .await
            .unwrap()
            .is_none()
    );
}

async fn jobs_claim_lease_retry_and_requeue(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let ann = user(repo, "ann").await;
    let photo = add(repo, &ann, "j", Visibility::Public, T0).await;
    let lease = 60_000;
    let claimed = repo.claim_jobs(10, T0, lease, NODE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let job = &claimed[0];
    assert_eq!((&job.photo_id, job.attempts, job.width), (&photo.id, 1, 40));
    assert!(
        repo.claim_jobs(10, T0 + 1, lease, NODE)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let again = repo
        .claim_jobs(10, T0 + lease + 1, lease, NODE)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "an expired lease is claimed again");
    assert_eq!(again[0].attempts, 2);

    // A retry is the storage's failure, not the photo's: the attempt is
    // given back.
    repo.retry_job(&job.id, "store down", T0 + 500_000)
        .await
        .unwrap();
    assert!(
        repo.claim_jobs(10, T0 + 400_000, lease, NODE)
            .await
            .unwrap()
            .is_empty(),
        "not due"
    );
    let due = repo
        .claim_jobs(10, T0 + 500_000, lease, NODE)
        .await
        .unwrap();
    assert_eq!(due[0].attempts, 2, "the retried attempt is not counted");

    // A restart puts it back, due after its crash backoff: none after one
    // claim, then 30 s doubling (this is its second claim).
    assert_eq!(repo.requeue_running(T0 + 500_000).await.unwrap(), 1);
    let backoff = scoot::db::CRASH_BACKOFF_MS;
    assert!(
        repo.claim_jobs(10, T0 + 500_000 + backoff - 1, lease, NODE)
            .await
            .unwrap()
            .is_empty(),
        "waits out its backoff"
    );
    let third = repo
        .claim_jobs(10, T0 + 500_000 + backoff, lease, NODE)
        .await
        .unwrap();
    assert_eq!(third[0].attempts, 3);
    // A lease that ran out waits the same backoff, now doubled.
    let expired = T0 + 500_000 + backoff + lease;
    assert!(
        repo.claim_jobs(10, expired + 2 * backoff, lease, NODE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo.claim_jobs(10, expired + 2 * backoff + 1, lease, NODE)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(repo.queue_depth().await.unwrap(), 1);
}

async fn leases_are_renewed_by_their_holder(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let ann = user(repo, "ann").await;
    add(repo, &ann, "lease", Visibility::Public, T0).await;
    let lease = 60_000;
    let job = repo.claim_jobs(10, T0, lease, "a").await.unwrap().remove(0);
    let ids = [job.id.clone()];
    assert_eq!(
        repo.renew_leases(&ids, "a", T0 + 50_000, lease)
            .await
            .unwrap(),
        1
    );
    assert!(
        repo.claim_jobs(10, T0 + 70_000, lease, "b")
            .await
            .unwrap()
            .is_empty(),
        "renewed until T0 + 110 s"
    );
    assert_eq!(
        repo.renew_leases(&ids, "b", T0 + 80_000, lease)
            .await
            .unwrap(),
        0,
        "only the holder renews"
    );
    let taken = repo.claim_jobs(10, T0 + 111_000, lease, "b").await.unwrap();
    assert_eq!(taken.len(), 1, "a lease that ran out is anyone's");
    assert_eq!(taken[0].id, job.id);
    assert_eq!(
        repo.renew_leases(&ids, "a", T0 + 112_000, lease)
            .await
            .unwrap(),
        0,
        "the old holder no longer holds it"
    );
    assert_eq!(repo.renew_leases(&[], "b", T0, lease).await.unwrap(), 0);
}

async fn concurrent_claims_never_share_a_job(repo: Arc<dyn Repo>) {
    let ann = user(repo.as_ref(), "ann").await;
    for n in 0..24 {
        add(
            repo.as_ref(),
            &ann,
            &format!("c{n}"),
            Visibility::Public,
            T0 + n,
        )
        .await;
    }
    let claims = (0..4).map(|node| {
        let repo = repo.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = repo
                    .claim_jobs(2, T0 + 100, 60_000, &format!("node-{node}"))
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|j| j.id));
            }
        })
    });
    let mut all = Vec::new();
    for claim in claims {
        all.extend(claim.await.unwrap());
    }
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count, "a job was claimed twice");
    assert_eq!(count, 24, "every job was claimed");
}

async fn the_data_version_moves_on_and_is_announced(repo: Arc<dyn Repo>) {
    let mut notices = repo.listen();
    assert!(
        notices.is_some(),
        "every engine tells of changes made elsewhere"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut next = async || {
        let notices = notices.as_mut()?;
        let heard = tokio::time::timeout_at(deadline, notices.recv()).await;
        Some(heard.expect("a notice in time").unwrap())
    };
    // The listener says when it listens; what was sent before is missed.
    if repo.shared() {
        assert_eq!(next().await, Some(Notice::Resync));
    }
    let first = repo.announce("photo one", T0).await.unwrap();
    assert!(first >= T0);
    let second = repo.announce("photo two", T0).await.unwrap();
    assert_eq!(
        second,
        first + 1,
        "always past the last, even in the same ms"
    );
    assert_eq!(repo.data_version().await.unwrap(), second);
    if repo.shared() {
        for (version, change) in [(first, "photo one"), (second, "photo two")] {
            let change = change.to_owned();
            assert_eq!(next().await, Some(Notice::Change { version, change }));
        }
    } else {
        // An engine that cannot say what changed tells only of what another
        // process did: its own announcements are no news.
        let quiet = std::time::Duration::from_millis(2500);
        let heard = tokio::time::timeout(quiet, notices.as_mut().unwrap().recv()).await;
        assert!(heard.is_err(), "{heard:?}");
    }
}

async fn a_render_finishing_while_its_photo_is_deleted(repo: Arc<dyn Repo>) {
    let ann = user(repo.as_ref(), "ann").await;
    for n in 0..30 {
        let photo = add(
            repo.as_ref(),
            &ann,
            &format!("race{n}"),
            Visibility::Public,
            T0,
        )
        .await;
        let job = repo
            .claim_jobs(1, T0 + 1, 60_000, NODE)
            .await
            .unwrap()
            .remove(0);
        let (completed, deleted) = tokio::join!(
            repo.complete_job(&job.id, &photo.id, &[], None, T0 + 2),
            repo.delete_photo(&photo.id, T0 + 2),
        );
        // Either order is fine; neither may fail.
        completed.unwrap();
        assert!(deleted.unwrap().is_some());
        assert!(repo.photo(&photo.id).await.unwrap().is_none());
    }
    assert_eq!(repo.queue_depth().await.unwrap(), 0);
}

async fn completing_a_job_makes_the_photo_ready(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let ann = user(repo, "ann").await;
    let photo = add(repo, &ann, "c", Visibility::Public, T0).await;
    let job = repo
        .claim_jobs(1, T0, 60_000, NODE)
        .await
        .unwrap()
        .remove(0);
    let variant = |name: &str, width, format| Variant {
        name: name.into(),
        format,
        width,
        height: width * 3 / 4,
        byte_size: 100,
        key: format!("variants/{name}-{width}.{}", ImageFormat::extension(format)),
    };
    let variants = [
        variant("display", 1600, ImageFormat::Webp),
        variant("thumb", 400, ImageFormat::Jpeg),
        variant("display", 1600, ImageFormat::Jpeg),
    ];
    let done = repo
        .complete_job(&job.id, &photo.id, &variants, Some(&[1, 2, 3]), T0 + 9)
        .await
        .unwrap();
    assert!(done);
    let ready = repo.photo(&photo.id).await.unwrap().unwrap();
    assert_eq!(
        (ready.status, ready.updated_at),
        (PhotoStatus::Ready, T0 + 9)
    );
    assert_eq!(ready.thumbhash.as_deref(), Some(&[1u8, 2, 3][..]));
    let order: Vec<(u32, &str, ImageFormat)> = ready
        .variants
        .iter()
        .map(|v| (v.width, v.name.as_str(), v.format))
        .collect();
    assert_eq!(
        order,
        [
            (400, "thumb", ImageFormat::Jpeg),
            (1600, "display", ImageFormat::Jpeg),
            (1600, "display", ImageFormat::Webp)
        ],
        "smallest first, then by format: the same on every engine"
    );
    assert_eq!(repo.queue_depth().await.unwrap(), 0);
    let gone = repo
        .complete_job(&job.id, &photo.id, &variants, None, T0 + 10)
        .await
        .unwrap();
    assert!(!gone, "a finished job cannot complete twice");
}

async fn albums_keep_order_and_covers(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let (ann, bo) = (user(repo, "ann").await, user(repo, "bo").await);
    let a = add(repo, &ann, "a", Visibility::Public, T0).await;
    let b = add(repo, &ann, "b", Visibility::Private, T0 + 1).await;
    let c = add(repo, &ann, "c", Visibility::Unlisted, T0 + 2).await;
    let album = repo
        .create_album(
            NewAlbum {
                id: AlbumId::generate(),
                owner: ann.id.clone(),
                title: "Trip".into(),
                description: String::new(),
                visibility: Visibility::Public,
            },
            T0,
        )
        .await
        .unwrap();
    for p in [&c, &a, &b] {
        assert!(repo.add_to_album(&album.id, &p.id, T0 + 10).await.unwrap());
    }
    assert!(
        !repo.add_to_album(&album.id, &a.id, T0 + 11).await.unwrap(),
        "once"
    );
    let owners_view = repo.album_photos(&album.id, true).await.unwrap();
    assert_eq!(
        ids(&owners_view),
        [c.id.clone(), a.id.clone(), b.id.clone()],
        "in the order added"
    );
    let visitors_view = repo.album_photos(&album.id, false).await.unwrap();
    assert_eq!(
        ids(&visitors_view),
        [c.id.clone(), a.id.clone()],
        "private stays private"
    );

    let card = |cards: Vec<scoot::model::AlbumCard>| {
        cards.into_iter().find(|x| x.album.id == album.id).unwrap()
    };
    let seen_by_bo = card(repo.list_albums(Some(&bo.id)).await.unwrap());
    assert_eq!(
        (seen_by_bo.photos, seen_by_bo.cover.clone()),
        (2, Some(c.id.clone()))
    );
    let seen_by_ann = card(repo.list_albums(Some(&ann.id)).await.unwrap());
    assert_eq!(seen_by_ann.photos, 3);

    let set_cover = AlbumEdit {
        cover: Some(a.id.clone()),
        ..AlbumEdit::default()
    };
    let edited = repo
        .edit_album(&album.id, set_cover, T0 + 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edited.cover, Some(a.id.clone()));
    assert_eq!(
        card(repo.list_albums(None).await.unwrap()).cover,
        Some(a.id.clone())
    );
    let holding = repo.albums_with_photo(&a.id).await.unwrap();
    assert_eq!(holding, std::slice::from_ref(&album.id));

    assert!(
        repo.remove_from_album(&album.id, &a.id, T0 + 30)
            .await
            .unwrap()
    );
    assert!(
        !repo
            .remove_from_album(&album.id, &a.id, T0 + 31)
            .await
            .unwrap()
    );
    let after = repo.album(&album.id).await.unwrap().unwrap();
    assert_eq!(after.cover, None, "a removed cover is no cover");
    assert_eq!(
        card(repo.list_albums(None).await.unwrap()).cover,
        Some(c.id.clone())
    );
}

async fn deleting_cascades(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let ann = user(repo, "ann").await;
    let photo = add(repo, &ann, "d", Visibility::Public, T0).await;
    let keep = add(repo, &ann, "k", Visibility::Public, T0 + 1).await;
    let album = repo
        .create_album(
            NewAlbum {
                id: AlbumId::generate(),
                owner: ann.id.clone(),
                title: "Set".into(),
                description: String::new(),
                visibility: Visibility::Public,
            },
            T0,
        )
        .await
        .unwrap();
    repo.add_to_album(&album.id, &photo.id, T0).await.unwrap();
    repo.add_to_album(&album.id, &keep.id, T0).await.unwrap();
    let edit = AlbumEdit {
        cover: Some(photo.id.clone()),
        ..AlbumEdit::default()
    };
    repo.edit_album(&album.id, edit, T0).await.unwrap();

    let deleted = repo.delete_photo(&photo.id, T0 + 5).await.unwrap().unwrap();
    assert_eq!(deleted.photo.id, photo.id);
    assert!(repo.photo(&photo.id).await.unwrap().is_none());
    assert!(
        repo.delete_photo(&photo.id, T0 + 6)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(repo.queue_depth().await.unwrap(), 1, "its job went with it");
    assert_eq!(
        ids(&repo.album_photos(&album.id, true).await.unwrap()),
        std::slice::from_ref(&keep.id)
    );
    assert_eq!(repo.album(&album.id).await.unwrap().unwrap().cover, None);

    assert!(repo.delete_album(&album.id).await.unwrap());
    assert!(!repo.delete_album(&album.id).await.unwrap());
    assert!(
        repo.photo(&keep.id).await.unwrap().is_some(),
        "an album's photos stay"
    );
    assert!(repo.albums_with_photo(&keep.id).await.unwrap().is_empty());
}

async fn blobs_are_released_by_their_last_user(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let (ann, bo) = (user(repo, "ann").await, user(repo, "bo").await);
    let hash = ContentHash::of(b"shared");
    let Reserve::Reserved(r) = repo
        .reserve_blob(&hash, ImageFormat::Png, T0)
        .await
        .unwrap()
    else {
        panic!("new bytes");
    };
    assert!(!r.stored, "no photo proves these bytes are stored yet");
    let mut anns = new_photo(&ann, "shared", Visibility::Public);
    anns.format = ImageFormat::Png;
    let anns = repo.insert_photo(anns, &r.id, T0).await.unwrap().unwrap();
    let only = std::slice::from_ref(&hash);
    assert_eq!(
        repo.live_blobs(&[ContentHash::of(b"never stored"), hash.clone()])
            .await
            .unwrap(),
        only,
        "only blobs with a row are live"
    );
    assert!(
        repo.insert_photo(new_photo(&ann, "shared", Visibility::Public), &r.id, T0)
            .await
            .unwrap()
            .is_none(),
        "a reservation commits one photo"
    );

    // Bo's upload holds the blob while Ann deletes the only photo.
    let Reserve::Reserved(bos) = repo
        .reserve_blob(&hash, ImageFormat::Png, T0 + 1)
        .await
        .unwrap()
    else {
        panic!("in use, not deleting");
    };
    assert!(bos.stored, "Ann's photo proves the bytes");
    let deleted = repo
        .delete_photo(&anns.photo().id, T0 + 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted.released, None, "a reservation is a user");
    let mut bos_photo = new_photo(&bo, "shared", Visibility::Public);
    bos_photo.format = ImageFormat::Png;
    let bos_photo = repo
        .insert_photo(bos_photo, &bos.id, T0 + 3)
        .await
        .unwrap()
        .unwrap();

    // Bo's delete takes the last user: the blob is claimed, nothing may
    // reserve it until it is forgotten.
    let deleted = repo
        .delete_photo(&bos_photo.photo().id, T0 + 4)
        .await
        .unwrap()
        .unwrap();
    let released = deleted.released.expect("the last user");
    assert_eq!(
        released,
        Released {
            hash: hash.clone(),
            format: ImageFormat::Png,
            claimed_at: T0 + 4
        }
    );
    assert!(matches!(
        repo.reserve_blob(&hash, ImageFormat::Png, T0 + 5)
            .await
            .unwrap(),
        Reserve::Deleting
    ));
    assert_eq!(
        repo.release_blob(&hash, ImageFormat::Png, T0 + 5)
            .await
            .unwrap(),
        Release::Deleting
    );
    assert!(
        repo.live_blobs(only).await.unwrap().is_empty(),
        "blobs being deleted are not live"
    );
    repo.forget_blob(&released).await.unwrap();
    assert!(
        repo.live_blobs(only).await.unwrap().is_empty(),
        "nor are forgotten ones"
    );
    assert!(matches!(
        repo.reserve_blob(&hash, ImageFormat::Png, T0 + 6)
            .await
            .unwrap(),
        Reserve::Reserved(_)
    ));
    assert_eq!(
        repo.live_blobs(only).await.unwrap(),
        only,
        "reserved again: about to be used"
    );

    // An abandoned upload releases what nobody else uses; unknown bytes a
    // render left behind can be released too.
    let other = ContentHash::of(b"abandoned");
    let Reserve::Reserved(r) = repo
        .reserve_blob(&other, ImageFormat::Jpeg, T0)
        .await
        .unwrap()
    else {
        panic!("new bytes");
    };
    let released = repo.abandon_upload(&r.id, T0 + 7).await.unwrap().unwrap();
    assert_eq!(released.hash, other);
    let orphan = ContentHash::of(b"orphan variants");
    let released = repo
        .release_blob(&orphan, ImageFormat::Jpeg, T0 + 8)
        .await
        .unwrap();
    let Release::Claimed(released) = released else {
        panic!("nobody uses the orphan's blobs: {released:?}");
    };
    assert_eq!(released.hash, orphan);
    assert_eq!(
        repo.release_blob(&hash, ImageFormat::Png, T0 + 9)
            .await
            .unwrap(),
        Release::InUse,
        "the upload reserved at T0 + 6 uses them"
    );
}

async fn storage_counts_shared_blobs_once(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let (ann, bo) = (user(repo, "ann").await, user(repo, "bo").await);
    let used = || async { repo.storage_used().await.unwrap() };
    assert_eq!(used().await, 0);
    let ann_s = add(repo, &ann, "s", Visibility::Public, T0).await;
    let bo_s = add(repo, &bo, "s", Visibility::Public, T0 + 1).await;
    let bo_t = add(repo, &bo, "t", Visibility::Public, T0 + 2).await;
    assert_eq!(used().await, 2000, "two originals of 1000 bytes");

    // Renders: a variant key counts once, however many photos name it.
    let variant = |seed: &str, name: &str, bytes| Variant {
        name: name.into(),
        format: ImageFormat::Jpeg,
        width: 400,
        height: 300,
        byte_size: bytes,
        key: format!("variants/{}/{name}.jpg", ContentHash::of(seed.as_bytes())),
    };
    let s_sizes = [variant("s", "thumb", 100), variant("s", "display", 200)];
    let jobs = repo.claim_jobs(10, T0 + 3, 60_000, NODE).await.unwrap();
    let job_of = |photo: &Photo| {
        let job = jobs.iter().find(|j| j.photo_id == photo.id).unwrap();
        job.id.clone()
    };
    for (photo, sizes, total) in [
        (&ann_s, &s_sizes[..], 2300),
        (&bo_s, &s_sizes[..], 2300),
        (&bo_t, &[variant("t", "thumb", 50)][..], 2350),
    ] {
        let done = repo
            .complete_job(&job_of(photo), &photo.id, sizes, None, T0 + 4)
            .await
            .unwrap();
        assert!(done);
        assert_eq!(used().await, total, "after rendering {}", photo.title);
    }

    // Deletes: bytes go when their last user does, not before.
    let deleted = repo.delete_photo(&ann_s.id, T0 + 5).await.unwrap();
    assert!(deleted.unwrap().released.is_none());
    assert_eq!(used().await, 2350, "bo still uses s");
    let deleted = repo.delete_photo(&bo_s.id, T0 + 6).await.unwrap();
    let released = deleted.unwrap().released.expect("s is unused");
    assert_eq!(used().await, 1050, "t and its thumbnail are left");
    repo.forget_blob(&released).await.unwrap();
    assert_eq!(used().await, 1050);
    let released = repo.delete_photo(&bo_t.id, T0 + 7).await.unwrap();
    repo.forget_blob(&released.unwrap().released.unwrap())
        .await
        .unwrap();
    assert_eq!(used().await, 0);

    // A render that finishes after its photo was deleted counts nothing.
    let late = add(repo, &ann, "late", Visibility::Public, T0 + 8).await;
    let job = repo.claim_jobs(1, T0 + 9, 60_000, NODE).await.unwrap();
    repo.delete_photo(&late.id, T0 + 10).await.unwrap();
    let done = repo
        .complete_job(
            &job[0].id,
            &late.id,
            &[variant("late", "thumb", 7)],
            None,
            T0 + 11,
        )
        .await
        .unwrap();
    assert!(!done);
    assert_eq!(used().await, 0);
}

async fn check_reads_shards_and_mends_the_queue(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let ann = user(repo, "ann").await;
    let photo = add(repo, &ann, "shard", Visibility::Public, T0).await;
    let other = add(repo, &ann, "other", Visibility::Public, T0).await;
    let prefix = &photo.hash.as_str()[..2];
    let rows = repo.shard_rows(prefix).await.unwrap();
    assert!(rows.photos.iter().any(|p| p.id == photo.id));
    assert!(
        rows.photos
            .iter()
            .all(|p| p.hash.as_str().starts_with(prefix)),
        "only the shard's hashes"
    );
    let hold = rows.holds.iter().find(|h| h.hash == photo.hash).unwrap();
    assert!(!hold.reserved && hold.deleting_since.is_none());

    // A render claimed by a node that died: its lease ran out.
    let job = repo.claim_jobs(1, T0, 1000, NODE).await.unwrap().remove(0);
    let health = repo.queue_health(T0 + 2000).await.unwrap();
    assert_eq!(health.expired, std::slice::from_ref(&job.id));
    assert!(
        repo.queue_health(T0 + 500)
            .await
            .unwrap()
            .expired
            .is_empty()
    );
    assert_eq!(repo.requeue_expired(T0 + 2000).await.unwrap(), 1);
    assert!(
        repo.queue_health(T0 + 2000)
            .await
            .unwrap()
            .expired
            .is_empty()
    );
    assert!(
        !repo.queue_render(&photo.id, T0).await.unwrap(),
        "it has a job already"
    );

    // A variant went missing from a ready photo: render it again.
    let done = repo.claim_jobs(2, T0 + 1, 60_000, NODE).await.unwrap();
    for job in &done {
        assert!(
            repo.complete_job(&job.id, &job.photo_id, &[], None, T0 + 2)
                .await
                .unwrap()
        );
    }
    assert_eq!(repo.queue_depth().await.unwrap(), 0);
    assert!(repo.queue_render(&photo.id, T0 + 3).await.unwrap());
    assert_eq!(repo.queue_depth().await.unwrap(), 1);
    assert_eq!(
        repo.photo(&photo.id).await.unwrap().unwrap().status,
        PhotoStatus::Ready,
        "it stays shown while it renders again"
    );

    // An original went missing: the photo fails with the reason, once.
    assert!(repo.fail_photo(&photo.id, "gone", T0 + 4).await.unwrap());
    assert!(!repo.fail_photo(&photo.id, "gone", T0 + 5).await.unwrap());
    let failed = repo.photo(&photo.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.error.as_deref()),
        (PhotoStatus::Failed, Some("gone"))
    );
    assert_eq!(repo.queue_depth().await.unwrap(), 0, "its job went with it");
    assert!(
        !repo.queue_render(&photo.id, T0 + 6).await.unwrap(),
        "failed"
    );
    assert!(
        !repo
            .queue_render(&PhotoId::generate(), T0 + 6)
            .await
            .unwrap()
    );
    assert!(repo.queue_health(T0 + 6).await.unwrap().unqueued.is_empty());
    assert_eq!(
        repo.photo(&other.id).await.unwrap().unwrap().status,
        PhotoStatus::Ready
    );
    assert!(repo.integrity_problems().await.unwrap().is_empty());
}
