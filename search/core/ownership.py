"""What bridge-search may write, replace or delete: one rule, enforced here.

The tool writes into a folder only if it created it (absent or empty at first
use, marked at creation) or the folder carries its marker; anything else is the
user's and is refused with exit 2 and one line naming files in it, whether or not
--overwrite is given. A folder is replaced or deleted only after the check is
repeated right then against the marker's identity (its content, which holds a
unique id written at creation): a folder that changed since the check at start is
left alone. A symbolic link is never written through, renamed or followed into a
delete: a link where a folder of ours is expected is refused (the link can be
pointed elsewhere between a check and a rename, and renaming it would move the
user's link, not our folder). Base folders (--project-dir, the parents of an
export or report dir) only get new entries; nothing in them is replaced.
Paths built from a user's name go through `path_slug`, so they never leave their
base folder.

Imports nothing heavy: the CLI runs these checks before TensorFlow loads.
"""

import fnmatch
import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path

from search.core.errors import UsageError
from search.core.store_paths import store_paths

# Written into an export dir by the search that exports there (its identity),
# or by `bridge-search export` (the run exported).
EXPORT_OWNER_FILE = ".bridge_search_owner"
# Written into the keras-tuner project folder, which `--overwrite` deletes.
PROJECT_MARKER_FILE = ".bridge_search_project"
LEGACY_PROJECT_MARKERS = ("bridge_search_state.json",)  # written by every earlier version
PROJECT_MARKERS = (PROJECT_MARKER_FILE, *LEGACY_PROJECT_MARKERS)
REPORT_MARKER_FILE = ".bridge_search_report"  # a `report` folder (search/tracking/report.py)
# (markers, hint) of a report folder, for check_folder and claim_folder
REPORT_RULE = ((REPORT_MARKER_FILE,), "bridge-search writes a report only into a folder it "
               "created: choose a new or empty folder.")
# What an export writes (search.winner.export); anything else in the folder is the user's.
EXPORT_FILES = frozenset({EXPORT_OWNER_FILE, "model.keras", "saved_model", "model_info.json",
                          "search.toml", "model.tflite", "model_int8.tflite"})
# Hidden siblings an interrupted export or delete leaves; ours to clean up.
STAGING_TAG, RETIRED_TAG = ".partial-", ".retired-"
# What this process found at its checks, by absolute path: the identity a later
# replace or delete must still find there (None: absent or empty).
_seen = {}


def path_slug(name):
    """A single file name made from a user's name (the experiment): only
    [A-Za-z0-9_.-], never '.', '..' or hidden, so base/slug stays inside base.
    A name that had to change gets a short hash of itself, so `a/b` and `a-b`
    (or `Zürich` and `Z-rich`) get different folders; plain names stay as they are."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-")[:80]
    if slug == name:
        return slug
    return f"{slug or 'experiment'}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


# ----- the rule ---------------------------------------------------------------------
def check_folder(path, option, markers, hint):
    """The rule, read-only, before anything is written: the identity of a folder
    we marked, None for an absent or empty one; UsageError (`hint`: how to fix)
    for a folder of the user's, a file, a symbolic link. Remembered for the check
    repeated at replace or delete time (`same_as_checked`)."""
    identity = folder_identity(path, option, markers, hint)
    _seen[_key(path)] = identity
    return identity


def folder_identity(path, option, markers, hint):
    path = Path(path)
    _check_parents(path, option)
    if path.is_symlink():
        raise UsageError(f"{option} {str(path)!r} is a symbolic link (to {os.readlink(path)}); "
                         f"bridge-search never writes, renames or deletes through one: give "
                         f"the folder it points to, or a new path.")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a file; give a directory.")
    try:
        names = sorted(os.listdir(path)) if path.exists() else []
    except OSError as error:
        raise UsageError(f"{option} {str(path)!r} cannot be read ({error.strerror}); "
                         f"choose another path.") from None
    if not names:
        return None
    for marker in markers:
        identity = _marker_identity(path / marker)
        if identity:
            return identity
    raise UsageError(f"{option} {str(path)!r} holds files bridge-search did not write "
                     f"({listing(names)}); {hint}")


def _marker_identity(marker):
    """The mark's content, when `marker` is a real file of ours. A legacy marker
    (the state file of an earlier version) must read as one, with the parent
    run id every version wrote: a user's file that only shares its name is not."""
    if not marker.is_file() or marker.is_symlink():
        return None
    text = marker.read_text(errors="replace").strip()
    if marker.name in LEGACY_PROJECT_MARKERS:
        try:
            state = json.loads(text)
        except ValueError:
            return None
        return text if isinstance(state, dict) and state.get("parent_run_id") else None
    return text or marker.name


def _check_parents(path, option):
    """A file where a folder of the path is expected: refused, nothing created."""
    for parent in Path(os.path.abspath(path)).parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} {str(path)!r} cannot be created: {parent} is a "
                                 f"file; choose a directory path.")
            return


def listing(names):
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _key(path):
    return os.path.abspath(path)  # never resolved: a link is judged as a link


def checked(path, default="unchecked"):
    """What this process's check found at `path` (`default` when it made none)."""
    return _seen.get(_key(path), default)


def claim_folder(path, option, markers, hint, files=()):
    """Write access to `path`: an absent or empty folder is created and marked
    (markers[0], with a unique id), a folder with our mark is taken as it is, and
    anything else is refused, as are `files` we are about to write that are links
    or folders. Writing (unlike a replace or delete) needs the mark, not the one
    this process saw: a chief and its workers mark the same folder."""
    path = Path(path)
    identity = folder_identity(path, option, markers, hint)
    if identity is None:
        path.mkdir(parents=True, exist_ok=True)
        identity = write_marker(path / markers[0])
    for name in files:
        if (path / name).is_symlink() or (path / name).is_dir():
            raise UsageError(f"{option} {str(path)!r}: {name} there is a symbolic link or a "
                             f"folder, not a file bridge-search wrote; move it away.")
    _seen[_key(path)] = identity
    return identity


