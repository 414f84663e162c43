use super::*;
use crate::upstream::hash::{fnv1a, mix};

fn server(id: usize, weight: u32) -> Server {
    let label = format!("10.0.0.{id}:80");
    Server {
        id,
        address: label.parse().expect("addr"),
        hash: fnv1a(label.as_bytes()),
        label,
        weight,
        max_connections: None,
        route: format!("s{}", id + 1),
        backup: false,
        health: id,
        tls_name: None,
        send_proxy: None,
        discovered: false,
    }
}

fn servers(weights: &[u32]) -> Vec<Server> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| server(i, w))
        .collect()
}

fn counts(picks: impl Iterator<Item = Option<usize>>, n: usize) -> Vec<usize> {
    let mut counts = vec![0; n];
    for pick in picks {
        counts[pick.expect("a server")] += 1;
    }
    counts
}

fn share(count: usize, total: usize) -> f64 {
    count as f64 / total as f64
}

#[test]
fn smooth_round_robin_honours_weights_exactly_and_spreads_picks() {
    let list = servers(&[5, 1, 1]);
    let state = BalanceState::new(&list, 0);
    let view = View {
        servers: &list,
        usable: &|_| true,
        load: &|_| 0,
    };
    let rng = Rng::seeded(0);
    let first: Vec<usize> = (0..7)
        .filter_map(|_| state.choose(Balance::RoundRobin, &view, 0, &rng))
        .collect();
    // nginx's smooth weighted sequence for 5:1:1.
    assert_eq!(first, vec![0, 0, 1, 0, 2, 0, 0]);
    let seen = counts(
        (0..700).map(|_| state.choose(Balance::RoundRobin, &view, 0, &rng)),
        3,
    );
    assert_eq!(seen, vec![500, 100, 100]);
}

#[test]
fn round_robin_skips_unusable_servers() {
    let list = servers(&[1, 1, 1]);
    let state = BalanceState::new(&list, 0);
    let view = View {
        servers: &list,
        usable: &|pos| pos != 1,
        load: &|_| 0,
    };
    let rng = Rng::seeded(0);
    let seen = counts(
        (0..100).map(|_| state.choose(Balance::RoundRobin, &view, 0, &rng)),
        3,
    );
    assert_eq!(seen, vec![50, 0, 50]);
    let none = View {
        servers: &list,
        usable: &|_| false,
        load: &|_| 0,
    };
    assert_eq!(state.choose(Balance::RoundRobin, &none, 0, &rng), None);
}

#[test]
fn workers_start_their_rotation_on_different_servers() {
    let list = servers(&[1, 1, 1]);
    let view = View {
        servers: &list,
        usable: &|_| true,
        load: &|_| 0,
    };
    let rng = Rng::seeded(0);
    let firsts: Vec<Option<usize>> = (0..3)
        .map(|worker| BalanceState::new(&list, worker).choose(Balance::RoundRobin, &view, 0, &rng))
        .collect();
    assert_eq!(firsts, vec![Some(0), Some(1), Some(2)]);
}

#[test]
fn least_conn_picks_the_least_loaded_relative_to_weight() {
    let list = servers(&[1, 2, 1]);
    let state = BalanceState::new(&list, 0);
    let loads = [3u32, 4, 3];
    let view = View {
        servers: &list,
        usable: &|_| true,
        load: &|pos| loads[pos],
    };
    let rng = Rng::seeded(0);
    // 4 in flight at weight 2 is 2 per unit: less than 3.
    assert_eq!(state.choose(Balance::LeastConn, &view, 0, &rng), Some(1));
    let same = servers(&[1, 1, 1]);
    let even = View {
        servers: &same,
        usable: &|_| true,
        load: &|_| 0,
    };
    // Ties rotate instead of piling onto the first server.
    let state = BalanceState::new(&same, 0);
    let seen = counts(
        (0..300).map(|_| state.choose(Balance::LeastConn, &even, 0, &rng)),
        3,
    );
    assert_eq!(seen, vec![100, 100, 100]);
}

