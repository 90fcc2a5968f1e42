//! The askama template structs behind every HTML page. Templates live in
//! `templates/`, extend `base.html`, and are auto-escaped.

use askama::Template;

use super::conditional;
use super::extract::Viewer;
use super::placeholder;
use super::timeline::{self, Month};
use super::urls::Urls;
pub use crate::domain::human_bytes;
use crate::domain::{GeoPoint, ImageFormat, Millis, PhotoStatus, ShotFacts, Visibility};
use crate::model::{Photo, User};

/// Alt text for a photo: its title, else its caption, else the name of
/// the file it was uploaded as, else a generic word.
pub fn alt_text(photo: &Photo) -> String {
    [&photo.title, &photo.caption, &photo.filename]
        .into_iter()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .unwrap_or("Photo")
        .to_owned()
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub reason: &'a str,
    pub message: &'a str,
    pub viewer: Option<Viewer>,
    pub urls: Urls,
}

/// A rendered photo as an `<img>` inside a `<picture>`: the default size in
/// the universal format (JPEG/PNG) as `src` with its `width`/`height` (so
/// nothing shifts while loading), every size as `srcset`, and the WebP sizes
/// as a `<source>`. The browser picks by `sizes` and pixel density.
pub struct Sources {
    pub src: String,
    pub width: u32,
    pub height: u32,
    pub srcset: String,
    pub webp_srcset: Option<String>,
}

impl Sources {
    /// `None` until the photo is ready. `default` names the size for `src`.
    pub fn of(photo: &Photo, default: &str, urls: &Urls) -> Option<Self> {
        if photo.status != PhotoStatus::Ready {
            return None;
        }
        let img = photo
            .variant(default)
            .or_else(|| photo.variants.iter().find(|v| v.format.is_universal()))?;
        // Browsers ignore the order; `photo.variants` is smallest first. A
        // photo smaller than a size has it at its own width: one entry per
        // width (a repeated one would be dropped as invalid anyway).
        let srcset = |webp: bool| {
            let mut widths = Vec::new();
            photo
                .variants
                .iter()
                .filter(|v| (v.format == ImageFormat::Webp) == webp)
                .filter(|v| {
                    let new = widths.last() != Some(&v.width);
                    widths.push(v.width);
                    new
                })
                .map(|v| format!("{} {}w", urls.media(&v.key), v.width))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let webp = srcset(true);
        Some(Self {
            src: urls.media(&img.key),
            width: img.width,
            height: img.height,
            srcset: srcset(false),
            webp_srcset: (!webp.is_empty()).then_some(webp),
        })
    }
}

/// `sizes` for square tiles (album covers, the trash): two columns on
/// phones and small screens, else ~320 px columns (see `.grid` in
/// style.css). Timeline tiles have their own (see `timeline::sizes`).
pub const TILE_SIZES: &str = "(max-width: 800px) 50vw, 320px";
/// `sizes` for the photo page: full width on narrow screens, else ~¾.
pub const PHOTO_SIZES: &str = "(max-width: 800px) 100vw, 75vw";

/// One cell of a photo grid (the gallery's or an album's).
pub struct Tile {
    pub id: String,
    /// Where the tile leads: the photo page, or for an unlisted photo seen
    /// in a shared album, its share link.
    pub href: String,
    pub alt: String,
    pub img: Option<Sources>,
    pub failed: bool,
    /// The ThumbHash, in base64, that app.js draws under the image.
    pub placeholder: Option<String>,
    /// In an album, for its owner: the album's id (for the cover and
    /// remove buttons) and whether this photo is the cover.
    pub album: Option<(String, bool)>,
    /// Whether a pending placeholder swaps itself live: only when the
    /// viewer may see the photo by id, which the event stream checks.
    pub live: bool,
    /// For the photo's owner, who sees it unless it is public: `Unlisted`
    /// or `Private`.
    pub badge: Option<&'static str>,
    /// Whether the viewer owns it, and so may select it for bulk actions.
    pub own: bool,
    /// Its shape's class and its images' `sizes` in a justified row
    /// (pending placeholders carry `sizes` in `data-sizes` for app.js).
    pub aspect: String,
    pub sizes: String,
    /// What the viewer zooms into: the original's URL, and its size as
    /// shown (after the EXIF orientation).
    pub original: String,
    pub size: (u32, u32),
}

impl Tile {
    /// `photo` as `viewer` sees it in a grid.
    pub fn of(photo: &Photo, viewer: Option<&User>, urls: &Urls) -> Self {
        let owner = viewer.is_some_and(|u| u.id == photo.owner);
        Self {
            id: photo.id.to_string(),
            href: format!("/photos/{}", photo.id),
            alt: alt_text(photo),
            img: Sources::of(photo, "thumb", urls),
            failed: photo.status == PhotoStatus::Failed,
            placeholder: photo.thumbhash.as_deref().and_then(placeholder::preview),
            album: None,
            live: true,
            badge: match photo.visibility {
                Visibility::Unlisted if owner => Some("Unlisted"),
                Visibility::Private if owner => Some("Private"),
                _ => None,
            },
            own: owner,
            aspect: timeline::aspect_class(photo.width, photo.height),
            sizes: timeline::sizes(photo.width, photo.height),
            original: urls.original(photo),
            size: (photo.width, photo.height),
        }
    }
}

#[derive(Template)]
#[template(path = "gallery.html")]
pub struct GalleryPage {
    /// Whether anyone has set Scoot up yet.
    pub set_up: bool,
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub months: Vec<Month<Tile>>,
    /// The sort links: label, href, whether it is the order shown.
    pub sorts: Vec<(&'static str, String, bool)>,
    pub oldest_first: bool,
    /// The first page in this order.
    pub first: String,
    pub first_page: bool,
    /// The next page, when there may be one.
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "photo.html")]
pub struct PhotoPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub id: String,
    /// What the page calls the photo: its title, else its file's name.
    pub name: String,
    pub title: String,
    pub caption: String,
    pub alt: String,
    pub width: u32,
    pub height: u32,
    pub display: Option<Sources>,
    /// Whether a pending photo is swapped in live (see `events`).
    pub live: bool,
    pub placeholder: Option<String>,
    pub error: Option<String>,
    /// The EXIF panel: label and value, in reading order.
    pub facts: Vec<(&'static str, String)>,
    /// Where it was taken (owner only): text and a map link.
    pub location: Option<(String, String)>,
    pub original_url: String,
    pub original_size: String,
    /// The previous and next photo's pages, in the gallery's or an album's
    /// order.
    pub steps: Steps,
    /// The album it was opened from (its page, its title).
    pub back: Option<(String, String)>,
    pub is_owner: bool,
    pub can_delete: bool,
    /// `trash.days`: what deleting does (0: deleted for good, after asking).
    pub trash_days: u32,
    pub visibility: Visibility,
    /// An unlisted photo's share link (path), for its owner.
    pub share_url: Option<String>,
    /// The albums holding it (id, title) that the viewer may open.
    pub albums: Vec<(String, String)>,
    /// For the owner: their albums it is not in yet (id, title).
    pub add_to: Vec<(String, String)>,
}

/// A photo page's links to its neighbours.
pub struct Steps {
    pub newer: Option<String>,
    pub older: Option<String>,
    /// What the two links say.
    pub labels: (&'static str, &'static str),
}

/// One small chart of the admin page: an SVG polyline over the last hour.
pub struct Chart {
    pub title: &'static str,
    /// The latest value, formatted.
    pub now: String,
    pub peak: String,
    /// For screen readers: what the chart shows, in words.
    pub summary: String,
    /// SVG `points` of the line, and the `d` of the filled area under it.
    pub line: String,
    pub area: String,
    /// The latest point, marked (a lone point draws no line).
    pub last: Option<(f64, f64)>,
    pub width: f64,
    pub height: f64,
}

/// A render failure on the admin page.
pub struct FailureRow {
    pub id: String,
    pub name: String,
    pub reason: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub charts: Vec<Chart>,
    pub failures: Vec<FailureRow>,
    pub tokens: Vec<TokenRow>,
    /// The secret of a token just made, shown this once.
    pub new_token: Option<String>,
    /// (days, label) choices for a new token's expiry.
    pub token_lifetimes: &'static [(u32, &'static str)],
    pub sample_seconds: u64,
}

