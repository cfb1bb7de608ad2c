//! The few HDF5 C calls the merge makes directly, and `copy_file_range`.
//!
//! Creating the merged file's objects through `hdf5-metno`'s builders costs about twice what
//! the C calls cost (a fresh link-creation, dataset-creation and access property list per
//! object, validity checks, a failed attribute open to test for existence), and for a rank file
//! of a few thousand events that work, not the bytes, is the merge. The functions are those of
//! the HDF5 the `hdf5` crate links (statically); their signatures are HDF5's (>= 1.10: `hid_t`
//! is 64 bits). Every call is made under the `hdf5` crate's lock (`hdf5::sync::sync`), like its
//! own.
//! Invariant: every identifier created here is owned by exactly one `Hid`, which closes it.

use std::ffi::{c_char, c_int, c_uint, c_void, CString};

#[allow(non_camel_case_types)]
pub(crate) type hid_t = i64;
#[allow(non_camel_case_types)]
type herr_t = c_int;
#[allow(non_camel_case_types)]
type hsize_t = u64;
#[allow(non_camel_case_types)]
type haddr_t = u64;

const H5P_DEFAULT: hid_t = 0;
const H5S_SCALAR: c_int = 0;
const HADDR_UNDEF: haddr_t = u64::MAX;

extern "C" {
    fn H5Gcreate2(loc: hid_t, name: *const c_char, lcpl: hid_t, gcpl: hid_t, gapl: hid_t) -> hid_t;
    fn H5Gclose(id: hid_t) -> herr_t;
    fn H5Acreate2(
        loc: hid_t,
        name: *const c_char,
        dtype: hid_t,
        space: hid_t,
        acpl: hid_t,
        aapl: hid_t,
    ) -> hid_t;
    fn H5Awrite(id: hid_t, mem_type: hid_t, buf: *const c_void) -> herr_t;
    fn H5Aclose(id: hid_t) -> herr_t;
    fn H5Dcreate2(
        loc: hid_t,
        name: *const c_char,
        dtype: hid_t,
        space: hid_t,
        lcpl: hid_t,
        dcpl: hid_t,
        dapl: hid_t,
    ) -> hid_t;
    fn H5Dget_offset(id: hid_t) -> haddr_t;
    fn H5Dclose(id: hid_t) -> herr_t;
    fn H5Screate(class: c_int) -> hid_t;
    fn H5Screate_simple(rank: c_int, dims: *const hsize_t, max: *const hsize_t) -> hid_t;
    fn H5Sclose(id: hid_t) -> herr_t;
    fn copy_file_range(
        fd_in: c_int,
        off_in: *mut i64,
        fd_out: c_int,
        off_out: *mut i64,
        len: usize,
        flags: c_uint,
    ) -> isize;
}

#[derive(Clone, Copy)]
enum Kind {
    Group,
    Attr,
    Dataset,
    Space,
}

/// An HDF5 identifier this module created, closed on drop.
pub(crate) struct Hid(hid_t, Kind);

impl Hid {
    fn new(id: hid_t, kind: Kind, what: &dyn Fn() -> String) -> Result<Hid, String> {
        if id < 0 {
            Err(what())
        } else {
            Ok(Hid(id, kind))
        }
    }

    pub(crate) fn id(&self) -> hid_t {
        self.0
    }

    /// Hands the identifier to the `hdf5` crate, which closes it from then on.
    pub(crate) fn into_dataset(self) -> hdf5::Result<hdf5::Dataset> {
        let id = self.0;
        std::mem::forget(self);
        // SAFETY: a live dataset identifier, owned by nothing else once `self` is forgotten.
        unsafe { hdf5::from_id(id) }
    }
}

impl Drop for Hid {
    fn drop(&mut self) {
        let (id, kind) = (self.0, self.1);
        // SAFETY: `id` is a live identifier of this kind that only this `Hid` owns.
        hdf5::sync::sync(|| unsafe {
            match kind {
                Kind::Group => H5Gclose(id),
                Kind::Attr => H5Aclose(id),
                Kind::Dataset => H5Dclose(id),
                Kind::Space => H5Sclose(id),
            }
        });
    }
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("name {s:?} contains a NUL byte"))
}

