//! The timeline the gallery and album pages show: photos in justified rows
//! that keep each photo's shape, under month headings, newest or oldest
//! first (`?sort=`).
//!
//! The rows are laid out by CSS alone (`.rows` in style.css): each tile
//! carries its aspect ratio in `--a` and grows in proportion to it from a
//! basis of `--a` × the row height, so the tiles of a row share one height
//! and fill the width. The image inside is as wide as its tile and as tall
//! as its own `width`/`height` make it, so its shape is exact and nothing
//! shifts as it arrives. Nothing waits for JavaScript.
//!
//! The content security policy allows no inline styles, so `--a` cannot
//! sit in a `style` attribute: a tile names one of [`ASPECT_CLASSES`]
//! classes (`r-140` … `r140`), ratios 1 % apart from 1:4 to 4:1, each
//! setting `--a`. The rows are then within ½ % of sharing a height (under
//! a pixel), and each image keeps its exact shape. The rules are in
//! style.css, checked against [`aspect_rules`] by a test.
//!
//! Each image's `sizes` starts with `auto`, so a browser that knows it
//! picks by the width the tile was laid out at; the rest is the tile's
//! basis at the row heights below, for browsers that do not. With the
//! sizes rendered at twice each other's width (200, 400, 800, 1600 px),
//! the variant a tile loads is never more than twice its width.

use std::fmt::Write as _;

use serde::Deserialize;

use super::error::Failure;
use crate::model::{Cursor, Photo};
use crate::timeline::{PhotoOrder, month_of};

/// Row heights in CSS px, by the widest viewport each applies to; they
/// mirror `--row` in style.css.
const ROW_HEIGHTS: [(Option<u32>, u32); 3] = [(Some(600), 100), (Some(1000), 160), (None, 220)];

/// `?sort=` on a page.
#[derive(Deserialize, Default)]
pub struct SortQuery {
    pub sort: Option<String>,
}

impl SortQuery {
    /// The order asked for: by date, newest (the default) or oldest first.
    pub fn order(&self) -> Result<PhotoOrder, Failure> {
        order_param(self.sort.as_deref())
    }
}

/// The value of a page's `?sort=`: by date, newest (the default) or oldest
/// first.
pub fn order_param(sort: Option<&str>) -> Result<PhotoOrder, Failure> {
    match sort {
        None | Some("") | Some("newest") => Ok(PhotoOrder::Newest),
        Some("oldest") => Ok(PhotoOrder::Oldest),
        Some(_) => Err(Failure::bad_request("sort must be newest or oldest")),
    }
}

/// The photos of one month, under its heading, as tiles.
pub struct Month<T> {
    /// `July 2021`.
    pub heading: String,
    pub tiles: Vec<T>,
}

/// `photos`, in the order given, under a heading each time the month
/// changes; `tile` makes each photo's tile.
pub fn by_month<T>(photos: &[Photo], mut tile: impl FnMut(&Photo) -> T) -> Vec<Month<T>> {
    let mut months: Vec<(String, Month<T>)> = Vec::new();
    for photo in photos {
        let (heading, key) = month_of(photo.dated_at());
        match months.last_mut() {
            Some((last, month)) if *last == key => month.tiles.push(tile(photo)),
            _ => months.push((
                key,
                Month {
                    heading,
                    tiles: vec![tile(photo)],
                },
            )),
        }
    }
    months.into_iter().map(|(_, month)| month).collect()
}

/// Aspect ratios 1 % apart, this many each side of square (1.01^140 ≈ 4).
pub const ASPECT_CLASSES: i32 = 140;
const ASPECT_STEP: f64 = 1.01;

/// The class that gives a tile of that shape its `--a`: the nearest of
/// the ratios 1 % apart, wider ones as 4:1 and taller as 1:4.
pub fn aspect_class(width: u32, height: u32) -> String {
    let ratio = f64::from(width.max(1)) / f64::from(height.max(1));
    let step = (ratio.ln() / ASPECT_STEP.ln()).round() as i32;
    format!("r{}", step.clamp(-ASPECT_CLASSES, ASPECT_CLASSES))
}

