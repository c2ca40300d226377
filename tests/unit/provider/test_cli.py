import pytest
from taskmill.provider.cli import parse_args


def test_full_command_line() -> None:
    config, command = parse_args(
        [
            "--capability", "a,b", "--capability", "c,a",
            "--concurrency", "4", "--namespace", "ns", "--lease-seconds", "30",
            "--grace-seconds", "5", "--command", "sh", "-c", "echo --concurrency",
        ],
        {"POD_NAME": "Pod-1"},
    )  # fmt: skip
    assert config.capabilities == ("a", "b", "c")
    assert (config.concurrency, config.namespace, config.lease_seconds) == (4, "ns", 30)
    assert config.grace_seconds == 5
    assert config.identity == "pod-1"
    assert command == ["sh", "-c", "echo --concurrency"]


def test_defaults_from_environment() -> None:
    config, _ = parse_args(
        ["--capability", "x", "--command", "true"], {"POD_NAME": "p", "POD_NAMESPACE": "team"}
    )
    assert (config.namespace, config.concurrency, config.lease_seconds) == ("team", 1, 15)


@pytest.mark.parametrize(
    "argv",
    [
        ["--command", "true"],
        ["--capability", "x"],
        ["--capability", "x", "--command"],
        ["--capability", "Bad_Name", "--command", "true"],
        ["--capability", "x", "--concurrency", "0", "--command", "true"],
        ["--capability", "x", "--lease-seconds", "2", "--command", "true"],
    ],
)
def test_rejected(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv, {"POD_NAME": "p"})
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err