/// Creates the group `name` in `loc`.
pub(crate) fn create_group(loc: hid_t, name: &str) -> Result<Hid, String> {
    let c = cstr(name)?;
    // SAFETY: `c` is a NUL-terminated string; default property lists.
    let id = hdf5::sync::sync(|| unsafe {
        H5Gcreate2(loc, c.as_ptr(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
    });
    Hid::new(id, Kind::Group, &|| format!("cannot create group {name}"))
}

/// A scalar dataspace, for attributes.
pub(crate) fn scalar_space() -> Result<Hid, String> {
    // SAFETY: no pointers.
    let id = hdf5::sync::sync(|| unsafe { H5Screate(H5S_SCALAR) });
    Hid::new(id, Kind::Space, &|| "cannot create a dataspace".into())
}

/// A fixed 1-D dataspace of `n` elements.
pub(crate) fn space_1d(n: u64) -> Result<Hid, String> {
    // SAFETY: both pointers point to one hsize_t, the rank.
    let id = hdf5::sync::sync(|| unsafe { H5Screate_simple(1, &n, &n) });
    Hid::new(id, Kind::Space, &|| {
        format!("cannot create a dataspace of {n}")
    })
}

/// Creates the attribute `name` of type `dtype` and dataspace `space` on `loc` and writes the
/// elements at `values` (as many as `space` holds, in `dtype`'s memory layout) to it.
fn write_attr<T>(
    loc: hid_t,
    name: &str,
    dtype: hid_t,
    space: &Hid,
    kit: &Kit,
    values: *const T,
) -> Result<(), String> {
    let c = cstr(name)?;
    let what = || format!("cannot write attribute {name}");
    // SAFETY: `c` is NUL-terminated; every identifier is live.
    let attr = hdf5::sync::sync(|| unsafe {
        H5Acreate2(
            loc,
            c.as_ptr(),
            dtype,
            space.id(),
            kit.acpl.id(),
            H5P_DEFAULT,
        )
    });
    let attr = Hid::new(attr, Kind::Attr, &what)?;
    // SAFETY: `values` points to the elements `space` holds, laid out as `dtype`.
    let status =
        hdf5::sync::sync(|| unsafe { H5Awrite(attr.id(), dtype, values.cast::<c_void>()) });
    if status < 0 {
        return Err(what());
    }
    Ok(())
}

/// The types and property lists every object of a merged file is created with.
pub(crate) struct Kit {
    scalar: Hid,
    i64_type: hid_t,
    str_type: hdf5::Datatype,
    /// Attribute names in UTF-8, as the `hdf5` crate writes them.
    acpl: hdf5::plist::AttributeCreate,
    /// Contiguous, space allocated at creation, never filled.
    dcpl: hdf5::plist::DatasetCreate,
}

impl Kit {
    pub(crate) fn new() -> Result<Kit, String> {
        use hdf5::dataset::{AllocTime, FillTime};
        let err = |e: hdf5::Error| e.to_string();
        let dcpl = hdf5::plist::DatasetCreate::build()
            .alloc_time(Some(AllocTime::Early))
            .fill_time(FillTime::Never)
            .finish()
            .map_err(err)?;
        let acpl = hdf5::plist::AttributeCreate::build()
            .char_encoding(hdf5::plist::CharEncoding::Utf8)
            .finish()
            .map_err(err)?;
        Ok(Kit {
            acpl,
            scalar: scalar_space()?,
            i64_type: *hdf5::globals::H5T_NATIVE_INT64,
            str_type: hdf5::Datatype::from_type::<hdf5::types::VarLenUnicode>().map_err(err)?,
            dcpl,
        })
    }

    /// A scalar int64 attribute, as `attrs::write_i64` writes it on a new object.
    pub(crate) fn attr_i64(&self, loc: hid_t, name: &str, v: i64) -> Result<(), String> {
        write_attr(loc, name, self.i64_type, &self.scalar, self, &v)
    }

    /// A 1-D int64 attribute, as `attrs::write_i64s` writes it on a new object.
    pub(crate) fn attr_i64s(&self, loc: hid_t, name: &str, v: &[i64]) -> Result<(), String> {
        let space = space_1d(v.len() as u64)?;
        write_attr(loc, name, self.i64_type, &space, self, v.as_ptr())
    }

    /// A scalar variable-length UTF-8 string attribute, as `attrs::write_str` writes it.
    pub(crate) fn attr_str(&self, loc: hid_t, name: &str, v: &str) -> Result<(), String> {
        let c = cstr(v)?;
        let p: *const c_char = c.as_ptr();
        write_attr(loc, name, self.str_type.id(), &self.scalar, self, &p)
    }

    /// Creates the int64 dataset `name` of `space`'s size in `loc`, its space allocated;
    /// returns it and the byte offset of its data in the file (`None` for an empty one).
    pub(crate) fn column(
        &self,
        loc: hid_t,
        name: &str,
        space: &Hid,
    ) -> Result<(Hid, Option<u64>), String> {
        let c = cstr(name)?;
        // SAFETY: `c` is NUL-terminated; every identifier is live.
        let id = hdf5::sync::sync(|| unsafe {
            H5Dcreate2(
                loc,
                c.as_ptr(),
                self.i64_type,
                space.id(),
                H5P_DEFAULT,
                self.dcpl.id(),
                H5P_DEFAULT,
            )
        });
        let ds = Hid::new(id, Kind::Dataset, &|| {
            format!("cannot create dataset {name}")
        })?;
        // SAFETY: a live dataset.
        let offset = hdf5::sync::sync(|| unsafe { H5Dget_offset(ds.id()) });
        Ok((ds, (offset != HADDR_UNDEF).then_some(offset)))
    }
}

/// Copies `len` bytes at `from_off` of `from` to `to_off` of `to` inside the kernel
/// (`copy_file_range` with explicit offsets: no seeks, no user-space buffer). `Ok(false)` if
/// the kernel or the filesystems cannot, before anything was copied: the caller copies another
/// way.
pub(crate) fn copy_range(
    from: &std::fs::File,
    from_off: u64,
    to: &std::fs::File,
    to_off: u64,
    len: u64,
) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let (mut off_in, mut off_out) = (from_off as i64, to_off as i64);
    let mut left = len;
    while left > 0 {
        let chunk = usize::try_from(left).unwrap_or(usize::MAX).min(1 << 30);
        // SAFETY: two open descriptors; the offsets are ours and updated by the kernel.
        let n = unsafe {
            copy_file_range(
                from.as_raw_fd(),
                &mut off_in,
                to.as_raw_fd(),
                &mut off_out,
                chunk,
                0,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            let unsupported = matches!(
                e.raw_os_error(),
                Some(code) if [38, 18, 22, 95, 1].contains(&code) // ENOSYS EXDEV EINVAL EOPNOTSUPP EPERM
            );
            if unsupported && left == len {
                return Ok(false);
            }
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("copied {} of {len} bytes at offset {from_off}", len - left),
            ));
        }
        left -= n as u64;
    }
    Ok(true)
}