/// The CSS block of the aspect classes, as style.css must hold it.
pub fn aspect_rules() -> String {
    let mut css = String::from("/* Tile shapes (src/web/timeline.rs: aspect_rules). */\n");
    for step in -ASPECT_CLASSES..=ASPECT_CLASSES {
        let ratio = ASPECT_STEP.powi(step);
        let _ = write!(css, ".r{step}{{--a:{ratio:.4}}}");
        css.push(if (step + ASPECT_CLASSES) % 8 == 7 {
            '\n'
        } else {
            ' '
        });
    }
    css.truncate(css.trim_end().len());
    css.push('\n');
    css
}

/// The `sizes` of a tile of that shape (see the module's docs).
pub fn sizes(width: u32, height: u32) -> String {
    let aspect = f64::from(width.max(1)) / f64::from(height.max(1));
    let mut out = String::from("auto");
    for (viewport, row) in ROW_HEIGHTS {
        let basis = (aspect * f64::from(row)).ceil();
        out.push_str(", ");
        if let Some(max) = viewport {
            let _ = write!(out, "(max-width: {max}px) ");
        }
        let _ = write!(out, "min({basis}px, 100vw)");
    }
    out
}

/// The address of a page of `base` in `order`, after `cursor` when given:
/// `/?sort=oldest&after=…`.
pub fn page_href(base: &str, order: PhotoOrder, cursor: Option<&Cursor>) -> String {
    let sort = (order == PhotoOrder::Oldest).then_some("sort=oldest".to_owned());
    let after = cursor.map(|c| format!("after={}", c.encode()));
    let query: Vec<String> = sort.into_iter().chain(after).collect();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

/// The links that sort a page, each with whether it is the order shown.
pub fn sort_links(base: &str, order: PhotoOrder) -> Vec<(&'static str, String, bool)> {
    [
        (PhotoOrder::Newest, "Newest first"),
        (PhotoOrder::Oldest, "Oldest first"),
    ]
    .into_iter()
    .map(|(o, label)| (label, page_href(base, o, None), o == order))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_rows() {
        assert_eq!(
            sizes(300, 200),
            "auto, (max-width: 600px) min(150px, 100vw), (max-width: 1000px) min(240px, 100vw), min(330px, 100vw)"
        );
    }

    #[test]
    fn aspect_classes_are_within_half_a_percent() {
        assert_eq!(aspect_class(100, 100), "r0");
        assert_eq!(aspect_class(0, 0), "r0");
        assert_eq!(aspect_class(4000, 100), "r140");
        assert_eq!(aspect_class(100, 4000), "r-140");
        for (w, h) in [(3, 2), (2, 3), (16, 9), (9, 16), (4, 3), (1, 3), (35, 10)] {
            let class = aspect_class(w, h);
            let step: i32 = class[1..].parse().unwrap();
            let ratio = f64::from(w) / f64::from(h);
            let error = (ASPECT_STEP.powi(step) / ratio - 1.0).abs();
            assert!(error <= 0.005, "{w}:{h} → {class}: {error}");
        }
    }

    #[test]
    fn the_stylesheet_holds_the_aspect_classes() {
        let css = include_str!("../../assets/style.css");
        let rules = aspect_rules();
        assert!(
            css.contains(&rules),
            "assets/style.css must end with this block (replace the old one):\n{rules}"
        );
    }

    #[test]
    fn page_addresses_carry_the_order_and_the_cursor() {
        let c = Cursor::decode("-1000-0123456789abcdef").unwrap();
        assert_eq!(page_href("/", PhotoOrder::Newest, None), "/");
        assert_eq!(page_href("/", PhotoOrder::Oldest, None), "/?sort=oldest");
        assert_eq!(
            page_href("/", PhotoOrder::Newest, Some(&c)),
            "/?after=-1000-0123456789abcdef"
        );
        assert_eq!(
            page_href("/a/x", PhotoOrder::Oldest, Some(&c)),
            "/a/x?sort=oldest&after=-1000-0123456789abcdef"
        );
    }

    #[test]
    fn only_dates_sort_pages() {
        let q = |s: &str| SortQuery {
            sort: Some(s.to_owned()),
        };
        assert_eq!(SortQuery::default().order().unwrap(), PhotoOrder::Newest);
        assert_eq!(q("oldest").order().unwrap(), PhotoOrder::Oldest);
        assert!(q("uploaded").order().is_err());
        assert!(q("nonsense").order().is_err());
    }
}
