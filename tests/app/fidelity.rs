//! Fidelity: the photos people really have come out right — colour profiles,
//! greyscale, 16-bit, palette, CMYK, alpha, animation, orientation in PNG
//! and WebP.
//! Fixtures are generated here, with known sRGB renderings.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, RgbImage};
use moxcms::ColorProfile;
use scoot::web::api::PhotoJson;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const W: u32 = 96;
const H: u32 = 64;

fn flat_jpeg(rgb: [u8; 3], icc: Option<Vec<u8>>) -> Vec<u8> {
    let img = RgbImage::from_pixel(W, H, image::Rgb(rgb));
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 95);
    if let Some(icc) = icc {
        enc.set_icc_profile(icc).unwrap();
    }
    enc.write_image(img.as_raw(), W, H, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn png_of(bytes: &[u8], w: u32, h: u32, color: ExtendedColorType, icc: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = PngEncoder::new(&mut out);
    if let Some(icc) = icc {
        enc.set_icc_profile(icc).unwrap();
    }
    enc.write_image(bytes, w, h, color).unwrap();
    out
}

/// Uploads, waits, and returns the photo and its `display` variant in the
/// universal format (JPEG or PNG) decoded, after checking that the WebP one
/// looks the same at the centre.
async fn rendered(app: &TestApp, name: &str, bytes: Vec<u8>) -> (PhotoJson, DynamicImage) {
    let resp = app.upload_bytes(name, bytes).await;
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "{name}");
    let photo: PhotoJson = resp.json().await.unwrap();
    let photo = app.settled(&photo.id).await;
    assert_eq!(photo.status, "ready", "{name}: {:?}", photo.error);
    let display = |format: &str| {
        let v = photo
            .variants
            .iter()
            .find(|v| v.name == "display" && v.format == format);
        v.map(|v| v.url.clone())
    };
    let universal = display("jpeg")
        .or_else(|| display("png"))
        .expect("a JPEG or PNG display");
    let img = image::load_from_memory(&app.bytes(&universal).await).unwrap();
    let webp = display("webp").expect("a WebP display");
    let webp = image::load_from_memory(&app.bytes(&webp).await).unwrap();
    let (a, b) = (centre(&img), centre(&webp));
    assert!(
        a.iter().zip(b).all(|(a, b)| a.abs_diff(b) <= 6),
        "{name}: WebP {b:?} vs {a:?}"
    );
    (photo, img)
}

fn centre(img: &DynamicImage) -> [u8; 4] {
    img.to_rgba8()
        .get_pixel(img.width() / 2, img.height() / 2)
        .0
}

fn assert_near(name: &str, got: [u8; 4], want: [u8; 3]) {
    let ok = got[..3].iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 6);
    assert!(ok, "{name}: got {got:?}, want ≈ {want:?}");
}

#[tokio::test]
async fn embedded_profiles_are_converted_to_srgb() {
    let app = spawn_app().await;
    // sRGB's pure red, as Display P3 and as Adobe RGB (1998) write it.
    let p3 = flat_jpeg(
        [234, 51, 35],
        Some(ColorProfile::new_display_p3().encode().unwrap()),
    );
    let (_, img) = rendered(&app, "p3.jpg", p3).await;
    assert_near("Display P3 JPEG", centre(&img), [255, 0, 0]);

    let adobe_px = [219u8, 0, 0].repeat((W * H) as usize);
    let adobe = png_of(
        &adobe_px,
        W,
        H,
        ExtendedColorType::Rgb8,
        Some(ColorProfile::new_adobe_rgb().encode().unwrap()),
    );
    let (_, img) = rendered(&app, "adobe.png", adobe).await;
    assert_near("Adobe RGB PNG", centre(&img), [255, 0, 0]);

    // The same numbers untagged are sRGB already and stay as they are.
    let (_, img) = rendered(&app, "plain.jpg", flat_jpeg([234, 51, 35], None)).await;
    assert_near("untagged JPEG", centre(&img), [234, 51, 35]);
}

#[tokio::test]
async fn grey_sixteen_bit_and_palette_sources() {
    let app = spawn_app().await;
    // Greyscale JPEG.
    let grey = image::GrayImage::from_pixel(W, H, image::Luma([90]));
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 95)
        .write_image(grey.as_raw(), W, H, ExtendedColorType::L8)
        .unwrap();
    let (_, img) = rendered(&app, "grey.jpg", jpeg).await;
    assert_near("greyscale JPEG", centre(&img), [90, 90, 90]);

    // 16-bit RGB PNG: 0x8080 is 128 in 8 bits.
    let sixteen: Vec<u8> = [0x80u8, 0x80, 0x20, 0x20, 0xF0, 0xF0].repeat((W * H) as usize);
    let png16 = png_of(&sixteen, W, H, ExtendedColorType::Rgb16, None);
    let (_, img) = rendered(&app, "sixteen.png", png16).await;
    assert_near("16-bit PNG", centre(&img), [128, 32, 240]);

    // Palette PNG.
    let mut palette_png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut palette_png, W, H);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![0, 0, 0, 20, 160, 60]);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&vec![1u8; (W * H) as usize]).unwrap();
    }
    let (_, img) = rendered(&app, "palette.png", palette_png).await;
    assert_near("palette PNG", centre(&img), [20, 160, 60]);
}

