//! The `scoot` command: parse arguments, load configuration, set up logging,
//! then hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use scoot::commands;
use scoot::config::{Config, Overrides};

#[derive(Parser)]
#[command(name = "scoot", version, about = "A photo site in one binary")]
struct Cli {
    /// TOML configuration file [env: SCOOT_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [env: SCOOT_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Directory for the database, media and temp files [env: SCOOT_DATA_DIR] [default: ./data]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER[:PW]@HOST[:PORT]/DB [env: SCOOT_DATABASE_URL] [default: sqlite://DATA_DIR/scoot.db]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// file://PATH, s3://BUCKET[/PREFIX] (credentials from AWS_*) or memory:// [env: SCOOT_STORE_URL] [default: file://DATA_DIR/media]
    #[arg(long, global = true, value_name = "URL")]
    store_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server and render pool
    Serve,
    /// Apply database migrations and exit
    Migrate,
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Import every image under the given folders (re-runs skip what is already imported)
    Import {
        /// Folders or files
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Owner of the imported photos [default: the first administrator]
        #[arg(long)]
        user: Option<String>,
        /// Who may see the imported photos
        #[arg(long, default_value = "public", value_parser = ["public", "unlisted", "private"])]
        visibility: String,
        /// Render threads [default: render.threads]
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Print the effective configuration as TOML
    Config,
    /// Back up the database (a consistent snapshot) and every blob it
    /// references into a folder, while `scoot serve` runs. Run it again
    /// on the same folder to bring the backup up to date: only new blobs
    /// are fetched.
    Backup {
        /// The backup folder: empty, or an earlier backup
        dest: PathBuf,
    },
    /// Restore a backup into the configured database and store, which
    /// must be empty (of any engine); every file is verified first.
    Restore {
        /// A folder `scoot backup` wrote
        src: PathBuf,
    },
    /// Compare the database with the object store: missing and corrupt
    /// originals (every original is re-hashed), missing variants, unused
    /// blobs, leftovers of killed processes, abandoned renders, database
    /// integrity. Exits 1 if anything is wrong. Safe while `scoot serve`
    /// runs.
    Check {
        /// Also mend what is safe to mend: delete unused blobs and
        /// leftovers, queue renders again, mark photos whose original is
        /// gone as failed
        #[arg(long)]
        repair: bool,
    },
    /// Copy everything in the configured database into an empty one (e.g.
    /// SQLite into PostgreSQL); stop `scoot serve` first. Resumes an
    /// interrupted copy; verifies row counts.
    MigrateDb {
        /// The target: postgres://USER[:PW]@HOST[:PORT]/DB or sqlite://PATH
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Copy every blob of the configured store into an empty one (e.g. the
    /// local disk into S3); stop `scoot serve` first. Resumes an
    /// interrupted copy; reads every blob back and verifies its SHA-256.
    MigrateStore {
        /// The target: s3://BUCKET[/PREFIX] or file://PATH
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// List every user: role, photos, last seen, and deleted users
    List,
    /// Create a user; the password is read from the first line of stdin,
    /// or with --link the user sets it through a one-time link
    Add {
        name: String,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
        /// Print a one-time set-password link instead of reading a password
        #[arg(long)]
        link: bool,
    },
    /// Make a user an administrator
    Promote { name: String },
    /// Take away a user's admin rights (never the last administrator's)
    Demote { name: String },
    /// End a user's sessions and set a new password, read from the first
    /// line of stdin; with --link, their password stops working until
    /// they use the printed one-time link
    ResetPassword {
        name: String,
        /// Print a set-password link instead of reading a password
        #[arg(long)]
        link: bool,
    },
    /// Delete a user: their tokens stop working, their photos go to the
    /// trash and their albums out of sight, restorable for trash.days
    Delete { name: String },
    /// Bring back a deleted user with their photos and albums
    Restore { name: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API bearer token for a user and print only the token
    Create {
        name: String,
        /// What the token is for, shown in listings
        #[arg(long, default_value = "cli")]
        label: String,
        /// Expire the token after this many days [default: never]
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// List API tokens, a user's or everyone's (id, owner, label, dates;
    /// never the secret)
    List { name: Option<String> },
    /// Revoke an API token by the id `scoot token list` shows
    Revoke { id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        listen: cli.listen,
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        store_url: cli.store_url.clone(),
    };
    let mut config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("scoot: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Long commands report through their progress bar and summary.
    let quiet = matches!(
        cli.command,
        Command::Import { .. }
            | Command::MigrateDb { .. }
            | Command::MigrateStore { .. }
            | Command::Check { .. }
            | Command::Backup { .. }
            | Command::Restore { .. }
    );
    init_logging(&config.log_format, if quiet { "warn" } else { "info" });
    if let Command::Import {
        threads: Some(n), ..
    } = &cli.command
    {
        config.render.threads = *n;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scoot: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => scoot::run(config, shutdown_signal())
                .await
                .map(|()| None)
                .map_err(commands::CommandError::from),
            Command::Migrate => commands::migrate(&config).await.map(Some),
            Command::User(command) => user_command(&config, command).await.map(Some),
            Command::Token(TokenCommand::Create {
                name,
                label,
                expires_in_days,
            }) => commands::token_create(&config, &name, &label, expires_in_days)
                .await
                .map(Some),
            Command::Token(TokenCommand::List { name }) => {
                commands::token_list(&config, name.as_deref())
                    .await
                    .map(Some)
            }
            Command::Token(TokenCommand::Revoke { id }) => {
                commands::token_revoke(&config, &id).await.map(Some)
            }
            Command::Import {
                paths,
                user,
                visibility,
                ..
            } => {
                let who = scoot::import::ImportAs {
                    user,
                    visibility: visibility.parse().unwrap_or_default(),
                };
                let summary = scoot::import::import(&config, &paths, &who, shutdown_signal())
                    .await
                    .map_err(|e| commands::CommandError::Input(e.to_string()))?;
                print!("{}", summary.report());
                if summary.interrupted {
                    Err(commands::CommandError::Input(
                        "interrupted: run the same command again to finish".into(),
                    ))
                } else if !summary.failed.is_empty() {
                    Err(commands::CommandError::Input(format!(
                        "{} file(s) could not be imported",
                        summary.failed.len()
                    )))
                } else {
                    Ok(None)
                }
            }
            Command::Config => Ok(Some(config.to_toml())),
            Command::Backup { dest } => scoot::backup::backup(&config, &dest)
                .await
                .map(|s| Some(s.report(&dest)))
                .map_err(commands::CommandError::from),
            Command::Restore { src } => scoot::backup::restore(&config, &src)
                .await
                .map(|s| {
                    let database = scoot::db::redacted(&config.database_url());
                    Some(s.report(&database, &config.store_url()))
                })
                .map_err(commands::CommandError::from),
            Command::Check { repair } => {
                let options = scoot::check::Options { repair };
                let report = scoot::check::check(&config, options)
                    .await
                    .map_err(commands::CommandError::from)?;
                if report.is_clean() {
                    Ok(Some(report.summary()))
                } else {
                    println!("{}", report.summary());
                    Err(commands::CommandError::Input(
                        "the check found problems (listed above)".into(),
                    ))
                }
            }
            Command::MigrateDb { to } => scoot::migrate::migrate_db(&config, &to)
                .await
                .map(|s| Some(s.report()))
                .map_err(commands::CommandError::from),
            Command::MigrateStore { to } => scoot::migrate::migrate_store(&config, &to)
                .await
                .map(|s| Some(s.report()))
                .map_err(commands::CommandError::from),
        }
    });
    match result {
        Ok(Some(out)) => {
            println!("{}", out.trim_end());
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scoot: {}", scoot::app::with_causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// `scoot user …`.
async fn user_command(
    config: &Config,
    command: UserCommand,
) -> Result<String, commands::CommandError> {
    use commands::UserChange;
    let password = || commands::read_password(std::io::stdin().lock());
    let (name, change) = match command {
        UserCommand::List => return commands::user_list(config).await,
        UserCommand::Add { name, admin, link } => {
            let password = if link { None } else { Some(password()?) };
            return commands::user_add(config, &name, password.as_deref(), admin).await;
        }
        UserCommand::Promote { name } => (name, UserChange::Promote),
        UserCommand::Demote { name } => (name, UserChange::Demote),
        UserCommand::ResetPassword { name, link: true } => (name, UserChange::ResetLink),
        UserCommand::ResetPassword { name, link: false } => {
            (name, UserChange::Password(password()?))
        }
        UserCommand::Delete { name } => (name, UserChange::Delete),
        UserCommand::Restore { name } => (name, UserChange::Restore),
    };
    commands::user_change(config, &name, change).await
}

/// Logs go to stderr, so that commands' output on stdout stays clean.
fn init_logging(format: &str, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colour codes only for a person at a terminal, never in a file or
    // the journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
