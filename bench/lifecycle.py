"""The original quick comparison, now a shortcut for the latency group of the suite.

Usage: python3 bench/lifecycle.py [--rounds N] [--pyruntime PATH] [--runc PATH]
Same as `python3 bench/run.py --only latency ...`; see bench/README.md.
Owns: nothing but the argument forwarding.
"""

from __future__ import annotations

import sys

from run import main  # bench/ is sys.path[0] when this file is run as a script

if __name__ == "__main__":
    sys.exit(main(["--only", "latency", *sys.argv[1:]]))
