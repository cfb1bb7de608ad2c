//! Property-style checks: arbitrary input never makes the crate panic.
//! A fixed-seed xorshift generator keeps failures reproducible without extra dependencies.

use scope_config::{parse, suggest, SymbolName, SymbolPattern};
use std::path::Path;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Pieces of TOML and of symbol syntax, so random strings often get deep into the parser.
const PIECES: &[&str] = &[
    "[[regions]]",
    "[regions]",
    "[output]",
    "\n",
    " ",
    "symbol",
    "name",
    "symbl",
    " = ",
    "=",
    "\"",
    "'",
    "\"\"\"",
    "compute",
    "geo::area(double, double)",
    "(",
    ")",
    "<",
    ">",
    "*",
    "?",
    "::",
    "%",
    ".",
    ".isra.0",
    "3",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "\\",
    "\\u00e9",
    "é",
    "\t",
    "\r\n",
    "_Z",
    "_ZN",
    "_R",
    "E",
    "17h0123456789abcdefE",
    "operator",
    "\0",
    "true",
    "1979-05-27",
];

fn toml_ish(rng: &mut XorShift) -> String {
    (0..rng.below(40)).map(|_| rng.pick(PIECES)).collect()
}

fn bytes(rng: &mut XorShift) -> String {
    let raw: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
    String::from_utf8_lossy(&raw).into_owned()
}

#[test]
fn parse_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let path = Path::new("fuzz.toml");
    for i in 0..20_000 {
        let text = if i % 2 == 0 {
            toml_ish(&mut rng)
        } else {
            bytes(&mut rng)
        };
        if let Err(e) = parse(&text, path) {
            assert!(e.to_string().starts_with("fuzz.toml"), "{e} for {text:?}");
        }
    }
}

#[test]
fn valid_configs_survive_random_symbols() {
    let mut rng = XorShift(42);
    for _ in 0..5_000 {
        let symbol = toml_ish(&mut rng).replace(['"', '\\', '\n', '\r'], "");
        let text = format!("[[regions]]\nsymbol = \"{symbol}\"\n");
        match parse(&text, Path::new("s.toml")) {
            Ok(c) => assert_eq!(c.regions[0].symbol, symbol),
            Err(e) => assert!(e.to_string().starts_with("s.toml:"), "{e}"),
        }
    }
}

#[test]
fn names_patterns_and_suggestions_never_panic() {
    let mut rng = XorShift(7);
    let mut names = Vec::new();
    for i in 0..5_000 {
        let raw = match i % 3 {
            0 => format!("_Z{}", toml_ish(&mut rng)),
            1 => format!("_R{}", bytes(&mut rng)),
            _ => toml_ish(&mut rng),
        };
        names.push(SymbolName::new(&raw));
    }
    for i in 0..300 {
        let text = toml_ish(&mut rng);
        if let Ok(p) = SymbolPattern::parse(&text) {
            for n in &names {
                let _ = p.matches(n);
            }
        }
        // Edit distances on long random strings are slow in debug builds: sample.
        if i % 10 == 0 {
            assert!(suggest(&text, &names).len() <= 3);
        }
    }
}
