//! Rendering: orientation is applied and variants show the right picture.

use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};

use crate::helpers::{spawn_app, spawn_app_with};

/// A small greyscale-free thumbnail for comparing pictures, not bytes.
fn signature(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes)
        .unwrap()
        .resize_exact(24, 16, FilterType::Triangle)
        .into_rgb8()
}

fn signature_portrait(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes)
        .unwrap()
        .resize_exact(16, 24, FilterType::Triangle)
        .into_rgb8()
}

/// Mean absolute difference per channel, 0–255.
fn distance(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[tokio::test]
async fn every_exif_orientation_comes_out_upright() {
    let app = spawn_app().await;
    let mut uploaded = Vec::new();
    for shape in ["Landscape", "Portrait"] {
        for n in 0..=8 {
            let rel = format!("orientation/{shape}_{n}.jpg");
            uploaded.push((shape, n, app.upload_fixture(&rel).await));
        }
    }
    let mut reference = std::collections::HashMap::new();
    let mut rendered = Vec::new();
    for (shape, n, accepted) in uploaded {
        let photo = app.settled(&accepted.id).await;
        assert_eq!(photo.status, "ready", "{shape}_{n}: {:?}", photo.error);
        let landscape = shape == "Landscape";
        assert_eq!(
            photo.width > photo.height,
            landscape,
            "{shape}_{n} API size"
        );
        // The size is known (from the header) before rendering, too.
        assert_eq!(
            (accepted.width, accepted.height),
            (photo.width, photo.height)
        );
        let names: Vec<_> = photo.variants.iter().map(|v| v.name.as_str()).collect();
        assert!(
            names.contains(&"thumb") && names.contains(&"display"),
            "{names:?}"
        );
        let formats: Vec<_> = photo
            .variants
            .iter()
            .map(|v| (v.name.as_str(), v.format.as_str()))
            .collect();
        for want in [
            ("thumb", "jpeg"),
            ("thumb", "webp"),
            ("display", "jpeg"),
            ("display", "webp"),
        ] {
            assert!(formats.contains(&want), "{formats:?}");
        }
        for v in &photo.variants {
            assert_eq!(v.width > v.height, landscape, "{shape}_{n} {}", v.name);
            assert!(v.width.max(v.height) <= if v.name == "thumb" { 400 } else { 1600 });
            let bytes = app.bytes(&v.url).await;
            let decoded = image::load_from_memory(&bytes).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (v.width, v.height));
        }
        let display = photo
            .variants
            .iter()
            .find(|v| v.name == "display" && v.format == "jpeg")
            .unwrap();
        let bytes = app.bytes(&display.url).await;
        let sig = if landscape {
            signature(&bytes)
        } else {
            signature_portrait(&bytes)
        };
        if n == 1 {
            reference.insert(shape, sig.clone());
        }
        rendered.push((shape, n, sig));
    }
    for (shape, n, sig) in &rendered {
        let d = distance(sig, &reference[shape]);
        assert!(d < 6.0, "{shape}_{n} differs from orientation 1 by {d:.1}");
    }
    // The check can fail: a mirrored picture is far from the upright one.
    for shape in ["Landscape", "Portrait"] {
        let upright = &reference[shape];
        let mirrored = image::imageops::flip_horizontal(upright);
        let flipped = image::imageops::flip_vertical(upright);
        assert!(distance(upright, &mirrored) > 15.0, "{shape} mirror");
        assert!(distance(upright, &flipped) > 15.0, "{shape} flip");
    }
}

#[tokio::test]
async fn small_images_are_not_upscaled_and_alpha_becomes_png() {
    let app = spawn_app().await;
    let rgba = image::RgbaImage::from_fn(120, 80, |x, _| image::Rgba([255, 0, 0, (x * 2) as u8]));
    let mut bytes = Vec::new();
    DynamicImage::ImageRgba8(rgba)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    let resp = app.upload_bytes("alpha.png", bytes).await;
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
    let accepted: scoot::web::api::PhotoJson = resp.json().await.unwrap();
    let photo = app.settled(&accepted.id).await;
    assert_eq!(photo.status, "ready");
    let mut formats: Vec<_> = photo.variants.iter().map(|v| v.format.as_str()).collect();
    formats.sort_unstable();
    assert_eq!(
        formats,
        ["png", "png", "png", "png", "webp", "webp", "webp", "webp"],
        "lossless PNG plus WebP with alpha"
    );
    for v in &photo.variants {
        assert_eq!((v.width, v.height), (120, 80));
        let decoded = image::load_from_memory(&app.bytes(&v.url).await)
            .unwrap()
            .into_rgba8();
        assert_eq!(
            decoded.get_pixel(0, 40).0[3],
            0,
            "transparent edge survives"
        );
        assert!(decoded.get_pixel(119, 40).0[3] > 200);
    }
}

