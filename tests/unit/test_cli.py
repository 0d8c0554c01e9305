"""The command line: help lists every command of SYSTEM.md; doctor reports and exits by what is present."""

from __future__ import annotations

from click.testing import CliRunner

from livedub.cli import doctor
from livedub.cli.main import cli

SYSTEM_COMMANDS = ("up", "demo", "dub", "orchestrator", "worker", "forward", "doctor")


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in SYSTEM_COMMANDS:
        assert f"  {command} " in result.output


def test_doctor_exits_nonzero_and_names_fix_when_required_part_missing(monkeypatch) -> None:
    monkeypatch.setattr(doctor, "TOOLS", {**doctor.TOOLS, "livedub-no-such-tool": ("no-such-package", True)})
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "no-such-package" in result.output


def test_doctor_tool_check_finds_present_and_missing(monkeypatch) -> None:
    monkeypatch.setattr(doctor, "TOOLS", {"sh": ("dash", True), "livedub-no-such-tool": ("pkg-x", False)})
    checks = {c.name: c for c in doctor.check_tools()}
    assert checks["sh"].ok and checks["sh"].status == "ok"
    assert checks["livedub-no-such-tool"].status == "warn"
    assert "apt-get install -y pkg-x" in checks["livedub-no-such-tool"].fix


def test_doctor_is_green_on_a_machine_set_up_by_the_recipe() -> None:
    # The README test command runs scripts/install.sh first, so every required part must be here.
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "All required parts present" in result.output


def test_doctor_says_how_to_prepare_missing_model_files(tmp_path) -> None:
    from livedub.config.settings import PathSettings

    checks = list(doctor.check_prepared_models(PathSettings(model_dir=tmp_path / "empty")))
    assert checks, "the model artifacts are listed"
    assert all(c.status == "warn" and "livedub models prepare" in c.fix for c in checks)


def test_doctor_reports_ray_and_probes_the_head_only_for_the_ray_launcher() -> None:
    import socket

    from livedub.config.settings import Launcher, OrchestratorSettings

    plain = {c.name: c for c in doctor.check_cluster(OrchestratorSettings())}
    assert set(plain) == {"ray (ORCH_LAUNCHER=ray)"} and not plain["ray (ORCH_LAUNCHER=ray)"].required
    with socket.socket() as head:
        head.bind(("127.0.0.1", 0))
        head.listen()
        port = head.getsockname()[1]
        up = {c.name: c for c in doctor.check_cluster(
            OrchestratorSettings(launcher=Launcher.ray, ray_address=f"127.0.0.1:{port}"))}
    assert up["Ray head"].ok and up["ray (ORCH_LAUNCHER=ray)"].required
    down = {c.name: c for c in doctor.check_cluster(
        OrchestratorSettings(launcher=Launcher.ray, ray_address=f"127.0.0.1:{port}"))}
    assert down["Ray head"].status == "MISSING" and "ray start --head" in down["Ray head"].fix
