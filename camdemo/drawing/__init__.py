"""Drawing a map: normalising it for display, colouring, blending over the image, colour bars and boxes."""
