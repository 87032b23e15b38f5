"""Entry point of the executor container: `python -m agents.executor`."""

from __future__ import annotations

import os
import sys

from agents.executor.loop import ControlClient, HttpTransport, run_agent


def main() -> int:
    transport = HttpTransport(base_url=os.environ["TAKOS_PROXY_URL"], token=os.environ["TAKOS_PROXY_TOKEN"])
    client = ControlClient(transport, run_id=os.environ["TAKOS_RUN_ID"],
                           lease_version=int(os.environ.get("TAKOS_LEASE_VERSION", "0")))
    return run_agent(client)


if __name__ == "__main__":
    sys.exit(main())
