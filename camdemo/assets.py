"""Where the bundled example images live (the repository's ``assets/`` folder)."""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
EXAMPLES = ["chelsea_cat.jpg", "cat_and_coffee.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg",
            "shapes_two.png", "shapes_star.png", "shapes_heart.png", "shapes_arrow.png"]


def asset(name: str) -> Path:
    """Path of a bundled file, e.g. ``asset("chelsea_cat.jpg")``."""
    return ASSETS_DIR / name
