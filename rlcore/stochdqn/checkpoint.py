"""Safe, atomic checkpoints of StochDQN / StochDDQN (and their replay buffers).

A checkpoint is a zip file (``.zip``, like Stable-Baselines3's) with

* ``rlcore.json``: the format name and version, the algorithm's name, the library versions, and
  every saved attribute of the model encoded as JSON *data*: numbers, strings, lists, dicts,
  tuples, numpy dtypes and scalars, Gymnasium spaces, numpy ``Generator`` states (their
  ``bit_generator.state``), SB3 schedules and ``TrainFreq``, the recent-actions memory, and
  classes *by name* (``"module:qualname"``), which load resolves only against an allow-list
  (the package's policies and optimizers, ``torch.nn`` activations, ``torch.optim`` optimizers,
  SB3's feature extractors and replay buffers) or classes the user passes in ``custom_objects``;
* ``arrays/<i>.npy``: every numpy array and torch tensor (network weights, Adam moments, the
  last observations...), read back with ``allow_pickle=False``.

Loading never unpickles anything unless the caller passes ``allow_pickle=True``: an attribute
that cannot be written as data (a lambda learning-rate schedule, an object of an unknown class)
is stored cloudpickled and named in a clear error on load, which also says how to replace it
(``custom_objects``) or to opt in for a trusted file. Every error names the file.

Saving is atomic: the zip is written to a temporary file in the target's folder, flushed,
``fsync``-ed and ``os.replace``-d onto the target, so a crash, a kill or a write error (a full
disk) leaves the previous checkpoint as it was. The temporary file is removed on any exception;
on POSIX a tiny watcher process (``/bin/sh``) removes it too when the saving process is killed
(``SIGKILL``, the OOM killer), where no Python code can run.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import enum
import io
import json
import os
import pathlib
import subprocess
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces

from rlcore.common import serialization

if TYPE_CHECKING:
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

FORMAT = "rlcore-stochdqn"
FORMAT_VERSION = 1
META_ENTRY = "rlcore.json"
ARRAY_PREFIX = "arrays/"
BUFFER_FORMAT = "rlcore-replay-buffer"

PathLike = str | os.PathLike[str] | io.BufferedIOBase

_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_MARKERS = (
    "__array__",
    "__tensor__",
    "__tuple__",
    "__items__",
    "__deque__",
    "__dtype__",
    "__numpy_scalar__",
    "__device__",
    "__generator__",
    "__space__",
    "__class__",
    "__enum__",
    "__object__",
    "__pickled__",
    "__unsaved__",
)


class CheckpointError(serialization.CheckpointError):
    """A file that is not a loadable checkpoint of this algorithm; the message names the file.

    A subclass of :class:`rlcore.common.serialization.CheckpointError` (itself a ``ValueError``),
    so one ``except`` catches a bad checkpoint of any rlcore agent; ``path`` is ``None`` here
    (the message holds the file's name).
    """

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.path = None  # type: ignore[assignment]


# ------------------------------------------------------------------------------------------------
# Classes a checkpoint may name
# ------------------------------------------------------------------------------------------------
def class_name(cls: type) -> str:
    """``"module:qualname"`` of a class (how a checkpoint refers to it)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _subclasses_in(module: Any, base: type) -> list[type]:
    return [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, base)]


def trusted_classes() -> dict[str, type]:
    """The classes a checkpoint may name without ``custom_objects``, by ``"module:qualname"``.

    The package's policies, Q-networks and optimizers; ``torch.nn`` activation modules and
    ``torch.optim`` optimizers; SB3's feature extractors and replay buffers; the plain data
    classes whose attributes are restored as data (SB3's schedules, ``TrainFreq`` and its unit,
    :class:`rlcore.stochmax.RecentActions`). Loading names a class, it never runs code from the file.
    """
    from stable_baselines3.common import buffers, torch_layers, type_aliases, utils
    from torch.nn.modules import activation

    from rlcore import stochmax
    from rlcore.stochdqn import optim, policies

    classes: list[type] = [
        *_subclasses_in(activation, th.nn.Module),
        *_subclasses_in(th.optim, th.optim.Optimizer),
        *_subclasses_in(torch_layers, th.nn.Module),
        *_subclasses_in(buffers, buffers.BaseBuffer),
        *_subclasses_in(policies, th.nn.Module),
        *_subclasses_in(optim, th.optim.Optimizer),
        utils.ConstantSchedule,
        utils.FloatSchedule,
        utils.LinearSchedule,
        type_aliases.TrainFreq,
        type_aliases.TrainFrequencyUnit,
        stochmax.RecentActions,
    ]
    return {class_name(c): c for c in classes}


