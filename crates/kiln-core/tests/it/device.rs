//! Device specs as a user types them, through parsing, display and resolution.

use kiln_core::Error;
use kiln_core::device::{DeviceSpec, ResolvedDevice, resolve};

#[test]
fn parse_table() {
    let table: [(&str, Option<DeviceSpec>); 12] = [
        ("auto", Some(DeviceSpec::Auto)),
        ("cpu", Some(DeviceSpec::Cpu)),
        ("cuda", Some(DeviceSpec::Cuda(0))),
        ("cuda:0", Some(DeviceSpec::Cuda(0))),
        ("cuda:7", Some(DeviceSpec::Cuda(7))),
        ("CUDA:2", Some(DeviceSpec::Cuda(2))),
        ("gpu", None),
        ("cuda:", None),
        ("cuda:one", None),
        ("cuda:-1", None),
        ("cpu:0", None),
        ("", None),
    ];
    for (text, expected) in table {
        match (text.parse::<DeviceSpec>(), expected) {
            (Ok(spec), Some(want)) => assert_eq!(spec, want, "{text}"),
            (Err(Error::ParseDevice { text: bad }), None) => assert_eq!(bad, text),
            (got, want) => panic!("{text}: got {got:?}, expected {want:?}"),
        }
    }
}

#[test]
fn error_lists_the_accepted_forms() {
    let err = "tpu:0".parse::<DeviceSpec>().expect_err("tpu");
    assert_eq!(
        err.to_string(),
        "unknown device `tpu:0`\nhint: use one of auto, cpu, cuda, cuda:N (N is a GPU index, e.g. cuda:1)"
    );
}

#[test]
fn cuda_without_the_feature_says_how_to_rebuild() {
    let err = resolve("cuda:0".parse().expect("parse")).expect_err("no cuda support");
    assert_eq!(
        err.to_string(),
        "device `cuda:0` needs CUDA, but this kiln was built without it\n\
         hint: rebuild with `cargo build --release --features cuda`, or choose the cpu device"
    );
    assert_eq!(resolve(DeviceSpec::Auto).expect("auto"), ResolvedDevice::Cpu);
    assert_eq!(resolve(DeviceSpec::default()).expect("default is auto"), ResolvedDevice::Cpu);
}
