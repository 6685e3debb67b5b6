"""What the chart mounts is what opsbot reads: the ConfigMaps, written out as the pod sees them,
load with opsbot's own catalog and playbook loaders."""

from __future__ import annotations

from pathlib import Path

from bot.catalog.load import load_catalog
from bot.runner.playbook import validate_dir
from tests.deploy.helm_tools import ROOT, of_kind, render
from tests.support.chart_role import rendered_chart

PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yaml"))


def test_the_catalog_config_map_loads_and_its_policy_names_the_role_namespaces(
    tmp_path: Path,
) -> None:
    objects = rendered_chart()  # values: examples/services.yaml as `catalog`
    [config] = of_kind(objects, "ConfigMap")
    services = tmp_path / "services.yaml"
    services.write_text(config["data"]["services.yaml"])
    catalog = load_catalog(services)
    assert "fraud-scorer" in catalog.services
    roles = sorted(r["metadata"]["namespace"] for r in of_kind(objects, "Role"))
    assert roles == sorted(catalog.policy.namespaces)


def test_the_shipped_playbooks_mounted_from_values_validate(tmp_path: Path) -> None:
    assert PLAYBOOKS
    extra: list[str] = []
    for path in PLAYBOOKS:
        key = path.name.replace(".", "\\.")
        extra += ["--set-file", f"playbooks.{key}={path}"]
    maps = {c["metadata"]["name"]: c for c in of_kind(render(extra=extra), "ConfigMap")}
    mounted = tmp_path / "playbooks"
    mounted.mkdir()
    for name, text in maps["opsbot-playbooks"]["data"].items():
        (mounted / name).write_text(text)
    problems, count = validate_dir(mounted)
    assert (problems, count) == ([], len(PLAYBOOKS))
