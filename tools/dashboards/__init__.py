"""Grafana dashboards as code: `python -m tools.dashboards` writes deploy/grafana/dashboards/.

Built with grafana-foundation-sdk, the build for Grafana 11.6 (the version docker-compose.yml
runs; pinned in pyproject's test extra, because a bare `pip install` gives the 10.1 build).
The committed JSON must equal what this package generates (tests/deploy/test_dashboards.py),
and every PromQL expression in it is run against a real Prometheus scraping a real
`shouwang run` (tests/deploy/test_dashboards_live.py).

Modules: common (datasources, queries, layout), one module per dashboard (ops, security,
pipeline), generate (rendering and writing).
"""