/// Requests held for a while, ended at random: the share each server gets
/// follows its weight within five percent.
#[test]
fn least_conn_shares_follow_weights_under_load() {
    let list = servers(&[3, 1]);
    let state = BalanceState::new(&list, 0);
    let rng = Rng::seeded(11);
    let loads = [std::cell::Cell::new(0u32), std::cell::Cell::new(0u32)];
    let mut in_flight: Vec<usize> = Vec::new();
    let mut picks = [0usize; 2];
    for _ in 0..20_000 {
        let view = View {
            servers: &list,
            usable: &|_| true,
            load: &|pos| loads[pos].get(),
        };
        let pos = state
            .choose(Balance::LeastConn, &view, 0, &rng)
            .expect("a server");
        picks[pos] += 1;
        loads[pos].set(loads[pos].get() + 1);
        in_flight.push(pos);
        if in_flight.len() > 16 {
            let done = in_flight.swap_remove(rng.below(in_flight.len() as u64) as usize);
            loads[done].set(loads[done].get() - 1);
        }
    }
    assert!((share(picks[0], 20_000) - 0.75).abs() < 0.05, "{picks:?}");
}

#[test]
fn random_two_follows_weights_within_three_percent() {
    let list = servers(&[3, 1]);
    let state = BalanceState::new(&list, 0);
    let view = View {
        servers: &list,
        usable: &|_| true,
        load: &|_| 0,
    };
    let rng = Rng::seeded(7);
    let total = 20_000;
    let seen = counts(
        (0..total).map(|_| state.choose(Balance::RandomTwo, &view, 0, &rng)),
        2,
    );
    assert!((share(seen[0], total) - 0.75).abs() < 0.03, "{seen:?}");
}

#[test]
fn random_two_avoids_a_loaded_server() {
    let list = servers(&[1, 1]);
    let state = BalanceState::new(&list, 0);
    let view = View {
        servers: &list,
        usable: &|_| true,
        load: &|pos| if pos == 0 { 10 } else { 0 },
    };
    let rng = Rng::seeded(3);
    let total = 10_000;
    let seen = counts(
        (0..total).map(|_| state.choose(Balance::RandomTwo, &view, 0, &rng)),
        2,
    );
    // Server 0 wins only when both draws are server 0: about 1/4.
    assert!((share(seen[0], total) - 0.25).abs() < 0.03, "{seen:?}");
}

fn hash_pick(list: &[Server], key: u64) -> usize {
    let state = BalanceState::new(list, 0);
    let view = View {
        servers: list,
        usable: &|_| true,
        load: &|_| 0,
    };
    state
        .choose(Balance::SourceHash, &view, key, &Rng::seeded(0))
        .expect("a server")
}

#[test]
fn hashing_is_stable_and_weighted() {
    let list = servers(&[1, 3]);
    let total = 20_000;
    let seen = counts((0..total as u64).map(|k| Some(hash_pick(&list, mix(k)))), 2);
    assert!((share(seen[1], total) - 0.75).abs() < 0.03, "{seen:?}");
    for key in 0..100 {
        assert_eq!(hash_pick(&list, key), hash_pick(&list, key));
    }
}

#[test]
fn adding_a_server_moves_about_one_key_in_n() {
    let four = servers(&[1, 1, 1, 1]);
    let five = servers(&[1, 1, 1, 1, 1]);
    let total = 20_000u64;
    let mut moved = 0;
    for key in (0..total).map(mix) {
        let before = hash_pick(&four, key);
        let after = hash_pick(&five, key);
        if before != after {
            // A key only ever moves to the new server.
            assert_eq!(after, 4);
            moved += 1;
        }
    }
    let fraction = moved as f64 / total as f64;
    assert!((fraction - 0.2).abs() < 0.03, "moved {fraction}");
}

#[test]
fn a_down_server_moves_only_its_own_keys() {
    let list = servers(&[1, 1, 1]);
    let state = BalanceState::new(&list, 0);
    let rng = Rng::seeded(0);
    let all = View {
        servers: &list,
        usable: &|_| true,
        load: &|_| 0,
    };
    let without_1 = View {
        servers: &list,
        usable: &|pos| pos != 1,
        load: &|_| 0,
    };
    for key in (0..2000u64).map(mix) {
        let before = state.choose(Balance::UriHash, &all, key, &rng);
        let after = state.choose(Balance::UriHash, &without_1, key, &rng);
        if before != Some(1) {
            assert_eq!(before, after);
        }
    }
}
