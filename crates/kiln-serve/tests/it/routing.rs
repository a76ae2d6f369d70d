//! Traffic splits: weights, the canary's share, sticky keys.

use kiln_serve::deploy::{Pick, key_unit, pick, random_unit};

#[test]
fn weights_share_the_unit_interval_in_order() {
    let w = [3.0, 1.0];
    assert_eq!(pick(0.0, 0.0, &w), Pick::Route(0));
    assert_eq!(pick(0.7499, 0.0, &w), Pick::Route(0));
    assert_eq!(pick(0.75, 0.0, &w), Pick::Route(1));
    assert_eq!(pick(0.9999, 0.0, &w), Pick::Route(1));
    // a route of weight 0 gets nothing
    assert_eq!(pick(0.5, 0.0, &[0.0, 1.0]), Pick::Route(1));
    assert_eq!(pick(0.9999999, 0.0, &[1.0, 0.0]), Pick::Route(0));
}

#[test]
fn the_canary_takes_the_bottom_of_the_interval_and_only_grows_into_it() {
    let w = [1.0, 1.0];
    assert_eq!(pick(0.04, 0.05, &w), Pick::Canary);
    // the rest is rescaled: 0.05 + 0.95 / 2 = 0.525 splits the two routes
    assert_eq!(pick(0.05, 0.05, &w), Pick::Route(0));
    assert_eq!(pick(0.5249, 0.05, &w), Pick::Route(0));
    assert_eq!(pick(0.5251, 0.05, &w), Pick::Route(1));
    // a user on the canary at 5 % stays on it at 25 % and 100 %
    for step in [0.05, 0.25, 1.0] {
        assert_eq!(pick(0.01, step, &w), Pick::Canary);
    }
    assert_eq!(pick(0.999, 1.0, &w), Pick::Canary);
}

#[test]
fn sticky_keys_always_land_on_the_same_place_and_spread_evenly() {
    assert_eq!(key_unit(b"user-17"), key_unit(b"user-17"));
    assert_ne!(key_unit(b"user-17"), key_unit(b"user-18"));
    // 10,000 keys on a 90/10 split: within 3 standard deviations (sd = 30) of 1,000
    let w = [9.0, 1.0];
    let to_second =
        (0..10_000).filter(|i| pick(key_unit(format!("user-{i}").as_bytes()), 0.0, &w) == Pick::Route(1)).count();
    assert!((910..=1090).contains(&to_second), "{to_second}");
    // random draws (seeded by the process id): within 5 standard deviations, a failure once
    // in about two million runs
    let random = (0..10_000).filter(|_| random_unit() < 0.1).count();
    assert!((850..=1150).contains(&random), "{random}");
    assert!((0..1000).map(|_| random_unit()).all(|u| (0.0..1.0).contains(&u)));
}
