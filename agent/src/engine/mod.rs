//! The interception engine (x86-64): attach an enter/leave timing hook to functions of the
//! running process without knowing their signatures.
//!
//! Model (Frida's Interceptor, made cheaper): per function a stub near it (`stub.rs`), the
//! function's first bytes relocated after the stub (`prologue.rs`), a 5-byte `jmp` written
//! over them (`patch.rs`); per thread a shadow stack and an event buffer (`thread.rs`) reached
//! through a fixed TLS offset (`tls.rs`); everything unusual through a full-save trampoline
//! (`trampoline.rs`).
//!
//! Invariants: `attach` runs while the process has one thread (checked); a function is either
//! fully hooked or untouched; the engine never panics into the program: every failure is a
//! refusal with a reason or a disabled engine.

pub mod args;
mod hooks;
mod memory;
mod patch;
pub mod prologue;
mod stub;
pub mod thread;
mod tls;
mod trampoline;
mod unwind;

pub use args::ARGS_HOOK;
pub use hooks::Kind;
pub use unwind::{BEGIN_CATCH, UNWIND_STARTS};

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use thread::{Event, ThreadState, EVENT_SIZE};

static READY: AtomicBool = AtomicBool::new(false);
static TLS_OFFSET: AtomicI32 = AtomicI32::new(0);
static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);
static EXIT_KEY: std::sync::OnceLock<libc::pthread_key_t> = std::sync::OnceLock::new();

/// A function to hook.
#[derive(Debug, Clone)]
pub struct Target {
    pub address: u64,
    /// Symbol size (0 if unknown: the back-edge check is then skipped).
    pub size: u64,
    pub region: u32,
    pub kind: Kind,
    /// Alignment padding right before the function (`start`, `len`), from the symbol table.
    pub pad: Option<(u64, u64)>,
    /// Separate fragments of the function (`foo.cold`: address, size), checked for branches
    /// back into the patched bytes.
    pub fragments: Vec<(u64, u64)>,
    /// How to name it in messages.
    pub label: String,
    /// `Kind::MpiCall`: which argument decoder reads the call (see `crate::mpi::calls`).
    pub decoder: u16,
}

/// Prepares the engine on the loading thread.
pub fn init() -> Result<(), String> {
    if !trampoline::init_xsave() {
        return Err("the CPU or kernel does not support XSAVE".into());
    }
    let off = tls::init()
        .ok_or("the agent's TLS is not in the static TLS block (load it with LD_PRELOAD)")?;
    TLS_OFFSET.store(off, Ordering::Relaxed);
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain key creation with a destructor that never unwinds.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } != 0 {
        return Err("pthread_key_create failed".into());
    }
    let _ = EXIT_KEY.set(key);
    READY.store(true, Ordering::Release);
    Ok(())
}

/// Number of threads of this process, from /proc.
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

/// Hooked functions and their relocated entries (see `unhooked`).
static ORIGINALS: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

/// An address to call a function at without going through its hook: the relocated entry if
/// it is hooked, else the function itself (for the agent's own calls on its slow paths).
pub fn unhooked(address: u64) -> u64 {
    ORIGINALS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|o| o.0 == address)
        .map_or(address, |o| o.1)
}

/// When hooks may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// At start-up: the process must have exactly one thread (checked).
    StartUp,
    /// Right after `dlopen` returned: the targets are in objects just loaded, which no thread
    /// is running yet (their constructors have run and returned).
    FreshlyLoaded,
}

