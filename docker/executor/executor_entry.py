"""Default executor entry point: run the module named by TAKOS_EXECUTOR_MODULE.

The agents app normally passes its own command (`python3 -m agents.executor ...`); this
default keeps `docker run takos-executor` meaningful for smoke tests.
"""

from __future__ import annotations

import os
import runpy
import sys

module = os.environ.get("TAKOS_EXECUTOR_MODULE", "")
if not module:
    print(f"takos executor image ready (python {sys.version.split()[0]}); set TAKOS_EXECUTOR_MODULE", flush=True)
    sys.exit(0)
sys.argv = [module, *sys.argv[1:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
