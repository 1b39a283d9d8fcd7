"""``python -m toygrpc`` is the ``toygrpc`` command."""

import sys

from toygrpc.cli import main

sys.exit(main())
