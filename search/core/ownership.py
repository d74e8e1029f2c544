"""What bridge-search may delete or replace: only folders it wrote itself.

A folder is ours when it holds a marker file we wrote (an export dir: its owner
file; a keras-tuner project folder: its project marker, or the state file older
versions left) and, for an export dir, nothing but the files an export writes.
Everything else is the user's: refused with exit 2 before any training, whether
or not --overwrite is given. Paths built from a user's name go through
`path_slug`, so they never leave their base folder.

Imports nothing heavy: the CLI runs these checks before TensorFlow loads.
"""

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from search.core.errors import UsageError

# Written into an export dir by the search that exports there (its identity),
# or by `bridge-search export` (the run exported).
EXPORT_OWNER_FILE = ".bridge_search_owner"
# Written into the keras-tuner project folder, which `--overwrite` makes keras-tuner rmtree.
PROJECT_MARKER_FILE = ".bridge_search_project"
LEGACY_PROJECT_MARKERS = ("bridge_search_state.json",)  # written by every earlier version
# What an export writes (search.winner.export); anything else in the folder is the user's.
EXPORT_FILES = frozenset({EXPORT_OWNER_FILE, "model.keras", "saved_model", "model_info.json",
                          "search.toml", "model.tflite", "model_int8.tflite"})
# Hidden siblings an interrupted export leaves (see replace_dir); ours to clean up.
STAGING_TAG, RETIRED_TAG = ".partial-", ".retired-"


def path_slug(name):
    """A single file name made from a user's name (the experiment): only
    [A-Za-z0-9_.-], never '.', '..' or hidden, so base/slug stays inside base.
    A name that had to change gets a short hash of itself, so `a/b` and `a-b`
    (or `Zürich` and `Z-rich`) get different folders; plain names stay as they are."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-")[:80]
    if slug == name:
        return slug
    return f"{slug or 'experiment'}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


# ----- export dirs -------------------------------------------------------------
def protected_paths(project_dir=None, tracking_uri=None):
    """(what, path) pairs an export dir must neither be nor contain."""
    found = [("working directory", Path.cwd().resolve())]
    if project_dir is not None:
        found.append(("project dir", Path(project_dir).resolve()))
    store = store_path(tracking_uri) if tracking_uri else None
    if store is not None:
        found.append(("MLflow store", store.resolve()))
        if store.suffix == ".db":  # sqlite: artifacts live next to the db file
            found.append(("MLflow artifact store", (store.parent / "artifacts").resolve()))
    return found


def store_path(tracking_uri):
    """The local file or folder of a sqlite:// or file: store; None for a server."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        return Path(tracking_uri[len("sqlite:///"):])
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" and Path(tracking_uri).is_absolute():
        return Path(tracking_uri)
    return None


def check_export_target(out_dir, option, protected, owner=None, replace_own=False):
    """Refuse (UsageError) an export target that is or contains a protected path,
    is a file, or holds anything but an export of ours. Our own export may be
    replaced when its owner is `owner` (the same search) or `replace_own` is set."""
    out = Path(out_dir)
    resolved = out.resolve()
    for what, path in protected:
        if resolved == path or resolved in path.parents:
            raise UsageError(f"{option} {str(out_dir)!r} is or contains the {what} ({path}); "
                             f"exports go to a directory of their own: choose another one.")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{option} {str(out_dir)!r} is a file; give a directory.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    foreign = foreign_entries(out)
    if foreign:
        raise UsageError(f"{option} {str(out_dir)!r} holds files bridge-search did not write "
                         f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
                         f"it only replaces its own exports: choose a new or empty directory.")
    marked = (out / EXPORT_OWNER_FILE).read_text().strip()
    if not replace_own and marked != owner:
        raise UsageError(f"{option} {str(out_dir)!r} holds an earlier export ({marked}); pass "
                         f"--overwrite to replace it or choose another directory.")


def foreign_entries(folder):
    """Names in `folder` an export did not write (all of them without our marker)."""
    names = sorted(entry.name for entry in Path(folder).iterdir())
    if EXPORT_OWNER_FILE not in names:
        return names
    return [name for name in names if name not in EXPORT_FILES]


def staging_dir(target):
    """A fresh hidden folder beside `target` to write an export into; leftovers
    of an export killed earlier (ours: they hold the owner file) are removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for tag in (STAGING_TAG, RETIRED_TAG):
        for leftover in target.parent.glob(f".{target.name}{tag}*"):
            _remove_if_ours(leftover)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_TAG}", dir=target.parent))
    umask = os.umask(0o22)  # mkdtemp makes it 0700: the export must follow the umask
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    return staging


def _remove_if_ours(folder):
    """Remove a staging or retired folder only when it carries our owner file and
    nothing else we did not write."""
    if (folder / EXPORT_OWNER_FILE).is_file() and not foreign_entries(folder):
        shutil.rmtree(folder, ignore_errors=True)


def replace_dir(complete, target):
    """Move the complete export `complete` to `target` by rename. A previous
    export there (checked to be ours) is renamed aside first and removed only
    after, so a kill leaves the old export, or none, never half of one."""
    target = Path(target)
    retired = None
    if target.exists():
        if foreign_entries(target):  # it changed since the check at the start
            raise UsageError(f"{target} now holds files bridge-search did not write "
                             f"({', '.join(foreign_entries(target)[:3])}); the export is "
                             f"left in {complete}.")
        retired = target.parent / f".{target.name}{RETIRED_TAG}{os.getpid()}"
        _remove_if_ours(retired)  # left by a killed export of this pid
        os.rename(target, retired)
    os.rename(complete, target)
    if retired is not None:
        shutil.rmtree(retired)
    return target


# ----- keras-tuner project folders ----------------------------------------------
def is_our_project(folder):
    folder = Path(folder)
    return any((folder / name).is_file() for name in (PROJECT_MARKER_FILE,
                                                     *LEGACY_PROJECT_MARKERS))


def check_project_overwrite(project_dir, project_name):
    """`--overwrite` makes keras-tuner delete project_dir/project_name: only a
    folder that we made (marker inside) or an empty one may go."""
    folder = Path(project_dir) / project_name
    if folder.is_dir() and any(folder.iterdir()) and not is_our_project(folder):
        names = sorted(entry.name for entry in folder.iterdir())
        raise UsageError(f"--overwrite would delete {folder}, which bridge-search did not "
                         f"create (no {PROJECT_MARKER_FILE}; it holds "
                         f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}); "
                         f"move those files or choose another --project-dir.")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--project-dir {project_dir!r}: {folder} is a file; keras-tuner "
                         f"needs a folder there: choose another --project-dir.")


def mark_project(folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROJECT_MARKER_FILE).write_text("written by bridge-search; --overwrite may "
                                              "delete this folder\n")


def check_out_dir(out_dir: str | Path, overwrite: bool, tracking_uri: str | None = None) -> None:
    """`export --out`: the same rule as a search's --export-dir: never the working
    directory or the store, never a folder with files we did not write; an
    earlier export of ours only with --overwrite."""
    check_export_target(out_dir, "--out", protected_paths(tracking_uri=tracking_uri),
                        replace_own=overwrite)
