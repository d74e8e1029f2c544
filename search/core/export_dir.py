"""Export dirs under the ownership rule (search/core/ownership.py): checked before
TensorFlow loads, written beside the target and moved into place by rename after
the check is repeated against the owner file's identity.

Imports nothing heavy: config validation and `export --out` use it before
TensorFlow loads.
"""

import os
import shutil
import tempfile
from pathlib import Path

from search.core import ownership
from search.core.errors import UsageError
from search.core.ownership import EXPORT_OWNER_FILE, RETIRED_TAG, STAGING_TAG, foreign_entries
from search.core.store_paths import protected_paths

EXPORT_HINT = "it only replaces its own exports: choose a new or empty directory."


def owner_of(identity):
    """Who wrote an export: the first line of its owner file."""
    return identity.splitlines()[0] if identity else None


def write_owner(folder, owner):
    """Mark a staging export folder as ours: `owner` and a unique id (its identity)."""
    return ownership.write_marker(Path(folder) / EXPORT_OWNER_FILE, owner)


def default_export_dir(experiment, parent_run_id):
    """Where a search exports without --export-dir (relative: a moved folder keeps it)."""
    return Path("exports") / ownership.path_slug(experiment) / parent_run_id


def check_export_target(out_dir, option, protected, owner=None, replace_own=False):
    """Refuse (UsageError) an export target that is or contains a protected path,
    or is not ours by the rule (a file, a link, a folder of the user's, our export
    with files added). Our own export may be replaced when its owner is `owner`
    (the same search) or `replace_own` is set."""
    resolved = Path(out_dir).resolve()
    for what, path in protected:
        if resolved == path or resolved in path.parents:
            raise UsageError(f"{option} {str(out_dir)!r} is or contains the {what} ({path}); "
                             f"exports go to a directory of their own: choose another one.")
    identity = ownership.check_folder(out_dir, option, (EXPORT_OWNER_FILE,), EXPORT_HINT)
    if identity is None:
        return
    foreign = foreign_entries(out_dir)
    if foreign:
        raise UsageError(f"{option} {str(out_dir)!r} holds files bridge-search did not write "
                         f"({ownership.listing(foreign)}); {EXPORT_HINT}")
    if not replace_own and owner_of(identity) != owner:
        raise UsageError(f"{option} {str(out_dir)!r} holds an earlier export "
                         f"({owner_of(identity)}); pass --overwrite to replace it or choose "
                         f"another directory.")


def check_out_dir(out_dir, overwrite, tracking_uri=None):
    """`export --out`: the same rule as a search's --export-dir."""
    check_export_target(out_dir, "--out", protected_paths(tracking_uri=tracking_uri),
                        replace_own=overwrite)


def staging_dir(target):
    """A fresh hidden folder beside `target` to write an export into; leftovers
    of an export killed earlier (ours: they hold the owner file) are removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for tag in (STAGING_TAG, RETIRED_TAG):
        for leftover in target.parent.glob(f".{target.name}{tag}*"):
            ownership.remove_if_ours(leftover)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_TAG}", dir=target.parent))
    umask = os.umask(0o22)  # mkdtemp makes it 0700: the export must follow the umask
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    return staging


def replace_dir(complete, target, owner):
    """Move the complete export `complete` to `target` by rename. What is there is
    checked again first: only an export of `owner`, or the very one this process
    found at its check, is renamed aside (and removed after, so a kill leaves the
    old export, or none, never half of one); else the new one stays in `complete`."""
    target = Path(target)
    try:
        _check_replaceable(target, owner)
    except UsageError as error:
        raise UsageError(f"{error} The new export is left in {complete}.") from None
    retired = None
    if target.exists():
        retired = target.parent / f".{target.name}{RETIRED_TAG}{os.getpid()}"
        ownership.remove_if_ours(retired)  # left by a killed export of this pid
        os.rename(target, retired)
    os.rename(complete, target)
    if retired is not None:
        shutil.rmtree(retired)
    return target


def _check_replaceable(target, owner):
    identity = ownership.folder_identity(target, "export dir", (EXPORT_OWNER_FILE,), EXPORT_HINT)
    if identity is None:
        return
    if foreign_entries(target):
        raise UsageError(f"{target} now holds files bridge-search did not write "
                         f"({ownership.listing(foreign_entries(target))}).")
    if owner_of(identity) != owner and identity != ownership.checked(target):
        raise UsageError(f"{target} now holds an export bridge-search did not find there at "
                         f"its check ({owner_of(identity)}, written since); it was left alone.")
