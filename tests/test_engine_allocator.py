import sys

import pytest

from cnnlstm.engine.allocator import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_glibc_thresholds_are_accepted():
    assert keep_freed_memory() is True
