//! Accounts: who is asking (a session or an API token), logging in and
//! out, the first-run setup, and the CLI's users and tokens.
//!
//! Passwords are argon2id hashes checked on the few threads of
//! [`Hasher`]; session and API tokens are random and only their SHA-256 is
//! stored.

use std::net::IpAddr;
use std::sync::Arc;

use super::throttle::Throttle;
use super::{AppError, AppResult};
use crate::auth::{self, Hasher};
use crate::config::AuthConfig;
use crate::db::{DbResult, Repo};
use crate::model::{TokenKind, User};

/// A logged-in browser: its user and the session secret for the cookie.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub token: String,
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
}

impl Accounts {
    pub fn new(db: Arc<dyn Repo>, hasher: Hasher, config: AuthConfig) -> Self {
        Self {
            db,
            hasher,
            throttle: Throttle::new(&config),
            config,
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

    /// The user behind a bearer token (which wins) or a session cookie.
    pub async fn viewer(
        &self,
        bearer: Option<&str>,
        cookie: Option<&str>,
    ) -> AppResult<Option<User>> {
        let db = self.db.as_ref();
        Ok(match (bearer, cookie) {
            (Some(token), _) => auth::user_for_token(db, token, TokenKind::Api).await?,
            (None, Some(token)) => auth::user_for_token(db, token, TokenKind::Session).await?,
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
        let created =
            auth::create_user(self.db.as_ref(), &self.hasher, name, password, true, true).await?;
        self.db.clear_setup_tokens().await?;
        match created {
            Some(user) => {
                tracing::info!(user = %user.name, "first administrator created");
                Ok(Setup::Created(self.start_session(user).await?))
            }
            None => Ok(Setup::AlreadyDone),
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

    /// `scoot user add`: a new account.
    pub async fn create_user(&self, name: &str, password: &str, admin: bool) -> AppResult<User> {
        auth::create_user(self.db.as_ref(), &self.hasher, name, password, admin, false)
            .await?
            .ok_or_else(|| AppError::Internal("the user was not created".into()))
    }

    /// `scoot token create`: a new API token for an existing user.
    pub async fn api_token(&self, name: &str) -> AppResult<String> {
        Ok(auth::api_token_for(self.db.as_ref(), name).await?)
    }
}
