"""`python -m tools.dashboards`: regenerate deploy/grafana/dashboards/*.json."""
from tools.dashboards.generate import write

for path in write():
    print(path)
