"""pnnlib: physical neural networks of analog in-memory-computing circuits.

Reference implementation of Sakemi et al., "Harnessing Nonidealities in Analog
In-Memory Computing Circuits: A Physical Modeling Approach for Neuromorphic
Systems" (arXiv 2412.09010).
"""

import os

# OpenMP threads that spin while they wait make every small tensor op ~100x slower as soon as
# another process shares the cores (measured here: a 100k-element multiply went from 0.03 ms
# to 8 ms). Passive waiting costs nothing when the machine is idle. This only takes effect if
# pnnlib is imported before torch; the Makefile and the Jupyter kernel set it too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