/// An API token on the admin page (never its secret).
pub struct TokenRow {
    pub id: String,
    pub owner: String,
    pub label: String,
    pub created: String,
    pub last_used: Option<String>,
    pub expires: Option<String>,
    pub expired: bool,
}

/// An album in the album list.
pub struct AlbumCardView {
    pub href: String,
    pub title: String,
    pub photos: u32,
    pub cover: Option<Sources>,
    pub placeholder: Option<String>,
    /// Shown to the owner when it is not public.
    pub visibility: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "albums.html")]
pub struct AlbumsPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub cards: Vec<AlbumCardView>,
}

#[derive(Template)]
#[template(path = "album.html")]
pub struct AlbumPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub id: String,
    pub title: String,
    pub description: String,
    pub cover: Option<Sources>,
    pub cover_alt: String,
    pub months: Vec<Month<Tile>>,
    pub photo_count: usize,
    pub sorts: Vec<(&'static str, String, bool)>,
    pub is_owner: bool,
    pub can_delete: bool,
    pub visibility: Visibility,
    /// Where its ZIP comes from: by id, or through the share link the
    /// visitor came by.
    pub download: String,
    /// An unlisted album's share link (path), for its owner.
    pub share_url: Option<String>,
}

/// The choices of a "who can see it" form: value, label, chosen.
pub fn visibility_choices(current: Visibility) -> Vec<(&'static str, &'static str, bool)> {
    Visibility::ALL
        .into_iter()
        .map(|v| {
            let label = match v {
                Visibility::Public => "Public: listed, for everyone",
                Visibility::Unlisted => "Unlisted: only with the share link",
                Visibility::Private => "Private: only you",
            };
            (v.as_str(), label, v == current)
        })
        .collect()
}

