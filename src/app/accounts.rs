//! Accounts: who is asking (a session or an API token), logging in and
//! out, the first-run setup, set-password links, and API tokens. Managing
//! other people is [`super::people`]'s.
//!
//! Passwords are argon2id hashes checked on the few threads of
//! [`Hasher`]; session and API tokens are random and only their SHA-256 is
//! stored.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::throttle::Throttle;
use super::{AppError, AppResult};
use crate::auth::{self, Hasher};
use crate::config::AuthConfig;
use crate::db::{DbResult, Repo};
use crate::model::{TokenInfo, TokenKind, User};

/// A logged-in browser: its user and the session secret for the cookie.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub token: String,
}

/// Who is asking: a user, and how they proved it.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    /// For a browser session, the token its forms must carry
    /// ([`auth::form_token`]); `None` for an API token, whose requests
    /// another site cannot make.
    pub form_token: Option<String>,
}

impl Viewer {
    /// Whether a form this viewer posted may act: a browser session's
    /// must carry the session's form token (compared in constant time).
    pub fn may_post(&self, presented: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        match (&self.form_token, presented) {
            (None, _) => true,
            (Some(expected), Some(presented)) => {
                expected.as_bytes().ct_eq(presented.as_bytes()).into()
            }
            (Some(_), None) => false,
        }
    }
}

/// A viewer is their user to every service; the form token is the web
/// layer's business.
impl std::ops::Deref for Viewer {
    type Target = User;

    fn deref(&self) -> &User {
        &self.user
    }
}

/// Whether a first-run setup link may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupCheck {
    /// The link is the current one: an administrator may be created.
    Open,
    /// Scoot has users already; there is nothing to set up.
    Done,
    /// Setup is open, but not with this link.
    WrongLink,
}

/// What a setup attempt did.
#[derive(Debug, Clone)]
pub enum Setup {
    Created(Session),
    /// Someone else finished setup first.
    AlreadyDone,
}

#[derive(Clone)]
pub struct Accounts {
    db: Arc<dyn Repo>,
    hasher: Hasher,
    config: AuthConfig,
    throttle: Throttle,
    /// Set once there are users: a site set up stays so, and knowing it
    /// then costs no query.
    set_up: Arc<AtomicBool>,
}

impl Accounts {
    pub fn new(db: Arc<dyn Repo>, hasher: Hasher, config: AuthConfig) -> Self {
        Self {
            db,
            hasher,
            throttle: Throttle::new(&config),
            config,
            set_up: Arc::default(),
        }
    }

    /// A first-run setup link's secret, while there are no users: `None`
    /// once there are. Every node of a site adds its own, and any node
    /// takes any of them.
    pub async fn open_setup(&self) -> DbResult<Option<String>> {
        if self.db.user_count().await? > 0 {
            return Ok(None);
        }
        let token = crate::domain::random_hex(16);
        self.db
            .add_setup_token(&auth::token_hash(&token), crate::domain::now_millis())
            .await?;
        Ok(Some(token))
    }

    /// The settings cookies are made with.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The user behind a bearer token (which wins; [`AppError::Unauthorized`]
    /// when it is not live) or a session cookie (anyone, when it is not).
    pub async fn viewer(
        &self,
        bearer: Option<&str>,
        cookie: Option<&str>,
    ) -> AppResult<Option<Viewer>> {
        let db = self.db.as_ref();
        Ok(match (bearer, cookie) {
            // A bearer token that opens nothing (revoked, expired, mistyped)
            // is refused outright, so that its client learns at once
            // rather than seeing what anyone may.
            (Some(token), _) => match auth::user_for_token(db, token, TokenKind::Api).await? {
                Some(user) => Some(Viewer {
                    user,
                    form_token: None,
                }),
                None => return Err(AppError::Unauthorized),
            },
            (None, Some(session)) => auth::user_for_token(db, session, TokenKind::Session)
                .await?
                .map(|user| Viewer {
                    user,
                    form_token: Some(auth::form_token(session)),
                }),
            (None, None) => None,
        })
    }

