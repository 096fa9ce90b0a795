//! An append-only file written with `O_DIRECT` where the file system allows it.
//!
//! An unthrottled run writes its history at a hundred megabytes a second. Through
//! the page cache every byte is copied into freshly allocated kernel pages (and
//! later written back); measured on these machines that costs the producer's
//! process a fifth of its CPU, which `bench overhead` counts against eoscheck.
//! A direct write hands whole blocks to the disk instead, straight from the
//! aligned buffer the lines were formatted into ([`AppendFile::staged`]).
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
/// What a writer stages at most before writing ([`AppendFile::full`]). The
/// buffer starts big enough for that and a partial block and a line more, so it
/// never grows while a run goes (growing it means zeroing, copying and faulting
/// in megabytes of fresh memory).
const STAGING: usize = 4 << 20;

#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

/// A growable byte buffer made of aligned blocks, so that a direct write can take
/// it as it is.
pub struct BlockBuf {
    /// Every block is initialised; the first `len` bytes are the contents.
    blocks: Vec<Block>,
    len: usize,
}

impl BlockBuf {
    pub fn with_capacity(bytes: usize) -> BlockBuf {
        BlockBuf {
            blocks: vec![Block([0; BLOCK]); bytes.div_ceil(BLOCK)],
            len: 0,
        }
    }

    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let (start, end) = (self.len, self.len + bytes.len());
        if end > self.blocks.len() * BLOCK {
            self.grow(end);
        }
        self.all_mut()[start..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// Lets `write` fill up to `max` bytes in place and keeps the number it
    /// returns: no staging copy for a line built piece by piece.
    #[inline]
    pub fn append(&mut self, max: usize, write: impl FnOnce(&mut [u8]) -> usize) {
        let start = self.len;
        if start + max > self.blocks.len() * BLOCK {
            self.grow(start + max);
        }
        let written = write(&mut self.all_mut()[start..start + max]);
        self.len = start + written.min(max);
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Block` is a plain byte array, so the blocks are one contiguous
        // run of initialised bytes, of which `len` are in use.
        unsafe { std::slice::from_raw_parts(self.blocks.as_ptr().cast::<u8>(), self.len) }
    }

    /// The contents, filled up to the next block boundary with `fill`.
    fn padded(&mut self, fill: u8) -> &[u8] {
        let (len, padded) = (self.len, self.len.next_multiple_of(BLOCK));
        let all = self.all_mut();
        all[len..padded].fill(fill);
        &all[..padded]
    }

    /// Drops the first `n` bytes.
    fn remove_front(&mut self, n: usize) {
        let len = self.len;
        self.all_mut().copy_within(n..len, 0);
        self.len -= n;
    }

    fn all_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_bytes`, over every block.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.blocks.as_mut_ptr().cast::<u8>(),
                self.blocks.len() * BLOCK,
            )
        }
    }

    /// Doubles at least, so that appends cost amortised constant time.
    #[cold]
    fn grow(&mut self, end: usize) {
        let blocks = end.div_ceil(BLOCK).max(2 * self.blocks.len());
        self.blocks.resize(blocks, Block([0; BLOCK]));
    }
}

impl io::Write for BlockBuf {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct AppendFile {
    file: File,
    direct: bool,
    /// Bytes for the file from `offset` on.
    staged: BlockBuf,
    /// A block boundary in direct mode.
    offset: u64,
    /// How many bytes at the front of `staged` the file already has: the partial
    /// block a direct write keeps.
    written: usize,
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
            staged: BlockBuf::with_capacity(STAGING + 2 * BLOCK),
            offset: 0,
            written: 0,
        })
    }

    /// Where appends go; [`write`](Self::write) puts them in the file.
    pub fn staged(&mut self) -> &mut BlockBuf {
        &mut self.staged
    }

    /// Whether so much is staged that it is time to write, even in the middle of
    /// a batch.
    pub fn full(&self) -> bool {
        self.staged.len >= STAGING
    }

    /// Writes what is staged. After a failed write the bytes stay staged, and the
    /// next write tries them again.
    pub fn write(&mut self) -> io::Result<()> {
        let len = self.staged.len;
        if len == self.written {
            return Ok(());
        }
        if self.direct {
            match self
                .file
                .write_all_at(self.staged.padded(b'\n'), self.offset)
            {
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
            self.staged.remove_front(whole);
            self.offset += whole as u64;
            self.written = len - whole;
        } else {
            self.file
                .write_all_at(self.staged.as_bytes(), self.offset)?;
            self.offset += len as u64;
            self.staged.len = 0;
            self.written = 0;
        }
        Ok(())
    }

    /// Writes what is staged and cuts off the padding, leaving the file exactly
    /// the bytes appended.
    pub fn sync_len(&mut self) -> io::Result<()> {
        self.write()?;
        self.file.set_len(self.offset + self.staged.len as u64)
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
            file.staged().extend_from_slice(&line);
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
        file.staged().extend_from_slice(b"more\n");
        expected.extend_from_slice(b"more\n");
        file.sync_len().unwrap();
        assert_eq!(std::fs::read(path).unwrap(), expected);
    }
}