#[tokio::test]
async fn alpha_is_kept_and_animation_gives_its_first_frame() {
    let app = spawn_app().await;
    let rgba: Vec<u8> = [10u8, 200, 30, 128].repeat((W * H) as usize);
    let (photo, img) = rendered(
        &app,
        "alpha.png",
        png_of(&rgba, W, H, ExtendedColorType::Rgba8, None),
    )
    .await;
    assert!(
        photo
            .variants
            .iter()
            .all(|v| v.format == "png" || v.format == "webp")
    );
    let px = centre(&img);
    assert!(px[3].abs_diff(128) <= 1, "alpha kept: {px:?}");
    assert_near("alpha PNG colour", px, [10, 200, 30]);

    // Two frames: red then blue. The still is the first.
    let mut gif = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        for rgb in [[220u8, 20, 20], [20, 20, 220]] {
            let frame =
                image::RgbaImage::from_pixel(W, H, image::Rgba([rgb[0], rgb[1], rgb[2], 255]));
            enc.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    let (photo, img) = rendered(&app, "anim.gif", gif.clone()).await;
    assert_near("animated GIF", centre(&img), [220, 20, 20]);
    // The original stays downloadable as it was.
    assert_eq!(app.bytes(&photo.original_url).await, gif);
}

fn animated_gif(frames: usize) -> Vec<u8> {
    let mut gif = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        for i in 0..frames {
            let v = (i * 40 % 256) as u8;
            let frame = image::RgbaImage::from_pixel(8, 8, image::Rgba([v, 0, 0, 255]));
            enc.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    gif
}

#[tokio::test]
async fn animations_over_the_frame_limit_are_refused_before_decoding() {
    let app = spawn_app_with(|c| c.upload.max_frames = 5).await;
    let resp = app.upload_bytes("long.gif", animated_gif(6)).await;
    assert_eq!(resp.status(), reqwest::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body = resp.text().await.unwrap();
    assert!(body.contains("frames"), "reason names the limit: {body}");
    assert!(app.stored_files().await.is_empty());

    let resp = app.upload_bytes("short.gif", animated_gif(5)).await;
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
}

#[tokio::test]
async fn png_and_webp_exif_orientation_is_applied() {
    let app = spawn_app().await;
    // 60×30, left half black, right half white; EXIF orientation 6 (rotate
    // 90° clockwise) makes it 30×60 with black on top.
    let img = RgbImage::from_fn(60, 30, |x, _| {
        if x < 30 {
            image::Rgb([0; 3])
        } else {
            image::Rgb([255; 3])
        }
    });
    let exif = {
        use exif::experimental::Writer;
        use exif::{Field, In, Tag, Value};
        let field = Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![6]),
        };
        let mut w = Writer::new();
        w.push_field(&field);
        let mut out = std::io::Cursor::new(Vec::new());
        w.write(&mut out, false).unwrap();
        out.into_inner()
    };
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, 60, 30);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_chunk(png::chunk::ChunkType(*b"eXIf"), &exif)
            .unwrap();
        w.write_image_data(img.as_raw()).unwrap();
    }
    let webp_bytes = webp_with_exif(&img, &exif);
    for (name, bytes) in [("rotated.png", png_bytes), ("rotated.webp", webp_bytes)] {
        let (photo, display) = rendered(&app, name, bytes).await;
        assert_eq!(
            (photo.width, photo.height),
            (30, 60),
            "{name}: API size is as displayed"
        );
        assert_eq!((display.width(), display.height()), (30, 60), "{name}");
        let top = display.to_rgb8().get_pixel(15, 5).0;
        let bottom = display.to_rgb8().get_pixel(15, 55).0;
        assert!(
            top[0] < 40 && bottom[0] > 215,
            "{name}: top {top:?} bottom {bottom:?}"
        );
    }
}

