"""The helpers of `make test-images` (the check itself runs in `make test-images`, it builds real venvs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecs import images


def test_the_image_source_holds_only_what_the_dockerfile_copies(tmp_path: Path) -> None:
    source = images.image_source("prep", tmp_path / "src")
    assert sorted(p.name for p in (source / "services").iterdir()) == ["__init__.py", "prep"]
    assert (source / "shared" / "provision.py").exists() and (source / "pyproject.toml").exists()
    assert not (source / "tests").exists() and not (source / "ecs").exists()
    dockerfile = (images.ROOT / "services/prep/Dockerfile").read_text()
    for name in images.IMAGE_FILES:
        assert (
            f"COPY {name} " in dockerfile or f"COPY {name} ./" in dockerfile or name in ("pyproject.toml", "README.md")
        )
    assert "COPY pyproject.toml README.md ./" in dockerfile


def fake_venv(root: Path, key: str, frozen: str) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").write_text("")
    (root / ".key").write_text(key)
    (root / ".freeze").write_text(frozen)
    return root


def test_a_venv_stays_valid_until_its_own_pins_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    constraints = tmp_path / "requirements" / "constraints.txt"
    constraints.parent.mkdir()
    monkeypatch.setattr(images, "ROOT", tmp_path)
    venv = fake_venv(tmp_path / "venv", "k1", "pydantic==2.14.4\ntorch==2.13.0+cpu\ntextclf-mlops==0.1.0\n")
    constraints.write_text("# pins\npydantic==2.14.4\ntorch==2.13.0\nflask==3.1.3\n")
    assert images.still_valid(venv, "k1")
    assert not images.still_valid(venv, "k2"), "another interpreter or other requirements"
    constraints.write_text("pydantic==2.14.4\ntorch==2.13.0\nflask==3.2.0\nnewthing==1.0\n")
    assert images.still_valid(venv, "k1"), "pins of packages it does not hold do not matter"
    constraints.write_text("pydantic==2.15.0\ntorch==2.13.0\n")
    assert not images.still_valid(venv, "k1")


def test_requirements_are_the_core_and_the_extra() -> None:
    reqs = images.requirements("notifier")
    assert any(r.startswith("pydantic") for r in reqs) and any(r.startswith("aiosmtplib") for r in reqs)
    assert not any(r.startswith("torch") for r in reqs)
    assert any(r.startswith("torch") for r in images.requirements("inference"))
