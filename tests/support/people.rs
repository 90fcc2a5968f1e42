//! People in a real browser: the administrator adds someone from the
//! admin's People tab and copies their one-time link; the newcomer opens
//! it in their own (dark) browser, chooses a password and is logged in;
//! the administrator makes them an administrator and back, deletes them
//! after a confirmation (the newcomer is logged out at once) and restores
//! them.

use fantoccini::Client;
use serde_json::json;

use crate::chromium::{
    Result, Scheme, accessibility_problems, browser_in, click, fill, log_in, path, snap, until,
};

/// The row of the people table whose name is `name`, as a CSS selector
/// prefix cannot say: found by script, with `then` run on it.
fn on_row(name: &str, then: &str) -> String {
    format!(
        "const row = [...document.querySelectorAll('table.people tbody tr')]
            .find((r) => r.querySelector('th')?.textContent.trim() === {name:?});
         return row ? ({then}) : null;"
    )
}

/// Runs the scene as the administrator in `c`; returns the axe-core
/// problems found on the pages only it shows (the set-password form).
pub async fn check(
    c: &Client,
    base: &str,
    driver: &crate::chromium::Driver,
) -> Result<Vec<String>> {
    c.goto(&format!("{base}/admin")).await?;
    click(c, "nav.tabs a[href='/admin/people']").await?;
    until(
        c,
        "the people page",
        "return document.querySelector('h1')?.textContent === 'People'",
    )
    .await?;
    fill(c, "form[action='/admin/people'] input[name=name]", "grace").await?;
    click(c, "form[action='/admin/people'] button[type=submit]").await?;
    let link = until(
        c,
        "grace's link",
        "return document.getElementById('password-link')?.value",
    )
    .await?;
    let link = link.as_str().expect("a link").to_owned();
    assert!(
        link.starts_with(&format!("{base}/password?token=")),
        "{link}"
    );
    click(c, "[data-copy=password-link]").await?;
    let copied = until(
        c,
        "the link copied",
        "return document.querySelector('[data-copy=password-link]').dataset.copied",
    )
    .await?;
    assert_eq!(copied, json!("1"));
    snap(c, "15-people-new-link").await?;

    // Grace opens it in her own browser and chooses a password.
    let grace = browser_in(driver, Scheme::Dark).await;
    grace.goto(&link).await?;
    until(
        &grace,
        "the password form",
        "return document.querySelector('h1')?.textContent === 'Choose a password'",
    )
    .await?;
    let mut problems = accessibility_problems(&grace).await?;
    snap(&grace, "16-choose-password").await?;
    fill(&grace, "input[name=password]", "grace's own password").await?;
    click(&grace, "form[action='/password'] button[type=submit]").await?;
    until(
        &grace,
        "grace logged in",
        "return document.querySelector('.who')?.textContent === 'grace'",
    )
    .await?;
    // The link is spent.
    grace.goto(&link).await?;
    let spent = until(
        &grace,
        "the spent link",
        "return document.querySelector('main')?.textContent",
    )
    .await?;
    assert!(
        spent.as_str().is_some_and(|t| t.contains("has been used")),
        "{spent}"
    );
    problems.extend(accessibility_problems(&grace).await?);

    // Made an administrator and back, from the list.
    c.goto(&format!("{base}/admin/people")).await?;
    let role = on_row("grace", "row.querySelector('td').textContent.trim()");
    assert_eq!(c.execute(&role, vec![]).await?, json!("User"));
    let toggle = on_row(
        "grace",
        "row.querySelector('form[action$=\"/admin\"] button').click()",
    );
    for (now, shot) in [("Admin", Some("17-people-admin")), ("User", None)] {
        c.execute(&toggle, vec![]).await?;
        until(
            c,
            &format!("grace's role {now}"),
            &on_row(
                "grace",
                &format!("row.querySelector('td').textContent.trim() === {now:?}"),
            ),
        )
        .await?;
        if let Some(shot) = shot {
            snap(c, shot).await?;
        }
    }

    // Deleted after a confirmation that says what happens: she is logged
    // out at once. Then restored.
    c.execute(
        &on_row("grace", "row.querySelector('a[href$=\"/delete\"]').click()"),
        vec![],
    )
    .await?;
    let asked = until(
        c,
        "the confirmation",
        "return document.querySelector('h1')?.textContent",
    )
    .await?;
    assert_eq!(asked, json!("Delete grace?"));
    let says = c
        .execute(
            "return document.querySelector('main p').textContent",
            vec![],
        )
        .await?;
    assert!(
        says.as_str()
            .is_some_and(|t| t.contains("trash") && t.contains("restore")),
        "{says}"
    );
    snap(c, "18-people-delete-asks").await?;
    click(c, "form.danger button[type=submit]").await?;
    until(
        c,
        "grace among the deleted",
        "return [...document.querySelectorAll('table.deleted tbody th')].some((th) => th.textContent === 'grace')",
    )
    .await?;
    assert_eq!(path(c).await?, "/admin/people");
    snap(c, "19-people-deleted").await?;
    grace.refresh().await?;
    until(
        &grace,
        "grace logged out",
        "return !!document.querySelector(\"header a[href='/login']\")",
    )
    .await?;
    click(c, "form[action$='/restore'] button").await?;
    until(c, "grace back", &on_row("grace", "true")).await?;
    grace.goto(&format!("{base}/login")).await?;
    log_in(&grace, "grace", "grace's own password").await?;
    grace.close().await?;
    Ok(problems)
}