/// A noisy PNG: slow enough to decode that two renders overlap.
fn heavy_png(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(2400, 1600, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ (seed << 16)) >> 7;
        image::Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Two workers; runs the same burst of big images under `budget_mb`.
async fn peak_concurrency(budget_mb: u32) -> (f64, f64) {
    let app = crate::helpers::spawn_app_with(|c| {
        c.render.threads = 2;
        c.render.memory_budget_mb = budget_mb;
    })
    .await;
    let mut ids = Vec::new();
    for seed in 0..6 {
        let resp = app.upload_bytes("big.png", heavy_png(seed)).await;
        assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
        ids.push(resp.json::<scoot::web::api::PhotoJson>().await.unwrap().id);
    }
    for id in &ids {
        assert_eq!(app.settled(id).await.status, "ready");
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    (
        gauge(&metrics, "scoot_renders_in_flight_peak"),
        gauge(&metrics, "scoot_render_memory_reserved_peak_bytes"),
    )
}

#[tokio::test]
async fn renders_are_admitted_within_the_memory_budget() {
    // One 2400×1600 PNG is estimated at ~100 MB: 150 MB admits one at a time.
    let (in_flight, reserved) = peak_concurrency(150).await;
    assert_eq!(in_flight, 1.0, "a second render started over budget");
    assert!(
        reserved <= 150.0 * 1048576.0 && reserved > 50.0 * 1048576.0,
        "{reserved}"
    );
    // The same burst with room for two does run two at once.
    let (in_flight, reserved) = peak_concurrency(1024).await;
    assert_eq!(in_flight, 2.0);
    assert!(reserved > 150.0 * 1048576.0, "{reserved}");
}

/// The niceness of this process's threads whose name starts with `prefix`
/// (Linux: field 19 of /proc/self/task/TID/stat).
#[cfg(target_os = "linux")]
fn thread_niceness(prefix: &str) -> Vec<i64> {
    thread_stat_field(prefix, 16)
}

/// The calling thread's niceness.
#[cfg(target_os = "linux")]
fn own_niceness() -> i64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    stat_field(&stat, 16).expect("a niceness")
}

/// The scheduling class of those threads (field 41; 5 is `SCHED_IDLE`).
#[cfg(target_os = "linux")]
fn thread_policy(prefix: &str) -> Vec<i64> {
    thread_stat_field(prefix, 38)
}

/// Field `n` after the name of /proc/self/task/TID/stat, for each thread
/// whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn thread_stat_field(prefix: &str, n: usize) -> Vec<i64> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        found.extend(stat_field(&stat, n));
    }
    found
}

/// The names of this process's threads.
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap().flatten();
    tasks
        .map(|task| std::fs::read_to_string(task.path().join("comm")).unwrap_or_default())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// Field `n` after the name in a thread's `stat` line.
