//! Looking at an image without decoding it: format from the magic bytes,
//! dimensions and EXIF from the header. Uploads are refused on what this
//! finds (docs/architecture.md invariant 6) before any pixel is decoded;
//! [`super::verify`] then checks that the data decodes to the end.

use std::io::{BufRead, Cursor, Read, Seek};

use image::{ImageDecoder, ImageReader, metadata::Orientation};

use super::exif::shot_facts;
pub use super::types::{PixelLimits, ProbeError};
use crate::domain::{ImageFormat, ShotFacts};

/// What an upload's header says.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub format: ImageFormat,
    /// As displayed, i.e. after EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// What the camera recorded, from EXIF.
    pub shot: ShotFacts,
}

/// The format named by the first bytes, if Scoot accepts it.
pub fn sniff(head: &[u8]) -> Result<ImageFormat, ProbeError> {
    match image::guess_format(head) {
        Ok(image::ImageFormat::Jpeg) => Ok(ImageFormat::Jpeg),
        Ok(image::ImageFormat::Png) => Ok(ImageFormat::Png),
        Ok(image::ImageFormat::WebP) => Ok(ImageFormat::Webp),
        Ok(image::ImageFormat::Gif) => Ok(ImageFormat::Gif),
        Ok(other) => Err(ProbeError::Unsupported(format!("{other:?}"))),
        Err(_) => Err(ProbeError::NotAnImage),
    }
}

pub(crate) fn to_image_format(f: ImageFormat) -> image::ImageFormat {
    match f {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Webp => image::ImageFormat::WebP,
        ImageFormat::Gif => image::ImageFormat::Gif,
    }
}

/// Reads format, size, orientation and EXIF facts from an image's header.
pub fn probe<R: BufRead + Seek>(mut reader: R, limits: &PixelLimits) -> Result<Probe, ProbeError> {
    let mut head = [0u8; 32];
    let n = read_up_to(&mut reader, &mut head)?;
    let format = sniff(&head[..n])?;
    reader
        .rewind()
        .map_err(|e| ProbeError::Corrupt(e.to_string()))?;
    if format == ImageFormat::Jpeg {
        return probe_jpeg(reader, limits);
    }
    count_frames(&mut reader, format, limits.max_frames)?;
    reader
        .rewind()
        .map_err(|e| ProbeError::Corrupt(e.to_string()))?;
    // Header only: the size check below gives the clearer refusal, so the
    // decoder's own dimension limits are not set here.
    let image_reader = ImageReader::with_format(reader, to_image_format(format));
    let mut decoder = image_reader.into_decoder().map_err(refusal)?;
    let (w, h) = decoder.dimensions();
    limits.check(w, h)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let (width, height) = displayed_size(w, h, orientation);
    let exif = decoder.exif_metadata().ok().flatten();
    let shot = exif.as_deref().map(shot_facts).unwrap_or_default();
    Ok(Probe {
        format,
        width,
        height,
        shot,
    })
}

/// Refuses animations over `max` frames, counting them without decoding any
/// (GIF frames are skipped over, WebP says its count in the header).
fn count_frames<R: BufRead + Seek>(
    reader: &mut R,
    format: ImageFormat,
    max: u32,
) -> Result<(), ProbeError> {
    let corrupt = |e: &dyn std::fmt::Display| ProbeError::Corrupt(e.to_string());
    let frames = match format {
        ImageFormat::Gif => {
            let mut options = gif::DecodeOptions::new();
            options.skip_frame_decoding(true);
            let mut decoder = options.read_info(reader).map_err(|e| corrupt(&e))?;
            let mut n = 0u32;
            while decoder
                .next_frame_info()
                .map_err(|e| corrupt(&e))?
                .is_some()
            {
                n += 1;
                if n > max {
                    break;
                }
            }
            n
        }
        ImageFormat::Webp => image_webp::WebPDecoder::new(reader)
            .map_err(|e| corrupt(&e))?
            .num_frames()
            .max(1),
        _ => 1,
    };
    if frames > max {
        return Err(ProbeError::TooManyFrames { limit: max });
    }
    Ok(())
}

/// JPEG headers come first in the file: read a prefix, not the whole photo.
fn probe_jpeg<R: Read>(mut reader: R, limits: &PixelLimits) -> Result<Probe, ProbeError> {
    const PREFIX: u64 = 1 << 20;
    let io = |e: std::io::Error| ProbeError::Corrupt(e.to_string());
    let mut buf = Vec::new();
    (&mut reader)
        .take(PREFIX)
        .read_to_end(&mut buf)
        .map_err(io)?;
    let header = match super::jpeg::read_header(&buf) {
        Ok(h) => h,
        // Markers bigger than the prefix (huge previews, profiles): read on.
        Err(_) if buf.len() as u64 == PREFIX => {
            reader.read_to_end(&mut buf).map_err(io)?;
            super::jpeg::read_header(&buf)?
        }
        Err(e) => return Err(e),
    };
    limits.check(header.width, header.height)?;
    let (width, height) = displayed_size(header.width, header.height, header.orientation);
    Ok(Probe {
        format: ImageFormat::Jpeg,
        width,
        height,
        shot: header.exif.as_deref().map(shot_facts).unwrap_or_default(),
    })
}

/// Probes an image held in memory.
pub fn probe_bytes(bytes: &[u8], limits: &PixelLimits) -> Result<Probe, ProbeError> {
    probe(Cursor::new(bytes), limits)
}

fn read_up_to<R: std::io::Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, ProbeError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(ProbeError::Corrupt(e.to_string())),
        }
    }
    Ok(n)
}

/// Maps a decoder error to the reason given to the uploader.
pub(crate) fn refusal(e: image::ImageError) -> ProbeError {
    match e {
        image::ImageError::Limits(l) => ProbeError::Corrupt(format!("over decoder limits: {l}")),
        image::ImageError::Unsupported(u) => ProbeError::Unsupported(u.to_string()),
        other => ProbeError::Corrupt(other.to_string()),
    }
}

/// Width and height after applying `orientation`.
pub fn displayed_size(w: u32, h: u32, orientation: Orientation) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (h, w),
        _ => (w, h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_knows_only_accepted_formats() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest").unwrap(), ImageFormat::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n").unwrap(), ImageFormat::Png);
        assert_eq!(sniff(b"GIF89a").unwrap(), ImageFormat::Gif);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(), ImageFormat::Webp);
        assert!(matches!(sniff(b"BM\0\0"), Err(ProbeError::Unsupported(_))));
        assert!(matches!(sniff(b"hello world"), Err(ProbeError::NotAnImage)));
    }

    #[test]
    fn pixel_limits_are_checked_from_the_header() {
        let limits = PixelLimits {
            max_pixels: 1000,
            max_side: 100,
            max_frames: 10,
        };
        let mut png = Vec::new();
        image::RgbImage::new(101, 2)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(matches!(
            probe_bytes(&png, &limits),
            Err(ProbeError::TooLarge { width: 101, .. })
        ));
        let mut ok = Vec::new();
        image::RgbImage::new(40, 20)
            .write_to(&mut Cursor::new(&mut ok), image::ImageFormat::Png)
            .unwrap();
        let p = probe_bytes(&ok, &limits).unwrap();
        assert_eq!((p.format, p.width, p.height), (ImageFormat::Png, 40, 20));
    }
}
