//! `wasi:filesystem/types` for premodules: wasmtime-wasi's implementation with the output quota
//! and the link policy layered on top.
//!
//! Every method delegates to [`WasiFilesystemCtxView`] except the ones that create data or
//! entries: those charge the step's [`OutputQuota`] *before* touching the disk, and trap the
//! module when it would go over. Symbolic and hard links are refused outright
//! (`not-permitted`): a premodule never needs them, and refusing them means no later reader of
//! the output (the host, the next step, a user) can be sent outside the sandbox by one.

use super::quota::{OutputLimitExceeded, OutputQuota};
use std::sync::Arc;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::async_trait;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self as fst, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, FsError, FsResult, OutputStream, Pollable, StreamError,
    StreamResult,
};

/// The view the linker hands to the filesystem bindings.
pub(crate) struct QuotaFs<'a> {
    pub(crate) inner: WasiFilesystemCtxView<'a>,
    pub(crate) quota: &'a Arc<OutputQuota>,
}

/// Marker type naming [`QuotaFs`] as the bindings' data.
pub(crate) struct QuotaFsData;

impl HasData for QuotaFsData {
    type Data<'a> = QuotaFs<'a>;
}

fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

fn over_quota(e: OutputLimitExceeded) -> FsError {
    FsError::trap(e)
}

impl QuotaFs<'_> {
    /// Current length of the file behind `fd`, if it is a file.
    fn file_len(&mut self, fd: &Resource<Descriptor>) -> FsResult<u64> {
        match self.inner.table.get(fd)? {
            Descriptor::File(f) => Ok(f.file.metadata().map(|m| m.len()).unwrap_or(0)),
            Descriptor::Dir(_) => Err(ErrorCode::IsDirectory.into()),
        }
    }

    /// Charges the bytes a write of `len` bytes at `offset` adds: the data itself plus any
    /// hole it leaves past the current end of the file.
    fn charge_write_at(
        &mut self,
        fd: &Resource<Descriptor>,
        offset: u64,
        len: u64,
    ) -> FsResult<()> {
        let end = self.file_len(fd)?;
        let hole = offset.saturating_sub(end);
        self.quota
            .charge_bytes(len.saturating_add(hole))
            .map_err(over_quota)
    }

    fn wrap_stream(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let inner: DynOutputStream = self.inner.table.delete(stream)?;
        let counted: DynOutputStream = Box::new(CountedStream {
            inner,
            quota: Arc::clone(self.quota),
        });
        Ok(self.inner.table.push(counted)?)
    }

    /// Reserves a file entry for a `create` that will make a new entry at `path`.
    async fn charge_new_entry(&mut self, dir: &Resource<Descriptor>, path: &str) -> FsResult<bool> {
        let exists = self
            .inner
            .stat_at(borrow(dir), fst::PathFlags::empty(), path.to_string())
            .await
            .is_ok();
        if exists {
            return Ok(false);
        }
        self.quota.charge_file().map_err(over_quota)?;
        Ok(true)
    }
}

impl fst::Host for QuotaFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        self.inner.convert_error_code(err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        self.inner.filesystem_error_code(err)
    }
}

impl HostDirectoryEntryStream for QuotaFs<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<fst::DirectoryEntryStream>,
    ) -> FsResult<Option<fst::DirectoryEntry>> {
        self.inner.read_directory_entry(stream).await
    }

    fn drop(&mut self, stream: Resource<fst::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}

impl HostDescriptor for QuotaFs<'_> {
    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: fst::Filesize,
        len: fst::Filesize,
        advice: fst::Advice,
    ) -> FsResult<()> {
        self.inner.advise(fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.inner.sync_data(fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<fst::DescriptorFlags> {
        self.inner.get_flags(fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<fst::DescriptorType> {
        self.inner.get_type(fd).await
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: fst::Filesize) -> FsResult<()> {
        let end = self.file_len(&fd)?;
        self.quota
            .charge_bytes(size.saturating_sub(end))
            .map_err(over_quota)?;
        self.inner.set_size(fd, size).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: fst::NewTimestamp,
        mtim: fst::NewTimestamp,
    ) -> FsResult<()> {
        self.inner.set_times(fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: fst::Filesize,
        offset: fst::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        self.inner.read(fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: fst::Filesize,
    ) -> FsResult<fst::Filesize> {
        self.charge_write_at(&fd, offset, buf.len() as u64)?;
        self.inner.write(fd, buf, offset).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<fst::DirectoryEntryStream>> {
        self.inner.read_directory(fd).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.inner.sync(fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.quota.charge_file().map_err(over_quota)?;
        let result = self.inner.create_directory_at(fd, path).await;
        if result.is_err() {
            self.quota.refund_file();
        }
        result
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<fst::DescriptorStat> {
        self.inner.stat(fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: fst::PathFlags,
        path: String,
    ) -> FsResult<fst::DescriptorStat> {
        self.inner.stat_at(fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: fst::PathFlags,
        path: String,
        atim: fst::NewTimestamp,
        mtim: fst::NewTimestamp,
    ) -> FsResult<()> {
        self.inner
            .set_times_at(fd, path_flags, path, atim, mtim)
            .await
    }

    async fn link_at(
        &mut self,
        _fd: Resource<Descriptor>,
        _old_path_flags: fst::PathFlags,
        _old_path: String,
        _new_descriptor: Resource<Descriptor>,
        _new_path: String,
    ) -> FsResult<()> {
        Err(ErrorCode::NotPermitted.into())
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: fst::PathFlags,
        path: String,
        oflags: fst::OpenFlags,
        flags: fst::DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let charged = if oflags.contains(fst::OpenFlags::CREATE) {
            self.charge_new_entry(&fd, &path).await?
        } else {
            false
        };
        let result = self
            .inner
            .open_at(fd, path_flags, path, oflags, flags)
            .await;
        if charged && result.is_err() {
            self.quota.refund_file();
        }
        result
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.inner, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        self.inner.readlink_at(fd, path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.inner.remove_directory_at(fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.inner.rename_at(fd, old_path, new_fd, new_path).await
    }

    async fn symlink_at(
        &mut self,
        _fd: Resource<Descriptor>,
        _src_path: String,
        _dest_path: String,
    ) -> FsResult<()> {
        Err(ErrorCode::NotPermitted.into())
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.inner.unlink_file_at(fd, path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: fst::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        self.inner.read_via_stream(fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: fst::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        // A stream that starts past the end of the file leaves a hole of that size.
        self.charge_write_at(&fd, offset, 0)?;
        let stream = self.inner.write_via_stream(fd, offset)?;
        self.wrap_stream(stream)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = self.inner.append_via_stream(fd)?;
        self.wrap_stream(stream)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        self.inner.is_same_object(a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<fst::MetadataHashValue> {
        self.inner.metadata_hash(fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: fst::PathFlags,
        path: String,
    ) -> FsResult<fst::MetadataHashValue> {
        self.inner.metadata_hash_at(fd, path_flags, path).await
    }
}

/// A file output stream that charges the quota for every byte before passing it on.
struct CountedStream {
    inner: DynOutputStream,
    quota: Arc<OutputQuota>,
}

impl CountedStream {
    fn charge(&self, n: usize) -> StreamResult<()> {
        self.quota
            .charge_bytes(n as u64)
            .map_err(|e| StreamError::Trap(e.into()))
    }
}

#[async_trait]
impl Pollable for CountedStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[async_trait]
impl OutputStream for CountedStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        self.charge(nelem)?;
        self.inner.write_zeroes(nelem)
    }

    async fn write_ready(&mut self) -> StreamResult<usize> {
        self.inner.write_ready().await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}
