//! People, on every engine: the list, the last administrator, passwords
//! and one-time links, and deleting, restoring and purging a user.

use std::sync::Arc;

use scoot::db::{Repo, Retired};
use scoot::domain::{PhotoId, Visibility};
use scoot::model::{NewAlbum, TokenKind};

use super::{T0, add, user};

pub async fn people_keep_an_admin_and_come_back_whole(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let admin = repo
        .create_user("ada", Some("h"), true, false)
        .await
        .unwrap()
        .unwrap();
    let bo = user(repo, "bo").await;
    let invited = repo
        .create_user("cy", None, false, false)
        .await
        .unwrap()
        .unwrap();

    // The list: by name, with what each holds.
    let kept = add(repo, &bo, "kept", Visibility::Public, T0).await;
    let thrown = add(repo, &bo, "thrown", Visibility::Public, T0 + 1).await;
    repo.trash_photo(&thrown.id, T0 + 2).await.unwrap();
    repo.record_login(&bo.id, T0 + 5).await.unwrap();
    let people = repo.people().await.unwrap();
    let names: Vec<&str> = people.iter().map(|p| p.user.name.as_str()).collect();
    assert_eq!(names, ["ada", "bo", "cy"]);
    let of = |name: &str| people.iter().find(|p| p.user.name == name).unwrap().clone();
    assert_eq!(
        (of("bo").photos, of("bo").bytes),
        (1, 1000),
        "outside the trash"
    );
    assert_eq!(of("bo").last_seen, Some(T0 + 5));
    assert!(of("bo").has_password && !of("cy").has_password);
    assert_eq!(
        repo.person(&invited.id).await.unwrap().unwrap().user,
        invited
    );
    // No password opens an account that has none.
    assert_eq!(repo.user_by_name("cy").await.unwrap().unwrap().1, "");

    // The last administrator stays one; another can take over.
    assert_eq!(
        repo.set_admin(&admin.id, false).await.unwrap(),
        Retired::LastAdmin
    );
    assert_eq!(
        repo.retire_user(&admin.id, T0).await.unwrap(),
        Retired::LastAdmin
    );
    assert_eq!(
        repo.set_admin(&bo.id, true).await.unwrap(),
        Retired::Done(())
    );
    assert_eq!(
        repo.set_admin(&admin.id, false).await.unwrap(),
        Retired::Done(())
    );
    assert_eq!(
        repo.set_admin(&bo.id, false).await.unwrap(),
        Retired::LastAdmin
    );
    assert_eq!(
        repo.set_admin(&admin.id, true).await.unwrap(),
        Retired::Done(())
    );
    assert_eq!(
        repo.set_admin(&bo.id, false).await.unwrap(),
        Retired::Done(())
    );
    assert_eq!(
        repo.set_admin(&scoot::domain::UserId::generate(), true)
            .await
            .unwrap(),
        Retired::NotFound
    );

    // A link works once, and setting a password ends sessions and links.
    let (link, other_link, session) = ("link-hash", "other-link-hash", "session-hash");
    let far = Some(T0 + 1_000_000);
    repo.insert_token(link, &invited.id, TokenKind::Password, "", far)
        .await
        .unwrap();
    repo.insert_token(other_link, &invited.id, TokenKind::Password, "", far)
        .await
        .unwrap();
    repo.insert_token(session, &invited.id, TokenKind::Session, "", far)
        .await
        .unwrap();
    assert!(
        repo.redeem_password_token(link, "new", T0 + 1_000_001)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    let redeemed = repo.redeem_password_token(link, "new", T0).await.unwrap();
    assert_eq!(redeemed, Some(invited.clone()));
    assert_eq!(repo.user_by_name("cy").await.unwrap().unwrap().1, "new");
    assert!(
        repo.redeem_password_token(link, "again", T0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo.redeem_password_token(other_link, "again", T0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo.user_by_token(session, TokenKind::Session, T0)
            .await
            .unwrap()
            .is_none()
    );
    // A session opens nothing as a link.
    repo.insert_token(session, &invited.id, TokenKind::Session, "", far)
        .await
        .unwrap();
    assert!(
        repo.redeem_password_token(session, "x", T0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(repo.set_password(&invited.id, None).await.unwrap());
    assert!(
        repo.user_by_token(session, TokenKind::Session, T0)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(repo.user_by_name("cy").await.unwrap().unwrap().1, "");

    // Deleting bo: tokens gone, photos in the trash, albums out of sight.
    let album = repo
        .create_album(
            NewAlbum {
                id: scoot::domain::AlbumId::generate(),
                owner: bo.id.clone(),
                title: "Bo's".into(),
                description: String::new(),
                visibility: Visibility::Unlisted,
            },
            T0,
        )
        .await
        .unwrap();
    repo.add_to_album(&album.id, &kept.id, T0).await.unwrap();
    let share = album.share_token.clone().unwrap();
    repo.insert_token("bo-api", &bo.id, TokenKind::Api, "", None)
        .await
        .unwrap();
    let deleted_at = T0 + 100;
    assert_eq!(
        repo.retire_user(&bo.id, deleted_at).await.unwrap(),
        Retired::Done(1)
    );
    assert_eq!(
        repo.retire_user(&bo.id, deleted_at).await.unwrap(),
        Retired::NotFound
    );
    assert!(
        repo.user_by_token("bo-api", TokenKind::Api, T0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo.user_by_name("bo").await.unwrap().is_none(),
        "cannot log in"
    );
    assert_eq!(
        repo.photo(&kept.id).await.unwrap().unwrap().trashed_at,
        Some(deleted_at)
    );
    assert!(repo.album(&album.id).await.unwrap().is_none());
    assert!(repo.album_by_share_token(&share).await.unwrap().is_none());
    assert!(repo.list_albums(None).await.unwrap().is_empty());
    let gone = repo.person(&bo.id).await.unwrap().unwrap();
    assert_eq!((gone.deleted_at, gone.photos), (Some(deleted_at), 1));
    // The name stays taken.
    assert!(
        repo.create_user("bo", Some("h"), false, false)
            .await
            .is_err()
    );

    // Restored: the photo and album the deletion hid, not what bo threw away.
    assert_eq!(
        repo.reinstate_user(&bo.id, T0 + 200).await.unwrap(),
        Some(1)
    );
    assert_eq!(repo.reinstate_user(&bo.id, T0 + 200).await.unwrap(), None);
    assert_eq!(
        repo.photo(&kept.id).await.unwrap().unwrap().trashed_at,
        None
    );
    assert_eq!(
        repo.photo(&thrown.id).await.unwrap().unwrap().trashed_at,
        Some(T0 + 2)
    );
    assert!(repo.album_by_share_token(&share).await.unwrap().is_some());
    assert_eq!(repo.user_by_name("bo").await.unwrap().unwrap().0, bo);

    // Deleted again: a photo committed after the deletion joins the others
    // in the trash; the row goes only once no photo is left, and the cutoff
    // has passed.
    repo.retire_user(&bo.id, deleted_at).await.unwrap();
    let late = add(repo, &bo, "late", Visibility::Public, T0 + 150).await;
    assert_eq!(
        repo.purge_retired_users(deleted_at - 1, T0 + 300)
            .await
            .unwrap(),
        (1, 0)
    );
    assert_eq!(
        repo.photo(&late.id).await.unwrap().unwrap().trashed_at,
        Some(deleted_at)
    );
    assert_eq!(
        repo.purge_retired_users(deleted_at, T0 + 300)
            .await
            .unwrap(),
        (0, 0),
        "photos left"
    );
    for id in [&kept.id, &thrown.id, &late.id] {
        delete_row(repo, id).await;
    }
    assert_eq!(
        repo.purge_retired_users(deleted_at - 1, T0 + 300)
            .await
            .unwrap(),
        (0, 0),
        "too soon"
    );
    assert_eq!(
        repo.purge_retired_users(deleted_at, T0 + 300)
            .await
            .unwrap(),
        (0, 1)
    );
    assert!(repo.person(&bo.id).await.unwrap().is_none());
    assert!(
        repo.create_user("bo", Some("h"), false, false)
            .await
            .unwrap()
            .is_some()
    );
}

/// Deletes a photo's row the way a purge does.
async fn delete_row(repo: &dyn Repo, id: &PhotoId) {
    assert!(repo.delete_photo(id, T0 + 250).await.unwrap().is_some());
}
