//! The trash, on every engine: what a photo in it is hidden from, the
//! owner's list of it, restoring, and what the sweep finds due.

use std::sync::Arc;

use scoot::db::Repo;
use scoot::domain::Visibility;
use scoot::model::{Cursor, NewAlbum};
use scoot::timeline::PhotoOrder;

use super::{T0, add, ids, user};

pub async fn the_trash_hides_lists_restores_and_comes_due(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let (ann, bo) = (user(repo, "ann").await, user(repo, "bo").await);
    let first = add(repo, &ann, "first", Visibility::Public, T0).await;
    let second = add(repo, &ann, "second", Visibility::Unlisted, T0 + 1).await;
    let third = add(repo, &ann, "third", Visibility::Public, T0 + 2).await;
    let bos = add(repo, &bo, "bos", Visibility::Public, T0 + 3).await;
    let album = repo
        .create_album(
            NewAlbum {
                id: scoot::domain::AlbumId::generate(),
                owner: ann.id.clone(),
                title: "Trip".into(),
                description: String::new(),
                visibility: Visibility::Public,
            },
            T0,
        )
        .await
        .unwrap();
    for p in [&first, &second, &third] {
        repo.add_to_album(&album.id, &p.id, T0).await.unwrap();
    }

    // Trashed at different times, the second twice: it keeps the first.
    let trashed = repo
        .trash_photo(&second.id, T0 + 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trashed.trashed_at, Some(T0 + 10));
    let again = repo
        .trash_photo(&second.id, T0 + 99)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.trashed_at, Some(T0 + 10));
    repo.trash_photo(&third.id, T0 + 20).await.unwrap();
    repo.trash_photo(&bos.id, T0 + 15).await.unwrap();
    assert!(
        repo.trash_photo(&scoot::domain::PhotoId::generate(), T0)
            .await
            .unwrap()
            .is_none()
    );

    // Hidden from every list, its owner's included; kept as a row.
    assert_eq!(
        ids(&repo
            .list_photos(10, None, None, PhotoOrder::Newest)
            .await
            .unwrap()),
        std::slice::from_ref(&first.id)
    );
    assert_eq!(
        ids(&repo
            .list_photos(10, None, Some(&ann.id), PhotoOrder::Newest)
            .await
            .unwrap()),
        std::slice::from_ref(&first.id)
    );
    assert_eq!(
        repo.neighbours(&first.id, Some(&ann.id)).await.unwrap(),
        (None, None)
    );
    assert_eq!(
        ids(&repo.album_photos(&album.id, true).await.unwrap()),
        std::slice::from_ref(&first.id)
    );
    let cards = repo.list_albums(Some(&ann.id)).await.unwrap();
    assert_eq!(cards[0].photos, 1, "{cards:?}");
    assert!(
        repo.photo(&second.id)
            .await
            .unwrap()
            .unwrap()
            .trashed_at
            .is_some()
    );

    // The owner's trash, the most recently trashed first, a page at a time.
    let page = repo.list_trash(&ann.id, 1, None).await.unwrap();
    assert_eq!(ids(&page), std::slice::from_ref(&third.id));
    let after = Cursor {
        at: page[0].trashed_at.unwrap(),
        id: page[0].id.clone(),
    };
    let rest = repo.list_trash(&ann.id, 10, Some(&after)).await.unwrap();
    assert_eq!(ids(&rest), std::slice::from_ref(&second.id));
    assert_eq!(
        ids(&repo.list_trash(&bo.id, 10, None).await.unwrap()),
        std::slice::from_ref(&bos.id)
    );

    // Due: trashed at or before the cutoff, oldest first.
    let due = repo.trash_due(T0 + 15, 10).await.unwrap();
    assert_eq!(due, [second.id.clone(), bos.id.clone()]);
    assert_eq!(
        repo.trash_due(T0 + 15, 1).await.unwrap(),
        std::slice::from_ref(&second.id)
    );
    assert!(repo.trash_due(T0 + 9, 10).await.unwrap().is_empty());

    // Restored: back in the lists and the album, with its link.
    let back = repo
        .restore_photo(&second.id, T0 + 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.trashed_at, None);
    assert_eq!(back.share_token, second.share_token);
    assert_eq!(
        ids(&repo.album_photos(&album.id, true).await.unwrap()),
        [first.id.clone(), second.id.clone()]
    );
    assert_eq!(
        ids(&repo.list_trash(&ann.id, 10, None).await.unwrap()),
        std::slice::from_ref(&third.id)
    );
    assert_eq!(
        repo.trash_due(T0 + 15, 10).await.unwrap(),
        std::slice::from_ref(&bos.id)
    );

    // Uploading the same bytes again takes a photo out of the trash.
    let dup = super::insert(
        repo,
        super::new_photo(&ann, "third", Visibility::Public),
        T0 + 40,
    )
    .await;
    let scoot::model::Inserted::Duplicate(dup) = dup else {
        panic!("the same bytes");
    };
    assert_eq!((dup.id.clone(), dup.trashed_at), (third.id.clone(), None));
    assert!(repo.list_trash(&ann.id, 10, None).await.unwrap().is_empty());
}
