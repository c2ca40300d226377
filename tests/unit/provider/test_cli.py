import pytest
from taskmill.provider.cli import parse_args
from taskmill.provider.config import PendingWatch


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


def test_a_kill_grace_the_lease_cannot_cover_is_refused_naming_the_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--capability", "x", "--lease-seconds", "5", "--command", "true"]
    with pytest.raises(SystemExit) as exc:
        parse_args(argv, {"POD_NAME": "p"})  # the default kill grace is 5 s
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--kill-grace-seconds 5 does not fit in --lease-seconds 5" in err
    assert "at least 8" in err
    config, _ = parse_args([*argv[:4], "--kill-grace-seconds", "2", *argv[4:]], {"POD_NAME": "p"})
    assert config.kill_grace_seconds == 2


@pytest.mark.parametrize(
    ("flag", "identity", "expected"),
    [
        ([], "p-1.a_b", (PendingWatch.NOMINATED, True)),
        (["--pending-watch", "all"], "p", (PendingWatch.ALL, False)),
        # not a label value: nobody can nominate it, so it watches every Pending Task
        ([], "p" * 64, (PendingWatch.NOMINATED, False)),
        (["--pending-watch", "some"], "p", None),
    ],
)
def test_pending_watch(
    flag: list[str],
    identity: str,
    expected: tuple[PendingWatch, bool] | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--capability", "x", *flag, "--command", "true"]
    if expected is not None:
        config = parse_args(argv, {"POD_NAME": identity})[0]
        assert (config.pending_watch, config.watches_nominees) == expected
        return
    with pytest.raises(SystemExit):
        parse_args(argv, {"POD_NAME": identity})
    assert "--pending-watch" in capsys.readouterr().err
