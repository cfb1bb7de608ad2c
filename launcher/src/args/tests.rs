use super::*;

fn p(s: &str) -> Result<Parsed> {
    parse(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
}

fn run(s: &str) -> RunArgs {
    match p(s).unwrap() {
        Parsed::Run(a) => a,
        other => panic!("{other:?}"),
    }
}

fn v(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn known_options_and_program_flags() {
    let a = run("-n 4 -c my.toml -o out.h5 --force -v -- ./solver --input x -n 9 -- y");
    assert_eq!(a.np, Some(4));
    assert_eq!(a.config, Some(PathBuf::from("my.toml")));
    assert_eq!(a.output, Some(PathBuf::from("out.h5")));
    assert!(a.force && a.verbose);
    assert_eq!(a.program, "./solver");
    assert_eq!(a.program_args, v("--input x -n 9 -- y"));
    assert!(a.launcher_args.is_empty());
    assert_eq!(a.launcher, LauncherChoice::Auto);
}

#[test]
fn long_forms_with_equals() {
    let a = run("--np=2 --config=a.toml --output=b.h5 --launcher=mpiexec -- p");
    assert_eq!(a.np, Some(2));
    assert_eq!(a.config, Some(PathBuf::from("a.toml")));
    assert_eq!(a.output, Some(PathBuf::from("b.h5")));
    assert_eq!(a.launcher, LauncherChoice::Mpiexec);
    assert_eq!(run("-np 3 -- p").np, Some(3));
    assert_eq!(run("-n3 -- p").np, Some(3));
}

#[test]
fn unknown_options_go_to_the_launcher_with_their_values() {
    let a = run(
        "--bind-to core -n 4 --mca btl self,vader -host a,b -oversubscribe -v -- prog --bind-to x",
    );
    assert_eq!(
        a.launcher_args,
        v("--bind-to core --mca btl self,vader -host a,b -oversubscribe")
    );
    assert_eq!(a.np, Some(4));
    assert!(a.verbose);
    assert_eq!(a.output, None, "-oversubscribe is not -o");
    assert_eq!(a.program, "prog");
    assert_eq!(a.program_args, v("--bind-to x"));
}

#[test]
fn program_without_double_dash() {
    let a = run("-n 2 ./a.out --flag 1");
    assert_eq!(a.program, "./a.out");
    assert_eq!(a.program_args, v("--flag 1"));
    let a = run("python3 script.py");
    assert_eq!((a.program.as_str(), a.np), ("python3", None));
}

#[test]
fn errors() {
    assert!(p("-n 4")
        .unwrap_err()
        .message
        .starts_with("no program given"));
    assert!(p("-n 4 --").is_err());
    assert!(p("--mca btl self ./a.out")
        .unwrap_err()
        .message
        .contains("put `--`"));
    assert!(p("-n 0 -- p").is_err());
    assert!(p("-n x -- p").is_err());
    assert!(p("-n -- p").unwrap_err().message.contains("needs a value"));
    assert!(p("--launcher bogus -- p").is_err());
    assert_eq!(p("--help").unwrap(), Parsed::Help);
    assert_eq!(p("-V").unwrap(), Parsed::Version);
}

#[test]
fn multi_node_host_options_pass_through() {
    // Hydra: hostfile, remote launcher, interface; Open MPI: hostfile, host list, rsh agent.
    let hydra = "-f hosts -launcher ssh -launcher-exec /x/fake-ssh -iface scope0 -hosts a:2,b:2";
    let a = run(&format!("-c s.toml {hydra} -n 6 -- ./prog x"));
    assert_eq!(a.launcher_args, v(hydra));
    assert_eq!((a.np, a.program.as_str()), (Some(6), "./prog"));
    let ompi = "--hostfile hosts -H a:2,b:2 --mca plm_rsh_agent /x/fake-ssh";
    let a = run(&format!("-o out.h5 {ompi} -n 6 -- ./prog"));
    assert_eq!(a.launcher_args, v(ompi));
    assert_eq!(a.output, Some(PathBuf::from("out.h5")));
}

#[test]
fn the_three_help_examples_parse_as_their_text_says() {
    let ex = usage_examples();
    assert_eq!(ex.len(), 3, "{ex:?}");
    let run_of = |i: usize| match parse(&ex[i]).unwrap() {
        Parsed::Run(a) => a,
        other => panic!("example {i}: {other:?}"),
    };
    let a = run_of(0);
    assert_eq!(
        (a.np, a.config, a.program.as_str()),
        (Some(4), None, "./solver")
    );
    assert!(a.launcher_args.is_empty() && a.program_args.is_empty());
    let a = run_of(1);
    assert_eq!(a.np, Some(4));
    assert_eq!(a.config, Some(PathBuf::from("solver.toml")));
    assert_eq!(a.output, Some(PathBuf::from("run1.h5")));
    assert!(a.force);
    assert_eq!(a.launcher_args, v("--mca btl self,vader"));
    assert_eq!((a.program.as_str(), a.program_args), ("./solver", v("200")));
    let a = run_of(2);
    assert_eq!((a.np, a.config), (Some(2), Some(PathBuf::from("py.toml"))));
    assert_eq!(
        (a.program.as_str(), a.program_args),
        ("python3", v("driver.py"))
    );
}
