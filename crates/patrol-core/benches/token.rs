//! Token-format micro-benchmarks: `cargo bench -p patrol-core --bench token`.
//!
//! Plain `Instant` loops (no criterion). Each figure is the best of several
//! runs, in nanoseconds per operation.

use std::hint::black_box;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use patrol_core::token::{mint, validate, validate_for, MintOptions, ProviderSignature};
use rand::rngs::StdRng;
use rand::SeedableRng;

const B62_84: &str =
    "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AW";
const B62_88: &str =
    "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AWOg==";
const RAW_84: &str =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaJQQJ99CKAAAAAAAAAAAAAAAAAZDOb85G";

/// Runs `f` `iters` times per round, `rounds` rounds; returns the best ns/op.
fn bench(name: &str, iters: u32, mut f: impl FnMut(u32)) -> f64 {
    const ROUNDS: u32 = 7;
    // Warm up.
    for i in 0..iters / 10 {
        f(i);
    }
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(iters);
        best = best.min(ns);
    }
    println!("{name}: {best:.1} ns/op");
    best
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Utc
        .with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
        .single()
        .ok_or("bad date")?;
    let opts = MintOptions::default();
    let azdo = ProviderSignature::default();

    // A batch of distinct minted tokens, so validation does not just hit one
    // cached string.
    let mut rng = StdRng::seed_from_u64(1);
    let mut tokens = Vec::with_capacity(1024);
    for _ in 0..1024 {
        tokens.push(mint(now, &opts, &mut rng)?.expose().to_owned());
    }
    // Single-character flips (fail at the checksum, the most expensive rejection).
    let flipped: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut b = t.clone().into_bytes();
            let p = i % 52;
            b[p] = if b[p] == b'x' { b'y' } else { b'x' };
            String::from_utf8_lossy(&b).into_owned()
        })
        .collect();
    let wrong_len = &B62_84[..83];
    let bad_char = format!("{}+{}", &B62_84[..40], &B62_84[41..]);

    let n = 2_000_000;
    bench("validate_84", n, |i| {
        let t = &tokens[(i & 1023) as usize];
        black_box(validate(black_box(t)).is_ok());
    });
    bench("validate_for_84", n, |i| {
        let t = &tokens[(i & 1023) as usize];
        black_box(validate_for(black_box(t), &azdo).is_ok());
    });
    bench("validate_84_spec_vector", n, |_| {
        black_box(validate(black_box(B62_84)).is_ok());
    });
    bench("validate_84_raw_checksum", n, |_| {
        black_box(validate(black_box(RAW_84)).is_ok());
    });
    bench("validate_88", n, |_| {
        black_box(validate(black_box(B62_88)).is_ok());
    });
    bench("validate_reject_flipped", n, |i| {
        let t = &flipped[(i & 1023) as usize];
        black_box(validate(black_box(t)).is_err());
    });
    bench("validate_reject_length", n, |_| {
        black_box(validate(black_box(wrong_len)).is_err());
    });
    bench("validate_reject_char", n, |_| {
        black_box(validate(black_box(&bad_char)).is_err());
    });
    bench("mint", 500_000, |_| {
        black_box(mint(now, &opts, &mut rng).is_ok());
    });
    let mut os = rand::rngs::OsRng;
    bench("mint_osrng", 200_000, |_| {
        black_box(mint(now, &opts, &mut os).is_ok());
    });
    Ok(())
}
