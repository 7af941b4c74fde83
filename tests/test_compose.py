"""docker-compose.yml is for users (no Docker engine here): parse it and check that every file
it references exists and that the configuration it mounts is valid."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def host_paths(service):
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0]
        if source.startswith("./"):
            yield ROOT / source


def test_compose_has_the_services_users_expect():
    services = compose()["services"]
    assert {"shouwang", "elasticsearch", "prometheus", "alertmanager", "grafana"} <= set(services)
    es = services["elasticsearch"]["environment"]
    assert es["xpack.security.enabled"] == "true" and es["discovery.type"] == "single-node"
    assert (ROOT / "Dockerfile").is_file()
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_every_referenced_file_exists():
    document = compose()
    missing = [str(path) for service in document["services"].values()
               for path in host_paths(service) if not path.exists()]
    for secret in document.get("secrets", {}).values():
        if not (ROOT / secret["file"]).exists():
            missing.append(secret["file"])
    assert not missing, f"referenced but missing: {missing}"


def test_prometheus_config_references_existing_rule_files():
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert list((ROOT / "deploy/prometheus/rules").glob("*.yml"))


def test_the_mounted_shouwang_config_is_valid(monkeypatch):
    from cli.app import load_settings

    monkeypatch.setenv("ELASTIC_PASSWORD", "x")
    settings, _, _ = load_settings(ROOT / "deploy/docker/shouwang.yaml")
    assert settings.store.type == "elasticsearch"
    assert settings.api.host == "0.0.0.0"
