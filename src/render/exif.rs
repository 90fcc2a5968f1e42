//! Reads what the camera recorded ([`ShotFacts`]) from an EXIF block.
//!
//! EXIF comes from anywhere: every field is optional, and anything missing,
//! malformed or absurd (a zero aperture, a latitude of 200°) is simply left
//! out rather than refusing the photo.

use exif::{Exif, In, Tag, Value};

use crate::domain::{GeoPoint, ShotFacts};

/// Longest text kept from a field (camera, lens).
const MAX_TEXT: usize = 128;

/// Parses a raw EXIF block (TIFF structure, with or without the JPEG
/// `Exif\0\0` prefix).
pub fn shot_facts(raw: &[u8]) -> ShotFacts {
    let raw = raw.strip_prefix(b"Exif\0\0").unwrap_or(raw);
    let Ok(exif) = exif::Reader::new().read_raw(raw.to_vec()) else {
        return ShotFacts::default();
    };
    let text = |tag| text(&exif, tag);
    let positive = |v: Option<f64>| v.filter(|v| v.is_finite() && *v > 0.0);
    ShotFacts {
        taken_at: text(Tag::DateTimeOriginal)
            .or_else(|| text(Tag::DateTime))
            .and_then(|s| normalise_date(&s)),
        camera: joined(text(Tag::Make), text(Tag::Model)),
        lens: joined(text(Tag::LensMake), text(Tag::LensModel)),
        exposure_s: positive(number(&exif, Tag::ExposureTime, 0)),
        f_number: positive(number(&exif, Tag::FNumber, 0)),
        iso: number(&exif, Tag::PhotographicSensitivity, 0)
            .filter(|v| (1.0..=10_000_000.0).contains(v))
            .map(|v| v as u32),
        focal_mm: positive(number(&exif, Tag::FocalLength, 0)),
        gps: gps(&exif),
    }
}

/// An ASCII field, trimmed; `None` when empty.
fn text(exif: &Exif, tag: Tag) -> Option<String> {
    let Value::Ascii(parts) = &exif.get_field(tag, In::PRIMARY)?.value else {
        return None;
    };
    let s = parts
        .iter()
        .map(|p| String::from_utf8_lossy(p))
        .collect::<Vec<_>>()
        .join(" ");
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!s.is_empty()).then(|| s.chars().take(MAX_TEXT).collect())
}

/// Make and model as one name. Models often repeat the make ("Canon" /
/// "Canon EOS 5D"), lenses too.
fn joined(make: Option<String>, model: Option<String>) -> Option<String> {
    match (make, model) {
        (Some(make), Some(model)) if model.starts_with(&make) => Some(model),
        (Some(make), Some(model)) => Some(format!("{make} {model}")),
        (make, model) => make.or(model),
    }
}

/// The `index`th number of a numeric field, whatever its EXIF type.
fn number(exif: &Exif, tag: Tag, index: usize) -> Option<f64> {
    let field = exif.get_field(tag, In::PRIMARY)?;
    let v = match &field.value {
        Value::Rational(v) => v.get(index).map(|r| r.to_f64()),
        Value::SRational(v) => v.get(index).map(|r| r.to_f64()),
        Value::Short(v) => v.get(index).map(|&n| f64::from(n)),
        Value::Long(v) => v.get(index).map(|&n| f64::from(n)),
        _ => None,
    }?;
    v.is_finite().then_some(v)
}

/// Degrees, minutes and seconds with a hemisphere letter, as decimal degrees.
fn gps(exif: &Exif) -> Option<GeoPoint> {
    let degrees = |tag, reference, negative: &[u8]| {
        let d = number(exif, tag, 0)?;
        let m = number(exif, tag, 1).unwrap_or(0.0);
        let s = number(exif, tag, 2).unwrap_or(0.0);
        let value = d + m / 60.0 + s / 3600.0;
        let sign = match &exif.get_field(reference, In::PRIMARY)?.value {
            Value::Ascii(parts) if parts.first()?.first().is_some_and(|c| negative.contains(c)) => {
                -1.0
            }
            _ => 1.0,
        };
        Some(sign * value)
    };
    let lat = degrees(Tag::GPSLatitude, Tag::GPSLatitudeRef, b"Ss")?;
    let lon = degrees(Tag::GPSLongitude, Tag::GPSLongitudeRef, b"Ww")?;
    GeoPoint::new(lat, lon)
}

