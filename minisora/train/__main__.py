"""`python -m minisora.train CONFIG.yaml [key=value ...]`, the form torchrun launches:

    torchrun --nproc_per_node=2 -m minisora.train configs/debug.yaml parallel.strategy=ddp
"""

import os
import sys

from minisora.malloc import keep_freed_memory
from minisora.train.cli import main

if __name__ == "__main__":
    keep_freed_memory()  # as every `minisora` command does (minisora/malloc.py)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without running interpreter teardown: gloo's threads can abort the process there
    # ("terminate called without an active exception") after all work is done. The process group
    # was already shut down cleanly (barrier, destroy_process_group) by the engine.
    os._exit(code)
