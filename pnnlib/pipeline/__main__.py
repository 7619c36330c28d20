"""``python -m pnnlib.pipeline notebook ...``: one notebook execution as a pipeline job."""

import sys

from pnnlib.pipeline.notebooks import main

sys.exit(main())
