//! Per-pixel min/max downsampling (`dashboard::render::downsample`) at the
//! size the dashboards promise to keep smooth: 100 series × 10 000 points
//! reduced to a 1000-pixel-wide panel, once per redraw.
//!
//! Run: `cargo bench -p vigil-shared --bench downsample`. Native only:
//! criterion does not build for wasm32, where this compiles to an empty
//! `main`.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use criterion::{Criterion, Throughput, criterion_group};
    use std::hint::black_box;
    use std::time::Duration;
    use vigil_shared::dashboard::render::downsample;

    const SERIES: usize = 100;
    const POINTS: usize = 10_000;
    const PIXELS: usize = 1000;
    const START: i64 = 1_700_000_000_000;
    const STEP: i64 = 15_000;

    /// Deterministic, noisy series (a linear congruential generator), with
    /// a gap every 997 points as missed scrapes leave.
    fn series() -> Vec<Vec<(i64, f64)>> {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        (0..SERIES)
            .map(|s| {
                (0..POINTS)
                    .map(|i| {
                        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                        let noise = (state >> 33) as f64 / f64::from(u32::MAX);
                        let v = if i % 997 == 996 {
                            f64::NAN
                        } else {
                            (s as f64) + (i as f64 / 300.0).sin() * 10.0 + noise
                        };
                        (START + i as i64 * STEP, v)
                    })
                    .collect()
            })
            .collect()
    }

    fn bench(c: &mut Criterion) {
        let data = series();
        let end = START + (POINTS as i64 - 1) * STEP;
        let mut out = Vec::new();
        let kept: usize = data
            .iter()
            .map(|s| {
                downsample(s, START, end, PIXELS, &mut out);
                out.len()
            })
            .sum();
        eprintln!("downsample: {} points kept of {}", kept, SERIES * POINTS);
        let mut group = c.benchmark_group("downsample");
        group.throughput(Throughput::Elements((SERIES * POINTS) as u64));
        group.measurement_time(Duration::from_secs(5));
        group.bench_function("100x10k_to_1000px", |b| {
            let mut out = Vec::with_capacity(PIXELS * 5);
            b.iter(|| {
                let mut kept = 0;
                for s in &data {
                    downsample(black_box(s), START, end, PIXELS, &mut out);
                    kept += out.len();
                }
                black_box(kept)
            })
        });
        group.finish();
    }

    criterion_group!(benches, bench);
}
