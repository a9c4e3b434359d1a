"""Judging maps: boxes from maps, faithfulness (deletion and insertion), the randomization sanity check,
methods side by side, and localization against known boxes."""
