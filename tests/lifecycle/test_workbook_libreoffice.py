"""The roadmap workbook in LibreOffice Calc, run headless: it prints, and a copy saved by Calc reads back."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from phasegate.lifecycle.workbook import read_workbook, write_workbook
from tests.lifecycle.test_workbook import plan

TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def soffice() -> str:
    """LibreOffice's command; the test fails rather than skips without it, so a missing package shows."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        pytest.fail(
            "LibreOffice is not installed: install the Debian package libreoffice-calc-nogui "
            "(`make test` does, through scripts/system-deps.sh)"
        )
    return found


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A LibreOffice user profile of this module's own, so parallel test workers do not share one."""
    return "-env:UserInstallation=" + (tmp_path_factory.mktemp("libreoffice") / "profile").as_uri()


def convert(soffice: str, profile: str, source: Path, to: str, outdir: Path) -> Path:
    """The file LibreOffice writes when converting source to the given format, headless."""
    outdir.mkdir()
    command = [soffice, profile, "--headless", "--convert-to", to, "--outdir", str(outdir), str(source)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    converted = outdir / f"{source.stem}.{to}"
    assert converted.exists(), (
        f"LibreOffice did not convert {source.name} to {to} (is Calc installed? Debian package "
        f"libreoffice-calc-nogui): {finished.stderr or finished.stdout}"
    )
    return converted


def test_libreoffice_prints_the_workbook_to_pdf(soffice: str, profile: str, tmp_path: Path) -> None:
    source = tmp_path / "roadmap.xlsx"
    source.write_bytes(write_workbook(*plan()))
    pdf = convert(soffice, profile, source, "pdf", tmp_path / "pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_a_workbook_saved_again_by_libreoffice_reads_back_the_same_rows(
    soffice: str, profile: str, tmp_path: Path
) -> None:
    phases, activities = plan()
    source = tmp_path / "roadmap.xlsx"
    source.write_bytes(write_workbook(phases, activities))
    saved = convert(soffice, profile, source, "xlsx", tmp_path / "saved").read_bytes()

    content = read_workbook(saved, filename="roadmap.xlsx")
    assert content.problems == []
    assert content.phases == phases
    assert content.activities == activities
    kept = openpyxl.load_workbook(io.BytesIO(saved))["Activities"]
    assert kept.data_validations.dataValidation, "the status drop-down did not survive LibreOffice"
    assert list(kept.conditional_formatting), "the Gantt bar did not survive LibreOffice"