/// A lossless WebP of `img` in the extended (VP8X) container with an EXIF
/// chunk, as cameras and editors write them.
fn webp_with_exif(img: &RgbImage, exif: &[u8]) -> Vec<u8> {
    let simple = webp::Encoder::from_rgb(img.as_raw(), img.width(), img.height()).encode_lossless();
    // A simple file is RIFF <size> WEBP <one VP8L chunk>.
    let image_chunk = &simple[12..];
    let chunk = |fourcc: &[u8; 4], data: &[u8]| {
        let mut c = fourcc.to_vec();
        c.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
        c.extend(data);
        if data.len() % 2 == 1 {
            c.push(0);
        }
        c
    };
    let mut vp8x = vec![0x08, 0, 0, 0]; // flags: EXIF present
    vp8x.extend(&(img.width() - 1).to_le_bytes()[..3]);
    vp8x.extend(&(img.height() - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    body.extend(chunk(b"VP8X", &vp8x));
    body.extend(image_chunk);
    body.extend(chunk(b"EXIF", exif));
    let mut out = b"RIFF".to_vec();
    out.extend(u32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend(body);
    out
}

#[tokio::test]
async fn cmyk_jpegs_come_out_in_colour() {
    let app = spawn_app().await;
    // C=200 M=40 Y=220 K=0 ink, in both of the Adobe encodings.
    for space in ["cmyk", "ycck"] {
        let (_, img) = rendered(&app, "cmyk.jpg", cmyk_fixture(space, "green")).await;
        // Naive inverted-CMYK → RGB: (255 - C)(255 - K)/255 …
        assert_near(&format!("{space} JPEG"), centre(&img), [55, 215, 35]);
    }
}

/// `tests/fixtures/cmyk/{space}-{ink}.jpg`: flat 64 × 48 JPEGs of CMYK ink
/// amounts, stored inverted (255 − ink) as Photoshop writes them, with the
/// Adobe marker saying CMYK (transform 0) or YCCK (transform 2). Written
/// with libjpeg-turbo; the inks are green (200, 40, 220, 0), cyan
/// (255, 0, 0, 0), magenta (0, 255, 0, 0), paper (0, 0, 0, 0) and black
/// (0, 0, 0, 255).
fn cmyk_fixture(space: &str, ink: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/cmyk/{space}-{ink}.jpg",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A small CMYK printer profile (lut16, Lab connection space) whose inks
/// are not the naive ones: cyan ink prints sRGB (0, 158, 237), magenta
/// (237, 0, 140), yellow (255, 242, 0); inks multiply, black ink is black.
/// The 2×2×2×2 grid holds each corner's Lab (D50, ICC v2 16-bit encoding),
/// computed from those sRGB colours.
fn cmyk_profile() -> Vec<u8> {
    use moxcms::{
        DataColorSpace, LutDataType, LutStore, LutType, LutWarehouse, Matrix3d, ProfileClass,
    };
    #[rustfmt::skip]
    let corners: [[u16; 3]; 16] = [
        [65280, 32769, 32762], [0, 32768, 32768], [61582, 30224, 56098], [0, 32768, 32768],
        [34181, 53393, 31023], [0, 32768, 32768], [32989, 52351, 49701], [0, 32768, 32768],
        [40070, 29347, 19903], [0, 32768, 32768], [35218, 19093, 46735], [0, 32768, 32768],
        [7643, 43400, 15325], [0, 32768, 32768], [0, 32768, 32768], [0, 32768, 32768],
    ];
    let lut = LutDataType {
        num_input_channels: 4,
        num_output_channels: 3,
        num_clut_grid_points: 2,
        matrix: Matrix3d::IDENTITY,
        num_input_table_entries: 2,
        num_output_table_entries: 2,
        input_table: LutStore::Store16([0, 65535].repeat(4)),
        clut_table: LutStore::Store16(corners.concat()),
        output_table: LutStore::Store16([0, 65535].repeat(3)),
        lut_type: LutType::Lut16,
    };
    let mut profile = ColorProfile::default();
    profile.color_space = DataColorSpace::Cmyk;
    profile.pcs = DataColorSpace::Lab;
    profile.profile_class = ProfileClass::OutputDevice;
    profile.lut_a_to_b_perceptual = Some(LutWarehouse::Lut(lut));
    profile.encode().unwrap()
}

/// `jpeg` with `icc` embedded in an APP2 marker right after SOI.
fn with_icc(jpeg: &[u8], icc: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE2]);
    out.extend(u16::try_from(2 + 12 + 2 + icc.len()).unwrap().to_be_bytes());
    out.extend(b"ICC_PROFILE\0");
    out.extend([1, 1]);
    out.extend(icc);
    out.extend(&jpeg[2..]);
    out
}

#[tokio::test]
async fn cmyk_jpegs_go_through_their_cmyk_profile() {
    let app = spawn_app().await;
    let icc = cmyk_profile();
    for space in ["cmyk", "ycck"] {
        for (ink, want) in [
            ("cyan", [0u8, 158, 237]),
            ("magenta", [237, 0, 140]),
            ("paper", [255, 255, 255]),
            ("black", [0, 0, 0]),
        ] {
            let jpeg = with_icc(&cmyk_fixture(space, ink), &icc);
            let (_, img) = rendered(&app, &format!("{space}-{ink}.jpg"), jpeg).await;
            // The naive conversion would give pure cyan (0, 255, 255) for the first.
            let got = centre(&img);
            let ok = got[..3].iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 10);
            assert!(ok, "{space} {ink}: got {got:?}, want ≈ {want:?}");
        }
    }
}
