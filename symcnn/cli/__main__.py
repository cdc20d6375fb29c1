"""``python -m symcnn.cli``, as ``python -m symcnn``."""

import sys

from symcnn.cli import main

sys.exit(main())
