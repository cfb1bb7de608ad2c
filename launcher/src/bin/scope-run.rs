//! `scope-run [OPTIONS] [-n N] -- PROGRAM [ARGS...]`; see `scope_launcher::run`.

fn main() {
    let argv: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect()
    {
        Ok(v) => v,
        Err(bad) => {
            eprintln!("scope-run: argument is not valid UTF-8: {bad:?}");
            std::process::exit(2);
        }
    };
    std::process::exit(scope_launcher::run::main(&argv));
}
