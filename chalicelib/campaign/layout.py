"""Where a campaign's pieces live under a project root: campaign file, brief, seed library, topic model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The checkout this code runs from: chalicelib/campaign/layout.py -> the project root.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class CampaignLayout:
    """The files of campaign `name` under `root` (the project checkout by default; tests pass a tmp root)."""

    name: str
    root: Path = PROJECT_ROOT

    @property
    def campaigns_dir(self) -> Path:
        # Packaged with the functions (Chalice ships chalicelib/): the runtime reads the file at cold start.
        return self.root / "chalicelib" / "campaigns"

    @property
    def campaign_file(self) -> Path:
        return self.campaigns_dir / f"{self.name}.yaml"

    @property
    def brief_file(self) -> Path:
        return self.campaigns_dir / f"{self.name}.brief.md"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates" / self.name

    @property
    def model_dir(self) -> Path:
        return self.root / "chalicelib" / "classify" / "models" / self.name

    def rel(self, path: Path) -> str:
        """A path as the operator sees it in the checkout (`templates/acme/sv/reply.sms.txt`)."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)