/// Hooks every target; returns, per target, `Ok(())` or the reason it was refused.
pub fn attach(targets: &[Target], when: When) -> Vec<Result<(), String>> {
    if !READY.load(Ordering::Acquire) {
        return targets
            .iter()
            .map(|_| Err("engine not initialised".into()))
            .collect();
    }
    let threads = thread_count();
    if when == When::StartUp && threads != 1 {
        let msg = format!("the process already runs {threads} threads; patching now is unsafe");
        return targets.iter().map(|_| Err(msg.clone())).collect();
    }
    let mut arenas: Vec<memory::Arena> = Vec::new();
    let mut planned = Vec::new();
    let mut results: Vec<Result<(), String>> = Vec::with_capacity(targets.len());
    for t in targets {
        let r = plan(t, &mut arenas);
        results.push(r.map(|p| planned.push(p)));
    }
    for a in &arenas {
        if let Err(e) = a.seal() {
            return targets.iter().map(|_| Err(e.clone())).collect();
        }
    }
    // Publish and patch only what was planned; results of planned targets stay Ok unless the
    // write itself fails.
    let mut planned_iter = planned.into_iter();
    for r in results.iter_mut() {
        if r.is_err() {
            continue;
        }
        let p: Planned = planned_iter.next().expect("one plan per Ok result");
        hooks::publish(p.hook_id, p.kind, p.pass, p.leave, p.region, p.decoder);
        let written = match &p.board {
            Some((at, bytes)) => patch::write_code(*at, bytes),
            None => Ok(()),
        };
        match written.and_then(|_| patch::write_code(p.patch_at, &p.jmp)) {
            Ok(()) => ORIGINALS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((p.address, p.original)),
            Err(e) => *r = Err(e),
        }
    }
    results
}

struct Planned {
    hook_id: u32,
    /// The function's address and its relocated entry (callable as the unhooked original).
    address: u64,
    original: u64,
    kind: Kind,
    region: u32,
    decoder: u16,
    pass: u64,
    leave: u64,
    patch_at: u64,
    /// The springboard's address and its 5-byte jump, written before `jmp`.
    board: Option<(u64, Vec<u8>)>,
    jmp: Vec<u8>,
}

fn plan(t: &Target, arenas: &mut Vec<memory::Arena>) -> Result<Planned, String> {
    let readable = if t.size > 0 {
        t.size.min(1 << 20) as usize
    } else {
        32
    };
    // SAFETY: the address and size come from the symbol table of an object mapped in this
    // process; function bytes lie in its mapped, readable text segment.
    let code = unsafe { std::slice::from_raw_parts(t.address as *const u8, readable.max(16)) };
    if code[0] == 0xE9 || code[0] == 0xEB || (code[0] == 0xFF && code[1] == 0x25) {
        // Might be another patcher's jump: only accept it when the symbol is that small thunk.
        if t.size == 0 || t.size > 8 {
            return Err(
                "the function already starts with a jump (another tool may have patched it)".into(),
            );
        }
    }
    let pad = t.pad.map(|(start, len)| prologue::Padding {
        start,
        // SAFETY: the padding lies between two functions of the same mapped text segment.
        bytes: unsafe { std::slice::from_raw_parts(start as *const u8, len as usize) },
    });
    let pro = prologue::analyse(t.address, code, t.size, pad)?;
    for &(addr, size) in &t.fragments {
        // SAFETY: the fragment is a function symbol of the same mapped object.
        let frag =
            unsafe { std::slice::from_raw_parts(addr as *const u8, size.min(1 << 20) as usize) };
        prologue::check_fragment(&pro, addr, frag)?;
    }
    let hook_id = hooks::reserve().ok_or("too many hooks")?;
    // Worst case sizes: relocated window + jmp (each instruction may grow) and the stub.
    let need = pro.len * 4 + 32 + 320;
    let idx = match arenas.iter().position(|a| a.fits(t.address, need)) {
        Some(i) => i,
        None => {
            arenas.push(memory::arena_near(t.address)?);
            arenas.len() - 1
        }
    };
    let arena = &mut arenas[idx];
    let reloc_at = arena.cursor();
    let reloc = prologue::relocate(&pro, reloc_at)?;
    arena.push(&reloc);
    let stub_at = arena.cursor();
    let spec = stub::StubSpec {
        hook_id,
        region: t.region,
        tls_offset: TLS_OFFSET.load(Ordering::Relaxed),
        relocated: reloc_at,
        enter_trampoline: trampoline::enter_trampoline(),
        leave_trampoline: trampoline::leave_trampoline(),
        args_trampoline: (t.kind == Kind::MpiCall).then(trampoline::args_trampoline),
    };
    let s = match t.kind {
        Kind::Timing | Kind::MpiCall => stub::assemble(&spec, stub_at),
        _ => stub::assemble_special(&spec, stub_at),
    }
    .map_err(|e| format!("assembling the stub: {e}"))?;
    arena.push(&s.code);
    let (board, jmp) = match pro.springboard {
        None => (
            None,
            patch::jmp_bytes(pro.patch_at, stub_at, pro.len).ok_or("stub out of rel32 reach")?,
        ),
        Some(b) => (
            Some(patch::jmp_bytes(b, stub_at, 5).ok_or("stub out of rel32 reach")?),
            patch::short_jmp_bytes(pro.patch_at, b, pro.len)
                .ok_or("springboard out of rel8 reach")?,
        ),
    };
    Ok(Planned {
        hook_id,
        address: t.address,
        original: reloc_at,
        kind: t.kind,
        region: t.region,
        decoder: t.decoder,
        pass: s.pass,
        leave: s.leave,
        patch_at: pro.patch_at,
        board: board.map(|b| (pro.springboard.unwrap_or(0), b)),
        jmp,
    })
}

