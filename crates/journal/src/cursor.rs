//! Durable named consumer cursors: one small checksummed file per consumer, replaced atomically.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use crate::config::{PersistMode, Seq};
use crate::error::JournalError;
use crate::segment::sync_dir;
use crate::shared::Shared;

/// Magic bytes opening every cursor file.
const CURSOR_MAGIC: [u8; 8] = *b"OTCURSOR";
/// The cursor format version this build writes and reads.
const CURSOR_VERSION: u16 = 1;
/// Bytes of a cursor file: magic, version, reserved, position, crc.
const CURSOR_LEN: usize = 24;
/// Suffix of cursor files.
const CURSOR_SUFFIX: &str = ".cursor";
/// Suffix of a cursor file being replaced.
pub(crate) const TEMP_SUFFIX: &str = ".cursor.tmp";

/// A consumer's durable position in the journal: every entry with `seq <= position()` is done.
///
/// Obtained from [`Journal::cursor`](crate::Journal::cursor). Committing writes the cursor file
/// (temp file, fsync, rename, fsync of the directory, as the journal's [`PersistMode`] asks), so
/// after a crash the consumer resumes from the last committed position (at-least-once).
pub struct Cursor {
    name: String,
    position: Seq,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("name", &self.name)
            .field("position", &self.position)
            .finish()
    }
}

impl Cursor {
    pub(crate) fn open(shared: Arc<Shared>, name: &str) -> Result<Cursor, JournalError> {
        if !is_valid_name(name) {
            return Err(JournalError::InvalidCursorName { name: name.into() });
        }
        let _guard = shared
            .cursor_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let path = cursor_path(&shared.cursors_dir, name);
        let position = if path.exists() {
            read_cursor_file(&path)?
        } else {
            write_cursor_file(&shared.cursors_dir, name, 0, shared.config.persist)?;
            0
        };
        drop(_guard);
        Ok(Cursor {
            name: name.into(),
            position,
            shared,
        })
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last committed seq: all entries with `seq <= position()` are done.
    pub fn position(&self) -> Seq {
        self.position
    }

    /// Durably records that all entries with `seq <= seq` are done. Moving backwards is allowed
    /// (to re-consume); moving past [`Journal::last_seq`](crate::Journal::last_seq) is an error.
    pub fn commit(&mut self, seq: Seq) -> Result<(), JournalError> {
        let last_seq = self.shared.last_seq.load(Ordering::Acquire);
        if seq > last_seq {
            return Err(JournalError::CursorBeyondEnd {
                name: self.name.clone(),
                seq,
                last_seq,
            });
        }
        if seq == self.position {
            return Ok(());
        }
        let _guard = self
            .shared
            .cursor_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        write_cursor_file(
            &self.shared.cursors_dir,
            &self.name,
            seq,
            self.shared.config.persist,
        )?;
        self.position = seq;
        Ok(())
    }
}

/// Cursor names are `[A-Za-z0-9._-]{1,128}`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn cursor_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{CURSOR_SUFFIX}"))
}

fn encode_cursor(position: Seq) -> [u8; CURSOR_LEN] {
    let mut bytes = [0u8; CURSOR_LEN];
    bytes[0..8].copy_from_slice(&CURSOR_MAGIC);
    bytes[8..10].copy_from_slice(&CURSOR_VERSION.to_le_bytes());
    // bytes 10..12 are reserved and zero
    bytes[12..20].copy_from_slice(&position.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[0..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fn decode_cursor(path: &Path, bytes: &[u8]) -> Result<Seq, JournalError> {
    let corrupt = |reason: &str| JournalError::CorruptCursor {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if bytes.len() < 10 || bytes[0..8] != CURSOR_MAGIC {
        return Err(corrupt("the file does not start with the cursor magic"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != CURSOR_VERSION {
        return Err(JournalError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
            expected: CURSOR_VERSION,
        });
    }
    if bytes.len() != CURSOR_LEN {
        return Err(corrupt("expected a file of 24 bytes"));
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[20..24]);
    if crc32c::crc32c(&bytes[0..20]) != u32::from_le_bytes(crc) {
        return Err(corrupt("checksum does not match"));
    }
    let mut position = [0u8; 8];
    position.copy_from_slice(&bytes[12..20]);
    Ok(u64::from_le_bytes(position))
}

fn read_cursor_file(path: &Path) -> Result<Seq, JournalError> {
    let bytes = fs_err::read(path)?;
    decode_cursor(path, &bytes)
}

/// Replaces a cursor file atomically: temp file, fsync, rename, fsync of the directory (the
/// syncs are skipped under [`PersistMode::Buffer`]).
fn write_cursor_file(
    dir: &Path,
    name: &str,
    position: Seq,
    persist: PersistMode,
) -> Result<(), JournalError> {
    let temp_path = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let mut temp = fs_err::File::create(&temp_path)?;
    temp.write_all(&encode_cursor(position))?;
    if persist != PersistMode::Buffer {
        temp.sync_all()?;
    }
    drop(temp);
    fs_err::rename(&temp_path, cursor_path(dir, name))?;
    if persist != PersistMode::Buffer {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes a cursor file; `false` when there was none.
pub(crate) fn remove_cursor_file(
    dir: &Path,
    name: &str,
    persist: PersistMode,
) -> Result<bool, JournalError> {
    let path = cursor_path(dir, name);
    match fs_err::remove_file(&path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error.into()),
    }
    if persist != PersistMode::Buffer {
        sync_dir(dir)?;
    }
    Ok(true)
}

/// Every cursor in `dir` with its position, sorted by name. Leftover temp files are ignored.
pub(crate) fn list_cursor_files(dir: &Path) -> Result<Vec<(String, Seq)>, JournalError> {
    let mut cursors = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name
            .to_str()
            .and_then(|file_name| file_name.strip_suffix(CURSOR_SUFFIX))
        else {
            continue;
        };
        if !is_valid_name(name) {
            continue;
        }
        cursors.push((name.to_string(), read_cursor_file(&entry.path())?));
    }
    cursors.sort();
    Ok(cursors)
}

/// Removes temp files a crash may have left while a cursor was being replaced.
pub(crate) fn remove_temp_files(dir: &Path) -> Result<(), JournalError> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.ends_with(TEMP_SUFFIX))
        {
            fs_err::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("history"));
        assert!(is_valid_name("trail.delivery-1_a"));
        assert!(is_valid_name(&"a".repeat(128)));
        assert!(!is_valid_name(&"a".repeat(129)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a/b"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("é"));
    }

    #[test]
    fn cursor_bytes_round_trip_and_reject_damage() {
        let path = Path::new("x.cursor");
        let bytes = encode_cursor(1234);
        assert_eq!(decode_cursor(path, &bytes).expect("decodes"), 1234);
        let mut flipped = bytes;
        flipped[14] ^= 4;
        assert!(matches!(
            decode_cursor(path, &flipped),
            Err(JournalError::CorruptCursor { .. })
        ));
        let mut version = bytes;
        version[8] = 2;
        assert!(matches!(
            decode_cursor(path, &version),
            Err(JournalError::UnsupportedVersion { version: 2, .. })
        ));
        assert!(matches!(
            decode_cursor(path, &bytes[..20]),
            Err(JournalError::CorruptCursor { .. })
        ));
    }
}
