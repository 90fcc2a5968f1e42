//! The JSON shapes of the API (the README's "HTTP" section): photos,
//! albums, lists, and reading a JSON body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::error::Failure;
use super::urls::{Urls, album_share_path, share_path};
use crate::domain::{GeoPoint, PhotoId, Visibility};
use crate::model::{Album, Cursor, Photo, User};

/// The photo JSON of the contract.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PhotoJson {
    pub id: String,
    pub status: String,
    pub width: u32,
    pub height: u32,
    pub title: String,
    pub caption: String,
    /// The name of the file uploaded (`""` when it had none): what an
    /// untitled photo is called.
    #[serde(default)]
    pub filename: String,
    pub original_url: String,
    pub variants: Vec<VariantJson>,
    pub error: Option<String>,
    pub taken_at: Option<String>,
    pub camera: Option<String>,
    pub lens: Option<String>,
    /// Seconds.
    pub exposure_time: Option<f64>,
    pub f_number: Option<f64>,
    pub iso: Option<u32>,
    pub focal_length_mm: Option<f64>,
    /// Where it was taken: only in answers to the photo's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<GeoPoint>,
    /// A ThumbHash (base64) once rendered: a blurred preview for clients
    /// to draw while the image loads.
    pub thumbhash: Option<String>,
    pub created_at: i64,
    pub page_url: String,
    /// `public`, `unlisted` or `private`.
    pub visibility: Visibility,
    /// An unlisted photo's share link: only in answers to its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct VariantJson {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub url: String,
}

impl PhotoJson {
    /// The photo as `viewer` may see it: everything but the location,
    /// unless the viewer owns the photo.
    pub fn for_viewer(p: &Photo, viewer: Option<&User>, urls: &Urls) -> Self {
        let owner = viewer.is_some_and(|u| u.id == p.owner);
        Self {
            id: p.id.to_string(),
            status: p.status.as_str().to_owned(),
            width: p.width,
            height: p.height,
            title: p.title.clone(),
            caption: p.caption.clone(),
            filename: p.filename.clone(),
            original_url: urls.original(p),
            variants: p
                .variants
                .iter()
                .map(|v| VariantJson {
                    name: v.name.clone(),
                    width: v.width,
                    height: v.height,
                    format: v.format.as_str().to_owned(),
                    url: urls.media(&v.key),
                })
                .collect(),
            error: p.error.clone(),
            taken_at: p.shot.taken_at.clone(),
            camera: p.shot.camera.clone(),
            lens: p.shot.lens.clone(),
            exposure_time: p.shot.exposure_s,
            f_number: p.shot.f_number,
            iso: p.shot.iso,
            focal_length_mm: p.shot.focal_mm,
            gps: p.shot.gps.filter(|_| owner),
            thumbhash: p.thumbhash.as_ref().map(|t| BASE64.encode(t)),
            created_at: p.created_at,
            page_url: format!("/photos/{}", p.id),
            visibility: p.visibility,
            share_url: p
                .share_token
                .as_ref()
                .filter(|_| owner)
                .map(|t| share_path(t)),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PhotoList {
    pub photos: Vec<PhotoJson>,
    pub next_cursor: Option<String>,
}

/// An album as the API shows it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct AlbumJson {
    pub id: String,
    pub title: String,
    pub description: String,
    pub visibility: Visibility,
    /// The cover the owner chose, if any and if the viewer may see that
    /// photo (pages then show the first photo the viewer sees).
    pub cover: Option<String>,
    pub url: String,
    /// The share link of an unlisted album, for its owner only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
    /// Whether the asker owns it (and so may put photos in it).
    #[serde(default)]
    pub mine: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The photos the viewer sees in it (single-album answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photos: Option<Vec<PhotoJson>>,
}

impl AlbumJson {
    /// The same album, naming `cover` as its chosen cover: the owner's
    /// choice when the viewer may see it, else `None`.
    pub fn with_cover(mut self, cover: Option<&PhotoId>) -> Self {
        self.cover = cover.map(|c| c.to_string());
        self
    }

    pub fn for_viewer(a: &Album, viewer: Option<&User>) -> Self {
        let is_owner = viewer.is_some_and(|u| u.id == a.owner);
        Self {
            id: a.id.to_string(),
            title: a.title.clone(),
            description: a.description.clone(),
            visibility: a.visibility,
            // Only the owner is told the chosen cover outright; others
            // get it through [`Self::with_cover`], from what they see.
            cover: a.cover.as_ref().filter(|_| is_owner).map(|c| c.to_string()),
            url: format!("/albums/{}", a.id),
            share_url: a
                .share_token
                .as_deref()
                .filter(|_| is_owner)
                .map(album_share_path),
            mine: is_owner,
            created_at: a.created_at,
            updated_at: a.updated_at,
            photos: None,
        }
    }
}

/// A list's `cursor` query parameter (absent or empty: the first page).
pub fn cursor_param(cursor: Option<&str>) -> Result<Option<Cursor>, Failure> {
    match cursor.filter(|c| !c.is_empty()) {
        Some(c) => Cursor::decode(c)
            .map(Some)
            .ok_or_else(|| Failure::bad_request("malformed cursor")),
        None => Ok(None),
    }
}

/// A JSON body parsed in the handler, not by a body filter, so that a bad
/// one is this route's 400 rather than a neighbour route's 405.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::bad_request(format!("bad {what}: {e}")))
}

/// A photo in its owner's trash, as `GET /api/trash` lists it.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrashedJson {
    #[serde(flatten)]
    pub photo: PhotoJson,
    /// When it was deleted (milliseconds since the epoch).
    pub trashed_at: i64,
    /// When it will be deleted for good unless restored.
    pub purge_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TrashList {
    pub photos: Vec<TrashedJson>,
    pub next_cursor: Option<String>,
}