/// First hooked call on a thread: install its state. False = pass the call through.
fn thread_start() -> bool {
    if !READY.load(Ordering::Acquire) || !tls::verify_current_thread() {
        return false;
    }
    let st = thread::alloc(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
    if st.is_null() {
        return false;
    }
    // SAFETY: fresh state from `alloc`.
    let state = unsafe { &*st };
    if !crate::recorder::register_thread(state) {
        state.limit.store(0, Ordering::Relaxed);
    }
    tls::set_current(st);
    if let Some(key) = EXIT_KEY.get() {
        // SAFETY: key created in `init`; the value is our state pointer.
        unsafe { libc::pthread_setspecific(*key, st as *const libc::c_void) };
    }
    true
}

/// This thread's state as an address (0 when it has none yet).
pub fn current_state() -> usize {
    tls::current() as usize
}

/// A state that never records: installed when a thread's own state is retired.
static RETIRED: ThreadState = retired_state();

const fn retired_state() -> ThreadState {
    const E: thread::Entry = thread::Entry {
        ret: 0,
        slot: 0,
        region: 0,
        t_enter: 0,
    };
    ThreadState {
        depth: AtomicU64::new(0),
        limit: AtomicU64::new(0),
        cur: AtomicU64::new(0),
        end: AtomicU64::new(0),
        buf: AtomicU64::new(0),
        dropped: 0,
        thread_index: 0,
        entries: [E; thread::STACK_CAP],
        bufs: [0; 2],
        gen: AtomicU64::new(0),
        handoff: AtomicU64::new(0),
        taken: [AtomicU64::new(0), AtomicU64::new(0)],
        handing: AtomicU64::new(0),
        exit_passes: 0,
    }
}

/// True for the shared state installed on threads whose own state was retired.
fn is_retired(st: &ThreadState) -> bool {
    std::ptr::eq(st, &RETIRED)
}

/// glibc runs pthread key destructors in up to this many rounds while values are set.
const DESTRUCTOR_ROUNDS: u64 = 4; // PTHREAD_DESTRUCTOR_ITERATIONS

/// The agent's pthread key destructor. Other keys' destructors (created after ours, so run
/// after it in a round) may still call hooked functions: the first rounds only set the key
/// again, which makes glibc run another round, and the state is retired in the last one.
extern "C" fn thread_exit(value: *mut libc::c_void) {
    let _ = std::panic::catch_unwind(|| {
        let st = value as *mut ThreadState;
        if st.is_null() {
            return;
        }
        // SAFETY: the state was installed by `thread_start` for this thread, which owns it.
        let passes = unsafe { &mut (*st).exit_passes };
        if *passes + 1 < DESTRUCTOR_ROUNDS {
            if let Some(key) = EXIT_KEY.get() {
                *passes += 1;
                // SAFETY: our key, set again to the same state for the next round.
                if unsafe { libc::pthread_setspecific(*key, value) } == 0 {
                    return;
                }
            }
        }
        // Later destructors of this thread may still call hooked functions: they pass through.
        tls::set_current(&RETIRED as *const ThreadState as *mut ThreadState);
        // SAFETY: the state was installed by `thread_start` for this thread, which owns it.
        let st = unsafe { &mut *st };
        // Frames still open when a thread ends (pthread_exit, cancellation) never return.
        record_open_frames(st);
        crate::recorder::retire_thread(st);
    });
}

/// Slow leave: records one event, handing the buffer over (or writing it) first when it is full.
fn record_slow(st: &mut ThreadState, region: u64, t_enter: u64, t_exit: u64) {
    // Written on this thread when there is no writer: recording pauses meanwhile.
    make_room(st);
    if !append_raw(st, t_enter, t_exit, region) {
        st.dropped += 1;
    }
}

/// Appends one 24-byte record (an event, or an args record) to the buffer being filled, if
/// there is room. The word goes last (a Release store): readers on other threads take a
/// record as complete once its word is non-zero (see `thread.rs`).
fn append_raw(st: &ThreadState, a: u64, b: u64, word: u64) -> bool {
    let cur = st.cur.load(Ordering::Relaxed);
    if cur + EVENT_SIZE > st.end.load(Ordering::Relaxed) {
        return false;
    }
    st.cur.store(cur + EVENT_SIZE, Ordering::Relaxed);
    let e = cur as *mut Event;
    // SAFETY: `cur` lies inside this thread's event buffer with room for one record,
    // reserved above; only the owning thread writes there.
    unsafe {
        std::ptr::addr_of_mut!((*e).t_enter).write(a);
        std::ptr::addr_of_mut!((*e).t_exit).write(b);
        (*(std::ptr::addr_of_mut!((*e).region) as *const AtomicU64)).store(word, Ordering::Release);
    }
    true
}

/// Makes room for one record (handing the full buffer over, or writing it on this thread).
fn make_room(st: &mut ThreadState) {
    if st.is_full() && !crate::recorder::hand_over(st) {
        let limit = st.limit.swap(0, Ordering::Relaxed);
        crate::recorder::flush_thread(st);
        st.limit.store(
            limit.min(crate::recorder::active_limit()),
            Ordering::Relaxed,
        );
    }
}

/// Agent code is about to run on this thread (an MPI or `dlopen` wrapper): hooked functions
/// it calls pass through. Returns what `resume_recording` needs.
pub fn pause_recording() -> u64 {
    own_state().map_or(0, |st| st.limit.swap(0, Ordering::Relaxed))
}

/// Undoes `pause_recording` (recording stays off if it was stopped meanwhile).
pub fn resume_recording(limit: u64) {
    if limit == 0 {
        return;
    }
    if let Some(st) = own_state() {
        st.limit.store(
            limit.min(crate::recorder::active_limit()),
            Ordering::Relaxed,
        );
    }
}

/// Before a stack walk on this thread (`backtrace`): open frames get their real return
/// addresses back.
pub fn show_real_returns() {
    if let Some(st) = own_state() {
        unwind::restore_returns(st);
    }
}

/// After the walk: the open frames return through their stubs again.
pub fn hide_real_returns() {
    if let Some(st) = own_state() {
        unwind::rehook_all(st);
    }
}

/// This thread's own recording state, if it has one.
fn own_state() -> Option<&'static ThreadState> {
    let st = tls::current();
    if st.is_null() {
        return None;
    }
    // SAFETY: a non-null TLS state is this thread's and stays mapped (states are never freed).
    let st = unsafe { &*st };
    (!is_retired(st)).then_some(st)
}

/// The agent's own threads: hooked functions they call always pass through, uncounted.
pub fn never_record_on_this_thread() {
    tls::set_current(&RETIRED as *const ThreadState as *mut ThreadState);
}

/// Records the calls still open on `st` as ending now (recording is stopping: at
/// `MPI_Finalize` they are still running; at exit they never will return). The entries stay,
/// so the frames that do return later still find their return address.
pub fn record_open_frames(st: &mut ThreadState) {
    let open = st.open_entries().to_vec();
    // SAFETY: rdtsc is unprivileged.
    let now = unsafe { std::arch::x86_64::_rdtsc() };
    for e in open.iter().rev() {
        record_slow(st, e.region, e.t_enter, now);
    }
}

/// No shadow entry matches a returning frame: the real return address is unknown.
fn fatal_lost_return(slot: u64) -> ! {
    crate::log::error(&format!(
        "internal error: lost the return address of the frame at {slot:#x}; aborting"
    ));
    std::process::abort()
}
