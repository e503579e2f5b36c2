"""Import time of ``import rlscaling`` and of ``rlscaling --help``, beside numpy and scipy.optimize.

Each is a fresh interpreter (``subprocess``), best of ``--repeat`` runs, all measured in this
run so the ratios hold on a busy machine: ``import numpy`` is the floor any numeric library
pays, and ``import scipy.optimize`` what the fit itself needs. The goals: ``import rlscaling``
under 1 s and ``rlscaling --help`` under 0.5 s (the public names load on first use; the command
line imports the library inside its commands).

Run: ``python benchmarks/import_time.py [--repeat 7]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

CASES = {
    "python (empty)": "pass",
    "import numpy": "import numpy",
    "import scipy.optimize": "import scipy.optimize",
    "import rlscaling": "import rlscaling",
    "rlscaling --help": (
        "import sys; sys.argv = ['rlscaling', '--help']\n"
        "from rlscaling.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    ),
    "rlscaling.fit_sigmoid (first use)": "import rlscaling; rlscaling.fit_sigmoid",
}


def best_of(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per case (best is kept)")
    args = parser.parse_args()
    res = {name: best_of(code, args.repeat) for name, code in CASES.items()}
    base = res["import numpy"]
    print(f"best of {args.repeat} fresh interpreters (wall seconds, ratio to import numpy)")
    for name, t in res.items():
        print(f"  {name:<36}{t:8.3f} s   {t / base:6.2f}x")
    print(
        f"goals: import rlscaling < 1 s ({res['import rlscaling']:.3f} s), "
        f"rlscaling --help < 0.5 s ({res['rlscaling --help']:.3f} s)"
    )


if __name__ == "__main__":
    main()
