"""The agent loop runner (`python -m agents.executor`): runs inside the executor container.

It imports no Django: it talks to the control plane only through `/internal/runs/<id>/...`
with the per-run proxy token (TAKOS_PROXY_URL, TAKOS_PROXY_TOKEN, TAKOS_RUN_ID).
"""
