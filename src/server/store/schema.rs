//! The database file's layout and how an older one is brought up to date.
//!
//! `PRAGMA user_version` is the schema version. Each entry of [`MIGRATIONS`]
//! takes the file from version `i` to `i + 1`, in a transaction of its own, so
//! a later release opens today's files by running the entries it added. A file
//! with a version above [`VERSION`] was written by a newer release: it is
//! refused, never rewritten. `PRAGMA application_id` marks the file as ours,
//! so that another program's SQLite file is refused rather than altered.

use rusqlite::{Connection, Transaction};

/// `PRAGMA application_id` of a chat database: "chat" in ASCII.
pub(super) const APPLICATION_ID: i32 = 0x6368_6174;

/// The schema version this binary writes, and the newest it can read.
pub(super) const VERSION: u32 = MIGRATIONS.len() as u32;

/// The migrations, oldest first: entry `i` takes version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: a room's messages, keyed by (room, id) so that a room's tail and its
    // retention delete are range scans; `rooms` keeps each room's last id,
    // which must outlive the rows retention deletes.
    "CREATE TABLE rooms (
         name    TEXT PRIMARY KEY,
         last_id INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE messages (
         room   TEXT NOT NULL,
         id     INTEGER NOT NULL,
         kind   TEXT NOT NULL CHECK (kind IN ('message', 'action')),
         sender TEXT NOT NULL,
         text   TEXT NOT NULL,
         ts     INTEGER NOT NULL,
         PRIMARY KEY (room, id)
     ) WITHOUT ROWID;",
    // 2: when each room was last written (Unix ms), so that the rooms kept
    // can be bounded by dropping the least recently written.
    "ALTER TABLE rooms ADD COLUMN touched INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX rooms_by_touched ON rooms (touched);",
    // 3: moderation that survives a restart. A room's topic lives with its
    // row, so that retention drops it with the room; bans are keyed by
    // lowercase name (names are unique regardless of case), `until` in
    // Unix ms (NULL: until unbanned), `address` as text (an IPv6 one is
    // its /64's first address).
    "ALTER TABLE rooms ADD COLUMN topic TEXT;
     CREATE TABLE bans (
         name     TEXT PRIMARY KEY,
         spelled  TEXT NOT NULL,
         address  TEXT,
         until    INTEGER,
         by       TEXT NOT NULL,
         reason   TEXT NOT NULL
     ) WITHOUT ROWID;",
    // 4: registered names (`/register`), by their lowercase form: the name
    // as registered, the password's Argon2id PHC string (salt and
    // parameters inside), and the address it was registered from, for the
    // limit per address.
    "CREATE TABLE registered_names (
         key     TEXT PRIMARY KEY,
         name    TEXT NOT NULL,
         hash    TEXT NOT NULL,
         address TEXT NOT NULL
     ) WITHOUT ROWID;",
];

/// Why a database file cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub(super) enum SchemaError {
    #[error(
        "it was written by a newer release (schema version {found}; this server knows up to {VERSION}); upgrade the server"
    )]
    Newer { found: u32 },
    #[error("it belongs to another program (application id {0:#x})")]
    Foreign(i32),
    #[error("it has tables but no chat schema")]
    Unversioned,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Checks, reading only, that `conn` holds a chat database this binary
/// understands (or an empty file), and returns its schema version.
pub(super) fn check(conn: &Connection) -> Result<u32, SchemaError> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > VERSION {
        return Err(SchemaError::Newer { found });
    }
    let application_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    if application_id != APPLICATION_ID && application_id != 0 {
        return Err(SchemaError::Foreign(application_id));
    }
    if found == 0 {
        let tables: u32 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |row| row.get(0),
        )?;
        if tables > 0 {
            return Err(SchemaError::Unversioned);
        }
    }
    Ok(found)
}

/// Applies the migrations after version `found`, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection, found: u32) -> Result<(), SchemaError> {
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        apply(&tx, migration, from as u32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn apply(tx: &Transaction<'_>, migration: &str, to: u32) -> rusqlite::Result<()> {
    tx.execute_batch(migration)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_the_current_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        let found = check(&conn).unwrap();
        assert_eq!(found, 0);
        migrate(&mut conn, found).unwrap();
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        // And opening it again changes nothing.
        assert_eq!(check(&conn).unwrap(), VERSION);
        migrate(&mut conn, VERSION).unwrap();
    }

    #[test]
    fn a_version_1_file_is_brought_up_to_date_keeping_its_rooms() {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        apply(&tx, MIGRATIONS[0], 1).unwrap();
        tx.execute("INSERT INTO rooms (name, last_id) VALUES ('rust', 42)", [])
            .unwrap();
        tx.commit().unwrap();
        let found = check(&conn).unwrap();
        assert_eq!(found, 1);
        migrate(&mut conn, found).unwrap();
        let (last_id, touched): (u64, i64) = conn
            .query_row(
                "SELECT last_id, touched FROM rooms WHERE name = 'rust'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((last_id, touched), (42, 0));
        assert_eq!(check(&conn).unwrap(), VERSION);
    }

    #[test]
    fn a_version_2_file_gains_topics_and_bans_keeping_its_rooms() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 2);
        conn.execute(
            "INSERT INTO rooms (name, last_id, touched) VALUES ('rust', 7, 1)",
            [],
        )
        .unwrap();
        let found = check(&conn).unwrap();
        assert_eq!(found, 2);
        migrate(&mut conn, found).unwrap();
        let (last_id, topic): (u64, Option<String>) = conn
            .query_row(
                "SELECT last_id, topic FROM rooms WHERE name = 'rust'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((last_id, topic), (7, None));
        let bans: u32 = conn
            .query_row("SELECT count(*) FROM bans", [], |row| row.get(0))
            .unwrap();
        assert_eq!(bans, 0);
    }

    /// Applies the migrations up to `version` alone, as an older release did.
    fn migrate_to(conn: &mut Connection, version: u32) {
        for (from, migration) in MIGRATIONS.iter().enumerate().take(version as usize) {
            let tx = conn.transaction().unwrap();
            apply(&tx, migration, from as u32 + 1).unwrap();
            tx.commit().unwrap();
        }
    }

    #[test]
    fn a_version_3_file_gains_an_empty_table_of_registered_names() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 3);
        assert_eq!(check(&conn).unwrap(), 3);
        migrate(&mut conn, 3).unwrap();
        let names: u32 = conn
            .query_row("SELECT count(*) FROM registered_names", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(names, 0);
        assert_eq!(check(&conn).unwrap(), VERSION);
    }

    #[test]
    fn a_newer_file_is_refused_untouched() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let err = check(&conn).unwrap_err();
        assert!(matches!(err, SchemaError::Newer { found } if found == VERSION + 1));
        assert!(err.to_string().contains("upgrade the server"), "{err}");
        let tables: u32 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tables, 0, "nothing was created");
    }

    #[test]
    fn another_programs_database_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT)")
            .unwrap();
        assert!(matches!(check(&conn), Err(SchemaError::Unversioned)));
        conn.pragma_update(None, "application_id", 42).unwrap();
        assert!(matches!(check(&conn), Err(SchemaError::Foreign(42))));
    }
}