/// The photo page's EXIF panel: what the camera recorded, as people write
/// it (`1/250 s`, `ƒ/2.8`, `50 mm`).
pub fn exif_panel(shot: &ShotFacts) -> Vec<(&'static str, String)> {
    let trim = |v: f64| format!("{:.1}", v).trim_end_matches(".0").to_owned();
    [
        ("Taken", shot.taken_at.clone()),
        ("Camera", shot.camera.clone()),
        ("Lens", shot.lens.clone()),
        ("Exposure", shot.exposure_text()),
        ("Aperture", shot.f_number.map(|f| format!("ƒ/{}", trim(f)))),
        ("ISO", shot.iso.map(|i| i.to_string())),
        (
            "Focal length",
            shot.focal_mm.map(|f| format!("{} mm", trim(f))),
        ),
    ]
    .into_iter()
    .filter_map(|(label, value)| Some((label, value?)))
    .collect()
}

/// A location as text (`33.86000° S, 151.20000° E`) and an OpenStreetMap link.
pub fn location(p: GeoPoint) -> (String, String) {
    let text = format!(
        "{:.5}° {}, {:.5}° {}",
        p.lat.abs(),
        if p.lat < 0.0 { 'S' } else { 'N' },
        p.lon.abs(),
        if p.lon < 0.0 { 'W' } else { 'E' },
    );
    let link = format!(
        "https://www.openstreetmap.org/?mlat={:.5}&mlon={:.5}#map=15/{:.5}/{:.5}",
        p.lat, p.lon, p.lat, p.lon
    );
    (text, link)
}

/// What happened to one file of a form upload.
pub struct UploadResult {
    pub name: String,
    pub ok: bool,
    pub message: String,
}

#[derive(Template)]
#[template(path = "upload.html")]
pub struct UploadPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub results: Vec<UploadResult>,
    pub max_mib: u64,
    /// The exact limit, for app.js to refuse oversized files before sending.
    pub max_bytes: u64,
    /// The album (id, title) the files go into, when there is one.
    pub album: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub error: Option<String>,
    pub next: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub error: Option<String>,
    pub token: String,
}

/// "3 min ago", "2 h ago", or the date for anything older than a day.
pub fn ago(then: Millis, now: Millis) -> String {
    let minutes = (now - then).max(0) / 60_000;
    match minutes {
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        60..=1439 => format!("{} h ago", minutes / 60),
        _ => format!("{} days ago", minutes / 1440),
    }
}

/// "in 29 days", "in 5 h", "within the hour": how long until `then`.
pub fn until(then: Millis, now: Millis) -> String {
    let minutes = (then - now).max(0) / 60_000;
    match minutes {
        0..=59 => "within the hour".to_owned(),
        60..=2879 => format!("in {} h", minutes / 60),
        _ => format!("in {} days", minutes / 1440),
    }
}

/// The owner's trash.
#[derive(Template)]
#[template(path = "trash.html")]
pub struct TrashPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub items: Vec<TrashItem>,
    /// `trash.days`.
    pub days: u32,
    /// The next page's path, when there may be one.
    pub next: Option<String>,
}

/// One photo on the trash page.
pub struct TrashItem {
    pub id: String,
    pub alt: String,
    pub img: Option<Sources>,
    pub placeholder: Option<String>,
    /// "in 29 days": when it will be deleted for good.
    pub purge_in: String,
}

/// "Are you sure?" before something that cannot be undone.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub viewer: Option<Viewer>,
    pub urls: Urls,
    pub heading: String,
    pub message: String,
    /// Where the form posts.
    pub action: String,
    pub button: &'static str,
    /// Where "Cancel" leads.
    pub cancel: &'static str,
}

/// Renders a template into an HTML response.
pub fn html(page: &impl Template) -> Result<warp::reply::Response, askama::Error> {
    use warp::Reply;
    Ok(warp::reply::html(page.render()?).into_response())
}

/// Renders a page for the [`PageCache`](conditional::PageCache), which
/// then answers conditional requests with it.
pub fn rendered(
    page: &impl Template,
    last_modified: Millis,
) -> Result<conditional::Rendered, askama::Error> {
    Ok(conditional::Rendered::new(
        page.render()?,
        Some(last_modified),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(999), "999 bytes");
        assert_eq!(human_bytes(1_536_000), "1.5 MB");
    }

    #[test]
    fn pages_escape_user_text() {
        let page = LoginPage {
            viewer: None,
            urls: Urls::default(),
            error: Some("<script>alert(1)</script>".into()),
            next: "\"><b>".into(),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("\"><b>"));
    }
}