def write_marker(marker, owner="written by bridge-search; it may replace this folder"):
    """Create the mark only if absent (O_EXCL): a second process claiming the same
    empty folder reads the first one's."""
    text = f"{owner}\nid {uuid.uuid4().hex}\n"
    try:
        with open(marker, "x") as handle:
            handle.write(text)
    except FileExistsError:
        return marker.read_text(errors="replace").strip()
    return text.strip()


def same_as_checked(path, identity, option):
    """The check repeated before a replace or delete: what is there now must be
    what this process found at its check (when it made one)."""
    key = _key(path)
    if key in _seen and _seen[key] != identity:
        raise UsageError(f"{option} {str(path)!r} changed since bridge-search checked it at "
                         f"start (its {'mark' if identity else 'content'} is not what was "
                         f"there); nothing was replaced or deleted: check the folder and run "
                         f"the command again.")


def remove_folder(path, option, markers, hint):
    """Delete a folder of ours (--overwrite): checked again now, renamed aside
    (never through a link), then removed."""
    path = Path(path)
    identity = folder_identity(path, option, markers, hint)
    if identity is None:
        return  # absent or empty: nothing of anyone's to delete
    same_as_checked(path, identity, option)
    for leftover in path.parent.iterdir():  # left by a delete killed half-way
        if leftover.name.startswith(f".{path.name}{RETIRED_TAG}"):
            remove_if_ours(leftover, markers)
    retired = path.with_name(f".{path.name}{RETIRED_TAG}{os.getpid()}")
    os.rename(path, retired)
    _seen[_key(path)] = None
    shutil.rmtree(retired)


def remove_if_ours(folder, markers=(EXPORT_OWNER_FILE,)):
    """Remove a leftover staging or retired folder only when it is a real folder
    carrying our mark (and, for an export, nothing else we did not write)."""
    if folder.is_symlink() or not folder.is_dir():
        return
    if not any(_marker_identity(folder / m) for m in markers):
        return
    if EXPORT_OWNER_FILE in markers and foreign_entries(folder):
        return
    shutil.rmtree(folder, ignore_errors=True)


# ----- keras-tuner project folders ------------------------------------------------------
PROJECT_HINT = (f"bridge-search writes only into a project folder it created (marked "
                f"{PROJECT_MARKER_FILE}): choose another --experiment or --project-dir, or "
                f"move those files.")


def _project_option(project_dir):
    return f"--project-dir {str(project_dir)!r}: the project folder"


def check_apart(path, option, places, hint):
    """`path` must neither be, hold nor lie inside any of `places` ((what, path)
    pairs: the store, its artifacts, a project folder that --overwrite deletes)."""
    resolved = Path(os.path.abspath(path)).resolve()
    for what, place in places:
        place = Path(place).resolve()
        relation = ("is" if resolved == place else "holds" if resolved in place.parents
                    else "lies inside" if place in resolved.parents else None)
        if relation:
            raise UsageError(f"{option} {str(path)!r} {relation} the {what} ({place}); {hint}")


def check_project_folder(project_dir, project_name, tracking_uri=None, overwrite=False):
    """Before TensorFlow loads: PROJECT_DIR/EXPERIMENT must be absent, empty or
    ours, and neither be, hold nor lie inside the MLflow store or its artifacts
    (--overwrite deletes it; it must then hold nothing but the search's own files)."""
    folder = Path(project_dir) / project_name
    option = _project_option(project_dir)
    check_apart(folder, option, store_paths(tracking_uri),
                "choose another --experiment or --project-dir.")
    identity = check_folder(folder, option, PROJECT_MARKERS, PROJECT_HINT)
    if overwrite and identity:
        _check_only_search_files(folder, option)
    return identity


# What a search writes at the top of its project folder (keras-tuner's oracle, tuner
# and trial folders; the state, marks and records of search/); --overwrite deletes a
# folder that holds only these.
PROJECT_ENTRIES = (PROJECT_MARKER_FILE, *LEGACY_PROJECT_MARKERS, "oracle.json",
                   "oracle_timings.json", "launch.json", "tuner*.json", "trial_*",
                   f".*{STAGING_TAG}*")


def _check_only_search_files(folder, option):
    foreign = [name for name in sorted(os.listdir(folder))
               if not any(fnmatch.fnmatchcase(name, entry) for entry in PROJECT_ENTRIES)]
    if foreign:
        raise UsageError(f"{option} {str(folder)!r} holds files bridge-search did not write "
                         f"({listing(foreign)}); --overwrite deletes the project folder "
                         f"only when it holds nothing else: move them out first.")


def mark_project(folder):
    """Claim the project folder (created and marked, or ours already)."""
    folder = Path(folder)
    return claim_folder(folder, _project_option(folder.parent),
                        PROJECT_MARKERS, PROJECT_HINT)


def remove_project(folder):
    """--overwrite: delete our project folder, checked again right now (ours, and
    nothing in it but the search's own files)."""
    folder = Path(folder)
    if folder.is_dir() and not folder.is_symlink() and os.listdir(folder):
        _check_only_search_files(folder, _project_option(folder.parent))
    remove_folder(folder, _project_option(folder.parent), PROJECT_MARKERS,
                  PROJECT_HINT)


def foreign_entries(folder):
    """Names in `folder` an export did not write (all of them without our marker)."""
    names = sorted(os.listdir(folder))
    if EXPORT_OWNER_FILE not in names:
        return names
    return [name for name in names if name not in EXPORT_FILES]
