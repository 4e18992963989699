"""``python -m cnnlstm.data.synthesize``: see :mod:`cnnlstm.data.synthesize.command`."""

import sys

from cnnlstm.data.synthesize.command import main

sys.exit(main(sys.argv[1:]))