/// `2021:07:04 18:30:00` → `2021-07-04 18:30:00`; anything else → `None`.
fn normalise_date(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16)
        && digits(17..19);
    if !shape || &s[0..4] == "0000" {
        return None;
    }
    Some(format!(
        "{}-{}-{} {}:{}:{}",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    ))
}

#[cfg(test)]
mod tests {
    use exif::experimental::Writer;
    use exif::{Field, Rational};

    use super::*;

    fn block(fields: &[Field]) -> Vec<u8> {
        let mut writer = Writer::new();
        for f in fields {
            writer.push_field(f);
        }
        let mut tiff = std::io::Cursor::new(Vec::new());
        writer.write(&mut tiff, false).unwrap();
        tiff.into_inner()
    }

    fn field(tag: Tag, value: Value) -> Field {
        Field {
            tag,
            ifd_num: In::PRIMARY,
            value,
        }
    }

    fn ascii(s: &str) -> Value {
        Value::Ascii(vec![s.as_bytes().to_vec()])
    }

    fn rational(v: &[(u32, u32)]) -> Value {
        Value::Rational(
            v.iter()
                .map(|&(num, denom)| Rational { num, denom })
                .collect(),
        )
    }

    #[test]
    fn reads_every_fact() {
        let raw = block(&[
            field(Tag::Make, ascii("Canon")),
            field(Tag::Model, ascii("Canon EOS 5D")),
            field(Tag::LensModel, ascii("EF24-105mm f/4L IS USM")),
            field(Tag::DateTimeOriginal, ascii("2021:07:04 18:30:00")),
            field(Tag::ExposureTime, rational(&[(1, 250)])),
            field(Tag::FNumber, rational(&[(28, 10)])),
            field(Tag::PhotographicSensitivity, Value::Short(vec![400])),
            field(Tag::FocalLength, rational(&[(50, 1)])),
            field(Tag::GPSLatitudeRef, ascii("S")),
            field(Tag::GPSLatitude, rational(&[(33, 1), (51, 1), (3600, 100)])),
            field(Tag::GPSLongitudeRef, ascii("E")),
            field(Tag::GPSLongitude, rational(&[(151, 1), (12, 1), (0, 1)])),
        ]);
        let f = shot_facts(&raw);
        assert_eq!(f.camera.as_deref(), Some("Canon EOS 5D"));
        assert_eq!(f.lens.as_deref(), Some("EF24-105mm f/4L IS USM"));
        assert_eq!(f.taken_at.as_deref(), Some("2021-07-04 18:30:00"));
        assert_eq!(f.exposure_text().as_deref(), Some("1/250 s"));
        assert_eq!(
            (f.f_number, f.iso, f.focal_mm),
            (Some(2.8), Some(400), Some(50.0))
        );
        let gps = f.gps.unwrap();
        assert!(
            (gps.lat + 33.86).abs() < 1e-9 && (gps.lon - 151.2).abs() < 1e-9,
            "{gps:?}"
        );
    }

    #[test]
    fn absurd_values_are_left_out() {
        let raw = block(&[
            field(Tag::FNumber, rational(&[(0, 1)])),
            field(Tag::ExposureTime, rational(&[(1, 0)])),
            field(Tag::GPSLatitudeRef, ascii("N")),
            field(Tag::GPSLatitude, rational(&[(200, 1)])),
            field(Tag::GPSLongitudeRef, ascii("E")),
            field(Tag::GPSLongitude, rational(&[(10, 1)])),
        ]);
        assert_eq!(shot_facts(&raw), ShotFacts::default());
        assert_eq!(shot_facts(b"not exif at all"), ShotFacts::default());
    }

    #[test]
    fn dates_are_normalised() {
        assert_eq!(
            normalise_date("2021:07:04 18:30:00").as_deref(),
            Some("2021-07-04 18:30:00")
        );
        assert_eq!(normalise_date("0000:00:00 00:00:00"), None);
        assert_eq!(normalise_date("yesterday"), None);
    }
}