#[cfg(target_os = "linux")]
fn stat_field(stat: &str, n: usize) -> Option<i64> {
    // The name may hold spaces; fields resume after its closing ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest)?;
    Some(after.split_whitespace().nth(n)?.parse().unwrap())
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn render_threads_yield_the_cpu_to_serving() {
    let app = spawn_app_with(|c| {
        c.render.nice = 12;
        c.render.idle_priority = true;
    })
    .await;
    // Each render thread lowers its own priority as it starts, which may
    // be just after the app is up.
    let mut nice = thread_niceness("render-");
    for _ in 0..100 {
        if nice.contains(&12) && nice.iter().all(|&n| n >= 10) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        nice = thread_niceness("render-");
    }
    assert!(!nice.is_empty(), "render threads are named render-N");
    // Other apps of this test binary run render threads too (default 10).
    assert!(nice.contains(&12), "{nice:?}");
    assert!(nice.iter().all(|&n| n >= 10), "{nice:?}");
    // Asked to, in the idle class: a request's thread takes the core from
    // a render at once. (Other apps of this binary keep the default.)
    const SCHED_IDLE: i64 = 5;
    let mut classes = thread_policy("render-");
    for _ in 0..100 {
        if classes.contains(&SCHED_IDLE) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        classes = thread_policy("render-");
    }
    assert!(classes.contains(&SCHED_IDLE), "{classes:?}");
    assert!(
        classes.iter().all(|&c| c == SCHED_IDLE || c == 0),
        "{classes:?}"
    );
    // The threads that serve connections keep the process's priority
    // (whatever niceness the suite was started at) and class.
    // CI once read none here, though the app starts them before it
    // listens: an empty read is tried again, as for the render threads,
    // and should none appear the message lists the threads there are.
    let own = own_niceness();
    let mut serving = thread_niceness("scoot-http-");
    for _ in 0..100 {
        if !serving.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        serving = thread_niceness("scoot-http-");
    }
    assert!(
        !serving.is_empty(),
        "no connection threads among {:?}",
        thread_names()
    );
    assert!(
        serving.iter().all(|&n| n == own),
        "serving keeps its priority ({own}): {serving:?}"
    );
    let serving = thread_policy("scoot-http-");
    assert!(
        serving.iter().all(|&c| c == 0),
        "and its class: {serving:?}"
    );
    app.shutdown().await;
}

/// A store that cannot take the variants (here a file where their
/// directory goes): the render is tried again every `render.retry_seconds`
/// without using up the photo's attempts, so the photo stays `pending`
/// (not `failed`) and becomes `ready` once the store takes them.
#[tokio::test]
async fn variants_the_store_refuses_are_retried_until_it_takes_them() {
    // The local disk store, whatever store the suite runs on.
    let app = spawn_app_with(|c| {
        c.render.max_attempts = 1;
        c.render.retry_seconds = 1;
        c.store_url.clear();
    })
    .await;
    let variants = app.config.data_dir.join("media").join("variants");
    if variants.is_dir() {
        std::fs::remove_dir_all(&variants).unwrap();
    }
    std::fs::create_dir_all(variants.parent().unwrap()).unwrap();
    std::fs::write(&variants, b"not a directory").unwrap();

    let jpeg = crate::helpers::jpeg_with_exif("Scoot", "Test", "2024:05:06 07:08:09");
    let resp = app.upload_bytes("refused.jpg", jpeg).await;
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
    let id = resp.json::<scoot::web::api::PhotoJson>().await.unwrap().id;
    app.wait_for_retries(2).await;
    let photo = app.photo(&id).await.unwrap();
    assert_eq!(photo.status, "pending", "{:?}", photo.error);

    std::fs::remove_file(&variants).unwrap();
    let photo = app.settled(&id).await;
    assert_eq!(photo.status, "ready");
    let original = app.get_as(&photo.original_url, &app.token).await;
    assert_eq!(original.status(), reqwest::StatusCode::OK);
}

/// A JPEG upload is decoded once: its check decodes it the render's way,
/// and on an idle server the render of those planes starts at once, ahead
/// of its job, which takes the result; a PNG, which the render decodes
/// otherwise, is checked cheaply and rendered from the stored original.
#[tokio::test]
async fn an_uploaded_jpeg_is_rendered_from_its_checked_decode() {
    let app = spawn_app().await;
    let sources = |s: &str| format!("scoot_render_sources_total{{source=\"{s}\"}}");
    let (ahead, kept, original) = (sources("ahead"), sources("kept"), sources("original"));
    let jpeg = app.upload_fixture("orientation/Landscape_6.jpg").await;
    assert_eq!(app.settled(&jpeg.id).await.status, "ready");
    let counts = async || {
        (
            app.counted(&ahead).await,
            app.counted(&kept).await,
            app.counted(&original).await,
        )
    };
    assert_eq!(counts().await, (1, 0, 0));

    let resp = app.upload_bytes("heavy.png", heavy_png(7)).await;
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
    let png = resp.json::<scoot::web::api::PhotoJson>().await.unwrap();
    assert_eq!(app.settled(&png.id).await.status, "ready");
    assert_eq!(counts().await, (1, 0, 1));
}
