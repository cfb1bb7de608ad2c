//! Two profile files compared object by object, read back through the `hdf5` crate: the same
//! members in every group, the same object types, the same attributes (name encoding, type,
//! shape, values) on every object, and the same datasets (type, shape, storage layout, values).
//! Raw byte offsets and HDF5's own bookkeeping (times, free space) may differ. For tests: the
//! layout's own (`layout/tests.rs`), and the end-to-end tests that check a parallel finalize
//! against the serial merge of the same rank files.
//! Invariant: every difference panics with the object's path (fails the calling test).

use hdf5::types::{TypeDescriptor, VarLenUnicode};
use hdf5::{Dataset, Group, Location, LocationType};
use std::path::Path;

/// What was compared, to check that the walk saw what the test expects.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub groups: usize,
    pub datasets: usize,
    pub attributes: usize,
    /// int64 values compared, over every dataset.
    pub values: usize,
}

/// Asserts that the files `a` and `b` hold the same profile; returns what was compared. Panics
/// at the first difference, or when either file cannot be opened.
pub fn assert_same_file(a: &Path, b: &Path) -> Seen {
    let (fa, fb) = (
        crate::files::open(a).unwrap_or_else(|e| panic!("{}: {e}", a.display())),
        crate::files::open(b).unwrap_or_else(|e| panic!("{}: {e}", b.display())),
    );
    let mut seen = Seen::default();
    group(&fa, &fb, "", &mut seen);
    seen
}

fn group(a: &Group, b: &Group, path: &str, seen: &mut Seen) {
    seen.groups += 1;
    attributes(a, b, path, seen);
    // By name: HDF5 lists a compact group's links in its object header's order, which an
    // attribute rewrite of that object (the parallel merge's progress records) can reorder.
    let sorted = |g: &Group| {
        let mut n = g.member_names().unwrap();
        n.sort();
        n
    };
    let names = sorted(a);
    assert_eq!(names, sorted(b), "members of {path}/");
    for name in names {
        let p = format!("{path}/{name}");
        let kind = a.loc_type_by_name(&name).unwrap();
        assert_eq!(kind, b.loc_type_by_name(&name).unwrap(), "{p}");
        match kind {
            LocationType::Group => {
                group(&a.group(&name).unwrap(), &b.group(&name).unwrap(), &p, seen)
            }
            LocationType::Dataset => dataset(
                &a.dataset(&name).unwrap(),
                &b.dataset(&name).unwrap(),
                &p,
                seen,
            ),
            other => panic!("{p}: unexpected {other:?}"),
        }
    }
}

fn dataset(a: &Dataset, b: &Dataset, path: &str, seen: &mut Seen) {
    seen.datasets += 1;
    attributes(a, b, path, seen);
    let dtype = a.dtype().unwrap().to_descriptor().unwrap();
    assert_eq!(dtype, b.dtype().unwrap().to_descriptor().unwrap(), "{path}");
    assert!(matches!(dtype, TypeDescriptor::Integer(_)), "{path}");
    assert_eq!(a.shape(), b.shape(), "{path}");
    assert_eq!(a.layout(), b.layout(), "{path}");
    let values = a.read_raw::<i64>().unwrap();
    assert_eq!(values, b.read_raw::<i64>().unwrap(), "{path}");
    seen.values += values.len();
}

fn attributes(a: &Location, b: &Location, path: &str, seen: &mut Seen) {
    let names = a.attr_names().unwrap();
    assert_eq!(names, b.attr_names().unwrap(), "attributes of {path}");
    for name in names {
        seen.attributes += 1;
        let p = format!("{path}@{name}");
        let (ia, ib) = (a.attr_info(&name).unwrap(), b.attr_info(&name).unwrap());
        assert_eq!(
            (ia.char_encoding, ia.data_size),
            (ib.char_encoding, ib.data_size),
            "{p}"
        );
        let (xa, xb) = (a.attr(&name).unwrap(), b.attr(&name).unwrap());
        let dtype = xa.dtype().unwrap().to_descriptor().unwrap();
        assert_eq!(dtype, xb.dtype().unwrap().to_descriptor().unwrap(), "{p}");
        assert_eq!(xa.shape(), xb.shape(), "{p}");
        match dtype {
            TypeDescriptor::Integer(_) => assert_eq!(
                xa.read_raw::<i64>().unwrap(),
                xb.read_raw::<i64>().unwrap(),
                "{p}"
            ),
            TypeDescriptor::VarLenUnicode => {
                let text = |v: Vec<VarLenUnicode>| -> Vec<String> {
                    v.iter().map(|s| s.as_str().to_string()).collect()
                };
                assert_eq!(
                    text(xa.read_raw().unwrap()),
                    text(xb.read_raw().unwrap()),
                    "{p}"
                );
            }
            other => panic!("{p}: unexpected attribute type {other:?}"),
        }
    }
}
