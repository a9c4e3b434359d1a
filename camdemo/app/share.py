"""Settings in the page URL, so a teacher can share "look at this": read them, validate them, write them.

The URL holds backbone, layer, method, class, colormap, opacity, sign and, when the image is one of
the bundled examples, its name (a person's own upload is never put in a URL). Anything unknown or out of
range in a URL is ignored, so an old or edited link still opens.
"""

from __future__ import annotations

import re
from typing import Mapping

import camdemo
from camdemo.assets import EXAMPLES, asset
from camdemo.drawing.overlay import DEFAULT_SIGN, SIGNS

# Runs in the browser after each result: mirror the settings into the address bar without reloading.
WRITE_URL_JS = """(backbone, layer, method, cls, colormap, opacity, example, sign) => {
  const url = new URL(window.location.href);
  const put = (key, value) => {
    if (value === null || value === undefined || value === "" || value === "auto") url.searchParams.delete(key);
    else url.searchParams.set(key, String(value));
  };
  put("backbone", backbone); put("layer", layer); put("method", method); put("class", cls);
  put("colormap", colormap); put("opacity", opacity); put("example", example);
  put("sign", sign === "positive" ? "" : sign);
  window.history.replaceState(null, "", url);
  return [];
}"""


def settings_from_query(params: Mapping[str, str]) -> dict:
    """The valid settings of a page URL's query, as a dict with only the keys that were given and valid."""
    settings: dict = {}
    backbone = params.get("backbone")
    if backbone in {info.name for info in camdemo.backbones()}:
        settings["backbone"] = backbone
    backbone = settings.get("backbone", camdemo.DEFAULT_BACKBONE)
    methods = {m.name: m for m in camdemo.methods(backbone)}
    method = params.get("method")
    if method in methods and methods[method].available:
        settings["method"] = method
    layer = params.get("layer")
    if layer in {info.name for info in camdemo.layers(backbone)}:
        settings["layer"] = layer
    class_text = params.get("class", "")
    # ASCII digits only, and few of them: "²".isdigit() is True but int("²") fails, and int() refuses
    # 5,000-digit strings; neither may break the page's load step.
    if re.fullmatch(r"[0-9]{1,6}", class_text) and int(class_text) < len(camdemo.class_names(backbone)):
        settings["class"] = str(int(class_text))
    if params.get("sign") in SIGNS and (params["sign"] == DEFAULT_SIGN or methods.get(
            settings.get("method", camdemo.DEFAULT_METHOD)) and methods[settings.get("method",
                                                                          camdemo.DEFAULT_METHOD)].signed):
        settings["sign"] = params["sign"]
    if params.get("colormap") in camdemo.COLORMAPS:
        settings["colormap"] = params["colormap"]
    try:
        opacity = float(params.get("opacity", ""))
        if 0.0 <= opacity <= 1.0:
            settings["opacity"] = opacity
    except ValueError:
        pass
    if params.get("example") in EXAMPLES:
        settings["example"] = str(asset(params["example"]))
    return settings