    /// A new session if the name and password match; `None` if not.
    /// Unknown names cost as much as wrong passwords. Attempts from
    /// `from` beyond the [`Throttle`]'s limits are refused with
    /// [`AppError::TooManyAttempts`] before the password is looked at.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        from: IpAddr,
    ) -> AppResult<Option<Session>> {
        self.throttle.login(from, name)?;
        match auth::check_login(self.db.as_ref(), &self.hasher, name, password).await? {
            Some(user) => {
                self.throttle.logged_in(from, name);
                Ok(Some(self.start_session(user).await?))
            }
            None => Ok(None),
        }
    }

    async fn start_session(&self, user: User) -> AppResult<Session> {
        // Only the list of people is poorer if this is lost.
        if let Err(e) = self
            .db
            .record_login(&user.id, crate::domain::now_millis())
            .await
        {
            tracing::warn!(error = %e, "cannot record a login");
        }
        let token = auth::issue_token(
            self.db.as_ref(),
            &user,
            TokenKind::Session,
            "browser",
            Some(self.config.session_days),
        )
        .await?;
        Ok(Session { user, token })
    }

    /// Ends the session whose cookie holds `token`, on the server.
    pub async fn logout(&self, token: &str) -> AppResult<()> {
        Ok(self.db.delete_token(&auth::token_hash(token)).await?)
    }

    /// Whether `presented`, shown by `from`, is a setup link that may be
    /// used. Guesses count against `from`'s login allowance.
    pub async fn setup_check(&self, presented: &str, from: IpAddr) -> AppResult<SetupCheck> {
        self.throttle.setup(from)?;
        self.link_check(presented).await
    }

    /// Whether someone has set Scoot up (there are users): a query only
    /// until the answer is yes.
    pub async fn is_set_up(&self) -> AppResult<bool> {
        if self.set_up.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let set_up = self.db.user_count().await? > 0;
        self.set_up.fetch_or(set_up, Ordering::Relaxed);
        Ok(set_up)
    }

    async fn link_check(&self, presented: &str) -> AppResult<SetupCheck> {
        if self.db.user_count().await? > 0 {
            return Ok(SetupCheck::Done);
        }
        Ok(
            match self
                .db
                .setup_token_known(&auth::token_hash(presented))
                .await?
            {
                true => SetupCheck::Open,
                false => SetupCheck::WrongLink,
            },
        )
    }

    /// Creates the first administrator through the setup link, and logs
    /// them in. A bad name or password is [`AppError::Invalid`], a taken
    /// name [`AppError::Conflict`].
    pub async fn setup(&self, presented: &str, name: &str, password: &str) -> AppResult<Setup> {
        if self.link_check(presented).await? != SetupCheck::Open {
            return Err(AppError::Forbidden);
        }
        let created = auth::create_user(
            self.db.as_ref(),
            &self.hasher,
            name,
            Some(password),
            true,
            true,
        )
        .await?;
        self.db.clear_setup_tokens().await?;
        match created {
            Some(user) => {
                tracing::info!(user = %user.name, "first administrator created");
                Ok(Setup::Created(self.start_session(user).await?))
            }
            None => Ok(Setup::AlreadyDone),
        }
    }

    /// Whose set-password link `presented` is, while it is live. Guesses
    /// from `from` count against its login allowance.
    pub async fn password_link(&self, presented: &str, from: IpAddr) -> AppResult<Option<User>> {
        self.throttle.setup(from)?;
        if presented.is_empty() || presented.len() > 256 {
            return Ok(None);
        }
        let holder = self
            .db
            .user_by_token(
                &auth::token_hash(presented),
                TokenKind::Password,
                crate::domain::now_millis(),
            )
            .await?;
        Ok(holder.map(|h| h.user))
    }

    /// Sets the password of the set-password link `presented`, spends the
    /// link, ends the holder's other sessions and logs them in; `None` when
    /// the link is not live (used, expired, replaced, or never made). A
    /// password that breaks the rules is [`AppError::Invalid`] and leaves
    /// the link as it was.
    pub async fn redeem_password_link(
        &self,
        presented: &str,
        password: &str,
        from: IpAddr,
    ) -> AppResult<Option<Session>> {
        if self.password_link(presented, from).await?.is_none() {
            return Ok(None);
        }
        let hash = auth::new_password_hash(&self.hasher, password).await?;
        let redeemed = self
            .db
            .redeem_password_token(
                &auth::token_hash(presented),
                &hash,
                crate::domain::now_millis(),
            )
            .await?;
        match redeemed {
            Some(user) => {
                tracing::info!(user = %user.name, "password set through a link");
                Ok(Some(self.start_session(user).await?))
            }
            None => Ok(None),
        }
    }

    /// The user called `name`, if any.
    pub async fn named(&self, name: &str) -> AppResult<Option<User>> {
        Ok(self.db.user_by_name(name).await?.map(|(user, _)| user))
    }

    /// The oldest administrator, if any.
    pub async fn first_admin(&self) -> AppResult<Option<User>> {
        Ok(self.db.first_admin().await?)
    }

    /// `scoot token create`: a new API token for the user called `name`,
    /// labelled `label`, which expires after `lifetime_days` when given.
    /// Returns the secret, which is shown this once.
    pub async fn api_token(
        &self,
        name: &str,
        label: &str,
        lifetime_days: Option<u32>,
    ) -> AppResult<String> {
        let label = valid_label(label)?;
        if lifetime_days == Some(0) {
            return Err(AppError::invalid("a token must live at least one day"));
        }
        Ok(auth::api_token_for(self.db.as_ref(), name, label, lifetime_days).await?)
    }

    /// The API tokens of the user called `name`, or of everyone.
    pub async fn api_tokens(&self, name: Option<&str>) -> AppResult<Vec<TokenInfo>> {
        let owner = match name {
            Some(name) => Some(
                self.named(name)
                    .await?
                    .ok_or_else(|| AppError::invalid(format!("no such user: {name}")))?,
            ),
            None => None,
        };
        Ok(self.db.api_tokens(owner.as_ref().map(|u| &u.id)).await?)
    }

    /// Revokes the API token listed as `id`. `by` is who asks: an
    /// administrator (or the operator, `None`) may revoke anyone's; a user
    /// only their own. Any other id is [`AppError::NotFound`].
    pub async fn revoke_api_token(&self, id: &str, by: Option<&User>) -> AppResult<()> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() != TokenInfo::ID_DIGITS || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::NotFound("token"));
        }
        let owner = by.filter(|u| !u.is_admin).map(|u| &u.id);
        match self.db.revoke_api_token(&id, owner).await? {
            0 => Err(AppError::NotFound("token")),
            _ => {
                tracing::info!(token = %id, by = by.map_or("the operator", |u| u.name.as_str()), "API token revoked");
                Ok(())
            }
        }
    }

    /// Deletes the sessions and API tokens that have expired; how many.
    pub async fn purge_expired(&self) -> AppResult<u64> {
        Ok(self
            .db
            .purge_expired_tokens(crate::domain::now_millis())
            .await?)
    }

    /// Purges expired tokens now and every `period` until `stopping`
    /// turns true.
    pub async fn purge_expired_every(
        self,
        period: std::time::Duration,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let this = &self;
        super::every(period, stopping, move || async move {
            match this.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tokens = n, "expired sessions and tokens purged"),
                Err(e) => tracing::warn!(error = %e, "cannot purge expired sessions and tokens"),
            }
        })
        .await
    }
}

/// A token's label: at most 100 characters, no control characters.
fn valid_label(label: &str) -> AppResult<&str> {
    let label = label.trim();
    match label.chars().count() <= 100 && !label.chars().any(char::is_control) {
        true => Ok(label),
        false => Err(AppError::invalid(
            "a token label is at most 100 characters, on one line",
        )),
    }
}
