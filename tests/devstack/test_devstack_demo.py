"""The demo's --home handling: it recreates only folders it made, and refuses to delete anything else."""

from __future__ import annotations

import pytest

from airflow_dististage.demo import HOME_MARKER, main, prepare_home


def test_a_folder_the_demo_did_not_create_is_refused_and_kept(tmp_path, capsys):
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")

    assert main(["--home", str(tmp_path), "--dags", str(tmp_path)]) == 2

    assert precious.read_text() == "keep me"
    assert "was not created by the demo" in capsys.readouterr().err


def test_a_file_given_as_home_is_refused(tmp_path):
    home = tmp_path / "a_file"
    home.write_text("x")

    with pytest.raises(FileExistsError, match="was not created by the demo"):
        prepare_home(home)
    assert home.read_text() == "x"


@pytest.mark.parametrize("exists", [False, True])
def test_a_new_or_empty_folder_becomes_a_marked_demo_home(tmp_path, exists):
    home = tmp_path / "home"
    if exists:
        home.mkdir()

    prepare_home(home)

    assert [path.name for path in home.iterdir()] == [HOME_MARKER]


def test_a_home_an_earlier_demo_created_is_emptied(tmp_path):
    home = tmp_path / "home"
    prepare_home(home)
    (home / "airflow.db").write_text("old run")

    prepare_home(home)

    assert [path.name for path in home.iterdir()] == [HOME_MARKER]
