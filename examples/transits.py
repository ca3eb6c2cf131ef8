"""Exoplanet transit search: box least squares over synthetic light curves.

Each star's light curve is simulated (some with an injected transiting
planet) and searched for periodic box-shaped dips. Every star is
independent, so pydron runs the searches in parallel on all cores.

    python examples/transits.py [--stars 16]

Prints the detections, then the sequential time (the same functions called
undecorated) and the parallel time.
"""

import argparse
import time

import numpy as np

from pydron import functional, schedule


@functional
def simulate(star, days=90.0, npoints=4000, noise=1e-3):
    """Light curve of one star; every other star has a transiting planet."""
    rng = np.random.default_rng(star)
    t = np.sort(rng.uniform(0.0, days, npoints))
    flux = 1.0 + rng.normal(0.0, noise, npoints)
    truth = None
    if star % 2 == 0:
        period = rng.uniform(1.5, 12.0)
        t0 = rng.uniform(0.0, period)
        duration = rng.uniform(0.08, 0.2)
        depth = rng.uniform(2.5e-3, 6e-3)
        in_transit = np.abs(((t - t0 + 0.5 * period) % period) - 0.5 * period) < duration / 2
        flux[in_transit] -= depth
        truth = dict(period=period, t0=t0, duration=duration, depth=depth)
    return dict(star=star, t=t, flux=flux, truth=truth)


@functional
def box_least_squares(lc, periods, durations, nbins=300):
    """Best (period, epoch, depth, SNR) of a periodic box dip, binned BLS."""
    t, y = lc["t"], lc["flux"] - np.median(lc["flux"])
    sigma = 1.4826 * np.median(np.abs(y))
    best = dict(snr=0.0)
    for period in periods:
        phase = (t % period) / period
        idx = np.minimum((phase * nbins).astype(np.int64), nbins - 1)
        s = np.bincount(idx, weights=y, minlength=nbins)
        n = np.bincount(idx, minlength=nbins).astype(float)
        for duration in durations:
            k = max(1, int(round(duration / period * nbins)))
            ring_s = np.concatenate([s, s[:k - 1]])
            ring_n = np.concatenate([n, n[:k - 1]])
            cs = np.concatenate([[0.0], np.cumsum(ring_s)])
            cn = np.concatenate([[0.0], np.cumsum(ring_n)])
            sk = cs[k:] - cs[:-k]
            nk = cn[k:] - cn[:-k]
            with np.errstate(divide="ignore", invalid="ignore"):
                snr = np.where(nk > 3, -sk / (sigma * np.sqrt(nk)), 0.0)
            i = int(np.argmax(snr))
            if snr[i] > best["snr"]:
                best = dict(snr=float(snr[i]), period=float(period), t0=(i + k / 2) / nbins * period,
                            depth=float(-sk[i] / nk[i]), duration=k / nbins * period)
    best["star"] = lc["star"]
    best["truth"] = lc["truth"]
    return best


@schedule
def search(stars, periods, durations):
    results = []
    for star in stars:
        lc = simulate(star)
        results.append(box_least_squares(lc, periods, durations))
    return results


def report(results, threshold=10.0):
    found = 0
    for r in results:
        truth = r["truth"]
        detected = r["snr"] >= threshold
        found += detected
        true_p = f"{truth['period']:6.3f} d" if truth else "   none "
        line = f"star {r['star']:3d}  true period {true_p}  "
        if detected:
            line += f"DETECTED P={r['period']:6.3f} d depth={r['depth'] * 1e3:4.2f} ppt SNR={r['snr']:5.1f}"
        else:
            line += f"no detection (best SNR {r['snr']:4.1f})"
        print(line)
    print(f"{found} detections in {len(results)} stars")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stars", type=int, default=16)
    ap.add_argument("--periods", type=int, default=1500)
    args = ap.parse_args()
    periods = np.exp(np.linspace(np.log(1.2), np.log(14.0), args.periods))
    durations = np.array([0.08, 0.12, 0.18])
    stars = list(range(args.stars))

    t0 = time.perf_counter()
    parallel = search(stars, periods, durations)
    t_par = time.perf_counter() - t0
    report(parallel)

    t0 = time.perf_counter()
    sequential = getattr(search, "__wrapped__", search)(stars, periods, durations)
    t_seq = time.perf_counter() - t0
    same = [(r["star"], r["period"], r["snr"]) for r in sequential] == \
           [(r["star"], r["period"], r["snr"]) for r in parallel]
    print(f"sequential {t_seq:.2f} s, parallel {t_par:.2f} s (includes starting workers), "
          f"speedup {t_seq / t_par:.2f}x, same results: {same}")


if __name__ == "__main__":
    main()
