"""Path confinement: nothing staged or collected leaves the task's working directory."""

from pathlib import Path

import pytest

from taskmill.files.paths import PathError, confined, matches


@pytest.mark.parametrize(
    ("relative", "refused"),
    [
        ("a.txt", False),
        ("in/deep/a.txt", False),
        ("./a.txt", False),
        ("a..b/c", False),
        ("", True),
        ("/etc/passwd", True),
        ("../a", True),
        ("in/../../a", True),
        ("in/..", True),
    ],
)
def test_confined_refuses_absolute_paths_and_dot_dot(
    tmp_path: Path, relative: str, refused: bool
) -> None:
    if refused:
        with pytest.raises(PathError):
            confined(tmp_path, relative)
    else:
        assert confined(tmp_path, relative).is_relative_to(tmp_path.resolve())


def test_a_symlinked_directory_leading_out_is_refused(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (work / "link").symlink_to(outside)
    with pytest.raises(PathError, match="symlink"):
        confined(work, "link/a.txt")


def test_matches_finds_files_at_any_depth_and_skips_directories(tmp_path: Path) -> None:
    (tmp_path / "out" / "sub").mkdir(parents=True)
    (tmp_path / "out" / "a.png").write_text("a")
    (tmp_path / "out" / "sub" / "b.png").write_text("b")
    (tmp_path / "out" / "c.txt").write_text("c")
    found = [relative for relative, _ in matches(tmp_path, "out/**/*.png")]
    assert found == ["out/a.png", "out/sub/b.png"]
    assert [r for r, _ in matches(tmp_path, "out/*")] == ["out/a.png", "out/c.txt"]


def test_matches_refuses_a_symlink_out(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s")
    work = tmp_path / "work"
    work.mkdir()
    (work / "out.txt").symlink_to(secret)
    with pytest.raises(PathError, match="symlink"):
        list(matches(work, "*.txt"))


def test_matches_refuses_a_pattern_climbing_out(tmp_path: Path) -> None:
    with pytest.raises(PathError):
        list(matches(tmp_path, "../*"))


def test_matches_refuses_a_file_reached_through_a_symlinked_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    work = tmp_path / "work"
    work.mkdir()
    (work / "dir").symlink_to(outside)
    assert [r for r, _ in matches(work, "**/*.txt")] == []  # ** does not enter it
    with pytest.raises(PathError, match="symlink"):
        list(matches(work, "*/*.txt"))
