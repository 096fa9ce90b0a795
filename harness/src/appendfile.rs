//! An append-only file written with `O_DIRECT` where the file system allows it.
//!
//! An unthrottled run writes its history at a hundred megabytes a second. Through
//! the page cache every byte is copied into freshly allocated kernel pages (and
//! later written back); measured on these machines that costs the producer's
//! process a fifth of its CPU, which `bench overhead` counts against eoscheck.
//! A direct write hands whole blocks from one reused buffer to the disk instead.
//!
//! Direct writes must start and end on block boundaries, so the last, partial
//! block is padded with newlines (blank lines, which history readers skip), kept,
//! and written again with what follows it. [`AppendFile::sync_len`] cuts the
//! padding off; a process killed before that leaves at most one block of blank
//! lines behind the last complete line.

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::{FileExt, OpenOptionsExt},
    path::Path,
};

/// The alignment direct I/O needs on every file system Linux has (logical block
/// sizes are 512 or 4096 bytes).
const BLOCK: usize = 4096;

#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

pub struct AppendFile {
    file: File,
    direct: bool,
    /// Bytes staged for the file, from `offset` on; whole blocks, so the buffer is
    /// aligned for direct I/O.
    staged: Vec<Block>,
    len: usize,
    /// Where `staged` starts in the file: a block boundary in direct mode.
    offset: u64,
    /// Whether `staged` holds bytes not yet written.
    dirty: bool,
}

impl AppendFile {
    /// Creates (or truncates) the file; direct I/O when the file system takes it.
    pub fn create(path: &Path) -> io::Result<AppendFile> {
        AppendFile::open(path, true)
    }

    fn open(path: &Path, try_direct: bool) -> io::Result<AppendFile> {
        let open = |flags| {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(flags)
                .open(path)
        };
        let (file, direct) = match open(if try_direct { libc::O_DIRECT } else { 0 }) {
            Ok(file) => (file, try_direct),
            // tmpfs and some overlay set-ups refuse O_DIRECT.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (open(0)?, false),
            Err(e) => return Err(e),
        };
        Ok(AppendFile {
            file,
            direct,
            staged: Vec::new(),
            len: 0,
            offset: 0,
            dirty: false,
        })
    }

    /// Stages bytes; [`write`](Self::write) puts them in the file.
    pub fn append(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = self.len + bytes.len();
        let blocks = end.div_ceil(BLOCK);
        if self.staged.len() < blocks {
            self.staged.resize(blocks, Block([0; BLOCK]));
        }
        bytes_of(&mut self.staged)[self.len..end].copy_from_slice(bytes);
        self.len = end;
        self.dirty = true;
    }

    /// Writes what is staged.
    pub fn write(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let (len, staged) = (self.len, bytes_of(&mut self.staged));
        if self.direct {
            let padded = len.next_multiple_of(BLOCK);
            staged[len..padded].fill(b'\n');
            match self.file.write_all_at(&staged[..padded], self.offset) {
                Ok(()) => {}
                // A file system that accepted the flag but not the write.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    self.buffered()?;
                    return self.write();
                }
                Err(e) => return Err(e),
            }
            // Keep the partial last block: the next write starts with it.
            let whole = len - len % BLOCK;
            staged.copy_within(whole..len, 0);
            self.offset += whole as u64;
            self.len -= whole;
        } else {
            self.file.write_all_at(&staged[..len], self.offset)?;
            self.offset += len as u64;
            self.len = 0;
        }
        self.dirty = false;
        Ok(())
    }

    /// Writes what is staged and cuts off the padding, leaving the file exactly
    /// the bytes appended.
    pub fn sync_len(&mut self) -> io::Result<()> {
        self.write()?;
        self.file.set_len(self.offset + self.len as u64)
    }

    /// Leaves direct I/O for good.
    fn buffered(&mut self) -> io::Result<()> {
        // SAFETY: fcntl on a descriptor this struct owns.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.file);
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.direct = false;
        Ok(())
    }
}

fn bytes_of(blocks: &mut [Block]) -> &mut [u8] {
    // SAFETY: `Block` is a plain byte array, so the blocks are one contiguous run
    // of initialised bytes.
    unsafe {
        std::slice::from_raw_parts_mut(blocks.as_mut_ptr().cast::<u8>(), blocks.len() * BLOCK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the mode and however the appends fall on block boundaries, the
    /// file holds exactly the bytes appended once its length is synced, and only
    /// blank lines after them before.
    #[test]
    fn the_file_is_what_was_appended() {
        let dir = std::env::temp_dir().join(format!("eoscheck-appendfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for direct in [true, false] {
            let path = dir.join(format!("history-{direct}.jsonl"));
            appends_come_back(&path, direct);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn appends_come_back(path: &Path, direct: bool) {
        let mut file = AppendFile::open(path, direct).unwrap();
        let mut expected = Vec::new();
        for (i, size) in [1, 4095, 1, 4096, 10_000, 0, 3, 8192]
            .into_iter()
            .enumerate()
        {
            let line: Vec<u8> = (0..size).map(|j| b'a' + ((i + j) % 26) as u8).collect();
            file.append(&line);
            expected.extend_from_slice(&line);
            file.write().unwrap();
            let on_disk = std::fs::read(path).unwrap();
            assert_eq!(&on_disk[..expected.len()], &expected[..]);
            assert!(on_disk[expected.len()..].iter().all(|&b| b == b'\n'));
            assert!(on_disk.len() - expected.len() < BLOCK);
        }
        file.sync_len().unwrap();
        assert_eq!(std::fs::read(path).unwrap(), expected);
        // Appending after a sync carries on where the file ends.
        file.append(b"more\n");
        expected.extend_from_slice(b"more\n");
        file.sync_len().unwrap();
        assert_eq!(std::fs::read(path).unwrap(), expected);
    }
}
