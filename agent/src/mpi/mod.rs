//! The run-time MPI layer: the handful of MPI calls the agent makes, for Open MPI and the
//! MPICH family from one binary, with the ABI detected at run time (see
//! shared/design/mpi-abi.md for the constants). All MPI knowledge of the agent lives here.
//! Invariant: handles travel as pointer-sized integers; every call goes to the real `PMPI_*`.

pub mod calls;
pub mod clock_sync;
pub mod find;

use std::ffi::{c_char, c_int, c_void};

pub type InitFn = unsafe extern "C" fn(*mut c_int, *mut *mut *mut c_char) -> c_int;
pub type InitThreadFn =
    unsafe extern "C" fn(*mut c_int, *mut *mut *mut c_char, c_int, *mut c_int) -> c_int;
pub type FinalizeFn = unsafe extern "C" fn() -> c_int;
pub type AbortFn = unsafe extern "C" fn(usize, c_int) -> c_int;
type FlagFn = unsafe extern "C" fn(*mut c_int) -> c_int;
type CommIntFn = unsafe extern "C" fn(usize, *mut c_int) -> c_int;
type CommDupFn = unsafe extern "C" fn(usize, *mut u64) -> c_int;
type CommFn = unsafe extern "C" fn(usize) -> c_int;
type CommFreeFn = unsafe extern "C" fn(*mut u64) -> c_int;
type BcastFn = unsafe extern "C" fn(*mut c_void, c_int, usize, c_int, usize) -> c_int;
type GetParentFn = unsafe extern "C" fn(*mut u64) -> c_int;
type SendFn = unsafe extern "C" fn(*const c_void, c_int, usize, c_int, c_int, usize) -> c_int;
type RecvFn = unsafe extern "C" fn(*mut c_void, c_int, usize, c_int, c_int, usize, usize) -> c_int;
type IbcastFn = unsafe extern "C" fn(*mut c_void, c_int, usize, c_int, usize, *mut u64) -> c_int;
type IrecvFn =
    unsafe extern "C" fn(*mut c_void, c_int, usize, c_int, c_int, usize, *mut u64) -> c_int;
type TestFn = unsafe extern "C" fn(*mut u64, *mut c_int, usize) -> c_int;
type AllgatherFn =
    unsafe extern "C" fn(*const c_void, c_int, usize, *mut c_void, c_int, usize, usize) -> c_int;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    OpenMpi,
    Mpich,
}

pub fn real_init() -> Option<InitFn> {
    // SAFETY: the symbol is libmpi's PMPI_Init, whose C signature is InitFn.
    find::real("PMPI_Init").map(|p| unsafe { std::mem::transmute::<usize, InitFn>(p) })
}

pub fn real_init_thread() -> Option<InitThreadFn> {
    // SAFETY: as above for PMPI_Init_thread.
    find::real("PMPI_Init_thread").map(|p| unsafe { std::mem::transmute::<usize, InitThreadFn>(p) })
}

pub fn real_finalize() -> Option<FinalizeFn> {
    // SAFETY: as above for PMPI_Finalize.
    find::real("PMPI_Finalize").map(|p| unsafe { std::mem::transmute::<usize, FinalizeFn>(p) })
}

pub fn real_abort() -> Option<AbortFn> {
    // SAFETY: as above for PMPI_Abort (the communicator travels as a register-sized handle).
    find::real("PMPI_Abort").map(|p| unsafe { std::mem::transmute::<usize, AbortFn>(p) })
}

/// The agent's own communicator and the calls it needs.
pub struct Mpi {
    pub abi: Abi,
    /// This world was started by `MPI_Comm_spawn` (it has a parent): not the launched world.
    pub spawned: bool,
    comm: usize,
    byte: usize,
    comm_rank: CommIntFn,
    comm_size: CommIntFn,
    barrier: CommFn,
    bcast: BcastFn,
    send: SendFn,
    recv: RecvFn,
    allgather: AllgatherFn,
    ibcast: IbcastFn,
    irecv: IrecvFn,
    test: TestFn,
    comm_free: CommFreeFn,
}

