"""Drawing a map: normalizing it for display, coloring, blending over the image, color bars and boxes."""
