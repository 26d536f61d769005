"""The benchmark harness of sessiongraph.

    .venv/bin/python -m bench              # the gateway under load: latency, calls, ratios
    .venv/bin/python -m bench --quick      # 3 s runs
    .venv/bin/python -m bench.transport    # httpx's transport against httpx-aiohttp's

Everything runs on 127.0.0.1; figures go to stdout (Markdown) and bench/out/ (JSON, git-ignored).
bench/RESULTS.md records a run and how to read it.
"""