fn flag(name: &str) -> Option<bool> {
    let f = find::any(name)?;
    // SAFETY: PMPI_Initialized / PMPI_Finalized take an int* and may be called at any time.
    let f: FlagFn = unsafe { std::mem::transmute::<usize, FlagFn>(f) };
    let mut v: c_int = 0;
    // SAFETY: valid out pointer.
    (unsafe { f(&mut v) } == 0).then_some(v != 0)
}

pub fn is_initialized() -> bool {
    flag("PMPI_Initialized").unwrap_or(false)
}

macro_rules! func {
    ($name:literal, $ty:ty) => {{
        let p = find::any($name).ok_or(concat!("cannot find ", $name))?;
        // SAFETY: the named MPI function has the C signature `$ty` (handles as intptr).
        unsafe { std::mem::transmute::<usize, $ty>(p) }
    }};
}

/// `MPI_Comm_get_parent` answers a communicator other than `MPI_COMM_NULL`: this world was
/// started with `MPI_Comm_spawn`. Call right after the real init, before the program can
/// disconnect from its parent.
fn has_parent(abi: Abi) -> Result<bool, String> {
    let null = match abi {
        // As for MPI_COMM_WORLD: the executable's copy-relocated object first.
        Abi::OpenMpi => {
            ompi_object("ompi_mpi_comm_null").ok_or("Open MPI without ompi_mpi_comm_null")? as u64
        }
        Abi::Mpich => 0x0400_0000,
    };
    let get_parent = func!("PMPI_Comm_get_parent", GetParentFn);
    let mut parent: u64 = null;
    // SAFETY: valid out pointer (MPICH writes 4 bytes, Open MPI 8).
    if unsafe { get_parent(&mut parent) } != 0 {
        return Err("MPI_Comm_get_parent failed".into());
    }
    if abi == Abi::Mpich {
        parent &= 0xffff_ffff;
    }
    Ok(parent != null && parent != 0)
}

/// An Open MPI predefined object (`ompi_mpi_comm_world`, ...): the executable's
/// copy-relocated one (RTLD_DEFAULT) first, since the one inside libmpi is stale when the
/// program references the object itself.
fn ompi_object(name: &str) -> Option<usize> {
    find::default(name).or_else(|| find::in_libmpi(name))
}

/// Which MPI the process runs (`MPI_COMM_WORLD` is found as `ompi_mpi_comm_world` only in
/// Open MPI). Valid once libmpi is loaded.
pub fn detect_abi() -> Abi {
    match ompi_object("ompi_mpi_comm_world") {
        Some(_) => Abi::OpenMpi,
        None => Abi::Mpich,
    }
}

impl Mpi {
    /// Detects the ABI and duplicates `MPI_COMM_WORLD`. Call only after MPI is initialised.
    pub fn attach() -> Result<Mpi, String> {
        if find::any("MPI_Abi_get_version").is_some() {
            return Err("the MPI-5 standard ABI is not supported yet".into());
        }
        let ompi_world = ompi_object("ompi_mpi_comm_world");
        let (abi, world, byte) = match ompi_world {
            Some(w) => {
                let byte = ompi_object("ompi_mpi_byte").ok_or("Open MPI without ompi_mpi_byte")?;
                (Abi::OpenMpi, w, byte)
            }
            None => (Abi::Mpich, 0x4400_0000usize, 0x4c00_010dusize),
        };
        let spawned = has_parent(abi)?;
        let comm_dup = func!("PMPI_Comm_dup", CommDupFn);
        let mut comm: u64 = 0;
        // SAFETY: valid communicator handle and out pointer (MPICH writes 4 bytes, Open MPI 8).
        if unsafe { comm_dup(world, &mut comm) } != 0 {
            return Err("MPI_Comm_dup(MPI_COMM_WORLD) failed".into());
        }
        Ok(Mpi {
            abi,
            spawned,
            comm: comm as usize,
            byte,
            comm_rank: func!("PMPI_Comm_rank", CommIntFn),
            comm_size: func!("PMPI_Comm_size", CommIntFn),
            barrier: func!("PMPI_Barrier", CommFn),
            bcast: func!("PMPI_Bcast", BcastFn),
            send: func!("PMPI_Send", SendFn),
            recv: func!("PMPI_Recv", RecvFn),
            allgather: func!("PMPI_Allgather", AllgatherFn),
            ibcast: func!("PMPI_Ibcast", IbcastFn),
            irecv: func!("PMPI_Irecv", IrecvFn),
            test: func!("PMPI_Test", TestFn),
            comm_free: func!("PMPI_Comm_free", CommFreeFn),
        })
    }

