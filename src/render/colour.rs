//! Colour: every variant leaves as sRGB, which is what browsers assume for
//! untagged images. An embedded ICC profile (Adobe RGB, Display P3,
//! ProPhoto, …) is converted with moxcms, a maintained pure-Rust colour
//! management engine; the variants then carry no profile at all.
//!
//! CMYK JPEGs with a CMYK profile (as print workflows write them) go through
//! that profile too, straight from the decoder's CMYK ([`ToSrgb::from_cmyk_icc`]).
//! Untagged images, and profiles that cannot be used (a grey profile, or a
//! CMYK one the decoder already turned to RGB) are taken as sRGB.

use std::sync::Arc;

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformExecutor, TransformOptions};

use super::types::{Pixels, RenderError};

/// A conversion from an embedded profile to sRGB.
pub struct ToSrgb {
    transform: Arc<dyn TransformExecutor<u8> + Send + Sync>,
}

impl ToSrgb {
    /// The conversion for `icc`, or `None` when there is nothing to do.
    pub fn from_icc(icc: &[u8], alpha: bool) -> Option<Self> {
        let source = ColorProfile::new_from_slice(icc).ok()?;
        let layout = if alpha { Layout::Rgba } else { Layout::Rgb };
        let transform = source
            .create_transform_8bit(
                layout,
                &ColorProfile::new_srgb(),
                layout,
                TransformOptions::default(),
            )
            .map_err(|e| tracing::debug!(error = %e, "embedded profile not usable; taken as sRGB"))
            .ok()?;
        Some(Self { transform })
    }

    /// The conversion from 8-bit CMYK (ink amounts, 0 = none) under a CMYK
    /// profile to 8-bit sRGB, or `None` if `icc` is not a usable CMYK profile.
    pub fn from_cmyk_icc(icc: &[u8]) -> Option<Self> {
        let source = ColorProfile::new_from_slice(icc).ok()?;
        if source.color_space != DataColorSpace::Cmyk {
            return None;
        }
        let transform = source
            .create_transform_8bit(
                Layout::Rgba,
                &ColorProfile::new_srgb(),
                Layout::Rgb,
                TransformOptions::default(),
            )
            .map_err(|e| tracing::debug!(error = %e, "CMYK profile not usable"))
            .ok()?;
        Some(Self { transform })
    }

    /// Converts `src` into `dst` (same layout and size).
    pub fn apply(&self, src: &Pixels, dst: &mut [u8]) -> Result<(), RenderError> {
        self.convert(&src.data, dst)
    }

    /// Converts raw pixels in the source layout into `dst`.
    pub fn convert(&self, src: &[u8], dst: &mut [u8]) -> Result<(), RenderError> {
        self.transform
            .transform(src, dst)
            .map_err(|e| RenderError::Colour(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(profile: ColorProfile, rgb: [u8; 3]) -> [u8; 3] {
        let icc = profile.encode().unwrap();
        let t = ToSrgb::from_icc(&icc, false).unwrap();
        let src = Pixels {
            width: 1,
            height: 1,
            alpha: false,
            data: rgb.to_vec(),
        };
        let mut out = [0u8; 3];
        t.apply(&src, &mut out).unwrap();
        out
    }

    fn near(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 3)
    }

    #[test]
    fn wide_gamut_reds_become_srgb_red() {
        // sRGB's red, written in Display P3 and in Adobe RGB (1998).
        assert!(near(
            convert(ColorProfile::new_display_p3(), [234, 51, 35]),
            [255, 0, 0]
        ));
        assert!(near(
            convert(ColorProfile::new_adobe_rgb(), [219, 0, 0]),
            [255, 0, 0]
        ));
        // sRGB to sRGB changes nothing.
        assert!(near(
            convert(ColorProfile::new_srgb(), [12, 200, 99]),
            [12, 200, 99]
        ));
    }

    #[test]
    fn garbage_profiles_are_ignored() {
        assert!(ToSrgb::from_icc(b"not a profile", false).is_none());
    }
}