def _data_classes() -> tuple[type, ...]:
    """Classes whose instances are saved as ``{class, attributes}`` and restored without code."""
    from stable_baselines3.common import utils

    from rlcore import stochmax

    return (
        utils.ConstantSchedule,
        utils.FloatSchedule,
        utils.LinearSchedule,
        stochmax.RecentActions,
    )


# ------------------------------------------------------------------------------------------------
# Encoding (objects -> JSON + arrays)
# ------------------------------------------------------------------------------------------------
class Encoder:
    """Turns an object tree into JSON data; arrays and tensors go to :attr:`arrays`.

    ``pickled`` lists the places (``where`` paths) of objects that could only be pickled.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.pickled: list[str] = []
        self._data_classes = _data_classes()

    def _add_array(self, array: np.ndarray) -> str:
        name = f"{ARRAY_PREFIX}{len(self.arrays)}.npy"
        self.arrays[name] = array
        return name

    def encode(self, obj: Any, where: str) -> Any:  # noqa: C901  (one branch per type)
        """JSON-compatible encoding of ``obj``; ``where`` names it in messages (``data['x']``)."""
        from stable_baselines3.common.type_aliases import TrainFreq

        if obj is None or isinstance(obj, bool | str):
            return obj
        if isinstance(obj, int | float) and not isinstance(obj, enum.Enum):
            return obj
        if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
            return {"__numpy_scalar__": obj.dtype.str, "value": obj.item()}
        if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufcUS":
            return {"__array__": self._add_array(obj)}
        if isinstance(obj, th.Tensor) and not obj.is_sparse and obj.dtype != th.bfloat16:
            return {"__tensor__": self._add_array(obj.detach().cpu().numpy())}
        if isinstance(obj, np.dtype) and obj.kind in "biufcUS":
            return {"__dtype__": obj.str}
        if isinstance(obj, th.device):
            return {"__device__": str(obj)}
        if isinstance(obj, TrainFreq):
            return {"__object__": class_name(TrainFreq), "args": self.encode(list(obj), where)}
        if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, collections.deque):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
            return {"__deque__": items, "maxlen": obj.maxlen}
        if type(obj) in (dict, collections.OrderedDict):
            if all(isinstance(k, str) and k not in _MARKERS for k in obj):
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in obj.items()}
            return {
                "__items__": [
                    [self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                    for k, v in obj.items()
                ]
            }
        if isinstance(obj, np.random.Generator):
            bitgen = type(obj.bit_generator).__name__
            if bitgen in _BIT_GENERATORS:
                state = self.encode(obj.bit_generator.state, f"{where}.bit_generator.state")
                return {"__generator__": bitgen, "state": state}
        if isinstance(obj, spaces.Space):
            space = self._encode_space(obj, where)
            if space is not None:
                return space
        if isinstance(obj, enum.Enum):
            return {"__enum__": class_name(type(obj)), "value": self.encode(obj.value, where)}
        if isinstance(obj, type):
            return {"__class__": class_name(obj)}
        if type(obj) in self._data_classes:
            state = {k: self.encode(v, f"{where}.{k}") for k, v in vars(obj).items()}
            return {"__object__": class_name(type(obj)), "state": state}
        return self._pickle(obj, where)

    def _encode_space(self, space: spaces.Space, where: str) -> dict[str, Any] | None:
        enc = self.encode
        if isinstance(space, spaces.Discrete):
            return {"__space__": "Discrete", "n": int(space.n), "start": int(space.start)}
        if isinstance(space, spaces.Box):
            return {
                "__space__": "Box",
                "low": enc(space.low, where),
                "high": enc(space.high, where),
                "dtype": enc(np.dtype(space.dtype), where),
            }
        if isinstance(space, spaces.MultiDiscrete):
            return {
                "__space__": "MultiDiscrete",
                "nvec": enc(space.nvec, where),
                "start": enc(space.start, where),
                "dtype": enc(np.dtype(space.dtype), where),
            }
        if isinstance(space, spaces.MultiBinary):
            return {"__space__": "MultiBinary", "n": enc(space.n, where)}
        if isinstance(space, spaces.Dict):
            items = [[k, enc(v, f"{where}[{k!r}]")] for k, v in space.spaces.items()]
            return {"__space__": "Dict", "spaces": items}
        if isinstance(space, spaces.Tuple):
            return {"__space__": "Tuple", "spaces": [enc(v, where) for v in space.spaces]}
        return None

    def _pickle(self, obj: Any, where: str) -> dict[str, Any]:
        import cloudpickle

        what = f"{type(obj).__module__}.{type(obj).__qualname__}"
        try:
            blob = base64.b64encode(cloudpickle.dumps(obj)).decode("ascii")
        except Exception as exc:  # noqa: BLE001  (any pickling failure: store a marker)
            warnings.warn(f"{where} ({what}) cannot be saved: {exc}", stacklevel=4)
            return {"__unsaved__": what, "error": str(exc)}
        self.pickled.append(where)
        return {"__pickled__": blob, "type": what}


# ------------------------------------------------------------------------------------------------
# Decoding (JSON + arrays -> objects), never running code unless allow_pickle
# ------------------------------------------------------------------------------------------------
class Decoder:
    """Inverse of :class:`Encoder`, reading arrays lazily from an open zip.

    Args:
        archive: the open checkpoint.
        file: the file's name, for messages.
        allow_pickle: unpickle ``__pickled__`` entries (only for files one trusts).
        extra_classes: classes the caller trusts besides :func:`trusted_classes`.
    """

    def __init__(
        self,
        archive: zipfile.ZipFile,
        file: str,
        allow_pickle: bool = False,
        extra_classes: Iterable[type] = (),
    ) -> None:
        self.archive = archive
        self.file = file
        self.allow_pickle = allow_pickle
        self.classes = trusted_classes()
        self.classes.update({class_name(c): c for c in extra_classes})
        self.used: set[str] = set()

    def error(self, where: str, what: str) -> CheckpointError:
        return CheckpointError(f"{self.file}: {where}: {what}")

    def array(self, name: Any, where: str) -> np.ndarray:
        if not isinstance(name, str) or name not in self.archive.NameToInfo:
            raise self.error(where, f"refers to the array entry {name!r}, which is not in the file")
        self.used.add(name)
        try:
            with self.archive.open(name) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
        except ValueError as exc:
            raise self.error(
                where, f"entry {name!r} is not a plain numeric array ({exc}); refused"
            ) from exc
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise self.error(where, f"entry {name!r} cannot be read ({exc})") from exc

    def resolve(self, name: Any, where: str) -> type:
        if name in self.classes:
            return self.classes[name]
        raise self.error(
            where,
            f"names the class {name!r}, which is not among the classes a checkpoint may name; "
            "if you trust it, pass it in custom_objects (e.g. custom_objects={'any_key': "
            "TheClass}) or replace the whole entry (custom_objects={'entry_name': value})",
        )

    def decode(self, obj: Any, where: str) -> Any:  # noqa: C901  (one branch per marker)
        """The object encoded by :meth:`Encoder.encode` as ``obj``."""
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        if isinstance(obj, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if not isinstance(obj, dict):
            raise self.error(where, f"unexpected JSON value {obj!r}")
        marker = next((k for k in obj if k in _MARKERS), None)
        if marker is None:
            return {k: self.decode(v, f"{where}[{k!r}]") for k, v in obj.items()}
        try:
            return self._decode_marked(marker, obj, where)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise self.error(
                where, f"malformed {marker} entry ({type(exc).__name__}: {exc})"
            ) from exc

    def _decode_marked(self, marker: str, obj: dict[str, Any], where: str) -> Any:  # noqa: C901
        dec = self.decode
        if marker in ("__array__", "__tensor__"):
            array = self.array(obj[marker], where)
            return th.from_numpy(array) if marker == "__tensor__" else array
        if marker == "__tuple__":
            return tuple(dec(obj[marker], where))
        if marker == "__items__":
            return {dec(k, f"{where} key"): dec(v, f"{where}[{k!r}]") for k, v in obj[marker]}
        if marker == "__deque__":
            return collections.deque(dec(obj[marker], where), maxlen=obj["maxlen"])
        if marker == "__dtype__":
            dtype = np.dtype(obj[marker])
            if dtype.hasobject:
                raise self.error(where, f"object dtype {obj[marker]!r} refused")
            return dtype
        if marker == "__numpy_scalar__":
            return np.dtype(obj[marker]).type(obj["value"])
        if marker == "__device__":
            return th.device(obj[marker])
        if marker == "__generator__":
            if obj[marker] not in _BIT_GENERATORS:
                raise self.error(where, f"unknown bit generator {obj[marker]!r}")
            bitgen = getattr(np.random, obj[marker])()
            bitgen.state = dec(obj["state"], where)
            return np.random.Generator(bitgen)
        if marker == "__space__":
            return self._decode_space(obj, where)
        if marker == "__class__":
            return self.resolve(obj[marker], where)
        if marker == "__enum__":
            cls = self.resolve(obj[marker], where)
            if not issubclass(cls, enum.Enum):
                raise self.error(where, f"{obj[marker]!r} is not an enum")
            return cls(dec(obj["value"], where))
        if marker == "__object__":
            cls = self.resolve(obj[marker], where)
            if "args" in obj and hasattr(cls, "_fields"):  # a NamedTuple (TrainFreq)
                return cls(*dec(obj["args"], where))
            if cls not in _data_classes():
                raise self.error(where, f"{obj[marker]!r} is not a plain data class")
            instance = cls.__new__(cls)
            state = obj["state"]
            instance.__dict__.update({k: dec(v, f"{where}.{k}") for k, v in state.items()})
            return instance
        if marker == "__pickled__":
            if not self.allow_pickle:
                raise self.error(
                    where,
                    f"holds a pickled Python object ({obj.get('type')}); unpickling a file can run "
                    "any code, so it is refused: pass custom_objects={name: value} to replace it, "
                    "or allow_pickle=True if you trust the file",
                )
            import cloudpickle

            return cloudpickle.loads(base64.b64decode(obj[marker]))
        if marker == "__unsaved__":
            raise self.error(
                where,
                f"an object of type {obj[marker]} that could not be saved ({obj.get('error')}); "
                "pass custom_objects={name: value} to provide it",
            )
        raise self.error(where, f"unknown marker {marker!r}")  # pragma: no cover (exhaustive)

    def _decode_space(self, obj: dict[str, Any], where: str) -> spaces.Space:
        kind, dec = obj["__space__"], self.decode
        if kind == "Discrete":
            return spaces.Discrete(int(obj["n"]), start=int(obj["start"]))
        if kind == "Box":
            return spaces.Box(
                dec(obj["low"], where), dec(obj["high"], where), dtype=dec(obj["dtype"], where)
            )
        if kind == "MultiDiscrete":
            nvec, start = dec(obj["nvec"], where), dec(obj["start"], where)
            return spaces.MultiDiscrete(nvec, dtype=dec(obj["dtype"], where), start=start)
        if kind == "MultiBinary":
            return spaces.MultiBinary(dec(obj["n"], where))
        if kind == "Dict":
            return spaces.Dict({k: dec(v, f"{where}[{k!r}]") for k, v in obj["spaces"]})
        if kind == "Tuple":
            return spaces.Tuple([dec(v, where) for v in obj["spaces"]])
        raise self.error(where, f"unknown space type {kind!r}")


# ------------------------------------------------------------------------------------------------
# Atomic writing
# ------------------------------------------------------------------------------------------------


class _TempReaper:
    """A ``/bin/sh`` that removes ``tmp`` once the pipe to it closes: at the end of the save
    (the file was renamed by then: a no-op) or when this process dies, even by ``SIGKILL``."""

    def __init__(self, tmp: str) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        if os.name != "posix" or not os.path.exists("/bin/sh"):
            return
        with contextlib.suppress(OSError):
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", 'read _ ; rm -f -- "$1"', "rlcore-temp-reaper", tmp],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,  # survives a signal sent to this process group
            )

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait()


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> pathlib.Path:
    """Create or replace ``path`` atomically with what ``write(file)`` writes.

    The data go to a temporary file in the same folder, are flushed and ``fsync``-ed, and the file
    is renamed onto ``path`` (``os.replace``; the folder is ``fsync``-ed too). On any exception the
    temporary file is removed and ``path`` is untouched; the exception is re-raised (an ``OSError``
    names ``path``).
    """
    target = pathlib.Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot save to {str(target)!r}: {exc.strerror}") from exc
    reaper = _TempReaper(tmp)
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~serialization._UMASK
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        with contextlib.suppress(OSError):  # not every platform can fsync a folder
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise type(exc)(
                exc.errno, f"cannot save to {str(target)!r} (left as it was): {exc.strerror}"
            ) from exc
        raise
    finally:
        reaper.close()
    return target


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------
def save_path(path: str | os.PathLike[str]) -> pathlib.Path:
    """The file ``save`` writes: ``path`` with ``.zip`` appended when it has no suffix (as SB3)."""
    p = pathlib.Path(path).expanduser()
    return p if p.suffix else p.with_suffix(".zip")


def load_path(path: str | os.PathLike[str]) -> pathlib.Path:
    """The file ``load`` reads: ``path``, or ``path.zip`` when ``path`` has no suffix and is missing."""
    p = pathlib.Path(path).expanduser()
    if not p.exists() and not p.suffix and p.with_suffix(".zip").exists():
        p = p.with_suffix(".zip")
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {str(p)!r}")
    if not p.is_file():
        raise CheckpointError(f"{p}: not a file")
    return p


def write_archive(
    path: PathLike, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> pathlib.Path | None:
    """Write ``meta`` as ``rlcore.json`` and ``arrays`` as ``.npy`` entries of one zip.

    A path is written atomically (:func:`atomic_write`); a stream is written in place. Arrays
    are streamed in chunks (no second copy of a large table in memory).
    """
    blob = json.dumps(meta, allow_nan=True).encode("utf-8")

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(META_ENTRY, blob)
            for name, array in arrays.items():
                with zf.open(name, "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)

    if isinstance(path, io.IOBase):
        write(path)  # type: ignore[arg-type]
        return None
    return atomic_write(save_path(path), write)


@contextlib.contextmanager
def open_archive(path: PathLike) -> Any:
    """Open a checkpoint zip; yields ``(archive, name for messages)``."""
    if isinstance(path, io.IOBase):
        name = getattr(path, "name", "<stream>")
        start = path.tell()
        try:
            with zipfile.ZipFile(path) as zf:  # type: ignore[arg-type]
                yield zf, str(name)
        except zipfile.BadZipFile as exc:
            raise CheckpointError(f"{name}: not a checkpoint (not a zip file: {exc})") from exc
        finally:
            path.seek(start)
        return
    p = load_path(path)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{p}: not a checkpoint (not a readable zip file: {exc})") from exc
    with zf:
        yield zf, str(p)


def read_meta(archive: zipfile.ZipFile, file: str, fmt: str = FORMAT) -> dict[str, Any]:
    """``rlcore.json`` of ``archive``, checked: format ``fmt``, a version this code can read."""
    try:
        meta = json.loads(archive.read(META_ENTRY))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{file}: {META_ENTRY} is not valid JSON ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{file}: {META_ENTRY} cannot be read ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{file}: not an {fmt} file (format {found!r})")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(
            f"{file}: invalid format version {version!r} (expected an integer >= 1)"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: format version {version} is newer than this rlcore reads "
            f"({FORMAT_VERSION}); upgrade rlcore to load it"
        )
    for key, kind in (("algorithm", str), ("data", dict), ("params", dict)):
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(
                f"{file}: {META_ENTRY} has no valid {key!r} entry (expected {kind.__name__}, "
                f"got {type(meta.get(key)).__name__})"
            )
    return meta


def _legacy_algorithm(archive: zipfile.ZipFile, file: str) -> tuple[str | None, list[str]]:
    """For an SB3-format zip: the ``algorithm_name`` in its ``data`` (JSON only, no unpickling)
    and the names of the entries that hold pickled objects."""
    try:
        data = json.loads(archive.read("data"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{file}: an SB3-style zip whose 'data' entry is not JSON ({exc})"
        ) from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{file}: an SB3-style zip whose 'data' entry is not a JSON object")
    pickled = sorted(k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v)
    pickled += [n for n in archive.namelist() if n.endswith(".pth")]
    name = data.get("algorithm_name")
    return (name if isinstance(name, str) else None), pickled


def check_algorithm(
    archive: zipfile.ZipFile, file: str, algorithm: str, allow_pickle: bool
) -> bool:
    """Check that ``archive`` is a checkpoint of ``algorithm``.

    Returns True for this package's format, False for a legacy SB3-format checkpoint of
    ``algorithm`` (saved by rlcore before the safe format) that may be loaded because
    ``allow_pickle`` is set. Raises :class:`CheckpointError` otherwise.
    """
    names = set(archive.namelist())
    if META_ENTRY in names:
        meta = read_meta(archive, file)
        if meta["algorithm"] != algorithm:
            raise CheckpointError(
                f"{file}: a {meta['algorithm']} checkpoint, cannot load it as {algorithm}; "
                f"load it with {meta['algorithm']}.load"
            )
        return True
    if "data" not in names:
        raise CheckpointError(
            f"{file}: not an rlcore StochDQN / StochDDQN checkpoint (no {META_ENTRY})"
        )
    saved, pickled = _legacy_algorithm(archive, file)
    if saved is None:
        raise CheckpointError(
            f"{file}: not an rlcore StochDQN / StochDDQN file (an SB3 checkpoint of another "
            "algorithm), cannot load it as " + algorithm
        )
    if saved != algorithm:
        raise CheckpointError(
            f"{file}: a {saved} checkpoint, cannot load it as {algorithm}; load it with {saved}.load"
        )
    if not allow_pickle:
        raise CheckpointError(
            f"{file}: a {saved} checkpoint in the old SB3 zip format, whose entries "
            f"{', '.join(pickled)} hold pickled Python objects (loading them can run any code); "
            f"refused. If you trust the file, load it with {algorithm}.load(path, "
            "allow_pickle=True) and save() it again in the safe format"
        )
    return False


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    import stable_baselines3

    from rlcore import __version__ as rlcore_version

    return {
        "rlcore": str(rlcore_version),
        "stable_baselines3": stable_baselines3.__version__,
        "torch": th.__version__,
        "numpy": np.__version__,
    }


def save_model(
    model: OffPolicyAlgorithm,
    path: PathLike,
    exclude: Iterable[str] | None = None,
    include: Iterable[str] | None = None,
) -> pathlib.Path | None:
    """Save ``model`` as SB3's ``save`` would (same ``exclude`` / ``include`` semantics), in the
    safe format of this module. Returns the path written (None for a stream)."""
    from stable_baselines3.common.save_util import recursive_getattr

    data = model.__dict__.copy()
    excluded = set(exclude or ()).union(model._excluded_save_params())
    if include is not None:
        excluded = excluded.difference(include)
    state_dicts, torch_variables = model._get_torch_save_params()
    for name in state_dicts + torch_variables:
        excluded.add(name.split(".")[0])
    for name in excluded:
        data.pop(name, None)
    encoder = Encoder()
    encoded = {k: encoder.encode(v, f"data[{k!r}]") for k, v in data.items()}
    params = {
        name: encoder.encode(recursive_getattr(model, name).state_dict(), f"params[{name!r}]")
        for name in state_dicts
    }
    variables = {
        name: encoder.encode(recursive_getattr(model, name), f"variables[{name!r}]")
        for name in torch_variables
    }
    if encoder.pickled:
        warnings.warn(
            f"{', '.join(encoder.pickled)} could only be saved pickled: loading the checkpoint "
            "will need custom_objects for them (or allow_pickle=True for a trusted file)",
            stacklevel=3,
        )
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "algorithm": type(model).__name__,
        "versions": versions(),
        "data": encoded,
        "params": params,
        "variables": variables,
    }
    return write_archive(path, meta, encoder.arrays)


def read_model(
    path: PathLike,
    algorithm: str,
    custom_objects: Mapping[str, Any] | None,
    allow_pickle: bool,
) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """Read a checkpoint of ``algorithm``: ``(file, data, params, variables)``.

    ``custom_objects`` replace saved attributes of the same name (they are not decoded) and the
    classes among their values are trusted. Returns None for a legacy SB3-format checkpoint that
    ``allow_pickle`` lets SB3's own loader read.
    """
    custom = dict(custom_objects or {})
    extra = [v for v in custom.values() if isinstance(v, type)]
    with open_archive(path) as (archive, file):
        if not check_algorithm(archive, file, algorithm, allow_pickle):
            return None
        meta = read_meta(archive, file)
        decoder = Decoder(archive, file, allow_pickle, extra)
        data = {
            k: custom[k] if k in custom else decoder.decode(v, f"data[{k!r}]")
            for k, v in meta["data"].items()
        }
        params = {k: decoder.decode(v, f"params[{k!r}]") for k, v in meta["params"].items()}
        raw_variables = meta.get("variables", {})
        if not isinstance(raw_variables, dict):
            raise CheckpointError(f"{file}: {META_ENTRY} 'variables' is not a JSON object")
        variables = {k: decoder.decode(v, f"variables[{k!r}]") for k, v in raw_variables.items()}
        unknown = sorted(set(archive.namelist()) - decoder.used - {META_ENTRY})
        if unknown:
            raise CheckpointError(
                f"{file}: unexpected entries {unknown} (not written by rlcore); refused"
            )
    return file, data, params, variables


def load_model(
    cls: type[Any],
    path: PathLike,
    env: Any = None,
    device: th.device | str = "auto",
    custom_objects: Mapping[str, Any] | None = None,
    force_reset: bool = True,
    allow_pickle: bool = False,
    **kwargs: Any,
) -> Any:
    """Re-create a model of class ``cls`` from a checkpoint (SB3's ``load`` steps, safe input).

    Returns None for a legacy SB3-format checkpoint that ``allow_pickle`` lets SB3 load.
    """
    from stable_baselines3.common.save_util import recursive_setattr
    from stable_baselines3.common.utils import check_for_correct_spaces

    read = read_model(path, cls.__name__, custom_objects, allow_pickle)
    if read is None:
        return None
    file, data, params, variables = read
    for key in ("policy_class", "observation_space", "action_space"):
        if key not in data:
            raise CheckpointError(f"{file}: the saved data has no {key!r} entry")
    if not (
        isinstance(data["policy_class"], type) and issubclass(data["policy_class"], th.nn.Module)
    ):
        raise CheckpointError(
            f"{file}: data['policy_class'] is not a policy class: {data['policy_class']!r}"
        )
    policy_kwargs = data.get("policy_kwargs", {})
    if not isinstance(policy_kwargs, dict):
        raise CheckpointError(f"{file}: data['policy_kwargs'] is not a dict: {policy_kwargs!r}")
    if "policy_kwargs" in kwargs:  # as SB3: must equal the saved ones (except filled-in keys)
        given = kwargs.pop("policy_kwargs") or {}
        filled = set(getattr(cls, "filled_policy_kwargs", ())) - set(given)
        if given != {k: v for k, v in policy_kwargs.items() if k not in filled}:
            raise ValueError(
                f"{file}: the policy_kwargs given {given} differ from the saved ones "
                f"{policy_kwargs}"
            )
    policy_kwargs.pop("device", None)
    try:
        cls.check_hyperparameters({**data, **kwargs})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{file}: invalid saved hyper-parameter: {exc}") from exc
    if env is not None:
        env = cls._wrap_env(env, data.get("verbose", 0))
        try:
            check_for_correct_spaces(env, data["observation_space"], data["action_space"])
        except ValueError as exc:
            raise ValueError(f"{file}: the env does not match the checkpoint: {exc}") from exc
        if force_reset:
            data["_last_obs"] = None
        data["n_envs"] = env.num_envs
    model = cls(policy=data["policy_class"], env=env, device=device, _init_setup_model=False)
    model.__dict__.update(data)
    model.__dict__.update(kwargs)
    model._setup_model()
    try:
        for name, state in params.items():
            target = model
            for part in name.split("."):
                target = getattr(target, part)
            target.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(
            f"{file}: the saved parameters {name!r} do not fit the model: {exc}"
        ) from exc
    for name, value in variables.items():
        if value is not None:
            recursive_setattr(model, f"{name}.data", value.data)
    return model


def print_checkpoint_versions(path: PathLike) -> None:
    """Print the library versions a checkpoint was saved with and the current ones (SB3's
    ``print_system_info``)."""
    with open_archive(path) as (archive, file):
        saved = (
            read_meta(archive, file).get("versions", {}) if META_ENTRY in archive.NameToInfo else {}
        )
    print(f"== SAVED ({file}) ==")
    for key, value in saved.items():
        print(f"- {key}: {value}")
    print("== CURRENT ==")
    for key, value in versions().items():
        print(f"- {key}: {value}")


def save_buffer(buffer: Any, path: PathLike) -> pathlib.Path | None:
    """Save a replay buffer (SB3's ``ReplayBuffer`` / ``DictReplayBuffer``) in the safe format:
    its attributes as JSON data, its arrays as ``.npy`` entries; atomic for a path."""
    encoder = Encoder()
    state = {k: encoder.encode(v, f"buffer.{k}") for k, v in vars(buffer).items() if k != "device"}
    meta = {
        "format": BUFFER_FORMAT,
        "version": FORMAT_VERSION,
        "algorithm": class_name(type(buffer)),
        "versions": versions(),
        "data": state,
        "params": {},
    }
    if encoder.pickled:
        warnings.warn(
            f"{', '.join(encoder.pickled)} could only be saved pickled: loading the buffer will "
            "need allow_pickle=True",
            stacklevel=3,
        )
    return write_archive(path, meta, encoder.arrays)


def load_buffer(path: PathLike, device: th.device | str = "cpu", allow_pickle: bool = False) -> Any:
    """Load a replay buffer written by :func:`save_buffer` (no code runs unless
    ``allow_pickle``); errors name the file."""
    from stable_baselines3.common.buffers import BaseBuffer
    from stable_baselines3.common.utils import get_device

    with open_archive(path) as (archive, file):
        if META_ENTRY not in archive.NameToInfo:
            raise CheckpointError(
                f"{file}: not an rlcore replay-buffer file (no {META_ENTRY}; SB3's pickled "
                "buffers are not loaded: they can run code)"
            )
        meta = read_meta(archive, file, fmt=BUFFER_FORMAT)
        decoder = Decoder(archive, file, allow_pickle)
        cls = decoder.resolve(meta["algorithm"], "algorithm")
        if not issubclass(cls, BaseBuffer):
            raise CheckpointError(f"{file}: {meta['algorithm']!r} is not a replay buffer class")
        state = {k: decoder.decode(v, f"buffer.{k}") for k, v in meta["data"].items()}
        unknown = sorted(set(archive.namelist()) - decoder.used - {META_ENTRY})
        if unknown:
            raise CheckpointError(f"{file}: unexpected entries {unknown}; refused")
    buffer = cls.__new__(cls)
    buffer.__dict__.update(state)
    buffer.device = get_device(device)
    return buffer


POLICY_FORMAT = "rlcore-stochdqn-policy"


def save_policy(policy: Any, path: PathLike) -> pathlib.Path | None:
    """Save a policy (SB3's ``BasePolicy.save``: constructor arguments + state dict) in the safe
    format: the arguments as JSON data, the tensors as ``.npy`` arrays; atomic for a path."""
    encoder = Encoder()
    args = {k: v for k, v in policy._get_constructor_parameters().items() if k != "lr_schedule"}
    meta = {
        "format": POLICY_FORMAT,
        "version": FORMAT_VERSION,
        "algorithm": class_name(type(policy)),
        "versions": versions(),
        "data": {k: encoder.encode(v, f"data[{k!r}]") for k, v in args.items()},
        "params": {"state_dict": encoder.encode(policy.state_dict(), "state_dict")},
    }
    return write_archive(path, meta, encoder.arrays)


def load_policy(
    cls: type[Any], path: PathLike, device: th.device | str = "auto", allow_pickle: bool = False
) -> Any:
    """Load a policy written by :func:`save_policy` as ``cls`` (or a subclass named in the file)."""
    from stable_baselines3.common.utils import get_device

    with open_archive(path) as (archive, file):
        if META_ENTRY not in archive.NameToInfo:
            raise CheckpointError(
                f"{file}: not an rlcore policy file (no {META_ENTRY}; policies saved with torch's "
                "pickle-based th.save are not loaded: they can run code)"
            )
        meta = read_meta(archive, file, fmt=POLICY_FORMAT)
        decoder = Decoder(archive, file, allow_pickle)
        saved = decoder.resolve(meta["algorithm"], "algorithm")
        if not (isinstance(saved, type) and issubclass(saved, cls)):
            raise CheckpointError(f"{file}: a {meta['algorithm']} policy, not a {cls.__name__}")
        args = {k: decoder.decode(v, f"data[{k!r}]") for k, v in meta["data"].items()}
        state = decoder.decode(meta["params"].get("state_dict"), "state_dict")
        unknown = sorted(set(archive.namelist()) - decoder.used - {META_ENTRY})
        if unknown:
            raise CheckpointError(f"{file}: unexpected entries {unknown}; refused")
    try:
        policy = saved(lr_schedule=lambda _: 0.0, **args)
        policy.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{file}: the saved policy cannot be rebuilt: {exc}") from exc
    return policy.to(get_device(device))