    pub fn rank(&self) -> i32 {
        let mut r = -1;
        // SAFETY: our communicator, valid out pointer.
        unsafe { (self.comm_rank)(self.comm, &mut r) };
        r
    }

    pub fn size(&self) -> i32 {
        let mut s = 0;
        // SAFETY: as above.
        unsafe { (self.comm_size)(self.comm, &mut s) };
        s
    }

    pub fn barrier(&self) {
        // SAFETY: our communicator.
        unsafe { (self.barrier)(self.comm) };
    }

    /// Broadcasts `buf` from rank 0.
    pub fn bcast_bytes(&self, buf: &mut [u8]) {
        // SAFETY: buf is valid for buf.len() bytes; MPI_BYTE handle of the detected ABI.
        unsafe {
            (self.bcast)(
                buf.as_mut_ptr() as *mut c_void,
                buf.len() as c_int,
                self.byte,
                0,
                self.comm,
            )
        };
    }

    fn status_ignore(&self) -> usize {
        match self.abi {
            Abi::OpenMpi => 0,
            Abi::Mpich => 1,
        }
    }

    /// Waits for `request` without spinning in MPI's progress loop: tests it every `NAP` and
    /// sleeps in between, leaving the CPU to ranks that work (on a node with more ranks than
    /// cores: the ping-pongs of the clock measurement).
    fn wait_sleeping(&self, request: &mut u64) {
        const NAP: std::time::Duration = std::time::Duration::from_micros(200);
        loop {
            let mut done: c_int = 0;
            // SAFETY: a request the caller started, a valid flag, MPI_STATUS_IGNORE.
            if unsafe { (self.test)(request, &mut done, self.status_ignore()) } != 0 || done != 0 {
                return;
            }
            std::thread::sleep(NAP);
        }
    }

    /// `bcast_bytes` waiting as `wait_sleeping` does. Every rank must call this one for a given
    /// broadcast, not `bcast_bytes`: a non-blocking collective never matches a blocking one.
    pub fn bcast_bytes_sleeping(&self, buf: &mut [u8]) {
        let mut request: u64 = 0;
        // SAFETY: as in `bcast_bytes`; `request` is an 8-byte out handle (MPICH writes 4).
        let rc = unsafe {
            (self.ibcast)(
                buf.as_mut_ptr() as *mut c_void,
                buf.len() as c_int,
                self.byte,
                0,
                self.comm,
                &mut request,
            )
        };
        if rc == 0 {
            self.wait_sleeping(&mut request);
        }
    }

    /// `recv_bytes` waiting as `wait_sleeping` does (for a message that may be long in coming).
    pub fn recv_bytes_sleeping(&self, buf: &mut [u8], source: i32, tag: i32) {
        let mut request: u64 = 0;
        // SAFETY: buf is valid for buf.len() bytes until the request completes below; MPI_BYTE
        // of the detected ABI; our communicator; an 8-byte out handle.
        let rc = unsafe {
            (self.irecv)(
                buf.as_mut_ptr() as *mut c_void,
                buf.len() as c_int,
                self.byte,
                source,
                tag,
                self.comm,
                &mut request,
            )
        };
        if rc == 0 {
            self.wait_sleeping(&mut request);
        } else {
            self.recv_bytes(buf, source, tag);
        }
    }

