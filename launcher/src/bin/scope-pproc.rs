//! `scope-pproc FILE [--ranks 0 2 | --ranks 0-3]`; see `scope_launcher::pproc`.

fn main() {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(scope_launcher::pproc::main(&argv));
}