    /// Receives one 8-byte header with `tag` from each of `sources`, handing each to `f` in the
    /// order they arrive (a source that never sends keeps the others from waiting behind it),
    /// waiting as `wait_sleeping` does.
    pub fn each_header_sleeping(&self, sources: &[i32], tag: i32, mut f: impl FnMut(i32, [u8; 8])) {
        const NAP: std::time::Duration = std::time::Duration::from_micros(200);
        let mut bufs = vec![[0u8; 8]; sources.len()];
        let mut requests = vec![0u64; sources.len()];
        let mut pending: Vec<usize> = Vec::with_capacity(sources.len());
        for (i, &src) in sources.iter().enumerate() {
            // SAFETY: `bufs[i]` stays in place (the vector is never resized) and valid for 8
            // bytes until its request completes below; MPI_BYTE of the detected ABI; our
            // communicator; an 8-byte out handle.
            let rc = unsafe {
                (self.irecv)(
                    bufs[i].as_mut_ptr() as *mut c_void,
                    8,
                    self.byte,
                    src,
                    tag,
                    self.comm,
                    &mut requests[i],
                )
            };
            if rc == 0 {
                pending.push(i);
            } else {
                self.recv_bytes(&mut bufs[i], src, tag);
                f(src, bufs[i]);
            }
        }
        while !pending.is_empty() {
            let mut any = false;
            let mut k = 0;
            while k < pending.len() {
                let i = pending[k];
                let mut done: c_int = 0;
                // SAFETY: a request started above, a valid flag, MPI_STATUS_IGNORE.
                let rc = unsafe { (self.test)(&mut requests[i], &mut done, self.status_ignore()) };
                if rc != 0 || done != 0 {
                    pending.swap_remove(k);
                    f(sources[i], bufs[i]);
                    any = true;
                } else {
                    k += 1;
                }
            }
            if !any {
                std::thread::sleep(NAP);
            }
        }
    }

    /// Sends `buf` to `dest` with `tag` on the agent's communicator.
    pub fn send_bytes(&self, buf: &[u8], dest: i32, tag: i32) {
        // SAFETY: buf is valid for buf.len() bytes; MPI_BYTE of the detected ABI; our
        // communicator.
        unsafe {
            (self.send)(
                buf.as_ptr() as *const c_void,
                buf.len() as c_int,
                self.byte,
                dest,
                tag,
                self.comm,
            )
        };
    }

    /// Receives into `buf` from `source` with `tag` on the agent's communicator.
    pub fn recv_bytes(&self, buf: &mut [u8], source: i32, tag: i32) {
        let status_ignore = self.status_ignore();
        // SAFETY: buf is valid for buf.len() bytes; MPI_BYTE and MPI_STATUS_IGNORE of the
        // detected ABI; our communicator.
        unsafe {
            (self.recv)(
                buf.as_mut_ptr() as *mut c_void,
                buf.len() as c_int,
                self.byte,
                source,
                tag,
                self.comm,
                status_ignore,
            )
        };
    }

    /// Every rank's `mine` (the same length on every rank), in rank order.
    pub fn allgather_bytes(&self, mine: &[u8]) -> Vec<u8> {
        let size = self.size().max(1) as usize;
        let mut all = vec![0u8; mine.len() * size];
        // SAFETY: `mine` holds len bytes, `all` len × size; MPI_BYTE of the detected ABI.
        unsafe {
            (self.allgather)(
                mine.as_ptr() as *const c_void,
                mine.len() as c_int,
                self.byte,
                all.as_mut_ptr() as *mut c_void,
                mine.len() as c_int,
                self.byte,
                self.comm,
            )
        };
        all
    }

    /// Frees the agent's communicator (before the real finalize).
    pub fn free(&self) {
        let mut c = self.comm as u64;
        // SAFETY: our own communicator handle.
        unsafe { (self.comm_free)(&mut c) };
    }
}
